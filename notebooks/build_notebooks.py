"""Writes every notebook of the bundle (unexecuted) from its source in notebooks/src/: one builder for all.

    .venv/bin/python notebooks/build_notebooks.py          # rewrite the .ipynb files
    .venv/bin/python notebooks/build_notebooks.py --check  # exit 1 if a notebook differs from its source
    .venv/bin/python notebooks/build_notebooks.py --repo https://github.com/COURSE/labkit
        # TA, once: the git URL every notebook's setup cell clones in Colab (kept in notebooks/labkit_repo.txt)

A source is a Python file in jupytext's "percent" format: ``# %%`` starts a code cell, ``# %% [markdown]`` a
Markdown cell (its lines commented), ``tags=["..."]`` after either gives the cell's tags. So the cells' code is
real code, read by a linter and a reader as it is. The one code cell ``labkit_setup(...)`` stands for the setup
cell, written here: notebooks/setup_cell.py (pip installs labkit from its one source; it runs before labkit can
be imported) and then labkit's own setup (labkit.notebook.setup: Drive, runs and data on Drive, the GPU line).
"""
import argparse
import ast
import json
import os
import re
import sys

import jupytext
import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SRC = os.path.join(HERE, "src")
REPO_FILE = os.path.join(HERE, "labkit_repo.txt")  # the course's labkit git URL: the one place it is set
SETUP_CODE = os.path.join(HERE, "setup_cell.py")  # the setup cell's install_labkit (real code: linted, tested)

LAB_METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
    "accelerator": "GPU",  # Colab opens it on a GPU runtime
    "colab": {"provenance": [], "gpuType": "T4"},
}
# The report's template texts: a report that still holds one is not finished (labkit.handin.submit refuses it).
REPORT_PLACEHOLDERS = [
    "王小明 (Wang Xiao-Ming)",
    "Write here what the lab is about",
    "Describe the models in your own words",
    "Interpret the numbers above; do not restate them.",
    "What would you try next?",
    "List here what went wrong and how you solved it",
    "e.g. Colab disconnected during the ResNet18 runs",
    "e.g. loss became NaN at lr 0.1",
]
# the depth and transfer reports' template texts (their own placeholders)
RESNET_PLACEHOLDERS = [
    "王小明 (Wang Xiao-Ming)",
    "Write here, in your own words, what the degradation problem is",
    "Add what you want to say about the blocks and the shortcuts.",
    "Interpret the results above in your own words; do not restate the numbers.",
]
TRANSFER_PLACEHOLDERS = [
    "王小明 (Wang Xiao-Ming)",
    "Write here, in your own words, what the data set is",
    "Add your own description.",
    "Interpret the results above in your own words; do not restate the numbers.",
]
# notebook -> (source, labkit metadata): the task a hand-in notebook is (labkit.handin.submit orders by it)
NOTEBOOKS = {
    "notebooks/task1_simplecnn.ipynb": ("task1_simplecnn.py", {"task": "task1", "title": "Task 1: SimpleCNN"}),
    "notebooks/task2_resnet18.ipynb": ("task2_resnet18.py", {"task": "task2", "title": "Task 2: ResNet18 ablations"}),
    "notebooks/task3_resnet_depth.ipynb": ("task3_resnet_depth.py",
                                           {"task": "task3", "title": "ResNet depth lab: plain nets vs ResNets"}),
    "notebooks/exercise_vgg.ipynb": ("exercise_vgg.py", {"task": "exercise", "title": "Exercises: VGG11 / VGG16"}),
    "notebooks/task_transfer.ipynb": ("task_transfer.py", {"task": "transfer", "title": "Transfer learning"}),
    "reports/lab2_report.ipynb": ("lab2_report.py", {"hide_code": True, "placeholders": REPORT_PLACEHOLDERS}),
    "reports/resnet_report.ipynb": ("resnet_report.py", {"hide_code": True, "placeholders": RESNET_PLACEHOLDERS}),
    "reports/transfer_report.ipynb": ("transfer_report.py", {"hide_code": True,
                                                             "placeholders": TRANSFER_PLACEHOLDERS}),
}


def labkit_repo():
    """The git URL the setup cells clone in Colab ("" until a TA sets it with --repo URL)."""
    if not os.path.isfile(REPO_FILE):
        return ""
    with open(REPO_FILE, encoding="utf-8") as f:
        return f.read().strip()


def setup_cell(folder="notebooks", then="", repo=None):
    """The first code cell of every notebook: a Colab form with the two settings a student may change,
    notebooks/setup_cell.py (pip installs labkit from one source), then labkit.notebook.setup (and ``then``:
    the report's import)."""
    with open(SETUP_CODE, encoding="utf-8") as f:
        install = f.read().rstrip("\n")
    repo = labkit_repo() if repo is None else repo
    where = "" if folder == "notebooks" else f", folder={folder!r}"
    return f'''\
# @title Setup: install labkit, keep runs on Google Drive, check the GPU {{ display-mode: "form" }}
LABKIT_REPO = {json.dumps(repo)}  # @param {{type:"string"}}
runs_on_drive = True  # @param {{type:"boolean"}}
# LABKIT_REPO: the course's labkit git URL (set by the TA). Empty: labkit from the folder My Drive/labkit/ (your
# edits there count), else from My Drive/labkit.zip. runs_on_drive: in Colab, keep runs/ and data/ on Drive.
{install}

install_labkit(LABKIT_REPO)
import labkit.notebook
{then}labkit.notebook.setup(runs_on_drive=runs_on_drive{where});'''


def _setup_call(source):
    """The keyword arguments of a source cell that is the call ``labkit_setup(...)``, else None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Call) \
            and getattr(tree.body[0].value.func, "id", None) == "labkit_setup":
        return {k.arg: ast.literal_eval(k.value) for k in tree.body[0].value.keywords}
    return None


def build(name, repo=None):
    """The notebook ``name`` (a key of NOTEBOOKS) as the text of its .ipynb file."""
    source, meta = NOTEBOOKS[name]
    with open(os.path.join(SRC, source), encoding="utf-8") as f:
        nb = jupytext.reads(f.read(), fmt="py:percent")
    cells = []
    for cell in nb.cells:
        tags = list(cell.metadata.get("tags", []))
        kw = _setup_call(cell.source) if cell.cell_type == "code" else None
        if kw is not None:
            cell = nbformat.v4.new_code_cell(setup_cell(repo=repo, **kw))
        elif cell.cell_type == "code":
            cell = nbformat.v4.new_code_cell(cell.source)
        else:
            cell = nbformat.v4.new_markdown_cell(cell.source)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)
    out = nbformat.v4.new_notebook(cells=cells, metadata={**LAB_METADATA, "labkit": meta})
    if name.startswith("reports/"):
        out.metadata = {k: v for k, v in out.metadata.items() if k not in ("accelerator", "colab")}
        missing = [p for p in meta["placeholders"] if p not in "\n".join(c.source for c in cells)]
        assert not missing, f"placeholders not in the report template: {missing}"
    stem = os.path.splitext(os.path.basename(name))[0].replace("_", "-")
    for i, cell in enumerate(out.cells):
        cell["id"] = f"{stem}-{i:02d}"  # stable ids: rebuilding gives the same file
    nbformat.validate(out)
    return nbformat.writes(out) + "\n"


def write_all(check=False, repo=None):
    """Write every notebook whose file differs from its build (``check``: only list them); the stale ones."""
    stale = []
    for name in NOTEBOOKS:
        path = os.path.join(ROOT, name)
        text = build(name, repo)
        old = open(path, encoding="utf-8").read() if os.path.isfile(path) else None
        if old != text:
            stale.append(name)
            if not check:
                with open(path + ".tmp", "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(path + ".tmp", path)
    return stale


def set_repo(url):
    """Store the course's git URL (refusing a placeholder) and rebuild every notebook with it."""
    url = url.strip()
    if url and re.search(r"[<>{}\s]|your[-_]|example\.", url):
        print(f"--repo {url!r} is a placeholder, not a repository URL: pass the course's labkit URL, "
              f"e.g. --repo https://github.com/COURSE/labkit")
        return 2
    with open(REPO_FILE, "w", encoding="utf-8") as f:
        f.write(url + "\n")
    print(f"LABKIT_REPO = {url!r} (in {os.path.relpath(REPO_FILE, ROOT)}); rebuilding the notebooks")
    write_all()
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description="Write every notebook from its source in notebooks/src/.")
    ap.add_argument("--check", action="store_true", help="exit 1 if a notebook differs from its source")
    ap.add_argument("--repo", help="set the labkit git URL the setup cells clone in Colab, then rebuild all")
    args = ap.parse_args(argv)
    if args.repo is not None:
        return set_repo(args.repo)
    stale = write_all(check=args.check)
    if args.check and stale:
        print("out of date (run notebooks/build_notebooks.py):", ", ".join(stale))
        return 1
    print(("up to date" if args.check else "written: " + (", ".join(stale) or "nothing changed")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
