"""Settings: the training configuration and the data settings, coerced and range-checked before any training.

``TrainConfig.from_params(model, params)`` is the one settings check every entry point uses (fit, the
notebooks' parameter cell, presets, experiments, the transfer study); ``check_data_params`` is the one
check of load_cifar10's settings; ``as_int`` / ``as_float`` / ``as_bool`` / ``as_list`` / ``as_count``
read one value each.

papermill passes parameters as typed YAML values, but users also type ``-p lr 1e-2``
(a string for YAML 1.1) or ``-p epochs 10.0``; numeric strings and whole floats are
accepted, everything else gets a ConfigError naming the parameter and a valid example.
"""
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .device import resolve_device
from .errors import ConfigError, unknown_name
from .models import check_model_kwargs, check_model_name

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "step", "multistep", "cosine", "onecycle", "cyclic")
SCHEDULER_ALIASES = {"constant": "none", None: "none", "": "none", "cos": "cosine", "one_cycle": "onecycle",
                     "one-cycle": "onecycle", "cyclical": "cyclic", "multi_step": "multistep"}
AMP_MODES = ("auto", "bf16", "fp16", "off")
AMP_ALIASES = {True: "auto", False: "off", None: "off"}  # a list or dict (papermill -y) is named, not hashed
RECORDED = ("class_weights", "teacher_record")  # TrainConfig's fields fit fills in (no parameters)
INT_MAX = 2**63 - 1  # the largest integer torch (int64) takes: a larger one would fail inside a torch call


def canonical_scheduler(name):
    """The scheduler name of :data:`SCHEDULERS` that ``name`` (or one of its aliases, any case) means."""
    sched = SCHEDULER_ALIASES.get(name, name) if isinstance(name, (str, type(None))) else name
    sched = SCHEDULER_ALIASES.get(str(sched).lower(), str(sched).lower())
    if sched not in SCHEDULERS:
        raise unknown_name("scheduler", name, SCHEDULERS + tuple(a for a in SCHEDULER_ALIASES if a))
    return sched


@dataclass
class TrainConfig:
    """Every setting of one training run, field by field (what, unit, default, where the labs use it). fit,
    the notebooks, presets, the experiment runner and the transfer study all build it with :meth:`from_params`,
    which checks each value; a run's config.json and last.pth record it.

    model            registry name (labkit.models): "simplecnn" (task 1), "resnet18" (task 2), "resnet20".."plain110"
                     and "preact_resnet*" (depth lab), "vgg11"/"vgg16" (exercises), "tv_resnet18/50" (transfer)
    epochs           passes over the training split; default 10 (the labs: 30; the depth lab: the paper's 164)
    batch_size       training images per optimizer step; 128 (the transfer lab: 32 at 224x224)
    optimizer        "sgd" (the labs), "adam" or "adamw"
    lr               learning rate; with "onecycle" its peak; 0.01 (the handout's), 0.1 in the depth lab
    momentum         SGD momentum (a fraction); 0.9
    nesterov         SGD's Nesterov momentum; False (the presets: True)
    weight_decay     L2 penalty per step (coupled; decoupled for "adamw"); 5e-4 (the depth lab: the paper's 1e-4)
    scheduler        lr schedule: "none" (constant), "step" (x gamma every step_size epochs), "multistep" (x gamma at
                     milestones), "cosine" (to 0, per batch), "onecycle" (warm-up over 30% of the steps, then down,
                     per batch), "cyclic" (triangular between lr/10 and lr, two cycles); task 2 compares them
    milestones       epochs after which "multistep" multiplies the lr by gamma; None: 50% and 75% of the epochs
                     (the depth study: the paper's 81/122 of 164, scaled)
    gamma            lr factor at each step/milestone; 0.1
    warmup_steps     the first optimizer steps (batches) at a tenth of lr, then lr: He et al.'s warm-up of ResNet-110
                     (0.01 for about 400 iterations, "until the training error is below 80%", then 0.1; the depth
                     study turns it on at 110 layers); 0: none. With "none", "step" or "multistep" ("onecycle"
                     warms up by itself)
    step_size        epochs between the drops of "step"; None: a third of the epochs
    label_smoothing  cross-entropy label smoothing (a fraction); 0
    augment          True: random crop (4-pixel zero padding) + horizontal flip (the handout's); "flip": flip only
                     (task 1's recipe); False: none (task 2's augmentation ablation)
    seed             one seed for the split, the initialization, the data order and the augmentation; 0
    device           "auto" (the GPU if there is one), "cuda", "cuda:1", "cpu"
    amp              precision: "auto" (bf16 on GPUs of compute capability >= 8 and on CPUs with native bf16, fp16 +
                     GradScaler on a T4/V100, else fp32), "bf16", "fp16" (on the CPU: the T4's road, slow), "off"
    channels_last    memory format: "auto" (on CUDA and oneDNN CPUs), True, False
    compile          torch.compile the model; False (first epoch much slower; for long runs on a GPU)
    eval_batch_size  images per evaluation batch; None: 1,000 at 32x32, scaled by the image area (20 at 224x224)
    track_test       also measure the test set after every epoch (the depth lab's test-error curves); False. Model
                     selection uses the validation split only
    freeze_epochs    epochs during which only the classifier head trains (the transfer lab's pretrained runs); 0
    test_flip        the test accuracy (final and tracked) averages each image with its mirror image; False
                     (task 1's recipe: True)
    test_shift       the test accuracy (final and tracked) also averages each image moved by this many pixels up, down,
                     left and right (reflect-filled edges; with test_flip each view mirrored too: 10 views at 1);
                     0: none (task 1's recipe: 1)
    teacher          knowledge distillation (Hinton et al. 2015): a run folder (or a labkit model checkpoint) whose
                     best model's predictions the model learns from too; None (task 1's notebook:
                     teacher_model="resnet20" trains one first and passes its folder)
    distill_alpha    the share of the loss that matches the teacher (the rest: cross-entropy with the labels); 0.7
    distill_temperature  the softmax temperature both are compared at (the loss is scaled by its square); 4
    model_kwargs     the model's own options, e.g. {"option": "B"} (ResNet shortcuts), {"dropout": 0.25},
                     {"weights": "imagenet"} (the transfer lab)
    """

    model: str = "simplecnn"
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    scheduler: str = "none"
    milestones: list = None
    gamma: float = 0.1
    step_size: int = None
    warmup_steps: int = 0
    label_smoothing: float = 0.0
    augment: object = True
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    channels_last: object = "auto"
    compile: bool = False
    eval_batch_size: int = None
    track_test: bool = False
    freeze_epochs: int = 0
    test_flip: bool = False
    test_shift: int = 0
    teacher: str = None
    distill_alpha: float = 0.7
    distill_temperature: float = 4.0
    model_kwargs: dict = field(default_factory=dict)
    # what fit adds to a run's record (not parameters; see RECORDED): the per-class loss weights it trains
    # with, and the distillation teacher as what it is (its checkpoint's SHA-256, model, epochs, data)
    class_weights: list = field(default=None, init=False)
    teacher_record: dict = field(default=None, init=False)

    def validate(self):
        check_model_name(self.model)
        self.epochs = as_int("epochs", self.epochs, 1)
        self.batch_size = as_int("batch_size", self.batch_size, 1)
        if self.eval_batch_size is not None:
            self.eval_batch_size = as_int("eval_batch_size", self.eval_batch_size, 1)
        self.seed = as_int("seed", self.seed, 0)
        self.lr = as_float("lr", self.lr, 0, lo_open=True)
        self.momentum = as_float("momentum", self.momentum, 0, hi=1, hi_open=True)
        self.weight_decay = as_float("weight_decay", self.weight_decay, 0, hi=1)
        self.gamma = as_float("gamma", self.gamma, 0, lo_open=True, hi=1)
        self.label_smoothing = as_float("label_smoothing", self.label_smoothing, 0, hi=1, hi_open=True)
        self.nesterov = as_bool("nesterov", self.nesterov)
        self.augment = as_augment(self.augment)
        self.compile = as_bool("compile", self.compile)
        self.track_test = as_bool("track_test", self.track_test)
        self.test_flip = as_bool("test_flip", self.test_flip)
        self.test_shift = as_int("test_shift", self.test_shift, 0)
        if self.test_shift > 8:
            raise ConfigError(f"test_shift={self.test_shift} moves a test image by more pixels than the training crops "
                              f"(4): use 0 (none), 1 or 2.")
        self.freeze_epochs = as_int("freeze_epochs", self.freeze_epochs, 0)
        self.distill_alpha = as_float("distill_alpha", self.distill_alpha, 0, hi=1)
        self.distill_temperature = as_float("distill_temperature", self.distill_temperature, 0, lo_open=True)
        if self.teacher in ("", False):
            self.teacher = None
        if self.teacher is not None and not isinstance(self.teacher, (str, os.PathLike)):
            raise ConfigError(f"teacher must be a run folder (or a .pth model checkpoint), got {self.teacher!r}")
        self.teacher = None if self.teacher is None else os.path.expanduser(os.fspath(self.teacher))
        opt = str(self.optimizer).lower()
        if opt not in OPTIMIZERS:
            raise unknown_name("optimizer", self.optimizer, OPTIMIZERS)
        self.optimizer = opt
        self.scheduler = canonical_scheduler(self.scheduler)
        if self.nesterov and (opt != "sgd" or self.momentum == 0):
            raise ConfigError("nesterov=True needs optimizer='sgd' with momentum > 0.")
        if self.step_size is not None:
            self.step_size = as_int("step_size", self.step_size, 1)
        self.warmup_steps = as_int("warmup_steps", self.warmup_steps, 0)
        if self.milestones is not None:
            if isinstance(self.milestones, str):
                self.milestones = [s for s in self.milestones.replace("[", "").replace("]", "").split(",") if s.strip()]
            if not isinstance(self.milestones, (list, tuple)):
                raise ConfigError(f"milestones must be a list of epochs such as [81, 122], got {self.milestones!r}")
            ms = [as_int("milestones", m, 1) for m in self.milestones]
            if ms != sorted(ms):
                raise ConfigError(f"milestones must be increasing, got {ms}")
            self.milestones = ms
        self._check_schedule_settings()
        amp = str(self.amp if isinstance(self.amp, (list, dict)) else AMP_ALIASES.get(self.amp, self.amp)).lower()
        if amp not in AMP_MODES:
            raise unknown_name("amp mode", self.amp, AMP_MODES)
        self.amp = amp
        if self.channels_last != "auto":
            self.channels_last = as_bool("channels_last", self.channels_last)
        check_model_kwargs(self.model, self.model_kwargs)
        resolve_device(self.device)  # an unknown or absent device fails here, before any folder or data
        return self

    def _check_schedule_settings(self):
        """Settings of one schedule given to another, or pointing past the last epoch, would change nothing: say so."""
        if self.milestones and self.scheduler != "multistep":
            raise ConfigError(f"milestones={self.milestones} are for scheduler='multistep', but the scheduler is "
                              f"{self.scheduler!r}: they would change nothing. Leave milestones out (None), or use "
                              f"scheduler='multistep'.")
        if self.milestones and max(self.milestones) > self.epochs:
            late = [m for m in self.milestones if m > self.epochs]
            raise ConfigError(f"milestones {late} lie beyond the last epoch (epochs={self.epochs}): the lr would "
                              f"never drop there. Use milestones up to {self.epochs} (None: 50% and 75% of the "
                              f"epochs; the depth study scales the paper's 81/122 of 164 to epochs).")
        if self.step_size is not None and self.scheduler != "step":
            raise ConfigError(f"step_size={self.step_size} is for scheduler='step', but the scheduler is "
                              f"{self.scheduler!r}: it would change nothing. Leave it out (None) or use "
                              f"scheduler='step'.")
        if self.warmup_steps and self.scheduler not in ("none", "step", "multistep"):
            raise ConfigError(f"warmup_steps={self.warmup_steps} works with scheduler 'none', 'step' or 'multistep'; "
                              f"{self.scheduler!r} sets the lr of every step itself"
                              f"{' and already warms up' if self.scheduler == 'onecycle' else ''}. Use warmup_steps=0.")
        if self.step_size is not None and self.step_size > self.epochs:
            raise ConfigError(f"step_size={self.step_size} is longer than the run (epochs={self.epochs}): the lr "
                              f"would never drop. Use step_size <= {self.epochs} (None: a third of the epochs).")

    @classmethod
    def from_params(cls, model, params, *, extra=(), what="training parameter", context=""):
        """The checked settings of ``model`` with ``params`` (fit's keyword arguments): an unknown name,
        a wrong type or an out-of-range value is a ConfigError naming it, before any folder or data.
        ``extra`` names further keys the caller handles itself (they are accepted and ignored here)."""
        cls.check_names(params, extra, what, context)
        return cls(model=model, **{k: v for k, v in params.items() if k not in extra and k != "model"}).validate()

    @classmethod
    def check_names(cls, params, extra=(), what="training parameter", context=""):
        """ConfigError naming every key of ``params`` that is no setting (nor one of ``extra``)."""
        valid = cls.field_names() + [k for k in extra if k not in cls.field_names()]
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ConfigError(f"unknown {what}(s) {unknown}{context}. Valid ones: {', '.join(valid)}")

    def eval_batch(self, input_size=32):
        """The evaluation batch: ``eval_batch_size``, else 1,000 images of 32x32 scaled by the image area (224x224:
        20), so that an evaluation batch takes about the same memory whatever the image size."""
        return self.eval_batch_size or max(1, round(1000 * (32 / int(input_size or 32)) ** 2))

    def step_epochs(self):
        """StepLR's step size: ``step_size``, else a third of the epochs (at least 1)."""
        return self.step_size or max(1, self.epochs // 3)

    def milestone_epochs(self):
        """MultiStepLR's milestones: ``milestones``, else 50% and 75% of the epochs (at least 1)."""
        return self.milestones or [max(1, int(self.epochs * 0.5)), max(1, int(self.epochs * 0.75))]

    def record_call(self, class_weights, teacher_record):
        """What fit resolved beyond the parameters (:data:`RECORDED`): then part of :meth:`to_dict`, recorded and
        compared on resume like any setting."""
        self.class_weights, self.teacher_record, self._fit_resolved = class_weights, teacher_record, True
        return self

    def to_dict(self):
        """Every setting; with :data:`RECORDED` only once fit resolved them (:meth:`record_call`)."""
        d = asdict(self)
        return d if getattr(self, "_fit_resolved", False) else {k: v for k, v in d.items() if k not in RECORDED}

    @classmethod
    def field_names(cls):
        """The parameters (the fields a caller may set)."""
        return [f.name for f in fields(cls) if f.init]


def _num(name, value, kind):
    example = "0.01" if kind is float else "10"
    if value is None:
        raise ConfigError(f"{name} must be a number, got None (no value; with papermill write e.g. -p {name} "
                          f"{example})")
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got the boolean {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:  # a whole number written as digits stays exact (a float would round 2**63 + 1)
            value = int(text) if kind is int and text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got the text {value!r} "
                              f"(with papermill write e.g. -p {name} {example})") from None
    if isinstance(value, (int, np.integer)):
        return int(value) if kind is int else _as_float(name, int(value))
    if not isinstance(value, float) and not hasattr(value, "__float__"):
        raise ConfigError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = _as_float(name, value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{name} must be a finite number, got {value}")
    if kind is int:
        if not value.is_integer():
            raise ConfigError(f"{name} must be a whole number, got {value}")
        return int(value)
    return value


def _as_float(name, value):
    try:
        return float(value)
    except OverflowError:  # an integer of more than ~308 digits
        raise ConfigError(f"{name} is too large to be a number of this setting: {str(value)[:20]}... "
                          f"({len(str(value))} digits)") from None


def as_int(name, value, lo=None, hi=INT_MAX):
    """A whole number (also from papermill's text or a whole float) in [lo, hi]; ``hi`` defaults to the largest
    integer torch takes (every integer setting reaches a torch call: a seed, a count, a size)."""
    v = _num(name, value, int)
    if lo is not None and v < lo:
        raise ConfigError(f"{name} must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        what = " (the largest integer torch takes)" if hi == INT_MAX else ""
        raise ConfigError(f"{name} must be <= {hi}{what}, got {v}")
    return v


def as_float(name, value, lo=None, hi=None, lo_open=False, hi_open=False):
    v = _num(name, value, float)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ConfigError(f"{name} must be {'>' if lo_open else '>='} {lo:g}, got {v:g}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ConfigError(f"{name} must be {'<' if hi_open else '<='} {hi:g}, got {v:g}")
    return v


AUGMENT_MODES = (True, "flip", False)


def as_augment(value):
    """True (random crop with 4-pixel padding + horizontal flip), "flip" (horizontal flip only) or False."""
    if isinstance(value, str) and value.strip().lower() in ("flip", "hflip", "flip_only", "flip-only"):
        return "flip"
    if isinstance(value, str) and value.strip().lower() in ("crop+flip", "crop_flip", "crop-flip"):
        return True
    try:
        return as_bool("augment", value)
    except ConfigError:
        raise ConfigError(f"augment must be True (crop + flip), 'flip' (flip only) or False, got {value!r}") from None


def as_bool(name, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
        return value.strip().lower() in ("true", "yes", "1", "on")
    raise ConfigError(f"{name} must be True or False, got {value!r}")


def as_list(name, value, item=str, required=False):
    """A list parameter, also from papermill text: ``"[20, 56]"``, ``'["a", "b"]'``, ``"[a, b]"`` or ``"a,b"``;
    one value becomes a one-item list. ``item`` (str, int or float) converts each entry; ``required``:
    None or an empty list is an error instead of []."""
    if value is None and not required:
        return []
    if value is None:
        raise ConfigError(f"{name} must be a list (e.g. {name}=[...]), got None")
    given = value
    if isinstance(value, str):
        value = _list_from_text(name, value)
    elif not isinstance(value, (list, tuple)):
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        value = [value]
    if required and not value:
        raise ConfigError(f"{name} is empty: {given!r}")
    if item is int:
        return [as_int(name, v, 1) for v in value]
    if item is float:
        return [as_float(name, v, 0, lo_open=True) for v in value]
    return [str(v).strip() for v in value]


def _list_from_text(name, text):
    text = text.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:  # unquoted names such as [tv_resnet18, resnet50]
            if not text.endswith("]"):
                raise ConfigError(f"{name} must be a list such as [20, 56], got {text!r}") from None
            text = text[1:-1]
    return [v for v in (p.strip().strip("'\"").strip() for p in text.split(",")) if v]


def as_count(name, value, available=math.inf, allow_none=True):
    """A number of images: a positive whole number up to ``available`` (or None: all of them)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        try:
            f = float(value)
            if not f.is_integer():
                raise ValueError
            value = int(f)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a positive whole number or None, got {value!r}") from None
    if value < 1 or value > INT_MAX:
        raise ConfigError(f"{name} must be a positive whole number (at most {INT_MAX}) or None, got {value}")
    if value > available:
        raise ConfigError(f"{name}={value} is larger than the {available} images available; "
                          f"use a value up to {available} or None for all of them.")
    return int(value)


# ---- data settings (load_cifar10) -------------------------------------------------------------------
NORMALIZE_MODES = ("off", "fixed", "computed")
NO_VALIDATION = ("val_ratio=0 leaves no validation images, but the best epoch (best_model.pth, the test "
                 "accuracy) is chosen by validation accuracy: with none, every epoch scores 0 and epoch 1 is "
                 "kept. Use val_ratio > 0, e.g. 0.1.")


def canonical_normalize(normalize):
    """"off", "fixed" or "computed" from those names, True ("computed"), False/None/"none" ("off")."""
    if not isinstance(normalize, (str, bool, type(None))):
        raise ConfigError(f"normalize must be one of {NORMALIZE_MODES} (or True/False), got {normalize!r}")
    mode = {True: "computed", False: "off", None: "off", "none": "off"}.get(normalize, normalize)
    if isinstance(mode, str):
        mode = {"none": "off", "false": "off", "true": "computed"}.get(mode.strip().lower(), mode.strip().lower())
    if mode not in NORMALIZE_MODES:
        raise ConfigError(f"normalize must be one of {NORMALIZE_MODES} (or True/False), got {normalize!r}")
    return mode


def check_data_params(normalize="computed", norm_ratio=1.0, limit=None, test_limit=None, val_ratio=0.1, seed=0,
                      data_root="./data"):
    """The data settings of :func:`labkit.load_cifar10`, checked without reading any data.

    Returns them canonical (``norm_ratio`` is 1.0 unless ``normalize='computed'``). Counts
    larger than the data set are caught when it is read.
    """
    if not isinstance(data_root, (str, os.PathLike)):
        raise ConfigError(f"data_root must be a folder path (text), got {data_root!r}; e.g. data_root='./data'")
    mode = canonical_normalize(normalize)
    ratio = as_float("norm_ratio", norm_ratio, 0, hi=1, lo_open=True)
    val_ratio = as_float("val_ratio", val_ratio, 0, hi=1, hi_open=True)
    if val_ratio == 0:
        raise ConfigError(NO_VALIDATION)
    return {"normalize": mode, "norm_ratio": ratio if mode == "computed" else 1.0,
            "limit": as_count("limit", limit), "test_limit": as_count("test_limit", test_limit),
            "val_ratio": val_ratio, "seed": as_int("seed", seed, 0),
            "data_root": os.path.expanduser(os.fspath(data_root))}


# ---- where runs go (fit's run_dir and run_name) ----------------------------------------------------------
NAME_MAX, PATH_MAX = 255, 4096  # bytes of one folder name and of a whole path (Linux, Google Drive's FUSE mount)


def check_run_location(run_dir, run_name):
    """``run_dir`` as text (``~`` expanded; a folder or not yet there) and ``run_name`` (None or one folder
    name inside it): checked before anything is downloaded or trained (the notebooks' parameter cell, fit)."""
    if isinstance(run_dir, (int, float)) and not isinstance(run_dir, bool):
        raise ConfigError(f"run_dir must be a folder path (text), got the number {run_dir!r} (papermill reads "
                          f"-p run_dir {run_dir} as a number): write -p run_dir runs/{run_dir}, or "
                          f"-y 'run_dir: \"{run_dir}\"'.")
    if run_dir is None or not isinstance(run_dir, (str, os.PathLike)) or not os.fspath(run_dir).strip():
        raise ConfigError(f"run_dir must be a folder path (text), got {run_dir!r}; e.g. run_dir='runs'.")
    run_dir = os.path.expanduser(os.fspath(run_dir))
    long = [p for p in run_dir.split(os.sep) if len(p.encode()) > NAME_MAX]
    if "\0" in run_dir or long or len(run_dir.encode()) > PATH_MAX - NAME_MAX:
        shown = run_dir if len(run_dir) <= 80 else f"{run_dir[:60]}... ({len(run_dir)} characters)"
        raise ConfigError(f"run_dir {shown!r} cannot be a folder path (a NUL character, a folder name over "
                          f"{NAME_MAX} bytes, or a path over {PATH_MAX - NAME_MAX} bytes); e.g. run_dir='runs'.")
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise ConfigError(f"run_dir {run_dir!r} is a file, not a folder. Point run_dir at a folder "
                          f"(it is made if missing), e.g. run_dir='runs'.")
    if run_name is None:
        return run_dir, None
    if isinstance(run_name, int) and not isinstance(run_name, bool):
        run_name = str(run_name)
    if not isinstance(run_name, str) or not run_name.strip():
        raise ConfigError(f"run_name must be a folder name (text) or None, got {run_name!r}.")
    if (os.path.isabs(run_name) or run_name in (".", "..") or "/" in run_name or os.sep in run_name
            or (os.altsep and os.altsep in run_name) or "\0" in run_name):
        raise ConfigError(f"run_name must be one folder name inside run_dir, got {run_name!r}: it would write "
                          f"outside {run_dir!r}. To keep runs elsewhere, set run_dir to that folder and "
                          f"run_name to a plain name such as 'task1'.")
    if run_name != run_name.strip() or run_name.startswith(".") or len(run_name.encode()) > 200:
        shown = run_name if len(run_name) <= 80 else f"{run_name[:60]}... ({len(run_name)} characters)"
        raise ConfigError(f"run_name {shown!r} cannot be a run folder's name (no leading or trailing spaces, "
                          f"not starting with '.', at most 200 bytes); e.g. run_name='task1'.")
    return run_dir, run_name
