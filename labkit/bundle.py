"""The labkit bundle a TA publishes for Colab: one zip with the library, the notebooks, the report
template, ``resnet18.py`` and the requirements, under one top folder ``labkit/``.

    python -m labkit.bundle                    # -> dist/labkit.zip
    python -m labkit.bundle -o /tmp/labkit.zip

A student uploads it to ``/content`` or to My Drive; the first cell of every notebook finds it
there and unpacks it (labkit.bootstrap). GitHub's "Download ZIP" (top folder ``labkit-main/``)
works the same way.
"""
import argparse
import glob
import os
import sys
import zipfile

from .files import atomic_path
from .notebook import repo_root

# what a Colab session needs, relative to the repository root
CONTENTS = ("labkit/*.py", "labkit/*/*.py", "notebooks/*.ipynb", "notebooks/*.py", "notebooks/labkit_repo.txt",
            "reports/*.ipynb", "reports/*.py", "reports/README.md", "resnet18.py", "requirements*.txt",
            "README.md", "pyproject.toml")
TOP = "labkit"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # the same files give the same zip


def bundle_files(root):
    """The repository files that go into the bundle (sorted, relative to ``root``)."""
    found = {os.path.relpath(p, root) for pattern in CONTENTS for p in glob.glob(os.path.join(root, pattern))}
    return sorted(f for f in found if os.path.isfile(os.path.join(root, f)))


def make_bundle(out="dist/labkit.zip", root=None, verbose=True):
    """Write the bundle zip to ``out`` (replaced atomically); returns its path."""
    root = root or repo_root()
    if root is None:
        raise FileNotFoundError("labkit.bundle needs the labkit repository (resnet18.py next to labkit/); "
                                "run it from a checkout, not an installed copy.")
    files = bundle_files(root)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in files:
            info = zipfile.ZipInfo(f"{TOP}/{rel}".replace(os.sep, "/"), FIXED_TIME)
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            with open(os.path.join(root, rel), "rb") as f:
                z.writestr(info, f.read())
    if verbose:
        print(f"wrote {out} ({len(files)} files, {os.path.getsize(out) // 1024} KB). Students: upload it to "
              f"/content (Colab's Files panel) or to My Drive, open a notebook, Runtime > Run all.")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m labkit.bundle", description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", default="dist/labkit.zip", help="the zip to write (default: dist/labkit.zip)")
    args = ap.parse_args(argv)
    make_bundle(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
