"""Finding the runs a report reads and loading them as fit trusts them (labkit.report's first part)."""
import glob
import math
import os

from ..errors import LabkitError
from ..runs import RunResult, load_run, read_result, run_record, run_status, runs_below, runs_of

# task 1's runs: the handout's net (the notebook's default) or a variant a student chose
TASK1_MODELS = ("simplecnn_k5", "simplecnn_k7", "simplecnn")  # its variants and the table's net (the default)


class ReportError(LabkitError, FileNotFoundError):
    """A run or experiment folder the report needs is not there."""


def collect_runs(*specs, run_dir=None):
    """RunResults (numbers only, no weights) for ``specs``: run folders, folders of runs (an experiment
    folder, a whole run_dir), glob patterns, or RunResults. A relative path not found as given is
    looked up in ``run_dir``. ``None`` specs are skipped (a report section left out)."""
    runs = []
    for spec in specs:
        if spec is None:
            continue
        if isinstance(spec, (list, tuple)):
            runs += collect_runs(*spec, run_dir=run_dir)
            continue
        if isinstance(spec, RunResult):
            runs.append(spec)
            continue
        spec = os.fspath(spec)
        tried = [spec] + ([os.path.join(os.fspath(run_dir), spec)] if run_dir and not os.path.isabs(spec) else [])
        found = []
        for cand in tried:
            matches = sorted(glob.glob(cand)) if glob.has_magic(cand) else ([cand] if os.path.isdir(cand) else [])
            for m in matches:
                if os.path.isdir(m):
                    found += runs_below(m)
            if found:
                break
        if not found:
            raise ReportError(f"no labkit run found at {' or '.join(repr(t) for t in tried)} (a run folder holds "
                              f"config.json). Run the lab notebook first, or fix the path; in Colab mount Google "
                              f"Drive first if the runs are there.")
        runs += [load_trusted(p) for p in found]
    return runs


def load_trusted(path):
    """A run's numbers (no weights) with the settings fit trusts: the record committed in its last.pth
    (config.json is a copy a hand can edit; fit rewrites it from that record), config.json only without one."""
    run = load_run(path, model=False)
    try:
        record = run_record(path)
    except LabkitError:
        record = None
    if isinstance(record, dict):
        run.config = record
    return run


def latest_runs(run_dir, model, verbose=True):
    """The newest *finished* run of ``model`` (a registry name, or several such as :data:`TASK1_MODELS`)
    directly in ``run_dir`` (a later quick check that was interrupted, diverged or never finished does not
    replace it), as a list of one run like collect_runs returns (so ``t1 + t2`` works); named in the output.
    Without a finished run, the newest run, named with its state."""
    run_dir = os.fspath(run_dir)
    found = runs_of(run_dir, model)
    if not found:
        names = " or ".join(f"'{m}'" for m in ([model] if isinstance(model, str) else model))
        raise ReportError(f"no {names} run in {run_dir!r}. Run its lab notebook first (run_dir="
                          f"{run_dir!r}), or give the run folder explicitly.")
    done = [p for p in found if status_of(p) == "finished"]
    path = (done or found)[-1]
    if verbose:
        how = ("the newest finished run" if done else f"the newest run, {status_of(path)}: no run there finished")
        print(f"run: {os.path.basename(path)} ({how} of {'/'.join([model] if isinstance(model, str) else model)} "
              f"in {run_dir}; name another with its folder)")
    return [load_trusted(path)]


def tested(runs):
    """Which checkpoint of ``runs`` their test figures measure, in words: the best validation epoch's, or the last
    epoch's where no run had a validation split (val_ratio=0: labkit.runs.best_entry)."""
    if runs and all(r.history and r.history[-1]["val_acc"] is None for r in runs):
        return "last-epoch"
    return "best-validation"


def label(run):
    """A run's name in tables and legends: its folder name."""
    return os.path.basename(os.path.normpath(run.run_dir))


def _labels(runs):
    names = [label(r) for r in runs]
    out = []
    for r, n in zip(runs, names):
        if names.count(n) > 1:  # same folder name in two experiments: add the experiment's
            n = f"{os.path.basename(os.path.dirname(os.path.normpath(r.run_dir)))}/{n}"
        out.append(n)
    return out


def _get(config, key):
    cur = config
    for part in key.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def status_of(path):
    """'finished' (with a test accuracy that is a number), 'no valid result' (a result.json whose accuracy is
    not a number), 'diverged' (fit logged 'Stopped: ...') or 'not finished' (interrupted, or not started)."""
    st = run_status(path)
    if st == "finished":
        try:
            acc = (read_result(path) or {}).get("test_acc")
        except LabkitError:
            acc = None
        return "finished" if isinstance(acc, (int, float)) and math.isfinite(acc) else "no valid result"
    return st if st == "diverged" else "not finished"


def status(run):
    """The run's state as the report labels it (:func:`status_of`)."""
    return status_of(run.run_dir)
