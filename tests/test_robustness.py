"""Runs survive kills, bad parameters and bad files; nothing already written is lost."""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

import labkit
import labkit.notebook
import labkit.report
from labkit.files import atomic_torch_save, atomic_write_json, read_checkpoint

NUMERIC = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc")


def numbers(history):
    return [{k: h[k] for k in NUMERIC} for h in history]


SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import labkit
    root, run_dir, mode = sys.argv[1:4]
    data = labkit.load_cifar10(root, device="cpu", limit=800, verbose=False)

    class KillingLoader:
        # the real loader, but the process SIGKILLs itself in the middle of epoch 3
        def __init__(self, inner): self.inner = inner
        def __len__(self): return len(self.inner)
        def set_epoch(self, e): self.inner.set_epoch(e)
        def __iter__(self):
            for i, batch in enumerate(self.inner):
                if self.inner.epoch == 3 and i == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
                yield batch

    class Data:
        classes = data.classes
        def describe(self): return data.describe()
        def loader(self, split, *a, **k):
            inner = data.loader(split, *a, **k)
            return KillingLoader(inner) if (split == "train" and mode == "kill") else inner

    labkit.fit("simplecnn", Data(), epochs=5, lr=0.02, scheduler="cosine", seed=3, run_dir=run_dir,
               run_name="r", resume=(mode == "resume"), progress=False)
""")


def _run(tmp_path, subset_root, run_dir, mode):
    script = tmp_path / "train_script.py"
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), subset_root, str(run_dir), mode], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path, subset_root):
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    p = _run(tmp_path, subset_root, killed_dir, "kill")
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert "Epoch: 3" in p.stdout and "Finished Training" not in p.stdout
    run = killed_dir / "r"
    state = read_checkpoint(run / "last.pth")
    assert state["epoch"] == 2
    assert [h["epoch"] for h in json.loads((run / "history.json").read_text())] == [1, 2]
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*.tmp"))

    p = _run(tmp_path, subset_root, killed_dir, "resume")
    assert p.returncode == 0, p.stderr
    assert "Resuming" in p.stdout and "Epoch: 1\n" not in p.stdout and "Epoch: 3\n" in p.stdout
    resumed = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in resumed] == [1, 2, 3, 4, 5]

    p = _run(tmp_path, subset_root, clean_dir, "clean")
    assert p.returncode == 0, p.stderr
    clean = json.loads((clean_dir / "r" / "history.json").read_text())
    for a, b in zip(numbers(resumed), numbers(clean)):
        assert a == pytest.approx(b, abs=1e-4)
    # the best checkpoint is still the best epoch's
    best = max(resumed, key=lambda h: h["val_acc"])
    assert read_checkpoint(run / "best_model.pth")["epoch"] == best["epoch"]
    result = json.loads((run / "result.json").read_text())
    assert result["test_acc"] == pytest.approx(json.loads((clean_dir / "r" / "result.json").read_text())["test_acc"])
    # resuming a finished run trains nothing and returns its result
    p = _run(tmp_path, subset_root, killed_dir, "resume")
    assert p.returncode == 0 and "already finished" in p.stdout and "Run folder:" not in p.stdout


def test_same_seed_identical_histories(subset_root, tmp_path):
    data = labkit.load_cifar10(subset_root, device="cpu", limit=600, verbose=False)
    kw = dict(epochs=2, lr=0.02, seed=11, run_dir=tmp_path, progress=False, verbose=False)
    a, b = labkit.fit("resnet20", data, **kw), labkit.fit("resnet20", data, **kw)
    assert a.run_dir != b.run_dir  # each run gets its own folder
    assert numbers(a.history) == numbers(b.history)
    c = labkit.fit("resnet20", data, **{**kw, "seed": 12})
    assert numbers(c.history) != numbers(a.history)


def test_interrupted_save_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "best_model.pth"
    atomic_torch_save({"w": torch.ones(3)}, path)
    atomic_write_json(tmp_path / "history.json", [{"epoch": 1}])

    def crash(src, dst):
        raise KeyboardInterrupt("power cut between write and rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({"w": torch.zeros(3)}, path)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(tmp_path / "history.json", [{"epoch": 1}, {"epoch": 2}])
    monkeypatch.undo()
    assert torch.equal(read_checkpoint(path)["w"], torch.ones(3))
    assert json.loads((tmp_path / "history.json").read_text()) == [{"epoch": 1}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_model.pth", "history.json"]  # no temp files left


def test_divergent_run_stops_with_message_and_keeps_best(subset_root, tmp_path, capsys):
    data = labkit.load_cifar10(subset_root, device="cpu", limit=600, verbose=False)
    with pytest.raises(labkit.NonFiniteLossError,
                       match=r"loss became (nan|inf) at epoch 2, step \d+, learning rate 10000.*best checkpoint "
                             r"so far \(epoch 1\) is kept.*lower lr") as e:
        labkit.fit("simplecnn", data, epochs=3, lr=1e4, seed=0, run_dir=tmp_path, run_name="div", progress=False)
    assert isinstance(e.value, FloatingPointError)
    assert read_checkpoint(tmp_path / "div" / "best_model.pth")["epoch"] == 1
    assert "Stopped: training loss became" in (tmp_path / "div" / "log.txt").read_text()


# ---- bad input: each fails before any training, with the fix in the message -----------------------
BAD_FIT = [
    (dict(model="resnet19"), r"unknown model 'resnet19'\. Did you mean 'resnet18'\? Valid models: .*simplecnn"),
    (dict(optimizer="sgdd"), r"unknown optimizer 'sgdd'.*Valid optimizers: adam, adamw, sgd"),
    (dict(scheduler="cosin"), r"unknown scheduler 'cosin'\. Did you mean 'cosine'"),
    (dict(lr=-1), r"lr must be > 0, got -1"),
    (dict(lr=0), r"lr must be > 0, got 0"),
    (dict(lr="fast"), r"lr must be a number, got the text 'fast' \(with papermill write e\.g\. -p lr 0\.01\)"),
    (dict(epochs=0), r"epochs must be >= 1, got 0"),
    (dict(epochs=2.5), r"epochs must be a whole number, got 2\.5"),
    (dict(epochs=True), r"epochs must be a number, got the boolean True"),
    (dict(batch_size=-8), r"batch_size must be >= 1, got -8"),
    (dict(weight_decay=-0.1), r"weight_decay must be >= 0, got -0\.1"),
    (dict(momentum=1.5), r"momentum must be < 1, got 1\.5"),
    (dict(lrr=0.1), r"unknown training parameter\(s\) \['lrr'\]\. Valid ones: model, epochs"),
    (dict(milestones=[30, 10]), r"milestones must be increasing"),
    (dict(amp="fp8"), r"unknown amp mode 'fp8'"),
    (dict(amp=["fp16"]), r"unknown amp mode \['fp16'\]"),  # papermill -y: was a raw TypeError (unhashable)
    (dict(augment="maybe"), r"augment must be True \(crop \+ flip\), 'flip' \(flip only\) or False, got 'maybe'"),
    (dict(nesterov=True, optimizer="adam"), r"nesterov=True needs optimizer='sgd'"),
    # issue 31 row 13: integers past 64 bits, exact or as text, refused before a torch call overflows
    (dict(seed=99999999999999999999), r"seed must be <= 9223372036854775807 \(the largest integer torch takes\)"),
    (dict(seed="99999999999999999999"), r"seed must be <= 9223372036854775807"),
    (dict(epochs=10**400), r"epochs must be <= 9223372036854775807"),
    (dict(lr=10**400), r"lr is too large to be a number of this setting: 1000.*\(401 digits\)"),
    (dict(eval_batch_size=2**63), r"eval_batch_size must be <= 9223372036854775807"),
    (dict(milestones=[1, 2**64]), r"milestones must be <= 9223372036854775807"),
]


@pytest.mark.parametrize("kwargs,message", BAD_FIT, ids=[next(iter(k)) + "=" + repr(next(iter(k.values())))
                                                         for k, _ in BAD_FIT])
def test_bad_training_parameters(kwargs, message, subset, tmp_path):
    kwargs = {"model": "simplecnn", **kwargs}
    with pytest.raises(labkit.ConfigError, match=message):
        labkit.fit(kwargs.pop("model"), subset, run_dir=tmp_path, progress=False, **kwargs)
    assert not any(tmp_path.iterdir())  # nothing trained, no run folder made


PARAMETER_CELL = dict(model="simplecnn", epochs=1, seed=0, run_dir="runs", run_name=None, data_root="./data",
                      teacher_model=None, teacher_epochs=30)
BAD_CELL = [  # issue 31 rows 13 and 14: the notebooks' parameter cell (labkit.parameters), before any download
    (dict(seed=99999999999999999999), r"seed must be <= 9223372036854775807"),
    (dict(teacher_epochs=2**70), r"teacher_epochs must be <= 9223372036854775807"),
    (dict(limit=10**30), r"limit must be a positive whole number \(at most 9223372036854775807\)"),
    (dict(run_dir=""), r"run_dir must be a folder path \(text\), got ''"),
    (dict(run_dir=2024), r"run_dir must be a folder path \(text\), got the number 2024 .*-p run_dir runs/2024"),
    (dict(run_dir=["runs"]), r"run_dir must be a folder path \(text\), got \['runs'\]"),
    (dict(run_dir="r" * 5000), r"run_dir 'rrrr.*\(5000 characters\)' cannot be a folder path"),
    (dict(run_name="n" * 10000), r"run_name 'nnn.*\(10000 characters\)' cannot be a run folder's name"),
    (dict(experiment="a/b"), r"experiment must be one folder name inside run_dir"),
    (dict(num_workers=-1), r"num_workers must be >= 0"),
    (dict(image_size=2**64), r"image_size must be <= 9223372036854775807"),
]


@pytest.mark.parametrize("values,message", BAD_CELL, ids=[repr(v)[:40] for v, _ in BAD_CELL])
def test_the_parameter_cell_refuses_values_a_run_would_fail_on(values, message):
    from labkit.parameters import Params

    with pytest.raises(labkit.ConfigError, match=message):
        Params({**PARAMETER_CELL, **values}).check()
    good = Params({**PARAMETER_CELL, "run_name": 2024, "seed": "7"}).check()
    assert good["run_name"] == "2024" and good["seed"] == 7


def test_run_dir_of_a_teacher_is_checked(subset):
    """Row 14: run_dir=5 with a teacher was a raw TypeError."""
    import labkit.presets

    with pytest.raises(labkit.ConfigError, match=r"run_dir must be a folder path \(text\), got the number 5"):
        labkit.presets.train_teacher(subset, teacher_model="resnet20", run_dir=5)  # the call task 1 made before
    with pytest.raises(labkit.ConfigError, match=r"run_dir must be a folder path \(text\), got the number 5"):
        labkit.presets.fit_with_teacher("simplecnn", subset, teacher_model="resnet20", run_dir=5)


def test_papermill_style_strings_are_accepted(subset, tmp_path):
    res = labkit.fit("simplecnn", labkit.load_cifar10(subset.info["source"], limit=200, device="cpu",
                                                     verbose=False),
                     epochs="1", lr="1e-2", batch_size="64.0", augment="false", run_dir=tmp_path,
                     progress=False, verbose=False)
    assert res.config["lr"] == 0.01 and res.config["batch_size"] == 64 and res.config["augment"] is False


def test_bad_data_parameters(subset_root):
    with pytest.raises(labkit.ConfigError, match=r"normalize must be one of \('off', 'fixed', 'computed'\)"):
        labkit.load_cifar10(subset_root, normalize="zscore")
    with pytest.raises(labkit.ConfigError, match=r"norm_ratio must be <= 1, got 1\.5"):
        labkit.load_cifar10(subset_root, norm_ratio=1.5, device="cpu", verbose=False)
    with pytest.raises(labkit.ConfigError, match=r"limit must be a positive whole number"):
        labkit.load_cifar10(subset_root, limit=-5, device="cpu")
    with pytest.raises(labkit.ConfigError, match=r"device 'cuda' asked for, but no CUDA GPU"):
        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
        labkit.load_cifar10(subset_root, device="cuda")


def test_corrupt_and_mismatched_checkpoints(subset, tmp_path):
    small = labkit.load_cifar10(subset.info["source"], limit=200, device="cpu", verbose=False)
    res = labkit.fit("resnet20", small, epochs=1, run_dir=tmp_path, run_name="r20", progress=False, verbose=False)
    best = os.path.join(res.run_dir, "best_model.pth")
    with pytest.raises(labkit.CheckpointError, match=r"holds a 'resnet20' model, but you are loading it into a "
                                                      r"'simplecnn'.*get_model\('resnet20'\)"):
        labkit.load_model(best, model=labkit.get_model("simplecnn"))
    # a plain state dict of another architecture: a summary, not a dump of every key
    torch.save(labkit.get_model("resnet20").state_dict(), tmp_path / "plain.pth")
    with pytest.raises(labkit.CheckpointError) as e:
        labkit.load_model(tmp_path / "plain.pth", model=labkit.get_model("resnet56"))
    msg = str(e.value)
    assert "does not fit this model (CifarResNet)" in msg and "missing" in msg and len(msg) < 600
    torch.save(labkit.get_model("resnet20", num_classes=100).state_dict(), tmp_path / "c100.pth")
    with pytest.raises(labkit.CheckpointError, match=r"of another shape \(e\.g\. linear\.weight: \(100, 64\) in the "
                                                      r"file, \(10, 64\) in the model\)"):
        labkit.load_model(tmp_path / "c100.pth", model=labkit.get_model("resnet20"))
    data = open(best, "rb").read()
    (tmp_path / "trunc.pth").write_bytes(data[: len(data) // 3])
    with pytest.raises(labkit.CheckpointError, match=r"trunc\.pth' is corrupt or truncated.*train again"):
        labkit.load_model(tmp_path / "trunc.pth")
    # a corrupt training state next to a finished run's history and best checkpoint (issue 34: a finished run
    # drops its last.pth; any state Drive left is used or set aside): the test is measured again, no training
    with open(os.path.join(res.run_dir, "result.json")) as f:
        json.load(f)
    os.remove(os.path.join(res.run_dir, "result.json"))
    with open(os.path.join(res.run_dir, "last.pth"), "wb") as f:
        f.write(b"not a checkpoint")
    again = labkit.fit("resnet20", small, epochs=1, run_dir=tmp_path, run_name="r20", resume=True, progress=False)
    assert again.test_acc == res.test_acc and again.history == res.history


def test_runs_never_overwrite(subset, tmp_path):
    small = labkit.load_cifar10(subset.info["source"], limit=200, device="cpu", verbose=False)
    kw = dict(epochs=1, run_dir=tmp_path, progress=False, verbose=False)
    labkit.fit("simplecnn", small, run_name="mine", **kw)
    before = (tmp_path / "mine" / "best_model.pth").read_bytes()
    with pytest.raises(labkit.RunExistsError, match=r"'.*mine' already exists\. Pass resume=True"):
        labkit.fit("simplecnn", small, run_name="mine", **kw)
    with pytest.raises(labkit.ConfigError, match=r"cannot resume .*mine.* lr was 0\.01, now 0\.1"):
        labkit.fit("simplecnn", small, run_name="mine", resume=True, lr=0.1, **kw)
    other = labkit.load_cifar10(subset.info["source"], limit=300, device="cpu", verbose=False)
    with pytest.raises(labkit.ConfigError, match=r"cannot resume .*mine.* data train was 180, now 270"):
        labkit.fit("simplecnn", other, run_name="mine", resume=True, **kw)
    assert (tmp_path / "mine" / "best_model.pth").read_bytes() == before
    # resume=True without a name picks this model's latest run; a finished run is returned untouched
    again = labkit.fit("simplecnn", small, resume=True, **kw)
    assert again.run_dir.endswith("mine") and (tmp_path / "mine" / "best_model.pth").read_bytes() == before


# ---- issue 15: nothing lost, nothing silently wrong -------------------------------------------------
def snapshot(folder):
    """Every file under ``folder`` with its bytes (to assert a refused call changed nothing)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def strict_json(path):
    def no_constant(name):
        raise ValueError(f"{path} holds {name}: not strict JSON")

    return json.loads(path.read_text(), parse_constant=no_constant)


@pytest.fixture(scope="module")
def tiny(subset_root):
    return labkit.load_cifar10(subset_root, limit=200, test_limit=100, device="cpu", verbose=False)


class StopInEpoch:
    """``data`` whose training loader raises KeyboardInterrupt at the start of epoch ``stop`` (an
    interrupted run: last.pth holds epoch stop-1)."""

    def __init__(self, data, stop):
        self.data, self.stop, self.classes = data, stop, data.classes

    def describe(self):
        return self.data.describe()

    def loader(self, split, *a, **k):
        inner = self.data.loader(split, *a, **k)
        if split != "train":
            return inner
        stop = self.stop

        class Loader:
            def __len__(self):
                return len(inner)

            def set_epoch(self, e):
                inner.set_epoch(e)

            def __iter__(self):
                if inner.epoch == stop:
                    raise KeyboardInterrupt("disconnected")
                return iter(inner)

        return Loader()


def interrupted_run(data, run_dir, name="r", epochs=3, stop=3):
    with pytest.raises(KeyboardInterrupt):
        labkit.fit("simplecnn", StopInEpoch(data, stop), epochs=epochs, run_dir=run_dir, run_name=name,
                   progress=False, verbose=False)
    return run_dir / name


def test_val_ratio_zero_trains_on_every_image_and_keeps_the_last_epoch(subset_root, tmp_path):
    """Case 1 (once: with no validation images every epoch scored 0 and epoch 1 was reported as best; then refused).
    Issue 33: the depth lab's graded run trains on all 50,000 images, as the paper's reported runs do, so
    ``val_ratio=0`` means no validation split: every epoch's line says so, the last epoch is the model (kept by
    an interrupted and resumed run too), and the record, the reload and the report say what was tested."""
    labkit.notebook.check_params("simplecnn", {"epochs": 1}, {"data_root": subset_root, "val_ratio": 0})
    data = labkit.load_cifar10(subset_root, val_ratio=0, limit=200, test_limit=100, device="cpu", verbose=False)
    assert (data.describe()["train"], data.describe()["val"]) == (200, 0)
    run = interrupted_run(data, tmp_path, epochs=3, stop=2)  # killed in epoch 2: last.pth holds epoch 1
    res = labkit.fit("simplecnn", data, epochs=3, run_dir=tmp_path, run_name="r", resume=True, progress=False,
                     verbose=False)
    assert (res.best_epoch, res.best_val_acc, len(res.history)) == (3, None, 3)
    assert all(h["val_acc"] is None and h["val_loss"] is None for h in res.history)
    log = (run / "log.txt").read_text()
    assert log.count("Val: none (val_ratio=0: every training image trains; the last epoch is the model)") == 3
    assert "Val loss" not in log and log.endswith(f"Test Accuracy: {res.test_acc:.2f}%\n")
    result = json.loads((run / "result.json").read_text())
    assert (result["best_epoch"], result["best_val_acc"]) == (3, None)
    best = torch.load(run / "best_model.pth", map_location="cpu", weights_only=False)
    assert best["epoch"] == 3
    again = labkit.load_run(run)
    assert (again.best_epoch, again.best_val_acc, again.test_acc) == (3, None, res.test_acc)
    rows = dict(labkit.report._hyperparameters(again.config))
    assert rows["model selection"] == "the last epoch (no validation split)"
    assert labkit.report.tested([again]) == "last-epoch"
    _, md = labkit.results.save_table(labkit.results.summarize_runs([again]), str(tmp_path / "comparison"))
    row = open(md).read().splitlines()[2]
    assert "nan" not in row and re.search(r"\|\s+-\s+\|\s+3\s+\|", row), row  # best val "-", best epoch 3


def test_resume_without_training_state_keeps_everything(tiny, tmp_path, capsys):
    """Case 2: after deleting a corrupt last.pth (as labkit advised), resume restarted at epoch 1 in
    the same folder and overwrote the earlier best_model.pth. Since issue 34 (a last.pth that never reached
    Google Drive looks the same) a folder without a whole training state starts at epoch 1 by itself, after
    setting everything it held aside, byte for byte."""
    run = interrupted_run(tiny, tmp_path)
    (run / "last.pth").write_bytes(b"garbage")
    before = snapshot(run)
    kw = dict(epochs=3, run_dir=tmp_path, run_name="r", resume=True, progress=False, verbose=False)
    with pytest.raises(labkit.ConfigError, match=r"start_over=True .* pass resume=True with it"):
        labkit.fit("simplecnn", tiny, **{**kw, "resume": False, "start_over": True})
    res = labkit.fit("simplecnn", tiny, **{**kw, "verbose": True})
    assert "held no whole training state (its training state last.pth is corrupt" in capsys.readouterr().out
    assert [h["epoch"] for h in res.history] == [1, 2, 3] and (run / "result.json").is_file()
    # everything the folder held is kept, byte for byte, in earlier-1/
    assert {k[len("earlier-1/"):]: v for k, v in snapshot(run).items() if k.startswith("earlier-1/")} == before


def test_resume_checks_the_best_checkpoint_before_training(tiny, tmp_path):
    """Case 3: a corrupt best_model.pth was found only after the remaining epochs had trained."""
    run = interrupted_run(tiny, tmp_path)
    state = read_checkpoint(run / "last.pth")
    assert state["epoch"] == 2
    # the best epoch (1) is not the last finished one: its weights exist only in best_model.pth
    atomic_torch_save({**state, "best_epoch": 1, "best_val_acc": state["history"][0]["val_acc"]}, run / "last.pth")
    (run / "best_model.pth").write_bytes(b"\x00" * 100)
    before = snapshot(run)
    kw = dict(epochs=3, run_dir=tmp_path, run_name="r", resume=True, progress=False, verbose=False)
    with pytest.raises(labkit.CheckpointError, match=r"best_model\.pth \(epoch 1\) is unreadable.*nowhere else.*"
                                                      r"start_over=True"):
        labkit.fit("simplecnn", tiny, **kw)
    assert snapshot(run) == before
    # where the best epoch is the last finished one, last.pth holds its weights: rewritten, the run goes on
    run2 = interrupted_run(tiny, tmp_path, "r2")
    state = read_checkpoint(run2 / "last.pth")
    atomic_torch_save({**state, "best_epoch": 2, "best_val_acc": state["history"][1]["val_acc"]}, run2 / "last.pth")
    (run2 / "best_model.pth").unlink()
    res = labkit.fit("simplecnn", tiny, **{**kw, "run_name": "r2"})
    assert [h["epoch"] for h in res.history] == [1, 2, 3]
    assert "rewritten from last.pth (epoch 2" in (run2 / "log.txt").read_text()
    assert read_checkpoint(run2 / "best_model.pth")["epoch"] in (2, 3)


def test_resume_of_a_run_that_is_not_there_stops(tiny, tmp_path, capsys):
    """Case 4: resume=True with a mistyped run_name silently started a fresh run."""
    kw = dict(epochs=1, run_dir=tmp_path, progress=False, verbose=False)
    labkit.fit("simplecnn", tiny, run_name="mine", **kw)
    before = snapshot(tmp_path)
    with pytest.raises(labkit.ConfigError, match=r"resume=True, but there is no run 'mien' in .* \(runs there: "
                                                  r"mine\).*resume=False to start a new run"):
        labkit.fit("simplecnn", tiny, run_name="mien", resume=True, **kw)
    with pytest.raises(labkit.ConfigError, match=r"no earlier 'resnet20' run in .*runs there: mine"):
        labkit.fit("resnet20", tiny, resume=True, **kw)
    with pytest.raises(labkit.ConfigError, match=r"no earlier 'simplecnn' run in .*run_dir does not exist"):
        labkit.fit("simplecnn", tiny, run_dir=tmp_path / "elsewhere", resume=True, epochs=1, progress=False)
    assert snapshot(tmp_path) == before
    res = labkit.fit("simplecnn", tiny, run_name="new", resume=True, start_over=True, **{**kw, "verbose": True})
    assert "start_over=True: no run" in capsys.readouterr().out and res.run_dir == str(tmp_path / "new")
    # a folder whose first epoch never finished (config.json, log.txt only) starts at epoch 1: nothing to lose
    (tmp_path / "killed").mkdir()
    (tmp_path / "killed" / "config.json").write_text((tmp_path / "mine" / "config.json").read_text())
    (tmp_path / "killed" / "log.txt").write_text("Epoch: 1\n")
    res = labkit.fit("simplecnn", tiny, run_name="killed", resume=True, **kw)
    assert [h["epoch"] for h in res.history] == [1]


def test_non_finite_first_epoch_is_divergence(subset_root, tmp_path):
    """Case 5: epoch 1 ended with a huge training loss and Val loss nan, was kept as best and tested,
    and history.json held a bare NaN."""
    data = labkit.load_cifar10(subset_root, limit=300, test_limit=100, device="cpu", verbose=False)
    with pytest.raises(labkit.NonFiniteLossError, match=r"validation loss became nan at epoch 1 \(training loss "
                                                         r".*\), learning rate 1e\+08.*no checkpoint was saved.*"
                                                         r"lower lr"):
        labkit.fit("simplecnn", data, epochs=2, lr=1e8, run_dir=tmp_path, run_name="div", progress=False,
                   verbose=False)
    run = tmp_path / "div"
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "log.txt"]  # no best, no state, no NaN history
    assert "Stopped: validation loss became nan" in (run / "log.txt").read_text()
    strict_json(run / "config.json")


def test_json_files_are_strict(tmp_path):
    atomic_write_json(tmp_path / "h.json", [{"val_loss": float("nan"), "test_loss": float("inf"), "acc": 50.0}])
    assert strict_json(tmp_path / "h.json") == [{"val_loss": None, "test_loss": None, "acc": 50.0}]


def test_run_files_missing_truncated_or_garbage(tiny, tmp_path):
    """Case 6 and its neighbours: every file of a finished run folder missing or broken."""
    res = labkit.fit("simplecnn", tiny, epochs=2, run_dir=tmp_path, run_name="r", progress=False, verbose=False)
    run = tmp_path / "r"
    kw = dict(epochs=2, run_dir=tmp_path, run_name="r", resume=True, progress=False, verbose=False)
    history = json.loads((run / "history.json").read_text())
    for broken in (None, b"[{\"epoch\": 1, \"val_a"):  # deleted, then truncated: last.pth still holds it
        (run / "history.json").unlink(missing_ok=True)
        if broken:
            (run / "history.json").write_bytes(broken)
        again = labkit.load_run(str(run))
        assert again.history == history and again.best_epoch == res.best_epoch and len(again.history) == 2
        assert labkit.fit("simplecnn", tiny, **kw).history == history
    (run / "history.json").write_text(json.dumps(history))
    good = (run / "result.json").read_bytes()
    (run / "result.json").write_bytes(good[:40])
    with pytest.raises(labkit.CheckpointError, match=r"run result .*result\.json' is not valid JSON.*Delete it "
                                                      r"and run fit again with resume=True"):
        labkit.load_run(str(run))
    (run / "result.json").unlink()  # the fix: the test set is measured again, no training
    again = labkit.fit("simplecnn", tiny, **kw)
    assert again.test_acc == res.test_acc and again.history == history
    good_config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text("{garbage")
    with pytest.raises(labkit.CheckpointError, match=r"run settings .*config\.json' is not valid JSON"):
        labkit.load_run(str(run))
    # last.pth records what ran (issue 23): a resume rewrites config.json from it, training nothing
    again = labkit.fit("simplecnn", tiny, **{**kw, "run_name": "r"})
    assert json.loads((run / "config.json").read_text()) == good_config and again.history == history
    with pytest.raises(labkit.CheckpointError, match=r"is a folder, not a checkpoint file.*best_model\.pth"):
        labkit.load_model(run)
    with pytest.raises(labkit.ConfigError, match=r"weights '.*' is a folder; pass the \.pth state-dict file"):
        labkit.get_model("tv_resnet18", weights=str(run))
    for not_a_run in (tmp_path / "typo", run / "log.txt", tmp_path / "earlier"):
        (tmp_path / "earlier").mkdir(exist_ok=True)
        with pytest.raises(labkit.ConfigError, match=r"is not a run folder .*Pass run_dir/run_name of a run"):
            labkit.load_run(str(not_a_run))


def test_bad_input_names_the_fix_and_leaves_no_folder(tiny, subset_root, tmp_path, monkeypatch):
    """Case 7: torch/Python errors that named no fix; unknown model_kwargs and missing pretrained
    weights also left an empty run folder behind."""
    runs = tmp_path / "runs"
    cases = [
        (dict(device="gpu"), labkit.ConfigError, r"unknown device 'gpu' \('gpu' is called 'cuda'.*device='auto'"),
        (dict(device="tpu"), labkit.ConfigError, r"unknown device 'tpu'\. Use device='auto'"),
        (dict(model=["simplecnn"]), labkit.ConfigError, r"model must be one registered model name \(text\)"),
        (dict(model_kwargs={"depth": 3}), labkit.ConfigError, r"model 'simplecnn' takes no option\(s\) \['depth'\] "
                                                               r"in model_kwargs\. Its options: dropout"),
        (dict(model_kwargs=[1]), labkit.ConfigError, r"model_kwargs must be a dict"),
        (dict(seed=None), labkit.ConfigError, r"seed must be a number, got None \(no value; with papermill write"),
        (dict(seed="x"), labkit.ConfigError, r"seed must be a number, got the text 'x'"),
    ]
    if not torch.cuda.is_available():
        cases.append((dict(device="cuda:1"), labkit.ConfigError, r"no CUDA GPU is visible"))
    for kwargs, error, message in cases:
        kwargs = {"model": "simplecnn", **kwargs}
        with pytest.raises(error, match=message):
            labkit.fit(kwargs.pop("model"), tiny, run_dir=runs, epochs=1, progress=False, verbose=False, **kwargs)
    # the offline pretrained-weights error comes before any folder is made
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(labkit.DataMissingError, match=r"could not get the pretrained ImageNet weights"):
        labkit.fit("tv_resnet18", tiny, run_dir=runs, epochs=1, progress=False, model_kwargs={"weights": "imagenet"})
    assert not runs.exists()
    # run_dir that is a file; data parameters of load_cifar10
    (tmp_path / "afile").write_text("x")
    with pytest.raises(labkit.ConfigError, match=r"run_dir '.*afile' is a file, not a folder"):
        labkit.fit("simplecnn", tiny, run_dir=tmp_path / "afile", epochs=1, progress=False)
    for kwargs, message in [(dict(data_root=None), r"data_root must be a folder path \(text\), got None"),
                            (dict(seed="abc"), r"seed must be a number, got the text 'abc'"),
                            (dict(seed=None), r"seed must be a number, got None"),
                            (dict(norm_ratio="half"), r"norm_ratio must be a number, got the text 'half'"),
                            (dict(norm_ratio=None), r"norm_ratio must be a number, got None"),
                            (dict(normalize=["fixed"]), r"normalize must be one of"),
                            (dict(download="maybe"), r"download must be True or False"),
                            (dict(device="gpu"), r"unknown device 'gpu'")]:
        with pytest.raises(labkit.ConfigError, match=message):
            labkit.load_cifar10(**{"data_root": subset_root, "device": "cpu", "verbose": False, **kwargs})
    with pytest.raises(labkit.ConfigError, match=r"model must be one registered model name"):
        labkit.get_model(["resnet20"])
    with pytest.raises(labkit.ConfigError, match=r"takes no option\(s\) \['weights'\].*option, residual, preact"):
        labkit.get_model("resnet20", weights="imagenet")


def test_data_root_that_is_a_file(subset_root, tmp_path):
    """Case 8: a file as data_root was answered with 'connect to the internet'."""
    batch = os.path.join(subset_root, "cifar-10-batches-py", "test_batch")
    with pytest.raises(labkit.ConfigError, match=r"data_root '.*test_batch' is a file, not a folder: point "
                                                  r"data_root at the folder that holds 'cifar-10-batches-py'"):
        labkit.load_cifar10(batch, device="cpu")
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"")
    with pytest.raises(labkit.ConfigError, match=r"is a file, not a folder: point data_root at the folder that "
                                                  r"holds it .*extracts the archive there"):
        labkit.load_cifar10(archive, device="cpu")


@pytest.mark.parametrize("name", ["..", "../escaped", "/tmp/abs-run", "a/b", ".", "", 3.5])
def test_run_name_stays_inside_run_dir(name, tiny, tmp_path):
    """Case 9: run_name with .. or an absolute path wrote outside run_dir."""
    runs = tmp_path / "runs"
    runs.mkdir()
    for resume in (False, True):
        with pytest.raises(labkit.ConfigError, match=r"run_name must be"):
            labkit.fit("simplecnn", tiny, run_dir=runs, run_name=name, resume=resume, epochs=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"] and not any(runs.iterdir())
    assert not os.path.exists("/tmp/abs-run")


def test_experiment_run_that_cannot_continue_stops_then_starts_over(subset_root, tmp_path):
    from labkit.experiments import Variant, run_experiments

    kw = dict(experiment="exp", run_dir=tmp_path, data_root=subset_root, limit=200, test_limit=100, model="simplecnn",
              epochs=1, device="cpu", progress=False, verbose=False)
    run_experiments([Variant("base")], **kw)
    run = tmp_path / "exp" / "base"
    (run / "result.json").unlink()  # a finished run keeps no last.pth (issue 34): with its history gone too,
    (run / "history.json").unlink()  # nothing whole is left: trained again, what it held set aside
    before = snapshot(run)
    run_experiments([Variant("base")], **kw)
    assert {k[len("earlier-1/"):]: v for k, v in snapshot(run).items() if k.startswith("earlier-1/")} == before
    (run / "result.json").unlink()
    (run / "history.json").unlink()
    before = snapshot(run)
    (run / "config.json").write_text("{trunc")
    with pytest.raises(labkit.CheckpointError, match=r"configuration 'base': run settings .* not valid JSON.*"
                                                      r"start_over=True"):
        run_experiments([Variant("base")], **kw)
    exp = run_experiments([Variant("base")], start_over=True, **kw)
    assert (run / "result.json").is_file() and (run / "earlier-2" / "best_model.pth").read_bytes() == \
        before["best_model.pth"]
    assert len(exp.runs["base"].history) == 1
