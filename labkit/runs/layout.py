"""A run folder's layout: the names of its files, where each one is (:func:`path_of`), a new run's folder, and
``earlier-k/``, where a run that starts over keeps what it held."""
import os

from ..errors import RunExistsError
from ..files import named_failures


CONFIG, STATE, HISTORY, BEST, RESULT, LOG = "config.json", "last.pth", "history.json", "best_model.pth", \
    "result.json", "log.txt"
LOCK = ".lock"
EXTRA = {"curves": "curves.png", "confusion": "confusion_matrix.png", "real_check": "real_check.json"}
RUN_FILES = (CONFIG, STATE, HISTORY, BEST, RESULT, LOG)
EARNED = (BEST, HISTORY, RESULT)  # files whose presence means an epoch was finished (there is something to lose)
CURVES = ("train_acc", "val_acc", "train_loss", "val_loss")  # the per-epoch curves of a history
EPOCH_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")  # what every history entry holds


def best_entry(history):
    """The epoch a run keeps as its model (best_model.pth): the highest validation accuracy, the first of equals;
    with no validation split (``val_ratio=0``: every ``val_acc`` None) the last epoch, as the ResNet paper reports
    its final model's test error."""
    if any(h["val_acc"] is None for h in history):
        return history[-1]
    return max(history, key=lambda h: h["val_acc"])


def path_of(run_dir, name):
    """The path of a run folder's file ``name``: one of :data:`RUN_FILES` or a key of :data:`EXTRA`."""
    return os.path.join(os.fspath(run_dir), EXTRA.get(name, name))


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
