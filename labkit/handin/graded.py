"""A task notebook as the PDF's appendix shows it to a grader: what ran, once, without the tools' chatter.

    cells = graded_cells(part_cells(nb))

- **One parameter cell, with the values that ran.** papermill leaves the notebook's parameter cell (the
  defaults) and adds its own cell after it (``injected-parameters``: the ``-p`` values). The appendix shows the
  parameter cell once, each injected value written in place of its default (the comment kept), and names the
  values papermill set; the injected cell is left out. Values are read with ``ast`` (nothing runs).
- **No tool chatter in the outputs.** The study's time estimate and its error ("Estimated: 10 runs x 30 epochs
  ≈ ...", "WARNING: no GPU ...", "the estimate was 39% too low") are about the machine, not results: those lines
  are dropped from the printed outputs (the executed notebook in the zip keeps them).
- **Printed once.** With the lab's report in the hand-in, a task cell tagged ``labkit-in-report`` (task 2's
  comparison table, its readings and study figures; the depth and transfer labs' figures) shows a note instead
  of its output: the report shows it, numbered, in its results. The runs' record (an output for the hand-in's
  checks) is left out too: the cover and the notebook's metadata hold it.
- **Tables, not tool output.** A pandas table shows no row numbers (0, 1, 2...) and its whole numbers with
  thousands separators.

The zip's notebook is not changed by this: it is what ran, for the hand-in's checks.
"""
import ast
import copy
import re

import nbformat

from ..notebook import RUNS_MIME

PARAMETERS_TAG, INJECTED_TAG = "parameters", "injected-parameters"
IN_REPORT_TAG = "labkit-in-report"  # a task notebook's cell whose output the lab's report shows (its results)
IN_REPORT_NOTE = "*This cell's output is in the report's results (its numbered tables and figures): printed once.*"
# printed lines about the machine and the time a study takes, and the parameter check's echo of the values the
# parameter cell shows: not results
CHATTER = (re.compile(r"^Estimated: .*≈"), re.compile(r"WARNING: no GPU"),
           re.compile(r"^The study took .*; the estimate was "), re.compile(r"^parameters OK: "))


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tags(cell):
    return set(cell.get("metadata", {}).get("tags", []))


def _assignments(source):
    """{name: (first line, last line, value's first column, its last column, value's text)} of the simple
    ``name = value`` lines of ``source`` (0-based lines); {} when it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            v = node.value
            out[node.targets[0].id] = (node.lineno - 1, node.end_lineno - 1, v.col_offset, v.end_col_offset,
                                       ast.get_source_segment(source, v))
    return out


def _replace_value(line, start, end, value):
    """``line`` with its value (columns ``start``-``end``) replaced, a comment after it kept in its column."""
    rest = line[end:]
    new = line[:start] + value
    if rest.lstrip().startswith("#"):
        column = len(line) - len(rest.lstrip())
        return new + " " * max(2, column - len(new)) + rest.lstrip()
    return new + rest


def merged_parameters(default, injected):
    """The parameter cell's source with each of ``injected``'s values (papermill's cell) in place of its
    default, the line's comment kept; a value the cell lacks is added at the end. The first line names what
    papermill set."""
    lines = default.split("\n")
    have, new = _assignments(default), _assignments(injected)
    if not new:
        return default
    extra = []
    for name, (_, _, _, _, value) in new.items():
        if name not in have:
            extra.append(f"{name} = {value}")
            continue
        first, last, start, end, _ = have[name]
        if first == last:
            lines[first] = _replace_value(lines[first], start, end, value)
        else:  # a value over several lines: the assignment as papermill wrote it
            lines[first:last + 1] = [f"{name} = {value}"] + [None] * (last - first)
    lines = [ln for ln in lines if ln is not None] + extra
    note = f"# the values that ran; set with papermill -p: {', '.join(new)}"
    return "\n".join([lines[0], note] + lines[1:]) if lines and lines[0].startswith("#") else "\n".join([note] + lines)


def one_parameter_cell(cells):
    """``cells`` with the parameter cell showing the values that ran and papermill's injected cell left out."""
    params = next((c for c in cells if c.get("cell_type") == "code" and PARAMETERS_TAG in _tags(c)), None)
    injected = [c for c in cells if c.get("cell_type") == "code" and INJECTED_TAG in _tags(c)]
    if not injected:
        return cells
    if params is None:  # papermill's cell alone: it is the parameter cell
        return cells
    merged = copy.deepcopy(params)
    merged.source = merged_parameters(_source(params), "\n".join(_source(c) for c in injected))
    return [merged if c is params else c for c in cells if c not in injected]


def without_chatter(text):
    """``text`` without the lines about the machine and the study's time (:data:`CHATTER`)."""
    kept = [ln for ln in text.split("\n") if not any(p.search(ln) for p in CHATTER)]
    return "\n".join(kept)


def quiet_outputs(cells):
    """``cells`` with the chatter lines dropped from their printed outputs (an output left empty goes), and
    without the record of the runs (for the hand-in's checks, in the notebook's metadata and the cover)."""
    out = []
    for cell in cells:
        if cell.get("cell_type") == "code" and cell.get("outputs"):
            outputs = []
            for o in cell.outputs:
                if RUNS_MIME in (o.get("data") or {}):
                    continue
                if o.get("output_type") == "stream":
                    text = without_chatter(_source({"source": o.get("text", "")}))
                    if not text.strip():
                        continue
                    o = copy.deepcopy(o)
                    o["text"] = text
                outputs.append(o)
            if len(outputs) != len(cell.outputs) or any(a is not b for a, b in zip(outputs, cell.outputs)):
                cell = copy.deepcopy(cell)
                cell.outputs = outputs
        out.append(cell)
    return out


_ROW_NUMBER = re.compile(r"(<tr[^>]*>\s*)<th>(\d+)</th>\s*")
_CORNER = re.compile(r"(<thead>\s*<tr[^>]*>\s*)<th></th>\s*")
_BIG_INT = re.compile(r"<td>(-?\d{5,})</td>")


def tidy_table_html(html):
    """A pandas table's HTML without its row numbers (an index 0, 1, 2... is no column of the table) and with
    thousands separators in whole numbers of five digits or more (60,554); other HTML as it is."""
    if 'class="dataframe"' not in html:
        return html
    numbers = [int(n) for _, n in _ROW_NUMBER.findall(html)]
    if numbers and numbers == list(range(len(numbers))) and len(_CORNER.findall(html)) == 1:
        html = _CORNER.sub(r"\1", _ROW_NUMBER.sub(r"\1", html))
    return _BIG_INT.sub(lambda m: f"<td>{int(m.group(1)):,}</td>", html)


def tidy_tables(cells):
    """``cells`` with every pandas table output tidied (:func:`tidy_table_html`)."""
    out = []
    for cell in cells:
        if cell.get("cell_type") == "code" and any("text/html" in (o.get("data") or {}) for o in cell.outputs):
            cell = copy.deepcopy(cell)
            for o in cell.outputs:
                if "text/html" in (o.get("data") or {}):
                    o["data"]["text/html"] = tidy_table_html(_source({"source": o["data"]["text/html"]}))
        out.append(cell)
    return out


def once(cells):
    """``cells`` with the outputs of the cells tagged :data:`IN_REPORT_TAG` replaced by a note: the report shows
    them (its comparison table, each study's figure)."""
    out = []
    for cell in cells:
        if cell.get("cell_type") == "code" and IN_REPORT_TAG in _tags(cell) and cell.get("outputs"):
            cell = copy.deepcopy(cell)
            cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": IN_REPORT_NOTE,
                                                                          "text/plain": IN_REPORT_NOTE})]
        out.append(cell)
    return out


def graded_cells(cells, report=False):
    """A task notebook's cells as the appendix shows them (see the module doc); ``report``: the hand-in has the
    lab's report, so what it shows is printed there only."""
    cells = one_parameter_cell(list(cells))
    return tidy_tables(quiet_outputs(once(cells) if report else cells))
