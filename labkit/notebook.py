"""Helpers for the notebooks' first cells: Colab setup, GPU report, early parameter checks,
showing saved figures.

The first cell of every notebook makes ``labkit`` importable (in Colab it clones the
repository and installs ``requirements-colab.txt``; see the cell itself) and then calls
:func:`setup`, which does the rest and is harmless outside Colab.
"""
import importlib.util
import os
import subprocess
import sys
import warnings

# module name -> pip requirement, for what Colab does not ship
COLAB_NEEDS = {"torchsummary": "torchsummary", "thop": "ultralytics-thop"}


def in_colab():
    """True in a Colab kernel, and in the commands (``!python -m labkit.export``) it starts."""
    return "google.colab" in sys.modules or bool(os.environ.get("COLAB_RELEASE_TAG"))


def repo_root():
    """The labkit checkout this package was imported from (holds resnet18.py), or None."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return root if os.path.isfile(os.path.join(root, "resnet18.py")) else None


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


def setup(install=True, chdir=True, verbose=True):
    """Prepare a notebook session; safe to call anywhere, any number of times.

    - If the working directory is the repository's ``notebooks/`` folder (Jupyter starts
      kernels there), move to the repository root, so ``./data`` and ``runs/`` mean the same
      as for ``papermill`` run from the root (both are git-ignored there).
    - Put the repository root on ``sys.path`` so ``from resnet18 import *`` works.
    - In Colab, pip-install the packages Colab lacks (``requirements-colab.txt``); elsewhere,
      only name them.
    - Print the device: GPU name and memory, or how to get one.
    Returns a dict (root, cwd, device, gpu).
    """
    root = enter_repo_root("notebooks", verbose) if chdir else repo_root()
    if root and root not in sys.path and importlib.util.find_spec("resnet18") is None:
        sys.path.insert(0, root)
    missing = missing_packages()
    if missing and install and in_colab():
        req = os.path.join(root, "requirements-colab.txt") if root else None
        cmd = [sys.executable, "-m", "pip", "install", "-q"] + (["-r", req] if req and os.path.isfile(req) else missing)
        subprocess.run(cmd, check=True)
        importlib.invalidate_caches()
        missing = missing_packages()
    if missing and verbose:
        print(f"missing packages: {', '.join(missing)} (pip install -r requirements.txt)")
    if importlib.util.find_spec("ipywidgets") is None:
        # tqdm falls back to its text bar; its 'IProgress not found' warning is only noise here
        warnings.filterwarnings("ignore", message="IProgress not found")
    info = device_info()
    if verbose:
        print(device_report(info))
    return {"root": root, "cwd": os.getcwd(), **info}


def device_info():
    import torch

    info = {"torch": torch.__version__, "device": "cpu", "gpu": None}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(device="cuda", gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1),
                    bf16=bool(torch.cuda.is_bf16_supported()))
    return info


def device_report(info=None):
    import labkit

    info = info or device_info()
    head = f"labkit {labkit.__version__} | torch {info['torch']} | "
    if info["gpu"]:
        return head + (f"GPU: {info['gpu']} ({info['gpu_memory_gib']} GiB"
                       f"{', bf16' if info.get('bf16') else ''})")
    hint = ("Runtime > Change runtime type > T4 GPU, then run all cells again" if in_colab()
            else "training runs on the CPU: fine for quick runs (limit=...), slow for full ones")
    return head + f"no GPU: {hint}"


def check_params(model, train, data=None, **flags):
    """Check a notebook's parameters before any download or training; raises ConfigError.

    ``train``: fit parameters (epochs, lr, scheduler...); ``data``: load_cifar10 parameters
    (data_root, normalize, norm_ratio, limit, test_limit, val_ratio, seed); ``flags``: yes/no
    switches such as ``resume``. Prints the checked settings in one line.
    """
    from .config import TrainConfig, as_bool
    from .errors import ConfigError
    from .experiments import check_data_params

    unknown = set(train) - set(TrainConfig.field_names())
    if unknown:
        raise ConfigError(f"unknown training parameter(s) {sorted(unknown)}. "
                          f"Valid ones: {', '.join(TrainConfig.field_names())}")
    cfg = TrainConfig(model=model, **train).validate()
    d = {k: v for k, v in (data or {}).items() if k not in ("download", "device", "verbose")}
    checked = check_data_params(**d)
    for k, v in flags.items():
        as_bool(k, v)
    shown = {"model": cfg.model, **{k: getattr(cfg, k) for k in train}, **{k: checked[k] for k in d if k in checked}}
    print("parameters OK: " + ", ".join(f"{k}={v!r}" for k, v in shown.items()))
    return cfg


def show_png(*paths):
    """Display saved PNG files (figures written by labkit) in the notebook."""
    from IPython.display import Image, display

    for p in paths:
        if p and os.path.isfile(p):
            display(Image(filename=p))
