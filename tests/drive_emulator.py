"""A Google Drive emulator for run folders (test helper, not a test module).

Colab's DriveFS writes to the VM's disk first and uploads each file later, on its own, in any order: after a
lost VM the cloud holds each file of a run folder at any version the VM's disk had given it so far, or none
(googlecolab/colabtools #659, #287, #2869). :class:`DriveRecorder` records every version of every file a run
writes, as the VM's disk saw it, by wrapping labkit's write functions (``files.write_file`` and the
``os.replace`` / ``os.remove`` / ``os.truncate`` of :mod:`labkit.files`); :meth:`DriveRecorder.cloud` builds
the cloud's view at a disconnect moment: per file, a (seeded) random choice among "not uploaded" and each
version it had reached by then (a removed file's "version" is its absence). A file's upload is whole: a
version is never seen cut (DriveFS uploads a closed file), but an emptied or removed file, a temporary copy
never renamed, a rename seen only half (the new name without the old one's removal, or the reverse) all are.
"""
import os
import random

from labkit import files, runs

SKIP = (runs.LOCK,)  # the lock of a lost VM is another matter (RunLock: taken over 2 min after its last beat)


class DriveRecorder:
    """Every version of every file under ``root`` as labkit writes it, numbered by write event."""

    def __init__(self, root):
        self.root, self.events, self.versions = os.path.abspath(os.fspath(root)), 0, {}
        self._write, self._os = files.write_file, files.os

    def _record(self, path):
        path = os.path.abspath(os.fspath(path))
        if not path.startswith(self.root + os.sep):
            return
        name = os.path.relpath(path, self.root)
        if os.path.basename(name) in SKIP:
            return
        content = None
        if os.path.isfile(path):
            with open(path, "rb") as f:
                content = f.read()
        self.versions.setdefault(name, []).append((self.events, content))

    def _event(self, *paths):
        self.events += 1
        for p in paths:
            self._record(p)

    def write_file(self, path, data, append=False):
        if not append:  # the file is there, empty, before its bytes (a temporary copy: made by mkstemp)
            open(path, "wb").close()
            self._event(path)
        self._write(path, data, append)
        self._event(path)

    def install(self, setattr):
        """Wrap labkit's writes with ``setattr`` (pytest's monkeypatch.setattr). Returns self."""
        outer = self

        class Os:
            def __getattr__(self, name):
                return getattr(outer._os, name)

            @staticmethod
            def replace(src, dst):
                outer._os.replace(src, dst)
                outer._event(src, dst)

            @staticmethod
            def remove(path):
                outer._os.remove(path)
                outer._event(path)

            @staticmethod
            def truncate(path, length):
                outer._os.truncate(path, length)
                outer._event(path)

        setattr(files, "write_file", self.write_file)
        setattr(runs.folder, "write_file", self.write_file)
        setattr(files, "os", Os())
        return self

    def committed(self, moment):
        """What the VM's disk held at ``moment``: each file's latest version (a SIGKILL's view)."""
        out = {}
        for name, vs in self.versions.items():
            seen = [c for i, c in vs if i <= moment]
            if seen and seen[-1] is not None:
                out[name] = seen[-1]
        return out

    def cloud(self, moment, rng):
        """The cloud's view after a disconnect at ``moment``: {name: bytes} (files not there left out)."""
        out = {}
        for name in sorted(self.versions):
            choices = [None] + [c for i, c in self.versions[name] if i <= moment]
            content = rng.choice(choices)
            if content is not None:
                out[name] = content
        return out


def write_view(view, folder):
    """Lay a view ({name: bytes}) out as the run folder ``folder`` (what a new VM finds on Drive)."""
    os.makedirs(folder, exist_ok=True)
    for name, content in view.items():
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)


def disconnect_states(recorder, n, seed):
    """``n`` seeded (moment, view) pairs: a moment uniformly among the run's write events, a view of it."""
    rng = random.Random(seed)
    return [(m, recorder.cloud(m, rng)) for m in (rng.randint(0, recorder.events) for _ in range(n))]
