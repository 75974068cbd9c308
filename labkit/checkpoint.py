"""Atomic file writes and checked checkpoint loading.

Every file labkit writes (checkpoints, history JSON, tables, zips) goes to a
temporary file in the same folder and is moved into place with ``os.replace``:
a crash during a save leaves the previous file whole. The file gets the mode an ordinary
``open(path, "w")`` would give (0644 under the usual umask 022), so others can read it; the folder
it goes to is created when missing.
"""
import contextlib
import io
import json
import math
import os
import tempfile

import torch

from .errors import CheckpointError

MODEL_FORMAT = "labkit-model-1"
STATE_FORMAT = "labkit-train-state-1"


def _umask():
    """The process's umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success move it onto ``path`` atomically."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets an ordinary file's mode (0644)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_bytes(path, data):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    """Strict JSON (what every reader accepts): NaN/inf numbers are written as null."""
    atomic_write_text(path, json.dumps(_finite(obj), indent=2, ensure_ascii=False, default=_json_default,
                                       allow_nan=False) + "\n")


def _finite(obj):
    if hasattr(obj, "shape") and hasattr(obj, "tolist"):  # numpy / torch numbers and arrays
        obj = obj.tolist()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _json_default(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def atomic_torch_save(obj, path):
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path, what="checkpoint"):
    """torch.load with a clear error for a missing, truncated or corrupt file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(f"{what} {path!r} is a folder, not a checkpoint file; pass the .pth file inside it "
                              f"(a run's best weights: {os.path.join(path, 'best_model.pth')!r}).")
    if not os.path.isfile(path):
        raise CheckpointError(f"{what} {path!r} does not exist.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(
            f"{what} {path!r} is corrupt or truncated and cannot be read ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:200] if str(e) else 'no detail'}). Delete it and train again, "
            f"or use another checkpoint.") from None


def unwrap(model):
    """The plain module behind torch.compile / DataParallel wrappers."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


def check_state_dict(model, state, source):
    """Load ``state`` into ``model``, summarising a mismatch instead of dumping it."""
    target = unwrap(model).state_dict()
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    shapes = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in target.items()
              if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} parameters missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if shapes:
            k, a, b = shapes[0]
            parts.append(f"{len(shapes)} of another shape (e.g. {k}: {a} in the file, {b} in the model)")
        raise CheckpointError(f"{source} does not fit this model ({type(unwrap(model)).__name__}): "
                              + "; ".join(parts) + ". It was saved from another model or another "
                              "configuration (num_classes, shortcut option...): load it into that model.")
    unwrap(model).load_state_dict(state)
    return model


def load_state_dict_file(model, path, what="weights"):
    """Load a plain state-dict file (or a labkit model checkpoint) into ``model``."""
    obj = read_checkpoint(path, what)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict):
        raise CheckpointError(f"{what} {path!r} holds a {type(obj).__name__}, not a state dict.")
    return check_state_dict(model, state, f"{what} {path!r}")


def save_model(model, path, model_name=None, model_kwargs=None, **meta):
    atomic_torch_save({"format": MODEL_FORMAT, "model_name": model_name, "model_kwargs": model_kwargs or {},
                       "state_dict": unwrap(model).state_dict(), **meta}, path)


def load_model(path, model=None, device="cpu"):
    """Load a labkit ``best_model.pth``: into ``model`` (checked) or into a fresh model
    rebuilt from the registry name stored in the file."""
    from .models import get_model

    obj = read_checkpoint(path, "model checkpoint")
    if not isinstance(obj, dict) or obj.get("format") != MODEL_FORMAT:
        if model is None:
            raise CheckpointError(f"{path!r} is not a labkit model checkpoint; pass the model to load it into.")
        return load_state_dict_file(model, path, "model checkpoint").to(device)
    name = obj.get("model_name")
    if model is None:
        if not name:
            raise CheckpointError(f"{path!r} does not name its model; pass the model to load it into.")
        # "weights" only initialises a model (pretrained download/file); the checkpoint replaces them.
        kwargs = {k: v for k, v in obj.get("model_kwargs", {}).items() if k != "weights"}
        model = get_model(name, num_classes=int(obj.get("num_classes") or 10), **kwargs)
    else:
        mine = getattr(unwrap(model), "labkit_name", None)
        if name and mine and name != mine:
            raise CheckpointError(f"{path!r} holds a '{name}' model, but you are loading it into a '{mine}'. "
                                  f"Build get_model('{name}') instead, or pick the checkpoint of a '{mine}' run.")
    check_state_dict(model, obj["state_dict"], f"model checkpoint {path!r} (model '{name}')")
    return model.to(device)
