"""The one training loop of every lab: ``fit``.

Per epoch it prints the handouts' lines::

    Epoch: 3
    learning rate: 0.01
    Train loss: 1.1234 | Train acc: 60.12% Val loss: 1.0456 | Val acc: 63.40%

keeps the best checkpoint (by validation accuracy), saves the whole training state
after every epoch (so an interrupted run resumes with ``resume=True``), and at the
end reloads the best checkpoint and prints ``Test Accuracy: NN.NN%``.

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

from .checkpoint import (STATE_FORMAT, atomic_torch_save, atomic_write_json, load_model, read_checkpoint,
                         save_model, unwrap)
from .config import TrainConfig, as_bool
from .data import resolve_device
from .errors import CheckpointError, ConfigError, NonFiniteLossError, RunExistsError
from .evaluate import autocast_context, confusion, evaluate, per_class_accuracy
from .models import get_model

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
    """The most recently updated run folder of ``model_name`` in ``run_dir`` (or None)."""
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
                if json.load(f).get("model") != model_name:
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
    return f"{lr:.6g}"


class _Log:
    def __init__(self, path, verbose):
        self.path, self.verbose = path, verbose

    def __call__(self, line):
        if self.verbose:
            print(line, flush=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def fit(model="simplecnn", data=None, *, run_dir="runs", run_name=None, resume=False, progress=True,
        verbose=True, class_weights=None, sampler_note=None, **params):
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
    returned as it is. Without ``resume`` every call gets a new folder.
    """
    unknown = set(params) - set(TrainConfig.field_names())
    if unknown:
        raise ConfigError(f"unknown training parameter(s) {sorted(unknown)}. "
                          f"Valid ones: {', '.join(TrainConfig.field_names())}")
    cfg = TrainConfig(model=model, **params).validate()
    if data is None or not hasattr(data, "loader"):
        raise ConfigError("fit needs data=labkit.load_cifar10(...) (or another data object with .loader()).")
    resume = as_bool("resume", resume)
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

    # ---- run folder: new, or the one being resumed -------------------------------------------
    run_dir = os.fspath(run_dir)
    path, state = None, None
    if resume:
        path = os.path.join(run_dir, run_name) if run_name else latest_run(run_dir, cfg.model)
        if path and os.path.isfile(os.path.join(path, "config.json")):
            with open(os.path.join(path, "config.json")) as f:
                old = json.load(f)
            diff = {k: (old.get(k), cfg.to_dict()[k]) for k in RESUME_KEYS if old.get(k) != cfg.to_dict()[k]}
            now_data = json.loads(json.dumps(data.describe(), default=str))
            if "data" in old and old["data"] != now_data:
                diff.update({f"data {k}": (old["data"].get(k), now_data.get(k))
                             for k in sorted(set(old["data"]) | set(now_data))
                             if old["data"].get(k) != now_data.get(k)})
            if diff:
                raise ConfigError(f"cannot resume {path!r} with other settings: "
                                  + ", ".join(f"{k} was {a!r}, now {b!r}" for k, (a, b) in diff.items())
                                  + ". Use the run's settings, or resume=False for a new run.")
            if os.path.isfile(os.path.join(path, "result.json")):
                if verbose:
                    print(f"Run {path} already finished; loading its result (no training).")
                return load_run(path, device=device)
            if os.path.isfile(os.path.join(path, "last.pth")):
                state = read_checkpoint(os.path.join(path, "last.pth"), "training state")
                if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
                    raise CheckpointError(f"{path}/last.pth is not a labkit training state; delete it to restart.")
        elif path and os.path.isdir(path) and os.listdir(path):
            raise RunExistsError(f"{path!r} exists but holds no labkit run (no config.json); choose another run_name.")
        elif path is None and verbose:
            print(f"resume=True: no earlier '{cfg.model}' run in {run_dir!r}; starting a new one.")
    if path is None or not os.path.isdir(path):
        if run_name and not resume and os.path.exists(os.path.join(run_dir, run_name)):
            raise RunExistsError(
                f"run folder {os.path.join(run_dir, run_name)!r} already exists. Pass resume=True to continue "
                f"(or reload) it, or choose another run_name; labkit never overwrites a run.")
        path = new_run_dir(run_dir, run_name or f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}")

    # ---- model, optimizer, scheduler -----------------------------------------------------------
    seed_everything(cfg.seed)
    net = get_model(cfg.model, num_classes=num_classes, **cfg.model_kwargs)
    net.labkit_name = cfg.model
    net = net.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    train_loader = data.loader("train", cfg.batch_size, shuffle=True, augment=cfg.augment, seed=cfg.seed,
                               channels_last=channels_last)
    val_loader = data.loader("val", cfg.eval_batch_size, shuffle=False, channels_last=channels_last)
    test_loader = (data.loader("test", cfg.eval_batch_size, shuffle=False, channels_last=channels_last)
                   if cfg.track_test else None)
    if cfg.freeze_epochs and not any(hasattr(net, h) for h in HEAD_NAMES):
        raise ConfigError(f"freeze_epochs needs a model with a classifier head named one of {HEAD_NAMES}.")
    steps = len(train_loader)
    if steps == 0:
        raise ConfigError(f"batch_size={cfg.batch_size} leaves no training batch; use a smaller batch_size.")
    optimizer = build_optimizer(cfg, net.parameters())
    scheduler, per_batch = build_scheduler(cfg, optimizer, steps)
    scaler = torch.amp.GradScaler(device.type) if use_scaler else None
    step_fn = torch.compile(net) if cfg.compile else net

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
        try:
            unwrap(net).load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(state["scheduler"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
        except (RuntimeError, KeyError, ValueError) as e:
            raise CheckpointError(f"{path}/last.pth does not match this run's model/optimizer "
                                  f"({type(e).__name__}: {str(e).splitlines()[0][:160]}); delete it to restart.") from None
        _set_rng_state(state["rng"])
        history, best_acc, best_epoch = state["history"], state["best_val_acc"], state["best_epoch"]
        start = state["epoch"] + 1
    atomic_write_json(os.path.join(path, "config.json"), config)
    log = _Log(os.path.join(path, "log.txt"), verbose)
    if state is not None:
        log(f"Resuming {path} after epoch {state['epoch']} of {cfg.epochs}")
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
        history.append(rec)
        log(f"Train loss: {train_loss:.4f} | Train acc: {train_acc:.2f}% "
            f"Val loss: {val['loss']:.4f} | Val acc: {val['acc']:.2f}%")
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
    kept = (f"the best checkpoint so far (epoch {best_epoch}) is kept in {path}/best_model.pth"
            if best_epoch else "no checkpoint was saved yet (it diverged in the first epoch)")
    msg = (f"training loss became {losses[bad - 1].item()} at epoch {epoch}, step {bad}, learning rate "
           f"{_fmt_lr(optimizer.param_groups[0]['lr'])}: the run diverged and was stopped; {kept}. "
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
    with open(os.path.join(path, "history.json")) as f:
        history = json.load(f)
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
    """A finished (or interrupted) run folder as a RunResult, with its best model loaded."""
    def _read(name, default=None):
        p = os.path.join(path, name)
        if not os.path.isfile(p):
            return default
        with open(p, encoding="utf-8") as f:
            return json.load(f)

    cfg = _read("config.json", {})
    hist = _read("history.json", [])
    res = _read("result.json", {})
    if model is None and os.path.isfile(os.path.join(path, "best_model.pth")):
        model = load_model(os.path.join(path, "best_model.pth"), device=device)
    elif model is False:  # caller only wants the numbers
        model = None
    best = max(hist, key=lambda h: h["val_acc"]) if hist else {"val_acc": float("nan"), "epoch": 0}
    return RunResult(run_dir=path, history=hist, test_acc=res.get("test_acc", float("nan")),
                     test_loss=res.get("test_loss", float("nan")), best_val_acc=best["val_acc"],
                     best_epoch=best["epoch"], config=cfg, per_class=res.get("per_class", {}),
                     confusion_matrix=res.get("confusion_matrix"), model=model)
