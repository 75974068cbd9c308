"""Writes every notebook of the bundle (unexecuted) from its source in notebooks/src/: one builder for all.

    .venv/bin/python notebooks/build_notebooks.py          # rewrite the .ipynb files
    .venv/bin/python notebooks/build_notebooks.py --check  # exit 1 if a notebook differs from its source
    .venv/bin/python notebooks/build_notebooks.py --repo https://github.com/COURSE/labkit
        # TA, once: the git URL every notebook's setup cell clones in Colab (kept in notebooks/labkit_repo.txt)

A source is a Python file in jupytext's "percent" format: ``# %%`` starts a code cell, ``# %% [markdown]`` a
Markdown cell (its lines commented), ``tags=["..."]`` after either gives the cell's tags. So the cells' code is
real code, read by a linter and a reader as it is. In the cell tagged ``parameters`` the line
``labkit_parameters(name=value, ...)`` stands for the parameters every lab notebook shares, written here with the
comments their declarations give (labkit.config, labkit.parameters): see :func:`expand_parameters`. The one code
cell ``labkit_setup(...)`` stands for the setup cell, written here: notebooks/setup_cell.py (pip installs labkit from
its one source; it runs before labkit can be imported) and then labkit's own setup (labkit.notebook.setup: Drive,
runs and data on Drive, the GPU line).
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
sys.path[:0] = [] if ROOT in sys.path else [ROOT]  # labkit (the declarations of the parameters) from this checkout
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


# ---- the lab notebooks' parameter cell: one shared block, its comments from the settings' declarations -----------
# A source's parameter cell may hold the stand-in ``labkit_parameters(name=value, ...)``: it becomes the shared block,
# one plain assignment per line (papermill injects after it as before), each commented with its declaration's hint
# (labkit.config.TrainConfig / DataConfig, labkit.parameters.NotebookOptions). The block has the SHARED names, the
# stand-in's keywords and the names of ORDER the cell assigns itself (its own line, own comment kept), in ORDER's order;
# a value is the stand-in's, else LAB_VALUES', else the declared default.
ORDER = ("data_root", "download", "model", "model_kwargs", "models", "depths", "kinds", "shortcut", "preact_depths",
         "epochs", "milestones", "batch_size", "optimizer", "lr", "momentum", "nesterov", "weight_decay", "scheduler", "gamma",
         "label_smoothing", "augment", "test_flip", "test_shift", "teacher_model", "teacher_epochs", "distill_alpha",
         "distill_temperature", "normalize", "norm_ratio", "val_ratio", "seed", "device", "amp", "run_dir", "limit",
         "test_limit", "progress", "run_name", "experiment", "resume", "start_over")
SHARED = ("data_root", "download", "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "scheduler",
          "normalize", "norm_ratio", "augment", "val_ratio", "seed", "device", "amp", "run_dir", "limit", "test_limit",
          "progress", "resume", "start_over")
LAB_VALUES = {"epochs": "30"}  # the labs' values where they are not the library's defaults (as source text)
COMMENT_AT = 26  # the column the comments start at


def declarations():
    """{name: (Setting, default)} of every declared parameter of a lab notebook."""
    from labkit import config, parameters

    found = {}
    for cls in (parameters.NotebookOptions, config.DataConfig, config.TrainConfig):  # the training's last: it wins
        found.update({name: (s, default) for name, s, default in config.declared(cls)})
    return found


def parameter_line(name, value, setting):
    """``name = value  # hint`` (no comment where the declaration has none)."""
    hint = setting.meaning if setting.hint is None else setting.hint
    code = f"{name} = {value}"
    return f"{code:<{COMMENT_AT - 1}} # {hint}" if hint else code


def _text(value):
    return json.dumps(value) if isinstance(value, str) else repr(value)


def shared_block(keywords, own):
    """The lines of the shared block: ``keywords`` {name: value as source text}, ``own`` {name: the cell's line}."""
    declared = declarations()
    unknown = sorted(set(keywords) - set(declared))
    assert not unknown, f"labkit_parameters() got {unknown}: no declared parameter (labkit.config, labkit.parameters)"
    lines = []
    for name in ORDER + tuple(k for k in keywords if k not in ORDER):  # a setting ORDER lacks: at the end
        if name in own:
            lines.append(own[name])
        elif name in keywords or name in SHARED:
            value = keywords.get(name, LAB_VALUES.get(name))
            lines.append(parameter_line(name, value or _text(declared[name][1]), declared[name][0]))
    return lines


def expand_parameters(source):
    """A parameter cell's source with its ``labkit_parameters(...)`` stand-in written out (unchanged without one)."""
    tree, lines = ast.parse(source), source.split("\n")
    calls = [s for s in tree.body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
             and getattr(s.value.func, "id", None) == "labkit_parameters"]
    if not calls:
        return source
    call = calls[0].value
    keywords = {k.arg: ast.get_source_segment(source, k.value) for k in call.keywords}
    own = {s.targets[0].id: s for s in tree.body if isinstance(s, ast.Assign) and len(s.targets) == 1
           and isinstance(s.targets[0], ast.Name) and s.targets[0].id in ORDER}
    moved = {i for s in own.values() for i in range(s.lineno - 1, s.end_lineno)}
    block = shared_block(keywords, {n: "\n".join(lines[s.lineno - 1:s.end_lineno]) for n, s in own.items()})
    keep = [line for i, line in enumerate(lines[:calls[0].lineno - 1]) if i not in moved]
    after = [line for i, line in enumerate(lines) if i >= calls[0].end_lineno and i not in moved]
    return "\n".join(keep + block + after)


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
            cell = nbformat.v4.new_code_cell(expand_parameters(cell.source) if "parameters" in tags else cell.source)
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
