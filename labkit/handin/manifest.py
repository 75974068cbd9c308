"""One truth per hand-in: the runs each executed notebook recorded, checked against what it prints, against
the run folders and against the report; the order its cells ran in; the manifest the zip's notebook carries.

    runs = recorded_runs(nb)            # [entry]: the run folders a notebook trained or reloaded (labkit.notebook)
    order_problems(nb)                  # cells run out of order (a count lower than an earlier cell's)
    print_problems(nb)                  # a printed 'Test Accuracy' that no recorded run has
    folder_problems(runs, "runs")       # a recorded run whose folder now says otherwise (edited, re-trained)
    report_problems(report_runs, task_runs)

Every problem is a sentence naming both sides; labkit.handin.submit refuses with them (``--force``: warnings),
labkit.handin.check flags them. Nothing here runs a notebook's code: outputs are read as data.
"""
import datetime
import os
import re

from ..notebook import RUNS_MIME, entry_text, run_entry
from ..runs import is_run
from .notebooks import text_of
from .source import SOURCE_TAG

ACCURACY = re.compile(r"Test Accuracy: (-?\d+(?:\.\d+)?|nan|inf)%")
RESTART = "Kernel > Restart & Run all (Colab: Runtime > Restart session and run all), save, and hand it in again"


def code_cells(nb):
    """[(number from 1, cell)] of the code cells that ran as the notebook (the source appendix is not code)."""
    return [(i, c) for i, c in enumerate(nb.cells, 1) if c.get("cell_type") == "code"
            and SOURCE_TAG not in (c.get("metadata") or {}).get("tags", [])]


def recorded_runs(nb):
    """The runs ``nb`` recorded (labkit.notebook.record_runs outputs), one entry per run folder (its last record),
    in the order first recorded; each entry gets ``cell`` (the cell that recorded it) and ``role``."""
    found = {}
    for i, c in code_cells(nb):
        for o in c.get("outputs") or []:
            data = (o.get("data") or {}).get(RUNS_MIME)
            if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
                continue
            for e in data["runs"]:
                if isinstance(e, dict) and isinstance(e.get("name"), str):
                    found[run_key(e)] = {**e, "cell": i, "role": data.get("role")}
    return list(found.values())


def run_key(e):
    """What identifies a run across machines: its experiment folder, its name, its settings digest."""
    return f"{e.get('experiment')}/{e.get('name')}@{e.get('settings_digest')}"


def printed_accuracies(nb):
    """[(cell number, 'NN.NN')] of every ``Test Accuracy: NN.NN%`` line the notebook's outputs print."""
    out = []
    for i, c in code_cells(nb):
        for o in c.get("outputs") or []:
            texts = [text_of(o.get("text"))] + [text_of((o.get("data") or {}).get("text/plain"))]
            for t in texts:
                out += [(i, m.group(1)) for m in ACCURACY.finditer(t)]
    return out


def execution_order(nb):
    """[(cell number, execution count)] of the code cells that ran, in cell order."""
    return [(i, c.get("execution_count")) for i, c in code_cells(nb) if c.get("execution_count") is not None]


def order_problems(nb, name="the notebook"):
    """Cells that ran out of order: a cell whose count is lower than an earlier cell's (e.g. the parameter
    cell edited and run again after training). One sentence, or []."""
    params = {i for i, c in code_cells(nb)
              if {"parameters", "injected-parameters"} & set((c.get("metadata") or {}).get("tags", []))}
    bad, top = [], (None, 0)
    for i, n in execution_order(nb):
        if not isinstance(n, int):
            continue
        if n <= top[1]:
            what = "the parameter cell" if top[0] in params else "cell"
            bad.append(f"{what} {top[0]} [{top[1]}] ran after cell {i} [{n}] below it")
        else:
            top = (i, n)
    if not bad:
        return []
    more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
    return [f"{name} ran its cells out of order: {'; '.join(bad[:3])}{more}, so its outputs may not come from the "
            f"code and parameters shown. {RESTART}."]


def _acc_text(x):
    return f"{x:.2f}" if isinstance(x, (int, float)) else "none"


def print_problems(nb, name="the notebook"):
    """A printed ``Test Accuracy`` that no run this notebook recorded has (an edited print), or prints without
    any recorded run. Sentences, or []."""
    runs, printed = recorded_runs(nb), printed_accuracies(nb)
    if not printed:
        return []
    if not runs:
        return [f"{name} prints 'Test Accuracy' but records no run (the record labkit.notebook writes after each "
                f"cell): it was not run with this labkit, or its outputs were edited. {RESTART}."]
    have = {_acc_text(e.get("test_acc")) for e in runs}
    shown = ", ".join(f"{e['name']} {_acc_text(e.get('test_acc'))}%" for e in runs[:6])
    return [f"{name} cell {i} prints 'Test Accuracy: {v}%' but no run it recorded has that result (its runs: "
            f"{shown}); an edited output is not handed in. {RESTART}."
            for i, v in printed if v not in have]


def find_folder(entry, run_dir=None):
    """The run folder of a recorded ``entry`` on this machine: under ``run_dir`` as ``experiment/name`` or
    ``name`` (Colab's paths differ from a laptop's), without ``run_dir`` its recorded path; None when not found."""
    if run_dir:  # where the student says the runs are (a wrong folder is then named, not worked around)
        cands = [os.path.join(os.fspath(run_dir), entry.get("experiment") or "", entry["name"]),
                 os.path.join(os.fspath(run_dir), entry["name"])]
    else:
        cands = [entry.get("path")] if entry.get("path") else []
    for c in cands:
        if c and os.path.basename(os.path.normpath(c)) == entry["name"] and is_run(c):
            return c
    return None


COMPARED = ("status", "test_acc", "epochs", "settings_digest", "result_sha256", "history_sha256")


def folder_problems(entries, run_dir=None, name="the notebook"):
    """(problems, notes): each recorded run against its folder as it is now (what fit trusts: the record in
    last.pth, result.json, history.json). A folder not found is a note (nothing to compare)."""
    problems, notes = [], []
    for e in entries:
        path = find_folder(e, run_dir)
        if path is None:
            notes.append(f"{name}'s run {e['name']!r} was not found (recorded at {e.get('path')!r}; --run-dir "
                         f"{run_dir!r}): its folder was not checked")
            continue
        now = run_entry(path)
        diff = [f"{k} {e.get(k)!r} in the notebook, {now.get(k)!r} in the folder" for k in COMPARED
                if e.get(k) != now.get(k)]
        if diff:
            problems.append(f"{name} recorded run {entry_text(e)}, but its folder {path} now reads "
                            f"{entry_text(now)} ({'; '.join(diff[:3])}): the run changed after the notebook ran "
                            f"(re-trained, resumed or edited). Run the notebook again (Restart & Run all) so that "
                            f"it shows the run as it is, or restore the run.")
    return problems, notes


def report_problems(report_runs, task_runs):
    """The report's runs against the notebooks': a run the report shows that no notebook trained or reloaded,
    and a notebook whose runs the report does not show. Sentences naming both sides, or []."""
    if not report_runs:
        return []
    ours = {run_key(e): e for runs in task_runs.values() for e in runs}
    shown = {run_key(e) for e in report_runs}
    problems = [f"the report shows run {entry_text(e)}, which none of the handed-in notebooks trained or reloaded "
                f"(theirs: {'; '.join(entry_text(x) for x in list(ours.values())[:4]) or 'none'}). Leave the "
                f"report unexecuted (submit runs it on the notebooks' runs) or point it at their run folders."
                for e in report_runs if run_key(e) not in ours]
    for task, runs in task_runs.items():
        mine = [e for e in runs if not str(e.get("name", "")).startswith("teacher-")]
        if mine and not any(run_key(e) in shown for e in mine):
            problems.append(f"the report shows none of {task}'s runs ({'; '.join(entry_text(e) for e in mine[:3])}); "
                            f"it shows {'; '.join(entry_text(e) for e in report_runs[:3])}.")
    return problems


def main_run(entries):
    """The run a task notebook is about: its last recorded run that is not a distillation teacher."""
    mine = [e for e in entries if not str(e.get("name", "")).startswith("teacher-")]
    return mine[-1] if mine else None


def build_manifest(provenance, lab, sid, tasks, report_runs, forced=(), checklist=()):
    """The manifest in the zip notebook's metadata (``labkit.manifest``): labkit's version and commit, each task
    notebook with its cells' execution order and its runs (name, settings digest, SHA-256 of result.json and
    history.json, result), the report's runs, what was forced, the rubric checklist."""
    keep = ("name", "experiment", "model", "status", "test_acc", "epochs", "epochs_set", "train", "val", "test",
            "limit", "settings_digest", "result_sha256", "history_sha256")
    return {"labkit": provenance, "made": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "lab": lab, "student_id": sid,
            "notebooks": [{"task": t.key, "file": os.path.basename(t.path),
                           "execution_order": [n for _, n in execution_order(t.nb)],
                           "runs": [{k: e.get(k) for k in keep} for e in recorded_runs(t.nb)]} for t in tasks],
            "report_runs": [run_key(e) for e in report_runs], "forced": list(forced),
            "checklist": [dict(row) for row in checklist]}


def cover_text(manifest):
    """The manifest's short form for the PDF's cover (Markdown)."""
    lines = [f"**Hand-in record.** {manifest['labkit']}; made {manifest['made']}. Each run: its test accuracy and "
             f"settings digest (the SHA-256 of its result and history: the notebook's metadata, labkit.manifest).", ""]
    for n in manifest["notebooks"]:
        epochs = {r["epochs"] for r in n["runs"]}
        each = f"{epochs.pop()} epochs each; " if len(epochs) == 1 and len(n["runs"]) > 1 else ""
        runs = ", ".join(f"`{r['name']}` {_acc_text(r['test_acc'])}%"
                         + ("" if each else f" ({r['epochs']} epochs)")
                         + ("" if r["status"] == "finished" else f" **{r['status']}**")
                         + f" `{r['settings_digest'][:8]}`" for r in n["runs"])
        lines.append(f"- {n['task'] or n['file']} (`{n['file']}`, cells run in order "
                     f"{_span(n['execution_order'])}): {each}{runs or 'no run recorded'}")
    if manifest["forced"]:
        lines.append("- **Forced (--force):** " + " ".join(manifest["forced"]))
    return "\n".join(lines)


def _span(counts):
    return f"[{counts[0]}]…[{counts[-1]}]" if counts else "none"
