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


def plot_histories(runs, title=None, save=None, metrics=CURVES):
    """The same four panels with several runs overlaid. ``runs``: {label: run} or a list of runs.
    ``metrics`` may also name ``lr`` and the error rates ``train_err``, ``val_err``, ``test_err``."""
    if not isinstance(runs, dict):
        runs = {_label(r, i): r for i, r in enumerate(runs)}
    names = {"train_acc": "Train accuracy (%)", "val_acc": "Validation accuracy (%)",
             "train_loss": "Train loss", "val_loss": "Validation loss", "test_err": "Test error (%)",
             "val_err": "Validation error (%)", "lr": "Learning rate"}
    fig, axes = plt.subplots(2, (len(metrics) + 1) // 2, figsize=(11, 7.5), squeeze=False)
    for ax, key in zip(axes.flat, metrics):
        for label, run in runs.items():
            h = with_error_rates(_history(run))
            ax.plot([e["epoch"] for e in h], [e.get(key) for e in h], marker="o" if len(h) <= 15 else None, ms=3,
                    label=label)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(names.get(key, key))
        ax.set_title(names.get(key, key))
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
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


def plot_confusion_matrix(cm, classes, normalize=False, title=None, save=None):
    """Heat map of a confusion matrix (rows true, columns predicted); ``normalize`` divides each row."""
    cm = np.asarray(cm, dtype=float)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.55 * n))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    thresh = shown.max() / 2 if shown.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}", ha="center", va="center",
                    fontsize=7, color="white" if shown[i, j] > thresh else "black")
    ax.set_title(title or ("Confusion matrix (normalized)" if normalize else "Confusion matrix"))
    fig.tight_layout()
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
