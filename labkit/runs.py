"""A run's folder: where it lives, what it holds, whether it can continue, and reading it back.

    config.json      every hyper-parameter, the data split, device/precision used
    history.json     one entry per finished epoch
    best_model.pth   best weights so far (labkit.load_model reads it)
    last.pth         full training state after the last finished epoch (for resume)
    result.json      test accuracy, per-class accuracy, confusion matrix (when finished)
    log.txt          the printed epoch lines (and a last "Stopped: ..." line if the run diverged)

Missing, truncated or garbage files are named, never silently replaced.

A resume that cannot find its run, or finds one that cannot continue (its training state
``last.pth`` or best checkpoint ``best_model.pth`` missing or unreadable), stops with the fix.
``start_over=True`` trains such a run again from epoch 1 in the same folder after moving every
file it held into ``earlier-1/`` (``earlier-2/``...) inside it: nothing is deleted.
"""
import json
import os
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from .errors import CheckpointError, ConfigError, NonFiniteLossError, RunExistsError
from .evaluate import confusion, evaluate, per_class_accuracy
from .files import (MODEL_FORMAT, STATE_FORMAT, atomic_torch_save, atomic_write_json, jsonable, read_checkpoint,
                    read_json_file)
from .models import load_model, save_model, unwrap
from .rng import rng_state, set_rng_state

# Hyper-parameters that must match for a run to be resumed.
RESUME_KEYS = ("model", "epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov", "weight_decay",
               "scheduler", "milestones", "gamma", "step_size", "label_smoothing", "augment", "seed", "model_kwargs",
               "freeze_epochs")
CURVES = ("train_acc", "val_acc", "train_loss", "val_loss")  # the per-epoch curves of a history
# files whose presence means an epoch was finished in a run folder (there is something to lose)
EARNED = ("best_model.pth", "history.json", "result.json")


def check_run_location(run_dir, run_name):
    """``run_dir`` as text (a folder or not yet there) and ``run_name`` (None or one folder name inside it)."""
    if run_dir is None or not isinstance(run_dir, (str, os.PathLike)) or not os.fspath(run_dir).strip():
        raise ConfigError(f"run_dir must be a folder path (text), got {run_dir!r}; e.g. run_dir='runs'.")
    run_dir = os.fspath(run_dir)
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise ConfigError(f"run_dir {run_dir!r} is a file, not a folder. Point run_dir at a folder "
                          f"(it is made if missing), e.g. run_dir='runs'.")
    if run_name is None:
        return run_dir, None
    if isinstance(run_name, int) and not isinstance(run_name, bool):
        run_name = str(run_name)
    if not isinstance(run_name, str) or not run_name.strip():
        raise ConfigError(f"run_name must be a folder name (text) or None, got {run_name!r}.")
    if (os.path.isabs(run_name) or run_name in (".", "..") or "/" in run_name or os.sep in run_name
            or (os.altsep and os.altsep in run_name) or "\0" in run_name):
        raise ConfigError(f"run_name must be one folder name inside run_dir, got {run_name!r}: it would write "
                          f"outside {run_dir!r}. To keep runs elsewhere, set run_dir to that folder and "
                          f"run_name to a plain name such as 'task1'.")
    return run_dir, run_name


def _runs_in(run_dir):
    if not os.path.isdir(run_dir):
        return "run_dir does not exist"
    names = sorted(d for d in os.listdir(run_dir) if os.path.isfile(os.path.join(run_dir, d, "config.json")))
    return f"runs there: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}" if names else "it holds no run"


def find_resume_path(run_dir, run_name, model, start_over):
    """The folder ``resume=True`` continues: ``run_dir/run_name``, or this model's latest run.

    A run that is not there stops the call with the fix, or with ``start_over`` gives the folder
    to start in (None: a new folder)."""
    path = os.path.join(run_dir, run_name) if run_name else latest_run(run_dir, model)
    if path and os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"{path!r} is a file, not a run folder; choose another run_name.")
    if path and os.path.isdir(path):
        return path
    if start_over:
        return path
    what = f"no run {run_name!r} in {run_dir!r}" if run_name else f"no earlier '{model}' run in {run_dir!r}"
    raise ConfigError(f"resume=True, but there is {what} ({_runs_in(run_dir)}). Check run_name and run_dir "
                      f"(in Colab: is Drive mounted?); pass resume=False to start a new run, or start_over=True "
                      f"to start this one.")


def read_history(path):
    """(history, source): history.json, or where it is missing/unreadable the history kept in last.pth."""
    try:
        hist = read_json_file(os.path.join(path, "history.json"), "history", "")
        if isinstance(hist, list):
            return hist, "history.json"
    except CheckpointError:
        pass
    state = os.path.join(path, "last.pth")
    if os.path.isfile(state):
        try:
            st = read_checkpoint(state, "training state")
            if isinstance(st, dict) and isinstance(st.get("history"), list):
                return st["history"], "last.pth"
        except CheckpointError:
            pass
    return [], None


def continue_problem(path):
    """Why the interrupted run in ``path`` cannot continue (None: it can); reads last.pth once.

    Returns (state or None, problem text or None)."""
    last = os.path.join(path, "last.pth")
    if not os.path.isfile(last):
        earned = [f for f in EARNED if os.path.isfile(os.path.join(path, f))]
        return None, (f"its training state last.pth is missing (the folder still holds {', '.join(earned)})"
                      if earned else None)
    try:
        state = read_checkpoint(last, "training state")
    except CheckpointError:
        return None, "its training state last.pth is corrupt or truncated and cannot be read"
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        return None, "its last.pth is not a labkit training state"
    best_epoch = state.get("best_epoch") or 0
    if best_epoch:
        best = os.path.join(path, "best_model.pth")
        try:
            obj = read_checkpoint(best, "best checkpoint")
            ok = isinstance(obj, dict) and obj.get("format") == MODEL_FORMAT and obj.get("epoch") == best_epoch
        except CheckpointError:
            ok = False
        if not ok:
            if best_epoch == state.get("epoch"):  # the best epoch is the last finished one: last.pth has its weights
                state["restore_best"] = True
            else:
                what = "missing" if not os.path.isfile(best) else "unreadable or of another epoch"
                return state, (f"its best checkpoint best_model.pth (epoch {best_epoch}) is {what}, and that "
                               f"epoch's weights are nowhere else")
    return state, None


def cannot_continue(path, problem):
    return CheckpointError(
        f"cannot resume {path!r}: {problem}. Nothing was changed. Fix: start_over=True trains this run again "
        f"from epoch 1 in the same folder (its files are moved to {next_earlier(path)!r} first; nothing is "
        f"deleted), or resume=False starts a new run in a new folder.")


def next_earlier(path):
    k = 1
    while os.path.exists(os.path.join(path, f"earlier-{k}")):
        k += 1
    return os.path.join(path, f"earlier-{k}")


def set_aside(path):
    """Move everything in the run folder ``path`` (but earlier attempts) into a new ``earlier-k/``."""
    dest = next_earlier(path)
    os.makedirs(dest)
    for name in os.listdir(path):
        if not name.startswith("earlier-"):
            os.replace(os.path.join(path, name), os.path.join(dest, name))
    return dest


@dataclass
class RunResult:
    run_dir: str
    history: list
    test_acc: float
    test_loss: float
    best_val_acc: float
    best_epoch: int
    config: dict
    per_class: dict = field(default_factory=dict)
    confusion_matrix: list = None
    model: nn.Module = None

    def summary(self):
        return {"run": os.path.basename(self.run_dir), "model": self.config.get("model"),
                "epochs": len(self.history), "best_val_acc": self.best_val_acc, "best_epoch": self.best_epoch,
                "test_acc": self.test_acc,
                "train_seconds": round(sum(h["seconds"] for h in self.history), 1)}


def new_run_dir(run_dir, name):
    """A fresh, unique folder ``run_dir/name[-k]`` (never an existing run's)."""
    os.makedirs(run_dir, exist_ok=True)
    for k in range(1, 10000):
        path = os.path.join(run_dir, name if k == 1 else f"{name}-{k}")
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            continue
    raise RunExistsError(f"could not find a free run folder for {name!r} in {run_dir!r}")


def latest_run(run_dir, model_name):
    """The most recently updated run folder of ``model_name`` (a registry name, or several) in
    ``run_dir`` (or None)."""
    names = {model_name} if isinstance(model_name, str) else set(model_name)
    if not os.path.isdir(run_dir):
        return None
    best = None
    for d in os.listdir(run_dir):
        path = os.path.join(run_dir, d)
        cfg = os.path.join(path, "config.json")
        if not os.path.isfile(cfg):
            continue
        try:
            with open(cfg) as f:
                if json.load(f).get("model") not in names:
                    continue
        except (OSError, ValueError):
            continue
        t = max(os.path.getmtime(os.path.join(path, f)) for f in os.listdir(path))
        if best is None or t > best[0]:
            best = (t, path)
    return best and best[1]


def replay_log(path):
    """Print a finished run's training lines from its log.txt (what it printed while training), so a
    notebook that reloads the run shows the same prints as one that trained it."""
    log = os.path.join(path, "log.txt")
    if not os.path.isfile(log):
        return False
    with open(log, encoding="utf-8") as f:
        print(f.read().rstrip("\n"), flush=True)
    return True


def _pick_run(cfg, data, run_dir, run_name, resume, start_over, verbose):
    """(path, state): the run folder to resume and its training state ("finished", a state dict, or
    None to start at epoch 1), or (None, None) for a new folder made later. Changes no file unless
    ``start_over`` sets a run's files aside."""
    if not resume:
        if run_name and os.path.exists(os.path.join(run_dir, run_name)):
            raise RunExistsError(
                f"run folder {os.path.join(run_dir, run_name)!r} already exists. Pass resume=True to continue "
                f"(or reload) it, or choose another run_name; labkit never overwrites a run.")
        return None, None
    path = find_resume_path(run_dir, run_name, cfg.model, start_over)
    if path and os.path.isdir(path):
        return path, _resume_state(path, cfg, data, start_over, verbose)
    if verbose:
        print(f"start_over=True: no run {path or cfg.model!r} to resume in {run_dir!r}; starting a new one.")
    return path, None


def _resume_state(path, cfg, data, start_over, verbose):
    """For resume=True on the existing folder ``path``: "finished", the training state to continue
    from, or None (start at epoch 1 there: nothing was earned, or start_over set the files aside)."""
    labkit_files = [f for f in ("config.json", "last.pth", "log.txt") + EARNED if os.path.isfile(os.path.join(path, f))]
    if not labkit_files:
        if os.listdir(path):
            raise RunExistsError(f"{path!r} exists but holds no labkit run (no config.json); choose another run_name.")
        return None
    try:
        old = read_json_file(os.path.join(path, "config.json"), "run settings", "")
        problem = None if old is not None else "its config.json (the run's settings) is missing"
    except CheckpointError:
        old, problem = None, "its config.json (the run's settings) is not valid JSON"
    if old is not None:
        _check_same_settings(path, old, cfg, data)
        if os.path.isfile(os.path.join(path, "result.json")):
            return "finished"
        state, problem = continue_problem(path)
        if problem is None:
            if state is None and verbose:
                print(f"resume=True: no epoch of {path} had finished; starting it at epoch 1.")
            return state
    if not start_over:
        raise cannot_continue(path, problem)
    _start_over(path, problem, verbose)
    return None


def _start_over(path, problem, verbose):
    moved = set_aside(path)
    if verbose:
        print(f"start_over=True: {path} could not continue ({problem}); its files are now in {moved}. "
              f"Training it again from epoch 1.")


def settings_diff(old, settings=None, data=None, data_keys=None):
    """[(name, was, now)] for what differs between the run config ``old`` (its config.json) and the new
    ``settings`` (``TrainConfig.to_dict()``: the :data:`RESUME_KEYS`) and data description ``data``
    (``data.describe()``; only ``data_keys`` when given, named ``data <key>`` otherwise).

    The one compatibility check of a run folder: fit's resume, the experiment runner's plan and the
    transfer study all ask it."""
    diff = []
    if settings is not None:
        diff += [(k, old.get(k), settings.get(k)) for k in RESUME_KEYS
                 if jsonable(old.get(k)) != jsonable(settings.get(k))]
    was = old.get("data")
    if data is None or was is None:
        return diff
    now = jsonable(data)
    if data_keys is not None:
        return diff + [(k, was.get(k), now.get(k)) for k in data_keys if k in was and was.get(k) != now.get(k)]
    return diff + [(f"data {k}", was.get(k), now.get(k)) for k in sorted(set(was) | set(now))
                   if was.get(k) != now.get(k)]


def diff_text(diff, sep=", "):
    """``k was a, now b`` for each difference of :func:`settings_diff`."""
    return sep.join(f"{k} was {a!r}, now {b!r}" for k, a, b in diff)


def _check_same_settings(path, old, cfg, data):
    """ConfigError listing every setting (and data split value) that differs from the run's."""
    diff = settings_diff(old, cfg.to_dict(), data.describe())
    if diff:
        raise ConfigError(f"cannot resume {path!r} with other settings: {diff_text(diff)}. "
                          f"Use the run's settings, or resume=False for a new run.")


def load_run(path, device="cpu", model=None):
    """A finished (or interrupted) run folder as a RunResult, with its best model loaded.

    The history comes from history.json, or where that is missing or unreadable from last.pth."""
    path = os.fspath(path)
    if not os.path.isdir(path) or not any(os.path.isfile(os.path.join(path, f))
                                          for f in ("config.json", "last.pth") + EARNED):
        raise ConfigError(f"{path!r} is not a run folder (a folder fit wrote, with config.json, history.json, "
                          f"best_model.pth...). Pass run_dir/run_name of a run, e.g. run.run_dir.")
    cfg = read_json_file(os.path.join(path, "config.json"), "run settings",
                         "The run's settings are lost; its checkpoints and result.json are intact.") or {}
    res = read_json_file(os.path.join(path, "result.json"), "run result",
                         "Delete it and run fit again with resume=True and the run's settings: the test set is "
                         "measured again from best_model.pth, without training.") or {}
    hist, _ = read_history(path)
    if model is None and os.path.isfile(os.path.join(path, "best_model.pth")):
        model = load_model(os.path.join(path, "best_model.pth"), device=device)
    elif model is False:  # caller only wants the numbers
        model = None
    best = (max(hist, key=lambda h: h["val_acc"]) if hist else
            {"val_acc": res.get("best_val_acc", float("nan")), "epoch": res.get("best_epoch", 0)})
    return RunResult(run_dir=path, history=hist, test_acc=res.get("test_acc", float("nan")),
                     test_loss=res.get("test_loss", float("nan")), best_val_acc=best["val_acc"],
                     best_epoch=best["epoch"], config=cfg, per_class=res.get("per_class", {}),
                     confusion_matrix=res.get("confusion_matrix"), model=model)


def stop_line(path):
    """The 'Stopped: ...' line fit logged if the run in ``path`` diverged (and did not finish later), else None."""
    log = os.path.join(path, "log.txt")
    if not os.path.isfile(log) or os.path.isfile(os.path.join(path, "result.json")):
        return None
    with open(log, encoding="utf-8") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    return lines[-1] if lines and lines[-1].startswith("Stopped:") else None


class RunFolder:
    """One run's folder and every write to it, in the order fit makes them.

    ``RunFolder.open`` finds the run to resume (checked, nothing changed) or leaves the folder to make;
    ``create`` makes it once every check passed; ``begin`` restores a resumed run's history and random
    state and writes config.json; ``record_epoch`` keeps the best checkpoint, last.pth and history.json;
    ``stop_diverged`` ends a run whose loss became NaN/inf; ``finish`` measures the test set."""

    def __init__(self, path, state, verbose=True):
        self.path, self.state, self.verbose = path, state, verbose
        self.history, self.best_acc, self.best_epoch, self.start = [], -1.0, 0, 1
        self.model_meta = {}

    @classmethod
    def open(cls, cfg, data, run_dir, run_name, resume, start_over, verbose=True):
        """The folder for fit's call: the run to resume and its state ("finished", the training state, or
        None to start at epoch 1), or a folder still to make (path None)."""
        return cls(*_pick_run(cfg, data, run_dir, run_name, resume, start_over, verbose), verbose)

    @property
    def finished(self):
        return self.state == "finished"

    def reload(self, device):
        """A finished run as it is: its printed lines again, then its RunResult (no training)."""
        if self.verbose:
            print(f"Run {self.path} already finished; loading its result (no training). Its log:")
            replay_log(self.path)
        return load_run(self.path, device=device)

    def cannot_restore(self, problem, start_over):
        """The saved state does not fit the model: stop (nothing changed), or with start_over set it aside."""
        if not start_over:
            raise cannot_continue(self.path, problem)
        _start_over(self.path, problem, self.verbose)
        self.state = None

    def create(self, run_dir, name):
        if self.path is None or not os.path.isdir(self.path):
            self.path = new_run_dir(run_dir, name)
        return self.path

    def begin(self, config, parts, epochs):
        """Restore a resumed run's history, best epoch and random state; write config.json; print the start."""
        self.model_meta = dict(model_name=config["model"], model_kwargs=config["model_kwargs"],
                               num_classes=config["num_classes"], classes=config["classes"])
        st = self.state
        if st is not None:
            set_rng_state(st["rng"])
            self.history, self.best_acc, self.best_epoch = st["history"], st["best_val_acc"], st["best_epoch"]
            self.start = st["epoch"] + 1
            if st.get("restore_best"):  # best epoch == last finished epoch: its weights are the state's
                self._save_best(parts.net, self.best_epoch, self.best_acc)
        atomic_write_json(os.path.join(self.path, "config.json"), config)
        if st is not None:
            self.log(f"Resuming {self.path} after epoch {st['epoch']} of {epochs}")
            if st.get("restore_best"):
                self.log(f"best_model.pth was missing or unreadable; rewritten from last.pth "
                         f"(epoch {self.best_epoch}, its best)")
        return st is not None

    def log(self, line):
        """Print ``line`` (when verbose) and append it to log.txt."""
        if self.verbose:
            print(line, flush=True)
        with open(os.path.join(self.path, "log.txt"), "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def record_epoch(self, rec, parts):
        """A finished epoch: into the history and log; a new best checkpoint if validation improved;
        the whole training state (last.pth) and history.json."""
        self.history.append(rec)
        if rec["val_acc"] > self.best_acc:
            self.best_acc, self.best_epoch = rec["val_acc"], rec["epoch"]
            self._save_best(parts.net, rec["epoch"], rec["val_acc"])
        atomic_torch_save({"format": STATE_FORMAT, "epoch": rec["epoch"], "model": unwrap(parts.net).state_dict(),
                           "optimizer": parts.optimizer.state_dict(),
                           "scheduler": parts.scheduler.state_dict() if parts.scheduler is not None else None,
                           "scaler": parts.scaler.state_dict() if parts.scaler is not None else None,
                           "rng": rng_state(), "history": self.history, "best_val_acc": self.best_acc,
                           "best_epoch": self.best_epoch}, os.path.join(self.path, "last.pth"))
        atomic_write_json(os.path.join(self.path, "history.json"), self.history)

    def _save_best(self, net, epoch, val_acc):
        meta = self.model_meta
        save_model(net, os.path.join(self.path, "best_model.pth"), meta["model_name"], meta["model_kwargs"],
                   num_classes=meta["num_classes"], epoch=epoch, val_acc=val_acc, classes=meta["classes"])

    def stop_diverged(self, what):
        """Log the 'Stopped:' line and raise NonFiniteLossError; nothing of the diverged epoch is saved."""
        kept = (f"the best checkpoint so far (epoch {self.best_epoch}) is kept in {self.path}/best_model.pth"
                if self.best_epoch else "no checkpoint was saved (it diverged in the first epoch)")
        msg = (f"{what}: the run diverged and was stopped; {kept}. "
               f"Fix: lower lr (e.g. by 10x), add a warm-up/one-cycle scheduler, or check the input normalization.")
        self.log(f"Stopped: {msg}")
        raise NonFiniteLossError(msg)

    def finish(self, data, place, eval_batch_size, flip=False):
        """Reload the best checkpoint, measure the test set (``flip``: with test-time flips), write
        result.json, return a RunResult."""
        self.log("Finished Training")
        model = load_model(os.path.join(self.path, "best_model.pth"), device=place.device)
        if place.channels_last:
            model = model.to(memory_format=torch.channels_last)
        test = evaluate(model, data.loader("test", eval_batch_size, shuffle=False, channels_last=place.channels_last),
                        place.device, place.amp_dtype, return_preds=True, flip=flip)
        cm = confusion(test["targets"], test["preds"], len(data.classes))
        history, _ = read_history(self.path)
        best = max(history, key=lambda h: h["val_acc"])
        atomic_write_json(os.path.join(self.path, "result.json"), {
            "test_acc": test["acc"], "test_loss": test["loss"], "n_test": test["n"],
            "best_val_acc": best["val_acc"], "best_epoch": best["epoch"],
            "per_class": per_class_accuracy(cm, data.classes), "confusion_matrix": cm.tolist(),
            "classes": list(data.classes), "test_flip": flip})
        if flip:
            self.log("Test-time flips: each test image's prediction averages it and its mirror image")
        self.log(f"Test Accuracy: {test['acc']:.2f}%")
        return load_run(self.path, model=model)
