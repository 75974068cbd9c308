"""matplotlib figures: training curves (one run or several overlaid), confusion matrix, image grid.

Each function returns the Figure and, with ``save=path``, writes a PNG (atomically).

Importing this module leaves matplotlib's backend alone (the user's choice): in a notebook figures
show inline, and without a display matplotlib itself falls back to the non-interactive Agg, which
is all that saving a PNG needs.
"""
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from .errors import ConfigError
from .files import atomic_path
from .results import with_error_rates
from .runs import CURVES, read_history


def _history(run):
    """History list from a RunResult, a run folder, or a list of epoch dicts."""
    if hasattr(run, "history"):
        return run.history
    if isinstance(run, (str, os.PathLike)):
        history, source = read_history(os.fspath(run))
        if source is None:
            raise ConfigError(f"{os.fspath(run)!r} holds no training history (no history.json or last.pth): "
                              f"pass a run folder fit wrote, e.g. run.run_dir.")
        return history
    return list(run)


def _label(run, i):
    if hasattr(run, "run_dir"):
        return os.path.basename(run.run_dir)
    if isinstance(run, (str, os.PathLike)):
        return os.path.basename(os.fspath(run).rstrip("/"))
    return f"run {i + 1}"


def _save(fig, save):
    if save:
        with atomic_path(save) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return fig


def plot_history(run, title=None, save=None):
    """Four panels: epoch vs train acc, val acc, train loss, val loss (the handouts' curves)."""
    return plot_histories({title or _label(run, 0): run}, title=title, save=save)


# Axis titles (with units: accuracies and error rates in %, as every table of labkit gives them).
AXIS_NAMES = {"train_acc": "Train accuracy (%)", "val_acc": "Validation accuracy (%)", "test_acc": "Test accuracy (%)",
              "train_loss": "Train loss", "val_loss": "Validation loss", "test_loss": "Test loss",
              "train_err": "Training error (%)", "test_err": "Test error (%)", "val_err": "Validation error (%)",
              "lr": "Learning rate"}
SPAN_LIMIT = 20  # a curve reaching more than this many times the others' top gets a log axis


def _finite(values):
    return [float(v) for v in values if v is not None and np.isfinite(v)]


def spread_out(series):
    """True when the highest of ``series`` (lists of values) reaches more than SPAN_LIMIT times the top of
    another (a diverging run's loss next to converging ones): on a linear axis that one lies flat at 0."""
    tops = sorted(max(v) for v in map(_finite, series) if v)
    return len(tops) > 1 and tops[0] > 0 and tops[-1] > SPAN_LIMIT * tops[0]


def _fit_axis(ax, series, key):
    """A log y axis for a loss panel whose curves span more than SPAN_LIMIT times (losses are positive);
    the panel's title says so."""
    if key.endswith("_loss") and spread_out(series) and all(min(v) > 0 for v in map(_finite, series) if v):
        ax.set_yscale("log")
        ax.set_title(f"{AXIS_NAMES.get(key, key)} (log scale)")


def plot_histories(runs, title=None, save=None, metrics=CURVES, size=(11, 7.5), rows=2):
    """The same four panels with several runs overlaid. ``runs``: {label: run} or a list of runs.
    ``metrics`` may also name ``lr`` and the error rates ``train_err``, ``val_err``, ``test_err``.
    One legend for the figure (under the panels); a loss panel where one curve dwarfs the others is
    drawn on a log axis. ``rows=1``: the panels side by side (a figure a page holds more of)."""
    if not isinstance(runs, dict):
        runs = {_label(r, i): r for i, r in enumerate(runs)}
    hists = {label: with_error_rates(_history(run)) for label, run in runs.items()}
    fig, axes = plt.subplots(rows, -(-len(metrics) // rows), figsize=size, squeeze=False)
    for ax, key in zip(axes.flat, metrics):
        series = []
        for i, (label, h) in enumerate(hists.items()):
            ys = [e.get(key) for e in h]
            series.append(ys)
            ax.plot([e["epoch"] for e in h], [np.nan if y is None else y for y in ys],
                    marker="o" if len(h) <= 15 else None, ms=3, color=f"C{i}", label=label)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(AXIS_NAMES.get(key, key))
        ax.set_title(AXIS_NAMES.get(key, key))
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
        _fit_axis(ax, series, key)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    _figure_legend(fig, axes.flat[0], title)
    return _save(fig, save)


def _figure_legend(fig, ax, title):
    """One legend for the whole figure, under its panels (every panel has the same runs in the same colours)."""
    handles, labels = ax.get_legend_handles_labels()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if len(labels) > 1 or (labels and not title):
        ncol = min(len(labels), 3)
        rows = -(-len(labels) // ncol)
        fig.subplots_adjust(bottom=(0.6 + 0.22 * rows) / fig.get_figheight())  # the x labels, then the legend
        fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=9, frameon=False)


def plot_depth_pairs(pairs, save=None, title=None):
    """The depth lab's comparison at each depth (``{depth: {label: run}}``, e.g. {20: {"plain-20": run,
    "ResNet-20": run}}): per depth a column, training loss above (log scale when the curves span more than
    SPAN_LIMIT times) and test error (%) below, per epoch; the test error needs runs trained with
    ``track_test=True``."""
    fig, axes = plt.subplots(2, len(pairs), figsize=(5.2 * len(pairs), 7), squeeze=False)
    for col, (depth, runs) in enumerate(pairs.items()):
        for row, key in enumerate(("train_loss", "test_err")):
            ax, series = axes[row, col], []
            for i, (label, run) in enumerate(runs.items()):
                h = with_error_rates(_history(run))
                ys = [e.get(key) for e in h]
                series.append(ys)
                ax.plot([e["epoch"] for e in h], [np.nan if y is None else y for y in ys], lw=1.6, color=f"C{i}",
                        marker="o" if len(h) <= 15 else None, ms=3,
                        label=label)
            ax.set_title(f"{depth} layers: {AXIS_NAMES[key].lower()}")
            ax.set_xlabel("Epoch")
            ax.set_ylabel(AXIS_NAMES[key])
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            _fit_axis(ax, series, key)
            if row == 0:
                ax.legend(fontsize=8)  # one legend per depth: its two nets
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, save)


def plot_error_curves(panels, title=None, save=None):
    """He et al. 2016's figure 6: per panel (``{panel title: {label: run}}``, e.g. plain nets, then ResNets),
    training error (dashed) and test error (solid) per epoch, one colour per run; the test error needs runs
    trained with ``track_test=True``."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False, sharey=True)
    for ax, (name, runs) in zip(axes.flat, panels.items()):
        for i, (label, run) in enumerate(runs.items()):
            h = with_error_rates(_history(run))
            epochs, color = [e["epoch"] for e in h], f"C{i}"
            ax.plot(epochs, [e.get("train_err") for e in h], ls="--", lw=1.2, color=color)
            ax.plot(epochs, [e.get("test_err") for e in h], ls="-", lw=1.8, color=color, label=label)
        ax.set_title(name)
        ax.set_xlabel("Epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8, title="solid: test, dashed: train", title_fontsize=7)
    axes.flat[0].set_ylabel("Error (%)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, save)


def _draw_confusion(ax, cm, classes, normalize, title):
    """One confusion matrix on ``ax`` (rows true, columns predicted), each cell's value written in it."""
    cm = np.asarray(cm, dtype=float)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    n = len(classes)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    thresh = shown.max() / 2 if shown.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}", ha="center", va="center",
                    fontsize=7, color="white" if shown[i, j] > thresh else "black")
    ax.set_title(title, fontsize=10)
    return im


def plot_confusion_matrix(cm, classes, normalize=False, title=None, save=None):
    """Heat map of a confusion matrix (rows true, columns predicted); ``normalize`` divides each row."""
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.55 * n))
    im = _draw_confusion(ax, cm, classes, normalize,
                         title or ("Confusion matrix (normalized)" if normalize else "Confusion matrix"))
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, save)


def plot_confusion_grid(matrices, classes, normalize=True, save=None):
    """Several runs' confusion matrices side by side (``{title: matrix}``), two to four a row, one scale."""
    n, k = len(classes), len(matrices)
    cols = min(k, 4 if n <= 5 else 2)
    rows = -(-k // cols)
    side = 0.8 + 0.45 * n
    fig, axes = plt.subplots(rows, cols, figsize=(side * cols + 0.8, side * rows + 0.6), squeeze=False)
    im = None
    for ax, (title, cm) in zip(axes.flat, matrices.items()):
        im = _draw_confusion(ax, cm, classes, normalize, title)
    for ax in list(axes.flat)[k:]:
        ax.axis("off")
    fig.tight_layout()
    if im is not None:
        fig.colorbar(im, ax=list(axes.flat), fraction=0.02)
    return _save(fig, save)


def show_images(images, labels, classes, n=8, ncols=8, save=None, title=None):
    """A grid of the first ``n`` images (uint8 (N,3,H,W) tensor/array) with their class names."""
    images = np.asarray(images[:n].cpu() if hasattr(images, "cpu") else images[:n])
    labels = [int(v) for v in (labels[:n].tolist() if hasattr(labels, "tolist") else labels[:n])]
    nrows = (len(images) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.9 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, lab in zip(axes.flat, images, labels):
        ax.imshow(np.transpose(img, (1, 2, 0)))
        ax.set_title(classes[lab], fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, save)


def show_png(*paths):
    """Display saved PNG files (figures labkit wrote) in the notebook; missing ones are left out."""
    from IPython.display import Image, display  # IPython: only in a notebook

    for p in paths:
        if p and os.path.isfile(p):
            display(Image(filename=p))
