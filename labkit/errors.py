"""labkit's exceptions. Each message says what was wrong and how to fix it."""
import difflib
import functools
import sys


class LabkitError(Exception):
    """Base class of every error labkit raises on purpose."""


class ConfigError(LabkitError, ValueError):
    """A parameter is unknown, out of range or of the wrong type."""


class DataError(LabkitError, RuntimeError):
    """A data set or image file is unreadable, truncated or inconsistent."""


class DataMissingError(LabkitError, FileNotFoundError):
    """A data set or weights file is not there and cannot be downloaded."""


class CheckpointError(LabkitError, RuntimeError):
    """A checkpoint is corrupt or belongs to another model."""


class RunExistsError(LabkitError, FileExistsError):
    """A run folder already holds a run and this call would overwrite it."""


class RunBusyError(LabkitError, RuntimeError):
    """Another process is training this run folder right now."""


class StorageError(LabkitError, OSError):
    """A write failed for a reason outside labkit: a dropped Google Drive mount, a full or read-only disk."""


class NonFiniteLossError(LabkitError, FloatingPointError):
    """The training loss became NaN or infinite."""


def unknown_name(kind, name, valid):
    """ConfigError for an unknown name, listing the valid ones and the closest match."""
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown {kind} {name!r}.{hint} Valid {kind}s: {', '.join(valid)}")


def cli_main(main):
    """Decorate a ``main(argv=None)`` of a ``python -m labkit.<tool>`` command: a LabkitError is
    printed as one ``error: ...`` line on stderr (no traceback) and the exit code is 2."""
    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except LabkitError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return wrapper
