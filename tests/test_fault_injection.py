"""Fault injection: a run interrupted at each write in turn (every write of the bytes of a file, every swap
of a replaced file, every removal; Ctrl-C in the process, and SIGKILL of the process at every write, the
first config.json and the last log line included; then a second SIGKILL at every write of a resume) resumes
to exactly the uninterrupted run: the same history, best epoch and best checkpoint, test accuracy and final
weights, each epoch logged once, no temporary file left. Also the disks a run meets (issue 31): full (a real
1 MB tmpfs) and read-only."""
import json
import os
import re
import shutil
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
    """Counts labkit's writes (files.write_file, and the os.truncate / os.replace / os.remove of labkit.files); at
    event number ``at`` writes half the bytes (or does not empty / swap / remove) and interrupts: Ctrl-C or
    SIGKILL. The training state a finished run drops is kept as final-<run>.pth next to the run folder."""

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

    def remove(self, path):
        folder, name = os.path.split(path)
        if name == "last.pth":  # the final weights, compared with the uninterrupted run's
            with open(path, "rb") as src, open(os.path.join(os.path.dirname(folder),
                                                            "final-" + os.path.basename(folder) + ".pth"), "wb") as dst:
                dst.write(src.read())
        if self._event("remove", path):
            self._interrupt()
        self._os.remove(path)

    def install(self, setattr):
        """Patch with ``setattr(obj, name, value)`` (pytest's monkeypatch.setattr, or the builtin)."""
        outer = self

        class Os:
            def __getattr__(self, name):
                return getattr(outer._os, name)

            replace, truncate, remove = (staticmethod(outer.replace), staticmethod(outer.truncate),
                                         staticmethod(outer.remove))

        setattr(files, "write_file", self.write_file)
        setattr(runs.folder, "write_file", self.write_file)
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
    labkit.fit("simplecnn", data, run_dir=run_dir, run_name="r", resume=sys.argv[4:] == ["resume"], **{run!r})
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
    assert not os.path.exists(os.path.join(path, "last.pth"))  # a finished run drops its training state
    state = read_checkpoint(os.path.join(run_dir, "final-r.pth"))
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
        "write:tmp-last.pth", "replace:last.pth", "write:tmp-best_model.pth", "replace:best_model.pth",
        "write:tmp-history.json", "replace:history.json"]  # nothing emptied: every version of a file is whole
    epoch3 = events[starts[2]:starts[3]]  # not a new best: no best_model.pth
    assert not [e for e in epoch3 if "best_model" in e] and "replace:last.pth" in epoch3
    assert not [e for e in events if e.startswith("truncate:") and "lock" not in e]
    # the end: the last lines, then result.json, then the training state dropped
    assert [e for e in events[starts[3]:] if "lock" not in e] == [
        "write:log.txt:Finished Tra", "write:log.txt:Test Accurac", "write:tmp-result.json", "replace:result.json",
        "remove:last.pth"]


@pytest.mark.slow
def test_ctrl_c_at_every_write_then_resume_is_the_uninterrupted_run(reference, small, tmp_path):
    ref, events, starts = reference
    for at in range(len(events)):  # every write: the new run's first config.json to the final test's last
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
        _kill_resume_compare(script, subset_root, tmp_path, small, ref, events, at)


def _kill_resume_compare(script, subset_root, tmp_path, small, ref, events, at):
    """Kill a run at write ``at`` (a subprocess), resume it here, compare with the uninterrupted run."""
    run_dir = tmp_path / f"at{at}"
    p = subprocess.run([sys.executable, str(script), subset_root, str(run_dir), str(at)], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, f"write {at} ({events[at]}): {p.stderr[-2000:]}"
    _resume(small, run_dir)  # the dead process's lock is taken over at once on the same machine
    try:
        _same(_outcome(run_dir), ref)
    except AssertionError as e:
        raise AssertionError(f"killed at write {at} ({events[at]}): {e}") from None


@pytest.mark.slow  # a sweep of ~20 killed processes (46 s): the fast loop leaves it to CI like the other sweeps
def test_sigkill_at_the_first_and_last_writes_then_resume_is_the_uninterrupted_run(reference, small, tmp_path,
                                                                                    subset_root):
    """Issue 31 rows 8 and 9: killed while the new run's first config.json is written (nothing trained: it starts
    at epoch 1), at every write of epoch 1, and at every write after the last epoch, the last log line
    'Test Accuracy: ...' included (the cut line is not left: the run is finished again, its log whole)."""
    ref, events, starts = reference
    (tmp_path / "harness.py").write_text(HARNESS)
    script = tmp_path / "killed.py"
    script.write_text(KILLED.format(repo=REPO, harness=str(tmp_path / "harness.py"), run=RUN))
    for at in list(range(0, starts[1])) + list(range(starts[3], len(events))):
        if events[at].endswith(".lock"):
            continue  # the lock's own removal (after everything) is covered by the Ctrl-C sweep
        _kill_resume_compare(script, subset_root, tmp_path, small, ref, events, at)
        log = (tmp_path / f"at{at}" / "r" / "log.txt").read_text()
        assert log.endswith(f"Test Accuracy: {ref['test_acc']:.2f}%\n") and log.count("Test Accuracy") == 1


@pytest.mark.slow
def test_a_second_sigkill_at_every_write_of_the_resume_then_resume_is_the_uninterrupted_run(reference, small, tmp_path,
                                                                                           subset_root):
    """Issue 31's Done-when: a run killed in epoch 2, then its resume killed at each of the resume's own writes in
    turn, its first (the dead lock's takeover) and its last (its own lock's release) included: a third process
    resumes to exactly the uninterrupted run."""
    ref, events, starts = reference
    (tmp_path / "harness.py").write_text(HARNESS)
    script = tmp_path / "killed.py"
    script.write_text(KILLED.format(repo=REPO, harness=str(tmp_path / "harness.py"), run=RUN))
    first, at = tmp_path / "first", starts[1] + 1  # epoch 2's first line written, its weights not yet
    p = subprocess.run([sys.executable, str(script), subset_root, str(first), str(at)], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, f"write {at} ({events[at]}): {p.stderr[-2000:]}"
    counted = shutil.copytree(first, tmp_path / "counted")  # the resume's writes, counted without a fault
    mp = pytest.MonkeyPatch()
    faults = Faults().install(mp.setattr)
    try:
        labkit.fit("simplecnn", small, run_dir=counted, run_name="r", resume=True, **RUN)
    finally:
        mp.undo()
    _same(_outcome(counted), ref)
    # from the dead lock's removal (its takeover) and config.json to the dropped last.pth and its own lock's release
    resumed = faults.events
    assert resumed[0] == "remove:.lock" and "write:tmp-config.json" in resumed[:4], resumed
    assert resumed[-2:] == ["remove:last.pth", "remove:.lock"], resumed
    for second in range(len(resumed)):
        run_dir = shutil.copytree(first, tmp_path / f"second{second}")
        p = subprocess.run([sys.executable, str(script), subset_root, str(run_dir), str(second), "resume"],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == -signal.SIGKILL, f"resume's write {second} ({resumed[second]}): {p.stderr[-2000:]}"
        _resume(small, run_dir)
        try:
            _same(_outcome(run_dir), ref)
        except AssertionError as e:
            raise AssertionError(f"killed at write {at} ({events[at]}), then the resume at its write {second} "
                                 f"({resumed[second]}): {e}") from None
        shutil.rmtree(run_dir)


def test_a_run_killed_during_its_first_config_write_starts_at_epoch_1(small, tmp_path):
    """Issue 31 row 8 for one run, as a SIGKILL at the sweep's write 0 leaves it (without the sweep's harness): the
    folder holds a cut temporary config.json and a dead process's lock; resume=True starts the run at epoch 1
    (nothing was trained), where it was refused for a missing config.json with start_over as the fix."""
    run = tmp_path / "r"
    run.mkdir()
    (run / ".config.json.k1ll3d.tmp").write_text('{"model": "simp')
    (run / ".lock").write_text(json.dumps({"pid": 999999999, "host": __import__("socket").gethostname(),
                                           "since": "earlier", "token": "dead"}))
    res = labkit.fit("simplecnn", small, run_dir=tmp_path, run_name="r", resume=True, **{**RUN, "epochs": 1})
    assert [h["epoch"] for h in res.history] == [1] and (run / "result.json").is_file()
    assert not [f for f in os.listdir(run) if f.endswith(".tmp") or f == ".lock" or f.startswith("earlier-")]


def test_a_study_killed_during_a_runs_first_config_write_continues(subset_root, tmp_path):
    """Issue 31 row 8, in a study: the folder holds only a cut temporary config.json and a dead process's lock."""
    from labkit.experiments import Variant, run_experiments

    run = tmp_path / "exp" / "base"
    run.mkdir(parents=True)
    (run / ".config.json.k1ll3d.tmp").write_text('{"model": "simp')
    (run / ".lock").write_text(json.dumps({"pid": 999999999, "host": __import__("socket").gethostname(),
                                           "since": "earlier", "token": "dead"}))
    kw = dict(experiment="exp", run_dir=tmp_path, data_root=subset_root, limit=160, test_limit=64,
              model="simplecnn", epochs=1, device="cpu", progress=False, verbose=False)
    exp = run_experiments([Variant("base")], resume=True, **kw)
    assert [h["epoch"] for h in exp.runs["base"].history] == [1] and (run / "result.json").is_file()
    left = set(os.listdir(run))
    assert {"best_model.pth", "config.json", "history.json", "log.txt", "result.json"} <= left
    assert not [f for f in left if f.endswith(".tmp") or f in (".lock", "last.pth") or f.startswith("earlier-")]


def test_a_cut_last_log_line_of_a_finished_run_is_rewritten_on_reload(small, tmp_path, capsys):
    """Issue 31 row 9, as Drive leaves it too: result.json arrived, log.txt is an older or cut version."""
    labkit.fit("simplecnn", small, run_dir=tmp_path, run_name="r", **RUN)
    log = tmp_path / "r" / "log.txt"
    whole = log.read_text()
    log.write_text(whole[:whole.rindex("Test Accuracy") + len("Test Accura")])
    again = labkit.fit("simplecnn", small, run_dir=tmp_path, run_name="r", resume=True, **{**RUN, "verbose": True})
    assert log.read_text() == whole and whole.endswith(f"Test Accuracy: {again.test_acc:.2f}%\n")
    assert capsys.readouterr().out.rstrip().endswith(f"Test Accuracy: {again.test_acc:.2f}%")


# ---- real disks: full, read-only (a tmpfs in a private mount namespace, as root) ----------------------------
IN_TMPFS = textwrap.dedent('''
    import json, os, subprocess, sys
    sys.path.insert(0, {repo!r})
    import labkit
    import labkit.train
    from labkit.errors import LabkitError
    root, mnt, case = sys.argv[1], sys.argv[2], sys.argv[3]
    data = labkit.load_cifar10(root, device="cpu", limit=160, test_limit=64, verbose=False)
    kw = dict(epochs=3, batch_size=32, lr=0.02, seed=5, progress=False, verbose=False)
    out = {{}}

    def attempt(**more):
        try:
            return labkit.fit("simplecnn", data, run_dir=mnt, **{{**kw, **more}})
        except (LabkitError, OSError) as e:  # which one, by name: a raw OSError is what row 10/11 found
            out.setdefault("errors", []).append(type(e).__name__ + ": " + str(e))

    def mount(opts):
        subprocess.run(["mount", "-o", opts, "-t", "tmpfs", "tmpfs", mnt], check=True)

    if case == "full":
        mount("size=1m")
        attempt(run_name="r")
        out["left"] = sorted(os.listdir(os.path.join(mnt, "r")))
        subprocess.run(["mount", "-o", "remount,size=16m", mnt], check=True)  # space freed
        res = attempt(run_name="r", resume=True)
        out["history"] = [h["epoch"] for h in res.history]
        out["val"] = [h["val_loss"] for h in res.history]
    else:
        mount("size=16m")
        done = attempt(run_name="done")
        real_epoch = labkit.train.run_epoch

        def stop_in_epoch_2(parts, loaders, epoch, *a, **k):
            if epoch == 2:
                raise KeyboardInterrupt("disconnected")
            return real_epoch(parts, loaders, epoch, *a, **k)

        labkit.train.run_epoch = stop_in_epoch_2
        try:
            attempt(run_name="half")
        except KeyboardInterrupt:
            pass
        labkit.train.run_epoch = real_epoch
        subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
        again = attempt(run_name="done", resume=True)
        out["reloaded"] = again is not None and again.test_acc == done.test_acc and again.history == done.history
        attempt(run_name="half", resume=True)            # refused: not finished, needs writes
        attempt(run_name="new")                          # refused: a new run
    print("OUT" + json.dumps(out))
''')


def _in_tmpfs(tmp_path, subset_root, case):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private tmpfs")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here: {probe.stderr.decode()[:200]}")
    script, mnt = tmp_path / "in_tmpfs.py", tmp_path / "mnt"
    script.write_text(IN_TMPFS.format(repo=REPO))
    mnt.mkdir()
    p = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, str(script), subset_root,
                        str(mnt), case], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.split("OUT", 1)[1])


def test_a_full_disk_is_named_then_the_run_resumes(tmp_path, subset_root, small):
    """Issue 31 row 10: a real 1 MB tmpfs fills up during a checkpoint write."""
    out = _in_tmpfs(tmp_path, subset_root, "full")
    assert len(out["errors"]) == 1, out
    assert re.match(r"StorageError: no space left for .*r/(last|best_model)\.pth \(writing .*\[Errno 28\] No "
                    r"space left on device\): this write needs [\d.]+ [kM]B .*then run again with resume=True: "
                    r"the run continues",
                    out["errors"][0]), out["errors"][0]
    assert not [f for f in out["left"] if f.endswith(".tmp")]
    ref = labkit.fit("simplecnn", small, run_dir=tmp_path, run_name="ref", epochs=3, batch_size=32, lr=0.02, seed=5,
                     progress=False, verbose=False)
    assert out["history"] == [1, 2, 3] and out["val"] == [h["val_loss"] for h in ref.history]


def test_a_read_only_disk_reloads_a_finished_run_and_refuses_the_rest_clearly(tmp_path, subset_root):
    """Issue 31 row 11: a TA's read-only copy of the runs."""
    out = _in_tmpfs(tmp_path, subset_root, "ro")
    assert out["reloaded"] is True, out
    half, new = out["errors"]
    assert re.match(r"StorageError: run folder .*half' is read-only .*this one is interrupted and continuing it "
                    r"writes its files\. Copy the run folder somewhere writable", half), half
    assert re.match(r"StorageError: .*is on a read-only file system .*Errno 30.*point run_dir at a writable folder",
                    new), new
