"""The transfer-learning study: torchvision ResNet18/50, ImageNet-pretrained vs from scratch.

    data = labkit.folder_data.load_image_folder(...)
    study = run_transfer_study(data, models=["tv_resnet18", "tv_resnet50"], pretrained=[True, False],
                               weights="imagenet", epochs=10, lr=0.01, run_dir="runs/transfer")
    study.table          # one row per run: best val acc, test acc, per-class accuracies, seconds
    study.plot_curves(); study.plot_confusion("tv_resnet18 pretrained", normalize=True)

Every run is an ordinary :func:`labkit.fit` run in ``run_dir/<model>-<pretrained|scratch>``
(same prints, same files). With ``resume=True`` (the default) a finished run is read back
instead of trained again and an interrupted one continues from its last epoch. The figures
(raw and row-normalized confusion matrix per run, overlaid curves) and the comparison
tables go to ``run_dir/figures`` and ``run_dir/comparison.{csv,md}``.
"""
import json
import os
from dataclasses import dataclass, field

import matplotlib.pyplot as plt

from ..config import TrainConfig, as_bool, as_list, check_data_params
from ..errors import ConfigError, DataMissingError
from ..experiments import Variant, Experiment, run_in_folder
from ..folder_data import write_cifar_image_folder
from ..models import IMAGENET_MODELS, check_model_name, get_model
from ..plots import plot_confusion_matrix, plot_histories
from ..runs import CURVES, run_status


@dataclass
class TransferStudy(Experiment):
    """An :class:`labkit.experiments.Experiment` whose runs are keyed by label ("tv_resnet18 pretrained"),
    with the data's classes and the runs left out for want of weights (``missing_weights="skip"``)."""

    classes: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)   # label -> why the run was skipped

    @property
    def run_dir(self):
        return self.path

    def plot_curves(self, metrics=CURVES, save=None):
        models = sorted({r.config.get("model", "?") for r in self.runs.values()})
        return plot_histories(self.runs, metrics=metrics, title=f"{', '.join(models)}: pretrained vs from scratch",
                              save=save)

    def plot_confusion(self, label, normalize=False, save=None):
        run = self.runs[label]
        return plot_confusion_matrix(run.confusion_matrix, self.classes, normalize=normalize, save=save,
                                     title=f"{label}: test confusion matrix"
                                     + (" (row-normalized)" if normalize else ""))


def run_label(model, pretrained):
    return f"{model} {'pretrained' if pretrained else 'scratch'}"


def run_folder_name(model, pretrained):
    return f"{model}-{'pretrained' if pretrained else 'scratch'}"


def _check_models(models):
    out = []
    for m in models:
        m = str(m).strip()
        check_model_name(m)
        if m not in IMAGENET_MODELS:
            hint = f" ('{m}' is the CIFAR model; use 'tv_{m}')" if f"tv_{m}" in IMAGENET_MODELS else ""
            raise ConfigError(f"the transfer study trains torchvision's ImageNet models "
                              f"{', '.join(sorted(IMAGENET_MODELS))}; got {m!r}{hint}.")
        out.append(m)
    return out


def _weights_for(weights, m):
    w = weights.get(m, weights.get("default", "imagenet")) if isinstance(weights, dict) else weights
    if w in (None, False, "none", "None", ""):
        raise ConfigError(f"pretrained=True needs weights for {m} ('imagenet' or a file path), got {w!r}.")
    return os.fspath(w) if isinstance(w, os.PathLike) else w


def plan_study(models=("tv_resnet18", "tv_resnet50"), pretrained=(True, False), weights="imagenet",
               freeze_epochs=0, verbose=False, **fit_kwargs):
    """Check the study's parameters (no data, no download, no training) and return its runs:
    a list of dicts (model, pretrained, label, folder, train: the fit keyword arguments).
    Raises ConfigError naming the bad value; ``verbose`` prints one line when all is well."""
    models = _check_models(as_list("models", models, required=True))
    pretrained = [as_bool("pretrained", p) for p in as_list("pretrained", pretrained, required=True)]
    for bad in ("model_kwargs", "run_name", "model", "data"):
        if bad in fit_kwargs:
            raise ConfigError(f"the study sets {bad} itself; pass models=, pretrained=, weights= and run_dir= instead.")
    TrainConfig.check_names(fit_kwargs)
    pairs = [(m, p) for m in models for p in pretrained]
    if len(set(pairs)) != len(pairs):
        raise ConfigError(f"models/pretrained list a run twice: {pairs}")
    plan = []
    for m, p in pairs:
        train = {**fit_kwargs, "model_kwargs": {"weights": _weights_for(weights, m) if p else None},
                 "freeze_epochs": freeze_epochs if p else 0}  # freezing a random backbone makes no sense
        cfg = TrainConfig.from_params(m, train)
        plan.append({"model": m, "pretrained": p, "label": run_label(m, p), "folder": run_folder_name(m, p),
                     "train": train, "config": json.loads(json.dumps(cfg.to_dict()))})
    if verbose:
        c = plan[0]["config"]
        print(f"study OK: {len(plan)} runs ({', '.join(r['label'] for r in plan)}); "
              + ", ".join(f"{k}={c[k]!r}" for k in ("epochs", "batch_size", "optimizer", "lr", "scheduler", "augment",
                                                    "seed")))
    return plan


MISSING_WEIGHTS = ("stop", "skip")
DEMO_COUNTS = ({0: 500, 1: 120, 2: 75}, {0: 45, 1: 12, 2: 8})  # train / test images of 3 CIFAR classes: 0 dominates


def demo_settings(cifar_root, missing_weights=None, out_dir="data/cifar_imbalanced"):
    """The data parameters of the transfer notebook for its small stand-in: an imbalanced image folder written
    (once) from the CIFAR-10 folder ``cifar_root`` into ``out_dir``. It runs offline: pretrained runs whose
    weights cannot be had are skipped unless ``missing_weights`` says otherwise."""
    demo = write_cifar_image_folder(cifar_root, out_dir, *DEMO_COUNTS)
    with open(os.path.join(demo, "classes.txt"), encoding="utf-8") as f:
        names = f.read().split()
    return {"train_csv": os.path.join(demo, "train.csv"), "test_csv": os.path.join(demo, "test.csv"),
            "image_dir": os.path.join(demo, "train"), "test_image_dir": os.path.join(demo, "test"),
            "image_col": "image", "label_col": "label", "suffix": "", "class_names": names,
            "missing_weights": missing_weights or "skip"}


def run_transfer_study(data, models=("tv_resnet18", "tv_resnet50"), pretrained=(True, False), weights="imagenet",
                       run_dir="runs/transfer", resume=True, freeze_epochs=0, figures=True, verbose=True,
                       progress=True, missing_weights="stop", start_over=False, **fit_kwargs):
    """Train (or read back) one run per (model, pretrained) pair and compare them.

    - ``weights``: what "pretrained" loads: "imagenet" (torchvision's download/cache), a
      local state-dict path, or a dict {model: weights}. Scratch runs use ``weights=None``.
    - ``freeze_epochs``: train only the new head of pretrained runs for the first k epochs.
    - ``fit_kwargs``: anything :func:`labkit.fit` takes (epochs, lr, batch_size, optimizer,
      scheduler, seed, amp, ...), the same for every run.

    Checks everything before training: the parameters (:func:`plan_study`), the run folders
    (without ``resume`` none may exist; with it an existing run must have been made with the
    same settings on the same data), and that the pretrained weights can be had (downloaded
    into torchvision's cache now, not after hours of training). Where they cannot (offline without
    a cached copy, a missing file), ``missing_weights="stop"`` (default) stops with the fixes before
    training; ``"skip"`` leaves those pretrained runs out, says which and why, and trains the rest.
    A run that cannot continue (its last.pth or best_model.pth lost) stops the study before training;
    ``start_over=True`` trains it again (its files kept in ``earlier-1/`` inside its folder).
    Returns a :class:`TransferStudy`.
    """
    plan = plan_study(models, pretrained, weights, freeze_epochs, **fit_kwargs)
    missing_weights = "stop" if missing_weights is None else str(missing_weights).strip().lower()
    if missing_weights not in MISSING_WEIGHTS:
        raise ConfigError(f"missing_weights must be 'stop' or 'skip', got {missing_weights!r}")
    run_dir = os.fspath(run_dir)
    todo = [r for r in plan if run_status(os.path.join(run_dir, r["folder"])) != "finished"]
    plan, skipped = _drop_unavailable(plan, todo, weights, len(data.classes), missing_weights)
    imbalance = data.describe().get("imbalance")  # one value for every row of the table
    exp = run_in_folder([Variant(r["folder"], {"model": r["model"], **r["train"]}, change=r["label"]) for r in plan],
                        run_dir, name="transfer", data=data, data_common=dict(check_data_params(), device="auto"),
                        resume=resume, start_over=start_over, progress=progress, verbose=verbose, metrics=(),
                        columns=lambda c, run: _columns(c, run, data.classes, imbalance, plan))
    labels = {r["folder"]: r["label"] for r in plan}
    study = TransferStudy(**{**vars(exp), "runs": {labels[k]: v for k, v in exp.runs.items()},
                             "files": {"table": (exp.files["csv"], exp.files["md"])}},
                          classes=list(data.classes), skipped=skipped)
    if figures:
        _save_figures(study, plan)
    if verbose:
        print(f"\nComparison table: {study.files['table'][1]}" + (f"; figures in {os.path.join(run_dir, 'figures')}"
                                                                 if figures else ""))
        if skipped:
            print(f"Not in it (skipped, pretrained weights unavailable): {', '.join(skipped)}")
    return study


def _columns(config, run, classes, imbalance, plan):
    """The study's table columns besides the runner's: lr, batch size, pretrained, imbalance, per-class accuracy."""
    r = next(p for p in plan if p["folder"] == config.name)
    return {"lr": run.config.get("lr"), "batch_size": run.config.get("batch_size"), "pretrained": r["pretrained"],
            "imbalance": imbalance, **{f"acc {c}": run.per_class.get(c) for c in classes}}


def _save_figures(study, plan):
    """The overlaid curves and each run's confusion matrix (raw and row-normalized) in run_dir/figures."""
    fig_dir = os.path.join(study.path, "figures")
    study.files["curves"] = os.path.join(fig_dir, "all_runs_curves.png")
    plt.close(study.plot_curves(save=study.files["curves"]))
    for r in plan:
        for norm in (False, True):
            png = os.path.join(fig_dir, f"{r['folder']}_confusion{'_normalized' if norm else ''}.png")
            plt.close(study.plot_confusion(r["label"], normalize=norm, save=png))
            study.files[f"{r['label']} confusion{' normalized' if norm else ''}"] = png


def _drop_unavailable(plan, todo, weights, num_classes, missing_weights):
    """Get every pretrained run's weights now (download/cache/file). Where they cannot be had:
    raise (missing_weights="stop") or leave those runs out with a printed reason ("skip").
    Returns (the runs to do, {label: reason})."""
    missing = {}
    for m in sorted({r["model"] for r in todo if r["pretrained"]}):
        try:
            get_model(m, num_classes=num_classes, weights=_weights_for(weights, m))
        except DataMissingError as e:
            if missing_weights == "stop":
                raise
            missing[m] = str(e)
    skipped = {r["label"]: missing[r["model"]] for r in plan if r["pretrained"] and r["model"] in missing}
    if not skipped:
        return plan, {}
    rest = [r for r in plan if r["label"] not in skipped]
    print(f"SKIPPED {len(skipped)} of {len(plan)} runs ({', '.join(skipped)}): their pretrained weights cannot be "
          f"had here. Why, and how to include them:", flush=True)
    for why in missing.values():
        print(f"  - {why}", flush=True)
    if not rest:
        raise DataMissingError("no run of the study is left to train: every run needs pretrained weights that "
                               "cannot be had here. Add pretrained=False runs (from scratch), or get the weights "
                               "(see above).")
    print(f"Training the rest: {', '.join(r['label'] for r in rest)}.", flush=True)
    return rest, skipped
