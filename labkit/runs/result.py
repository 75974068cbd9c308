"""What a finished (or interrupted) run reads as: a :class:`RunResult`, with its best model loaded."""
import os
from dataclasses import dataclass, field

import torch.nn as nn

from ..errors import ConfigError
from ..models import load_model
from .find import run_status
from .layout import BEST, CONFIG, EARNED, STATE, best_entry, path_of
from .read import read_config, read_history, read_result, run_record


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
    best = (best_entry(hist) if hist else
            {"val_acc": res.get("best_val_acc", float("nan")), "epoch": res.get("best_epoch", 0)})
    return RunResult(run_dir=path, history=hist, test_acc=res.get("test_acc", float("nan")),
                     test_loss=res.get("test_loss", float("nan")), best_val_acc=best["val_acc"],
                     best_epoch=best["epoch"], config=cfg, per_class=res.get("per_class", {}),
                     confusion_matrix=res.get("confusion_matrix"), model=model)
