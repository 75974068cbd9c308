"""Runs survive kills, bad parameters and bad files; nothing already written is lost."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

import labkit
from labkit.checkpoint import atomic_torch_save, atomic_write_json, read_checkpoint

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
    (dict(augment="maybe"), r"augment must be True or False, got 'maybe'"),
    (dict(nesterov=True, optimizer="adam"), r"nesterov=True needs optimizer='sgd'"),
]


@pytest.mark.parametrize("kwargs,message", BAD_FIT, ids=[next(iter(k)) + "=" + repr(next(iter(k.values())))
                                                         for k, _ in BAD_FIT])
def test_bad_training_parameters(kwargs, message, subset, tmp_path):
    kwargs = {"model": "simplecnn", **kwargs}
    with pytest.raises(labkit.ConfigError, match=message):
        labkit.fit(kwargs.pop("model"), subset, run_dir=tmp_path, progress=False, **kwargs)
    assert not any(tmp_path.iterdir())  # nothing trained, no run folder made


def test_papermill_style_strings_are_accepted(subset, tmp_path):
    res = labkit.fit("simplecnn", labkit.load_cifar10(subset.info["source"], limit=200, device="cpu",
                                                     verbose=False),
                     epochs="1", lr="1e-2", batch_size="64.0", augment="false", run_dir=tmp_path,
                     progress=False, verbose=False)
    assert res.config["lr"] == 0.01 and res.config["batch_size"] == 64 and res.config["augment"] is False


def test_bad_data_parameters(subset_root):
    with pytest.raises(labkit.ConfigError, match=r"normalize must be one of \('off', 'fixed', 'computed'\)"):
        labkit.load_cifar10(subset_root, normalize="zscore")
    with pytest.raises(labkit.ConfigError, match=r"norm_ratio must be in \(0, 1\]"):
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
    # a corrupt training state stops a resume with a clear message
    with open(os.path.join(res.run_dir, "result.json")) as f:
        json.load(f)
    os.remove(os.path.join(res.run_dir, "result.json"))
    with open(os.path.join(res.run_dir, "last.pth"), "wb") as f:
        f.write(b"not a checkpoint")
    with pytest.raises(labkit.CheckpointError, match=r"training state .*last\.pth' is corrupt"):
        labkit.fit("resnet20", small, epochs=1, run_dir=tmp_path, run_name="r20", resume=True, progress=False)


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
