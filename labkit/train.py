"""The one training loop of every lab: ``fit`` → ``run_epoch`` → ``train_epoch`` → ``one_batch``.

``fit`` shows the whole life of a run, in order: the settings checked, the run folder opened (or the run to
continue found, locked and checked), the training parts built (and a resumed run's state loaded into
them), the epochs (each committed to the folder), a stop on a non-finite loss, the final test of the best
checkpoint, the result. Per epoch it prints the handouts' lines::

    Epoch: 3
    learning rate: 0.01
    Train loss: 1.123 | Train acc: 0.601 Val loss: 1.046 | Val acc: 0.634

(the Lab2 handout's format: losses and accuracies as fractions to 3 decimals, the learning rate to 3
significant digits; history.json keeps full precision), and at the end ``Finished Training`` and ``Test
Accuracy: NN.NN%``. Where the run's files go, how each epoch is committed and whether a run can continue:
:mod:`labkit.runs`; the device and precision: :mod:`labkit.device`.
"""
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
try:  # tqdm's notebook bar needs ipywidgets; without it that bar only warns (IProgress not found): use the text bar
    import ipywidgets  # noqa: F401
    from tqdm.auto import tqdm
except ImportError:
    from tqdm import tqdm

from ._version import __version__
from .config import TrainConfig, as_bool, check_run_location
from .device import autocast_context, choose_placement, device_record, to_device
from .errors import ConfigError, NonFiniteLossError
from .evaluate import confusion, evaluate, per_class_accuracy
from .files import STATE_FORMAT, jsonable, shown_path
from .live import LiveCurves
from .models import get_model, load_model, unwrap
from .rng import rng_state, seed_everything, set_rng_state
from .runs import RunFolder, best_entry, load_run
from .schedule import build_optimizer, build_scheduler, step_schedule
from .teacher import Teacher, cache_teacher, check_teacher, distilled, load_teacher
from .timing import check_colab_cpu_run

HEAD_NAMES = ("fc", "linear", "classifier", "head")
DIVERGED_FIX = "Fix: lower lr (e.g. by 10x), add a warm-up/one-cycle scheduler, or check the input normalization."


def fit(model="simplecnn", data=None, *, run_dir="runs", run_name=None, resume=False, start_over=False,
        progress=True, verbose=True, class_weights=None, **params):
    """Train ``model`` (a registry name) on ``data`` and return a :class:`RunResult`.

    ``data``: a :class:`labkit.data.CifarData` (``load_cifar10``) or any object with the same
    ``loader(split, batch_size, shuffle=, augment=, seed=, epoch=, channels_last=)``,
    ``classes`` and ``describe()``. Hyper-parameters: the settings of :class:`labkit.config.TrainConfig`,
    each declared there once with its meaning, unit and default.

    ``track_test=True`` also measures the test set after every epoch (``test_loss``/``test_acc`` in
    the history, for curves such as the ResNet paper's test error; with ``test_flip`` measured as the
    final test is); model selection still uses the validation set only. ``freeze_epochs=k`` trains
    only the classifier head (``fc``/``linear``/``classifier``) for the first k epochs (transfer learning).

    ``resume=True`` continues the run in ``run_dir/run_name`` (or, without ``run_name``, this model's latest
    interrupted run in ``run_dir``, else its latest run) from its last finished epoch; a finished run is
    returned as it is. Without ``resume`` every call gets a new folder. A resume continues from the newest
    whole training state the folder holds (on Google Drive, whatever a disconnect let reach the cloud); with
    none it moves what the folder held into ``earlier-1/`` and starts at epoch 1. A resume that finds no such
    run, or a state that does not fit the model, stops with the fix and changes nothing; ``start_over=True``
    (with ``resume=True``) then starts it from epoch 1 in the same folder, after the same move.
    A run another process is training is refused (:class:`labkit.RunBusyError`). An epoch whose loss is NaN/inf
    (training, validation or tracked test) stops the run before anything of it is saved (NonFiniteLossError).
    """
    cfg, place, weights, teacher = _settings(model, data, class_weights, params)
    run_dir, run_name, resume, start_over = _check_call(data, run_dir, run_name, resume, start_over)
    with RunFolder.open(cfg, data, run_dir, run_name, resume, start_over, verbose) as folder:
        folder.recover()  # a resumed run's files made to agree with its last committed epoch
        if folder.finished:
            return folder.reload(place.device)  # a finished run needs no teacher
        check_teacher(teacher, data)  # before any folder is made
        loaders = _loaders(cfg, data, place.channels_last)
        parts = build_parts(cfg, len(data.classes), place, len(loaders["train"]), weights)
        so_far = resume_into(parts, folder, start_over)  # a resumed run's saved state loaded into the parts
        if so_far is None:  # its state did not fit the model and start_over set it aside: epoch 1, fresh parts
            parts, so_far = build_parts(cfg, len(data.classes), place, len(loaders["train"]), weights), SoFar([])
        parts.forward = torch.compile(parts.net) if cfg.compile else parts.net
        check_colab_cpu_run(parts, one_batch, data, cfg, place, cfg.epochs - so_far.epochs, run_dir)  # > 1 h: stop
        folder.create(run_dir, run_name or f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}", exact=bool(run_name))
        record = _run_record(cfg, data, place, parts, folder.path, so_far.started)
        if not folder.begin(record, cfg.epochs) and verbose:
            print(f"Run folder: {shown_path(folder.path)} | {place.describe(record)}")
        cache_teacher(parts, loaders["train"], cfg.augment)  # flips or none: the teacher's two views, run once
        try:
            for epoch in range(so_far.epochs + 1, cfg.epochs + 1):
                rec = run_epoch(parts, loaders, epoch, cfg, folder.log, progress)
                new_best = so_far.add(rec)
                folder.commit_epoch(training_state(parts, so_far, record, folder.log_size()),
                                    parts.net if new_best else None)
        except NonFiniteLossError as e:
            folder.record_stop(stopped := _stop_message(e, so_far, folder))
            raise NonFiniteLossError(stopped) from None
        folder.log("Finished Training")
        test = final_test(folder.best_model_path, data, place, cfg)
        lines = [f"{'Test-time augmentation' if cfg.test_shift else 'Test-time flips'}: each test image's prediction "
                 f"averages {tta_description(cfg)}"] if cfg.test_flip or cfg.test_shift else []
        folder.finish({**test["result"], "epochs": len(so_far.history), "best_val_acc": so_far.best_val_acc,
                       "best_epoch": so_far.best_epoch}, lines + [f"Test Accuracy: {test['result']['test_acc']:.2f}%"])
        return load_run(folder.path, model=test["model"])


def check_resume(model="simplecnn", data=None, *, run_dir="runs", run_name=None, resume=False, start_over=False,
                 verbose=True, class_weights=None, teacher_plan=None, progress=None, **params):
    """What :func:`fit` with the same arguments would find, checked without training or reading a teacher:
    "finished" (fit reloads it), "continue" (a run to resume), "new"; the refusals fit would make are raised
    (nothing changed). ``teacher_plan``: the record of a teacher still to train (task 1's ``teacher_model``:
    model, epochs, seed, data digest), compared with the teacher the run recorded, so that a student that
    cannot resume is refused before its teacher trains (:func:`labkit.presets.fit_with_teacher`)."""
    cfg, place, weights, teacher = _settings(model, data, class_weights, params, teacher_plan)
    run_dir, run_name, resume, start_over = _check_call(data, run_dir, run_name, resume, start_over)
    if not resume:
        return "new"
    with RunFolder.open(cfg, data, run_dir, run_name, resume, start_over, verbose) as folder:
        return "finished" if folder.finished else "continue" if folder.state is not None else "new"


@dataclass
class SoFar:
    """What a run has done: its finished epochs' history, its best epoch, when it started."""

    history: list
    best_val_acc: float = -1.0
    best_epoch: int = 0
    started: float = None
    live: object = None  # labkit.live.LiveCurves: the curves redrawn in a notebook a person watches

    def __post_init__(self):
        self.started = time.time() if self.started is None else self.started

    @property
    def epochs(self):
        return len(self.history)

    def add(self, rec):
        """A finished epoch; True if it is the best so far (labkit.runs.best_entry: by validation accuracy, the first
        of equals; with no validation split every epoch, so the last is kept). In Jupyter or Colab the live curves
        are redrawn (labkit.live: off under papermill and headless)."""
        self.history.append(rec)
        self.live = self.live or LiveCurves.start()
        if self.live:
            self.live.update(self.history)
        if best_entry(self.history) is rec:  # the one rule the reload and the finished-run check read back
            self.best_val_acc, self.best_epoch = rec["val_acc"], rec["epoch"]
            return True
        return False


def _stop_message(error, so_far, folder):
    """The 'Stopped:' line of a diverged run: where, what is kept, the fix."""
    kept = (f"the best checkpoint so far (epoch {so_far.best_epoch}) is kept in {folder.best_model_path}"
            if so_far.best_epoch else "no checkpoint was saved (it diverged in the first epoch)")
    return f"{error}: the run diverged and was stopped; {kept}. {DIVERGED_FIX}"


def training_state(parts, so_far, record, log_bytes):
    """last.pth: everything an exact resume needs, the record of what ran and how long log.txt was."""
    return {"format": STATE_FORMAT, "epoch": so_far.epochs, "model": unwrap(parts.net).state_dict(),
            "optimizer": parts.optimizer.state_dict(),
            "scheduler": parts.scheduler.state_dict() if parts.scheduler is not None else None,
            "scaler": parts.scaler.state_dict() if parts.scaler is not None else None,
            "rng": rng_state(), "history": so_far.history, "best_val_acc": so_far.best_val_acc,
            "best_epoch": so_far.best_epoch, "config": jsonable(record), "log_bytes": log_bytes}


def final_test(best_path, data, place, cfg):
    """The best checkpoint on the test set (``cfg.test_flip``: with test-time flips): {"model", "result":
    test accuracy and loss, per-class accuracy, confusion matrix}."""
    model = load_model(best_path, device=place.device)
    if place.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loader = data.loader("test", cfg.eval_batch(_input_size(data)), shuffle=False, channels_last=place.channels_last)
    test = evaluate(model, loader, place.device, place.amp_dtype, return_preds=True, flip=cfg.test_flip,
                    channels_last=place.channels_last, shift=cfg.test_shift)
    cm = confusion(test["targets"], test["preds"], len(data.classes))
    return {"model": model, "result": {"test_acc": test["acc"], "test_loss": test["loss"], "n_test": test["n"],
                                       "per_class": per_class_accuracy(cm, data.classes),
                                       "confusion_matrix": cm.tolist(), "classes": list(data.classes),
                                       "test_flip": cfg.test_flip, "test_shift": cfg.test_shift}}


def tta_description(cfg):
    """The views the test accuracy averages, in words (the log's line)."""
    moved = f"its copies moved by {cfg.test_shift} pixel{'s' * (cfg.test_shift > 1)} up, down, left and right"
    if cfg.test_flip and cfg.test_shift:
        return f"it, {moved}, and the mirror image of each (10 views)"
    return f"it and {moved} (5 views)" if cfg.test_shift else "it and its mirror image"


def run_epoch(parts, loaders, epoch, cfg, log, progress=False):
    """One epoch: its two header lines, training on every batch, the validation (and tracked test)
    set; returns the history record and logs the handout's line. ``log(line)`` prints and keeps a line.
    A NaN/inf loss raises NonFiniteLossError."""
    lr_now = parts.optimizer.param_groups[0]["lr"]
    log(f"Epoch: {epoch}")
    log(f"learning rate: {_fmt_lr(lr_now)}")
    t0 = time.perf_counter()
    parts.net.train()
    if cfg.freeze_epochs:
        _freeze_backbone(parts.net, frozen=epoch <= cfg.freeze_epochs)
    bar = tqdm(total=len(loaders["train"]), desc=f"Epoch {epoch}/{cfg.epochs}", leave=False,
               mininterval=1.0) if progress else None
    train_loss, train_acc, seen = train_epoch(parts, loaders["train"], epoch, bar)
    train_seconds = time.perf_counter() - t0
    val = evaluate(parts.forward, loaders["val"], parts.device, parts.amp_dtype, channels_last=parts.channels_last) \
        if loaders["val"] is not None else {"loss": None, "acc": None}  # val_ratio=0: no validation split
    rec = {"epoch": epoch, "lr": lr_now, "train_loss": train_loss, "train_acc": train_acc,
           "val_loss": val["loss"], "val_acc": val["acc"], "seconds": round(time.perf_counter() - t0, 3),
           "train_images_per_s": round(seen / train_seconds, 1), "machine": parts.machine}
    if loaders["test"] is not None:
        test = evaluate(parts.forward, loaders["test"], parts.device, parts.amp_dtype, flip=cfg.test_flip,
                        channels_last=parts.channels_last, shift=cfg.test_shift)
        rec["test_loss"], rec["test_acc"] = test["loss"], test["acc"]
    _check_finite_epoch(rec)
    log(epoch_line(train_loss, train_acc, val["loss"], val["acc"]))
    return rec


def train_epoch(parts, loader, epoch, bar=None):
    """Every batch of one epoch through :func:`one_batch`: (mean loss, accuracy %, images seen). The
    losses are checked for NaN/inf every ``parts.check_every`` steps (one device sync per check)."""
    loader.set_epoch(epoch)
    losses, correct, seen, checked = [], torch.zeros((), device=parts.device, dtype=torch.long), 0, 0
    for step, (x, y, *taught) in enumerate(loader, 1):  # taught: the cached teacher's outputs (cache_teacher)
        x, y = to_device(x, y, parts.device, parts.channels_last)
        loss, out = one_batch(parts, x, y, *taught)
        losses.append(loss)
        correct += (out.argmax(1) == y).sum()
        seen += len(y)
        if step % parts.check_every == 0 or step == len(loader):
            _check_finite(losses, checked, epoch, parts.optimizer)
            checked = step
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    if not parts.per_batch and parts.scheduler is not None:
        step_schedule(parts)
    return torch.stack(losses).float().mean().item(), 100.0 * correct.item() / seen, seen


def one_batch(parts, x, y, taught=None):
    """One optimizer step: forward in the run's precision, loss, backward, update; (loss, logits), detached.
    The loss returned is the label loss, comparable with the validation loss, also when distillation adds
    the teacher's term to what is minimized (``taught``: the teacher's outputs for ``x`` when cached)."""
    with autocast_context(parts.device, parts.amp_dtype):
        out = parts.forward(x)
        loss = parts.criterion(out.float(), y)
        # knowledge distillation: also match the teacher's softened predictions
        objective = loss if parts.teacher is None else distilled(loss, out, x, parts, taught)
    parts.optimizer.zero_grad(set_to_none=True)
    if parts.scaler is not None:  # fp16: scale the loss so small gradients do not underflow
        parts.scaler.scale(objective).backward()
        parts.scaler.step(parts.optimizer)
        parts.scaler.update()
    else:
        objective.backward()
        parts.optimizer.step()
    if parts.per_batch:
        step_schedule(parts)
    return loss.detach(), out.detach()


@dataclass
class TrainingParts:
    """What a training step needs: the model (``forward``: it, or its torch.compile'd form), the loss,
    the optimizer and its schedule (stepped per batch or per epoch), the fp16 grad scaler (or None)."""

    net: nn.Module
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    per_batch: bool
    scaler: object
    device: torch.device
    amp_dtype: object
    channels_last: bool = False
    forward: object = None
    teacher: nn.Module = None   # knowledge distillation: a frozen model, in eval mode
    distill: tuple = (0.0, 1.0)  # its (alpha, temperature)
    machine: str = ""           # where and in what precision the epochs run: a resume may go on elsewhere

    @property
    def check_every(self):
        return 1 if self.device.type == "cpu" else 25  # on a GPU each NaN check is a sync: check every 25 steps


def build_parts(cfg, num_classes, place, steps, class_weights=None):
    """A freshly seeded model with its loss, optimizer, schedule and scaler."""
    seed_everything(cfg.seed)
    net = get_model(cfg.model, num_classes=num_classes, **cfg.model_kwargs).to(place.device)
    if place.channels_last:
        net = net.to(memory_format=torch.channels_last)
    if cfg.freeze_epochs and not any(hasattr(net, h) for h in HEAD_NAMES):
        raise ConfigError(f"freeze_epochs needs a model with a classifier head named one of {HEAD_NAMES}.")
    optimizer = build_optimizer(cfg, net.parameters(), scaled=place.use_scaler)
    scheduler, per_batch = build_scheduler(cfg, optimizer, steps)
    return TrainingParts(net, nn.CrossEntropyLoss(weight=class_weights, label_smoothing=cfg.label_smoothing),
                         optimizer, scheduler, per_batch,
                         torch.amp.GradScaler(place.device.type) if place.use_scaler else None,
                         place.device, place.amp_dtype, place.channels_last, teacher=load_teacher(cfg.teacher, place),
                         distill=(cfg.distill_alpha, cfg.distill_temperature), machine=place.machine)


def _fmt_lr(lr):
    """A learning rate as a person writes it: 3 significant digits, no trailing zeros, no exponent
    below 1000 (0.03, 0.00611, 0.00001; a diverging 1e+08 keeps its exponent)."""
    lr = float(f"{float(lr):.3g}")
    return f"{lr:g}" if lr >= 1000 else np.format_float_positional(lr, trim="-")


def epoch_line(train_loss, train_acc, val_loss, val_acc):
    """The handout's per-epoch line (accuracies in %, printed as fractions); without a validation split
    (``val_ratio=0``) it says so in place of the validation figures."""
    val = ("Val: none (val_ratio=0: every training image trains; the last epoch is the model)" if val_loss is None
           else f"Val loss: {val_loss:.3f} | Val acc: {val_acc / 100:.3f}")
    return f"Train loss: {train_loss:.3f} | Train acc: {train_acc / 100:.3f} {val}"


# ---- fit's checks and set-up, in the order fit calls them -----------------------------------------
def _settings(model, data, class_weights, params, teacher_plan=None):
    """(cfg, placement, loss weights, teacher): the call's settings checked, with what fit records beyond the
    parameters (the loss weights, the teacher as what it is) put into cfg, before any folder or data."""
    cfg = TrainConfig.of_call(model, params)  # model: a registry name or checked settings (a TrainConfig)
    if data is None or not hasattr(data, "loader"):
        raise ConfigError("fit needs data=labkit.load_cifar10(...) (or another data object with .loader()).")
    place = choose_placement(cfg.device, cfg.amp, cfg.channels_last)
    weights = _loss_weights(class_weights, data, place.device)
    teacher = Teacher.find(cfg.teacher)
    record = teacher_plan if teacher_plan is not None else teacher.record if teacher else None
    cfg.record_call(weights.tolist() if weights is not None else None, record)
    return cfg, place, weights, teacher


def _check_call(data, run_dir, run_name, resume, start_over):
    resume, start_over = as_bool("resume", resume), as_bool("start_over", start_over)
    if start_over and not resume:
        raise ConfigError("start_over=True restarts a run that resume=True cannot find or continue: pass "
                          "resume=True with it (or neither, for a new run folder).")
    return (*check_run_location(run_dir, run_name), resume, start_over)


def _loss_weights(class_weights, data, device):
    """Per-class loss weights (given, or asked for by the data: ImageFolderData(imbalance="class_weights"))."""
    if class_weights is None:
        class_weights = getattr(data, "loss_class_weights", None)
    if class_weights is None:
        return None
    try:
        weights = torch.as_tensor(class_weights, dtype=torch.float32, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(f"class_weights must be one number per class ({len(data.classes)}), got "
                          f"{class_weights!r}") from None
    if weights.shape != (len(data.classes),):
        raise ConfigError(f"class_weights needs one weight per class ({len(data.classes)}), got {tuple(weights.shape)}")
    if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()) or not bool((weights > 0).any()):
        raise ConfigError(f"class_weights must be finite numbers >= 0, not all 0, got {weights.tolist()}")
    return weights


def _input_size(data):
    return getattr(data, "input_size", 32)


def _loaders(cfg, data, channels_last):
    """The train, val and (with track_test) test loaders; a ConfigError when a split gives no batch, or a batch
    larger than the training set (one step an epoch: the schedule would barely move)."""
    eval_batch = cfg.eval_batch(_input_size(data))
    loaders = {"train": data.loader("train", cfg.batch_size, shuffle=True, augment=cfg.augment, seed=cfg.seed,
                                    channels_last=channels_last),
               "val": data.loader("val", eval_batch, shuffle=False, channels_last=channels_last),
               "test": data.loader("test", eval_batch, shuffle=False, channels_last=channels_last)
               if cfg.track_test else None}
    n_train = data.describe().get("train")
    if isinstance(n_train, int) and 0 < n_train < cfg.batch_size:
        raise ConfigError(f"batch_size={cfg.batch_size} is larger than the {n_train} training images: every epoch "
                          f"would be one step. Use batch_size <= {n_train} (e.g. {min(128, n_train)}), or more "
                          f"images (limit=None).")
    if len(loaders["train"]) == 0:
        raise ConfigError(f"batch_size={cfg.batch_size} leaves no training batch; use a smaller batch_size.")
    if len(loaders["val"]) == 0:  # val_ratio=0: no model selection, the last epoch is the model (best_entry)
        loaders["val"] = None
    return loaders


def resume_into(parts, folder, start_over):
    """What the run has done so far, with a resumed run's saved state loaded into ``parts`` (its random state
    restored last, so the next epoch draws what it would have drawn). None when the state does not fit the
    model and ``start_over`` set it aside (otherwise that stops the call: nothing changed)."""
    st = folder.state
    if st is None:
        return SoFar([])
    if st.get("model") is None:  # a finished run whose test is measured again: nothing to load
        return SoFar(list(st["history"]), st["best_val_acc"], st["best_epoch"], (st.get("config") or {}).get("started"))
    try:
        _restore_parts(st, parts)
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        folder.cannot_restore(f"its last.pth does not fit this run's model/optimizer ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:160] if str(e) else ''})", start_over)
        return None
    set_rng_state(st["rng"])
    return SoFar(list(st["history"]), st["best_val_acc"], st["best_epoch"], (st.get("config") or {}).get("started"))


def _restore_parts(state, parts):
    unwrap(parts.net).load_state_dict(state["model"])
    parts.optimizer.load_state_dict(state["optimizer"])
    if parts.scheduler is not None:
        parts.scheduler.load_state_dict(state["scheduler"])
    if parts.scaler is not None and state.get("scaler"):
        parts.scaler.load_state_dict(state["scaler"])


def _run_record(cfg, data, place, parts, path, started):
    """config.json: every setting, where and in what precision it ran, the data, the model's size, when it
    started."""
    config = {**cfg.to_dict(), "run_dir": path, "started": started, **place.record(), "num_classes": len(data.classes),
              "classes": list(data.classes), "data": data.describe(), "torch": torch.__version__, "labkit": __version__,
              "params": sum(p.numel() for p in parts.net.parameters()),
              "fused_optimizer": bool(parts.optimizer.defaults.get("fused")),
              **device_record(place.device, place.amp_dtype, place.use_scaler)}
    return config


def _freeze_backbone(net, frozen):
    """Only the classifier head trains while ``frozen``; everything trains otherwise."""
    head = next(getattr(unwrap(net), h) for h in HEAD_NAMES if hasattr(unwrap(net), h))
    head_params = {id(p) for p in head.parameters()}
    for p in unwrap(net).parameters():
        p.requires_grad_(not frozen or id(p) in head_params)


def _check_finite(losses, start, epoch, optimizer):
    """Raise NonFiniteLossError if a loss after index ``start`` is NaN/inf (one sync per check)."""
    finite = torch.isfinite(torch.stack(losses[start:]))
    if bool(finite.all()):
        return
    bad = start + int((~finite).nonzero()[0]) + 1
    raise NonFiniteLossError(f"training loss became {losses[bad - 1].item()} at epoch {epoch}, step {bad}, "
                             f"learning rate {_fmt_lr(optimizer.param_groups[0]['lr'])}")


def _check_finite_epoch(rec):
    """A finished epoch whose mean training, validation or test loss is NaN/inf diverged: raise before
    anything of it is saved (the best checkpoint, last.pth and history.json stay the earlier epoch's)."""
    for key, what in (("train_loss", "training loss"), ("val_loss", "validation loss"), ("test_loss", "test loss")):
        if rec.get(key) is not None and not math.isfinite(rec[key]):
            raise NonFiniteLossError(f"{what} became {rec[key]} at epoch {rec['epoch']} (training loss "
                                     f"{rec['train_loss']:.4g}), learning rate {_fmt_lr(rec['lr'])}")
