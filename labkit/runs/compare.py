"""The one compatibility check of a run folder: a call's settings and data against what a run recorded
(fit's resume, the experiment runner's plan, the transfer study and the distillation teacher ask it)."""
import dataclasses
import os

from ..config import TrainConfig
from ..errors import ConfigError
from ..files import jsonable
from .layout import BEST


# Hyper-parameters that must match for a run to be resumed.
RESUME_KEYS = TrainConfig.RESUME_KEYS  # the settings declared resume=True (labkit.config)
# the distillation teacher is compared by what it is (:func:`_teacher_diff`): these entries of its record
TEACHER_KEYS = ("sha256", "model", "num_classes", "epochs", "seed", "data_digest", "normalize")
# what a record from before a setting existed holds for it: the setting's default
RECORD_DEFAULTS = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                   for f in dataclasses.fields(TrainConfig)}
# data description keys that say where the data was, not what it is: the same images moved or spelled
# differently are the same data (compared by ``digest``)
DATA_PLACES = ("source", "train_csv", "test_csv", "image_dir", "data_root")


def settings_diff(old, settings=None, data=None, data_keys=None):
    """[(name, was, now)] for what differs between the run record ``old`` (last.pth's or config.json) and the
    new ``settings`` (``TrainConfig.to_dict()``: the :data:`RESUME_KEYS`) and data description ``data``
    (``data.describe()``; only ``data_keys`` when given, named ``data <key>`` otherwise). The data is
    compared by what it is (split sizes, normalization, content digest), not by where it is.

    The one compatibility check of a run folder: fit's resume, the experiment runner's plan and the
    transfer study all ask it."""
    diff = []
    if settings is not None:
        keys = [k for k in RESUME_KEYS if k in settings]  # class_weights: only where fit resolved them
        was = {k: _comparable(k, old.get(k, RECORD_DEFAULTS.get(k))) for k in keys}
        diff += [(k, old.get(k, RECORD_DEFAULTS.get(k)), settings.get(k)) for k in keys
                 if was[k] != _comparable(k, settings.get(k))]
        diff += _teacher_diff(old, settings)
    was = old.get("data")
    if data is None or not isinstance(was, dict):
        return diff
    now = jsonable(data)
    if data_keys is not None:
        return diff + [(k, was.get(k), now.get(k)) for k in data_keys if k in was and was.get(k) != now.get(k)]
    keys = sorted((set(was) | set(now)) - set(DATA_PLACES))
    if "digest" in was and "digest" in now and was["digest"] == now["digest"]:
        # same content: the split sizes and counts are the same too; only the normalization may differ
        keys = [k for k in keys if k in ("normalize", "mean", "std", "norm_ratio")]
    else:  # other content (or a run recorded before data digests): what differs said in words
        keys = [k for k in keys if k != "digest"]
    data_diff = [(f"data {k}", was.get(k), now.get(k)) for k in keys if was.get(k) != now.get(k)]
    if not data_diff and "digest" in was and "digest" in now and was["digest"] != now["digest"]:
        data_diff = [("data digest", was["digest"], now["digest"])]  # the same sizes, other images
    return diff + data_diff


def _comparable(key, value):
    """A setting as resumes compare it: a teacher's path by its run folder's name (records from before teachers
    were recorded by content)."""
    if key == "teacher" and value:
        parts = os.path.normpath(os.fspath(value)).split(os.sep)
        return parts[-2] if parts[-1] == BEST and len(parts) > 1 else parts[-1]
    return jsonable(value)


def _teacher_diff(old, new):
    """[(name, was, now)]: the distillation teacher compared by what it is (its checkpoint's SHA-256, model,
    classes, epochs, seed and data: each entry both records know), not by its folder's name or place."""
    was_path, now_path = old.get("teacher"), new.get("teacher")
    if not was_path and not now_path:
        return []
    if not was_path or not now_path:
        return [("teacher", was_path, now_path)]
    was, now = old.get("teacher_record"), new.get("teacher_record")
    if not isinstance(was, dict) or not isinstance(now, dict):  # a record from before: by the folder's name
        return [] if _comparable("teacher", was_path) == _comparable("teacher", now_path) else \
            [("teacher", was_path, now_path)]
    return [(f"teacher {k}", was.get(k), now[k]) for k in TEACHER_KEYS
            if now.get(k) is not None and was.get(k) is not None and jsonable(was[k]) != jsonable(now[k])]


def diff_text(diff, sep=", "):
    """``k was a, now b`` for each difference of :func:`settings_diff`."""
    return sep.join(f"{k} was {a!r}, now {b!r}" for k, a, b in diff)


def _check_same_settings(path, old, cfg, data):
    """ConfigError listing every setting (and data value) that differs from what the run recorded."""
    diff = settings_diff(old, cfg.to_dict(), data.describe())
    if diff:
        raise ConfigError(f"cannot resume {path!r} with other settings: {diff_text(diff)}. "
                          f"Use the run's settings, or resume=False for a new run.")
