"""The hand-in's last appendix: the labkit source that produced the results, read at hand-in time.

    from labkit.handin.source import source_appendix, provenance
    cells = source_appendix("Appendix", notebooks=[task1_nb, task2_nb])   # Markdown cells for the hand-in
    provenance()                            # 'labkit 0.1.0, git commit 6c9d58f... (no local changes)'

A grader sees the code the lab's runs really used, once: the model classes of those runs, the training loop
and step, the loss, optimizer and scheduler set-up, the evaluation and the data pipeline of that lab (CIFAR-10's
for Lab 2 and the depth lab, the image-folder one for the transfer lab). Which pieces is read from the task
notebooks: their task (``metadata.labkit.task``) and their parameters (a distillation teacher adds the CIFAR
ResNets and the distillation loss). A piece a notebook already prints (SimpleCNN's and ``resnet18.py``'s code
via ``labkit.show_source``) is named, not printed again. Each piece is read with ``inspect.getsource`` from the
labkit this process imported, so it is what ran when the notebooks ran with this labkit.

The source is Markdown (fenced ``python`` blocks), not code cells: *Run All* on the hand-in notebook never
executes it (it would only redefine labkit's functions without their package, and fail on relative imports).
"""
import ast
import importlib
import inspect
import os
import subprocess

import nbformat

SOURCE_TAG = "labkit-source"
NBVAL_SKIP_TAG = "nbval-skip"
SOURCE_TITLE = "Source code that produced these results"

TRAINING = (
    ("Training loop and step", "labkit.train", ("fit", "run_epoch", "train_epoch", "one_batch", "step_schedule",
                                                 "final_test")),
    ("Loss, optimizer and scheduler", "labkit.train", ("TrainingParts", "build_parts", "build_optimizer",
                                                        "build_scheduler")),
    ("Evaluation", "labkit.evaluate", ("evaluate",)),
)
DISTILLATION = (("Loss, optimizer and scheduler", "labkit.train", ("distilled", "load_teacher")),)
CIFAR_DATA = (("Data pipeline", "labkit.data", ("load_cifar10", "split_indices", "compute_mean_std", "BatchLoader",
                                                "random_crop_flip", "draw_crop_flip", "apply_crop_flip")),)
FOLDER_DATA = (("Data pipeline", "labkit.folder_data.load", ("load_image_folder",)),
               ("Data pipeline", "labkit.folder_data.csv_images", ("ImageCsvDataset",)),
               ("Data pipeline", "labkit.folder_data.transforms", None),
               ("Data pipeline", "labkit.folder_data.batches", ("FolderLoader",)),
               ("Data pipeline", "labkit.folder_data.sampling", None))
# (section heading, module, names in it; None: the whole module): each task's models, then what trains them
TASK_SOURCES = {
    "task1": (("Models", "labkit.models.simplecnn", None),),
    "task2": (("Models", "resnet18", None),),
    "task3": (("Models", "labkit.models.cifar_resnet", None),),
    "exercise": (("Models", "labkit.models.simplecnn", None), ("Models", "labkit.models.vgg", None)),
    "transfer": (("Models", "labkit.models.torchvision_models", ("build_torchvision_resnet",)),),
}
TASK_DATA = {"task1": CIFAR_DATA, "task2": CIFAR_DATA, "task3": CIFAR_DATA, "exercise": CIFAR_DATA,
             "transfer": FOLDER_DATA}
SECTION_ORDER = ("Models", "Training loop and step", "Loss, optimizer and scheduler", "Evaluation", "Data pipeline")


def _module(name):
    """The module ``name``; ``resnet18`` is the repo-root file the registry loads (there is no other copy)."""
    if name == "resnet18":
        from ..models import registry

        return registry._import_root_resnet18()  # the registry's own finder: the file get_model('resnet18') uses
    return importlib.import_module(name)


def _git(root, *args):
    """``git -C root args`` output, or None (no git, not a checkout, any failure)."""
    try:
        out = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def provenance():
    """Which labkit this is: its version and, in a git checkout, the commit and whether tracked files
    differ from it (the source in the hand-in is the working tree's, so a changed file matters)."""
    import labkit

    text = f"labkit {getattr(labkit, '__version__', 'unknown')}"
    root = os.path.dirname(os.path.dirname(os.path.abspath(labkit.__file__)))
    top = _git(root, "rev-parse", "--show-toplevel")
    if not top or os.path.realpath(top.strip()) != os.path.realpath(root):  # an installed copy, no checkout
        return text + " (an installed copy, not a git checkout)"
    commit = (_git(root, "rev-parse", "HEAD") or "").strip() or "no commit yet"
    changed = [ln[3:] for ln in (_git(root, "status", "--porcelain", "--untracked-files=no") or "").splitlines()]
    if not changed:
        return text + f", git commit {commit} (no local changes)"
    shown = ", ".join(f"`{c}`" for c in changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
    return text + f", git commit {commit} with local changes in {shown}"


def _relative(path):
    """``path`` relative to the folder holding the labkit package (labkit/train.py, resnet18.py)."""
    import labkit

    root = os.path.dirname(os.path.dirname(os.path.abspath(labkit.__file__)))
    rel = os.path.relpath(os.path.abspath(path), root)
    return os.path.basename(path) if rel.startswith("..") else rel.replace(os.sep, "/")


def _piece(module, name):
    """(what it is, the module defining it, where it is, its source) of ``module.name`` (the whole module for name
    None); None when this labkit has no such name (the list above may be ahead of an older labkit)."""
    obj = module if name is None else getattr(module, name, None)
    if obj is None:
        return None
    obj = inspect.unwrap(obj) if callable(obj) and not inspect.isclass(obj) else obj  # torch.no_grad's wrapper
    try:
        lines, start = inspect.getsourcelines(obj)
    except (OSError, TypeError):
        return None
    path = inspect.getsourcefile(obj) or "?"
    kind = "module" if name is None else ("class" if inspect.isclass(obj) else "function")
    where = f"{_relative(path)}, lines {max(start, 1)}-{max(start, 1) + len(lines) - 1}"
    home = module.__name__ if name is None else getattr(obj, "__module__", None) or module.__name__
    return kind, home, where, "".join(lines).rstrip("\n")


def short_docstrings(code):
    """``code`` with each docstring cut to its first paragraph (the summary): the appendix is the code that ran;
    the rest of a docstring is documentation, in the repository. Code that does not parse is returned as it is."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    lines, cut = code.split("\n"), []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            continue
        first, last = body[0].lineno - 1, body[0].end_lineno - 1
        blank = next((i for i in range(first + 1, last) if not lines[i].strip()), None)
        if blank is not None:
            quote = '"""' if '"""' in lines[first] else "'''"
            indent = lines[first][:len(lines[first]) - len(lines[first].lstrip())]
            cut.append((blank, last, indent + quote))
    for blank, last, closing in sorted(cut, reverse=True):
        if lines[blank - 1].rstrip().endswith((".", ":")):  # a whole summary: the quotes close its line
            lines[blank - 1:last + 1] = [lines[blank - 1].rstrip() + closing.strip()]
        else:
            lines[blank:last + 1] = [closing]
    return "\n".join(lines)


def code_block(code):
    """``code`` as a fenced Markdown ``python`` block (a fence longer than any backtick run inside it)."""
    longest = max((len(run) for run in code.split("\n") if set(run.strip()) == {"`"}), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}python\n{code}\n{fence}"


def _text_of(nb):
    """Every cell source and printed output of a notebook, for finding code it already shows."""
    parts = []
    for cell in nb.cells:
        parts.append(cell.get("source", "") if isinstance(cell.get("source"), str) else "".join(cell["source"]))
        for o in cell.get("outputs", []) or []:
            t = o.get("text", "")
            parts.append(t if isinstance(t, str) else "".join(t))
    return "\n".join(parts)


def _parameters(nb):
    """The notebook's parameter values as it ran (its parameter cell, then papermill's injected one):
    literals only, read with ast (nothing is executed)."""
    values = {}
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") != "code" or not {"parameters", "injected-parameters"} & set(tags):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    values[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
    return values


def lab_sources(notebooks=(), tasks=None):
    """The (section, module, names) the hand-in's notebooks ran, each once, in reading order: their models,
    the training loop, loss/optimizer/schedule (with the distillation loss when task 1 had a teacher), the
    evaluation and their lab's data pipeline. ``tasks`` (task keys) when no notebook says it; none at all:
    Lab 2's."""
    keys = tasks or [(nb.metadata.get("labkit") or {}).get("task") for nb in notebooks]
    keys = [k for k in keys if k in TASK_SOURCES] or ["task1", "task2"]
    pieces = [p for k in keys for p in TASK_SOURCES[k]] + list(TRAINING)
    if any(_parameters(nb).get("teacher_model") for nb in notebooks):
        pieces += [("Models", "labkit.models.cifar_resnet", None)] + list(DISTILLATION)
    pieces += [p for k in keys for p in TASK_DATA[k]]
    seen, out = set(), []
    for section in SECTION_ORDER:
        for title, mod, names in pieces:
            if title == section and (mod, names) not in seen:
                seen.add((mod, names))
                out.append((title, mod, names))
    return out


def source_appendix(heading="Appendix", notebooks=(), tasks=None):
    """The appendix cells (Markdown only): a heading with the provenance line, then per section a heading and,
    per piece, its module, name and place and its source in a fenced block. A piece the ``notebooks`` already
    print is named with where it is, not printed twice."""
    md = nbformat.v4.new_markdown_cell
    shown = "\n".join(_text_of(nb) for nb in notebooks)
    cells = [md(f"# {heading}: {SOURCE_TITLE}\n\nThe labkit code these runs used, read with `inspect.getsource` "
                f"when this hand-in was made (each docstring cut to its first paragraph): {provenance()}. It is "
                f"text: nothing here runs.")]
    cells[0].metadata["tags"] = ["labkit-appendix", SOURCE_TAG]
    section = None
    for title, modname, names in lab_sources(notebooks, tasks):
        module = _module(modname)
        for name in names or (None,):
            piece = _piece(module, name)
            if piece is None:
                continue
            if title != section:
                cells.append(md(f"## {title}"))
                section = title
            kind, home, where, code = piece  # home: labkit.schedule for labkit.train's step_schedule
            label = f"`{home}`" + (f": `{name}`" if name else "")
            if shown and code.strip() in shown:
                cells.append(md(f"**{label}**: the {kind} in `{where}`, printed in the task notebook above."))
                continue
            cells.append(md(f"**{label}**: the {kind} in `{where}`.\n\n{code_block(short_docstrings(code))}"))
    for c in cells[1:]:
        c.metadata["tags"] = [SOURCE_TAG]
    return cells
