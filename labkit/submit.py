"""The hand-in zip: ``<student id>_<lab>.zip`` holding the executed notebook, its PDF and extra files.

    python -m labkit.submit --student-id F74091234 --lab lab2 --notebook runs/task2_out.ipynb \\
        [--pdf report.pdf] [--out-dir .] [--extra other.py ...] [--force]

writes ``F74091234_lab2.zip`` with ``F74091234_lab2.ipynb`` (the notebook as it is, outputs
kept), ``F74091234_lab2.pdf`` (``--pdf``, else exported from the notebook with
:mod:`labkit.export`) and, for lab2, the repository's ``resnet18.py``, plus any ``--extra`` files.

Everything is checked before anything is written: the student id and lab name (usable in a file
name), that the notebook was executed and holds no error output (the cell and the error are
named), that the files exist, and that the zip is not there already (``--force`` replaces it).
The zip is written to a temporary file, verified, and moved into place atomically.
"""
import argparse
import importlib.util
import os
import re
import sys
import tempfile
import time
import zipfile

from .checkpoint import atomic_path
from .errors import LabkitError, cli_main

# Files every submission of a lab carries besides the notebook and the PDF (module names: the file in
# the root of the labkit checkout, else where Python imports the module from).
LAB_EXTRAS = {"lab2": ["resnet18"]}
_BAD_NAME = re.compile(r"[\s/\\:*?\"<>|\x00-\x1f]")


class SubmissionError(LabkitError, ValueError):
    """The submission cannot be made as asked (bad id, unexecuted notebook, missing file...)."""


class SubmissionExistsError(SubmissionError, FileExistsError):
    """The zip is already there and ``force`` was not given."""


def check_name(kind, value, example):
    """A student id / lab name usable in a file name: non-empty, no spaces or path characters."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise SubmissionError(f"{kind} is empty; give it, e.g. {example}")
    if _BAD_NAME.search(text) or text in (".", "..") or text.startswith("."):
        raise SubmissionError(f"{kind} {value!r} cannot be part of a file name (no spaces, no / \\ : * ? \" < > |, "
                              f"not starting with '.'); give it as e.g. {example}")
    return text


def _source_line(cell):
    src = cell.get("source", "")
    src = "".join(src) if isinstance(src, list) else src
    first = next((ln.strip() for ln in src.splitlines() if ln.strip()), "")
    return first[:80] + ("..." if len(first) > 80 else "")


def check_notebook(path):
    """Read ``path`` and check it is an executed notebook without error outputs; returns
    (notebook, [warnings]). Raises SubmissionError naming what is wrong and the fix."""
    import nbformat

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SubmissionError(f"notebook {path!r} does not exist.")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:
        raise SubmissionError(f"{path!r} is not a readable Jupyter notebook ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200] if str(e) else ''}).") from None
    code = [(i, c) for i, c in enumerate(nb.cells, 1) if c.get("cell_type") == "code"]
    ran = [(i, c) for i, c in code if c.get("execution_count") is not None or c.get("outputs")]
    if not ran:
        raise SubmissionError(
            f"notebook {path!r} was never executed: none of its {len(code)} code cells has run or has an output. "
            f"Run all its cells (Jupyter/Colab: Run all; headless: papermill IN.ipynb OUT.ipynb) and save it with "
            f"its outputs, then submit the executed notebook.")
    errors = []
    for i, c in code:
        for o in c.get("outputs", []) or []:
            if o.get("output_type") == "error":
                n = c.get("execution_count")
                errors.append(f"cell {i}{f' [{n}]' if n is not None else ''} ({_source_line(c)!r}): "
                              f"{o.get('ename', 'Error')}: {str(o.get('evalue', '')).splitlines()[0][:200] if o.get('evalue') else ''}")
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise SubmissionError(f"notebook {path!r} holds {len(errors)} error output(s){more}:\n  "
                              + "\n  ".join(errors[:5]) + "\nFix the cause, run the notebook again from the top and "
                              "submit the run without errors.")
    warns = []
    skipped = [i for i, c in code if _source_line(c) and c.get("execution_count") is None and not c.get("outputs")]
    if skipped:
        warns.append(f"code cell(s) {', '.join(map(str, skipped[:10]))}{' ...' if len(skipped) > 10 else ''} of "
                     f"{path!r} did not run; if that is not on purpose, run all cells and save again.")
    return nb, warns


def default_extras(lab):
    """The files ``lab`` always carries (e.g. lab2: the repository's resnet18.py)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = []
    for mod in LAB_EXTRAS.get(str(lab).lower(), []):
        path = os.path.join(root, f"{mod}.py")  # the checkout's root (an editable / source install)
        if not os.path.isfile(path):  # an installed labkit: the module installed with it
            spec = importlib.util.find_spec(mod)
            path = spec.origin if spec is not None and spec.origin else None
        if not path or not os.path.isfile(path):
            raise SubmissionError(f"{lab} submissions include {mod}.py, but it cannot be found (it lives in the labkit "
                                  f"repository's root). Run from the repository, or pass --extra path/to/{mod}.py "
                                  f"with --no-default-extras.")
        files.append(path)
    return files


def _plan_extras(lab, extras, use_defaults, reserved):
    """{name in the zip: file}: the lab's default files, then ``extras`` (one of the same name replaces
    the default). Every file must exist; two different files may not share a name."""
    plan, origin = {}, {}
    for f in (default_extras(lab) if use_defaults else []):
        plan[os.path.basename(f)] = f
        origin[os.path.basename(f)] = "default"
    for f in extras or []:
        f = os.fspath(f)
        if not os.path.isfile(f):
            raise SubmissionError(f"extra file {f!r} does not exist.")
        name = os.path.basename(f)
        if name in reserved:
            raise SubmissionError(f"extra file {f!r} would be stored as {name!r}, the name of the notebook/PDF in the "
                                  f"zip; rename it.")
        if name in plan and origin[name] == "extra" and os.path.realpath(plan[name]) != os.path.realpath(f):
            raise SubmissionError(f"two extra files are named {name!r} ({plan[name]!r} and {f!r}); a zip holds one.")
        plan[name] = f
        origin[name] = "extra"
    return plan


def make_submission(student_id, lab, notebook, pdf=None, out_dir=".", extras=(), force=False, use_default_extras=True,
                    export_options=None, verbose=True):
    """Write ``<out_dir>/<student_id>_<lab>.zip`` (see the module doc); returns its path.

    ``pdf``: an existing PDF (e.g. the exported report) to include; None exports ``notebook`` with
    :func:`labkit.export.export_pdf` (``export_options``: its keyword arguments). ``extras``: more
    files, stored by their base name. ``force``: replace an existing zip (atomically, after the new
    one is complete). ``use_default_extras=False`` leaves out the lab's default files (resnet18.py).
    """
    sid = check_name("student id", student_id, "F74091234")
    lab = check_name("lab", lab, "lab2")
    stem = f"{sid}_{lab}"
    out_dir = os.fspath(out_dir or ".")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SubmissionError(f"--out-dir {out_dir!r} is a file, not a folder.")
    zip_path = os.path.join(out_dir, f"{stem}.zip")
    if os.path.exists(zip_path) and not force:
        raise SubmissionExistsError(f"{zip_path!r} already exists and is left as it is. Pass --force (force=True) to "
                                    f"replace it (the old zip stays until the new one is complete), or use another "
                                    f"--out-dir.")
    nb, warns = check_notebook(notebook)
    if pdf is not None:
        pdf = os.fspath(pdf)
        if not os.path.isfile(pdf):
            raise SubmissionError(f"PDF {pdf!r} does not exist; leave out --pdf to export it from the notebook.")
        with open(pdf, "rb") as f:
            if f.read(5) != b"%PDF-":
                raise SubmissionError(f"{pdf!r} is not a PDF file (it does not start with %PDF-).")
        if os.path.getmtime(pdf) < os.path.getmtime(notebook):
            warns.append(f"the PDF {pdf!r} is older than the notebook {notebook!r}; export it again if the notebook "
                         f"changed (python -m labkit.export).")
    files = {f"{stem}.ipynb": os.fspath(notebook)}
    files.update(_plan_extras(lab, extras, use_default_extras, {f"{stem}.ipynb", f"{stem}.pdf"}))
    for w in warns:
        if verbose:
            print(f"warning: {w}")

    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="labkit-submit-") as work:
        if pdf is None:
            from .export import export_pdf

            pdf = export_pdf(notebook, os.path.join(work, f"{stem}.pdf"), verbose=verbose, **(export_options or {}))
        members = [(f"{stem}.ipynb", files.pop(f"{stem}.ipynb")), (f"{stem}.pdf", pdf)] + sorted(files.items())
        replaced = os.path.exists(zip_path)
        with atomic_path(zip_path) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
                for name, src in members:
                    z.write(src, arcname=name)
            with zipfile.ZipFile(tmp) as z:  # verify before it replaces anything
                bad = z.testzip()
                if bad is not None or sorted(z.namelist()) != sorted(n for n, _ in members):
                    raise SubmissionError(f"the new zip failed its check ({bad or 'members differ'}); nothing was "
                                          f"replaced.")
    if verbose:
        with zipfile.ZipFile(zip_path) as z:
            infos = z.infolist()
        print(f"{'replaced' if replaced else 'wrote'} {zip_path} ({os.path.getsize(zip_path) / 1024:.0f} KiB, "
              f"{time.time() - t0:.1f} s):")
        for i in infos:
            print(f"  {i.filename:<40} {i.file_size / 1024:>8.1f} KiB")
    return zip_path


@cli_main
def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m labkit.submit",
        description="Make the hand-in zip <student-id>_<lab>.zip: executed notebook + PDF (+ resnet18.py for lab2).")
    p.add_argument("--student-id", required=True, help="e.g. F74091234")
    p.add_argument("--lab", required=True, help="e.g. lab2")
    p.add_argument("--notebook", required=True, help="the executed notebook (outputs kept)")
    p.add_argument("--pdf", help="the PDF to include (default: exported from the notebook with labkit.export)")
    p.add_argument("--out-dir", default=".", help="where the zip goes (default: here)")
    p.add_argument("--extra", action="append", default=[], metavar="FILE", nargs="+",
                   help="more files to include (stored by their base name); may be repeated")
    p.add_argument("--no-default-extras", action="store_true",
                   help="leave out the lab's default files (lab2: the repository's resnet18.py)")
    p.add_argument("--force", action="store_true", help="replace an existing zip of the same name")
    a = p.parse_args(argv)
    extras = [f for group in a.extra for f in group]
    make_submission(a.student_id, a.lab, a.notebook, pdf=a.pdf, out_dir=a.out_dir, extras=extras, force=a.force,
                    use_default_extras=not a.no_default_extras)
    return 0


if __name__ == "__main__":
    sys.exit(main())
