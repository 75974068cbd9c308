"""Files: atomic writes, and reading JSON and checkpoint files with clear errors.

Every file labkit writes (checkpoints, history JSON, tables, zips) goes to a
temporary file in the same folder and is moved into place with ``os.replace``:
a crash during a save leaves the previous file whole. The file gets the mode an ordinary
``open(path, "w")`` would give (0644 under the usual umask 022), so others can read it; the folder
it goes to is created when missing.
"""
import codecs
import contextlib
import glob
import hashlib
import io
import json
import math
import os
import pickle
import pickletools
import tempfile
import zipfile

import numpy as np
import torch

from .errors import CheckpointError

# the package's folder's parent: the repository root in a checkout or an unpacked bundle
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODEL_FORMAT = "labkit-model-1"
STATE_FORMAT = "labkit-train-state-1"


def shown_path(path):
    """``path`` as a printed line shows it: relative to the working folder when inside it (``runs/x``, as the
    user typed it), else with ``~`` for the home folder: a hand-in's prints carry no machine's absolute paths."""
    path = os.fspath(path)
    full, here = os.path.abspath(path), os.getcwd()
    if full == here or full.startswith(here.rstrip(os.sep) + os.sep):
        return os.path.relpath(full, here)
    home = os.path.expanduser("~")
    if home not in ("", "/") and full.startswith(home.rstrip(os.sep) + os.sep):
        return "~" + full[len(home.rstrip(os.sep)):]
    return path


def _umask():
    """The process's umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_file(path, data, append=False):
    """Write (or with ``append`` add) ``data`` (bytes) to ``path`` and flush it to the disk. Every byte labkit
    writes into a run folder goes through here (the fault-injection tests interrupt it)."""
    with open(path, "ab" if append else "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def discard(path):
    """Remove ``path``, emptied first: on Google Drive a removed file goes to the trash, where its bytes
    would count against the quota for 30 days."""
    try:
        os.truncate(path, 0)
        os.remove(path)
    except FileNotFoundError:
        pass


def temp_copies(path):
    """The temporary files :func:`atomic_path` makes next to ``path`` (left behind by a killed write)."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    return sorted(glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*.tmp")), key=os.path.getmtime)


@contextlib.contextmanager
def atomic_path(path, supersede=False):
    """Yield a temporary path next to ``path``; on success move it onto ``path`` atomically.

    ``supersede``: the file being replaced is emptied just before the swap, so that the superseded copy
    takes no space wherever it goes (Google Drive keeps replaced files in its trash). In that short
    window the temporary file, complete on disk, is the only whole copy: an interruption there completes
    the swap, and after a kill :func:`recover_temp` finds it."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets an ordinary file's mode (0644)
    os.close(fd)
    emptied = False
    try:
        yield tmp
        if supersede and os.path.isfile(path):
            emptied = True  # from here on the temporary file is the only whole copy
            os.truncate(path, 0)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            if emptied:
                os.replace(tmp, path)  # interrupted between emptying and the swap: finish the swap
            else:
                os.remove(tmp)


def recover_temp(path, readable):
    """After a kill: if ``path`` is missing or not ``readable(path)`` but a complete temporary copy of it is
    there (a kill inside :func:`atomic_path`'s swap), move the newest such copy into place. True if done."""
    if os.path.isfile(path) and readable(path):
        return False
    for tmp in reversed(temp_copies(path)):
        if readable(tmp):
            os.replace(tmp, path)
            return True
    return False


def atomic_write_bytes(path, data, supersede=False):
    with atomic_path(path, supersede) as tmp:
        write_file(tmp, data)


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


def atomic_torch_save(obj, path, supersede=False):
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue(), supersede)


def read_checkpoint(path, what="checkpoint"):
    """torch.load, weights only (a file cannot run code), with a clear error for a missing, truncated, corrupt
    or crafted file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(f"{what} {path!r} is a folder, not a checkpoint file; pass the .pth file inside it "
                              f"(a run's best weights: '{os.path.join(path, '')}best_model.pth').")
    if not os.path.isfile(path):
        raise CheckpointError(f"{what} {path!r} does not exist.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (truncated, garbage, crafted)
        reason, fix = unreadable_reason(path, e)
        raise CheckpointError(f"{what} {path!r} {reason}. {fix}") from None


def unreadable_reason(path, error):
    """(why, fix): why torch could not read the checkpoint ``path`` weights-only, in words. A file that asks to
    run code is named as such, never with torch's advice to load it with ``weights_only=False`` (that would run it)."""
    weights_only = "weights only load failed" in str(error).lower()
    asked = asked_global(path) if weights_only else None
    if asked is None:  # garbage or a cut file (torch's weights-only reader text advises the unsafe load: not shown)
        detail = "not a pickle of weights" if weights_only else (str(error).splitlines()[0][:200] if str(error)
                                                                 else "no detail")
        return (f"is corrupt or truncated and cannot be read ({type(error).__name__}: {detail})",
                "Delete it and train again, or use another checkpoint.")
    return (f"asks to run {asked}, so it was not loaded (a crafted file, or one saved with more than weights: "
            f"labkit reads weights only)", "Use a checkpoint labkit wrote (a run's best_model.pth) or one saved "
            "with torch.save(model.state_dict(), path).")


# what a checkpoint of weights names: torch's own functions and classes, OrderedDict, bytes, plain containers
SAFE_GLOBALS = {"collections.OrderedDict", "_codecs.encode", "builtins.set", "builtins.frozenset",
                "builtins.bytearray", "builtins.slice", "builtins.complex", "builtins.tuple", "builtins.list",
                "builtins.dict"}
SHOWN_MODULES = {"posix": "os", "nt": "os"}  # os.system pickles as posix.system: said as written in Python


def asked_global(path):
    """The first function or class (not torch's own, nor a plain container) that the pickle in ``path`` (a torch
    zip checkpoint's data.pkl, or the file) names, as ``module.name``; None if none (read, not unpickled)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                data = z.read(name) if name else b""
        else:
            with open(path, "rb") as f:
                data = f.read()
        texts = []
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name == "GLOBAL":
                module, _, name = str(arg).partition(" ")
            elif op.name == "STACK_GLOBAL" and len(texts) >= 2:
                module, name = texts[-2:]
            else:
                if isinstance(arg, str):
                    texts.append(arg)
                continue
            if module.split(".")[0] != "torch" and f"{module}.{name}" not in SAFE_GLOBALS:
                return f"{SHOWN_MODULES.get(module, module)}.{name}"
    except Exception:  # noqa: BLE001  (an unreadable pickle: nothing to name)
        return None
    return None


def file_sha256(path):
    """The SHA-256 of a file's content (hex): what a file is, wherever it is and whatever its name."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json_file(path, what, fix):
    """A run folder's JSON file (None if missing); a truncated or garbage one stops with ``fix``."""
    if os.path.isdir(path):
        raise CheckpointError(f"{what} {path!r} is a folder, not a file: move it out of the way (labkit writes "
                              f"that file there). {fix}".rstrip())
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{what} {path!r} is not valid JSON (truncated or overwritten: "
                              f"{type(e).__name__}: {str(e)[:120]}). {fix}") from None


# ---- pickles from users: numpy arrays and plain values only -------------------------------------------
# What the official CIFAR-10 batches (and faithful copies) hold: dicts, lists, bytes and numpy arrays. Any
# other global in a pickle (a crafted batch file's __reduce__ naming os.system, say) is refused unrun.
_RECONSTRUCT, _SCALAR = np.zeros(0).__reduce__()[0], np.float64(0).__reduce__()[0]  # numpy 1 and 2 alike
_PICKLE_GLOBALS = {("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
                   ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
                   ("numpy.core.multiarray", "scalar"): _SCALAR, ("numpy._core.multiarray", "scalar"): _SCALAR,
                   ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                   ("_codecs", "encode"): codecs.encode}  # how Python 3 writes bytes into a protocol-2 pickle


class _DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it asks to run {module}.{name}, which a data file never needs") from None


def read_data_pickle(path, encoding="bytes"):
    """``pickle.load`` of a data file a user was given (a CIFAR-10 batch), but refusing anything that is not
    plain data: a crafted file cannot run code. Raises pickle.UnpicklingError for such a file."""
    with open(path, "rb") as f:
        return _DataOnlyUnpickler(f, encoding=encoding).load()
