"""The one training loop of every lab: ``fit``.

Per epoch it prints the handouts' lines::

    Epoch: 3
    learning rate: 0.01
    Train loss: 1.123 | Train acc: 0.601 Val loss: 1.046 | Val acc: 0.634

(the Lab2 handout's format: losses and accuracies as fractions to 3 decimals, the learning rate
to 3 significant digits; history.json keeps full precision), keeps the best checkpoint (by
validation accuracy), saves the whole training state after every epoch (so an interrupted run
resumes with ``resume=True``), and at the end reloads the best checkpoint and prints
``Finished Training`` and ``Test Accuracy: NN.NN%``. A finished run that ``resume=True``
reloads prints these lines again from its ``log.txt``.

A run lives in its own folder ``run_dir/run_name``::

    config.json      every hyper-parameter, the data split, device/precision used
    history.json     one entry per finished epoch
    best_model.pth   best weights so far (labkit.load_model reads it)
    last.pth         full training state after the last finished epoch (for resume)
    result.json      test accuracy, per-class accuracy, confusion matrix (when finished)
    log.txt          the printed epoch lines
"""
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from .config import TrainConfig, as_bool
from .device import (auto_channels_last, autocast_context, device_record, resolve_amp, resolve_device,
                     tune_cpu_allocator)
from .errors import ConfigError, NonFiniteLossError
from .evaluate import evaluate
from .files import STATE_FORMAT, atomic_torch_save, atomic_write_json
from .models import get_model, save_model, unwrap
from .runs import (_Log, _pick_run, _start_over, cannot_continue, check_run_location, finish_run, load_run,
                   new_run_dir, replay_log)

HEAD_NAMES = ("fc", "linear", "classifier", "head")


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_optimizer(cfg, params):
    """The optimizer, as one fused kernel where torch has one (CPU and CUDA): the same update rule
    as the default per-parameter loop, which on the CPU costs 40 ms of a ResNet18 step (fused: 2 ms)."""
    params = list(params)
    if cfg.optimizer == "sgd":
        cls, kw = torch.optim.SGD, dict(lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                                        weight_decay=cfg.weight_decay)
    else:
        cls, kw = (torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW), dict(
            lr=cfg.lr, weight_decay=cfg.weight_decay)
    try:
        return cls(params, fused=True, **kw)
    except (RuntimeError, ValueError, TypeError):  # a device/dtype without a fused kernel
        return cls(params, **kw)


def build_scheduler(cfg, optimizer, steps_per_epoch):
    """(scheduler or None, True if it steps every batch, False if every epoch)."""
    total = cfg.epochs * steps_per_epoch
    s = cfg.scheduler
    if s == "none":
        return None, False
    if s == "step":
        step = cfg.step_size or max(1, cfg.epochs // 3)
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=cfg.gamma), False
    if s == "multistep":
        ms = cfg.milestones or [max(1, int(cfg.epochs * 0.5)), max(1, int(cfg.epochs * 0.75))]
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


def _rng_state():
    st = {"torch": torch.get_rng_state(), "python": random.getstate()}
    npst = np.random.get_state()
    st["numpy"] = [npst[0], torch.from_numpy(npst[1].astype(np.int64)), int(npst[2]), int(npst[3]), float(npst[4])]
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st):
    torch.set_rng_state(st["torch"])
    py = st["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = st["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _fmt_lr(lr):
    """A learning rate as a person writes it: 3 significant digits, no trailing zeros, no exponent
    below 1000 (0.03, 0.00611, 0.00001; a diverging 1e+08 keeps its exponent)."""
    lr = float(f"{float(lr):.3g}")
    return f"{lr:g}" if lr >= 1000 else np.format_float_positional(lr, trim="-")


def epoch_line(train_loss, train_acc, val_loss, val_acc):
    """The handout's per-epoch line (accuracies in %, printed as fractions)."""
    return (f"Train loss: {train_loss:.3f} | Train acc: {train_acc / 100:.3f} "
            f"Val loss: {val_loss:.3f} | Val acc: {val_acc / 100:.3f}")


def fit(model="simplecnn", data=None, *, run_dir="runs", run_name=None, resume=False, start_over=False,
        progress=True, verbose=True, class_weights=None, sampler_note=None, **params):
    """Train ``model`` (a registry name) on ``data`` and return a :class:`RunResult`.

    ``data``: a :class:`labkit.data.CifarData` (``load_cifar10``) or any object with the same
    ``loader(split, batch_size, shuffle=, augment=, seed=, epoch=, channels_last=)``,
    ``classes`` and ``describe()``. Hyper-parameters are those of :class:`labkit.config.TrainConfig`
    (epochs, batch_size, optimizer, lr, momentum, nesterov, weight_decay, scheduler, milestones,
    gamma, step_size, label_smoothing, augment, seed, device, amp, channels_last, compile,
    eval_batch_size, track_test, freeze_epochs, model_kwargs).

    ``track_test=True`` also measures the test set after every epoch (``test_loss``/``test_acc`` in
    the history, for curves such as the ResNet paper's test error); model selection still uses
    the validation set only. ``freeze_epochs=k`` trains only the classifier head (``fc``/``linear``/
    ``classifier``) for the first k epochs (transfer learning).

    ``resume=True`` continues the run in ``run_dir/run_name`` (or, without ``run_name``, the
    latest run of this model in ``run_dir``) from its last finished epoch; a finished run is
    returned as it is. Without ``resume`` every call gets a new folder. A resume that finds no such
    run, or a run that cannot continue (its ``last.pth`` or ``best_model.pth`` missing or unreadable),
    stops with the fix and changes nothing; ``start_over=True`` (with ``resume=True``) then starts
    it from epoch 1 in the same folder, after moving what the folder held into ``earlier-1/``.
    An epoch whose loss is NaN/inf (training, validation or tracked test) stops the run before
    anything of it is saved (:class:`labkit.NonFiniteLossError`).
    """
    unknown = set(params) - set(TrainConfig.field_names())
    if unknown:
        raise ConfigError(f"unknown training parameter(s) {sorted(unknown)}. "
                          f"Valid ones: {', '.join(TrainConfig.field_names())}")
    cfg = TrainConfig(model=model, **params).validate()
    if data is None or not hasattr(data, "loader"):
        raise ConfigError("fit needs data=labkit.load_cifar10(...) (or another data object with .loader()).")
    resume, start_over = as_bool("resume", resume), as_bool("start_over", start_over)
    if start_over and not resume:
        raise ConfigError("start_over=True restarts a run that resume=True cannot find or continue: pass "
                          "resume=True with it (or neither, for a new run folder).")
    run_dir, run_name = check_run_location(run_dir, run_name)
    device = resolve_device(cfg.device)
    amp_dtype, use_scaler = resolve_amp(cfg.amp, device)
    channels_last = auto_channels_last(device) if cfg.channels_last == "auto" else cfg.channels_last
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed 32x32 batches: let cuDNN pick its fastest kernels
    malloc_tuned = device.type == "cpu" and tune_cpu_allocator()
    num_classes = len(data.classes)
    if class_weights is None:  # a data object may ask for a weighted loss (ImageFolderData(imbalance="class_weights"))
        class_weights = getattr(data, "loss_class_weights", None)
    if class_weights is not None:
        class_weights = torch.as_tensor(class_weights, dtype=torch.float32, device=device)
        if class_weights.shape != (num_classes,):
            raise ConfigError(f"class_weights needs one weight per class ({num_classes}), got {tuple(class_weights.shape)}")

    # ---- run folder: the one to resume (checked now), or a new one made once every check passed ----
    path, state = _pick_run(cfg, data, run_dir, run_name, resume, start_over, verbose)
    if state == "finished":
        if verbose:
            print(f"Run {path} already finished; loading its result (no training). Its log:")
            replay_log(path)
        return load_run(path, device=device)

    # ---- model, data loaders, optimizer, scheduler ----------------------------------------------
    train_loader = data.loader("train", cfg.batch_size, shuffle=True, augment=cfg.augment, seed=cfg.seed,
                               channels_last=channels_last)
    val_loader = data.loader("val", cfg.eval_batch_size, shuffle=False, channels_last=channels_last)
    test_loader = (data.loader("test", cfg.eval_batch_size, shuffle=False, channels_last=channels_last)
                   if cfg.track_test else None)
    steps = len(train_loader)
    if steps == 0:
        raise ConfigError(f"batch_size={cfg.batch_size} leaves no training batch; use a smaller batch_size.")
    if len(val_loader) == 0:
        raise ConfigError("the data has no validation images (val_ratio=0?), but the best epoch (best_model.pth, "
                          "the test accuracy) is chosen by validation accuracy. Load it with val_ratio > 0, e.g. 0.1.")
    net, optimizer, scheduler, per_batch = _build(cfg, num_classes, device, channels_last, steps)
    scaler = torch.amp.GradScaler(device.type) if use_scaler else None
    if state is not None:
        try:
            _load_state(state, net, optimizer, scheduler, scaler)
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            problem = (f"its last.pth does not fit this run's model/optimizer ({type(e).__name__}: "
                       f"{str(e).splitlines()[0][:160] if str(e) else ''})")
            if not start_over:
                raise cannot_continue(path, problem) from None
            _start_over(path, problem, verbose)
            state = None
            net, optimizer, scheduler, per_batch = _build(cfg, num_classes, device, channels_last, steps)
    step_fn = torch.compile(net) if cfg.compile else net
    if path is None or not os.path.isdir(path):
        path = new_run_dir(run_dir, run_name or f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}")

    config = {**cfg.to_dict(), "run_dir": path, "device": str(device), "amp_dtype": str(amp_dtype).replace("torch.", "")
              if amp_dtype else "fp32", "channels_last": channels_last, "grad_scaler": use_scaler,
              "num_classes": num_classes, "classes": list(data.classes), "data": data.describe(),
              "torch": torch.__version__, "params": sum(p.numel() for p in net.parameters()),
              "fused_optimizer": bool(optimizer.defaults.get("fused")), "cpu_malloc_tuned": malloc_tuned,
              **device_record(device, amp_dtype, use_scaler)}
    if sampler_note:
        config["sampler"] = sampler_note
    if class_weights is not None:
        config["class_weights"] = class_weights.tolist()
    history, best_acc, best_epoch, start = [], -1.0, 0, 1
    if state is not None:
        _set_rng_state(state["rng"])
        history, best_acc, best_epoch = state["history"], state["best_val_acc"], state["best_epoch"]
        start = state["epoch"] + 1
        if state.get("restore_best"):  # best epoch == last finished epoch: its weights are the state's
            save_model(net, os.path.join(path, "best_model.pth"), cfg.model, cfg.model_kwargs, num_classes=num_classes,
                       epoch=best_epoch, val_acc=best_acc, classes=list(data.classes))
    atomic_write_json(os.path.join(path, "config.json"), config)
    log = _Log(os.path.join(path, "log.txt"), verbose)
    if state is not None:
        log(f"Resuming {path} after epoch {state['epoch']} of {cfg.epochs}")
        if state.get("restore_best"):
            log(f"best_model.pth was missing or unreadable; rewritten from last.pth (epoch {best_epoch}, its best)")
    elif verbose:
        print(f"Run folder: {path} | device {config['gpu'] or device} | precision {config['precision']} | "
              f"channels_last {channels_last}")

    crit = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=cfg.label_smoothing)
    check_every = 1 if device.type == "cpu" else 25
    for epoch in range(start, cfg.epochs + 1):
        lr_now = optimizer.param_groups[0]["lr"]
        log(f"Epoch: {epoch}")
        log(f"learning rate: {_fmt_lr(lr_now)}")
        t0 = time.perf_counter()
        net.train()
        if cfg.freeze_epochs:
            _freeze_backbone(net, frozen=epoch <= cfg.freeze_epochs)
        train_loader.set_epoch(epoch)
        losses, checked = [], 0
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        it = train_loader
        if progress:
            it = tqdm(train_loader, total=steps, desc=f"Epoch {epoch}/{cfg.epochs}", leave=False, mininterval=1.0)
        for step, (x, y) in enumerate(it, 1):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)  # channels_last: the loader's
            with autocast_context(device, amp_dtype):
                out = step_fn(x)
                loss = crit(out.float(), y)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            if per_batch:
                scheduler.step()
            losses.append(loss.detach())
            correct += (out.detach().argmax(1) == y).sum()
            seen += len(y)
            if step % check_every == 0 or step == steps:
                _check_finite(losses, checked, epoch, optimizer, path, best_epoch, log)
                checked = step
        if progress:
            it.close()
        if not per_batch and scheduler is not None:
            scheduler.step()
        train_loss = torch.stack(losses).float().mean().item()
        train_acc = 100.0 * correct.item() / seen
        train_seconds = time.perf_counter() - t0
        val = evaluate(step_fn, val_loader, device, amp_dtype)
        seconds = time.perf_counter() - t0
        rec = {"epoch": epoch, "lr": lr_now, "train_loss": train_loss, "train_acc": train_acc,
               "val_loss": val["loss"], "val_acc": val["acc"], "seconds": round(seconds, 3),
               "train_images_per_s": round(seen / train_seconds, 1)}
        if test_loader is not None:
            test = evaluate(step_fn, test_loader, device, amp_dtype)
            rec["test_loss"], rec["test_acc"] = test["loss"], test["acc"]
        _check_finite_epoch(rec, epoch, path, best_epoch, log)
        history.append(rec)
        log(epoch_line(train_loss, train_acc, val["loss"], val["acc"]))
        if val["acc"] > best_acc:
            best_acc, best_epoch = val["acc"], epoch
            save_model(net, os.path.join(path, "best_model.pth"), cfg.model, cfg.model_kwargs,
                       num_classes=num_classes, epoch=epoch, val_acc=val["acc"], classes=list(data.classes))
        atomic_torch_save({"format": STATE_FORMAT, "epoch": epoch, "model": unwrap(net).state_dict(),
                           "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict() if scheduler is not None else None,
                           "scaler": scaler.state_dict() if scaler is not None else None,
                           "rng": _rng_state(), "history": history, "best_val_acc": best_acc,
                           "best_epoch": best_epoch}, os.path.join(path, "last.pth"))
        atomic_write_json(os.path.join(path, "history.json"), history)
    log("Finished Training")
    return finish_run(path, data, device, amp_dtype, channels_last, cfg.eval_batch_size, verbose, log)


def _build(cfg, num_classes, device, channels_last, steps):
    """A freshly seeded model with its optimizer and scheduler: (net, optimizer, scheduler, per_batch)."""
    seed_everything(cfg.seed)
    net = get_model(cfg.model, num_classes=num_classes, **cfg.model_kwargs).to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    if cfg.freeze_epochs and not any(hasattr(net, h) for h in HEAD_NAMES):
        raise ConfigError(f"freeze_epochs needs a model with a classifier head named one of {HEAD_NAMES}.")
    optimizer = build_optimizer(cfg, net.parameters())
    scheduler, per_batch = build_scheduler(cfg, optimizer, steps)
    return net, optimizer, scheduler, per_batch


def _load_state(state, net, optimizer, scheduler, scaler):
    unwrap(net).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])


def _freeze_backbone(net, frozen):
    """Only the classifier head trains while ``frozen``; everything trains otherwise."""
    head = next(getattr(unwrap(net), h) for h in HEAD_NAMES if hasattr(unwrap(net), h))
    head_params = {id(p) for p in head.parameters()}
    for p in unwrap(net).parameters():
        p.requires_grad_(not frozen or id(p) in head_params)


def _check_finite(losses, start, epoch, optimizer, path, best_epoch, log):
    """Raise NonFiniteLossError if a loss after index ``start`` is NaN/inf (one sync per check)."""
    finite = torch.isfinite(torch.stack(losses[start:]))
    if bool(finite.all()):
        return
    bad = start + int((~finite).nonzero()[0]) + 1
    _stop_diverged(f"training loss became {losses[bad - 1].item()} at epoch {epoch}, step {bad}, learning rate "
                   f"{_fmt_lr(optimizer.param_groups[0]['lr'])}", path, best_epoch, log)


def _check_finite_epoch(rec, epoch, path, best_epoch, log):
    """A finished epoch whose mean training, validation or test loss is NaN/inf diverged: stop before
    anything of it is saved (the best checkpoint, last.pth and history.json stay the earlier epoch's)."""
    for key, what in (("train_loss", "training loss"), ("val_loss", "validation loss"), ("test_loss", "test loss")):
        if key in rec and not math.isfinite(rec[key]):
            _stop_diverged(f"{what} became {rec[key]} at epoch {epoch} (training loss {rec['train_loss']:.4g}), "
                           f"learning rate {_fmt_lr(rec['lr'])}", path, best_epoch, log)


def _stop_diverged(what, path, best_epoch, log):
    kept = (f"the best checkpoint so far (epoch {best_epoch}) is kept in {path}/best_model.pth"
            if best_epoch else "no checkpoint was saved (it diverged in the first epoch)")
    msg = (f"{what}: the run diverged and was stopped; {kept}. "
           f"Fix: lower lr (e.g. by 10x), add a warm-up/one-cycle scheduler, or check the input normalization.")
    log(f"Stopped: {msg}")
    raise NonFiniteLossError(msg)
