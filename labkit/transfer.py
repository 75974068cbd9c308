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

from .config import TrainConfig, as_bool
from .errors import CheckpointError, ConfigError, DataMissingError, RunExistsError
from .models import IMAGENET_MODELS, check_model_name, get_model
from .plots import plot_confusion_matrix, plot_histories
from .results import save_table, summarize_runs
from .files import read_json_file
from .runs import RESUME_KEYS
from .train import fit

# describe() keys that must match for a run to be resumed/reused with this data
DATA_KEYS = ("train", "val", "test", "classes", "class_counts", "imbalance", "minority_classes", "minority_repeat",
             "image_size", "normalize", "crop_ratio", "flips", "val_ratio", "seed", "limit", "test_limit")


@dataclass
class TransferStudy:
    runs: dict                      # label -> RunResult
    table: object                   # pandas DataFrame, one row per run
    classes: list
    run_dir: str
    files: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)   # label -> why the run was skipped (missing_weights="skip")

    def plot_curves(self, metrics=("train_acc", "val_acc", "train_loss", "val_loss"), save=None):
        models = sorted({r.config.get("model", "?") for r in self.runs.values()})
        return plot_histories(self.runs, metrics=metrics, title=f"{', '.join(models)}: pretrained vs from scratch",
                              save=save)

    def plot_confusion(self, label, normalize=False, save=None):
        run = self.runs[label]
        return plot_confusion_matrix(run.confusion_matrix, self.classes, normalize=normalize, save=save,
                                     title=f"{label}: test confusion matrix" + (" (row-normalized)" if normalize else ""))


def _as_list(value, name):
    """A list from a list, one value, or text such as "a,b" / '["a", "b"]' (papermill -p passes text)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if value is None:
        raise ConfigError(f"{name} must be a list (e.g. {name}=[...]), got None")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        items = [v.strip().strip("'\"").strip() for v in text.split(",")]
        items = [v for v in items if v]
        if not items:
            raise ConfigError(f"{name} is empty: {value!r}")
        return items
    return [value]


def run_label(model, pretrained):
    return f"{model} {'pretrained' if pretrained else 'scratch'}"


def run_folder_name(model, pretrained):
    return f"{model}-{'pretrained' if pretrained else 'scratch'}"


def _data_signature(desc):
    desc = json.loads(json.dumps(desc, default=str))
    return {k: desc.get(k) for k in DATA_KEYS}


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
    models = _check_models(_as_list(models, "models"))
    pretrained = [as_bool("pretrained", p) for p in _as_list(pretrained, "pretrained")]
    for bad in ("model_kwargs", "run_name", "model", "data"):
        if bad in fit_kwargs:
            raise ConfigError(f"the study sets {bad} itself; pass models=, pretrained=, weights= and run_dir= instead.")
    unknown = set(fit_kwargs) - set(TrainConfig.field_names())
    if unknown:
        raise ConfigError(f"unknown training parameter(s) {sorted(unknown)}. "
                          f"Valid ones: {', '.join(TrainConfig.field_names())}")
    pairs = [(m, p) for m in models for p in pretrained]
    if len(set(pairs)) != len(pairs):
        raise ConfigError(f"models/pretrained list a run twice: {pairs}")
    plan = []
    for m, p in pairs:
        train = {**fit_kwargs, "model_kwargs": {"weights": _weights_for(weights, m) if p else None},
                 "freeze_epochs": freeze_epochs if p else 0}  # freezing a random backbone makes no sense
        cfg = TrainConfig(model=m, **train).validate()
        plan.append({"model": m, "pretrained": p, "label": run_label(m, p), "folder": run_folder_name(m, p),
                     "train": train, "config": json.loads(json.dumps(cfg.to_dict()))})
    if verbose:
        c = plan[0]["config"]
        print(f"study OK: {len(plan)} runs ({', '.join(r['label'] for r in plan)}); "
              + ", ".join(f"{k}={c[k]!r}" for k in ("epochs", "batch_size", "optimizer", "lr", "scheduler", "augment",
                                                    "seed")))
    return plan


MISSING_WEIGHTS = ("stop", "skip")


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
    resume, start_over = as_bool("resume", resume), as_bool("start_over", start_over)
    missing_weights = "stop" if missing_weights is None else str(missing_weights).strip().lower()
    if missing_weights not in MISSING_WEIGHTS:
        raise ConfigError(f"missing_weights must be 'stop' or 'skip', got {missing_weights!r}")
    run_dir = os.fspath(run_dir)
    sig = _data_signature(data.describe())

    # ---- checks before any training -----------------------------------------------------------
    existing = [os.path.join(run_dir, r["folder"]) for r in plan if os.path.exists(os.path.join(run_dir, r["folder"]))]
    if existing and not resume:
        raise RunExistsError(f"run folders already exist: {', '.join(existing)}. Pass resume=True to reuse/continue "
                             f"them, or choose another run_dir; labkit never overwrites a run.")
    todo = []
    for r in plan:
        path = os.path.join(run_dir, r["folder"])
        cfg_path = os.path.join(path, "config.json")
        try:
            old_cfg = read_json_file(cfg_path, "run settings", "Pass start_over=True to train that run again (its "
                                     "files are kept in earlier-1/ inside it), or use another run_dir.")
        except CheckpointError:
            if not start_over:
                raise
            old_cfg = None
        if old_cfg is not None:
            old = _data_signature(old_cfg.get("data") or {})
            diff = [k for k in DATA_KEYS if old.get(k) != sig.get(k)]
            if diff:
                what = "; ".join(f"{k}: {old.get(k)!r} then, {sig.get(k)!r} now" for k in diff[:4])
                raise ConfigError(f"{path} was trained on other data ({what}). Use another run_dir for this data.")
            diff = [k for k in RESUME_KEYS if old_cfg.get(k) != r["config"].get(k)]
            if diff:
                raise ConfigError(f"cannot reuse {path} with other settings: " + ", ".join(
                    f"{k} was {old_cfg.get(k)!r}, now {r['config'].get(k)!r}" for k in diff)
                    + ". Use that run's settings, or another run_dir for the new ones.")
        if not os.path.isfile(os.path.join(path, "result.json")):
            todo.append(r)

    plan, skipped = _drop_unavailable(plan, todo, weights, len(data.classes), missing_weights)

    # ---- the runs ---------------------------------------------------------------------------
    runs = {}
    for r in plan:
        if verbose:
            print(f"\n=== {r['label']} (weights={r['train']['model_kwargs']['weights']!r}) ===", flush=True)
        runs[r["label"]] = fit(r["model"], data, run_dir=run_dir, run_name=r["folder"],
                               resume=os.path.isdir(os.path.join(run_dir, r["folder"])),
                               start_over=start_over and os.path.isdir(os.path.join(run_dir, r["folder"])),
                               progress=progress, verbose=verbose, **r["train"])

    # ---- comparison -------------------------------------------------------------------------
    table = summarize_runs(list(runs.values()), extra_keys=("lr", "batch_size"))
    table.insert(1, "pretrained", [r["pretrained"] for r in plan])
    table.insert(2, "imbalance", data.describe().get("imbalance"))
    for c in data.classes:
        table[f"acc {c}"] = [r.per_class.get(c) for r in runs.values()]
    files = {}
    os.makedirs(run_dir, exist_ok=True)
    files["table"] = save_table(table, os.path.join(run_dir, "comparison"))
    study = TransferStudy(runs=runs, table=table, classes=list(data.classes), run_dir=run_dir, files=files,
                          skipped=skipped)
    if figures:
        fig_dir = os.path.join(run_dir, "figures")
        fig = study.plot_curves(save=os.path.join(fig_dir, "curves.png"))
        plt.close(fig)
        files["curves"] = os.path.join(fig_dir, "curves.png")
        for r in plan:
            label = r["label"]
            for norm in (False, True):
                png = os.path.join(fig_dir, f"{r['folder']}_confusion{'_normalized' if norm else ''}.png")
                plt.close(study.plot_confusion(label, normalize=norm, save=png))
                files[f"{label} confusion{' normalized' if norm else ''}"] = png
    if verbose:
        print(f"\nComparison table: {files['table'][1]}" + (f"; figures in {os.path.join(run_dir, 'figures')}"
                                                           if figures else ""))
        if skipped:
            print(f"Not in it (skipped, pretrained weights unavailable): {', '.join(skipped)}")
    return study


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
