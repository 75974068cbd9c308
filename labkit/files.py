"""Files: atomic writes, and reading JSON and checkpoint files with clear errors.

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

# the package's folder's parent: the repository root in a checkout or an unpacked bundle
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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


def jsonable(obj):
    """``obj`` as the JSON files labkit writes hold it (tuples as lists, tensors as lists, NaN as null)."""
    return json.loads(json.dumps(_finite(obj), default=_json_default))


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


def read_json_file(path, what, fix):
    """A run folder's JSON file (None if missing); a truncated or garbage one stops with ``fix``."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{what} {path!r} is not valid JSON (truncated or overwritten: "
                              f"{type(e).__name__}: {str(e)[:120]}). {fix}") from None
