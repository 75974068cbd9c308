"""Runs on Google Drive (issue 34): whatever a disconnect left in the cloud (each file at any version it had
reached, or none: tests/drive_emulator.py), ``resume=True`` continues from the newest whole training state
there and ends exactly where the uninterrupted run ends (CPU: the same history, best epoch and weights, final
weights, test accuracy); a dropped mount (ENOTCONN, EIO) and a full disk (ENOSPC) mid-write stop with the
fix, after which the resume is exact too."""
import errno
import os
import shutil

import pytest
import torch

import labkit
from labkit import files, runs, train
from labkit.errors import StorageError
from labkit.files import read_checkpoint

from drive_emulator import DriveRecorder, disconnect_states, write_view

KW = dict(epochs=4, batch_size=32, lr=0.02, seed=3, progress=False, verbose=False)
# scripted validation accuracy: new bests and epochs that are not (then last.pth must hold the best's weights)
VALS = {"none": {1: 40.0, 2: 60.0, 3: 50.0, 4: 55.0}, "multistep": {1: 40.0, 2: 30.0, 3: 50.0, 4: 45.0},
        "step": {1: 40.0, 2: 60.0, 3: 50.0, 4: 70.0}, "onecycle": {1: 50.0, 2: 40.0, 3: 45.0, 4: 48.0},
        "cosine": {1: 40.0, 2: 50.0, 3: 60.0, 4: 30.0}}
SCHEDULES = {"none": {}, "multistep": dict(milestones=[2, 3]), "step": dict(step_size=2), "onecycle": {},
             "cosine": {}}
STATES = 13  # per scheduler: 65 disconnect states in all
SEEDS = {name: k for k, name in enumerate(SCHEDULES)}


@pytest.fixture(scope="module")
def tiny(subset_root):
    return labkit.load_cifar10(subset_root, device="cpu", limit=100, test_limit=32, verbose=False)


def scripted(mp, vals, finals):
    """Patch fit's epoch to report ``vals`` as validation accuracy, and keep the final training state that a
    finished run drops (its weights are compared) in ``finals``."""
    real_epoch, real_drop = train.run_epoch, runs.folder.drop

    def run_epoch(*a, **k):
        rec = real_epoch(*a, **k)
        rec["val_acc"] = vals[rec["epoch"]]
        return rec

    def drop(path):
        if os.path.basename(path) == runs.STATE and os.path.isfile(path):
            state = read_checkpoint(path)
            if state["epoch"] == KW["epochs"]:  # (a finished run's reload drops an older one Drive left too)
                finals.append(state["model"])
        real_drop(path)

    mp.setattr(train, "run_epoch", run_epoch)
    mp.setattr(runs.folder, "drop", drop)
    mp.setattr(runs.recovery, "drop", drop)


def fit(data, run_dir, scheduler, finals, resume=False, extra=None):
    mp = pytest.MonkeyPatch()
    scripted(mp, VALS[scheduler], finals)
    if extra:
        extra(mp)
    try:
        return labkit.fit("simplecnn", data, run_dir=run_dir, run_name="r", resume=resume, scheduler=scheduler,
                          **{**KW, **SCHEDULES[scheduler]})
    finally:
        mp.undo()


def outcome(run, finals):
    path = run.run_dir
    best = read_checkpoint(os.path.join(path, "best_model.pth"))
    keys = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc")
    return {"history": [{k: h[k] for k in keys} for h in run.history], "best_epoch": best["epoch"],
            "best": best["state_dict"], "test_acc": run.test_acc, "final": finals[-1] if finals else None,
            "status": runs.run_status(path), "state_left": os.path.exists(os.path.join(path, runs.STATE)),
            "temps": [f for f in os.listdir(path) if f.endswith(".tmp") or f == runs.LOCK]}


def assert_same(got, ref, where):
    assert got["history"] == ref["history"], where
    assert got["best_epoch"] == ref["best_epoch"] and got["test_acc"] == ref["test_acc"], where
    assert all(torch.equal(v, ref["best"][k]) for k, v in got["best"].items()), where
    if got["final"] is not None:  # the resume trained the last epoch again: its weights too
        assert all(torch.equal(v, ref["final"][k]) for k, v in got["final"].items()), where
    assert got["status"] == "finished" and not got["state_left"] and not got["temps"], where


def epochs_in(folder):
    """The epochs a folder's files let a run keep: all of them when the run finished training, else its
    newest whole state's."""
    done = runs.finished_record(folder, epochs=KW["epochs"])
    return KW["epochs"] if done is not None else runs.epochs_done(folder)


class Recorded(dict):
    """Per scheduler (recorded when first asked for): the uninterrupted run's outcome and every version of
    every file it wrote."""

    def __init__(self, data, factory):
        super().__init__()
        self.data, self.factory = data, factory

    def __missing__(self, scheduler):
        run_dir, finals = self.factory.mktemp(f"ref-{scheduler}"), []
        recorder = DriveRecorder(run_dir / "r")
        run = fit(self.data, run_dir, scheduler, finals, extra=lambda mp: recorder.install(mp.setattr))
        self[scheduler] = (outcome(run, finals), recorder)
        return self[scheduler]


@pytest.fixture(scope="module")
def recorded(tiny, tmp_path_factory):
    return Recorded(tiny, tmp_path_factory)


def test_no_checkpoint_is_ever_empty_or_cut(recorded):
    """Every version of last.pth and best_model.pth a run ever gave those names is whole: the cloud can hold
    an older one, never a broken one."""
    for scheduler in ("none", "onecycle"):
        ref, recorder = recorded[scheduler]
        for name in (runs.STATE, runs.BEST):
            versions = [c for _, c in recorder.versions[name] if c is not None]
            assert versions and all(len(c) > 1000 for c in versions), (scheduler, name)
        assert ref["final"] is not None and not ref["state_left"]  # a finished run drops its last.pth


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", list(SCHEDULES))
def test_any_disconnect_state_resumes_to_the_uninterrupted_run(recorded, tiny, tmp_path, scheduler, capsys):
    ref, recorder = recorded[scheduler]
    lost, kinds = [], set()
    for i, (moment, view) in enumerate(disconnect_states(recorder, STATES, seed=SEEDS[scheduler])):
        committed_dir, cloud_dir = tmp_path / f"c{i}" / "r", tmp_path / f"s{i}" / "r"
        write_view(recorder.committed(moment), committed_dir)
        write_view(view, cloud_dir)
        kinds.add(tuple(sorted(view)))
        lost.append(epochs_in(committed_dir) - epochs_in(cloud_dir))
        before = dict(view)
        finals = []
        try:
            run = fit(tiny, tmp_path / f"s{i}", scheduler, finals, resume=True)
            assert_same(outcome(run, finals), ref, f"state {i}")
        except Exception as e:
            raise AssertionError(f"{scheduler}, disconnect at write {moment} of {recorder.events}, cloud held "
                                 f"{ {k: len(v) for k, v in before.items()} }: {type(e).__name__}: {e}") from None
        aside = [p for p in os.listdir(cloud_dir) if p.startswith("earlier-")]
        for name in aside:  # what a folder without a whole state held is kept, byte for byte
            kept = {f: open(os.path.join(cloud_dir, name, f), "rb").read() for f in os.listdir(cloud_dir / name)}
            assert kept == before
    with capsys.disabled():
        print(f"\n{scheduler}: {STATES} disconnect states, all resumed exactly; epochs lost to the disconnect "
              f"(committed on the VM, not in the cloud): {sorted(lost)}")
    assert len(kinds) > 3  # the states differ in which files reached the cloud


# ---- the mount dropping, the disk filling up, mid-write ----------------------------------------------------
class FailingFsync:
    """``os.fsync`` of labkit's writes fails with ``code`` at the write of ``target`` number ``nth``."""

    def __init__(self, code, target, nth):
        self.code, self.target, self.nth, self.seen, self.real = code, target, nth, 0, files.os

    def install(self, mp):
        outer, paths = self, {}
        real_write = files.write_file

        def write_file(path, data, append=False):
            paths["now"] = path
            real_write(path, data, append)

        class Os:
            def __getattr__(self, name):
                return getattr(outer.real, name)

            @staticmethod
            def fsync(fd):
                if outer.target in os.path.basename(paths.get("now", "")):
                    outer.seen += 1
                    if outer.seen == outer.nth:
                        raise OSError(outer.code, os.strerror(outer.code))
                outer.real.fsync(fd)

        mp.setattr(files, "os", Os())
        mp.setattr(files, "write_file", write_file)
        mp.setattr(runs.folder, "write_file", write_file)


@pytest.mark.parametrize("code,target,nth", [(errno.ENOTCONN, "last.pth", 2), (errno.EIO, "log.txt", 5),
                                             (errno.ENOTCONN, "best_model.pth", 2), (errno.EIO, "history.json", 3),
                                             (errno.ENOTCONN, "config.json", 1)])
def test_drive_dropping_mid_write_stops_with_the_fix_then_resumes_exactly(recorded, tiny, tmp_path, code, target,
                                                                          nth):
    ref = recorded["none"][0]
    with pytest.raises(StorageError, match=r"^Google Drive dropped: run the setup cell again \(it remounts\), "
                                                  r"then Run all: the run continues \(writing .*Errno"):
        fit(tiny, tmp_path, "none", [], extra=FailingFsync(code, target, nth).install)
    finals = []
    assert_same(outcome(fit(tiny, tmp_path, "none", finals, resume=True), finals), ref, target)


def test_a_full_disk_names_the_write_and_the_space_then_resumes_exactly(recorded, tiny, tmp_path):
    ref = recorded["none"][0]
    with pytest.raises(StorageError, match=r"no space left for .*last\.pth.*\[Errno 28\].*this write needs "
                                                  r"[\d.]+ [kM]B.*then run again with resume=True: the run continues"):
        fit(tiny, tmp_path, "none", [], extra=FailingFsync(errno.ENOSPC, "last.pth", 3).install)
    assert not [f for f in os.listdir(tmp_path / "r") if f.endswith(".tmp")]  # the half copy was removed
    finals = []
    assert_same(outcome(fit(tiny, tmp_path, "none", finals, resume=True), finals), ref, "ENOSPC")


def test_a_run_with_no_whole_state_in_the_cloud_sets_aside_and_starts_at_epoch_1(recorded, tiny, tmp_path):
    """The case issue 34 measured most often: last.pth never uploaded (or emptied) while best_model.pth and
    history.json arrived. Nothing is deleted; the run is trained again from epoch 1, to the same end."""
    ref, recorder = recorded["none"]
    view = {name: content for name, content in recorder.committed(recorder.events).items()
            if name not in (runs.RESULT, runs.HISTORY)}  # result.json and history.json never uploaded either
    view[runs.STATE] = b""
    write_view(view, tmp_path / "r")
    finals = []
    assert_same(outcome(fit(tiny, tmp_path, "none", finals, resume=True), finals), ref, "no state")
    kept = tmp_path / "r" / "earlier-1"
    assert {f: (kept / f).read_bytes() for f in os.listdir(kept)} == view
    assert "held no whole training state" in (tmp_path / "r" / "log.txt").read_text()
    shutil.rmtree(tmp_path / "r")
