"""The distillation teacher (task 1's ``teacher``): recorded by what it is, checked against the student's data
before any folder is made, loaded frozen, and the distilled loss (Hinton et al. 2015)."""
import copy
import os
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .device import autocast_context
from .errors import ConfigError
from .files import file_sha256, read_checkpoint
from .models import checkpoint_num_classes, load_model
from .runs import BEST, diff_text, epochs_done, run_record, run_status, settings_diff

TEACHER_FIX = "or pass teacher=None"


@dataclass
class Teacher:
    """A ``teacher`` setting read (not loaded): its checkpoint (None: not there), its ``record`` (what the student's
    run records and a resume compares: the checkpoint's SHA-256, the model, its classes, and for a run folder the
    run's epochs, seed and data), and for a run folder its status and record (``run``)."""

    setting: str
    checkpoint: str = None
    record: dict = field(default_factory=dict)
    run: dict = None
    status: str = None

    @classmethod
    def find(cls, setting):
        """The teacher ``setting`` (a run folder or a model checkpoint) names; None without one."""
        if setting is None:
            return None
        folder = os.path.isdir(setting)
        path = os.path.join(setting, BEST) if folder else setting
        teacher = cls(setting, path if os.path.isfile(path) else None)
        if folder:
            teacher.run, teacher.status = run_record(setting) or {}, run_status(setting)
            data = teacher.run.get("data") if isinstance(teacher.run.get("data"), dict) else {}
            teacher.record.update(epochs=teacher.run.get("epochs"), seed=teacher.run.get("seed"),
                                  data_digest=data.get("digest"), normalize=data.get("normalize"))
        if teacher.checkpoint is not None:
            meta = read_checkpoint(teacher.checkpoint, f"teacher checkpoint (teacher={setting!r})")
            meta = meta if isinstance(meta, dict) else {}
            teacher.record.update(sha256=file_sha256(teacher.checkpoint), model=meta.get("model_name"),
                                  num_classes=checkpoint_num_classes(meta, teacher.checkpoint),
                                  classes=meta.get("classes"))
        return teacher


def check_teacher(teacher, data):
    """ConfigError naming what is wrong with ``teacher`` for a student on ``data``: not there, not a finished run,
    another number (or names) of classes, trained on other data (its training images may be the student's
    validation images) or with another normalization."""
    if teacher is None:
        return
    where = f"teacher {teacher.setting!r}"
    if teacher.checkpoint is None:
        raise ConfigError(f"{where} is not a finished run folder (no {BEST} there) nor a model checkpoint: train "
                          f"the teacher first (to the end), {TEACHER_FIX}.")
    if teacher.run is not None and teacher.status != "finished":
        raise ConfigError(f"{where} is not a finished run ({teacher.status}: {epochs_done(teacher.setting)} of "
                          f"{teacher.run.get('epochs', '?')} epochs): finish it first (fit with its settings, its "
                          f"run_name and resume=True; task 1's teacher_model does), {TEACHER_FIX}.")
    n, classes = teacher.record.get("num_classes"), teacher.record.get("classes")
    if n is not None and n != len(data.classes) or classes and list(classes) != list(data.classes):
        raise ConfigError(f"{where} predicts {n} classes ({', '.join(map(str, classes or []))}), but the data has "
                          f"{len(data.classes)} ({', '.join(map(str, data.classes))}): train a teacher on this data, "
                          f"{TEACHER_FIX}.")
    diff = settings_diff(teacher.run, data=data.describe()) if teacher.run else []
    if diff:
        raise ConfigError(f"{where} was trained on other data than this run: {diff_text(diff)}. Its training images "
                          f"may be this run's validation images (the best epoch would be chosen on images the "
                          f"teacher saw), or its inputs were normalized otherwise. Train the teacher on this run's "
                          f"data (the same data_root, limit, val_ratio, seed and normalize; task 1's teacher_model "
                          f"does), {TEACHER_FIX}.")


def load_teacher(setting, place):
    """The distillation teacher ``setting`` names (None without one), frozen, in eval mode, in the run's memory
    format (checked by :func:`check_teacher` before)."""
    if setting is None:
        return None
    teacher = load_model(Teacher.find(setting).checkpoint, device=place.device).eval()
    if place.channels_last:
        teacher = teacher.to(memory_format=torch.channels_last)
    return teacher.requires_grad_(False)


def caches(parts, loader, augment):
    """Whether :func:`cache_teacher` caches this run's teacher outputs (a step then reads them, never running the
    teacher): a teacher, flips or no augmentation, a loader that hands out cached views."""
    return parts.teacher is not None and augment in (False, "flip") and hasattr(loader, "views")


def teach(parts, x):
    """The teacher's outputs for ``x`` as :func:`cache_teacher` keeps them (the run's precision, then float)."""
    with torch.no_grad(), autocast_context(parts.device, parts.amp_dtype):
        return parts.teacher(x).float()


def mirror(parts, x):
    """``x``'s mirror images in the memory format the run's batches have (channels_last where it trains so)."""
    return x.flip(3).contiguous(memory_format=torch.channels_last) if parts.channels_last else x.flip(3)


def cache_teacher(parts, loader, augment):
    """With flips or no augmentation the teacher only ever sees two views of a training image, the image and its
    mirror image: its outputs for both are computed here once, in the run's precision, and ``loader`` hands each
    batch the outputs of exactly the views it shows (labkit.data.BatchLoader's ``views``), so a step reads them
    instead of running the teacher (task 1's ResNet-56 teacher cost about 3 student steps per step on a CPU).
    The same numbers as the teacher run in the step, up to the precision's rounding. With random crops (the
    views are not two) or another kind of loader nothing is cached: the step runs the teacher on its batch."""
    if not caches(parts, loader, augment):
        return
    plain = copy.copy(loader)
    plain.shuffle, plain.augment, plain.views = False, False, None
    views = ([], [])
    for x, _ in plain:
        views[0].append(teach(parts, x))
        views[1].append(teach(parts, mirror(parts, x)))
    loader.views = torch.stack([torch.cat(v) for v in views])


def distilled(loss, out, x, parts, taught=None):
    """Hinton et al. 2015: (1 - alpha) x the label loss + alpha x T^2 x KL(teacher || student) at temperature T
    (T^2 keeps the soft term's gradients at the label loss's scale). The teacher sees the same augmented batch:
    ``taught``, its outputs for it when cached (:func:`cache_teacher`), else it runs on ``x`` here."""
    alpha, t = parts.distill
    with torch.no_grad():
        soft = ((parts.teacher(x) if taught is None else taught).float() / t).softmax(1)
    kl = F.kl_div((out.float() / t).log_softmax(1), soft, reduction="batchmean")
    return (1 - alpha) * loss + alpha * t * t * kl
