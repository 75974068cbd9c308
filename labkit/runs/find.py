"""Finding runs: which folders are runs, what state each is in, the latest run of a model, the run
``resume=True`` continues."""
import os

from ..errors import CheckpointError, ConfigError
from ..files import temp_copies
from .layout import CONFIG, LOCK, LOG, RUN_FILES, STATE
from .read import finished_record, quietly, read_config, read_result, read_state, run_record, stop_line


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
    if quietly(read_result, path) is not None:
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
