"""The depth lab's and the transfer lab's reports, read from their run folders (labkit.report does Lab 2's and
the pieces every report shares: numbered captions, Markdown tables, hyper-parameters, differences against the
test set's noise).

    import labkit.lab_reports as lr
    runs = lr.depth_runs("runs")                    # the depth study's run folders (task3_depth)
    lr.depth_model_table(runs); lr.depth_error_table(runs); lr.show_depth_pairs(runs, cap)
    study = lr.transfer_runs("runs/transfer")       # the transfer study's runs, labelled "tv_resnet18 pretrained"
    lr.transfer_results(study); lr.show_transfer_confusions(study, cap)
"""
import os
import re

import pandas as pd

from .studies.depth import KINDS, PAPER_TEST_ERROR, degradation_panels
from .plots import plot_confusion_grid, plot_depth_pairs, plot_error_curves
from .report import (Captions, _display, _fmt, collect_runs, compare, hyperparameter_table, label, show, show_curves,
                     show_table, status, test_images, tested)

IMBALANCE_WORDS = {"none": "not handled (plain loss, plain sampling)", "class_weights": "a class-weighted loss",
                   "sampler": "a weighted random sampler (classes drawn about equally)",
                   "augment_minority": "the minority classes' images repeated with augmentation"}
KIND_NAMES = {"plain": "plain", "resnet": "ResNet", "preact": "pre-activation ResNet"}


# ---- settings every run of a study shares -------------------------------------------------------------------
def shared_settings(runs, leave_out=("model", "model options", "parameters")):
    """The hyper-parameters of ``runs`` as one column where every run agrees (setting, value); a setting that
    differs lists each run's value. The rows in ``leave_out`` (shown in the model table) are left out."""
    df = hyperparameter_table(runs)
    rows = []
    for setting, values in df.iterrows():
        if setting in leave_out:
            continue
        vals = list(dict.fromkeys(values))
        rows.append((setting, vals[0] if len(vals) == 1 else "; ".join(f"{c}: {v}" for c, v in values.items())))
    return pd.DataFrame(rows, columns=["setting", "value"])


# ---- the depth lab ------------------------------------------------------------------------------------------
def _kind(model):
    return "preact" if model.startswith("preact") else "plain" if model.startswith("plain") else "resnet"


def _depth(model):
    return int(re.sub(r"\D", "", model) or 0)


def net_name(run):
    """'plain-20', 'ResNet-56', 'pre-activation ResNet-56' (with ' (option B)' for projection shortcuts)."""
    model = run.config.get("model", "")
    opt = (run.config.get("model_kwargs") or {}).get("option", "A")
    return f"{KIND_NAMES[_kind(model)]}-{_depth(model)}" + (" (option B)" if opt == "B" else "")


def depth_runs(run_dir="runs", experiment="task3_depth"):
    """The depth study's runs (plain nets, ResNets, pre-activation ResNets) in ``run_dir/experiment``, ordered
    by kind, then depth."""
    runs = collect_runs(experiment, run_dir=run_dir)
    order = list(KINDS)
    return sorted(runs, key=lambda r: (order.index(_kind(r.config.get("model", ""))), _depth(r.config["model"])))


def depth_model_table(runs, caption=None):
    """The nets: kind, depth, the 3 stages of n basic blocks (2 conv layers each; 16/32/64 filters on 32/16/8
    pixels), the shortcut, the parameters (from the runs)."""
    rows = []
    for r in runs:
        model = r.config.get("model", "")
        n = (_depth(model) - 2) // 6
        kind = _kind(model)
        opt = (r.config.get("model_kwargs") or {}).get("option", "A")
        rows.append({"net": net_name(r), "layers": _depth(model),
                     "blocks per stage (16 / 32 / 64 filters)": f"{n} / {n} / {n}",
                     "shortcut": "none" if kind == "plain" else
                     ("identity, zero-padded when the size changes (option A)" if opt == "A" else
                      "1x1 projection when the size changes (option B)"),
                     "block": {"plain": "conv-BN-ReLU-conv-BN, ReLU", "resnet": "conv-BN-ReLU-conv-BN + shortcut, ReLU",
                               "preact": "BN-ReLU-conv-BN-ReLU-conv + shortcut"}[kind],
                     "parameters": r.config.get("params")})
    return show_table(pd.DataFrame(rows), caption)


def _final_test_err(run):
    h = run.history
    return 100.0 - h[-1]["test_acc"] if h and h[-1].get("test_acc") is not None else float("nan")


def depth_error_table(runs, caption=None):
    """Final test error (%) of each net (the last epoch's, as the paper reports; and the tested checkpoint's: the
    best validation epoch, or the last where there is no validation split) beside He et al.'s Table 6, with the
    training error and loss of the last epoch."""
    rows = []
    for r in runs:
        last = r.history[-1] if r.history else {}
        model = r.config.get("model", "")
        paper = PAPER_TEST_ERROR.get(model) if (r.config.get("model_kwargs") or {}).get("option", "A") == "A" else None
        rows.append({"net": net_name(r), "epochs": len(r.history),
                     "final training loss": round(last["train_loss"], 4) if "train_loss" in last else None,
                     "final training error (%)": 100.0 - last["train_acc"] if "train_acc" in last else None,
                     "final test error (%)": _final_test_err(r),
                     f"test error, {tested(runs)} checkpoint (%)": 100.0 - r.test_acc,
                     "paper's test error (%)": paper if paper is not None else "-",
                     **({"status": status(r)} if status(r) != "finished" else {})})
    return show_table(pd.DataFrame(rows), caption)


def depth_pairs(runs, kinds=("plain", "resnet")):
    """{depth: {net name: run}} for the depths where every one of ``kinds`` ran."""
    by_depth = {}
    for r in runs:
        kind = _kind(r.config.get("model", ""))
        if kind in kinds:
            by_depth.setdefault(_depth(r.config["model"]), {})[kind] = r
    return {d: {net_name(got[k]): got[k] for k in kinds} for d, got in sorted(by_depth.items())
            if all(k in got for k in kinds)}


def show_depth_pairs(runs, caption, kinds=("plain", "resnet")):
    """The training loss and the test error per epoch, the two kinds side by side at each depth."""
    pairs = depth_pairs(runs, kinds)
    if not pairs:  # its number is kept (the report's text names it), said not drawn, so no figure seems lost
        name = Captions.name_of(caption) or "This figure"
        ran = sorted({net_name(r) for r in runs})
        return show(f"*{name} is not drawn: no depth where {' and '.join(KIND_NAMES[k] for k in kinds)} both ran"
                    f"{' (only ' + ', '.join(ran) + ')' if ran else ''}.*")
    _display(plot_depth_pairs(pairs))
    return show(caption)


def show_degradation(runs, caption):
    """He et al.'s figure 6 from the runs: per kind, training error (dashed) and test error (solid) per epoch."""
    by_name = {net_name(r): r for r in runs}
    panels = degradation_panels({r.config["model"]: r for r in runs})
    named = {t: {net_name(r): r for r in p.values()} for t, p in panels.items()}
    if not by_name:
        return show("*No run.*")
    _display(plot_error_curves(named))
    return show(caption)


def depth_reading(runs):
    """The degradation problem read from the runs, in plain words: at each depth pair, which net trains and
    tests better, and whether the deeper plain net is worse than the shallower one (differences in test error
    with their standard error from the test-set size)."""
    lines = []
    for kind in ("plain", "resnet", "preact"):
        nets = sorted([r for r in runs if _kind(r.config.get("model", "")) == kind and r.history],
                      key=lambda r: _depth(r.config["model"]))
        if len(nets) < 2:
            continue
        a, b = nets[0], nets[-1]
        tr = [100.0 - n.history[-1]["train_acc"] for n in (a, b)]
        c = compare(b, a)
        noise = f"{-c[0]:+.2f} ± {c[1]:.2f} points, {_words(c, lower_is_better=True)}" if c else status(b)
        lines.append(f"- **{KIND_NAMES[kind]} nets**: {net_name(b)} ends with {tr[1]:.2f}% training error against "
                     f"{tr[0]:.2f}% for {net_name(a)} ({'deeper trains worse: degradation' if tr[1] > tr[0] else 'deeper trains better'}); "
                     f"test error of the {tested([a, b])} checkpoints {100 - b.test_acc:.2f}% vs "
                     f"{100 - a.test_acc:.2f}% "
                     f"({noise}).")
    for d, pair in depth_pairs(runs).items():
        (pn, p), (rn, r) = pair.items()
        c = compare(r, p)
        if c:
            lines.append(f"- **{d} layers**: {rn} {100 - r.test_acc:.2f}% test error vs {pn} {100 - p.test_acc:.2f}% "
                         f"({-c[0]:+.2f} ± {c[1]:.2f} points, {_words(c, lower_is_better=True)}).")
    return show("\n".join(lines) or "*Not enough finished runs to compare.*")


def _words(c, lower_is_better=False):
    """'within noise' / 'lower' / 'higher' for a compare() result read as an error (accuracy difference negated)."""
    if c[2] == "within noise":
        return "within noise"
    return ("lower" if c[0] > 0 else "higher") if lower_is_better else c[2]


def has_preact(runs):
    return any(_kind(r.config.get("model", "")) == "preact" for r in runs)


# ---- the transfer lab ---------------------------------------------------------------------------------------
def run_label_of(run):
    """'tv_resnet18 pretrained' / 'tv_resnet50 scratch', from the run's own settings."""
    weights = (run.config.get("model_kwargs") or {}).get("weights")
    return f"{run.config.get('model')} {'pretrained' if weights else 'scratch'}"


def transfer_runs(run_dir="runs/transfer"):
    """{run label: run} of the transfer study in ``run_dir`` (its ``<model>-<pretrained|scratch>`` folders)."""
    runs = collect_runs(run_dir)
    return {run_label_of(r): r for r in sorted(runs, key=lambda r: (r.config.get("model", ""), label(r)))}


def transfer_data_description(study, caption=None):
    """The image-folder data the runs used, in words: classes and their counts per split, image size, crops,
    normalization and the class-imbalance option."""
    run = next(iter(study.values()))
    d = run.config.get("data") or {}
    counts = d.get("class_counts")
    side = round(d["image_size"] / d["crop_ratio"]) if d.get("image_size") and d.get("crop_ratio") else None
    text = (f"{len(run.config.get('classes') or [])} classes; {d.get('train', '?'):,} training / {d.get('val', '?'):,} "
            f"validation / {d.get('test', '?'):,} test images (the validation images are a seeded stratified share of "
            f"the training CSV; the best validation epoch is the one tested). Each image is resized to {_fmt(side)} "
            f"pixels on its shorter side and cropped to {_fmt(d.get('image_size'))} x {_fmt(d.get('image_size'))} (a "
            f"random crop and flip in training when augmentation is on, the centre crop otherwise), then normalized "
            f"with the {_fmt(d.get('normalize'))} mean/std. Class imbalance: "
            f"{IMBALANCE_WORDS.get(d.get('imbalance'), _fmt(d.get('imbalance')))}.")
    show(text)
    if isinstance(counts, dict) and counts:
        table = (pd.DataFrame(counts).rename_axis("class").reset_index() if isinstance(next(iter(counts.values())), dict)
                 else pd.DataFrame(list(counts.items()), columns=["class", "images"]))
        show_table(table, caption)


def transfer_model_table(study, caption=None):
    """The models: torchvision's ResNet18/50 (basic / bottleneck blocks), their weights at the start, the new
    head, the parameters (from the runs)."""
    rows = []
    for name, r in study.items():
        model = r.config.get("model", "")
        weights = (r.config.get("model_kwargs") or {}).get("weights")
        rows.append({"run": name, "model": model,
                     "blocks": "basic (2 conv 3x3), [2, 2, 2, 2]" if "18" in model else
                     "bottleneck (1x1, 3x3, 1x1), [3, 4, 6, 3]",
                     "start": ("ImageNet weights" + ("" if weights == "imagenet" else f" ({os.path.basename(str(weights))})")
                               if weights else "random (kaiming)"),
                     "head": f"new fully connected layer, {r.config.get('num_classes')} classes",
                     "frozen-backbone epochs": r.config.get("freeze_epochs") or 0,
                     "parameters": r.config.get("params")})
    return show_table(pd.DataFrame(rows), caption)


def transfer_results(study, caption=None):
    """The highest accuracies: per run the best validation accuracy and the test accuracy of that checkpoint
    (%), with each class's test accuracy."""
    rows = []
    for name, r in study.items():
        rows.append({"run": name, "epochs": len(r.history), "best val. acc. (%)": r.best_val_acc,
                     "best epoch": r.best_epoch, "test acc. (%)": r.test_acc,
                     **{f"{c} (%)": v for c, v in (r.per_class or {}).items()},
                     **({"status": status(r)} if status(r) != "finished" else {})})
    return show_table(pd.DataFrame(rows), caption)


def pretrained_vs_scratch(study):
    """Per model, the pretrained run's test accuracy against the scratch run's, with the standard error of the
    difference from the test-set size, in plain words."""
    lines = []
    for model in sorted({r.config.get("model") for r in study.values()}):
        pre, scr = study.get(f"{model} pretrained"), study.get(f"{model} scratch")
        if pre is None or scr is None:
            lines.append(f"- **{model}**: only {'the pretrained' if pre else 'the scratch'} run is here.")
            continue
        c = compare(pre, scr)
        lines.append(f"- **{model}**: pretrained {pre.test_acc:.2f}% vs from scratch {scr.test_acc:.2f}% test accuracy"
                     + (f" ({c[0]:+.2f} ± {c[1]:.2f} points on {test_images(pre):,} test images: {c[2]})." if c else
                        "."))
    return show("\n".join(lines) or "*No run.*")


def show_transfer_curves(study, caption):
    """The four curves of every run overlaid (one legend)."""
    show_curves(dict(study))
    return show(caption)


def show_transfer_confusions(study, caption):
    """Every run's test confusion matrix, row-normalized (each row divided by the class's test images: the
    diagonal is each class's recall), side by side in one figure."""
    done = {name: r for name, r in study.items() if r.confusion_matrix}
    for name, r in study.items():
        if name not in done:
            show(f"*{name}: no test result yet ({status(r)}).*")
    if not done:
        return None
    classes = next(iter(done.values())).config.get("classes") or list(next(iter(done.values())).per_class)
    _display(plot_confusion_grid({name: r.confusion_matrix for name, r in done.items()}, classes))
    return show(caption)
