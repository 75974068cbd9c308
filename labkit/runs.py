"""A run's folder, and nothing else: the one module that names its files, writes them, reads them back
and finds runs. It stores; every training decision is :func:`labkit.train.fit`'s.

    config.json           the run's record: every setting, the data (split sizes, normalization, a digest of
                          its content), device and precision, when it started
    last.pth              the training state after the last finished epoch: the commit point of every epoch
                          and the record of what ran (weights, optimizer, schedule, scaler, random state,
                          history, best epoch, the record above, the length of log.txt)
    history.json          one entry per finished epoch (what last.pth holds, as JSON)
    best_model.pth        the best epoch's weights (labkit.load_model reads it)
    result.json           test accuracy, per-class accuracy, confusion matrix (when finished)
    log.txt               the printed lines (and a last "Stopped: ..." line if the run diverged)
    curves.png, confusion_matrix.png, real_check.json: figures and checks made from the run later
    .lock                 while a process trains the run (a second process is refused)
    (last.pth is dropped when the run finishes: result.json then also holds the history, record and log)

**One commit point per epoch.** An epoch's lines are appended to log.txt; then last.pth is replaced
(atomically, never emptied or cut first: that is the commit); then, if the epoch is the best so far,
best_model.pth; then history.json. last.pth is self-sufficient: it also holds the best epoch's weights (when
they are not its own) and log.txt's text. A kill at any byte of any of these writes leaves a run that resumes
exactly: the next call takes the newest whole state (last.pth, or a complete temporary copy), rewrites
best_model.pth from it when that file is of another epoch, makes history.json, log.txt and config.json say
what it says, and removes temporary files. A finished run writes its last lines, then result.json (with its
whole history, record and log), then drops last.pth: result.json and best_model.pth are the finished run.

**Google Drive** (Colab's runs/): DriveFS uploads each file on its own, later, in any order, so after a lost
VM the cloud holds each file at any version it had reached, or none. Whatever it holds, ``resume=True``
continues from the newest whole training state there (an older best_model.pth or history.json is rewritten
from it, a newer one re-earned exactly), and with none sets what the folder holds aside into earlier-k/ and
starts at epoch 1. A dropped mount, a full or read-only disk stop with :class:`StorageError` naming the fix.

**A run is checked against last.pth, not config.json**: a resume compares the call's settings with the
record inside the training state, and the data by its content digest, not by its path.
"""
import dataclasses
import errno
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from .config import TrainConfig
from .errors import CheckpointError, ConfigError, RunBusyError, RunExistsError, StorageError
from .files import (MODEL_FORMAT, STATE_FORMAT, atomic_torch_save, atomic_write_bytes, atomic_write_json, discard,
                    drop, jsonable, named_failures, read_checkpoint, read_json_file, recover_temp, shown_path,
                    temp_copies, unreadable_reason, write_file)
from .models import load_model, save_model

CONFIG, STATE, HISTORY, BEST, RESULT, LOG = "config.json", "last.pth", "history.json", "best_model.pth", \
    "result.json", "log.txt"
LOCK = ".lock"
EXTRA = {"curves": "curves.png", "confusion": "confusion_matrix.png", "real_check": "real_check.json"}
RUN_FILES = (CONFIG, STATE, HISTORY, BEST, RESULT, LOG)
EARNED = (BEST, HISTORY, RESULT)  # files whose presence means an epoch was finished (there is something to lose)

# Hyper-parameters that must match for a run to be resumed.
RESUME_KEYS = ("model", "epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov", "weight_decay",
               "scheduler", "milestones", "gamma", "step_size", "warmup_steps", "label_smoothing", "augment", "seed",
               "model_kwargs", "freeze_epochs", "distill_alpha", "distill_temperature", "class_weights")
# the distillation teacher is compared by what it is (:func:`_teacher_diff`): these entries of its record
TEACHER_KEYS = ("sha256", "model", "num_classes", "epochs", "seed", "data_digest", "normalize")
# what a record from before a setting existed holds for it: the setting's default
RECORD_DEFAULTS = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                   for f in dataclasses.fields(TrainConfig)}
# data description keys that say where the data was, not what it is: the same images moved or spelled
# differently are the same data (compared by ``digest``)
DATA_PLACES = ("source", "train_csv", "test_csv", "image_dir", "data_root")
CURVES = ("train_acc", "val_acc", "train_loss", "val_loss")  # the per-epoch curves of a history
EPOCH_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")  # what every history entry holds


def path_of(run_dir, name):
    """The path of a run folder's file ``name``: one of :data:`RUN_FILES` or a key of :data:`EXTRA`."""
    return os.path.join(os.fspath(run_dir), EXTRA.get(name, name))


# ---- reading a folder back ---------------------------------------------------------------------------
def read_config(path):
    """config.json of the run in ``path`` (None if missing); CheckpointError if it is no JSON object."""
    cfg = read_json_file(os.path.join(path, CONFIG), "run settings",
                         "The run's settings are lost; its checkpoints and result.json are intact.")
    if cfg is not None and not isinstance(cfg, dict):
        raise CheckpointError(f"run settings {os.path.join(path, CONFIG)!r} hold a JSON {type(cfg).__name__}, not "
                              f"the run's settings (an object): it was overwritten. Resuming the run rewrites it "
                              f"from last.pth.")
    return cfg


def _valid_history(hist):
    return isinstance(hist, list) and all(isinstance(h, dict) and all(k in h for k in EPOCH_KEYS) for h in hist) \
        and [h["epoch"] for h in hist] == list(range(1, len(hist) + 1))


def _valid_state(st):
    return (isinstance(st, dict) and st.get("format") == STATE_FORMAT and isinstance(st.get("epoch"), int)
            and st["epoch"] >= 1 and _valid_history(st.get("history")) and len(st["history"]) == st["epoch"]
            and isinstance(st.get("model"), dict) and isinstance(st.get("best_epoch"), int))


RECORD_KEYS = ("format", "epoch", "history", "best_epoch", "best_val_acc", "config", "log_bytes")


def _load_state(file, record_only=False):
    """The training state in ``file`` if whole and valid, else None (never raises for a bad file).
    ``record_only``: only its small entries (:data:`RECORD_KEYS`), read through a memory map without
    reading the tensors (none of them is kept, so the file can be replaced afterwards)."""
    try:
        st = torch.load(file, map_location="cpu", weights_only=True, mmap=record_only)
    except Exception:  # noqa: BLE001  (truncated, garbage, crafted: not a state)
        return None
    if not _valid_state(st):
        return None
    return {k: st[k] for k in RECORD_KEYS if k in st} if record_only else st


def read_state(path, record_only=False):
    """(state, problem): the training state of the run in ``path`` (last.pth, or a complete temporary copy a
    kill left in the middle of replacing it), or None with why it cannot be had (None: there is none).
    ``record_only`` maps the file instead of reading its tensors (for the record and the history)."""
    file = os.path.join(path, STATE)
    states = [st for st in (_load_state(cand, record_only) for cand in
                            ([file] if os.path.isfile(file) else []) + list(reversed(temp_copies(file))))
              if st is not None]
    if states:  # the newest whole one (on Google Drive a temporary copy can be newer than last.pth)
        return max(states, key=lambda st: st["epoch"]), None
    if os.path.isdir(file):
        return None, "its training state last.pth is a folder"
    if not os.path.isfile(file):
        earned = [f for f in EARNED if os.path.isfile(os.path.join(path, f))]
        return None, (f"its training state last.pth is missing (the folder still holds {', '.join(earned)})"
                      if earned else None)
    try:
        torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (truncated, garbage, crafted)
        return None, f"its training state last.pth {unreadable_reason(file, e)[0]}"
    return None, "its last.pth is not a labkit training state"


def run_record(path):
    """The record of what the run in ``path`` ran: the one inside last.pth, else a finished run's result.json's,
    else (runs whose state holds none, or without a state) config.json; None if none is there."""
    st, _ = read_state(path, record_only=True)
    if st is not None and isinstance(st.get("config"), dict):
        return st["config"]
    res = _read_result_quietly(path)
    if res is not None and isinstance(res.get("config"), dict):
        return res["config"]
    return read_config(path)


def read_history(path):
    """(history, source): history.json when whole (and as long as result.json says), else the history in
    last.pth; ([], None) when neither has one."""
    try:
        hist = read_json_file(os.path.join(path, HISTORY), "history", "")
    except CheckpointError:
        hist = None
    result = _read_result_quietly(path)
    if _valid_history(hist) and (result is None or result.get("epochs") in (None, len(hist))):
        return hist, HISTORY
    if result is not None and _valid_history(result.get("history")):  # a finished run's own copy
        return result["history"], RESULT
    st, _ = read_state(path, record_only=True)
    return (st["history"], STATE) if st is not None else ([], None)


def _valid_result(res):
    return isinstance(res, dict) and isinstance(res.get("test_acc"), (int, float)) and "best_epoch" in res


def read_result(path):
    """result.json (None if missing or not a result: ``{}``, ``[]``...); CheckpointError if not JSON."""
    res = read_json_file(os.path.join(path, RESULT), "run result",
                         "Delete it and run fit again with resume=True and the run's settings: the test set is "
                         "measured again from best_model.pth, without training.")
    return res if _valid_result(res) else None


def _read_result_quietly(path):
    try:
        return read_result(path)
    except CheckpointError:
        return None


def stop_line(path):
    """The 'Stopped: ...' line fit logged if the run in ``path`` diverged (and did not finish later), else None."""
    log = os.path.join(path, LOG)
    if not os.path.isfile(log) or _read_result_quietly(path) is not None:
        return None
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    return lines[-1] if lines and lines[-1].startswith("Stopped:") else None


def replay_log(path):
    """Print a finished run's training lines (what it printed while training: the log its result.json
    records, else log.txt), so a notebook that reloads the run shows the same prints as one that trained it."""
    res, log = _read_result_quietly(path), os.path.join(path, LOG)
    if res is not None and isinstance(res.get("log"), str):
        text = res["log"]
    elif os.path.isfile(log):
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
    else:
        return False
    print(text.rstrip("\n"), flush=True)
    return True


# ---- finding runs --------------------------------------------------------------------------------------
def is_run(path):
    """True for a folder fit wrote: it holds one of a run's files, or a temporary copy of one (a run killed
    while writing its first config.json), or only a run's lock."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return False
    names = os.listdir(path)
    return bool(names) and (names == [LOCK] or any(os.path.isfile(os.path.join(path, f)) or
                                                   temp_copies(os.path.join(path, f)) for f in RUN_FILES))


def run_status(path):
    """'finished', 'diverged' (fit logged 'Stopped: ...'), 'interrupted' (an epoch finished, more to do) or
    'not started' (no finished epoch)."""
    if _read_result_quietly(path) is not None:
        return "finished"
    if stop_line(path):
        return "diverged"
    st, _ = read_state(path, record_only=True)
    return "interrupted" if st is not None or finished_record(path) is not None else "not started"


def epochs_done(path):
    """How many epochs the run in ``path`` has committed (0 for none)."""
    st, _ = read_state(path, record_only=True) if os.path.isdir(path) else (None, None)
    if st is not None:
        return st["epoch"]
    done = finished_record(path) if os.path.isdir(path) else None
    return done["epochs"] if done is not None else 0


def _started(path):
    """When the run in ``path`` started (its record's ``started``; older runs: config.json's time)."""
    try:
        cfg = read_config(path) or {}
    except CheckpointError:
        cfg = {}
    started = cfg.get("started")
    if isinstance(started, (int, float)):
        return float(started)
    for f in (CONFIG, STATE, LOG):
        if os.path.isfile(os.path.join(path, f)):
            return os.path.getmtime(os.path.join(path, f))
    return 0.0


def find_runs(run_dir):
    """The run folders directly inside ``run_dir``, oldest first (by when they started)."""
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        return []
    return sorted((p for p in (os.path.join(run_dir, d) for d in os.listdir(run_dir)) if is_run(p)), key=_started)


def runs_below(folder):
    """Run folders in ``folder``: itself, its children, else its grandchildren (run_dir/experiment/run)."""
    folder = os.fspath(folder)
    if is_run(folder):
        return [folder]
    runs = find_runs(folder)
    if not runs and os.path.isdir(folder):
        for sub in sorted(os.listdir(folder)):
            if os.path.isdir(os.path.join(folder, sub)):
                runs += find_runs(os.path.join(folder, sub))
    return runs


def _model_of(path):
    try:
        return (run_record(path) or {}).get("model")
    except CheckpointError:
        return None


def runs_of(run_dir, models):
    """The runs of ``models`` (a registry name, or several) directly in ``run_dir``, oldest first."""
    names = {models} if isinstance(models, str) else set(models)
    return [p for p in find_runs(run_dir) if _model_of(p) in names]


def latest_run(run_dir, models):
    """The run of ``models`` in ``run_dir`` that started last (not the one whose files changed last: a figure
    saved again into an older run does not make it the latest), or None."""
    runs = runs_of(run_dir, models)
    return runs[-1] if runs else None


def _runs_in(run_dir):
    if not os.path.isdir(run_dir):
        return "run_dir does not exist"
    names = [os.path.basename(p) for p in find_runs(run_dir)]
    return f"runs there: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}" if names else "it holds no run"


def find_resume_path(run_dir, run_name, model, start_over, verbose=True):
    """The folder ``resume=True`` continues: ``run_dir/run_name``, or without a name this model's latest
    interrupted run (else its latest run). A run that is not there stops the call with the fix, or with
    ``start_over`` gives the folder to start in (None: a new folder)."""
    if run_name:
        path = os.path.join(run_dir, run_name)
    else:
        runs = runs_of(run_dir, model)
        waiting = [p for p in runs if run_status(p) == "interrupted"]
        path = (waiting or runs or [None])[-1]
        others = [p for p in runs if p != path]
        if path and others and verbose:
            print(f"resume=True without run_name: continuing {os.path.basename(path)} ({run_status(path)}, the "
                  f"latest {'interrupted ' if waiting else ''}'{model}' run); also there: "
                  + ", ".join(f"{os.path.basename(p)} ({run_status(p)})" for p in others[-5:])
                  + ". Pass run_name to pick another.")
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


def new_run_dir(run_dir, name, exact=False):
    """A fresh folder ``run_dir/name`` (``exact``: that one or RunExistsError; else ``name-2``... if taken)."""
    with named_failures(os.path.join(run_dir, name)):  # a read-only run_dir: a clear error, not Errno 30
        os.makedirs(run_dir, exist_ok=True)
        for k in range(1, 2 if exact else 10000):
            path = os.path.join(run_dir, name if k == 1 else f"{name}-{k}")
            try:
                os.makedirs(path)
                return path
            except FileExistsError:
                continue
    if exact:
        raise RunExistsError(f"run folder {os.path.join(run_dir, name)!r} was just made by another process (two runs "
                             f"started with the same run_name at once); labkit never shares a run folder. Choose "
                             f"another run_name, or resume=True once that run is finished.")
    raise RunExistsError(f"could not find a free run folder for {name!r} in {run_dir!r}")


# ---- the settings check ---------------------------------------------------------------------------------
def settings_diff(old, settings=None, data=None, data_keys=None):
    """[(name, was, now)] for what differs between the run record ``old`` (last.pth's or config.json) and the
    new ``settings`` (``TrainConfig.to_dict()``: the :data:`RESUME_KEYS`) and data description ``data``
    (``data.describe()``; only ``data_keys`` when given, named ``data <key>`` otherwise). The data is
    compared by what it is (split sizes, normalization, content digest), not by where it is.

    The one compatibility check of a run folder: fit's resume, the experiment runner's plan and the
    transfer study all ask it."""
    diff = []
    if settings is not None:
        keys = [k for k in RESUME_KEYS if k in settings]  # class_weights: only where fit resolved them
        was = {k: _comparable(k, old.get(k, RECORD_DEFAULTS.get(k))) for k in keys}
        diff += [(k, old.get(k, RECORD_DEFAULTS.get(k)), settings.get(k)) for k in keys
                 if was[k] != _comparable(k, settings.get(k))]
        diff += _teacher_diff(old, settings)
    was = old.get("data")
    if data is None or not isinstance(was, dict):
        return diff
    now = jsonable(data)
    if data_keys is not None:
        return diff + [(k, was.get(k), now.get(k)) for k in data_keys if k in was and was.get(k) != now.get(k)]
    keys = sorted((set(was) | set(now)) - set(DATA_PLACES))
    if "digest" in was and "digest" in now and was["digest"] == now["digest"]:
        # same content: the split sizes and counts are the same too; only the normalization may differ
        keys = [k for k in keys if k in ("normalize", "mean", "std", "norm_ratio")]
    else:  # other content (or a run recorded before data digests): what differs said in words
        keys = [k for k in keys if k != "digest"]
    data_diff = [(f"data {k}", was.get(k), now.get(k)) for k in keys if was.get(k) != now.get(k)]
    if not data_diff and "digest" in was and "digest" in now and was["digest"] != now["digest"]:
        data_diff = [("data digest", was["digest"], now["digest"])]  # the same sizes, other images
    return diff + data_diff


def _comparable(key, value):
    """A setting as resumes compare it: a teacher's path by its run folder's name (records from before teachers
    were recorded by content)."""
    if key == "teacher" and value:
        parts = os.path.normpath(os.fspath(value)).split(os.sep)
        return parts[-2] if parts[-1] == BEST and len(parts) > 1 else parts[-1]
    return jsonable(value)


def _teacher_diff(old, new):
    """[(name, was, now)]: the distillation teacher compared by what it is (its checkpoint's SHA-256, model,
    classes, epochs, seed and data: each entry both records know), not by its folder's name or place."""
    was_path, now_path = old.get("teacher"), new.get("teacher")
    if not was_path and not now_path:
        return []
    if not was_path or not now_path:
        return [("teacher", was_path, now_path)]
    was, now = old.get("teacher_record"), new.get("teacher_record")
    if not isinstance(was, dict) or not isinstance(now, dict):  # a record from before: by the folder's name
        return [] if _comparable("teacher", was_path) == _comparable("teacher", now_path) else \
            [("teacher", was_path, now_path)]
    return [(f"teacher {k}", was.get(k), now[k]) for k in TEACHER_KEYS
            if now.get(k) is not None and was.get(k) is not None and jsonable(was[k]) != jsonable(now[k])]


def diff_text(diff, sep=", "):
    """``k was a, now b`` for each difference of :func:`settings_diff`."""
    return sep.join(f"{k} was {a!r}, now {b!r}" for k, a, b in diff)


# ---- what a finished run reads as ----------------------------------------------------------------------
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
                "train_seconds": round(sum(h.get("seconds", 0) for h in self.history), 1)}

    def file(self, name):
        """The path of one of the run folder's files (``"curves"``, ``"confusion"``, ``"real_check"``...)."""
        return path_of(self.run_dir, name)

    @property
    def status(self):
        return run_status(self.run_dir)


def load_run(path, device="cpu", model=None):
    """A finished (or interrupted) run folder as a RunResult, with its best model loaded (``model=False``:
    the numbers only). The history comes from history.json, or where that is missing or stale from last.pth."""
    path = os.fspath(path)
    if not os.path.isdir(path) or not any(os.path.isfile(os.path.join(path, f)) for f in (CONFIG, STATE) + EARNED):
        raise ConfigError(f"{path!r} is not a run folder (a folder fit wrote, with config.json, history.json, "
                          f"best_model.pth...). Pass run_dir/run_name of a run, e.g. run.run_dir.")
    cfg = read_config(path) or (run_record(path) or {})
    res = read_result(path) or {}
    hist, _ = read_history(path)
    if model is None and os.path.isfile(os.path.join(path, BEST)):
        model = load_model(os.path.join(path, BEST), device=device)
    elif model is False:  # caller only wants the numbers
        model = None
    best = (max(hist, key=lambda h: h["val_acc"]) if hist else
            {"val_acc": res.get("best_val_acc", float("nan")), "epoch": res.get("best_epoch", 0)})
    return RunResult(run_dir=path, history=hist, test_acc=res.get("test_acc", float("nan")),
                     test_loss=res.get("test_loss", float("nan")), best_val_acc=best["val_acc"],
                     best_epoch=best["epoch"], config=cfg, per_class=res.get("per_class", {}),
                     confusion_matrix=res.get("confusion_matrix"), model=model)


def _model_checkpoint(file):
    """The labkit model checkpoint in ``file``, or None (missing, cut, not one)."""
    try:
        obj = read_checkpoint(file, "best checkpoint")
    except CheckpointError:
        return None
    ok = isinstance(obj, dict) and obj.get("format") == MODEL_FORMAT and isinstance(obj.get("epoch"), int)
    return obj if ok else None


def _best_checkpoint(path):
    """(epoch, checkpoint) of best_model.pth, or of a complete temporary copy of it; (0, None) when there is none."""
    file = os.path.join(path, BEST)
    for cand in ([file] if os.path.isfile(file) else []) + list(reversed(temp_copies(file))):
        obj = _model_checkpoint(cand)
        if obj is not None:
            return obj["epoch"], obj
    return 0, None


def _best_epoch_on_disk(path):
    """The epoch best_model.pth holds (0 when it is missing or unreadable, or a complete temporary copy's)."""
    return _best_checkpoint(path)[0]


# ---- the lock: one process per run folder ----------------------------------------------------------------
class RunLock:
    """``.lock`` in a run folder while a process trains it. A second process (a second Colab tab on the same
    Drive run) is refused with a clear message. The holder renews it every BEAT seconds, so the lock of a
    process that died (a killed kernel, a lost VM) is taken over: at once on the same machine, after STALE
    seconds without renewal elsewhere."""

    BEAT, STALE = 20.0, 120.0
    _held = set()  # lock files this process holds

    def __init__(self, folder):
        self.path = os.path.join(folder, LOCK)
        self.token, self._stop, self._thread = uuid.uuid4().hex, threading.Event(), None

    def _holder(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _age(self):
        """Seconds since the lock's last sign of life. A time in the future (its holder's clock runs ahead) is
        set to now: from here on it ages by this machine's clock (a live holder renews it within BEAT)."""
        age = time.time() - os.path.getmtime(self.path)
        if age < 0:
            try:
                os.utime(self.path)
            except OSError:
                pass
            age = 0.0
        return age

    def _stale(self, holder):
        try:
            age = self._age()
        except OSError:
            return True
        if age > self.STALE:
            return True
        if not isinstance(holder, dict):
            return age > 5  # a lock file being written this instant is not stale
        if holder.get("host") == socket.gethostname():
            pid = holder.get("pid")
            if pid == os.getpid():
                return self.path not in self._held
            try:
                os.kill(int(pid), 0)
            except (ProcessLookupError, ValueError, TypeError):
                return True
            except PermissionError:
                return False
        return False

    def acquire(self):
        if os.path.isdir(self.path):
            raise CheckpointError(f"{self.path!r} is a folder, but labkit keeps the run's lock file {LOCK} there: move "
                                  f"that folder out of the run folder, then run again. Nothing was changed.")
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
              "token": self.token}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if not self._stale(holder):
                    raise RunBusyError(self._busy_message(holder)) from None
                discard(self.path)  # the lock of a process that is gone
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(me, f)
            self._held.add(self.path)
            self._thread = threading.Thread(target=self._beat, daemon=True, name="labkit-run-lock")
            self._thread.start()
            return self
        raise RunBusyError(self._busy_message(self._holder()))

    def _busy_message(self, holder):
        holder = holder if isinstance(holder, dict) else {}
        folder = os.path.dirname(self.path)
        try:
            ago = f"{self._age():.0f} s ago"
        except OSError:
            ago = "just now"
        return (f"run folder {folder!r} is being trained by another process (pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')}, since {holder.get('since', '?')}; last sign of life {ago}): two "
                f"sessions would write the same files. Wait until it finishes (then resume=True reloads it), stop "
                f"the other session, or use another run_name. A lock whose process died is taken over by itself "
                f"{self.STALE:.0f} s after its last sign of life (at once on the same machine).")

    def _beat(self):
        while not self._stop.wait(self.BEAT):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self):
        self._stop.set()
        self._held.discard(self.path)
        holder = self._holder()
        if isinstance(holder, dict) and holder.get("token") == self.token:
            try:  # removed whole, not emptied first: an interrupt between the two would leave a lock that reads busy
                os.remove(self.path)
            except FileNotFoundError:
                pass


# ---- the folder of one fit call -------------------------------------------------------------------------
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
        record = _first_dict((state or {}).get("config"), (done or {}).get("config"), _read_config_quietly(path))
        if record is not None:
            _check_same_settings(path, record, cfg, data)
        if done is not None and ("test_acc" in done or state is None):
            self._examine_finished(done, record, cfg)
        elif state is None:
            self._nothing_to_continue(problem)
        else:
            self.best_on_disk = _best_epoch_on_disk(path)
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
        """Make the folder agree with the state the run continues from (after a kill, or what Google Drive
        uploaded before a disconnect): last.pth the newest whole state, best_model.pth its best epoch (rewritten
        from the state, which holds the best weights), history.json, log.txt and config.json as it records them,
        a result.json of no use removed, temporary files removed. A folder without a whole state has what it
        held set aside into earlier-k/ (nothing is deleted) and starts at epoch 1. No file is touched that
        already agrees; a read-only folder (only a finished run gets here) is not touched at all."""
        path = self.path
        if path is None or not os.path.isdir(path) or self.read_only:
            return
        if self.finished:
            return self._recover_finished()
        if self.lost is not None:
            moved = set_aside(path)
            self.notes.append(f"resume=True: {shown_path(path)} held no whole training state ({self.lost}: on Google "
                              f"Drive, its last.pth had not reached the cloud before a disconnect); what it held is "
                              f"now in {shown_path(moved)}, nothing deleted. Starting it at epoch 1.")
            return
        st = self.state
        if st is None:  # no epoch was committed: what the folder holds belongs to an epoch 1 that never finished
            _discard_temps(path)
            if os.path.isfile(os.path.join(path, LOG)):
                os.truncate(os.path.join(path, LOG), 0)
            return
        if st.get("model") is not None:
            _newest_state_in_place(path, st["epoch"])
        recover_temp(os.path.join(path, BEST), lambda f: _model_checkpoint(f) is not None)  # the copy read above
        _discard_temps(path)
        if self.best_on_disk != st["best_epoch"]:  # killed before its write, or Drive holds another version
            self.save_best(self.best_weights, st)
            self.notes.append(f"best_model.pth was missing, unreadable or of another epoch; rewritten from last.pth "
                              f"(epoch {st['best_epoch']}, its best)")
        _make_log(path, st.get("log"), None if self.finished else st.get("log_bytes"))
        _make_json(path, HISTORY, st["history"])
        self._rewrite_config(st.get("config"))
        if os.path.isfile(os.path.join(path, RESULT)):
            discard(os.path.join(path, RESULT))  # empty, of another shape, or of an earlier test: measured again

    def _recover_finished(self):
        """A finished run's files as its result.json records them (log.txt cut by a kill or an older version
        on Drive: rewritten whole); a last.pth still there (a kill just before it was dropped) dropped."""
        done = self.done
        recover_temp(os.path.join(self.path, BEST), lambda f: _model_checkpoint(f) is not None)
        _discard_temps(self.path)
        if "history" in (_read_result_quietly(self.path) or {}):  # result.json holds all a reload needs
            drop(os.path.join(self.path, STATE))
        _make_log(self.path, done.get("log"), None)
        _make_json(self.path, HISTORY, done["history"])
        self._rewrite_config(done.get("config"))

    def _rewrite_config(self, record):
        if not isinstance(record, dict):
            return
        on_disk = _read_config_quietly(self.path)
        if on_disk != record:
            changed = settings_diff(on_disk, record) if isinstance(on_disk, dict) else []
            atomic_write_json(os.path.join(self.path, CONFIG), record)
            self.notes.append("config.json " + (f"said {diff_text([(k, a, b) for k, a, b in changed])} "
                                                if changed else "was missing or unreadable ")
                              + "but last.pth records what ran: rewritten from last.pth")

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


def finished_record(path, state=None, epochs=None):
    """What a run whose training finished holds, when its files agree on it: the history of every epoch (in
    result.json, history.json or a whole last.pth) and best_model.pth of that history's best epoch; with its
    result.json's test result when that is there and of the same best epoch (without one, only the test is
    still to measure). ``epochs``: how many the run trains (default: its record's). None otherwise."""
    res = _read_result_quietly(path)
    if res is not None and isinstance(res.get("epochs"), int):
        epochs = res["epochs"]
    if epochs is None:
        try:
            epochs = (run_record(path) or {}).get("epochs")
        except CheckpointError:
            return None
    try:
        hist, _ = read_history(path)
    except CheckpointError:
        hist = None
    if not (_valid_history(hist) and len(hist) == epochs):
        hist = state["history"] if state is not None and state["epoch"] == epochs else None
    if not hist:
        return None
    best = max(hist, key=lambda h: h["val_acc"])  # the first of equals, as fit's best epoch
    if _best_epoch_on_disk(path) != best["epoch"]:
        return None
    measured = res if res is not None and res.get("best_epoch") == best["epoch"] else {}
    return {**measured, "epochs": epochs, "history": hist, "best_epoch": best["epoch"], "best_val_acc": best["val_acc"]}


def _first_dict(*values):
    return next((v for v in values if isinstance(v, dict)), None)


def _read_config_quietly(path):
    try:
        return read_config(path)
    except CheckpointError:
        return None


def _best_weights(state, path, best_on_disk):
    """The weights of ``state``'s best epoch: its own, the copy it holds, or (a state from before labkit kept
    that copy) best_model.pth when it holds that epoch; None when they are nowhere."""
    if state["best_epoch"] == state["epoch"]:
        return state["model"]
    if isinstance(state.get("best_model"), dict):
        return state["best_model"]
    if best_on_disk == state["best_epoch"]:
        return _best_checkpoint(path)[1]["state_dict"]
    return None


def _newest_state_in_place(path, epoch):
    """Put the whole copy of the state of ``epoch`` (a temporary copy a kill or Drive left) at last.pth."""
    file = os.path.join(path, STATE)
    if os.path.isfile(file) and (_load_state(file, record_only=True) or {}).get("epoch") == epoch:
        return
    for tmp in reversed(temp_copies(file)):
        if (_load_state(tmp, record_only=True) or {}).get("epoch") == epoch:
            os.replace(tmp, file)
            return


def _discard_temps(path):
    for name in RUN_FILES:
        for tmp in temp_copies(os.path.join(path, name)):
            discard(tmp)


def _make_log(path, text, log_bytes):
    """log.txt as ``text`` (the log a state or result records); for states without it, cut to ``log_bytes``."""
    log = os.path.join(path, LOG)
    have = b""
    if os.path.isfile(log):
        with open(log, "rb") as f:
            have = f.read()
    if isinstance(text, str):
        want = text.encode("utf-8")
        if have.startswith(want) and len(have) > len(want):
            os.truncate(log, len(want))  # the lines of an epoch that was not committed
        elif have != want:
            atomic_write_bytes(log, want)  # a line cut by a kill, or an older version of it on Drive
    elif isinstance(log_bytes, int) and len(have) > log_bytes:
        os.truncate(log, log_bytes)


def _make_json(path, name, obj):
    try:
        have = read_json_file(os.path.join(path, name), name, "")
    except CheckpointError:
        have = None
    if have != jsonable(obj):
        atomic_write_json(os.path.join(path, name), obj)


def cannot_continue(path, problem):
    return CheckpointError(
        f"cannot resume {path!r}: {problem}. Nothing was changed. Fix: start_over=True trains this run again "
        f"from epoch 1 in the same folder (its files are moved to {next_earlier(path)!r} first; nothing is "
        f"deleted), or resume=False starts a new run in a new folder.")


def _check_same_settings(path, old, cfg, data):
    """ConfigError listing every setting (and data value) that differs from what the run recorded."""
    diff = settings_diff(old, cfg.to_dict(), data.describe())
    if diff:
        raise ConfigError(f"cannot resume {path!r} with other settings: {diff_text(diff)}. "
                          f"Use the run's settings, or resume=False for a new run.")


def next_earlier(path):
    k = 1
    while os.path.exists(os.path.join(path, f"earlier-{k}")):
        k += 1
    return os.path.join(path, f"earlier-{k}")


def set_aside(path):
    """Move everything in the run folder ``path`` (but earlier attempts and the lock) into a new ``earlier-k/``."""
    dest = next_earlier(path)
    os.makedirs(dest)
    for name in os.listdir(path):
        if not name.startswith("earlier-") and name != LOCK:
            os.replace(os.path.join(path, name), os.path.join(dest, name))
    return dest
