"""The T4 tier: Colab's free GPU trains in fp16 with a GradScaler, a road no machine here has. It is
forced on the CPU (fp16 autocast + ``torch.amp.GradScaler('cpu')``, ``amp="fp16", device="cpu"``)
through the real ``fit``, with the first step's gradients made to overflow (GradScaler's designed
first-step behaviour at its default scale on deep nets), an interruption after epoch 1 and a resume.

What it must equal: the same run in which that first step is skipped by hand (forward only, the
scale halved, the schedule advanced, no update), for every optimizer labkit offers. torch's fused
SGD alone fails it: on an overflow its kernel leaves the momentum buffers it allocated with
``torch.empty_like`` unwritten, and the next step reads that memory as momentum; labkit's fused SGD
under a scaler starts from zero buffers, and equals the unfused loop weight for weight.
"""
import math
import os
import shutil

import pytest
import torch

import labkit
import labkit.runs
from labkit import train
from labkit.files import read_checkpoint
from labkit.models import registry

OPTIMIZERS = {
    "sgd": dict(optimizer="sgd", lr=0.02, momentum=0.9),
    "sgd_nesterov": dict(optimizer="sgd", lr=0.02, momentum=0.9, nesterov=True),
    "sgd_plain": dict(optimizer="sgd", lr=0.02, momentum=0.0),
    "adam": dict(optimizer="adam", lr=1e-3),
    "adamw": dict(optimizer="adamw", lr=1e-3),
}
T4 = dict(amp="fp16", device="cpu", epochs=2, batch_size=32, scheduler="onecycle", seed=3, progress=False,
          verbose=False)


@pytest.fixture(scope="module")
def small(subset_root):
    return labkit.load_cifar10(subset_root, device="cpu", limit=224, test_limit=32, normalize="fixed", verbose=False)


class FirstStepOverflow:
    """Makes the very first backward of the test produce inf gradients (one conv weight), as an fp16
    overflow of the scaled loss does; later steps are untouched."""

    def __init__(self, monkeypatch):
        self.fired = False
        real = registry.MODELS["simplecnn"]

        def build(**kw):
            net = real(**kw)
            net.features[0].weight.register_hook(self._hook)
            return net

        monkeypatch.setitem(registry.MODELS, "simplecnn", build)

    def _hook(self, grad):
        if self.fired:
            return grad
        self.fired = True
        return grad * math.inf


def skip_first_step_by_hand(monkeypatch):
    """The reference: ``one_batch`` whose first call does what a skipped overflow step does."""
    real, calls = train.one_batch, []

    def one_batch(parts, x, y, taught=None):
        calls.append(1)
        if len(calls) > 1:
            return real(parts, x, y, taught)
        with torch.autocast("cpu", dtype=torch.float16):
            out = parts.forward(x)  # batch-norm statistics and dropout advance as in the real step
            loss = parts.criterion(out.float(), y)
        parts.optimizer.zero_grad(set_to_none=True)
        parts.scaler.scale(loss)  # the scaler's scale exists from the first scaled loss on
        parts.scaler.update(parts.scaler.get_scale() * 0.5)  # GradScaler's backoff after an overflow
        if parts.per_batch:
            train.step_schedule(parts)
        return loss.detach(), out.detach()

    monkeypatch.setattr(train, "one_batch", one_batch)


class InterruptAt:
    """``data`` whose training loader raises KeyboardInterrupt once, when epoch ``epoch`` starts."""

    def __init__(self, data, epoch):
        self.data, self.epoch, self.done = data, epoch, False
        self.classes = data.classes

    def describe(self):
        return self.data.describe()

    def __getattr__(self, name):
        return getattr(self.data, name)

    def loader(self, split, *args, **kwargs):
        ld = self.data.loader(split, *args, **kwargs)
        if split == "train":
            real_set_epoch = ld.set_epoch

            def set_epoch(epoch):
                if epoch == self.epoch and not self.done:
                    self.done = True
                    raise KeyboardInterrupt
                real_set_epoch(epoch)

            ld.set_epoch = set_epoch
        return ld


def _state(run_dir):
    """The run's training state: last.pth, or for a finished run (which drops it) the copy kept as final.pth."""
    last = f"{run_dir}/last.pth"
    return read_checkpoint(last if os.path.exists(last) else f"{run_dir}/final.pth", "training state")


@pytest.fixture(autouse=True)
def keep_final_state(monkeypatch):
    """A finished run drops its last.pth (issue 34): keep a copy as final.pth for the comparisons here."""
    real_drop = labkit.runs.folder.drop

    def drop(path):
        if os.path.basename(path) == "last.pth" and os.path.isfile(path):
            shutil.copyfile(path, os.path.join(os.path.dirname(path), "final.pth"))
        real_drop(path)

    monkeypatch.setattr(labkit.runs.folder, "drop", drop)
    monkeypatch.setattr(labkit.runs.recovery, "drop", drop)


@pytest.fixture(scope="module")
def teacher(small, tmp_path_factory):
    """A finished ResNet-20 run folder: task 1's distillation teacher (not the overflowing simplecnn)."""
    return labkit.fit("resnet20", small, run_dir=tmp_path_factory.mktemp("teacher"), epochs=1, batch_size=32,
                      progress=False, verbose=False).run_dir


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fp16_gradscaler_first_step_overflow_then_resume(small, tmp_path, monkeypatch, name):
    _overflow_then_resume(small, tmp_path, monkeypatch, name, {**T4, **OPTIMIZERS[name]})


@pytest.mark.parametrize("augment", [True, "flip"])
def test_distillation_on_the_t4_road(small, tmp_path, monkeypatch, teacher, augment):
    """Task 1's distillation (the teacher's forward inside the fp16 autocast, its KL term in the scaled loss)
    through the same overflow, interruption and resume; with flips (task 1's recipe) its outputs are computed
    once in fp16 before epoch 1, again by the resume, and read by each step."""
    params = {**T4, **OPTIMIZERS["sgd_nesterov"], "teacher": teacher, "augment": augment}
    got = _overflow_then_resume(small, tmp_path, monkeypatch, "sgd_nesterov + teacher", params)
    plain = labkit.fit("simplecnn", small, run_dir=tmp_path, run_name="plain",
                       **{**T4, **OPTIMIZERS["sgd_nesterov"], "augment": augment})
    assert got.config["teacher"] == teacher
    assert [h["train_loss"] for h in got.history] != [h["train_loss"] for h in plain.history]  # the teacher counted


def _overflow_then_resume(small, tmp_path, monkeypatch, name, params):
    with monkeypatch.context() as m:
        skip_first_step_by_hand(m)
        ref = labkit.fit("simplecnn", small, run_dir=tmp_path, run_name="reference", **params)
    with monkeypatch.context() as m:
        overflow = FirstStepOverflow(m)
        interrupted = InterruptAt(small, epoch=2)
        with pytest.raises(KeyboardInterrupt):
            labkit.fit("simplecnn", interrupted, run_dir=tmp_path, run_name="t4", **params)
        assert overflow.fired and _state(tmp_path / "t4")["epoch"] == 1
        got = labkit.fit("simplecnn", small, run_dir=tmp_path, run_name="t4", resume=True, **params)
    a, b = _state(ref.run_dir), _state(got.run_dir)
    assert a["scaler"]["scale"] == b["scaler"]["scale"] <= 2.0 ** 15  # the forced overflow halved 65536 (at least)
    assert b["epoch"] == 2 and [h["epoch"] for h in got.history] == [1, 2]
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), f"{name}: {k} differs from the run with the overflow step skipped"
    assert [h["train_loss"] for h in got.history] == [h["train_loss"] for h in ref.history]
    assert all(math.isfinite(h["train_loss"]) for h in got.history)
    assert got.test_acc == ref.test_acc
    return got


def test_fp16_on_the_cpu_is_the_t4_road(small, tmp_path):
    run = labkit.fit("simplecnn", small, run_dir=tmp_path, **{**T4, "epochs": 1})
    assert run.config["precision"] == "fp16 + GradScaler" and run.config["grad_scaler"] is True
    assert run.config["fused_optimizer"] is True  # SGD under a GradScaler: fused, from zero momentum buffers


@pytest.mark.parametrize("name", ["sgd", "sgd_nesterov"])
def test_fused_sgd_under_the_scaler_equals_the_unfused_loop(small, tmp_path, monkeypatch, name):
    """Issue 34: fused SGD with zero momentum buffers under a GradScaler, through a first step that
    overflows, gives the very weights of the per-parameter loop (torch's own fused first step would not)."""
    from labkit import schedule
    params = {**T4, **OPTIMIZERS[name], "epochs": 1}
    runs = {}
    for fused in (True, False):
        with monkeypatch.context() as m:
            overflow = FirstStepOverflow(m)
            m.setattr(train, "build_optimizer",
                      lambda cfg, p, scaled=False, fused=fused: schedule.build_optimizer(cfg, p, scaled, fused))
            runs[fused] = labkit.fit("simplecnn", small, run_dir=tmp_path, run_name=f"fused-{fused}", **params)
            assert overflow.fired
    assert runs[True].config["fused_optimizer"] is True and runs[False].config["fused_optimizer"] is False
    a, b = _state(runs[True].run_dir), _state(runs[False].run_dir)
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), f"{name}: {k} differs between fused and unfused SGD"
    assert [h["train_loss"] for h in runs[True].history] == [h["train_loss"] for h in runs[False].history]
