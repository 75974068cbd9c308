"""Settings: the training configuration and the data settings, coerced and range-checked before any training.

Each setting is declared once, as a field with its :class:`Setting` (meaning, unit, default, whether a resume
compares it, its report row, its check): ``lr: float = setting(0.01, "learning rate", ...)``. TrainConfig's
docstring and checks, the resume comparison (``TrainConfig.RESUME_KEYS``), the report's hyper-parameter table,
the notebooks' parameter check and their parameter comments are read from those declarations.

``TrainConfig.from_params(model, params)`` is the one settings check every entry point uses (fit, the
notebooks' parameter cell, presets, experiments, the transfer study); ``check_data_params`` (:class:`DataConfig`)
is the one check of load_cifar10's settings. The declaration (:func:`setting`) and the readers of one value
(``as_int`` / ``as_float`` / ``as_bool`` / ``as_list`` / ``as_count``) live in :mod:`labkit.settings`.

papermill passes parameters as typed YAML values, but users also type ``-p lr 1e-2``
(a string for YAML 1.1) or ``-p epochs 10.0``; numeric strings and whole floats are
accepted, everything else gets a ConfigError naming the parameter and a valid example.
"""
import copy
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import ClassVar

from .device import resolve_device
from .errors import ConfigError, unknown_name
from .models import check_model_kwargs, check_model_name
from .settings import (AUGMENT_MODES, INT_MAX, Setting, as_augment, as_bool, as_count, as_float, as_int,  # noqa: F401
                       as_list, declaration, declared, default_of, document, setting)

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "step", "multistep", "cosine", "onecycle", "cyclic")
SCHEDULER_ALIASES = {"constant": "none", None: "none", "": "none", "cos": "cosine", "one_cycle": "onecycle",
                     "one-cycle": "onecycle", "cyclical": "cyclic", "multi_step": "multistep"}
AMP_MODES = ("auto", "bf16", "fp16", "off")
AMP_ALIASES = {True: "auto", False: "off", None: "off"}  # a list or dict (papermill -y) is named, not hashed


def canonical_scheduler(name):
    """The scheduler name of :data:`SCHEDULERS` that ``name`` (or one of its aliases, any case) means."""
    sched = SCHEDULER_ALIASES.get(name, name) if isinstance(name, (str, type(None))) else name
    sched = SCHEDULER_ALIASES.get(str(sched).lower(), str(sched).lower())
    if sched not in SCHEDULERS:
        raise unknown_name("scheduler", name, SCHEDULERS + tuple(a for a in SCHEDULER_ALIASES if a))
    return sched


class SettingNames(Sequence):
    """The names of the training settings whose declaration ``want`` selects, read from the declarations of
    :class:`TrainConfig` (the class this module holds under that name) at each use: a setting declared later is
    in it too."""

    def __init__(self, want):
        self._want = want

    def _names(self):
        return tuple(n for n, _, _ in declared(TrainConfig, self._want))

    def __getitem__(self, i):
        return self._names()[i]

    def __iter__(self):
        return iter(self._names())

    def __len__(self):
        return len(self._names())

    def __repr__(self):
        return repr(self._names())


# checks a declaration names: (name, value) -> canonical value
def whole(lo=None, optional=False):
    return lambda name, v: None if optional and v is None else as_int(name, v, lo)


def number(lo=None, hi=None, lo_open=False, hi_open=False):
    return lambda name, v: as_float(name, v, lo, hi, lo_open=lo_open, hi_open=hi_open)


def flag(name, value):
    return as_bool(name, value)


def _optimizer(name, value):
    if str(value).lower() not in OPTIMIZERS:
        raise unknown_name("optimizer", value, OPTIMIZERS)
    return str(value).lower()


def _milestones(name, value):
    if value is None:
        return None
    if isinstance(value, str):
        value = [s for s in value.replace("[", "").replace("]", "").split(",") if s.strip()]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"milestones must be a list of epochs such as [81, 122], got {value!r}")
    ms = [as_int("milestones", m, 1) for m in value]
    if ms != sorted(ms):
        raise ConfigError(f"milestones must be increasing, got {ms}")
    return ms


def _test_shift(name, value):
    shift = as_int(name, value, 0)
    if shift > 8:
        raise ConfigError(f"test_shift={shift} moves a test image by more pixels than the training crops "
                          f"(4): use 0 (none), 1 or 2.")
    return shift


def _teacher(name, value):
    if value in ("", False, None):
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"teacher must be a run folder (or a .pth model checkpoint), got {value!r}")
    return os.path.expanduser(os.fspath(value))


def _amp(name, value):
    amp = str(value if isinstance(value, (list, dict)) else AMP_ALIASES.get(value, value)).lower()
    if amp not in AMP_MODES:
        raise unknown_name("amp mode", value, AMP_MODES)
    return amp


def _channels_last(name, value):
    return value if value == "auto" else as_bool(name, value)


def _model(name, value):
    check_model_name(value)
    return value


@document
@dataclass
class TrainConfig:
    """Every setting of one training run, each declared once below with :func:`setting` (what, unit, default,
    whether a resume compares it, its report row, its check). fit, the notebooks, presets, the experiment runner
    and the transfer study all build it with :meth:`from_params`, which checks each value; a run's config.json and
    last.pth record it. The settings:"""

    RESUME_KEYS: ClassVar = SettingNames(lambda s: s.resume)  # what a resume compares (labkit.runs)

    model: str = setting("simplecnn", "registry name (labkit.models)", label="model", resume=True, check=_model,
                         details='"simplecnn" (task 1), "resnet18" (task 2), "resnet20".."plain110" and '
                                 '"preact_resnet*" (depth lab), "vgg11"/"vgg16" (exercises), "tv_resnet18/50" '
                                 '(transfer)')
    epochs: int = setting(10, "passes over the training split", unit="epochs", label="epochs", resume=True,
                          check=whole(1), hint="", details="the labs: 30; the depth lab: the paper's 164 (82)")
    batch_size: int = setting(128, "training images per optimizer step", unit="images", label="batch size",
                              resume=True, check=whole(1), hint="", details="the transfer lab: 32 at 224x224")
    optimizer: str = setting("sgd", "the optimizer", label="optimizer", resume=True, check=_optimizer,
                             hint="sgd | adam | adamw", details='"sgd" (the labs), "adam" or "adamw"')
    lr: float = setting(0.01, "learning rate; with \"onecycle\" its peak", label="learning rate", resume=True,
                        check=number(0, lo_open=True), hint="",
                        details="0.01 is the handout's; the depth lab: 0.1")
    momentum: float = setting(0.9, "SGD momentum", unit="a fraction", label="momentum", resume=True,
                              check=number(0, 1, hi_open=True), hint="")
    nesterov: bool = setting(False, "SGD's Nesterov momentum", label="nesterov", resume=True, check=flag, hint="",
                             details="the presets: True")
    weight_decay: float = setting(5e-4, "L2 penalty per step (coupled; decoupled for \"adamw\")",
                                  label="weight decay", resume=True, check=number(0, 1), hint="",
                                  details="the depth lab: the paper's 1e-4")
    scheduler: str = setting("none", "lr schedule", label="lr schedule", resume=True,
                             check=lambda name, v: canonical_scheduler(v),
                             hint="none (constant lr) | step | multistep | cosine | onecycle | cyclic",
                             details='"none" (constant), "step" (x gamma every step_size epochs), "multistep" (x gamma '
                                     'at milestones), "cosine" (to 0, per batch), "onecycle" (warm-up over 30% of the '
                                     'steps, then down, per batch), "cyclic" (triangular between lr/10 and lr, two '
                                     'cycles); task 2 compares them')
    milestones: list = setting(None, 'epochs after which "multistep" multiplies the lr by gamma', unit="epochs",
                               label="lr schedule", resume=True, check=_milestones,
                               hint="None: 81 and 122 of 164, scaled to epochs",
                               details="None: 50% and 75% of the epochs (the depth study: the paper's 81/122 of 164, "
                                       "scaled)")
    gamma: float = setting(0.1, "lr factor at each step/milestone", label="lr schedule", resume=True,
                           check=number(0, 1, lo_open=True), hint="lr factor at each milestone")
    step_size: int = setting(None, 'epochs between the drops of "step"', unit="epochs", label="lr schedule",
                             resume=True, check=whole(1, optional=True), details="None: a third of the epochs")
    warmup_steps: int = setting(0, "the first optimizer steps at a tenth of lr, then lr", unit="batches",
                                label="lr schedule", resume=True, check=whole(0),
                                details="He et al.'s warm-up of ResNet-110 (0.01 for about 400 iterations, \"until "
                                        "the training error is below 80%\", then 0.1; the depth study turns it on at "
                                        "110 layers); 0: none. With \"none\", \"step\" or \"multistep\" (\"onecycle\" "
                                        "warms up by itself)")
    augment: object = setting(True, "training augmentation", label="augmentation", resume=True,
                              check=lambda name, v: as_augment(v),
                              hint='True: random crop (4-pixel padding) + flip | "flip": flip only | False',
                              details='True: random crop (4-pixel zero padding) + horizontal flip (the handout\'s); '
                                      '"flip": flip only (task 1\'s recipe); False: none (task 2\'s augmentation '
                                      'ablation)')
    freeze_epochs: int = setting(0, "epochs during which only the classifier head trains", unit="epochs",
                                 label="frozen-backbone epochs", resume=True, check=whole(0), shown_off=False,
                                 hint="pretrained runs: train only the new head for the first k epochs",
                                 details="the transfer lab's pretrained runs")
    label_smoothing: float = setting(0.0, "cross-entropy label smoothing", unit="a fraction", label="label smoothing",
                                     resume=True, check=number(0, 1, hi_open=True), hint="0: plain cross-entropy")
    class_weights: list = setting(None, "the per-class loss weights fit trains with (fit fills it in)", init=False,
                                  label="class weights", resume=True)
    teacher: str = setting(None, "knowledge distillation (Hinton et al. 2015): a run folder (or a labkit model "
                                 "checkpoint) whose best model's predictions the model learns from too",
                           label="distillation teacher", check=_teacher,
                           details="a resume compares it by what it is (teacher_record). Task 1's notebook: "
                                   "teacher_model=\"resnet20\" trains one first and passes its folder")
    distill_alpha: float = setting(0.7, "the share of the loss that matches the teacher (the rest: cross-entropy "
                                        "with the labels)", unit="a fraction", label="loss", resume=True,
                                   check=number(0, 1))
    distill_temperature: float = setting(4.0, "the softmax temperature both are compared at (the loss is scaled by "
                                              "its square)", label="loss", resume=True,
                                         check=number(0, lo_open=True))
    teacher_record: dict = setting(None, "the distillation teacher as what it is (its checkpoint's SHA-256, model, "
                                         "epochs, data; fit fills it in)", init=False)

    seed: int = setting(0, "one seed for the split, the initialization, the data order and the augmentation",
                        label="seed", resume=True, check=whole(0),
                        hint="train/validation split, initialization, data order, augmentation")
    test_flip: bool = setting(False, "the test accuracy (final and tracked) averages each image with its mirror image",
                              label="test-time flips", check=flag,
                              hint="True: the test accuracy averages each test image with its mirror image",
                              details="task 1's recipe: True")
    test_shift: int = setting(0, "the test accuracy (final and tracked) also averages each image moved by this many "
                                 "pixels up, down, left and right", unit="pixels", label="test-time shifts",
                              check=_test_shift, shown_off=False,
                              hint="1: also its copies moved 1 pixel up/down/left/right (10 views with test_flip)",
                              details="reflect-filled edges; with test_flip each view mirrored too: 10 views at 1; "
                                      "0: none (task 1's recipe: 1)")
    track_test: bool = setting(False, "also measure the test set after every epoch",
                               label="test error tracked per epoch", check=flag, shown_off=False,
                               details="the depth lab's test-error curves. Model selection uses the validation "
                                       "split only")
    device: str = setting("auto", "where it trains", label="device", hint="auto | cuda | cpu",
                          details='"auto" (the GPU if there is one), "cuda", "cuda:1", "cpu"')
    amp: str = setting("auto", "precision", label="precision", check=_amp,
                       hint="auto (bf16 or fp16 + grad scaler on a GPU) | bf16 | fp16 | off",
                       details='"auto" (bf16 on GPUs of compute capability >= 8 and on CPUs with native bf16, fp16 + '
                               'GradScaler on a T4/V100, else fp32), "bf16", "fp16" (on the CPU: the T4\'s road, '
                               'slow), "off"')
    channels_last: object = setting("auto", "memory format", check=_channels_last,
                                    details='"auto" (on CUDA and oneDNN CPUs), True, False')
    compile: bool = setting(False, "torch.compile the model", check=flag,
                            details="first epoch much slower; for long runs on a GPU")
    eval_batch_size: int = setting(None, "images per evaluation batch", unit="images", check=whole(1, optional=True),
                                   details="None: 1,000 at 32x32, scaled by the image area (20 at 224x224)")
    model_kwargs: dict = setting({}, "the model's own options", label="model options", resume=True, shown_off=False,
                                 details='e.g. {"option": "B"} (ResNet shortcuts), {"dropout": 0.25}, '
                                         '{"weights": "imagenet"} (the transfer lab)')

    def validate(self):
        """Each setting checked by its declaration, then the settings that depend on each other; returns self."""
        for name, s, _ in declared(type(self), lambda s: s.check is not None):
            setattr(self, name, s.check(name, getattr(self, name)))
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ConfigError("nesterov=True needs optimizer='sgd' with momentum > 0.")
        self._check_schedule_settings()
        check_model_kwargs(self.model, self.model_kwargs)
        resolve_device(self.device)  # an unknown or absent device fails here, before any folder or data
        self._checked = self._given()  # what was checked: a setting changed afterwards is checked again
        return self

    def _given(self):
        return copy.deepcopy({name: getattr(self, name) for name in self.field_names()})

    def is_checked(self):
        """Whether every setting is as :meth:`validate` left it (a checked object needs no second check)."""
        return getattr(self, "_checked", None) == self._given()

    @classmethod
    def of_call(cls, model, params, **kw):
        """The checked settings of a call such as ``fit(model, data, **params)``: ``model`` is a registry name, or
        settings already checked (a TrainConfig, as from :meth:`from_params`), used as they are (a copy: fit adds
        its record to it) unless ``params`` change them; ``kw`` as for :meth:`from_params`."""
        if not isinstance(model, TrainConfig):
            return cls.from_params(model, params, **kw)
        if params:
            return cls.from_params(model.model, {**model._given(), **params}, **kw)
        settings = replace(model)
        if not model.is_checked():
            return settings.validate()
        settings._checked = model._checked
        return settings

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


RECORDED = tuple(f.name for f in fields(TrainConfig) if not f.init)  # the fields fit fills in (no parameters)


# ---- data settings (load_cifar10) -------------------------------------------------------------------
NORMALIZE_MODES = ("off", "fixed", "computed")


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


def _data_root(name, value):
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"data_root must be a folder path (text), got {value!r}; e.g. data_root='./data'")
    return os.path.expanduser(os.fspath(value))


def _val_ratio(name, value):
    """A share in [0, 1); 0: no validation split (every training image trains, the last epoch is the model, as
    the depth lab's graded run reports its final test error: labkit.runs.best_entry)."""
    return as_float(name, value, 0, hi=1, hi_open=True)


@document
@dataclass
class DataConfig:
    """The data settings of :func:`labkit.load_cifar10` (and the studies), each declared once like
    :class:`TrainConfig`'s; :func:`check_data_params` checks them without reading any data. The settings:"""

    normalize: str = setting("computed", "input normalization", label="normalization",
                             check=lambda name, v: canonical_normalize(v),
                             hint="off | fixed | computed (per-channel mean/std of the training split)",
                             details='"off", "fixed" (the usual CIFAR-10 mean/std) or "computed" (per-channel '
                                     'mean/std of the training split); task 2 compares them')
    norm_ratio: float = setting(1.0, "share of the training images the mean/std is computed from", unit="a fraction",
                                label="normalization", check=number(0, 1, lo_open=True),
                                details='with normalize="computed" (else 1.0)')
    limit: int = setting(None, "use only this many training images (quick runs)", unit="images",
                         label="image limit (quick run)", check=lambda name, v: as_count(name, v),
                         hint="use only this many training images for quick runs; None: all", details="None: all")
    test_limit: int = setting(None, "use only this many test images", unit="images",
                              label="test image limit (quick run)", check=lambda name, v: as_count(name, v),
                              hint="use only this many test images; None: all", details="None: all")
    val_ratio: float = setting(0.1, "share of the training images held out for validation (model selection)",
                               unit="a fraction", label="validation share", check=_val_ratio,
                               details="0: none; every training image trains and the last epoch is the model")
    seed: int = setting(0, "the train/validation split's seed (the training's seed)", check=whole(0), hint="")
    data_root: str = setting("./data", "the folder CIFAR-10 is read from (downloaded into if missing)",
                             check=_data_root,
                             hint='CIFAR-10 is downloaded here if missing; offline: "../shared/data/cifar10-subset"')

    def validate(self):
        """Each setting checked by its declaration; ``norm_ratio`` is 1.0 unless ``normalize='computed'``."""
        for name, s, _ in declared(type(self), lambda s: s.check is not None):
            setattr(self, name, s.check(name, getattr(self, name)))
        if self.normalize != "computed":
            self.norm_ratio = 1.0
        return self


def check_data_params(*args, **params):
    """The data settings of :func:`labkit.load_cifar10` (:class:`DataConfig`'s, in its order), checked without
    reading any data; returns them canonical as a dict. Counts larger than the data set are caught when it is
    read."""
    return asdict(DataConfig(*args, **params).validate())


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
