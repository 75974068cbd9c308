"""The labs by name and the rubric each is graded by (the handouts' grading tables), checked from what a
hand-in holds: the task notebooks' outputs, the runs they recorded, the report's text.

    lab = get_lab("lab2")                        # Lab(name, title, tasks, report, epochs, rubric)
    lab_problems(lab, tasks, report, report_path)  # a missing task or report, a notebook of another lab
    rows = checklist(lab, views, report_text)    # [{"item", "found", "detail", "task", "needle"}]
    pages_of(rows, page_texts, starts)           # the PDF page where each found item is

``views``: {task key: TaskView(text, images, runs)}, made by :func:`task_view` from a notebook (submit) or
from a zip's merged notebook (labkit.handin.check). Nothing here runs code.
"""
import collections
import math
import os
import re
import unicodedata

from .manifest import code_cells, main_run, recorded_runs
from .notebooks import text_of

Lab = collections.namedtuple("Lab", "name title tasks report epochs rubric")
TaskView = collections.namedtuple("TaskView", "text images runs")

TASK_NOTEBOOKS = {"task1": "notebooks/task1_simplecnn.ipynb", "task2": "notebooks/task2_resnet18.ipynb",
                  "task3": "notebooks/task3_resnet_depth.ipynb", "transfer": "notebooks/task_transfer.ipynb",
                  "exercise": "notebooks/exercise_vgg.ipynb"}
FULL_TRAIN, FULL_TEST = 50_000, 10_000  # CIFAR-10's training (with validation) and test images


def task_view(nb):
    """What the rubric reads from one executed notebook: its Markdown and output text, its images, its runs."""
    texts, images = [], 0
    for c in nb.cells:
        if c.get("cell_type") == "markdown":
            texts.append(text_of(c.get("source")))
    for _, c in code_cells(nb):
        for o in c.get("outputs") or []:
            data = o.get("data") or {}
            images += any(k.startswith("image/") for k in data)
            texts += [text_of(o.get("text")), text_of(data.get("text/plain")), text_of(data.get("text/markdown")),
                      text_of(data.get("text/html"))]
    return TaskView("\n".join(t for t in texts if t), images, recorded_runs(nb))


# ---- the rubric items: each (view of the hand-in) -> (found, detail, task, needle) ---------------------------
def _row(item, found, detail="", task=None, needle=None):
    return {"item": item, "found": bool(found), "detail": detail, "task": task, "needle": needle if found else None}


def _has(views, task, needle, item):
    v = views.get(task)
    return _row(item, v is not None and needle in v.text, "" if v else f"no {task} notebook", task, needle)


def _acc(e):
    x = (e or {}).get("test_acc")
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def _tier(item, task, run, tiers, what="test accuracy"):
    acc = _acc(run)
    if acc is None:
        return _row(item, False, f"no finished run with a {what}", task)
    shown = 100 - acc if what == "test error" else acc
    for limit, name in tiers:
        if (shown < limit) if what == "test error" else (shown > limit):
            return _row(item, True, f"{run['name']}: {shown:.2f}% {what}, tier {name}", task,
                        f"Test Accuracy: {acc:.2f}%")
    return _row(item, True, f"{run['name']}: {shown:.2f}% {what}, below the lowest tier ({tiers[-1][1]})", task,
                f"Test Accuracy: {acc:.2f}%")


def _runs(views, task):
    return views[task].runs if task in views else []


def full_data(lab, views):
    """Every run trained on all of CIFAR-10 (no limit / test_limit) for at least the lab's epochs."""
    runs = [e for t in lab.tasks for e in _runs(views, t)]
    small = [e["name"] for e in runs if e.get("limit") or (e.get("train") or 0) + (e.get("val") or 0) < FULL_TRAIN
             or (e.get("test") or 0) < FULL_TEST]
    short = [e["name"] for e in runs if (e.get("epochs") or 0) < lab.epochs]
    rows = [_row("full data set (no limit / test_limit, 50,000 + 10,000 images)", runs and not small,
                 f"quick-run subset: {', '.join(small[:6])}" if small else ("" if runs else "no run recorded")),
            _row(f"the lab's epochs ({lab.epochs} or more)", runs and not short,
                 f"fewer epochs: {', '.join(short[:6])}" if short else ("" if runs else "no run recorded"))]
    return rows


STUDIES = {"normalization": ("norm_",), "augmentation": ("no_augment", "augment"), "learning rate": ("lr",),
           "update strategy (lr schedule)": ("sched_",)}


def lab2_rubric(lab, views, report_text):
    t1 = main_run(_runs(views, "task1"))
    t2 = [e for e in _runs(views, "task2")]
    finished2 = [e for e in t2 if e.get("status") == "finished"]
    rows = [_has(views, "task1", "Total params: 60,554", "task 1: the table's net (60,554 parameters)"),
            _has(views, "task1", "FLOPs:", "task 1: summary with parameters and FLOPs"),
            _has(views, "task1", "Train loss:", "task 1: per-epoch loss/accuracy lines"),
            _has(views, "task1", "Finished Training", "task 1: training ran to its end"),
            _has(views, "task1", "Test Accuracy:", "task 1: test accuracy printed"),
            _row("task 1: the four curves (accuracy and loss)", views.get("task1") and views["task1"].images >= 1,
                 "" if views.get("task1") else "no task1 notebook", "task1", "Curves"),
            _tier("task 1 tier (> 80 / > 70 / > 60 %)", "task1", t1, [(80, "> 80%"), (70, "> 70%"), (60, "> 60%")]),
            _row("task 2: baseline", any(e["name"] == "baseline" for e in finished2),
                 "" if t2 else "no task2 run recorded", "task2", "] baseline ===")]  # its heading in the log
    for study, prefixes in STUDIES.items():
        names = [e["name"] for e in finished2 if e["name"] != "baseline" and e["name"].startswith(prefixes)]
        rows.append(_row(f"task 2 study: {study}", names, ", ".join(names) or "not run", "task2",
                         f"] {names[0]} " if names else None))  # "=== [2/10] norm_off (normalize=off) ==="
    printed = [e["name"] for e in finished2 if views.get("task2") and
               f"Test Accuracy: {_acc(e) or 0:.2f}%" not in views["task2"].text]
    studies = [s for s, prefixes in STUDIES.items() if any(e["name"].startswith(prefixes) for e in finished2)]
    figures = views["task2"].images if views.get("task2") else 0
    rows += [_row("task 2: each run's test accuracy", finished2 and not printed,
                  f"not printed: {', '.join(printed)}" if printed else "", "task2", "Test Accuracy:"),
             _row("task 2: each run's curves (each study's runs over the baseline's)",  # one figure per study
                  finished2 and figures >= max(1, len(studies)),
                  f"{figures} figures for {len(studies)} studies of {len(finished2)} runs",
                  *(("report", "study: training and validation accuracy") if report_text else ("task2", "Each study"))),
             _tier("task 2 tier (> 85 / > 80 / > 70 %)", "task2", max(finished2, key=lambda e: _acc(e) or 0,
                                                                       default=None),
                   [(85, "> 85%"), (80, "> 80%"), (70, "> 70%")])]
    return rows + full_data(lab, views) + [difficulties(report_text)]


def difficulties(report_text):
    """The report's difficulties section is there and holds the student's text (no placeholder left)."""
    if report_text is None:
        return _row("report: difficulties and solutions written", False, "no report", "report")
    m = re.search(r"^#+\s*[^\n]*(?:Difficult|困難)[^\n]*$", report_text, re.I | re.M)
    return _row("report: difficulties and solutions written", m, "" if m else "no difficulties section", "report",
                latin_part(m.group(0).lstrip("# ").strip())[:40] if m else None)


def latin_part(text, shortest=6):
    """``text`` up to its first wide (Chinese, Japanese, Korean) character, stripped, when that leaves at least
    ``shortest`` characters; else ``text``. A PDF's text may lack a heading's CJK glyphs (a bold CJK font without
    a character map), so a heading is looked up by its Latin part."""
    cut = next((i for i, ch in enumerate(text) if unicodedata.east_asian_width(ch) in "WF"), len(text))
    head = text[:cut].strip()
    return head if len(head) >= shortest else text


def resnet_rubric(lab, views, report_text):
    runs = [e for e in _runs(views, "task3") if e.get("status") == "finished"]
    models = {e.get("model") for e in runs}
    depths = sorted({int(m) for e in runs for m in re.findall(r"^(?:plain|resnet)(\d+)$", e.get("model") or "")})
    pairs = [d for d in depths if {f"plain{d}", f"resnet{d}"} <= models]
    r110 = next((e for e in runs if e.get("model") == "resnet110"), None)
    tracked = [e["name"] for e in runs if e.get("tracked_test") is False]
    table = _has(views, "task3", "test error", "the final test error table")
    if report_text and table["found"]:  # the report shows the table beside the paper's (the appendix, a note)
        table.update(task="report", needle="beside the paper")
    rows = [_row("plain nets and ResNets at the lab's depths", len(pairs) >= 2,
                 f"both kinds at depths {pairs or 'none'}", "task3", f"] plain{pairs[0]} " if pairs else None),
            _row("training loss and test error every epoch", runs and not tracked,
                 f"test not tracked: {', '.join(tracked)}" if tracked else "", "task3", "Train loss:"),
            table,
            _tier("ResNet-110 tier (> 93 / 90-93 / 87-90 / < 87 %)", "task3", r110,
                  [(7, "> 93%"), (10, "90-93%"), (13, "87-90%"), (101, "< 87%")], "test error")]
    if r110 is None:
        rows[-1]["detail"] = "no finished resnet110 run"
    return rows + full_data(lab, views)


def transfer_rubric(lab, views, report_text):
    runs = [e for e in _runs(views, "transfer") if e.get("status") == "finished"]
    return [_row("pretrained and scratch runs finished", len(runs) >= 2, f"{len(runs)} finished runs", "transfer",
                 "Test Accuracy:"),
            _has(views, "transfer", "Test Accuracy:", "each run's test accuracy"),
            _row("curves and confusion matrices", views.get("transfer") and views["transfer"].images >= 2, "",
                 *(("report", "Comparison figures") if report_text else ("transfer", "Confusion matrices")))]


LABS = {"lab2": Lab("lab2", "Lab 2", ("task1", "task2"), "reports/lab2_report.ipynb", 30, lab2_rubric),
        "resnet": Lab("resnet", "ResNet depth lab", ("task3",), "reports/resnet_report.ipynb", 82,
                      resnet_rubric),
        "transfer": Lab("transfer", "Transfer lab", ("transfer",), "reports/transfer_report.ipynb", 1,
                        transfer_rubric)}


def get_lab(name):
    """The registered lab ``name`` or None."""
    return LABS.get(name)


def checklist(lab, views, report_text):
    """The rubric's rows for ``lab`` (found or missing, with what was found)."""
    return lab.rubric(lab, views, report_text) if lab else []


def report_lab(report, path):
    """Which lab a report notebook is for: its metadata ``labkit.report``, else its file name ``<lab>_report``;
    None when it says nothing; 'task' when it is a task notebook, not a report."""
    meta = report.metadata.get("labkit") or {}
    if meta.get("task"):
        return "task"
    if isinstance(meta.get("report"), str):
        return meta["report"]
    m = re.match(r"(.+?)_report", os.path.basename(os.fspath(path)))
    return m.group(1) if m and m.group(1) in LABS else ("report" if "placeholders" in meta else None)


def lab_problems(lab_name, tasks, report, report_path, pdf_given=False, root=None):
    """What the lab registry refuses: an unknown lab, a notebook of another lab, a missing task, a missing
    report, a task notebook or another lab's report given as the report. Sentences, or []."""
    if not any(t.key for t in tasks):  # notebooks that say no task: nothing to hold them against
        return []
    lab = get_lab(lab_name)
    if lab is None:
        return [f"lab {lab_name!r} is not one labkit knows ({', '.join(LABS)}): use its name, or --force."]
    out = [f"{os.path.basename(t.path)!r} is {t.label} ({t.key}), not part of {lab_name} (tasks: "
           f"{', '.join(lab.tasks)}): give {lab_name}'s notebooks only." for t in tasks if t.key not in lab.tasks]
    have = {t.key for t in tasks}
    out += [f"{lab_name} needs {k}: its executed notebook ({TASK_NOTEBOOKS[k]} run, e.g. runs/{k}_out.ipynb) is "
            f"missing." for k in lab.tasks if k not in have]
    template = os.path.join(root, lab.report) if root else lab.report
    if report is None and not pdf_given:
        absent = "" if os.path.isfile(template) else " (its template is not in this labkit yet)"
        out.append(f"the report is missing: {lab_name} is handed in with {lab.report}{absent}, written and given "
                   f"as --report.")
    elif report is not None:
        kind = report_lab(report, report_path)
        if kind == "task":
            out.append(f"--report {os.fspath(report_path)!r} is a task notebook, not a report: give {lab.report}.")
        elif kind is None:
            out.append(f"--report {os.fspath(report_path)!r} is not a labkit report (it says no lab and is not "
                       f"named <lab>_report): give {lab.report}.")
        elif kind in LABS and kind != lab_name:
            out.append(f"--report {os.fspath(report_path)!r} is the {kind} report, not {lab_name}'s: give "
                       f"{lab.report}.")
    return out


def flat_text(text):
    """``text`` without whitespace, in NFKC form (a PDF's text may spell 方 as the radical ⽅, ﬁ as one glyph)."""
    return "".join(unicodedata.normalize("NFKC", text or "").split())


def pages_of(rows, page_texts, starts=None):
    """Each found row's ``page`` (1-based): the first page holding its needle (whitespace ignored), searched
    from its task's appendix (``starts``: {task: first page index}); the cover pages are skipped."""
    flat = [flat_text(t) for t in page_texts]
    cover = next((i + 1 for i, t in enumerate(flat) if flat_text(CHECKLIST_TITLE) in t), 0)
    for row in rows:
        row["page"] = None
        if not row["found"] or not row.get("needle"):
            continue
        needle = flat_text(row["needle"])
        first = max(cover, (starts or {}).get(row.get("task"), 0))
        row["page"] = next((i + 1 for i in range(first, len(flat)) if needle in flat[i]), None)
    return rows


CHECKLIST_TITLE = "Rubric checklist"


def checklist_markdown(lab, rows):
    """The checklist as the cover shows it: one line per item, found or missing, with its page."""
    lines = [f"**{CHECKLIST_TITLE}** ({lab.title if lab else 'no registered lab'}: "
             f"{sum(r['found'] for r in rows)} of {len(rows)} found)", "",
             "| | item | where / what |", "| --- | --- | --- |"]
    for r in rows:
        where = f"p. {r['page']}" if r.get("page") else ("p. –" if r["found"] else "**missing**")
        short = r["detail"] if len(r["detail"]) <= 60 else r["detail"][:57] + "..."
        detail = f"{where}{'; ' + short if short else ''}".replace("|", "/")
        lines.append(f"| {'✔' if r['found'] else '✘'} | {r['item']} | {detail} |")
    return "\n".join(lines)


def checklist_lines(rows):
    """The checklist as submit prints it."""
    return [f"  [{'x' if r['found'] else ' '}] {r['item']}" + (f" (p. {r['page']})" if r.get("page") else "")
            + (f": {r['detail']}" if r["detail"] else "") for r in rows]


REPORT_RUNS = {"task1_run": ("task1", "main"), "task2_experiment": ("task2", "all")}  # report parameter -> runs


def report_params(lab, tasks, run_dir=None):
    """{report parameter: run folder(s)} that make the report read the runs the task notebooks recorded (the
    lab2 report's ``task1_run`` and ``task2_experiment``); only runs whose folder is found here."""
    from .manifest import find_folder

    out = {}
    for param, (key, which) in REPORT_RUNS.items():
        task = next((t for t in tasks if t.key == key), None)
        runs = recorded_runs(task.nb) if task else []
        runs = ([main_run(runs)] if main_run(runs) else []) if which == "main" else runs
        paths = [find_folder(e, run_dir) for e in runs]
        if runs and all(paths):
            out[param] = paths[0] if which == "main" else paths
    return out


def page_texts(pdf, timeout=120):
    """The text of each page of the PDF file ``pdf``: poppler's ``pdftotext`` where installed (a parser, no
    rendering; 0.1 s for a 30-page hand-in), else pypdf (seconds a page with CJK fonts); [] for a file neither
    can read."""
    import shutil
    import subprocess

    if shutil.which("pdftotext"):
        try:
            out = subprocess.run(["pdftotext", "-enc", "UTF-8", os.fspath(pdf), "-"], capture_output=True,
                                 timeout=timeout, stdin=subprocess.DEVNULL)
            if out.returncode == 0:
                pages = out.stdout.decode("utf-8", "replace").split("\f")
                return pages[:-1] if pages and not pages[-1].strip() else pages
        except (OSError, subprocess.SubprocessError):
            pass
    from pypdf import PdfReader

    try:
        return [p.extract_text() or "" for p in PdfReader(pdf).pages]
    except Exception:  # noqa: BLE001  (a damaged or foreign file: no pages to read)
        return []
