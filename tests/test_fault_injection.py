"""Fault injection: a run interrupted at each write of an epoch in turn (every write of the bytes of a file,
every emptying and swap of a replaced file; Ctrl-C in the process, and SIGKILL of the process) resumes
to exactly the uninterrupted run: the same history, best epoch and best checkpoint, test accuracy and
final weights, each epoch logged once, no temporary file left."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

import labkit
from labkit import files, runs, train
from labkit.files import read_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# validation accuracy per epoch, scripted so that epoch 2 is a new best and epoch 3 is not (the two kinds of
# epoch write different files); everything else is the real training
VAL = {1: 40.0, 2: 60.0, 3: 50.0}
RUN = dict(epochs=3, batch_size=32, lr=0.02, seed=5, progress=False, verbose=False)

HARNESS = '''
import os, signal
from labkit import files, runs, train

VAL = {val}
_real_run_epoch = train.run_epoch


def scripted_run_epoch(*args, **kwargs):
    rec = _real_run_epoch(*args, **kwargs)
    rec["val_acc"] = VAL[rec["epoch"]]
    return rec


class Faults:
    """Counts labkit's writes (files.write_file, and the os.truncate / os.replace of files.atomic_path); at event
    number ``at`` writes half the bytes (or does not empty / swap) and interrupts: Ctrl-C or SIGKILL."""

    def __init__(self, at=None, kind="raise"):
        self.at, self.kind, self.events = at, kind, []
        self._write, self._os = files.write_file, files.os

    def _event(self, what, path, data=b""):
        name = os.path.basename(path)
        if name.startswith(".") and name.endswith(".tmp"):  # atomic_path's temporary copy of a file
            name = "tmp-" + name[1:].rsplit(".", 2)[0]
        label = what + ":" + name
        if what == "write" and label.endswith("log.txt"):
            label += ":" + data.decode("utf-8", "replace").strip()[:12]
        self.events.append(label)
        return len(self.events) - 1 == self.at

    def _interrupt(self):
        if self.kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise KeyboardInterrupt("injected at " + self.events[-1])

    def write_file(self, path, data, append=False):
        if self._event("write", path, data):
            self._write(path, data[: len(data) // 2], append)
            self._interrupt()
        self._write(path, data, append)

    def replace(self, src, dst):
        if self._event("replace", dst):
            self._interrupt()
        self._os.replace(src, dst)

    def truncate(self, path, length):
        if self._event("truncate", path):
            self._interrupt()
        self._os.truncate(path, length)

    def install(self, setattr):
        """Patch with ``setattr(obj, name, value)`` (pytest's monkeypatch.setattr, or the builtin)."""
        outer = self

        class Os:
            def __getattr__(self, name):
                return getattr(outer._os, name)

            replace, truncate = staticmethod(outer.replace), staticmethod(outer.truncate)

        setattr(files, "write_file", self.write_file)
        setattr(runs, "write_file", self.write_file)
        setattr(files, "os", Os())
        setattr(train, "run_epoch", scripted_run_epoch)
        return self
'''.format(val=VAL)
exec(HARNESS)  # the same harness in this process (Ctrl-C) and in the killed subprocesses (SIGKILL)

KILLED = textwrap.dedent('''
    import sys
    sys.path.insert(0, {repo!r})
    import labkit
    exec(open({harness!r}).read())
    root, run_dir, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = labkit.load_cifar10(root, device="cpu", limit=160, test_limit=64, verbose=False)
    Faults(at, "kill").install(setattr)
    labkit.fit("simplecnn", data, run_dir=run_dir, run_name="r", **{run!r})
''')


@pytest.fixture(scope="module")
def small(subset_root):
    return labkit.load_cifar10(subset_root, device="cpu", limit=160, test_limit=64, verbose=False)


def _outcome(run_dir):
    """What a finished run is: its numbers, best epoch and checkpoint, test result, final weights, log."""
    path = os.path.join(run_dir, "r")
    res = json.load(open(os.path.join(path, "result.json")))
    hist = json.load(open(os.path.join(path, "history.json")))
    best = read_checkpoint(os.path.join(path, "best_model.pth"))
    state = read_checkpoint(os.path.join(path, "last.pth"))
    log = open(os.path.join(path, "log.txt")).read()
    return {"history": [{k: h[k] for k in ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc")}
                        for h in hist],
            "best_epoch": best["epoch"], "best": best["state_dict"], "final": state["model"],
            "test_acc": res["test_acc"], "result_best": res["best_epoch"], "state_epoch": state["epoch"],
            "epoch_lines": [ln for ln in log.splitlines() if ln.startswith("Epoch: ")],
            "leftovers": sorted(f for f in os.listdir(path) if f.endswith(".tmp") or f == ".lock")}


def _same(a, b):
    assert a["history"] == b["history"]
    assert a["best_epoch"] == b["best_epoch"] == a["result_best"] == 2 and a["state_epoch"] == 3
    assert a["test_acc"] == b["test_acc"]
    for key in ("best", "final"):
        assert all(torch.equal(v, b[key][k]) for k, v in a[key].items()), key
    assert a["epoch_lines"] == ["Epoch: 1", "Epoch: 2", "Epoch: 3"] and not a["leftovers"]


@pytest.fixture(scope="module")
def reference(small, tmp_path_factory, subset_root):
    """The uninterrupted run, and the list of its write events (where each epoch's start)."""
    mp = pytest.MonkeyPatch()
    faults = Faults().install(mp.setattr)
    run_dir = tmp_path_factory.mktemp("reference")
    labkit.fit("simplecnn", small, run_dir=run_dir, run_name="r", **RUN)
    mp.undo()
    ev = faults.events
    starts = [ev.index(f"write:log.txt:Epoch: {e}") for e in (1, 2, 3)] + [ev.index("write:log.txt:Finished Tra")]
    return _outcome(run_dir), ev, starts


def _resume(small, run_dir):
    mp = pytest.MonkeyPatch()
    Faults().install(mp.setattr)  # the scripted validation accuracy, nothing interrupted
    try:
        labkit.fit("simplecnn", small, run_dir=run_dir, run_name="r", resume=True, **RUN)
    finally:
        mp.undo()


def test_every_write_is_counted(reference):
    _, events, starts = reference
    epoch2 = events[starts[1]:starts[2]]  # a new best: last.pth, then best_model.pth, then history.json
    assert [e for e in epoch2 if not e.startswith("write:log")] == [
        "write:tmp-last.pth", "truncate:last.pth", "replace:last.pth", "write:tmp-best_model.pth",
        "truncate:best_model.pth", "replace:best_model.pth", "write:tmp-history.json", "replace:history.json"]
    epoch3 = events[starts[2]:starts[3]]  # not a new best: no best_model.pth
    assert not [e for e in epoch3 if "best_model" in e] and "replace:last.pth" in epoch3


@pytest.mark.slow
def test_ctrl_c_at_every_write_then_resume_is_the_uninterrupted_run(reference, small, tmp_path):
    ref, events, starts = reference
    for at in range(starts[0], len(events)):  # every write from the first epoch on, the final test's included
        run_dir = tmp_path / f"at{at}"
        mp = pytest.MonkeyPatch()
        Faults(at).install(mp.setattr)
        try:
            with pytest.raises(KeyboardInterrupt):
                labkit.fit("simplecnn", small, run_dir=run_dir, run_name="r", **RUN)
        finally:
            mp.undo()
        _resume(small, run_dir)
        try:
            _same(_outcome(run_dir), ref)
        except AssertionError as e:
            raise AssertionError(f"interrupted at write {at} ({events[at]}): {e}") from None


@pytest.mark.slow
def test_sigkill_at_every_write_of_an_epoch_then_resume_is_the_uninterrupted_run(reference, small, tmp_path,
                                                                                   subset_root):
    ref, events, starts = reference
    (tmp_path / "harness.py").write_text(HARNESS)
    script = tmp_path / "killed.py"
    script.write_text(KILLED.format(repo=REPO, harness=str(tmp_path / "harness.py"), run=RUN))
    for at in range(starts[1], starts[3]):  # every write of epoch 2 (a new best) and epoch 3 (not)
        run_dir = tmp_path / f"at{at}"
        p = subprocess.run([sys.executable, str(script), subset_root, str(run_dir), str(at)], capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == -signal.SIGKILL, f"write {at} ({events[at]}): {p.stderr[-2000:]}"
        _resume(small, run_dir)  # the dead process's lock is taken over at once on the same machine
        try:
            _same(_outcome(run_dir), ref)
        except AssertionError as e:
            raise AssertionError(f"killed at write {at} ({events[at]}): {e}") from None
