"""The labkit bundle a TA publishes for Colab: one zip with the library, the notebooks, the report
template, ``resnet18.py`` and the requirements, under one top folder ``labkit/``.

    python -m labkit.bundle                    # -> dist/labkit.zip
    python -m labkit.bundle -o /tmp/labkit.zip [--root CHECKOUT]

A student uploads it to My Drive as ``labkit.zip``; the first cell of every notebook pip-installs it
from there (notebooks/setup_cell.py). GitHub's "Download ZIP" (top folder ``labkit-main/``) renamed
``labkit.zip`` works the same way.

What goes in: the files matching ``CONTENTS``. In a git checkout only files git tracks (``git ls-files``)
are candidates, so a TA's scratch module in ``labkit/`` or an executed copy in ``notebooks/`` stays out
(the untracked files left out are listed). A notebook holding outputs (a TA's executed solution, say) is
never shipped: in a git checkout the bundle is refused, naming it (clear its outputs or restore the
committed notebook); outside git (an unpacked copy) it is left out, with a printed list.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import zipfile

from ._version import git_commit
from .errors import LabkitError, cli_main
from .files import atomic_path
from .notebook import repo_root

# what a Colab session needs, relative to the repository root
CONTENTS = ("labkit/*.py", "labkit/*/*.py", "notebooks/*.ipynb", "notebooks/*.py", "notebooks/labkit_repo.txt",
            "reports/*.ipynb", "reports/*.py", "reports/README.md", "resnet18.py", "requirements*.txt",
            "README.md", "pyproject.toml")
TOP = "labkit"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # the same files give the same zip


class BundleError(LabkitError):
    """The bundle cannot be made as the folder is (an executed notebook among the files to ship)."""


def git_tracked(root):
    """The files git tracks under ``root`` (relative paths), or None when ``root`` is not a git checkout."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--", "."], capture_output=True,
                             timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return {os.path.normpath(p) for p in out.stdout.decode("utf-8", "replace").split("\0") if p}


def has_outputs(path):
    """True for a notebook with an output or an execution count in a code cell (it was run and saved)."""
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, ValueError):
        return False  # not a notebook we can read: shipped as it is, as before
    return any(c.get("outputs") or c.get("execution_count") is not None
               for c in nb.get("cells", []) if c.get("cell_type") == "code")


def bundle_files(root, verbose=False):
    """The repository files that go into the bundle (sorted, relative to ``root``); see the module doc."""
    on_disk = {os.path.relpath(p, root) for pattern in CONTENTS for p in glob.glob(os.path.join(root, pattern))
               if os.path.isfile(p)}
    tracked = git_tracked(root)
    files = sorted(on_disk if tracked is None else on_disk & tracked)
    if verbose and tracked is not None and on_disk - tracked:
        print("left out (not tracked by git): " + ", ".join(sorted(on_disk - tracked)))
    executed = [f for f in files if f.endswith(".ipynb") and has_outputs(os.path.join(root, f))]
    if executed and tracked is not None:
        raise BundleError(f"{', '.join(executed)} hold(s) outputs (an executed notebook): students would get its "
                          f"results. Clear them (jupyter nbconvert --clear-output --inplace FILE) or restore the "
                          f"committed notebook (git restore FILE), then bundle again.")
    if executed and verbose:
        print("left out (notebooks holding outputs): " + ", ".join(executed))
    return [f for f in files if f not in executed]


def stamp_commit(rel, data, root):
    """labkit/_version.py with the commit written in, as ``git archive`` (GitHub's Download ZIP) writes it: the
    unpacked or pip-installed copy then says which commit it is (``0.2.0+g<commit>``)."""
    commit = git_commit(root)
    if rel.replace(os.sep, "/") != "labkit/_version.py" or not commit:
        return data
    return data.replace(b'ARCHIVE_COMMIT = "$Format:%h$"', f'ARCHIVE_COMMIT = "{commit}"'.encode())


def make_bundle(out="dist/labkit.zip", root=None, verbose=True):
    """Write the bundle zip to ``out`` (replaced atomically); returns its path."""
    root = root or repo_root()
    if root is None:
        raise FileNotFoundError("labkit.bundle needs the labkit repository (resnet18.py next to labkit/); "
                                "run it from a checkout, not an installed copy.")
    files = bundle_files(root, verbose)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in files:
            info = zipfile.ZipInfo(f"{TOP}/{rel}".replace(os.sep, "/"), FIXED_TIME)
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            with open(os.path.join(root, rel), "rb") as f:
                z.writestr(info, stamp_commit(rel, f.read(), root))
    if verbose:
        print(f"wrote {out} ({len(files)} files, {os.path.getsize(out) // 1024} KB). Students: upload it to "
              f"My Drive as labkit.zip, open a notebook, Runtime > Run all.")
    return out


@cli_main
def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m labkit.bundle", description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", default="dist/labkit.zip", help="the zip to write (default: dist/labkit.zip)")
    ap.add_argument("--root", help="the labkit checkout to bundle (default: the one labkit was imported from)")
    args = ap.parse_args(argv)
    make_bundle(args.out, root=args.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
