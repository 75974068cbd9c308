"""The hand-in zip: ``<student id>_<lab>.zip`` holding exactly ``<id>_<lab>.ipynb`` and ``<id>_<lab>.pdf``.

    python -m labkit.handin.submit --student-id F74091234 --lab lab2 \\
        --notebook runs/task1_out.ipynb runs/task2_out.ipynb --report reports/lab2_report.ipynb \\
        [--run-dir runs] [--out-dir handin] [--pdf X.pdf] [--extra FILE ...] [--force]

- ``<id>_<lab>.ipynb``: the executed notebooks merged into one under a heading per task (task 1, task 2...
  in task order, read from each notebook's ``metadata.labkit.task``; notebooks without it in the order
  given), their code and outputs in order (progress bars left out), then an appendix with the labkit
  source that produced the results (labkit.handin.source: code cells tagged ``labkit-source``, never run);
- ``<id>_<lab>.pdf``: the report (its text and output, without its code or prompts) with a table of
  contents, then "Appendix A: Task 1 notebook", "Appendix B: ..." (every cell with its output: the
  per-epoch lines, ``Finished Training``, ``Test Accuracy``, the curves and tables), then the source
  appendix; A4, numbered pages, bookmarks (labkit.handin.document). ``--pdf`` gives one instead.

The report may be handed over unexecuted (e.g. the template after writing its text): it is then
executed first with papermill against ``--run-dir`` (runs on Google Drive in Colab).
Nothing else goes into the zip unless asked for with ``--extra``. The zip goes to ``handin/`` of the
current folder unless ``--out-dir`` says otherwise; its full path is printed.

Everything is checked before anything is written: the student id and lab name (ASCII letters, digits,
``-``, ``_``; the id is written in upper case, the lab in lower case, with a note when that changed what
was typed); that every notebook ran completely, without an error output (the cell and the error are
named); that no notebook is given twice and no task has two notebooks; that the report holds none of
the template's placeholders (they are listed); that the files exist, and that the zip is not there
already. ``--force`` replaces an existing zip and lets a partly executed notebook or an unfinished
report through (with a warning). The zip is written to a temporary file, verified, and moved into
place atomically.
"""
import argparse
import os
import sys
import tempfile
import time
import unicodedata
import zipfile

import nbformat

from ..errors import cli_main
from ..files import atomic_path
from ..notebook import repo_root
from .errors import SubmissionError, SubmissionExistsError
from .bookmarks import heading_pages
from .document import appendix_letters, contents_entries, handin_notebook, order_tasks, pdf_notebook
from .labs import (checklist, checklist_lines, checklist_markdown, flat_text, get_lab, lab_problems, latin_part,
                   page_texts, pages_of, report_params, task_view)
from .names import check_student_name, normalize_lab, normalize_student_id
from .manifest import (build_manifest, cover_text, folder_problems, order_problems, print_problems, recorded_runs,
                       report_problems)
from .notebooks import read_notebook, report_placeholders, strip_progress, text_of
from .pdf import export_pdf
from .source import SOURCE_TAG, provenance, source_appendix

DEFAULT_OUT_DIR = "handin"  # not the repository root: a zip there shows up in git status

def _source_line(cell):
    src = cell.get("source", "")
    src = "".join(src) if isinstance(src, list) else src
    first = next((ln.strip() for ln in src.splitlines() if ln.strip()), "")
    return first[:80] + ("..." if len(first) > 80 else "")


def _error_outputs(code):
    errors = []
    for i, c in code:
        for o in c.get("outputs", []) or []:
            if o.get("output_type") == "error":
                n = c.get("execution_count")
                evalue = str(o.get("evalue") or "").splitlines()
                errors.append(f"cell {i}{f' [{n}]' if n is not None else ''} ({_source_line(c)!r}): "
                              f"{o.get('ename', 'Error')}: {evalue[0][:200] if evalue else ''}")
    return errors


def check_notebook(path, force=False):
    """Read ``path`` and check it is a completely executed notebook without error outputs; returns
    (notebook, [warnings]). Raises SubmissionError naming what is wrong and the fix; ``force`` turns
    code cells that did not run into a warning."""
    path = os.fspath(path)
    nb = read_notebook(path, SubmissionError)
    # source cells (a hand-in's appendix, labkit.handin.source) are documentation: never run
    code = [(i, c) for i, c in enumerate(nb.cells, 1)
            if c.get("cell_type") == "code" and SOURCE_TAG not in c.get("metadata", {}).get("tags", [])]
    ran = [(i, c) for i, c in code if c.get("execution_count") is not None or c.get("outputs")]
    if not ran:
        raise SubmissionError(
            f"notebook {path!r} was never executed: none of its {len(code)} code cells has run or has an output. "
            f"Run all its cells (Jupyter/Colab: Run all; headless: papermill IN.ipynb OUT.ipynb) and save it with "
            f"its outputs, then submit the executed notebook.")
    errors = _error_outputs(code)
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise SubmissionError(f"notebook {path!r} holds {len(errors)} error output(s){more}:\n  "
                              + "\n  ".join(errors[:5]) + "\nFix the cause, run the notebook again from the top and "
                              "submit the run without errors.")
    warns = []
    skipped = [i for i, c in code if _source_line(c) and c.get("execution_count") is None and not c.get("outputs")]
    if skipped:
        msg = (f"code cell(s) {', '.join(map(str, skipped[:10]))}{' ...' if len(skipped) > 10 else ''} of "
               f"{path!r} did not run, so their results are missing from the hand-in")
        if not force:
            raise SubmissionError(msg + ". Run all cells (Jupyter/Colab: Run all) and save the notebook again, or "
                                        "pass --force (force=True) to hand it in as it is.")
        warns.append(msg + " (--force).")
    return nb, warns


def check_report(nb, path, force=False):
    """Refuse a report that still holds the template's placeholders (listed); ``force``: a warning."""
    left = report_placeholders(nb)
    if not left:
        return []
    msg = (f"the report {os.fspath(path)!r} still holds {len(left)} placeholder(s) of the template: "
           + "; ".join(repr(p) for p in left))
    if not force:
        raise SubmissionError(msg + ". Replace them with your own text (and set student_name, or pass "
                                    "--student-name), run the report again, or pass --force (force=True) to hand it "
                                    "in as it is.")
    return [msg + " (--force)."]


def execute_report(path, out_path, run_dir, student_id, student_name=None, verbose=True, lab=None, runs=None):
    """Run the report template with papermill against ``run_dir``; returns the executed notebook. ``runs``:
    {parameter: value} naming the task notebooks' run folders, passed where the report has that parameter."""
    import papermill  # optional: Colab installs it with requirements-pdf.txt, only for the hand-in

    params = {"student_id": student_id, **({"student_name": student_name} if student_name else {}),
              **({"lab": lab} if lab else {})}
    if runs:
        declared = papermill.inspect_notebook(os.fspath(path))
        params.update({k: v for k, v in runs.items() if k in declared})
        if verbose and any(k in declared for k in runs):
            print("the report reads the notebooks' runs: " + ", ".join(
                f"{k}={v!r}" for k, v in runs.items() if k in declared))
    if run_dir is not None:
        params["run_dir"] = os.path.abspath(os.fspath(run_dir))
    if verbose:
        print(f"executing the report {os.fspath(path)} (run_dir {params.get('run_dir', 'its default')})")
    try:
        papermill.execute_notebook(os.fspath(path), out_path, parameters=params, cwd=repo_root(),
                                   progress_bar=False, log_output=False)
    except Exception as e:  # papermill's PapermillExecutionError names the cell and the error
        last = str(e).strip().splitlines()[-1][:300].rstrip(".")
        raise SubmissionError(f"the report {os.fspath(path)!r} failed when run against run_dir "
                              f"{params.get('run_dir')!r}: {last}. Check --run-dir (the folder the lab notebooks "
                              f"wrote their runs to) and the report's parameters.") from None
    return read_notebook(out_path, SubmissionError)


def _plan_extras(extras, reserved):
    """{name in the zip: file} for ``extras``: each must exist; two different files may not share a name."""
    plan = {}
    for f in extras or []:
        f = os.fspath(f)
        if not os.path.isfile(f):
            raise SubmissionError(f"extra file {f!r} does not exist.")
        name = os.path.basename(f)
        if name in reserved:
            raise SubmissionError(f"extra file {f!r} would be stored as {name!r}, the name of the notebook/PDF in the "
                                  f"zip; rename it.")
        if name in plan and os.path.realpath(plan[name]) != os.path.realpath(f):
            raise SubmissionError(f"two extra files are named {name!r} ({plan[name]!r} and {f!r}); a zip holds one.")
        plan[name] = f
    return plan


def _check_pdf(pdf, notebooks):
    pdf = os.fspath(pdf)
    if not os.path.isfile(pdf):
        raise SubmissionError(f"PDF {pdf!r} does not exist; leave out --pdf to make it from the notebooks.")
    with open(pdf, "rb") as f:
        if f.read(5) != b"%PDF-":
            raise SubmissionError(f"{pdf!r} is not a PDF file (it does not start with %PDF-).")
    from .bookmarks import missing_lines  # the key prints of each notebook must be in its text (pdf.key_prints)
    from .pdf import key_prints, unprinted_message

    with open(pdf, "rb") as f:
        data = f.read()
    for n in notebooks:
        missing = missing_lines(data, key_prints(read_notebook(n, SubmissionError)))
        if missing:
            raise SubmissionError(unprinted_message(missing, f"the notebook {n!r}") + " Make the PDF again "
                                  "(leave out --pdf) from the notebooks as they are.")
    newer = [n for n in notebooks if os.path.getmtime(pdf) < os.path.getmtime(n)]
    return [f"the PDF {pdf!r} is older than {n!r}; make it again if the notebook changed." for n in newer]


def _notebook_paths(notebooks):
    """The task notebooks as a list of paths (one path or several); at least one."""
    notebooks = [os.fspath(n) for n in ([notebooks] if isinstance(notebooks, (str, os.PathLike)) else notebooks)]
    if not notebooks:
        raise SubmissionError("give the executed notebook(s) of the lab (--notebook task1_out.ipynb task2_out.ipynb)")
    return notebooks


def _zip_path(out_dir, stem, force):
    """Where the zip goes; refused when ``out_dir`` is a file, or when the zip is there and not ``force``."""
    out_dir = os.fspath(out_dir or DEFAULT_OUT_DIR)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SubmissionError(f"--out-dir {out_dir!r} is a file, not a folder.")
    zip_path = os.path.join(out_dir, f"{stem}.zip")
    if os.path.exists(zip_path) and not force:
        raise SubmissionExistsError(f"{zip_path!r} already exists and is left as it is. Pass --force (force=True) to "
                                    f"replace it (the old zip stays until the new one is complete), or use another "
                                    f"--out-dir.")
    return zip_path


def _check_inputs(notebooks, report, pdf, force):
    """(task notebooks, report notebook or None, warnings): every check that needs no writing."""
    nbs, warns = [], []
    for n in notebooks:
        nb, w = check_notebook(n, force=force)
        nbs.append(nb)
        warns += w
    rep = read_notebook(report, SubmissionError) if report is not None else None
    if rep is not None:
        warns += check_report(rep, report, force)  # before running it: the text is the student's
        if _ran(rep):
            warns += check_notebook(report, force=force)[1]
    if pdf is not None:
        warns += _check_pdf(pdf, notebooks)
    return nbs, rep, warns


def _ran(nb):
    return any(c.get("execution_count") is not None for c in nb.cells if c.get("cell_type") == "code")


def make_submission(student_id, lab, notebooks, report=None, pdf=None, run_dir=None, out_dir=DEFAULT_OUT_DIR,
                    extras=(), force=False, student_name=None, export_options=None, verbose=True, strict=False):
    """Write ``<out_dir>/<student_id>_<lab>.zip`` (see the module doc); returns its path.

    ``notebooks``: the executed task notebook(s) (one path or a list; put in task order by their
    ``metadata.labkit.task``, else kept in the order given). ``report``: the report notebook, executed or
    not (then run with papermill against ``run_dir``, with ``student_id``, ``lab`` and, if given,
    ``student_name`` as its parameters). ``pdf``: an existing PDF to use instead of making one.
    ``out_dir``: where the zip goes (default ``handin/`` of the current folder). ``extras``: more files,
    stored by their base name. ``force``: replace an existing zip (atomically, after the new one is
    complete) and accept a partly executed notebook or a report with placeholders, with a warning; it also
    lets through what the truth checks refuse (a missing task or report, cells run out of order, a print or run
    that disagrees with its record), each named on the PDF's cover. ``strict``: a rubric item missing refuses.
    """
    (sid, id_note), (lab, lab_note) = normalize_student_id(student_id), normalize_lab(lab)
    student_name = check_student_name(student_name)
    stem = f"{sid}_{lab}"
    notebooks = _notebook_paths(notebooks)
    zip_path = _zip_path(out_dir, stem, force)
    nbs, rep, warns = _check_inputs(notebooks, report, pdf, force)
    tasks = order_tasks(notebooks, nbs, verbose)
    forced = []
    problems, notes = _truth_problems(lab, tasks, rep, report, pdf, run_dir)
    warns += notes + _checked(problems, force, forced)
    extra_files = _plan_extras(extras, {f"{stem}.ipynb", f"{stem}.pdf"})
    if verbose:
        for line in [f"note: {n}" for n in (id_note, lab_note) if n] + [f"warning: {w}" for w in warns]:
            print(line)
    t0 = time.time()
    source = source_appendix(notebooks=[t.nb for t in tasks])
    with tempfile.TemporaryDirectory(prefix="labkit-submit-") as work:
        for t in tasks:
            strip_progress(t.nb)
        if pdf is None:
            rep = _report_for_pdf(report, rep, run_dir, (sid, lab, student_name), force, work, verbose,
                                  report_params(get_lab(lab), tasks, run_dir))
        report_runs = recorded_runs(rep) if rep is not None else []
        for w in _checked(report_problems(report_runs, {t.label or t.path: recorded_runs(t.nb) for t in tasks}),
                          force, forced):
            if verbose:
                print(f"warning: {w}")
        rows = _rubric(lab, tasks, rep, strict, verbose)
        manifest = build_manifest(provenance(), lab, sid, tasks, report_runs, forced, rows)
        if pdf is None:
            pdf = _export_with_checklist(os.path.join(work, f"{stem}.pdf"), (rep, tasks, sid, lab, source),
                                         manifest, rows, export_options, verbose)
        merged_path = os.path.join(work, f"{stem}.ipynb")
        nbformat.write(handin_notebook(tasks, sid, lab, source, manifest), merged_path)
        if verbose and rows:  # with the PDF's pages where it was made here
            print(f"rubric checklist ({get_lab(lab).title}: {sum(r['found'] for r in rows)} of {len(rows)} found):")
            print("\n".join(checklist_lines(rows)))
        members = [(f"{stem}.ipynb", merged_path), (f"{stem}.pdf", pdf)] + sorted(extra_files.items())
        replaced = os.path.exists(zip_path)
        _write_zip(zip_path, members)
    if verbose:
        _print_zip(zip_path, replaced, time.time() - t0)
    return zip_path


def _report_for_pdf(report, rep, run_dir, who, force, work, verbose, runs=None):
    """The report as it goes into the PDF (executed here when it was not, on the notebooks' ``runs``, progress
    bars out); None without one. ``who``: (student id, lab, student name), the parameters it runs with."""
    if rep is None:
        return None
    sid, lab, student_name = who
    if not _ran(rep):
        rep = execute_report(report, os.path.join(work, "report.ipynb"), run_dir, sid, student_name, verbose, lab,
                             runs)
        check_report(rep, report, force)
    elif run_dir is not None and verbose:
        print(f"note: the report {os.fspath(report)!r} was executed already; --run-dir is not used for it")
    strip_progress(rep)
    return rep


def _truth_problems(lab, tasks, rep, report, pdf, run_dir):
    """(problems, notes): what the lab registry and the truth checks refuse, before anything is written (a
    missing task or report, a notebook of another lab, cells run out of order, a printed accuracy no recorded run
    has, a recorded run whose folder now says otherwise); the recorded runs whose folder was not found."""
    problems, notes = lab_problems(lab, tasks, rep, report, pdf is not None, repo_root()), []
    for t in tasks:
        name = f"notebook {os.path.basename(t.path)!r}"
        problems += order_problems(t.nb, name) + print_problems(t.nb, name)
        found, missing = folder_problems(recorded_runs(t.nb), run_dir, name)
        problems, notes = problems + found, notes + missing
    if rep is not None and _ran(rep):
        problems += order_problems(rep, f"the report {os.path.basename(os.fspath(report))!r}")
    return problems, notes


def _checked(problems, force, forced):
    """Refuse ``problems`` (SubmissionError listing them, with the fix) unless ``force``: then they are returned
    as warnings and added to ``forced`` (the PDF's cover names them)."""
    if not problems:
        return []
    if not force:
        raise SubmissionError("\n  ".join([f"the hand-in was not made ({len(problems)} problem(s)):"] + problems)
                              + "\nFix them, or pass --force (force=True) to hand it in as it is (the PDF's cover "
                                "then names each).")
    forced += problems
    return [p + " (--force)" for p in problems]


def _rubric(lab, tasks, rep, strict, verbose):
    """The rubric's checklist rows for ``lab`` (printed, a warning per missing item); ``strict`` refuses a miss."""
    reg = get_lab(lab)
    if reg is None or not any(t.key for t in tasks):
        return []
    report_text = None if rep is None else "\n".join(text_of(c.get("source")) for c in rep.cells
                                                     if c.get("cell_type") == "markdown")
    rows = checklist(reg, {t.key: task_view(t.nb) for t in tasks if t.key}, report_text)
    missing = [r for r in rows if not r["found"]]
    if verbose:
        for r in missing:
            print(f"warning: rubric item missing: {r['item']}{': ' + r['detail'] if r['detail'] else ''}")
    if strict and missing:
        raise SubmissionError(f"--strict: {len(missing)} rubric item(s) missing: "
                              + "; ".join(f"{r['item']} ({r['detail'] or 'not found'})" for r in missing)
                              + ". Run what is missing (the lab's defaults), or hand in without --strict.")
    return rows


def _export_with_checklist(pdf, parts, manifest, rows, export_options, verbose):
    """The PDF with the hand-in record and the rubric checklist on its cover and page numbers in its contents:
    printed once to learn the page of each item and section, then again with the pages (again, at most twice
    more, while a page moved)."""
    rep, tasks, sid, lab, source = parts
    reg = get_lab(lab)
    starts = {t.key: f"Appendix {letter}: {t.label or 'The executed'} notebook"
              for letter, t in zip(appendix_letters(len(tasks)), tasks)}
    entries = contents_entries(rep, tasks, source)
    pages = contents = None
    for _ in range(3):
        cover = ([checklist_markdown(reg, rows)] if rows else []) + [cover_text(manifest)]
        out = _export(pdf, pdf_notebook(rep, tasks, sid, lab, source, cover, contents), export_options,
                      verbose and contents is None)
        texts = page_texts(out)
        found = [r["page"] for r in pages_of(rows, texts, _start_pages(texts, starts))] if rows else []
        where = _contents_pages(entries, texts)
        if (found, where) == (pages, contents) or not texts:
            break
        pages, contents = found, where
    if rows:
        manifest["checklist"] = [dict(r) for r in rows]
    return out


def _contents_pages(entries, texts):
    """{contents entry: its page number} where the PDF's text shows it (the contents page itself not counted)."""
    norm = [latin_part(unicodedata.normalize("NFKC", e)) for e in entries]  # a CJK glyph may have no text
    found = heading_pages([unicodedata.normalize("NFKC", t) for t in texts], norm)
    return {e: found[n] + 1 for e, n in zip(entries, norm) if n in found}


def _start_pages(texts, starts):
    """{task: index of the page its appendix starts on}: the last page holding its heading (the contents
    name it too)."""
    flat = [flat_text(t) for t in texts]
    return {k: max((i for i, t in enumerate(flat) if flat_text(h) in t), default=0) for k, h in starts.items()}


def _export(pdf, whole, export_options, verbose):
    """Write the PDF ``pdf`` from the notebook ``whole`` (labkit.handin.document.pdf_notebook)."""
    path = os.path.splitext(pdf)[0] + "_pdf.ipynb"
    nbformat.write(whole, path)
    return export_pdf(path, pdf, verbose=verbose, **(export_options or {}))


def _write_zip(zip_path, members):
    with atomic_path(zip_path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, src in members:
                z.write(src, arcname=name)
        with zipfile.ZipFile(tmp) as z:  # verify before it replaces anything
            bad = z.testzip()
            if bad is not None or sorted(z.namelist()) != sorted(n for n, _ in members):
                raise SubmissionError(f"the new zip failed its check ({bad or 'members differ'}); nothing was "
                                      f"replaced.")


def _print_zip(zip_path, replaced, seconds):
    with zipfile.ZipFile(zip_path) as z:
        infos = z.infolist()
    print(f"{'replaced' if replaced else 'wrote'} {os.path.abspath(zip_path)} "
          f"({os.path.getsize(zip_path) / 1024:.0f} KiB, "
          f"{seconds:.1f} s):")
    for i in infos:
        print(f"  {i.filename:<40} {i.file_size / 1024:>8.1f} KiB")


@cli_main
def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m labkit.handin.submit",
        description="Make the hand-in zip <student-id>_<lab>.zip: the executed notebooks merged into "
                    "<id>_<lab>.ipynb and the report + every output as <id>_<lab>.pdf.")
    p.add_argument("--student-id", required=True, help="e.g. F74091234 (letters written in upper case)")
    p.add_argument("--lab", required=True, help="e.g. lab2 (written in lower case in every file name and title)")
    p.add_argument("--notebook", required=True, nargs="+", action="extend", metavar="IPYNB",
                   help="the executed task notebooks (outputs kept), e.g. runs/task1_out.ipynb runs/task2_out.ipynb; "
                        "put in task order by the task each notebook records")
    p.add_argument("--report", help="the report notebook (executed, or the template with your text: it is then "
                                    "run against --run-dir)")
    p.add_argument("--student-name", help="your name for the report's header when it is run here")
    p.add_argument("--run-dir", help="where the lab notebooks wrote their runs, for running the report "
                                     "(default: the report's run_dir parameter, 'runs')")
    p.add_argument("--pdf", help="use this PDF instead of making one from the report and the notebooks")
    p.add_argument("--out-dir", default=DEFAULT_OUT_DIR, help="where the zip goes (default: handin/ here; created "
                                                              "when missing)")
    p.add_argument("--extra", action="extend", default=[], metavar="FILE", nargs="+",
                   help="more files to include (stored by their base name), only if the lab asks for them")
    p.add_argument("--force", action="store_true",
                   help="replace an existing zip; accept a partly executed notebook, a report with placeholders, a "
                        "missing task or report, what the truth checks refuse (the PDF's cover names what was forced)")
    p.add_argument("--strict", action="store_true", help="refuse when an item of the lab's rubric is missing")
    a = p.parse_args(argv)
    make_submission(a.student_id, a.lab, a.notebook, report=a.report, pdf=a.pdf, run_dir=a.run_dir,
                    out_dir=a.out_dir, extras=a.extra, force=a.force, student_name=a.student_name, strict=a.strict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
