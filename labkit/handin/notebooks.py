"""The hand-in notebooks: reading one (the one reader of the export and the zip), executed task
notebooks merged into one, progress bars left out, the report's unreplaced placeholders found, and
the cell tags the PDF obeys.

    from labkit.handin.notebooks import merge_notebooks, read_notebook, report_placeholders, strip_progress
    parts = [("# Task 1", read_notebook("runs/task1_out.ipynb")), ("# Task 2", read_notebook(...))]
    for _, nb in parts:
        strip_progress(nb)
    merged = merge_notebooks(parts, title="# F74091234 lab2")
    report_placeholders(read_notebook("reports/lab2_report.ipynb"))  # the template's texts still there

Progress bars (tqdm on stderr, or its Jupyter widget) belong on the screen while a cell runs:
every state of a bar would otherwise be kept in the notebook and printed in the PDF, so they are
dropped from what is handed in; every other output stays as it is, in order.
"""
import copy
import html
import os
import re

import nbformat
from nbconvert.preprocessors import Preprocessor

from ..notebook import RUNS_MIME
from .errors import HandinError

# cell tags: in the PDF a cell tagged hide-input shows only its output, one tagged remove-cell is left out
REMOVE_INPUT_TAGS = ["hide-input", "hide_input", "remove-input", "remove_input"]
REMOVE_CELL_TAGS = ["remove-cell", "remove_cell"]
# tqdm's text bar: "Epoch 1/30:  42%|####2     | 15/36 [00:01<00:02, 9.8it/s]"
_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d*|\|\s*\d+/\d+\s*\[\d+:\d+")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
HIDE_INPUT_TAG = REMOVE_INPUT_TAGS[0]  # "hide-input"


def read_notebook(path, error=HandinError):
    """The notebook at ``path`` (nbformat v4); a missing or unreadable file raises ``error`` (the caller's
    exception class) saying so."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise error(f"notebook {path!r} {'is a folder' if os.path.isdir(path) else 'does not exist'}.")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as e:  # NotJSONError, validation errors, bad encodings
        raise error(f"{path!r} is not a readable Jupyter notebook ({type(e).__name__}: "
                    f"{str(e).splitlines()[0][:200] if str(e) else ''}).") from None


def text_of(value):
    """A notebook text field (a string, or a list of lines as some writers store it) as one string."""
    return "".join(value) if isinstance(value, list) else (value or "")


_text = text_of


def is_progress_output(output):
    """True for a progress bar's output: a tqdm widget, or a stderr stream that holds only bar states."""
    if output.get("output_type") in ("display_data", "update_display_data", "execute_result"):
        return WIDGET_MIME in (output.get("data") or {})
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        text = _text(output.get("text"))  # a bar redraws with "\r"; leave=False clears it with blanks
        parts = [p.strip() for p in re.split(r"[\r\n]+", text) if p.strip()]
        return ("\r" in text or bool(parts)) and all(_BAR.search(p) for p in parts)
    return False


def is_run_record(output):
    """True for an output that only carries labkit's record of the runs a cell used
    (:data:`labkit.notebook.RUNS_MIME`: read back by the hand-in's manifest, never printed; nbconvert would
    warn that it cannot show it)."""
    return set(output.get("data") or {}) == {RUNS_MIME}


def strip_outputs(nb, unwanted):
    """Drop the outputs for which ``unwanted(output)`` is true from every code cell of ``nb`` (in place);
    returns how many."""
    dropped = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        keep = [o for o in cell.get("outputs", []) if not unwanted(o)]
        dropped += len(cell.get("outputs", [])) - len(keep)
        cell["outputs"] = keep
    return dropped


def strip_progress(nb):
    """Drop progress-bar outputs from every code cell of ``nb`` (in place); returns how many."""
    return strip_outputs(nb, is_progress_output)


class StripProgressPreprocessor(Preprocessor):
    """nbconvert preprocessor: the notebook without its progress bars and its run records, the outputs that
    stay on the screen or in the file but are not printed (labkit.handin.pdf uses it)."""

    def preprocess(self, nb, resources):
        strip_outputs(nb, lambda o: is_progress_output(o) or is_run_record(o))
        return nb, resources


def part_cells(nb, tags=(), demote=0):
    """Copies of ``nb``'s cells for a merged notebook: cells tagged remove-cell left out (instructions to the
    student, never graded), ``tags`` added to every cell, Markdown headings ``demote`` levels lower (a task
    notebook's ``# title`` under an appendix heading becomes ``## title``)."""
    out = []
    for cell in nb.cells:
        have = list(cell.get("metadata", {}).get("tags", []))
        if set(have) & set(REMOVE_CELL_TAGS):
            continue
        cell = copy.deepcopy(cell)
        new = [t for t in tags if t not in have]
        if new:
            cell.metadata["tags"] = have + new
        if demote and cell.cell_type == "markdown":
            cell.source = demote_headings(_text(cell.source), demote)
        out.append(cell)
    return out


def join_cells(cells, metadata=None):
    """A valid notebook of ``cells`` (copied in, in order) with ``metadata``; cell ids made unique."""
    out = nbformat.v4.new_notebook(metadata=copy.deepcopy(metadata or {}))
    out.cells = list(cells)
    for i, cell in enumerate(out.cells):
        cell["id"] = f"handin-{i:03d}"
    nbformat.validate(out)
    return out


def kernel_metadata(nb):
    """The kernel and language metadata of ``nb`` (what Jupyter needs to open a merged notebook)."""
    return {k: copy.deepcopy(nb.metadata[k]) for k in ("kernelspec", "language_info") if k in nb.metadata}


def merge_notebooks(parts, title=None, hide_code_of=(), tail=()):
    """One notebook of ``parts`` ([(heading, notebook)]): each part's cells in order after a Markdown
    heading cell (none for heading None), outputs kept. Cells tagged remove-cell are dropped; the code
    cells of the parts whose index is in ``hide_code_of`` get the hide-input tag (in the PDF they show
    only their output). ``tail``: cells appended at the end (the hand-in's source appendix).
    Kernel metadata come from the first part; cell ids are made unique."""
    if not parts:
        raise HandinError("nothing to merge: give at least one notebook")
    meta = kernel_metadata(parts[0][1])
    meta["labkit"] = {"merged": [h.splitlines()[0].lstrip("# ") for h, _ in parts if h]}
    cells = [nbformat.v4.new_markdown_cell(title)] if title else []
    for k, (heading, nb) in enumerate(parts):
        if heading:
            cells.append(nbformat.v4.new_markdown_cell(heading))
        for cell in part_cells(nb):
            tags = cell.metadata.get("tags", [])
            if k in hide_code_of and cell.cell_type == "code" and HIDE_INPUT_TAG not in tags:
                cell.metadata["tags"] = list(tags) + [HIDE_INPUT_TAG]
            cells.append(cell)
    return join_cells(cells + [copy.deepcopy(c) for c in tail], meta)


_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})(\s+\S.*)$")


def demote_headings(source, levels=1):
    """Markdown ``source`` with every ATX heading (``# x``) ``levels`` deeper (at most ``######``);
    lines inside fenced code blocks are left as they are (a ``# comment`` there is no heading)."""
    lines, fenced = [], False
    for line in source.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        lines.append("#" * min(6, len(m.group(1)) + levels) + m.group(2) if m else line)
    return "\n".join(lines)


def heading_anchor(text, level=2):
    """(the heading's text as printed, its HTML id) for the Markdown heading ``text``: rendered by nbconvert's
    own Markdown filter, so the id is the one the PDF's HTML gives the heading (a link to ``#id`` lands on it)."""
    from nbconvert.filters import markdown2html

    html_out = markdown2html(f"{'#' * level} {text}")
    m = re.search(r'<h\d id="([^"]*)"', html_out)
    shown = re.sub(r'<a class="anchor-link".*?</a>|<[^>]+>', "", html_out)
    return html.unescape(shown).strip(), (html.unescape(m.group(1)) if m else None)


def text_headings(text, max_level=6):
    """[(level, text)] of the ATX headings in the Markdown ``text`` (not in code fences), in order."""
    found, fenced = [], False
    for line in text_of(text).split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m and len(m.group(1)) <= max_level:
            found.append((len(m.group(1)), m.group(2).strip().rstrip("#").strip()))
    return found


def markdown_headings(nb, max_level=6):
    """[(level, text)] of the headings of ``nb``'s Markdown cells, in order."""
    return [h for cell in nb.cells if cell.get("cell_type") == "markdown"
            for h in text_headings(cell.get("source"), max_level)]


def report_placeholders(nb):
    """The template placeholders still in a report notebook: the texts listed in its metadata
    ``labkit.placeholders`` (written by reports/build_report.py) found in its Markdown cells or in an
    output (e.g. the example student name in the title). Empty for a notebook without that list."""
    wanted = (nb.metadata.get("labkit") or {}).get("placeholders") or []
    texts = []
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown":
            texts.append(_text(cell.get("source")))
        for o in cell.get("outputs", []) or []:
            texts.append(_text(o.get("text")))
            texts += [_text(v) for k, v in (o.get("data") or {}).items() if k.startswith("text/")]
    whole = "\n".join(texts)
    return [p for p in wanted if p in whole]
