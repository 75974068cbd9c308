"""The folder of one ``fit`` call and every write to it, in the order fit makes them."""
import errno
import os
import time

from ..errors import CheckpointError, RunExistsError, StorageError
from ..files import STATE_FORMAT, atomic_torch_save, atomic_write_json, drop, shown_path, temp_copies, write_file
from ..models import save_model
from .compare import _check_same_settings
from .find import find_resume_path, run_status
from .layout import BEST, CONFIG, HISTORY, LOCK, LOG, RESULT, RUN_FILES, STATE, new_run_dir, next_earlier, set_aside
from .lock import RunLock
from .read import _best_checkpoint, finished_record, quietly, read_config, read_state, replay_log
from .recovery import _best_weights, recover_folder
from .result import load_run


class RunFolder:
    """The folder of one ``fit`` call and every write to it, in the order fit makes them.

    ``RunFolder.open`` finds the run to resume, locks it and checks it against the call (nothing is written
    before a refusal); ``recover`` then makes its files agree with the newest whole training state (or sets
    aside what a folder without one held); ``create`` makes a new folder; ``begin`` writes config.json; ``log``
    appends a line; ``commit_epoch`` commits a finished epoch; ``save_best`` puts the best weights into
    best_model.pth; ``record_stop`` ends a diverged run; ``finish`` the finished one. Use it as a context
    manager: leaving it releases the lock."""

    def __init__(self, path, verbose=True):
        self.path, self.verbose = path, verbose
        self.state, self.finished, self.retest, self.notes = None, False, None, []
        self.best_on_disk, self._lock, self.best_weights, self.record = 0, None, None, None
        self.done, self.lost, self.read_only = None, None, False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # -- finding and checking (no writes) --
    @classmethod
    def open(cls, cfg, data, run_dir, run_name, resume, start_over, verbose=True):
        """The folder for fit's call: the run to resume (locked and checked; its state in ``.state``, or
        ``.finished``), or a folder still to make (``path`` None or not there yet)."""
        if not resume:
            if run_name and os.path.lexists(os.path.join(run_dir, run_name)):
                raise RunExistsError(
                    f"run folder {os.path.join(run_dir, run_name)!r} already exists. Pass resume=True to continue "
                    f"(or reload) it, or choose another run_name; labkit never overwrites a run.")
            return cls(None, verbose)
        path = find_resume_path(run_dir, run_name, cfg.model, start_over, verbose)
        folder = cls(path, verbose)
        if not (path and os.path.isdir(path)):
            if verbose:
                print(f"start_over=True: no run {path or cfg.model!r} to resume in {run_dir!r}; starting a new one.")
            return folder
        try:
            folder._lock = RunLock(path).acquire()
        except OSError as e:  # a read-only copy of the runs (a TA's): a finished run is reloaded without writing
            if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            folder.read_only = True
        try:
            folder._examine(cfg, data, start_over)
            if folder.read_only and not folder.finished:
                raise StorageError(
                    f"run folder {path!r} is read-only (a read-only file system or copy): a finished run is reloaded "
                    f"from there without writing, but this one is {run_status(path)} and continuing it writes its "
                    f"files. Copy the run folder somewhere writable and point run_dir there, then resume=True.")
        except BaseException:
            folder.__exit__()
            raise
        return folder

    def _examine(self, cfg, data, start_over):
        """Read the folder and check it against the call; refuse (nothing changed) or note what to do."""
        path = self.path
        for name in RUN_FILES:
            if os.path.isdir(os.path.join(path, name)):
                raise CheckpointError(f"{os.path.join(path, name)!r} is a folder, but labkit keeps the run's {name} "
                                      f"there: move that folder out of the run folder, then run again. Nothing was "
                                      f"changed.")
        if not any(os.path.isfile(os.path.join(path, f)) or temp_copies(os.path.join(path, f)) for f in RUN_FILES):
            if [f for f in os.listdir(path) if f != LOCK]:
                raise RunExistsError(f"{path!r} exists but holds no labkit run (no config.json); choose another "
                                     f"run_name.")
            return
        state, problem = read_state(path)
        done = finished_record(path, state, cfg.epochs)
        record = _first_dict((state or {}).get("config"), (done or {}).get("config"), quietly(read_config, path))
        if record is not None:
            _check_same_settings(path, record, cfg, data)
        if done is not None and ("test_acc" in done or state is None):
            self._examine_finished(done, record, cfg)
        elif state is None:
            self._nothing_to_continue(problem)
        else:
            self.best_on_disk = _best_checkpoint(path)[0]
            self.best_weights = _best_weights(state, path, self.best_on_disk)
            if self.best_weights is None:  # a state written before labkit kept the best's weights in it
                what = "missing" if not os.path.isfile(os.path.join(path, BEST)) else "unreadable or of another epoch"
                problem = (f"its best checkpoint best_model.pth (epoch {state['best_epoch']}) is {what}, and that "
                           f"epoch's weights are nowhere else")
                if not start_over:
                    raise cannot_continue(path, problem)
                self._start_over(problem)
                return
            self.state = state

    def _examine_finished(self, done, record, cfg):
        """A finished run (its history and best_model.pth agree): reloaded, or its test measured again (its
        result.json is missing, or test_flip changed)."""
        self.done = done
        was = {"test_flip": bool(done.get("test_flip", False)), "test_shift": int(done.get("test_shift", 0))}
        now = {"test_flip": cfg.test_flip, "test_shift": cfg.test_shift}
        if "test_acc" in done and was == now:
            self.finished = True
            return
        changed = ", ".join(f"{k} was {was[k]}, now {now[k]}" for k in was if was[k] != now[k])
        self.retest = ("its test result (result.json) is missing or of no use: the test set is measured again "
                       "from best_model.pth (no training)" if "test_acc" not in done else
                       f"{changed}: the test set is measured again from best_model.pth (no training)")
        self.state = {"format": STATE_FORMAT, "epoch": done["epochs"], "history": done["history"], "model": None,
                      "best_epoch": done["best_epoch"], "best_val_acc": done["best_val_acc"], "config": record,
                      "log": done.get("log")}  # the record of a finished run: nothing to load into the model
        self.best_on_disk = done["best_epoch"]

    def _nothing_to_continue(self, problem):
        """No whole training state: the run starts at epoch 1; what an earlier start earned is set aside."""
        found = [f for f in (STATE, BEST, HISTORY, RESULT)
                 if os.path.isfile(os.path.join(self.path, f)) or temp_copies(os.path.join(self.path, f))]
        if found:
            self.lost = problem or f"no whole training state (the folder holds {', '.join(found)})"
        elif self.verbose:
            print(f"resume=True: no epoch of {shown_path(self.path)} had finished; starting it at epoch 1.")

    def _start_over(self, problem):
        moved = set_aside(self.path)
        if self.verbose:
            print(f"start_over=True: {self.path} could not continue ({problem}); its files are now in {moved}. "
                  f"Training it again from epoch 1.")
        self.state, self.best_on_disk, self.best_weights = None, 0, None

    def cannot_restore(self, problem, start_over):
        """The saved state does not fit the model: stop (nothing changed), or with start_over set it aside."""
        if not start_over:
            raise cannot_continue(self.path, problem)
        self._start_over(problem)

    # -- repair, then the writes of a run, in order --
    def recover(self):
        """Make the folder agree with the state the run continues from: :func:`labkit.runs.recovery.recover_folder`."""
        recover_folder(self)

    def create(self, run_dir, name, exact=False):
        """Make the run's folder if it is not there yet (``exact``: the name the user gave, else name-2...)
        and lock it."""
        if self.path is None or not os.path.isdir(self.path):
            self.path = new_run_dir(run_dir, os.path.basename(self.path) if self.path else name,
                                    exact=exact or self.path is not None)
        if self._lock is None:
            self._lock = RunLock(self.path).acquire()
        return self.path

    def begin(self, record, epochs):
        """Write config.json (the record of this session) and say where the run starts."""
        self.record = record
        atomic_write_json(os.path.join(self.path, CONFIG), record)
        st = self.state
        if st is not None:
            self.log(f"Resuming {shown_path(self.path)} after epoch {st['epoch']} of {epochs}")
        for note in self.notes + ([self.retest] if self.retest else []):
            self.log(note)
        return st is not None

    def log(self, line):
        """Print ``line`` (when verbose) and append it to log.txt."""
        if self.verbose:
            print(line, flush=True)
        write_file(os.path.join(self.path, LOG), (line + "\n").encode("utf-8"), append=True)

    def log_size(self):
        log = os.path.join(self.path, LOG)
        return os.path.getsize(log) if os.path.isfile(log) else 0

    def _log_text(self):
        log = os.path.join(self.path, LOG)
        if not os.path.isfile(log):
            return ""
        with open(log, "rb") as f:
            return f.read().decode("utf-8", errors="replace")

    def commit_epoch(self, state, net=None):
        """Commit a finished epoch: last.pth (the whole training state: the commit), then best_model.pth when
        ``net`` is given (the epoch is the best so far), then history.json. The state also holds the best
        epoch's weights when they are not its own (so any whole last.pth restores best_model.pth) and log.txt's
        text (so any whole last.pth restores the log)."""
        if net is not None:
            self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in state["model"].items()}
        state = {**state, "best_model": None if net is not None else self.best_weights, "log": self._log_text()}
        t0 = time.perf_counter()
        atomic_torch_save(state, os.path.join(self.path, STATE))
        self.state = state
        if net is not None:
            self.save_best(net, state)
        state["history"][-1]["commit_seconds"] = round(time.perf_counter() - t0, 3)  # last.pth has it from the next
        atomic_write_json(os.path.join(self.path, HISTORY), state["history"])

    def save_best(self, weights, state):
        """best_model.pth: ``weights`` (a model or its state dict) of ``state``'s best epoch."""
        record = state["config"]
        save_model(weights, os.path.join(self.path, BEST), record["model"], record.get("model_kwargs"),
                   num_classes=record.get("num_classes"), epoch=state["best_epoch"], val_acc=state["best_val_acc"],
                   classes=record.get("classes"))
        self.best_on_disk = state["best_epoch"]

    @property
    def best_model_path(self):
        return os.path.join(self.path, BEST)

    def record_stop(self, message):
        """A diverged run: the 'Stopped:' line into log.txt (best_model.pth keeps the best epoch so far)."""
        self.log(f"Stopped: {message}")

    def finish(self, result, lines):
        """The end of a finished run: its last ``lines`` logged, then result.json (the test result with the run's
        whole history, record and log: result.json and best_model.pth are the finished run), then last.pth
        dropped (a finished run needs no training state: Drive keeps only the best weights and the record)."""
        for line in lines:
            self.log(line)
        st = self.state
        atomic_write_json(os.path.join(self.path, RESULT), {
            **result, "history": st["history"], "config": self.record or st.get("config"), "log": self._log_text()})
        drop(os.path.join(self.path, STATE))

    def reload(self, device):
        """A finished run as it is: its printed lines again, then its RunResult (no training)."""
        if self.verbose:
            print(f"Run {shown_path(self.path)} already finished; loading its result (no training). Its log:")
            replay_log(self.path)
            for note in self.notes:
                print(note)
        return load_run(self.path, device=device)


def cannot_continue(path, problem):
    return CheckpointError(
        f"cannot resume {path!r}: {problem}. Nothing was changed. Fix: start_over=True trains this run again "
        f"from epoch 1 in the same folder (its files are moved to {next_earlier(path)!r} first; nothing is "
        f"deleted), or resume=False starts a new run in a new folder.")


def _first_dict(*values):
    return next((v for v in values if isinstance(v, dict)), None)
