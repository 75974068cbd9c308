"""Live curves: in a notebook kernel a person watches, fit redraws one figure with the four curves in place after
every epoch (one display output, updated by its id); under papermill/nbval (history in memory) and outside a
kernel, nothing is displayed."""
import types

import IPython
import IPython.display
import pytest

import labkit
from labkit import live


class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, obj):
        self.updates.append(obj)


@pytest.fixture
def kernel(monkeypatch):
    """An IPython kernel faked: a shell with a kernel and a history file (``hist_file`` settable), display()
    returning one handle."""
    shell = types.SimpleNamespace(kernel=object(), history_manager=types.SimpleNamespace(hist_file="/h/history.sqlite"))
    handles = []

    def display(*objs, display_id=None, **kw):
        assert display_id is True and not objs  # one empty output, filled by updates
        handles.append(FakeHandle())
        return handles[-1]

    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.delenv("LABKIT_LIVE", raising=False)
    return shell, handles


def test_fit_redraws_one_figure_each_epoch_in_a_watched_kernel(kernel, subset_root, tmp_path):
    _, handles = kernel
    data = labkit.load_cifar10(subset_root, limit=128, test_limit=32, normalize="fixed", device="cpu", verbose=False)
    labkit.fit("simplecnn", data, epochs=2, batch_size=64, run_dir=tmp_path, progress=False, verbose=False,
               device="cpu")
    assert len(handles) == 1 and len(handles[0].updates) == 2  # one output, redrawn after each epoch
    png = handles[0].updates[-1]
    assert isinstance(png, IPython.display.Image) and png.data.startswith(b"\x89PNG")


def test_off_under_papermill_outside_a_kernel_and_by_switch(kernel, monkeypatch):
    shell, _ = kernel
    assert live.interactive_kernel() and live.LiveCurves.start() is not None
    assert live.LiveCurves.start(enabled=False) is None
    shell.history_manager.hist_file = ":memory:"  # papermill, nbval, nbconvert: a headless kernel
    assert not live.interactive_kernel() and live.LiveCurves.start() is None
    shell.history_manager.hist_file = "/h/history.sqlite"
    monkeypatch.setenv("LABKIT_LIVE", "0")
    assert live.LiveCurves.start() is None
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)  # plain Python
    monkeypatch.delenv("LABKIT_LIVE")
    assert live.LiveCurves.start() is None
