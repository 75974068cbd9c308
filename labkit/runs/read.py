"""Reading a run folder back: its record (config.json), its training state (last.pth, or a whole temporary
copy), its history, its result, its log, its best checkpoint, and what a finished run holds. A cut or crafted
training state or checkpoint reads as none; a record or result that is not JSON is a CheckpointError naming the fix."""
import os

import torch

from ..errors import CheckpointError
from ..files import MODEL_FORMAT, STATE_FORMAT, read_checkpoint, read_json_file, temp_copies, unreadable_reason
from .layout import BEST, CONFIG, EARNED, EPOCH_KEYS, HISTORY, LOG, RESULT, STATE, best_entry


def read_config(path):
    """config.json of the run in ``path`` (None if missing); CheckpointError if it is no JSON object."""
    cfg = read_json_file(os.path.join(path, CONFIG), "run settings",
                         "The run's settings are lost; its checkpoints and result.json are intact.")
    if cfg is not None and not isinstance(cfg, dict):
        raise CheckpointError(f"run settings {os.path.join(path, CONFIG)!r} hold a JSON {type(cfg).__name__}, not "
                              f"the run's settings (an object): it was overwritten. Resuming the run rewrites it "
                              f"from last.pth.")
    return cfg


def quietly(read, path):
    """``read(path)``, or None where its file is not JSON (the CheckpointError ``read`` raises): for the
    callers that fall back to another source (the state, the history, a fresh record) instead of stopping."""
    try:
        return read(path)
    except CheckpointError:
        return None


def _valid_history(hist):
    return isinstance(hist, list) and all(isinstance(h, dict) and all(k in h for k in EPOCH_KEYS) for h in hist) \
        and [h["epoch"] for h in hist] == list(range(1, len(hist) + 1))


def _valid_state(st):
    return (isinstance(st, dict) and st.get("format") == STATE_FORMAT and isinstance(st.get("epoch"), int)
            and st["epoch"] >= 1 and _valid_history(st.get("history")) and len(st["history"]) == st["epoch"]
            and isinstance(st.get("model"), dict) and isinstance(st.get("best_epoch"), int))


RECORD_KEYS = ("format", "epoch", "history", "best_epoch", "best_val_acc", "config", "log_bytes")


def _read_state_file(file, record_only=False):
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
    states = [st for st in (_read_state_file(cand, record_only) for cand in
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
    res = quietly(read_result, path)
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
    result = quietly(read_result, path)
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


def stop_line(path):
    """The 'Stopped: ...' line fit logged if the run in ``path`` diverged (and did not finish later), else None."""
    log = os.path.join(path, LOG)
    if not os.path.isfile(log) or quietly(read_result, path) is not None:
        return None
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    return lines[-1] if lines and lines[-1].startswith("Stopped:") else None


def replay_log(path):
    """Print a finished run's training lines (what it printed while training: the log its result.json
    records, else log.txt), so a notebook that reloads the run shows the same prints as one that trained it."""
    res, log = quietly(read_result, path), os.path.join(path, LOG)
    if res is not None and isinstance(res.get("log"), str):
        text = res["log"]
    elif os.path.isfile(log):
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
    else:
        return False
    print(text.rstrip("\n"), flush=True)
    return True


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


def finished_record(path, state=None, epochs=None):
    """What a run whose training finished holds, when its files agree on it: the history of every epoch (in
    result.json, history.json or a whole last.pth) and best_model.pth of that history's best epoch; with its
    result.json's test result when that is there and of the same best epoch (without one, only the test is
    still to measure). ``epochs``: how many the run trains (default: its record's). None otherwise."""
    res = quietly(read_result, path)
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
    best = best_entry(hist)  # as fit's best epoch
    if _best_checkpoint(path)[0] != best["epoch"]:
        return None
    measured = res if res is not None and res.get("best_epoch") == best["epoch"] else {}
    return {**measured, "epochs": epochs, "history": hist, "best_epoch": best["epoch"], "best_val_acc": best["val_acc"]}
