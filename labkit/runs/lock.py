"""The lock: one process per run folder."""
import json
import os
import socket
import threading
import time
import uuid

from ..errors import CheckpointError, RunBusyError
from ..files import drop
from .layout import LOCK


class RunLock:
    """``.lock`` in a run folder while a process trains it. A second process (a second Colab tab on the same
    Drive run) is refused with a clear message. The holder renews it every BEAT seconds, so the lock of a
    process that died (a killed kernel, a lost VM) is taken over: at once on the same machine, after STALE
    seconds without renewal elsewhere."""

    BEAT, STALE = 20.0, 120.0
    _held = set()  # lock files this process holds

    def __init__(self, folder):
        self.path = os.path.join(folder, LOCK)
        self.token, self._stop, self._thread = uuid.uuid4().hex, threading.Event(), None

    def _holder(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _age(self):
        """Seconds since the lock's last sign of life. A time in the future (its holder's clock runs ahead) is
        set to now: from here on it ages by this machine's clock (a live holder renews it within BEAT)."""
        age = time.time() - os.path.getmtime(self.path)
        if age < 0:
            try:
                os.utime(self.path)
            except OSError:
                pass
            age = 0.0
        return age

    def _stale(self, holder):
        try:
            age = self._age()
        except OSError:
            return True
        if age > self.STALE:
            return True
        if not isinstance(holder, dict):
            return age > 5  # a lock file being written this instant is not stale
        if holder.get("host") == socket.gethostname():
            pid = holder.get("pid")
            if pid == os.getpid():
                return self.path not in self._held
            try:
                os.kill(int(pid), 0)
            except (ProcessLookupError, ValueError, TypeError):
                return True
            except PermissionError:
                return False
        return False

    def acquire(self):
        if os.path.isdir(self.path):
            raise CheckpointError(f"{self.path!r} is a folder, but labkit keeps the run's lock file {LOCK} there: move "
                                  f"that folder out of the run folder, then run again. Nothing was changed.")
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
              "token": self.token}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if not self._stale(holder):
                    raise RunBusyError(self._busy_message(holder)) from None
                drop(self.path)  # a gone process's lock, removed whole (emptied first, a kill between read as busy)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(me, f)
            self._held.add(self.path)
            self._thread = threading.Thread(target=self._beat, daemon=True, name="labkit-run-lock")
            self._thread.start()
            return self
        raise RunBusyError(self._busy_message(self._holder()))

    def _busy_message(self, holder):
        holder = holder if isinstance(holder, dict) else {}
        folder = os.path.dirname(self.path)
        try:
            ago = f"{self._age():.0f} s ago"
        except OSError:
            ago = "just now"
        return (f"run folder {folder!r} is being trained by another process (pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')}, since {holder.get('since', '?')}; last sign of life {ago}): two "
                f"sessions would write the same files. Wait until it finishes (then resume=True reloads it), stop "
                f"the other session, or use another run_name. A lock whose process died is taken over by itself "
                f"{self.STALE:.0f} s after its last sign of life (at once on the same machine).")

    def _beat(self):
        while not self._stop.wait(self.BEAT):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self):
        self._stop.set()
        self._held.discard(self.path)
        holder = self._holder()
        if isinstance(holder, dict) and holder.get("token") == self.token:
            drop(self.path)  # removed whole, not emptied first: an interrupt between would leave a lock that reads busy
