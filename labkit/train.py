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
import json
import math
import os
import random
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import (STATE_FORMAT, atomic_torch_save, atomic_write_json, load_model,
                         save_model, unwrap)
from .config import TrainConfig, as_bool
from .data import resolve_device
from .errors import CheckpointError, ConfigError, NonFiniteLossError, RunExistsError
from .evaluate import autocast_context, confusion, evaluate, per_class_accuracy
from .models import get_model
from .resume import (EARNED, cannot_continue, check_run_location, continue_problem, find_resume_path, read_history,
                     read_json_file, set_aside)

# Hyper-parameters that must match for a run to be resumed.
RESUME_KEYS = ("model", "epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov", "weight_decay",
               "scheduler", "milestones", "gamma", "step_size", "label_smoothing", "augment", "seed", "model_kwargs",
               "freeze_epochs")
HEAD_NAMES = ("fc", "linear", "classifier", "head")


@dataclass
class RunResult:
    run_dir: str
    history: list
    test_acc: float
    test_loss: float
    best_val_acc: float
    best_epoch: int
    config: dict
    per_class: dict = field(default_factory=dict)
    confusion_matrix: list = None
    model: nn.Module = None

    def summary(self):
        return {"run": os.path.basename(self.run_dir), "model": self.config.get("model"),
                "epochs": len(self.history), "best_val_acc": self.best_val_acc, "best_epoch": self.best_epoch,
                "test_acc": self.test_acc,
                "train_seconds": round(sum(h["seconds"] for h in self.history), 1)}


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def cuda_native_bf16(device):
    """True where the GPU computes bf16 natively: compute capability >= 8.0 (A100, L4, H100...).
    Not torch.cuda.is_bf16_supported(): it is also True on a T4 (7.5), where bf16 is emulated and
    cuDNN has no bf16 convolutions (slow fallback kernels or failures)."""
    return tuple(torch.cuda.get_device_capability(device)) >= (8, 0)


def resolve_amp(amp, device):
    """The autocast dtype (None for fp32) and whether a GradScaler is needed. ``auto`` on a GPU:
    bf16 at compute capability >= 8.0, else fp16 with a GradScaler (T4, V100, P100)."""
    if amp == "off":
        return None, False
    if device.type == "cuda":
        if amp == "fp16" or (amp == "auto" and not cuda_native_bf16(device)):
            return torch.float16, True
        if amp == "bf16" and not cuda_native_bf16(device):
            warnings.warn(f"amp='bf16' on {torch.cuda.get_device_name(device)} (compute capability < 8.0): bf16 is "
                          f"emulated there and slow; amp='auto' picks fp16 with a grad scaler.", stacklevel=3)
        return torch.bfloat16, False
    if amp == "fp16":
        raise ConfigError("amp='fp16' is for CUDA GPUs; on the CPU use amp='bf16' or 'off'.")
    if amp == "bf16" or (amp == "auto" and cpu_has_fast_bf16()):
        return torch.bfloat16, False
    return None, False


def precision_label(amp_dtype, use_scaler):
    """'bf16', 'fp16 + GradScaler' or 'fp32': what a run trains in (printed and in config.json)."""
    name = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(amp_dtype, "fp32")
    return name + (" + GradScaler" if use_scaler else "")


def device_record(device, amp_dtype, use_scaler):
    """GPU name and compute capability (None on the CPU) and the precision, for config.json and setup."""
    rec = {"gpu": None, "gpu_capability": None, "precision": precision_label(amp_dtype, use_scaler)}
    if device.type == "cuda":
        rec.update(gpu=torch.cuda.get_device_name(device),
                   gpu_capability="{}.{}".format(*torch.cuda.get_device_capability(device)))
    return rec


def auto_channels_last(device):
    """channels_last where it pays: CUDA (tensor-core convolutions) and CPUs with oneDNN. Measured on
    the 2-core AVX-512-bf16 CPU (train step, batch 128, 1 thread): simplecnn 88 -> 54 ms fp32 and
    61 -> 35 ms bf16, resnet20 292 -> 225 / 163 -> 155 ms, resnet18 3.07 -> 2.55 s / 1.41 -> 1.26 s."""
    return device.type == "cuda" or (device.type == "cpu" and torch.backends.mkldnn.is_available())


_MALLOC_TUNED = None


def tune_cpu_allocator():
    """Let glibc keep freed memory for reuse (once per process); True if done.

    With glibc's defaults every large block (a batch's activations) goes back to the OS when freed,
    so each CPU training step page-faults tens of MB in again: 1.5 million minor faults per ResNet18
    epoch of the subset, ~9% of its time on 2 cores. These are the settings MALLOC_MMAP_THRESHOLD_ /
    MALLOC_TRIM_THRESHOLD_ would make (the process keeps its peak memory). Not done without glibc,
    when those variables are set, or with LABKIT_TUNE_MALLOC=0."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED is None:
        _MALLOC_TUNED = False
        env = os.environ
        if env.get("LABKIT_TUNE_MALLOC", "1") != "0" and not (env.get("MALLOC_MMAP_THRESHOLD_")
                                                               or env.get("MALLOC_TRIM_THRESHOLD_")):
            try:
                if (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
                    import ctypes

                    libc = ctypes.CDLL("libc.so.6")
                    m_trim_threshold, m_mmap_threshold = -1, -3
                    _MALLOC_TUNED = bool(libc.mallopt(m_mmap_threshold, 256 << 20)) and bool(
                        libc.mallopt(m_trim_threshold, 1 << 30))
            except (AttributeError, OSError, ValueError):
                pass
    return _MALLOC_TUNED


def cpu_has_fast_bf16():
    """True on CPUs with native bf16 arithmetic (AVX512-BF16 or AMX), where bf16 autocast pays."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


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


def new_run_dir(run_dir, name):
    """A fresh, unique folder ``run_dir/name[-k]`` (never an existing run's)."""
    os.makedirs(run_dir, exist_ok=True)
    for k in range(1, 10000):
        path = os.path.join(run_dir, name if k == 1 else f"{name}-{k}")
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            continue
    raise RunExistsError(f"could not find a free run folder for {name!r} in {run_dir!r}")


def latest_run(run_dir, model_name):
    """The most recently updated run folder of ``model_name`` (a registry name, or several) in
    ``run_dir`` (or None)."""
    names = {model_name} if isinstance(model_name, str) else set(model_name)
    if not os.path.isdir(run_dir):
        return None
    best = None
    for d in os.listdir(run_dir):
        path = os.path.join(run_dir, d)
        cfg = os.path.join(path, "config.json")
        if not os.path.isfile(cfg):
            continue
        try:
            with open(cfg) as f:
                if json.load(f).get("model") not in names:
                    continue
        except (OSError, ValueError):
            continue
        t = max(os.path.getmtime(os.path.join(path, f)) for f in os.listdir(path))
        if best is None or t > best[0]:
            best = (t, path)
    return best and best[1]


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


def replay_log(path):
    """Print a finished run's training lines from its log.txt (what it printed while training), so a
    notebook that reloads the run shows the same prints as one that trained it."""
    log = os.path.join(path, "log.txt")
    if not os.path.isfile(log):
        return False
    with open(log, encoding="utf-8") as f:
        print(f.read().rstrip("\n"), flush=True)
    return True


class _Log:
    def __init__(self, path, verbose):
        self.path, self.verbose = path, verbose

    def __call__(self, line):
        if self.verbose:
            print(line, flush=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


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
            from tqdm.auto import tqdm

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


def _pick_run(cfg, data, run_dir, run_name, resume, start_over, verbose):
    """(path, state): the run folder to resume and its training state ("finished", a state dict, or
    None to start at epoch 1), or (None, None) for a new folder made later. Changes no file unless
    ``start_over`` sets a run's files aside."""
    if not resume:
        if run_name and os.path.exists(os.path.join(run_dir, run_name)):
            raise RunExistsError(
                f"run folder {os.path.join(run_dir, run_name)!r} already exists. Pass resume=True to continue "
                f"(or reload) it, or choose another run_name; labkit never overwrites a run.")
        return None, None
    path = find_resume_path(run_dir, run_name, cfg.model, start_over, latest_run)
    if path and os.path.isdir(path):
        return path, _resume_state(path, cfg, data, start_over, verbose)
    if verbose:
        print(f"start_over=True: no run {path or cfg.model!r} to resume in {run_dir!r}; starting a new one.")
    return path, None


def _resume_state(path, cfg, data, start_over, verbose):
    """For resume=True on the existing folder ``path``: "finished", the training state to continue
    from, or None (start at epoch 1 there: nothing was earned, or start_over set the files aside)."""
    labkit_files = [f for f in ("config.json", "last.pth", "log.txt") + EARNED if os.path.isfile(os.path.join(path, f))]
    if not labkit_files:
        if os.listdir(path):
            raise RunExistsError(f"{path!r} exists but holds no labkit run (no config.json); choose another run_name.")
        return None
    try:
        old = read_json_file(os.path.join(path, "config.json"), "run settings", "")
        problem = None if old is not None else "its config.json (the run's settings) is missing"
    except CheckpointError:
        old, problem = None, "its config.json (the run's settings) is not valid JSON"
    if old is not None:
        _check_same_settings(path, old, cfg, data)
        if os.path.isfile(os.path.join(path, "result.json")):
            return "finished"
        state, problem = continue_problem(path)
        if problem is None:
            if state is None and verbose:
                print(f"resume=True: no epoch of {path} had finished; starting it at epoch 1.")
            return state
    if not start_over:
        raise cannot_continue(path, problem)
    _start_over(path, problem, verbose)
    return None


def _start_over(path, problem, verbose):
    moved = set_aside(path)
    if verbose:
        print(f"start_over=True: {path} could not continue ({problem}); its files are now in {moved}. "
              f"Training it again from epoch 1.")


def _check_same_settings(path, old, cfg, data):
    """ConfigError listing every setting (and data split value) that differs from the run's."""
    now = cfg.to_dict()
    diff = {k: (old.get(k), now[k]) for k in RESUME_KEYS if old.get(k) != now[k]}
    now_data = json.loads(json.dumps(data.describe(), default=str))
    if "data" in old and old["data"] != now_data:
        diff.update({f"data {k}": (old["data"].get(k), now_data.get(k))
                     for k in sorted(set(old["data"]) | set(now_data)) if old["data"].get(k) != now_data.get(k)})
    if diff:
        raise ConfigError(f"cannot resume {path!r} with other settings: "
                          + ", ".join(f"{k} was {a!r}, now {b!r}" for k, (a, b) in diff.items())
                          + ". Use the run's settings, or resume=False for a new run.")


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


def finish_run(path, data, device, amp_dtype, channels_last, eval_batch_size, verbose=True, log=print):
    """Reload the best checkpoint, measure the test set, write result.json, return a RunResult."""
    model = load_model(os.path.join(path, "best_model.pth"), device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    test = evaluate(model, data.loader("test", eval_batch_size, shuffle=False, channels_last=channels_last),
                    device, amp_dtype, return_preds=True)
    cm = confusion(test["targets"], test["preds"], len(data.classes))
    history, _ = read_history(path)
    best = max(history, key=lambda h: h["val_acc"])
    result = {"test_acc": test["acc"], "test_loss": test["loss"], "n_test": test["n"],
              "best_val_acc": best["val_acc"], "best_epoch": best["epoch"],
              "per_class": per_class_accuracy(cm, data.classes), "confusion_matrix": cm.tolist(),
              "classes": list(data.classes)}
    atomic_write_json(os.path.join(path, "result.json"), result)
    log(f"Test Accuracy: {test['acc']:.2f}%")
    res = load_run(path, model=model)
    return res


def load_run(path, device="cpu", model=None):
    """A finished (or interrupted) run folder as a RunResult, with its best model loaded.

    The history comes from history.json, or where that is missing or unreadable from last.pth."""
    path = os.fspath(path)
    if not os.path.isdir(path) or not any(os.path.isfile(os.path.join(path, f))
                                          for f in ("config.json", "last.pth") + EARNED):
        raise ConfigError(f"{path!r} is not a run folder (a folder fit wrote, with config.json, history.json, "
                          f"best_model.pth...). Pass run_dir/run_name of a run, e.g. run.run_dir.")
    cfg = read_json_file(os.path.join(path, "config.json"), "run settings",
                         "The run's settings are lost; its checkpoints and result.json are intact.") or {}
    res = read_json_file(os.path.join(path, "result.json"), "run result",
                         "Delete it and run fit again with resume=True and the run's settings: the test set is "
                         "measured again from best_model.pth, without training.") or {}
    hist, _ = read_history(path)
    if model is None and os.path.isfile(os.path.join(path, "best_model.pth")):
        model = load_model(os.path.join(path, "best_model.pth"), device=device)
    elif model is False:  # caller only wants the numbers
        model = None
    best = (max(hist, key=lambda h: h["val_acc"]) if hist else
            {"val_acc": res.get("best_val_acc", float("nan")), "epoch": res.get("best_epoch", 0)})
    return RunResult(run_dir=path, history=hist, test_acc=res.get("test_acc", float("nan")),
                     test_loss=res.get("test_loss", float("nan")), best_val_acc=best["val_acc"],
                     best_epoch=best["epoch"], config=cfg, per_class=res.get("per_class", {}),
                     confusion_matrix=res.get("confusion_matrix"), model=model)
