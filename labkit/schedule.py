"""The optimizer and the learning-rate schedule of a run, built from its checked settings, and the schedule's
step (per batch or per epoch, quiet under a GradScaler's skipped steps)."""
import warnings

import torch

def build_optimizer(cfg, params, scaled=False, fused=True):
    """The optimizer, as one fused kernel where torch has one (CPU and CUDA): the same update rule as the
    default per-parameter loop, which on the CPU costs 40 ms of a ResNet18 step (fused: 2 ms); ``fused=False``:
    that loop. Under a GradScaler (``scaled``: fp16, Colab's T4) SGD is fused with its momentum buffers made
    zeros here: the fused kernel takes the scaler's overflow flag itself (no host sync per step), but on a
    first step that overflows (the scaler's designed start) it returns before writing the buffers it would
    allocate with ``torch.empty_like``, so the next step would read uninitialised memory as momentum. A zero
    buffer gives that first real step ``0 * momentum + grad``, what the unfused loop's first step sets
    (tests/test_t4_road.py: identical weights). Adam and AdamW stay unfused under a scaler."""
    params = list(params)
    if cfg.optimizer == "sgd":
        cls, kw = torch.optim.SGD, dict(lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                                        weight_decay=cfg.weight_decay)
    else:
        cls, kw = (torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW), dict(
            lr=cfg.lr, weight_decay=cfg.weight_decay)
    if not fused or (scaled and cls is not torch.optim.SGD):
        return cls(params, **kw)
    try:
        optimizer = cls(params, fused=True, **kw)
    except (RuntimeError, ValueError, TypeError):  # a device/dtype without a fused kernel
        return cls(params, **kw)
    if scaled and cfg.momentum > 0:
        for p in params:
            optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p)
    return optimizer


def build_scheduler(cfg, optimizer, steps_per_epoch):
    """(scheduler or None, True if it steps every batch, False if every epoch)."""
    total = cfg.epochs * steps_per_epoch
    s = cfg.scheduler
    if cfg.warmup_steps:
        return warmup_scheduler(cfg, optimizer, steps_per_epoch), True
    if s == "none":
        return None, False
    if s == "step":
        step = cfg.step_epochs()
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=cfg.gamma), False
    if s == "multistep":
        ms = cfg.milestone_epochs()
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=ms, gamma=cfg.gamma), False
    if s == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), True
    if s == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total,
                                                   cycle_momentum=cfg.optimizer == "sgd" and cfg.momentum > 0), True
    # cyclic: triangular between lr/10 and lr, two cycles over the run (at least 1 step up)
    half = max(1, total // 4)
    return torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr=cfg.lr / 10, max_lr=cfg.lr, step_size_up=half,
                                             cycle_momentum=cfg.optimizer == "sgd" and cfg.momentum > 0), True


def warmup_scheduler(cfg, optimizer, steps_per_epoch):
    """The "none"/"step"/"multistep" schedule with He et al.'s warm-up in front: a tenth of lr for the first
    ``warmup_steps`` batches, then the epoch schedule's lr. One per-batch LambdaLR, so that the warm-up (counted
    in batches) and the drops (counted in epochs) cannot disagree, and a resumed run continues both exactly."""
    if cfg.scheduler == "step":
        drops = lambda epoch: epoch // cfg.step_epochs()  # noqa: E731
    elif cfg.scheduler == "multistep":
        drops = lambda epoch: sum(epoch >= m for m in cfg.milestone_epochs())  # noqa: E731
    else:
        drops = lambda epoch: 0  # noqa: E731

    def factor(step):
        warm = 0.1 if step < cfg.warmup_steps else 1.0
        return warm * cfg.gamma ** drops(step // steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def step_schedule(parts):
    """Advance the lr schedule. Under fp16 a GradScaler skips the optimizer step of an overflow (by design,
    often the first step) while the schedule goes on, and torch warns that lr_scheduler.step() came before
    optimizer.step(): expected there, so not shown."""
    if parts.scaler is None:
        return parts.scheduler.step()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
        parts.scheduler.step()
