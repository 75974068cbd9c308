"""A TA's check of a class: every hand-in zip read (never run) and turned into one row of a grades table and
a short feedback note per student.

    python -m labkit.handin.check handin/ [more.zip ...] [--csv grades.csv] [--feedback feedback/] [--jobs 2]

For each zip: the two files and their names (``<ID>_<lab>.ipynb`` + ``<ID>_<lab>.pdf``, nothing else), the
manifest in the notebook's metadata against the runs the notebook's own outputs recorded, the printed test
accuracies against those runs, the cells' execution order, the lab's rubric recomputed from the notebook and
the PDF's text (with the page of each item), the claimed accuracies and tiers, and flags: quick-run subset,
missing task or study, out-of-order execution, edited results, content missing from the PDF, what the
student forced. A zip that is damaged or hostile (not a zip, member names that climb out of a folder, sizes
or compression ratios of a zip bomb, encrypted members) is a flagged row, never a crash: sizes are checked
from the zip's directory before anything is read, and reading stops at the limit whatever the header says.
Nothing of a student's is executed, extracted to disk or rendered; zips are checked in a process pool.
"""
import argparse
import concurrent.futures
import csv
import os
import re
import sys
import tempfile
import time
import zipfile

import nbformat

from ..errors import cli_main
from .labs import LABS, checklist, page_texts, pages_of, task_view
from .manifest import order_problems, print_problems, printed_accuracies, recorded_runs, run_key

MAX_MEMBERS = 8
MAX_MEMBER = 256 * 2**20     # one file: a notebook of figures or a PDF of a long lab stays far below
MAX_TOTAL = 400 * 2**20
MAX_RATIO = 200              # uncompressed / compressed for members above 1 MiB (JSON and PDF: 2-20)
_NAME = re.compile(r"([A-Za-z0-9][A-Za-z0-9_-]*)_([a-z0-9][a-z0-9_-]*)\.(ipynb|pdf)")
COLUMNS = ("file", "student_id", "lab", "state", "rubric", "missing", "accuracies", "tiers", "pages", "flags",
           "feedback")


class Flagged(Exception):
    """The zip cannot be checked further; the message is the row's flag."""


def _safe_name(name):
    return not (name.startswith(("/", "\\")) or "\\" in name or ".." in name.split("/") or re.match(r"[A-Za-z]:", name)
                or "/" in name)


def read_members(path):
    """{name: bytes} of the zip at ``path`` after every safety check (see the module doc); raises Flagged."""
    if os.path.getsize(path) > MAX_TOTAL:
        raise Flagged(f"file of {os.path.getsize(path) / 2**20:.0f} MiB: larger than any hand-in")
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise Flagged(f"not a zip ({type(e).__name__}: {str(e)[:80]})") from None
    with z:
        infos = z.infolist()
        if len(infos) > MAX_MEMBERS:
            raise Flagged(f"{len(infos)} members: a hand-in holds 2")
        bad = [i.filename for i in infos if not _safe_name(i.filename)]
        if bad:
            raise Flagged(f"unsafe member name(s) {', '.join(repr(b[:60]) for b in bad[:3])} (path traversal or "
                          f"folders): not extracted")
        if sum(i.file_size for i in infos) > MAX_TOTAL or any(i.file_size > MAX_MEMBER for i in infos):
            raise Flagged("members too large when unpacked (zip bomb?): not read")
        bomb = [i.filename for i in infos if i.file_size > 2**20 and i.file_size > MAX_RATIO * max(i.compress_size, 1)]
        if bomb:
            raise Flagged(f"compression ratio over {MAX_RATIO} in {', '.join(bomb[:3])} (zip bomb?): not read")
        if any(i.flag_bits & 0x1 for i in infos):
            raise Flagged("encrypted members: not read")
        out = {}
        for i in infos:
            try:
                with z.open(i) as f:
                    data = f.read(MAX_MEMBER + 1)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
                raise Flagged(f"damaged member {i.filename!r} ({type(e).__name__}: {str(e)[:80]})") from None
            if len(data) > MAX_MEMBER:
                raise Flagged(f"member {i.filename!r} unpacks beyond its declared size (zip bomb?): not read")
            out[i.filename] = data
    return out


def two_files(members):
    """(student id, lab, notebook bytes, PDF bytes, flags) from the zip's members: the handout's two files."""
    flags, found = [], {}
    for name in members:
        m = _NAME.fullmatch(name)
        if m:
            found.setdefault(m.group(3), (m.group(1), m.group(2), name))
        else:
            flags.append(f"extra or misnamed file {name!r}")
    if "ipynb" not in found:
        raise Flagged(f"no <ID>_<lab>.ipynb in the zip (it holds {', '.join(sorted(members)) or 'nothing'})")
    sid, lab, nb_name = found["ipynb"]
    if "pdf" not in found:
        flags.append("no PDF")
    elif found["pdf"][:2] != (sid, lab):
        flags.append(f"the PDF {found['pdf'][2]!r} is not named like the notebook {nb_name!r}")
    pdf = members[found["pdf"][2]] if "pdf" in found else b""
    if pdf and not pdf.startswith(b"%PDF-"):
        flags.append("the PDF is not a PDF")
        pdf = b""
    return sid, lab, members[nb_name], pdf, flags


def split_parts(nb):
    """{task key: notebook} of a hand-in notebook (each part starts at a heading cell labkit.handin.document
    marked with its task)."""
    parts, cur = {}, None
    for c in nb.cells:
        part = ((c.get("metadata") or {}).get("labkit") or {}).get("part") if c.get("cell_type") == "markdown" else None
        if part:
            cur = nbformat.v4.new_notebook(metadata={"labkit": {"task": part}})
            parts[part] = cur
        elif cur is not None:
            cur.cells.append(c)
    return parts


def pdf_pages(data):
    """The text of each page of the PDF ``data`` (labkit.handin.labs.page_texts: a parser, nothing rendered),
    [] when it cannot be read."""
    with tempfile.TemporaryDirectory(prefix="labkit-check-") as d:
        path = os.path.join(d, "handin.pdf")
        with open(path, "wb") as f:
            f.write(data)
        return page_texts(path)


def manifest_problems(manifest, parts):
    """The manifest against the runs the notebook's outputs recorded: a run in one and not the other, or a
    different result / settings digest / file hash."""
    out = []
    for n in manifest.get("notebooks") or []:
        mine = {run_key(e): e for e in recorded_runs(parts[n.get("task")])} if n.get("task") in parts else {}
        listed = {run_key(e): e for e in n.get("runs") or []}
        for k in sorted(set(mine) ^ set(listed)):
            out.append(f"{n.get('task')}: run {k} is in the {'notebook' if k in mine else 'manifest'} only")
        for k in set(mine) & set(listed):
            diff = [f for f in ("test_acc", "result_sha256", "history_sha256", "status", "epochs")
                    if mine[k].get(f) != listed[k].get(f)]
            if diff:
                out.append(f"{n.get('task')}: run {k} differs in {', '.join(diff)} between manifest and notebook")
    return out


def _report_text(pages):
    """The report's headings as the rubric reads them, from the PDF's text (lines naming its sections)."""
    return "\n".join(f"# {ln}" for p in pages for ln in p.splitlines() if re.search(r"Difficult|困難", ln, re.I))


def _pdf_flags(parts, pages):
    flat = "".join("".join(pages).split())
    missing = [f"{k}: 'Test Accuracy: {v}%'" for k, nb in parts.items() for _, v in printed_accuracies(nb)
               if f"TestAccuracy:{v}%" not in flat]
    return [f"content missing from the PDF (stripped or edited): {', '.join(missing[:3])}"] if missing else []


def _quick(runs):
    small = [e for e in runs if e.get("limit") or (e.get("train") or 0) + (e.get("val") or 0) < 50_000
             or (e.get("test") or 0) < 10_000]
    shown = [f"{e['name']} ({(e.get('train') or 0) + (e.get('val') or 0)} train, {e.get('test')} test"
             f"{', limit ' + str(e['limit']) if e.get('limit') else ''})" for e in small[:3]]
    return [f"quick-run subset: {', '.join(shown)}"] if small else []


def check_notebook_and_pdf(nb, pages, lab_name):
    """(rubric rows, flags, accuracies) of one hand-in's notebook and PDF page texts."""
    flags = []
    manifest = (nb.metadata.get("labkit") or {}).get("manifest")
    parts = split_parts(nb)
    if not manifest:
        flags.append("no manifest (not made by labkit's submit, or its metadata was edited)")
    else:
        flags += [f"manifest vs notebook: {p}" for p in manifest_problems(manifest, parts)]
        flags += [f"forced by the student: {f[:160]}" for f in manifest.get("forced") or []]
    for k, part in parts.items():
        flags += [f"out-of-order execution ({k})" for _ in order_problems(part)]
        flags += [f"edited results ({k}): {p[:160]}" for p in print_problems(part, k)]
    lab = LABS.get(lab_name)
    flags += [f"missing task: {t}" for t in (lab.tasks if lab else ()) if t not in parts]
    views = {k: task_view(p) for k, p in parts.items()}
    rows = checklist(lab, views, _report_text(pages)) if lab else []
    starts = {k: max((i for i, p in enumerate(pages) if f"Appendix {letter}:" in p), default=0)
              for letter, k in zip("ABCDEFGH", parts)}
    pages_of(rows, pages, starts)
    flags += [f"missing study: {r['item'].split(': ', 1)[1]}" for r in rows if "study" in r["item"] and not r["found"]]
    runs = [e for v in views.values() for e in v.runs]
    flags += _quick(runs) + (_pdf_flags(parts, pages) if pages else ["no readable PDF text"])
    accs = [f"{k} {e['name']} {e['test_acc']:.2f}%" for k, v in views.items() for e in v.runs
            if isinstance(e.get("test_acc"), (int, float))]
    return rows, flags, accs


def check_zip(path):
    """One row of the grades table for the zip at ``path`` (see COLUMNS), and its feedback Markdown."""
    row = {c: "" for c in COLUMNS}
    row.update(file=os.path.basename(path), state="checked")
    try:
        sid, lab, nb_bytes, pdf, flags = two_files(read_members(path))
        row.update(student_id=sid, lab=lab)
        try:
            nb = nbformat.reads(nb_bytes.decode("utf-8"), as_version=4)
        except Exception as e:  # noqa: BLE001  (not JSON, not a notebook)
            raise Flagged(f"the notebook cannot be read ({type(e).__name__})") from None
        rows, more, accs = check_notebook_and_pdf(nb, pdf_pages(pdf) if pdf else [], lab)
        flags += more
        row.update(rubric=f"{sum(r['found'] for r in rows)}/{len(rows)}",
                   missing="; ".join(r["item"] for r in rows if not r["found"]), accuracies="; ".join(accs),
                   tiers="; ".join(r["detail"] for r in rows if "tier" in r["item"] and r["found"]),
                   pages="; ".join(f"{r['item']}: p. {r['page']}" for r in rows if r.get("page")))
    except Flagged as e:
        flags, rows, row["state"] = [str(e)], [], "damaged"
    except Exception as e:  # noqa: BLE001  (never a crash: the row says what happened)
        flags, rows, row["state"] = [f"could not be checked ({type(e).__name__}: {str(e)[:120]})"], [], "damaged"
    if flags and row["state"] == "checked":
        row["state"] = "flagged"
    row["flags"] = "; ".join(flags)
    return row, feedback(row, rows, flags)


def feedback(row, rows, flags):
    """The short feedback note for the student (Markdown)."""
    lines = [f"# Feedback: {row['student_id'] or row['file']} {row['lab']}", "",
             f"Checked {row['file']}: {row['state']}; rubric {row['rubric'] or 'not checked'}.", ""]
    if rows:
        lines += ["| | item | page / detail |", "| --- | --- | --- |"]
        lines += [f"| {'✔' if r['found'] else '✘'} | {r['item']} | "
                  f"{'p. ' + str(r['page']) if r.get('page') else ''}{' ' + r['detail'] if r['detail'] else ''} |"
                  for r in rows]
        lines.append("")
    if row["accuracies"]:
        lines += [f"Test accuracies recorded: {row['accuracies']}.", ""]
    lines += ["Flags:"] + [f"- {f}" for f in flags] if flags else ["No flags."]
    return "\n".join(lines) + "\n"


def zips_in(paths):
    """The files to check: each path given, and every file (not hidden) directly in a folder given, sorted."""
    out = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            out += sorted(os.path.join(p, f) for f in os.listdir(p)
                          if not f.startswith(".") and os.path.isfile(os.path.join(p, f)))
        else:
            out.append(p)
    return out


def _safe_check(path):
    try:
        return check_zip(path)
    except BaseException as e:  # noqa: BLE001  (a worker never takes the table down)
        row = {c: "" for c in COLUMNS}
        row.update(file=os.path.basename(path), state="damaged", flags=f"could not be checked ({type(e).__name__})")
        return row, feedback(row, [], [row["flags"]])


def check_all(paths, csv_path=None, feedback_dir=None, jobs=None):
    """Check every zip in ``paths`` (files or folders) in a process pool; write the CSV (one row per file) and a
    feedback note per file; returns the rows."""
    files = zips_in(paths)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(files) or 1))
    if jobs > 1:
        with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_safe_check, files, chunksize=max(1, len(files) // (4 * jobs))))
    else:
        results = [_safe_check(f) for f in files]
    if feedback_dir:
        os.makedirs(feedback_dir, exist_ok=True)
    for (row, note), f in zip(results, files):
        if feedback_dir:
            name = os.path.join(feedback_dir, re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(f)) + ".md")
            with open(name, "w", encoding="utf-8") as fh:
                fh.write(note)
            row["feedback"] = name
    rows = [r for r, _ in results]
    if csv_path:
        with open(csv_path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(rows)
    return rows


@cli_main
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m labkit.handin.check",
                                description="Check hand-in zips (never running them): one CSV row per zip, a "
                                            "feedback note per student.")
    p.add_argument("paths", nargs="+", help="zips, or folders of zips")
    p.add_argument("--csv", help="write the grades table here (default: print it)")
    p.add_argument("--feedback", help="folder for the feedback notes (default: feedback/ next to --csv)")
    p.add_argument("--jobs", type=int, help="processes (default: the CPU count)")
    a = p.parse_args(argv)
    fb = a.feedback or (os.path.join(os.path.dirname(os.path.abspath(a.csv)), "feedback") if a.csv else None)
    t0 = time.time()
    rows = check_all(a.paths, a.csv, fb, a.jobs)
    if not a.csv:
        w = csv.DictWriter(sys.stdout, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    states = {s: sum(r["state"] == s for r in rows) for s in ("checked", "flagged", "damaged")}
    print(f"{len(rows)} file(s) in {time.time() - t0:.1f} s: " + ", ".join(f"{n} {s}" for s, n in states.items())
          + (f"; table {a.csv}, notes in {fb}" if a.csv else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
