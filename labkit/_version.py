"""labkit's version: the release, and the git commit the code is (``0.2.0+g1a2b3c4``), so two copies of
labkit tell themselves apart in the setup cell's line, in every run's config.json and in the hand-in.

The commit is read from the checkout's ``.git`` (files only: no git needed), else from this file as
``git archive`` wrote it (GitHub's "Download ZIP" substitutes ``$Format:%h$``: .gitattributes
``export-subst``; ``python -m labkit.bundle`` writes it the same way). Standard library only and no
relative import: pyproject.toml reads ``__version__`` from here at build time, without importing labkit.
"""
import os

RELEASE = "0.2.0"
ARCHIVE_COMMIT = "$Format:%h$"  # replaced by the commit in an archive of the repository


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def git_commit(root):
    """The commit (7 hex digits) the checkout at ``root`` is at, read from its .git; None if not a checkout.
    A worktree's ``.git`` is a file naming its folder; branches may be packed (packed-refs)."""
    git = os.path.join(root, ".git")
    if os.path.isfile(git):
        line = _read(git)
        git = os.path.join(root, line[len("gitdir:"):].strip()) if line.startswith("gitdir:") else ""
    head = _read(os.path.join(git, "HEAD")) if git else ""
    if head.startswith("ref: "):
        ref = head[5:]
        common = os.path.join(git, _read(os.path.join(git, "commondir")) or ".")
        head = _read(os.path.join(git, ref)) or _read(os.path.join(common, ref))
        if not head:
            packed = _read(os.path.join(common, "packed-refs")).splitlines()
            head = next((ln.split()[0] for ln in packed if ln.rstrip().endswith(" " + ref)), "")
    return head[:7] if len(head) >= 7 and all(c in "0123456789abcdef" for c in head[:7]) else None


def _installed_version():
    """The version pip recorded when it installed this very copy (a wheel built from a checkout), or None."""
    try:
        from importlib import metadata
        dist = metadata.distribution("labkit")
        here = os.path.realpath(__file__)
        return dist.version if os.path.realpath(dist.locate_file("labkit/_version.py")) == here else None
    except Exception:  # noqa: BLE001  (not installed, or metadata unreadable: the release alone)
        return None


def version(root=None):
    """``RELEASE+g<commit>`` where the commit is known, else what pip recorded for this copy, else ``RELEASE``."""
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = git_commit(root) or ("" if ARCHIVE_COMMIT.startswith("$") else ARCHIVE_COMMIT.strip()[:7])
    return f"{RELEASE}+g{commit}" if commit else (_installed_version() or RELEASE)


__version__ = version()
