"""The optimizer and the learning-rate schedule of a run, built from its checked settings, and the schedule's
step (per batch or per epoch, quiet under a GradScaler's skipped steps)."""
import warnings

import torch

def build_optimizer(cfg, params, scaled=False):
    """The optimizer. Without a GradScaler (bf16, fp32) as one fused kernel where torch has one (CPU and
    CUDA): the same update rule as the default per-parameter loop, which on the CPU costs 40 ms of a
    ResNet18 step (fused: 2 ms). Under a GradScaler (``scaled``: fp16, Colab's T4) never fused: torch's
    fused SGD takes the scaler's overflow flag into its kernel, and when the first step overflows (the
    scaler's designed start) the kernel returns before writing the momentum buffers it allocated with
    ``torch.empty_like``, so the second step reads uninitialised memory as momentum (NaN in epoch 1).
    Unfused, the GradScaler itself skips the step of an overflow, before the optimizer sees it."""
    params = list(params)
    if cfg.optimizer == "sgd":
        cls, kw = torch.optim.SGD, dict(lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                                        weight_decay=cfg.weight_decay)
    else:
        cls, kw = (torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW), dict(
            lr=cfg.lr, weight_decay=cfg.weight_decay)
    if scaled:
        return cls(params, **kw)
    try:
        return cls(params, fused=True, **kw)
    except (RuntimeError, ValueError, TypeError):  # a device/dtype without a fused kernel
        return cls(params, **kw)


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
