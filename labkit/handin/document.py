"""What the hand-in holds, in order: the task notebooks put in task order, the zip's merged notebook and the
notebook the PDF is printed from.

    tasks = order_tasks(paths, notebooks)       # [Task(key, label, path, nb)], in task order
    zip_nb = handin_notebook(tasks, "F74091234", "lab2", source)
    pdf_nb = pdf_notebook(report, tasks, "F74091234", "lab2", source)

Each executed lab notebook carries ``metadata["labkit"]["task"]`` (``task1``, ``task2``, ``task3``,
``exercise``, ``transfer``; written by notebooks/build_notebooks.py). With it the notebooks are put in that
order and labelled by their task, whatever order they were given in, and two notebooks of one task are
refused. A notebook without it (made before the key existed) keeps the order given and is labelled by
its position, with a note.

The PDF: the report (text and outputs, no code, no In/Out prompts), a table of contents after its title
block (links to the report's sections and to each appendix), then "Appendix A: Task 1 notebook",
"Appendix B: Task 2 notebook"..., each on a new page with every cell of that notebook, then the source
appendix (labkit.handin.source). The notebook's metadata ``title`` ("F74091234 Lab 2 report") becomes the
PDF's document title, ``labkit.outline`` the bookmarks the export adds if the browser made none.
"""
import collections
import copy
import hashlib
import os
import re
import string

import nbformat

from ..notebook import RUNS_MIME
from .errors import SubmissionError
from .graded import graded_cells
from .notebooks import HIDE_INPUT_TAG, heading_anchor, join_cells, kernel_metadata, markdown_headings, part_cells

TASKS = {"task1": "Task 1", "task2": "Task 2", "task3": "Task 3", "exercise": "Exercise", "transfer": "Transfer lab"}
# tags the PDF's CSS (labkit.handin.template) obeys
REPORT_TAG = "labkit-report"        # a report cell: no In/Out prompts
APPENDIX_TAG = "labkit-appendix"    # an appendix heading: the first starts a new page
CONTENTS_TAG = "labkit-contents"    # the table of contents
COVER_TAG = "labkit-cover"          # the first page's hand-in record and rubric checklist

Task = collections.namedtuple("Task", "key label path nb")


def lab_title(lab):
    """How the lab is named in titles: 'lab2' -> 'Lab 2'; another name as it is."""
    m = re.fullmatch(r"lab(\d+)", lab)
    return f"Lab {m.group(1)}" if m else lab


def task_key(nb):
    """The notebook's task (``metadata.labkit.task``), or None when it has none or an unknown one."""
    key = (nb.metadata.get("labkit") or {}).get("task")
    return key if key in TASKS else None


def _refuse_repeats(paths):
    """The same notebook given twice (one path twice, or two identical files) is refused, both named."""
    seen = {}
    for p in paths:
        with open(p, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        for key in (("path", os.path.realpath(p)), ("content", digest)):
            if key in seen:
                same = "is the same file as" if key[0] == "path" else "has the same content as"
                raise SubmissionError(f"notebook {p!r} {same} {seen[key]!r}: each task's notebook goes in once. "
                                      f"Give every task's executed notebook exactly once.")
            seen[key] = p


def order_tasks(paths, nbs, verbose=True):
    """[Task] of the task notebooks: in task order, labelled by task, when every one says its task;
    otherwise in the order given, labelled by position (with a note). Two notebooks of one task, or one
    notebook given twice, are refused."""
    _refuse_repeats(paths)
    keys = [task_key(nb) for nb in nbs]
    if all(keys):
        by_key = {}
        for k, p in zip(keys, paths):
            if k in by_key:
                raise SubmissionError(f"notebooks {by_key[k]!r} and {p!r} are both {TASKS[k]} "
                                      f"(metadata labkit.task {k!r}): give one notebook per task.")
            by_key[k] = p
        order = sorted(range(len(nbs)), key=lambda i: list(TASKS).index(keys[i]))
        return [Task(keys[i], TASKS[keys[i]], paths[i], nbs[i]) for i in order]
    if verbose and len(nbs) > 1:
        unknown = ", ".join(repr(p) for p, k in zip(paths, keys) if not k)
        print(f"note: {unknown} say(s) no task (metadata labkit.task, written by the current notebooks): the "
              f"notebooks are kept in the order given and labelled Task 1, Task 2... by position")
    label = (lambda k, i: TASKS[k] if k else f"Task {i}") if len(nbs) > 1 else (lambda k, i: TASKS.get(k))
    return [Task(k, label(k, i), p, nb) for i, (k, p, nb) in enumerate(zip(keys, paths, nbs), 1)]


def handin_notebook(tasks, sid, lab, source_cells=(), manifest=None):
    """The zip's ``<id>_<lab>.ipynb``: a title, each task notebook under its heading (code and outputs as
    they ran), then the source appendix; ``manifest`` (labkit.handin.manifest) goes into its metadata."""
    md = nbformat.v4.new_markdown_cell
    cells = [md(f"# {sid} {lab}: the executed notebooks")]
    for t in tasks:
        name = os.path.basename(t.path)
        cells.append(md(f"# {t.label}\n\nThe executed notebook `{name}`: its code and outputs, in order."
                        if t.label else f"# The executed notebook\n\n`{name}`"))
        cells[-1].metadata["labkit"] = {"part": t.key, "file": name}  # where each notebook starts (labkit.handin.check)
        cells += part_cells(t.nb)
    meta = kernel_metadata(tasks[0].nb)
    meta["labkit"] = {"merged": [t.label or "The executed notebook" for t in tasks], "lab": lab, "student_id": sid,
                      "tasks": [t.key for t in tasks], **({"manifest": manifest} if manifest else {})}
    return join_cells(cells + list(source_cells), meta)


def appendix_letters(n):
    """The letters of ``n`` appendices: A, B, ... (a course has far fewer than 26 task notebooks)."""
    return list(string.ascii_uppercase[:n])


def _appendix_heading(letter, task):
    text = f"Appendix {letter}: {task.label or 'The executed'} notebook"
    cell = nbformat.v4.new_markdown_cell(f"# {text}\n\nThe executed notebook `{os.path.basename(task.path)}`: "
                                         f"every cell with its output, in order.")
    cell.metadata["tags"] = [APPENDIX_TAG]
    return cell, text


def _contents(entries, pages=None):
    """The table of contents: one link per (text, level) entry, to the heading's id in the HTML, with its page
    number from ``pages`` ({shown text: page}, learned from an earlier print; none on the first)."""
    lines = ["**Contents**", ""]
    for text, level in entries:
        shown, anchor = heading_anchor(text, level)
        page = f" · p. {pages[shown]}" if pages and pages.get(shown) else ""
        lines.append((f"- [{shown}](#{anchor})" if anchor else f"- {shown}") + page)
    cell = nbformat.v4.new_markdown_cell("\n".join(lines))
    cell.metadata["tags"] = [CONTENTS_TAG]
    return cell


def _report_cells(report):
    """The report's cells for the PDF: no code, no prompts; [] without a report."""
    if report is None:
        return []
    cells = part_cells(report, tags=[REPORT_TAG])
    for c in cells:
        if c.cell_type == "code":  # the report's record of its runs is for the hand-in's checks, not a page
            c.outputs = [o for o in c.outputs if RUNS_MIME not in (o.get("data") or {})]
        if c.cell_type == "code" and HIDE_INPUT_TAG not in c.metadata["tags"]:
            c.metadata["tags"].append(HIDE_INPUT_TAG)
    return cells


def cover_cells(texts):
    """Markdown cells for the report's first page (the hand-in record, the rubric checklist), tagged as report
    cells (no prompts)."""
    cells = []
    for t in texts:
        cell = nbformat.v4.new_markdown_cell(t)
        cell.metadata["tags"] = [REPORT_TAG, COVER_TAG]
        cells.append(cell)
    return cells


def contents_entries(report, tasks, source_cells=()):
    """The contents' entries as shown (the report's sections, each appendix), in order: what
    :func:`pdf_notebook` lists and the hand-in looks up the pages of."""
    return [heading_anchor(t, lv)[0] for t, lv in _sections(report, tasks, source_cells)]


def _sections(report, tasks, source_cells):
    sections = [(t, 2) for lv, t in markdown_headings(report, 2) if lv == 2] if report is not None else []
    sections += [(_appendix_heading(letter, task)[1], 1)
                 for letter, task in zip(appendix_letters(len(tasks) + 1), tasks)]
    if source_cells:
        sections.append((_source_heading(source_cells[0], appendix_letters(len(tasks) + 1)[-1]), 1))
    return sections


def _source_heading(cell, letter):
    return cell.source.replace("# Appendix:", f"# Appendix {letter}:", 1).splitlines()[0].lstrip("# ").strip()


def pdf_notebook(report, tasks, sid, lab, source_cells=(), cover=(), pages=None):
    """The notebook the PDF is printed from (see the module doc); ``cover``: Markdown texts put on the first
    page after the report's title block and the contents; ``pages``: {contents entry: page} (the contents'
    page numbers)."""
    title = f"{sid} {lab_title(lab)} report"
    body = _report_cells(report) or [nbformat.v4.new_markdown_cell(f"# {sid} {lab_title(lab)}")]
    sections = _sections(report, tasks, source_cells)
    outline = [heading_anchor(t, lv)[0] if lv == 2 else t for t, lv in sections]
    letters = appendix_letters(len(tasks) + 1)
    appendix = []
    for letter, task in zip(letters, tasks):  # each notebook as graded: one parameter cell, no tool chatter
        appendix += [_appendix_heading(letter, task)[0]] + graded_cells(part_cells(task.nb, demote=1), report is not None)
    tail = list(source_cells)
    if tail:  # the source appendix's own heading is its first cell
        tail[0] = copy.deepcopy(tail[0])
        tail[0].source = tail[0].source.replace("# Appendix:", f"# Appendix {letters[-1]}:", 1)
    at = next((i + 1 for i, c in enumerate(body) if c.cell_type == "markdown" or c.get("outputs")), 0)
    cells = body[:at] + [_contents(sections, pages)] + cover_cells(cover) + body[at:] + appendix + tail
    meta = kernel_metadata(tasks[0].nb)
    meta.update(title=title, labkit={"hide_code": False, "outline": outline})
    return join_cells(cells, meta)
