"""The Lab2 hand-in as a student makes it: task 1 and task 2 executed tiny with papermill, the report
written, then one `python -m labkit.handin.submit` command; the zip, its notebook and its PDF's text checked."""
import os
import re
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from labkit.handin.pdf import check as export_check
from labkit.handin.notebooks import is_progress_output, merge_notebooks, strip_progress

papermill = pytest.importorskip("papermill")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SID, LAB = "F74091234", "lab2"
TEMPLATE = os.path.join(REPO, "reports", "lab2_report.ipynb")
# The handout's per-epoch line
HANDOUT_LINE = re.compile(r"Train loss: \d+\.\d{3} \| Train acc: [01]\.\d{3} Val loss: \d+\.\d{3} \| Val acc: [01]\.\d{3}")
TINY = dict(epochs=1, test_limit=60)


def submit(*args):
    return subprocess.run([sys.executable, "-m", "labkit.handin.submit", *args], capture_output=True, text=True,
                          timeout=600, cwd=REPO)


def can_make_pdf():
    info = export_check()
    return bool(info["browser"] or info["webpdf"]) and shutil.which("pdftotext") is not None


def written_report(path):
    """The report template with the student's own text in place of every placeholder."""
    nb = nbformat.read(TEMPLATE, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for ph in nb.metadata["labkit"]["placeholders"]:
                cell.source = cell.source.replace(ph, "What I found")
    nbformat.write(nb, str(path))
    return str(path)


@pytest.fixture(scope="module")
def handin(tmp_path_factory, subset_root):
    d = tmp_path_factory.mktemp("handin")
    runs = d / "runs"  # not there yet: fit creates it
    common = dict(data_root=subset_root, run_dir=str(runs), **TINY)
    jobs = [("task1_simplecnn.ipynb", "task1_out.ipynb", dict(common, limit=200, progress=True, teacher_model=None)),
            ("task2_resnet18.ipynb", "task2_out.ipynb",
             dict(common, limit=160, progress=False, ablations=["lr"], lr_values=[0.1]))]  # >= 1 batch of 128
    for src, out, params in jobs:
        papermill.execute_notebook(os.path.join(REPO, "notebooks", src), str(d / out), parameters=params, cwd=REPO,
                                   progress_bar=False, kernel_name="python3")
    report = written_report(d / "my_report.ipynb")
    pdf = can_make_pdf()
    # given task 2 first: the hand-in puts them in task order (their metadata says which task each is)
    args = ["--student-id", SID, "--lab", LAB, "--notebook", str(d / "task2_out.ipynb"), str(d / "task1_out.ipynb"),
            "--report", report, "--run-dir", str(runs), "--student-name", "Wang", "--out-dir", str(d / "out")]
    if not pdf:  # no browser here: the zip is still made, with a stand-in PDF
        (d / "standin.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
        args += ["--pdf", str(d / "standin.pdf")]
    r = submit(*args)
    assert r.returncode == 0, r.stdout + r.stderr
    return d, pdf


@pytest.mark.slow
def test_the_zip_holds_exactly_the_notebook_and_the_pdf(handin):
    d, _ = handin
    assert os.listdir(d / "out") == [f"{SID}_{LAB}.zip"]
    with zipfile.ZipFile(d / "out" / f"{SID}_{LAB}.zip") as z:
        assert sorted(z.namelist()) == [f"{SID}_{LAB}.ipynb", f"{SID}_{LAB}.pdf"]
        z.extractall(d / "unzipped")


@pytest.mark.slow
def test_the_notebook_holds_both_tasks_code_and_outputs(handin):
    d, _ = handin
    with zipfile.ZipFile(d / "out" / f"{SID}_{LAB}.zip") as z:
        nb = nbformat.reads(z.read(f"{SID}_{LAB}.ipynb").decode("utf-8"), as_version=4)
    nbformat.validate(nb)
    heads = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("# ")]
    assert heads.index("# Task 1") < heads.index("# Lab 2, task 1: SimpleCNN on CIFAR-10") < heads.index("# Task 2")
    assert nb.metadata["labkit"]["tasks"] == ["task1", "task2"]  # read from the notebooks' metadata
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert code.index("fit_with_teacher(") < code.index("run_ablations(")  # task 1 then task 2, code kept
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "\n".join(o.get("text", "") for o in outs)
    for needle in ("class SimpleCNN(nn.Module)", "def make_layer(", "class BasicBlock(", "Total params: 60,554",
                   "FLOPs: 5840896.0", "Total params: 11,173,962", "Finished Training"):
        assert needle in text, needle
    assert text.count("Test Accuracy:") == 3 and len(HANDOUT_LINE.findall(text)) == 3  # 1 + 2 runs
    assert sum("image/png" in o.get("data", {}) for o in outs) >= 3  # curves, confusion, the study
    assert not [o for o in outs if is_progress_output(o)]  # task 1 ran with its bars on


@pytest.mark.slow
def test_the_pdf_holds_the_report_and_every_print(handin):
    d, pdf = handin
    if not pdf:
        pytest.skip("no browser/pdftotext here (CI installs chromium with scripts/setup.sh)")
    path = d / "unzipped" / f"{SID}_{LAB}.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True).stdout
    for needle in ("Lab 2 report", "Epoch: 1", "learning rate: 0.01", "Finished Training", "Test Accuracy:",
                   "Total params: 60,554", "FLOPs: 5840896.0", "Difficulties and solutions", "class SimpleCNN",
                   "def make_layer", "test acc."):
        assert needle in text, needle
    assert HANDOUT_LINE.search(text)
    assert "it/s]" not in text and "What I found" in text
    assert not re.search(r"\w+Warning: ", text)  # no warning box (tqdm's IProgress, torch's, ...)
    report = text.rsplit("Appendix A: Task 1 notebook", 1)[0]  # the report part, up to its first appendix
    assert str(d) not in report and "/tmp/" not in report  # no absolute path in what the student wrote up
    assert re.search(r"[+-]\d+\.\d\d ± \d+\.\d\d points", report)  # each study's reading vs the baseline, with its SE
    assert "Δ test vs" in text  # the ablation table's difference from the baseline (task 2's appendix)


@pytest.mark.slow
def test_an_unedited_template_is_refused(handin):
    d, _ = handin
    r = submit("--student-id", SID, "--lab", LAB, "--notebook", str(d / "task1_out.ipynb"), "--report", TEMPLATE,
               "--out-dir", str(d / "refused"))
    assert r.returncode == 2 and "placeholder" in r.stderr and "Write here what the lab is about" in r.stderr
    assert not (d / "refused").exists()


@pytest.mark.slow
def test_a_report_run_against_a_wrong_run_dir_is_named(handin):
    d, _ = handin
    r = submit("--student-id", SID, "--lab", LAB, "--notebook", str(d / "task1_out.ipynb"), str(d / "task2_out.ipynb"),
               "--report", str(d / "my_report.ipynb"), "--run-dir", str(d / "no_runs"), "--out-dir", str(d / "refused"))
    assert r.returncode == 2 and "failed when run against run_dir" in r.stderr and "or 'simplecnn' run" in r.stderr
    assert not (d / "refused").exists()


def test_progress_bars_are_dropped_and_nothing_else():
    bar = nbformat.v4.new_output("stream", name="stderr", text="\rEpoch 1/2:  33%|###3      | 1/3 [00:01<00:02, 1.0it/s]")
    clear = nbformat.v4.new_output("stream", name="stderr", text="\r                         \r")
    widget = nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {
        "model_id": "x", "version_major": 2, "version_minor": 0}, "text/plain": "  0%|          | 0/3"})
    warning = nbformat.v4.new_output("stream", name="stderr", text="UserWarning: something real\n")
    line = nbformat.v4.new_output("stream", name="stdout", text="Epoch: 1\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("fit()")]
    nb.cells[0].outputs = [line, bar, clear, widget, warning]
    assert strip_progress(nb) == 3 and nb.cells[0].outputs == [line, warning]
    merged = merge_notebooks([("# Task 1", nb), ("# Task 2", nb)], hide_code_of=(1,))
    assert [c.cell_type for c in merged.cells] == ["markdown", "code", "markdown", "code"]
    assert len({c.id for c in merged.cells}) == 4 and merged.cells[3].metadata["tags"] == ["hide-input"]


@pytest.mark.slow
def test_export_leaves_progress_bars_out(tmp_path):
    """labkit.handin.pdf on any notebook (not only the hand-in) prints no bar states."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    from labkit.handin.template import nbconvert_config as _nbconvert_config, write_template as _write_template

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("fit()")]
    nb.cells[0].outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="\rEpoch 1/2:  33%|###3      | 1/3 [00:01<00:02, 1.0it/s]"),
        nbformat.v4.new_output("stream", name="stdout", text="Finished Training\n")]
    cfg = Config(_nbconvert_config(False, None, _write_template(str(tmp_path))))
    html, _ = HTMLExporter(config=cfg).from_notebook_node(nb)
    assert "Finished Training" in html and "it/s" not in html


def _pdf(handin):
    d, pdf = handin
    if not pdf:
        pytest.skip("no browser/pdftotext here (CI installs chromium with scripts/setup.sh)")
    from pypdf import PdfReader

    return PdfReader(str(d / "unzipped" / f"{SID}_{LAB}.pdf"))


def _outline(reader):
    def walk(items, depth):
        for it in items:
            if isinstance(it, list):
                yield from walk(it, depth + 1)
            else:
                yield depth, it.title, reader.get_destination_page_number(it)
    return list(walk(reader.outline, 0))


APPENDICES = ["Appendix A: Task 1 notebook", "Appendix B: Task 2 notebook",
              "Appendix C: Source code that produced these results"]


@pytest.mark.slow
def test_the_pdf_is_a4_numbered_titled_with_bookmarks(handin):
    reader = _pdf(handin)
    n = len(reader.pages)
    for i, page in enumerate(reader.pages, 1):
        assert abs(float(page.mediabox.width) - 595) <= 1 and abs(float(page.mediabox.height) - 842) <= 1
        assert f"{i} / {n}" in page.extract_text()
    assert reader.metadata.title == f"{SID} Lab 2 report"
    outline = _outline(reader)
    top = [t for depth, t, _ in outline if depth == 0]
    assert top[-3:] == APPENDICES
    titles = [t for _, t, _ in outline]
    assert "1. Introduction 簡介" in titles and "5. Difficulties and solutions 遇到的困難與解決方法" in titles
    pages = {t: p for _, t, p in outline}
    assert pages[APPENDICES[0]] < pages[APPENDICES[1]] < pages[APPENDICES[2]]  # report, tasks, then source
    for t in APPENDICES:
        assert "".join(t.split()) in "".join(reader.pages[pages[t]].extract_text().split())


@pytest.mark.slow
def test_the_pdf_starts_with_contents_and_the_report_shows_no_prompts(handin):
    reader = _pdf(handin)
    texts = [p.extract_text() for p in reader.pages]
    first = "".join(texts[0].split())
    assert "Contents" in texts[0] and all("".join(t.split()) in first for t in APPENDICES)
    pages = {t: p for _, t, p in _outline(reader)}
    for t in APPENDICES:  # the contents give each appendix's page number (1-based), learned from a first print
        assert f"{''.join(t.split())}·p.{pages[t] + 1}" in first, t
    links = [a.get_object() for a in reader.pages[0].get("/Annots", []) or []]
    targets = [a["/Dest"] for a in links if a.get("/Subtype") == "/Link" and "/Dest" in a]
    assert len(targets) >= 9 and all(t in reader.named_destinations for t in targets)  # links into the PDF
    report = "\n".join(texts[:pages[APPENDICES[0]]])
    prompt = re.compile(r"In\s\[\d*\]:|Out\[\d+\]:")  # the PDF's prompts have a no-break space
    assert "Lab 2 report" in report and not prompt.search(report)
    task1 = "\n".join(texts[pages[APPENDICES[0]]:pages[APPENDICES[1]]])
    assert prompt.search(task1)  # the task notebooks keep theirs: they are code


@pytest.mark.slow
def test_the_pdf_ends_with_the_source_code(handin):
    import labkit

    reader = _pdf(handin)
    pages = {t: p for _, t, p in _outline(reader)}
    source = "\n".join(p.extract_text() for p in reader.pages[pages[APPENDICES[2]]:])
    flat = "".join(source.split())
    for needle in ("def fit(", "def one_batch(", "def evaluate(", "class BatchLoader", f"labkit {labkit.__version__}"):
        assert "".join(needle.split()) in flat, needle
    assert "classSimpleCNN(" not in flat  # Appendix A prints it: not twice


@pytest.mark.slow
def test_the_zip_notebook_ends_with_the_source_code(handin):
    d, _ = handin
    with zipfile.ZipFile(d / "out" / f"{SID}_{LAB}.zip") as z:
        nb = nbformat.reads(z.read(f"{SID}_{LAB}.ipynb").decode("utf-8"), as_version=4)
    start = next(i for i, c in enumerate(nb.cells) if "Source code that produced these results" in c.source)
    task2 = next(i for i, c in enumerate(nb.cells) if c.source.startswith("# Task 2"))
    assert nb.cells[start].cell_type == "markdown" and start > task2  # after both tasks
    source = nb.cells[start:]
    assert all(c.cell_type == "markdown" and "labkit-source" in c.metadata["tags"] for c in source)  # never run
    assert not any("labkit-source" in c.metadata.get("tags", []) for c in nb.cells[:start])
    text = "\n".join(c.source for c in source)
    assert "def one_batch(" in text and "```python" in text
    assert "class SimpleCNN(" not in text and "def make_layer(" not in text  # printed by the notebooks already
    for other_lab in ("class CifarResNet(", "class VGG(", "def build_transform(", "imagenet_state_dict"):
        assert other_lab not in text, other_lab
    printed = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    classes = re.findall(r"^class (\w+)\b", printed + "\n" + text, re.M)  # printed by a notebook or the appendix
    assert len(classes) >= 5 and len(classes) == len(set(classes)), classes  # each class once in the hand-in
    assert not [c for c in nb.cells[start:] if c.cell_type == "code"]  # Run All executes no source


@pytest.mark.slow
def test_the_cover_carries_the_record_and_the_checklist_with_pages(handin):
    """Page 1: the hand-in record and the rubric checklist; each found item's page is where it is in the PDF."""
    from labkit.handin.labs import flat_text  # NFKC: pypdf reads "ﬃ" as one glyph

    reader = _pdf(handin)
    texts = [flat_text(p.extract_text()) for p in reader.pages]
    assert "Rubricchecklist" in texts[0] and "report:difficultiesandsolutionswritten" in texts[0]  # all of it
    assert "Hand-inrecord" in texts[0] + texts[1] and "task1_out.ipynb" in texts[0] + texts[1]
    d, _ = handin
    with zipfile.ZipFile(d / "out" / f"{SID}_{LAB}.zip") as z:
        nb = nbformat.reads(z.read(f"{SID}_{LAB}.ipynb").decode("utf-8"), as_version=4)
    rows = {r["item"]: r for r in nb.metadata["labkit"]["manifest"]["checklist"]}
    finished = rows["task 1: training ran to its end"]
    appendix = next(i for i, t in enumerate(texts) if i > 0 and "AppendixA:Task1notebook" in t)
    assert finished["page"] == next(i + 1 for i in range(appendix, len(texts)) if "FinishedTraining" in texts[i])
    assert f"p.{finished['page']}" in "".join(texts[:2])
    assert rows["task 2 study: learning rate"]["found"] and not rows["task 2 study: normalization"]["found"]
    assert not rows["full data set (no limit / test_limit, 50,000 + 10,000 images)"]["found"]
