"""Files: atomic writes, and reading JSON and checkpoint files with clear errors.

Every file labkit writes (checkpoints, history JSON, tables, zips) goes to a
temporary file in the same folder and is moved into place with ``os.replace``:
a crash during a save leaves the previous file whole. The file gets the mode an ordinary
``open(path, "w")`` would give (0644 under the usual umask 022), so others can read it; the folder
it goes to is created when missing.
"""
import codecs
import contextlib
import errno
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

from .errors import CheckpointError, StorageError

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
    writes into a run folder goes through here (the fault-injection tests interrupt it). A dropped Google Drive
    mount, a full disk or a read-only one stops with :class:`StorageError` naming the fix."""
    with named_failures(path, len(data)), open(path, "ab" if append else "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


DRIVE_DROPPED = "Google Drive dropped: run the setup cell again (it remounts), then Run all: the run continues"


def _size(n):
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{max(1, round(n / 1e3))} kB"


@contextlib.contextmanager
def named_failures(path, size=0):
    """OSErrors of a write to ``path`` (``size`` bytes) that have a known cause and fix, as StorageError:
    ENOTCONN/EIO (Colab's Drive mount dropped: Errno 107), ENOSPC/EDQUOT (no space), EROFS (read-only)."""
    folder, name = os.path.split(os.fspath(path))
    if name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3:  # atomic_path's copy of a file
        path = os.path.join(folder, name[1:].rsplit(".", 2)[0])
    try:
        yield
    except StorageError:
        raise
    except OSError as e:
        where = f"writing {shown_path(path)}: [Errno {e.errno}] {e.strerror}"
        if e.errno in (errno.ENOTCONN, errno.EIO):
            raise StorageError(f"{DRIVE_DROPPED} ({where}).") from e
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageError(
                f"no space left for {shown_path(path)} ({where}): this write needs {_size(size)} (free at least "
                f"that much, more for the epochs still to come: each writes about as much again) on the drive of "
                f"{shown_path(os.path.dirname(os.path.abspath(path)))}, then run again with resume=True: the run "
                f"continues from its last finished epoch.") from e
        if e.errno == errno.EROFS:
            raise StorageError(f"{shown_path(os.path.dirname(os.path.abspath(path)))} is on a read-only file "
                               f"system ({where}): a run can only be reloaded there once finished. Copy the run "
                               f"folder somewhere writable, or point run_dir at a writable folder.") from e
        raise


def discard(path):
    """Remove ``path``, emptied first: on Google Drive a removed file goes to the trash, where its bytes
    would count against the quota for 30 days. Only for files whose content is of no use (temporary copies,
    a stale lock or result), never for a run's only copy of a training state: see :func:`drop`."""
    try:
        os.truncate(path, 0)
        os.remove(path)
    except FileNotFoundError:
        pass


def drop(path):
    """Remove ``path`` as it is (not emptied first: on Google Drive an emptied file can reach the cloud
    before the files that make it unneeded; a removal then leaves the last whole version in Drive's trash)."""
    with named_failures(path):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def temp_copies(path):
    """The temporary files :func:`atomic_path` makes next to ``path`` (left behind by a killed write)."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    return sorted(glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*.tmp")), key=os.path.getmtime)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success move it onto ``path`` atomically.

    The file being replaced is never emptied or cut first: at every instant ``path`` is either its previous
    whole version or its new one. On Google Drive each version uploads whole (or not at all) after it is
    closed and moved into place, so the cloud too only ever holds whole versions of it (or none)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    with named_failures(path):
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets an ordinary file's mode (0644)
    os.close(fd)
    try:
        yield tmp
        with named_failures(path):
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            try:
                os.remove(tmp)
            except OSError:  # the mount is gone: the error that stopped the write is the one to show
                pass


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


def atomic_write_bytes(path, data):
    with atomic_path(path) as tmp:
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


def atomic_torch_save(obj, path):
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


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
