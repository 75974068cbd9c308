"""A run survives what students and TAs do to it (issue 23): two tabs on one run, resume without a name, run
files edited, replaced or of the wrong shape, the data moved, settings that would be silently inert.
Each refused call leaves the run folder byte for byte as it was."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

import labkit
from labkit.files import atomic_torch_save, read_checkpoint
from labkit.runs import LOCK, RunLock, new_run_dir

KW = dict(epochs=2, batch_size=32, progress=False, verbose=False)


@pytest.fixture(scope="module")
def tiny(subset_root):
    return labkit.load_cifar10(subset_root, limit=160, test_limit=64, device="cpu", verbose=False)


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class StopAt:
    """``data`` whose training loader raises KeyboardInterrupt when epoch ``stop`` starts."""

    def __init__(self, data, stop):
        self.data, self.stop, self.classes = data, stop, data.classes

    def describe(self):
        return self.data.describe()

    def loader(self, split, *a, **k):
        ld = self.data.loader(split, *a, **k)
        if split == "train":
            stop, real = self.stop, ld.set_epoch

            def set_epoch(e):
                if e == stop:
                    raise KeyboardInterrupt("disconnected")
                real(e)

            ld.set_epoch = set_epoch
        return ld


def interrupted(data, run_dir, name="r", epochs=3):
    with pytest.raises(KeyboardInterrupt):
        labkit.fit("simplecnn", StopAt(data, epochs), run_dir=run_dir, run_name=name, **{**KW, "epochs": epochs})
    return run_dir / name


# ---- two processes on one run --------------------------------------------------------------------------
HOLDER = """
import sys
sys.path.insert(0, {repo!r})
from labkit.runs import RunLock
lock = RunLock({folder!r}).acquire()
print("held", flush=True)
sys.stdin.readline()  # holds the lock until the test answers
lock.release()
"""


def test_a_second_process_meets_the_lock_then_a_dead_holder_is_taken_over(tiny, tmp_path):
    run = interrupted(tiny, tmp_path)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER.format(repo=repo, folder=str(run))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run)
        with pytest.raises(labkit.RunBusyError, match=r"is being trained by another process \(pid \d+ on .*two "
                                                      r"sessions would write the same files.*another run_name"):
            labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3})
        assert snapshot(run) == before  # the other process's lock and every file untouched
        holder.kill()  # the holder dies without releasing (a killed kernel)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
    res = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3})
    assert [h["epoch"] for h in res.history] == [1, 2, 3] and not (run / LOCK).exists()


def test_a_lock_from_another_machine_is_honoured_until_it_goes_quiet(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / LOCK).write_text(json.dumps({"pid": 1, "host": "colab-vm-other", "since": "earlier", "token": "x"}))
    with pytest.raises(labkit.RunBusyError, match=r"pid 1 on colab-vm-other"):
        RunLock(str(folder)).acquire()
    old = time.time() - RunLock.STALE - 5  # its holder stopped renewing it: the VM is gone
    os.utime(folder / LOCK, (old, old))
    lock = RunLock(str(folder)).acquire()
    assert json.loads((folder / LOCK).read_text())["host"] == socket.gethostname()
    lock.release()
    assert not (folder / LOCK).exists()


def test_a_lock_dated_in_the_future_counts_as_now(tmp_path):
    """Issue 31 row 12: a dead holder whose machine's clock ran 1 h ahead was honoured for 1 h + 2 min."""
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / LOCK).write_text(json.dumps({"pid": 1, "host": "colab-vm-ahead", "since": "later", "token": "x"}))
    ahead = time.time() + 3600
    os.utime(folder / LOCK, (ahead, ahead))
    with pytest.raises(labkit.RunBusyError, match=r"pid 1 on colab-vm-ahead.*last sign of life 0 s ago"):
        RunLock(str(folder)).acquire()
    assert os.path.getmtime(folder / LOCK) <= time.time()  # from now on it ages by this machine's clock
    quiet = time.time() - RunLock.STALE - 5  # then 2 min without a sign of life: the holder is gone
    os.utime(folder / LOCK, (quiet, quiet))
    RunLock(str(folder)).acquire().release()


def test_a_lock_dated_in_the_future_is_taken_over_2_min_after_it_was_seen(tmp_path, monkeypatch):
    """Row 12 by the clock: a dead holder's lock dated 1 h ahead is busy when seen, and free 2 min later by this
    machine's clock (it was busy until the future time + 2 min)."""
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / LOCK).write_text(json.dumps({"pid": 1, "host": "colab-vm-ahead", "since": "later", "token": "x"}))
    ahead = time.time() + 3600
    os.utime(folder / LOCK, (ahead, ahead))
    with pytest.raises(labkit.RunBusyError):
        RunLock(str(folder)).acquire()
    now = time.time
    monkeypatch.setattr(time, "time", lambda: now() + RunLock.STALE + 5)  # 2 min without a sign of life
    RunLock(str(folder)).acquire().release()
    assert not (folder / LOCK).exists()


def test_an_interrupted_takeover_of_a_dead_lock_leaves_no_lock_that_reads_busy(tmp_path, monkeypatch):
    """Found by the second-kill sweep (issue 31): a resume killed while taking over a dead process's lock (emptied,
    not yet removed) left an empty .lock that read as busy for 5 s, refusing the next resume."""
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / LOCK).write_text(json.dumps({"pid": 999999999, "host": socket.gethostname(), "since": "earlier",
                                           "token": "dead"}))
    real = os.remove

    def killed_at_the_lock(path, *a, **k):
        if str(path).endswith(LOCK):
            raise KeyboardInterrupt("interrupted while taking the lock over")
        return real(path, *a, **k)

    monkeypatch.setattr(os, "remove", killed_at_the_lock)
    with pytest.raises(KeyboardInterrupt):
        RunLock(str(folder)).acquire()
    monkeypatch.setattr(os, "remove", real)
    RunLock(str(folder)).acquire().release()  # at once: the dead lock is still whole, no empty one reads busy
    assert not (folder / LOCK).exists()


def test_a_lock_that_is_a_folder_is_refused_with_its_fix(tiny, tmp_path):
    """Issue 31 row 12: a '.lock' folder read as 'being trained by another process (pid ? on ?)'."""
    run = interrupted(tiny, tmp_path)
    (run / LOCK).mkdir()
    before = snapshot(run)
    with pytest.raises(labkit.CheckpointError, match=r"\.lock' is a folder, but labkit keeps the run's lock file "
                                                      r"\.lock there: move that folder out of the run folder"):
        labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3})
    assert snapshot(run) == before and (run / LOCK).is_dir()


def test_two_new_runs_with_one_run_name_never_share_the_folder(tmp_path):
    new_run_dir(str(tmp_path), "task1", exact=True)
    with pytest.raises(labkit.RunExistsError, match=r"was just made by another process.*never shares"):
        new_run_dir(str(tmp_path), "task1", exact=True)  # the second of two started at the same moment
    assert new_run_dir(str(tmp_path), "simplecnn-20261202") != new_run_dir(str(tmp_path), "simplecnn-20261202")


# ---- which run resume=True continues -------------------------------------------------------------------
def test_resume_without_a_name_continues_the_interrupted_run(tiny, tmp_path, capsys):
    labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="old", **{**KW, "epochs": 3})
    run = interrupted(tiny, tmp_path, "new")
    (tmp_path / "old" / "curves.png").write_bytes(b"a figure saved again into the old, finished run")
    (run / "config.json").write_text("{truncat")  # and the interrupted run's config.json damaged
    res = labkit.fit("simplecnn", tiny, run_dir=tmp_path, resume=True, **{**KW, "epochs": 3, "verbose": True})
    out = capsys.readouterr().out
    assert res.run_dir == str(run) and [h["epoch"] for h in res.history] == [1, 2, 3]
    assert "continuing new (interrupted" in out and "also there: old (finished)" in out
    assert labkit.load_run(str(tmp_path / "old"), model=False).status == "finished"


# ---- the training state is the record of what ran -------------------------------------------------------
def test_config_json_edited_by_hand_is_not_trusted(tiny, tmp_path):
    run = interrupted(tiny, tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "lr": 0.5}))
    before = snapshot(run)
    with pytest.raises(labkit.ConfigError, match=r"cannot resume .* lr was 0\.01, now 0\.5"):
        labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3, "lr": 0.5})
    assert snapshot(run) == before
    res = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3})
    assert json.loads((run / "config.json").read_text())["lr"] == 0.01 == res.config["lr"]
    assert "config.json said lr was 0.5, now 0.01 but last.pth records what ran" in (run / "log.txt").read_text()


def test_a_start_killed_before_its_first_epoch_leaves_no_false_note(tiny, tmp_path):
    """A resume killed before it finished an epoch leaves its config.json (a newer labkit version, its start
    time) beside last.pth's record; the next resume rewrote it, saying "config.json was missing or unreadable"
    (seen on the depth lab's ResNet-110 run, 2026-12-05). Only a setting that differs is news."""
    run = interrupted(tiny, tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "labkit": "0.0.0+gkilled", "started": 1.0}))
    res = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3})
    assert [h["epoch"] for h in res.history] == [1, 2, 3]
    assert "config.json" not in (run / "log.txt").read_text()
    assert json.loads((run / "config.json").read_text())["labkit"] != "0.0.0+gkilled"


def test_a_finished_run_cannot_be_extended_by_editing_its_epochs(tiny, tmp_path):
    labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", scheduler="onecycle", **KW)
    run = tmp_path / "r"
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "epochs": 5}))
    before = snapshot(run)
    with pytest.raises(labkit.ConfigError, match=r"cannot resume .* epochs was 2, now 5"):
        labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, scheduler="onecycle",
                   **{**KW, "epochs": 5})
    assert snapshot(run) == before


def test_test_flip_changed_on_a_finished_run_measures_again(tiny, tmp_path):
    first = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", test_flip=True, **KW)
    again = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, test_flip=False, **KW)
    result = json.loads((tmp_path / "r" / "result.json").read_text())
    assert result["test_flip"] is False and again.history == first.history
    assert "test_flip was True, now False: the test set is measured again" in (tmp_path / "r" / "log.txt").read_text()


def test_the_same_data_elsewhere_is_the_same_data(subset_root, tmp_path):
    copy = tmp_path / "moved" / "cifar10"
    shutil.copytree(subset_root, copy)
    a = labkit.load_cifar10(subset_root, limit=160, test_limit=64, device="cpu", verbose=False)
    b = labkit.load_cifar10(str(copy / ".." / "cifar10"), limit=160, test_limit=64, device="cpu", verbose=False)
    assert a.describe()["source"] != b.describe()["source"] and a.describe()["digest"] == b.describe()["digest"]
    run = interrupted(a, tmp_path)
    res = labkit.fit("simplecnn", b, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3})
    assert [h["epoch"] for h in res.history] == [1, 2, 3] and res.run_dir == str(run)
    other = labkit.load_cifar10(subset_root, limit=160, test_limit=64, seed=1, device="cpu", verbose=False)
    # other images: refused, naming what differs in words (the digest only where nothing else does)
    with pytest.raises(labkit.ConfigError, match=r"data seed was 0, now 1") as refused:
        labkit.fit("simplecnn", other, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3, "seed": 0})
    assert "digest" not in str(refused.value)


# ---- files of the wrong shape -----------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["{}", "[]", '{"test_acc": "high"}'])
def test_a_result_that_is_no_result_is_measured_again(tiny, tmp_path, content):
    first = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", **KW)
    (tmp_path / "r" / "result.json").write_text(content)
    assert labkit.load_run(str(tmp_path / "r"), model=False).status == "interrupted"
    again = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **KW)
    assert again.test_acc == first.test_acc and again.history == first.history


def test_history_and_config_of_the_wrong_shape_are_rewritten(tiny, tmp_path):
    first = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", **KW)
    run = tmp_path / "r"
    (run / "history.json").write_text(json.dumps([{"epoch": 1}, {"epoch": 2}]))  # entries without val_acc
    assert labkit.load_run(str(run), model=False).history == first.history  # read from last.pth instead
    (run / "config.json").write_text("[]")
    with pytest.raises(labkit.CheckpointError, match=r"hold a JSON list, not the run's settings"):
        labkit.load_run(str(run))
    again = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **KW)
    assert again.history == first.history and json.loads((run / "config.json").read_text())["model"] == "simplecnn"


@pytest.mark.parametrize("name", ["history.json", "result.json", "log.txt", "last.pth"])
def test_a_run_file_replaced_by_a_folder_is_refused_before_training(tiny, tmp_path, name):
    run = interrupted(tiny, tmp_path)
    target = run / name
    if target.exists():
        target.unlink()
    target.mkdir()
    before = snapshot(run)
    with pytest.raises(labkit.CheckpointError, match=rf"{name}' is a folder.*move that folder out.*Nothing was changed"):
        labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3})
    assert snapshot(run) == before and target.is_dir()


def test_temporary_files_a_kill_left_are_removed(tiny, tmp_path):
    run = interrupted(tiny, tmp_path)
    (run / ".last.pth.abc123.tmp").write_bytes(b"half of a training state")
    (run / ".history.json.def456.tmp").write_bytes(b"[{\"epo")
    res = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3})
    assert [h["epoch"] for h in res.history] == [1, 2, 3]
    assert not [p for p in os.listdir(run) if p.endswith(".tmp")]


def test_a_complete_copy_left_mid_swap_is_the_commit(tiny, tmp_path):
    """Killed between emptying last.pth and moving its new copy into place: the copy is whole."""
    run = interrupted(tiny, tmp_path)
    state = read_checkpoint(run / "last.pth")
    atomic_torch_save(state, run / ".last.pth.killed.tmp")
    (run / "last.pth").write_bytes(b"")
    res = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3})
    assert [h["epoch"] for h in res.history] == [1, 2, 3] and "Resuming" in (run / "log.txt").read_text()


def test_a_best_checkpoint_left_only_as_a_temporary_copy_is_put_in_place(tiny, tmp_path):
    """Killed between writing best_model.pth's new copy and moving it into place, or Drive uploaded that copy
    but not the rename: the copy is the best checkpoint (found by the Drive emulator)."""
    run = interrupted(tiny, tmp_path)
    best = (run / "best_model.pth").read_bytes()
    (run / ".best_model.pth.killed.tmp").write_bytes(best)
    (run / "best_model.pth").unlink()
    res = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3})
    assert [h["epoch"] for h in res.history] == [1, 2, 3] and (run / "best_model.pth").is_file()
    assert not [p for p in os.listdir(run) if p.endswith(".tmp")]


# ---- names and settings that would be silently wrong --------------------------------------------------------
def test_a_tilde_in_run_dir_and_data_root_is_the_home_folder(tiny, subset_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copytree(subset_root, tmp_path / "cifar")
    data = labkit.load_cifar10("~/cifar", limit=160, test_limit=64, device="cpu", download=False, verbose=False)
    res = labkit.fit("simplecnn", data, run_dir="~/labkit_runs", run_name="r", **{**KW, "epochs": 1})
    assert res.run_dir == str(tmp_path / "labkit_runs" / "r") and not os.path.exists("~")


@pytest.mark.parametrize("kwargs,message", [
    (dict(batch_size=1000), r"batch_size=1000 is larger than the 144 training images: every epoch would be one "
                            r"step\. Use batch_size <= 144"),
    (dict(scheduler="cosine", milestones=[1]), r"milestones=\[1\] are for scheduler='multistep', but the scheduler "
                                               r"is 'cosine'"),
    (dict(scheduler="multistep", milestones=[81, 122]), r"milestones \[81, 122\] lie beyond the last epoch "
                                                        r"\(epochs=2\)"),
    (dict(scheduler="onecycle", step_size=1), r"step_size=1 is for scheduler='step'"),
    (dict(scheduler="step", step_size=9), r"step_size=9 is longer than the run \(epochs=2\)"),
])
def test_settings_that_would_change_nothing_are_refused(tiny, tmp_path, kwargs, message):
    with pytest.raises(labkit.ConfigError, match=message):
        labkit.fit("simplecnn", tiny, run_dir=tmp_path, **{**KW, **kwargs})
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", [" task1", "task1 ", ".hidden", "x" * 201])
def test_run_names_that_cannot_be_a_folder(tiny, tmp_path, name):
    with pytest.raises(labkit.ConfigError, match=r"cannot be a run folder's name"):
        labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name=name, **KW)
    assert not any(tmp_path.iterdir())


def test_unicode_and_spaces_in_run_names_and_folders(tiny, tmp_path):
    res = labkit.fit("simplecnn", tiny, run_dir=tmp_path / "我的 runs", run_name="任務 1", **{**KW, "epochs": 1})
    assert os.path.isfile(os.path.join(res.run_dir, "result.json"))
    again = labkit.fit("simplecnn", tiny, run_dir=tmp_path / "我的 runs", run_name="任務 1", resume=True,
                       **{**KW, "epochs": 1})
    assert again.test_acc == res.test_acc


def test_data_differences_named_in_words_and_the_digest_where_nothing_else_differs():
    from labkit.runs import settings_diff
    was = {"data": {"train": 180, "val": 20, "mean": [0.5], "digest": "aaaa", "source": "/a"}}
    assert settings_diff(was, data={"train": 270, "val": 20, "mean": [0.5], "digest": "bbbb", "source": "/b"}) == [
        ("data train", 180, 270)]
    assert settings_diff(was, data={"train": 180, "val": 20, "mean": [0.5], "digest": "bbbb", "source": "/a"}) == [
        ("data digest", "aaaa", "bbbb")]  # the same sizes and statistics, other images
    assert settings_diff(was, data={"train": 180, "val": 20, "mean": [0.5], "digest": "aaaa", "source": "/b"}) == []
    legacy = {"data": {"train": 180, "val": 20, "mean": [0.5], "source": "/a"}}  # recorded before digests
    assert settings_diff(legacy, data={"train": 180, "val": 20, "mean": [0.5], "digest": "bbbb", "source": "/b"}) == []


def test_each_epoch_records_where_it_ran_and_a_resume_elsewhere_says_so(tiny, tmp_path, monkeypatch):
    """A Colab run resumed after a disconnect may go on on another GPU (or a CPU): each epoch names its machine
    and precision, so a time or a figure is never credited to the wrong one."""
    from labkit import device
    from labkit.results import trained_on
    run = interrupted(tiny, tmp_path, "r", epochs=3)  # epochs 1-2 here
    here = device.choose_placement().machine  # e.g. 'Intel(R) Xeon(R) Processor, 2 cores (AVX512; ...), bf16'
    precision = here.rsplit(", ", 1)[1]
    assert "cores" in here and precision in ("bf16", "fp32")
    monkeypatch.setattr(device, "machine_label", lambda dev: "Tesla T4")
    res = labkit.fit("simplecnn", tiny, run_dir=tmp_path, run_name="r", resume=True, **{**KW, "epochs": 3})
    there = f"Tesla T4, {precision}"
    assert [h["machine"] for h in res.history] == [here, here, there]
    assert trained_on(res.history) == f"{here} (epochs 1-2); {there} (epoch 3)"
    assert trained_on([{"epoch": 1}, {"epoch": 2, "machine": "A"}]) == "not recorded (epoch 1); A (epoch 2)"
