"""Helpers for the notebooks' first cells: Colab setup, runs and data on Google Drive, GPU and precision
report, early parameter checks, showing saved figures.

The first cell of every notebook makes ``labkit`` importable (notebooks/setup_cell.py, copied into the
cell: a checkout as it is, else pip installs labkit from the course's git URL or from My Drive) and then
calls :func:`setup`, which does the rest and is harmless outside Colab.
"""
import hashlib
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import warnings

import torch

from ._version import __version__
from .colab import drive_dir, in_colab
from .config import TrainConfig, as_bool, check_data_params
from .device import device_record, resolve_amp, resolve_device
from .errors import LabkitError
from .files import REPO_ROOT
from .parameters import notebook_parameters as parameters  # noqa: F401  (the notebooks' parameter check)
from .parameters import watch_cells
from .plots import show_png  # noqa: F401  (labkit.notebook.show_png: the notebooks' figure cells)
from .runs import HISTORY, RESULT, RunResult, read_history, read_result, run_record, run_status

watch_cells()  # from the setup cell on, the cells run are seen (labkit.notebook.parameters reads them back)

# module name -> pip requirement, for what Colab does not ship (pinned in requirements-colab.txt)
COLAB_NEEDS = {"torchsummary": "torchsummary", "thop": "ultralytics-thop"}
DRIVE_RUNS = "labkit_runs"  # the folder in My Drive that ./runs links to in Colab
DRIVE_DATA = "labkit_data"  # the folder in My Drive that ./data links to: CIFAR-10 downloaded once, read after
# What the lab keeps on Drive: a finished task-2 study about 1.35 GB (issue 34), CIFAR-10 0.35 GB (the archive
# and its batches), the other tasks' runs far less. Less free space than this: the setup cell warns.
DRIVE_NEEDS_BYTES = 2 * 10**9


class SetupError(RuntimeError):
    """The notebook session could not be set up; the message is the one thing to do next."""


def mount_drive(verbose=True):
    """Mount Google Drive once (Colab asks for permission the first time); returns My Drive's path."""
    my_drive = os.path.join(drive_dir(), "MyDrive")
    if os.path.isdir(my_drive):
        return my_drive
    if "google.colab" not in sys.modules:  # a command or papermill kernel Colab started: it cannot ask
        raise SetupError(f"Google Drive is not mounted at {drive_dir()}: run a notebook's setup cell first")
    from google.colab import drive
    if verbose:
        print("Mounting Google Drive (runs and data are kept there): allow access when asked.")
    drive.mount(drive_dir())
    return my_drive


def run_captured(cmd, what):
    """Run a command with its output captured; on failure raise SetupError with the output's end."""
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    if p.returncode:
        tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-15:])
        raise SetupError(f"{what} failed (exit {p.returncode}): {' '.join(cmd)}\n{tail}")
    return p


def repo_root():
    """The labkit checkout this package was imported from (holds resnet18.py), or None."""
    return REPO_ROOT if os.path.isfile(os.path.join(REPO_ROOT, "resnet18.py")) else None


def enter_repo_root(folder, verbose=True):
    """Jupyter starts a kernel in the notebook's folder: from the repository's ``folder``
    (``notebooks``, ``reports``) move to the repository root, so ``./data`` and ``runs/`` mean the
    same as for papermill run from the root. Returns the root (None outside a checkout)."""
    root = repo_root()
    if root and os.path.abspath(os.getcwd()) == os.path.join(root, folder):
        os.chdir(root)
        if verbose:
            print(f"working directory: {root} (the repository root)")
    return root


def missing_packages():
    return [pip for mod, pip in COLAB_NEEDS.items() if importlib.util.find_spec(mod) is None]


def setup(install=True, chdir=True, verbose=True, runs_on_drive=True, folder="notebooks"):
    """Prepare a notebook session; safe to call anywhere, any number of times.

    - If the working directory is the repository's ``folder`` (``notebooks``, ``reports``: Jupyter
      starts kernels there), move to the repository root, so ``./data`` and ``runs/`` mean the same
      as for ``papermill`` run from the root (both are git-ignored there).
    - Put the repository root on ``sys.path`` so ``from resnet18 import *`` works.
    - In Colab, pip-install the packages Colab lacks (``requirements-colab.txt``: thop); elsewhere,
      only name them.
    - In Colab with ``runs_on_drive``, link ``./runs`` and ``./data`` to Google Drive (:func:`keep_on_drive`),
      warning when Drive has less free space than the lab's runs keep.
    - Print the device and the precision ``amp="auto"`` trains in: GPU name, memory, compute
      capability, or how to get a GPU.
    Returns a dict (root, cwd, runs, device, gpu, precision...).
    """
    root = enter_repo_root(folder, verbose) if chdir else repo_root()
    if root and root not in sys.path and importlib.util.find_spec("resnet18") is None:
        sys.path.insert(0, root)
    install_missing(root, install and in_colab(), verbose)
    if importlib.util.find_spec("ipywidgets") is None:
        # tqdm falls back to its text bar; its 'IProgress not found' warning is only noise here
        warnings.filterwarnings("ignore", message="IProgress not found")
    runs = data = None
    if in_colab() and runs_on_drive:
        runs, data = keep_on_drive(verbose)
    info = device_info()
    if verbose:
        print(device_report(info))
    return {"root": root, "cwd": os.getcwd(), "runs": runs, "data": data, **info}


def install_missing(root, install, verbose=True):
    """pip-install (``install``) or name the packages of COLAB_NEEDS that are missing; pip's output
    is shown only when it fails."""
    missing = missing_packages()
    if missing and install:
        req = os.path.join(root, "requirements-colab.txt") if root else None
        cmd = [sys.executable, "-m", "pip", "install", "-q"] + (["-r", req] if req and os.path.isfile(req) else missing)
        if verbose:
            print(f"installing {', '.join(missing)} ...")
        try:
            run_captured(cmd, "pip install")
        except SetupError as e:
            print(e)
            raise SetupError(f"pip could not install {', '.join(missing)} (its output is above): check that this "
                             f"session is online, then run this cell again.") from None
        importlib.invalidate_caches()
        missing = missing_packages()
    if missing and verbose:
        print(f"missing packages: {', '.join(missing)} (pip install -r requirements.txt)")
    return missing


def keep_on_drive(verbose=True):
    """Colab: mount Google Drive once, link ``./runs`` and ``./data`` there (:func:`keep_runs_on_drive`,
    :func:`keep_data_on_drive`) and warn when Drive is short of space. Returns (runs folder, data folder)."""
    try:
        my_drive = mount_drive(verbose)
    except Exception as e:  # noqa: BLE001  (refused or failed mount: runs and data stay on the VM, said loudly)
        cause = str(e) if isinstance(e, SetupError) else f"{type(e).__name__}: {e}"
        print(f"WARNING: Google Drive is not mounted ({cause}); runs stay on this VM in {os.path.abspath('runs')} and "
              f"are lost when it disconnects. To keep them on Drive, run this cell again and allow access.")
        return os.path.abspath("runs"), os.path.abspath("data")
    runs, data = keep_runs_on_drive(verbose=verbose), keep_data_on_drive(verbose=verbose)
    warn_drive_space(my_drive)
    return runs, data


def keep_runs_on_drive(runs="runs", verbose=True):
    """Colab: make ``./runs`` (the notebooks' ``run_dir``) a link to ``My Drive/labkit_runs``, so runs
    survive a disconnect and a report notebook in another session finds them. Mounts Drive once.
    A ``./runs`` folder that already holds files is left as it is (nothing is moved or lost).
    Returns the folder runs go to."""
    try:
        target = os.path.join(mount_drive(verbose), DRIVE_RUNS)
    except Exception as e:  # noqa: BLE001  (refused or failed mount: runs stay on the VM, said loudly)
        cause = str(e) if isinstance(e, SetupError) else f"{type(e).__name__}: {e}"
        here = os.path.abspath(runs)
        print(f"WARNING: Google Drive is not mounted ({cause}); runs stay on this VM in {here} and are lost when it "
              f"disconnects. To keep them on Drive, run this cell again and allow access.")
        return here
    done = _link(runs, target, "runs")
    if verbose and done == target:
        print(f"runs: {runs}/ -> {target} (Google Drive: kept across disconnects; after one, run all again with "
              f"resume = True. runs_on_drive = False keeps runs on the VM)")
    return done


def keep_data_on_drive(data="data", verbose=True):
    """Colab: make ``./data`` (the notebooks' default ``data_root``) a link to ``My Drive/labkit_data``: CIFAR-10
    is downloaded there once and read from there on every later VM, with no edit of the notebooks. Returns
    the folder data is read from (``./data`` itself when it already held files on this VM)."""
    target = os.path.join(mount_drive(verbose), DRIVE_DATA)
    done = _link(data, target, "data")
    if verbose and done == target:
        have = os.path.isdir(os.path.join(target, "cifar-10-batches-py"))
        print(f"data: {data}/ -> {target} (Google Drive: CIFAR-10 " + ("is there: no download)" if have else
              "is downloaded there once, then read from there on every later VM)"))
    return done


def _link(local, target, what):
    """Make the folder ``local`` a link to ``target`` (created); a ``local`` folder that holds files stays
    (nothing is moved or lost), said with the command that moves them. Returns the folder in use."""
    here = os.path.abspath(local)
    os.makedirs(target, exist_ok=True)
    if os.path.islink(here) and os.path.realpath(here) != os.path.realpath(target):
        os.remove(here)  # a link to another place: only the link goes
    elif os.path.isdir(here) and not os.path.islink(here):
        if os.listdir(here):
            print(f"WARNING: {here} on this VM already holds {what}, so it stays there (lost on a disconnect). "
                  f"To keep them: !mv {here}/* '{target}/' && rmdir {here}, then run this cell again.")
            return here
        os.rmdir(here)
    if not os.path.islink(here):
        os.symlink(target, here)
    return target


def warn_drive_space(my_drive, needed=DRIVE_NEEDS_BYTES):
    """Print a warning when Google Drive has less free space than the lab's runs keep; returns the free bytes."""
    try:
        free = shutil.disk_usage(my_drive).free
    except OSError:
        return None
    if free < needed:
        print(f"WARNING: Google Drive has {free / 1e9:.2f} GB free; the lab's runs and CIFAR-10 keep about "
              f"{needed / 1e9:.1f} GB there. Free space in Drive (empty its trash too), or a run stops when Drive "
              f"is full.")
    return free


def device_info():
    """The device ``device="auto"`` trains on, its GPU (name, memory, compute capability) and the
    precision ``amp="auto"`` picks there (labkit.device.resolve_amp)."""
    device = resolve_device("auto")
    info = {"torch": torch.__version__, "device": device.type,
            **device_record(device, *resolve_amp("auto", device))}
    if device.type == "cuda":
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
    return info


def device_report(info=None):
    info = info or device_info()
    head = f"labkit {__version__} | torch {info['torch']} | "
    if info["gpu"]:
        return head + (f"GPU: {info['gpu']} ({info['gpu_memory_gib']} GiB, compute capability "
                       f"{info['gpu_capability']}) | precision: {info['precision']}")
    hint = ("Runtime > Change runtime type > T4 GPU, then run all cells again" if in_colab()
            else "training runs on the CPU: fine for quick runs (limit=...), slow for full ones")
    return head + f"no GPU: {hint} | precision: {info['precision']}"


def check_params(model, train, data=None, **flags):
    """Check a notebook's parameters before any download or training; raises ConfigError.

    ``train``: fit parameters (epochs, lr, scheduler...); ``data``: load_cifar10 parameters
    (data_root, normalize, norm_ratio, limit, test_limit, val_ratio, seed); ``flags``: yes/no
    switches such as ``resume``. Prints the checked settings in one line.
    """
    cfg = TrainConfig.from_params(model, train)
    d = {k: v for k, v in (data or {}).items() if k not in ("download", "device", "verbose")}
    checked = check_data_params(**d)
    for k, v in flags.items():
        as_bool(k, v)
    shown = {"model": cfg.model, **{k: getattr(cfg, k) for k in train}, **{k: checked[k] for k in d if k in checked}}
    print("parameters OK: " + ", ".join(f"{k}={v!r}" for k, v in shown.items()))
    return cfg


# ---- the runs a notebook trained or reloaded, recorded in its own outputs ---------------------------------
# A notebook cannot write its metadata while it runs (papermill, Jupyter and Colab own the file), but every
# output is kept: after each cell, the runs that appeared in the notebook's variables (a RunResult, an
# experiment's runs, a list of runs) are shown once as a display output of this MIME type. The hand-in
# (labkit.handin.manifest) reads them back: the run folders this notebook's results came from.
RUNS_MIME = "application/vnd.labkit.runs+json"
_RECORDED = {}  # run folder (real path) -> its last recorded entry


def file_sha256(path):
    """The SHA-256 of the file at ``path`` (hex), or None when it is missing."""
    if not os.path.isfile(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def settings_digest(record):
    """A short digest of a run's committed record (every setting, the data and its digest, the device), without
    where the folder is and when it started: the same settings give the same digest on any machine."""
    rec = {k: v for k, v in (record or {}).items() if k not in ("run_dir", "started")}
    return hashlib.sha256(json.dumps(rec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def run_entry(path):
    """What identifies a run folder and its result, from what fit trusts (the record in last.pth, the result
    and the history): name, folder, status, test accuracy, epochs, data size, settings digest and the SHA-256
    of result.json / history.json. A result that is not a number reads as ``no valid result``."""
    path = os.path.abspath(os.fspath(path))
    record = run_record(path) or {}
    try:
        result = read_result(path) or {}
    except LabkitError:
        result = {}
    history, _ = read_history(path)
    state = run_status(path)
    acc = result.get("test_acc")
    if state == "finished" and not _finite(acc):
        state = "no valid result"
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    return {"name": os.path.basename(path), "experiment": os.path.basename(os.path.dirname(path)), "path": path,
            "model": record.get("model"), "status": state, "test_acc": round(acc, 4) if _finite(acc) else None,
            "epochs": len(history), "epochs_set": record.get("epochs"), "lr": record.get("lr"),
            "tracked_test": bool(history) and all("test_acc" in h for h in history),
            "train": data.get("train"), "val": data.get("val"), "test": data.get("test"), "limit": data.get("limit"),
            "settings_digest": settings_digest(record),
            "result_sha256": file_sha256(os.path.join(path, RESULT)),
            "history_sha256": file_sha256(os.path.join(path, HISTORY))}


def entry_text(e):
    acc = f"{e['test_acc']:.2f}% test" if e.get("test_acc") is not None else "no test accuracy"
    return f"{e['experiment']}/{e['name']} ({e['status']}, {e['epochs']} epochs, {acc}, settings {e['settings_digest']})"


def record_runs(runs, role=None):
    """Show the runs (RunResults or run folders) as one display output of type RUNS_MIME (and a text line):
    the notebook's record of which run folders its results come from. Returns the entries."""
    entries = [run_entry(getattr(r, "run_dir", r)) for r in runs]
    if not entries:
        return []
    for e in entries:
        _RECORDED[os.path.realpath(e["path"])] = e
    try:
        from IPython.display import display
    except ImportError:
        return entries
    text = "labkit runs recorded: " + "; ".join(entry_text(e) for e in entries)
    # a report's record is for the hand-in's check only: no text line in the report itself
    shown = {} if role == "report" else {"text/plain": text}
    display({RUNS_MIME: {"role": role, "runs": entries}, **shown}, raw=True)
    return entries


def _runs_in(value):
    """The RunResults a notebook variable holds: itself, a list/dict of runs, or an object's ``runs``."""
    if isinstance(value, RunResult):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in (_runs_in(item) if isinstance(item, (RunResult, list, tuple)) else [])]
    if isinstance(value, (type, type(sys))) or not hasattr(type(value), "__dataclass_fields__"):
        return []
    inner = getattr(value, "runs", None)  # an Experiment (a dataclass): its runs by configuration
    return _runs_in(inner) if isinstance(inner, (dict, list, tuple)) else []


def _record_new_runs(*_):
    """post_run_cell hook: record the runs that appeared (or changed) in the notebook's variables."""
    shell = _shell()
    if shell is None:
        return
    new, seen = [], set()
    for name, value in list(shell.user_ns.items()):
        if name.startswith("_"):
            continue
        for run in _runs_in(value):
            key = os.path.realpath(run.run_dir)
            if key in seen or not os.path.isdir(key):
                continue
            seen.add(key)
            try:
                entry = run_entry(key)
            except Exception:  # noqa: BLE001  (a run folder being replaced: recorded at the next cell)
                continue
            if _RECORDED.get(key) != entry:
                new.append(key)
    if new:
        record_runs(new)


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def watch_runs():
    """Record, after every cell, the runs the notebook holds (labkit.notebook does it when imported)."""
    shell = _shell()
    if shell is not None and not getattr(shell, "_labkit_recording_runs", False):
        shell.events.register("post_run_cell", _record_new_runs)
        shell._labkit_recording_runs = True


watch_runs()
