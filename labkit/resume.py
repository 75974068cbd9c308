"""Where a run lives and whether it can continue: run_dir/run_name checks, finding the run to
resume, and reading what its folder holds (missing, truncated or garbage files named, never
silently replaced).

A resume that cannot find its run, or finds one that cannot continue (its training state
``last.pth`` or best checkpoint ``best_model.pth`` missing or unreadable), stops with the fix.
``start_over=True`` trains such a run again from epoch 1 in the same folder after moving every
file it held into ``earlier-1/`` (``earlier-2/``...) inside it: nothing is deleted.
"""
import json
import os

from .checkpoint import MODEL_FORMAT, STATE_FORMAT, read_checkpoint
from .errors import CheckpointError, ConfigError

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


def find_resume_path(run_dir, run_name, model, start_over, latest_run):
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


def read_json_file(path, what, fix):
    """A run folder's JSON file (None if missing); a truncated or garbage one stops with ``fix``."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{what} {path!r} is not valid JSON (truncated or overwritten: "
                              f"{type(e).__name__}: {str(e)[:120]}). {fix}") from None


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
