"""He et al.'s ResNet-110 warm-up (``warmup_steps``): a tenth of lr for the first batches, then the epoch schedule."""
import pytest
import torch

from labkit.config import TrainConfig
from labkit.errors import ConfigError
from labkit.train import build_scheduler


def _lrs(cfg, steps_per_epoch):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr, momentum=0.9)
    sched, per_batch = build_scheduler(cfg, opt, steps_per_epoch)
    assert per_batch
    seen = []
    for _ in range(cfg.epochs * steps_per_epoch):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return seen, sched, opt


def test_warmup_then_multistep_drops():
    cfg = TrainConfig.from_params("resnet110", dict(epochs=4, lr=0.1, scheduler="multistep", milestones=[2, 3],
                                                    warmup_steps=5, device="cpu"))
    seen, _, _ = _lrs(cfg, steps_per_epoch=4)
    expected = [0.01] * 5 + [0.1] * 3 + [0.01] * 4 + [0.001] * 4
    assert seen == pytest.approx(expected)


def test_warmup_resumes_exactly():
    cfg = TrainConfig.from_params("resnet20", dict(epochs=3, lr=0.1, scheduler="step", step_size=1, warmup_steps=4,
                                                   device="cpu"))
    whole, _, _ = _lrs(cfg, steps_per_epoch=3)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched, _ = build_scheduler(cfg, opt, 3)
    for _ in range(5):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched2, _ = build_scheduler(cfg, opt2, 3)
    sched2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = sched2.get_last_lr()[0]
    rest = []
    for _ in range(4):
        rest.append(opt2.param_groups[0]["lr"])
        opt2.step()
        sched2.step()
    assert rest == pytest.approx(whole[5:])


@pytest.mark.parametrize("scheduler", ["onecycle", "cosine", "cyclic"])
def test_warmup_refused_where_the_schedule_sets_every_step(scheduler):
    with pytest.raises(ConfigError, match="warmup_steps=400 works with scheduler"):
        TrainConfig.from_params("resnet110", dict(scheduler=scheduler, warmup_steps=400, device="cpu"))


def test_depth_study_warms_up_110_layers_only(monkeypatch):
    from labkit.studies import depth

    seen = {}

    def fake_run(variants, **kwargs):
        seen.update({v.name: v.params.get("warmup_steps", 0) for v in variants})
        raise RuntimeError("stop here")

    monkeypatch.setattr(depth, "run_experiments", fake_run)
    with pytest.raises(RuntimeError, match="stop here"):
        depth.run_depth_study(depths=[20, 110], kinds=["plain", "resnet"], epochs=4)
    assert seen == {"plain20": 0, "resnet20": 0, "plain110": 400, "resnet110": 400}
