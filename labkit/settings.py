"""A setting's declaration and the readers of one value: labkit's settings classes (:mod:`labkit.config`,
:mod:`labkit.parameters`) declare each field once with :func:`setting` (its meaning, unit, default, check,
whether a resume compares it, its report row); ``as_int`` / ``as_float`` / ``as_bool`` / ``as_list`` /
``as_count`` / ``as_augment`` read one value, from Python or from papermill's text, or raise a ConfigError
naming the parameter and a valid example."""
import json
import math
import textwrap
from dataclasses import MISSING, dataclass, field, fields

import numpy as np

from .errors import ConfigError

INT_MAX = 2**63 - 1  # the largest integer torch (int64) takes: a larger one would fail inside a torch call


@dataclass(frozen=True)
class Setting:
    """What one setting is, declared once beside its field (``x: int = setting(0, "...")``): TrainConfig's docstring,
    its check, the settings a resume compares (:data:`TrainConfig.RESUME_KEYS`), the report's hyper-parameter table
    (``labkit.report``), the notebooks' parameter check (``labkit.parameters``) and their parameter comments
    (notebooks/build_notebooks.py) are all read from it, so a new setting is in every one of them."""

    meaning: str             # what it does: the docstring's text, and the notebooks' comment unless ``hint``
    unit: str = ""           # what its number counts ("epochs", "steps", "a fraction", "pixels")
    label: str = ""          # the report's row; settings sharing a row are described together; "": not reported
    resume: bool = False     # a resume compares it: a run continued with another value would not be the same run
    check: object = None     # (name, value) -> the canonical value, or a ConfigError naming the fix
    hint: str = None         # the notebooks' comment beside the parameter (None: ``meaning``; "": none)
    details: str = ""        # more for the docstring (where the labs use it)
    shown_off: bool = True   # the report shows the value also when it is off (0, False, None, empty); else "-"

    def doc(self, name, default):
        """One entry of a settings class's docstring."""
        unit = f" ({self.unit})" if self.unit else ""
        text = f"{self.meaning}{unit}; default {default!r}" + (f"; {self.details}" if self.details else "")
        return f"{name:<16} " + "\n                 ".join(textwrap.wrap(text, 100))


def setting(default, meaning, *, init=True, **declared):
    """A settings field with its :class:`Setting` (``declared``: its unit, label, resume, check, hint, details,
    shown_off); ``init=False``: a field fit fills in, no parameter."""
    meta = {"setting": Setting(meaning, **declared)}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), init=init, metadata=meta)
    return field(default=default, init=init, metadata=meta)


def declaration(f):
    """The :class:`Setting` of a dataclass field (a Setting saying only its name for an undeclared one)."""
    return f.metadata.get("setting") or Setting(f.name)


def default_of(f):
    return f.default_factory() if f.default is MISSING else f.default


def declared(cls, want=lambda s: True):
    """[(name, Setting, default)] of the fields of ``cls`` whose declaration ``want`` selects, in their order."""
    return [(f.name, declaration(f), default_of(f)) for f in fields(cls) if want(declaration(f))]


def document(cls):
    """``cls``'s docstring followed by one entry per declared setting (its meaning, unit, default, details)."""
    cls.__doc__ = cls.__doc__.rstrip() + "\n\n" + "\n".join(
        "    " + s.doc(n, d).replace("\n", "\n    ") for n, s, d in declared(cls)) + "\n"
    return cls


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
