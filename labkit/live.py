"""Live curves in a notebook: while :func:`labkit.fit` trains in Jupyter or Colab, one figure with the four
curves (training and validation loss, training and validation accuracy) is redrawn in place after every
epoch, through IPython's display (one output updated by its display id; no ipywidgets). A student sees
early that a run is going wrong. Off under papermill, nbval and nbconvert (their kernels keep no history
file: a headless run), outside a notebook kernel, with ``progress=False``, or with ``LABKIT_LIVE=0``; the
final curves are drawn as before (labkit.plot_history)."""
import io
import os


def interactive_kernel():
    """True in a Jupyter or Colab kernel a person watches: an IPython kernel whose history is kept in a file
    (papermill, nbval and nbconvert start theirs with ``--HistoryManager.hist_file=:memory:``)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:  # plain python, a terminal IPython
        return False
    history = getattr(shell, "history_manager", None)
    return str(getattr(history, "hist_file", "")) != ":memory:"


def draw(history, title=None):
    """The four curves of ``history`` (fit's per-epoch records) as PNG bytes: loss | accuracy."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(fig)
    epochs = [h["epoch"] for h in history]
    for ax, what, unit in zip(fig.subplots(1, 2), ("loss", "acc"), ("loss", "accuracy (%)")):
        for split, style in (("train", "-o"), ("val", "-s")):
            if all(h[f"{split}_{what}"] is None for h in history):  # val_ratio=0: no validation curve
                continue
            ax.plot(epochs, [h[f"{split}_{what}"] for h in history], style, ms=3,
                    label=f"{'training' if split == 'train' else 'validation'} {unit.split(' ')[0]}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{title + ': ' if title else ''}epoch {epochs[-1]}" if epochs else (title or ""))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


class LiveCurves:
    """One notebook output showing a run's curves, updated in place (:meth:`update` after every epoch)."""

    def __init__(self, handle, title=None):
        self.handle, self.title = handle, title

    @classmethod
    def start(cls, enabled=True, title=None):
        """A live figure where one helps (see the module's doc; ``enabled``: fit's ``progress``), else None."""
        if not enabled or os.environ.get("LABKIT_LIVE", "1") == "0" or not interactive_kernel():
            return None
        from IPython.display import display

        return cls(display(display_id=True), title)

    def update(self, history):
        from IPython.display import Image

        if history:
            self.handle.update(Image(data=draw(history, self.title)))
