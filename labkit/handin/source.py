"""The hand-in's last appendix: the labkit source that produced the results, read at hand-in time.

    from labkit.handin.source import source_appendix, provenance
    cells = source_appendix("Appendix C")   # Markdown + code cells, appended to the hand-in notebook
    provenance()                            # 'labkit 0.1.0, git commit 6c9d58f... (no local changes)'

A grader sees the code the runs really used (the model classes, the training loop and step, the loss,
optimizer and scheduler set-up, the evaluation, the data pipeline), not only the notebooks' calls into
labkit. Each piece is read with ``inspect.getsource`` from the labkit this process imported (the
installed one), so it is what ran when the notebooks ran with this labkit.

The code cells are **not executed**: they carry the tags ``labkit-source`` (the hand-in's "every cell
ran" check and the PDF's layout know it) and ``nbval-skip`` (nbval leaves them out), no outputs and no
execution count. Running them would only redefine labkit's functions without its package context
(relative imports), so they are documentation, kept as code cells for their highlighting in Jupyter
and in the PDF.
"""
import importlib
import inspect
import os
import subprocess

import nbformat

SOURCE_TAG = "labkit-source"
NBVAL_SKIP_TAG = "nbval-skip"
SOURCE_TITLE = "Source code that produced these results"

# (section heading, module, names in it; None: the whole module), in the order a reader follows a run
SOURCES = (
    ("Models", "labkit.models.simplecnn", None),
    ("Models", "labkit.models.cifar_resnet", None),
    ("Models", "labkit.models.vgg", None),
    ("Models", "resnet18", None),
    ("Models", "labkit.models.torchvision_models", None),
    ("Models", "labkit.models.registry", None),
    ("Training loop and step", "labkit.train", ("fit", "run_epoch", "train_epoch", "one_batch", "step_schedule",
                                                 "final_test")),
    ("Loss, optimizer and scheduler", "labkit.train", ("TrainingParts", "build_parts", "build_optimizer",
                                                        "build_scheduler")),
    ("Evaluation", "labkit.evaluate", None),
    ("Data pipeline", "labkit.data", ("load_cifar10", "split_indices", "compute_mean_std", "BatchLoader",
                                      "random_crop_flip", "draw_crop_flip", "apply_crop_flip")),
    ("Data pipeline of the transfer lab", "labkit.folder_data.transforms", None),
)


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
        return text + f" (installed at {os.path.dirname(labkit.__file__)}, not a git checkout)"
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
    """(what it is, where it is, its source) of ``module.name`` (the whole module for name None);
    None when this labkit has no such name (the list above may be ahead of an older labkit)."""
    obj = module if name is None else getattr(module, name, None)
    if obj is None:
        return None
    try:
        lines, start = inspect.getsourcelines(obj)
    except (OSError, TypeError):
        return None
    path = inspect.getsourcefile(obj) or "?"
    kind = "module" if name is None else ("class" if inspect.isclass(obj) else "function")
    where = f"{_relative(path)}, lines {max(start, 1)}-{max(start, 1) + len(lines) - 1}"
    return kind, where, "".join(lines).rstrip("\n")


def source_cell(code):
    """A code cell holding ``code`` that is never executed (tags labkit-source and nbval-skip)."""
    cell = nbformat.v4.new_code_cell(code)
    cell.metadata["tags"] = [SOURCE_TAG, NBVAL_SKIP_TAG]
    return cell


def source_appendix(heading="Appendix"):
    """The appendix cells: a heading with the provenance line, then per section a heading and, per piece,
    a Markdown cell naming the module and function and a code cell with its source."""
    md = nbformat.v4.new_markdown_cell
    cells = [md(f"# {heading}: {SOURCE_TITLE}\n\nProduced by {provenance()}.\n\nEach piece below is the source "
                f"of the labkit installed when this hand-in was made, read with `inspect.getsource`. These code "
                f"cells are not executed (tags `{SOURCE_TAG}`, `{NBVAL_SKIP_TAG}`).")]
    cells[0].metadata["tags"] = ["labkit-appendix"]
    section = None
    for title, modname, names in SOURCES:
        if title != section:
            cells.append(md(f"## {title}"))
            section = title
        module = _module(modname)
        for name in names or (None,):
            piece = _piece(module, name)
            label = f"`{modname}`" + (f": `{name}`" if name else "")
            if piece is None:
                cells.append(md(f"### {label}\n\n(not in this labkit)"))
                continue
            kind, where, code = piece
            cells.append(md(f"### {label}\n\nThe {kind} in `{where}`."))
            cells.append(source_cell(code))
    return cells
