"""The hand-in zip (labkit.handin.submit): built from notebooks executed here, checked by opening the zip."""
import json
import os
import subprocess
import sys
import zipfile

import nbformat
import pytest
from nbclient import NotebookClient

from labkit.handin.browser import find_browser
from labkit.handin.errors import SubmissionError, SubmissionExistsError
from labkit.handin.source import SOURCE_TAG, SOURCE_TITLE
from labkit.handin.submit import check_notebook, make_submission

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SID, LAB = "F74091234", "lab2"


def notebook(path, sources, execute=True, allow_errors=False):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# 實驗二 Lab 2")] + [nbformat.v4.new_code_cell(s) for s in sources]
    if execute:
        NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=allow_errors).execute()
    nbformat.write(nb, str(path))
    return str(path)


@pytest.fixture(scope="module")
def executed(tmp_path_factory, subset_root):
    """A small notebook that really runs labkit on the shared subset: loads 200 images, shows them."""
    d = tmp_path_factory.mktemp("submit")
    return notebook(d / "lab.ipynb", [
        "import labkit\n"
        f"data = labkit.load_cifar10({subset_root!r}, download=False, limit=200, test_limit=50, "
        "normalize='fixed', device='cpu')",
        "labkit.show_images(data.train_x, data.train_y, data.classes, n=8);\n"
        "print('params:', labkit.count_params(labkit.get_model('simplecnn')))",
    ])


@pytest.fixture(scope="module")
def a_pdf(tmp_path_factory):
    p = tmp_path_factory.mktemp("pdf") / "report.pdf"
    p.write_bytes(b"%PDF-1.4\n% a stand-in report\n%%EOF\n")
    return str(p)


def appendix_start(nb):
    """The index of the source appendix's heading cell in a hand-in notebook."""
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and SOURCE_TITLE in c.source)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "labkit.handin.submit", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
@pytest.mark.skipif(find_browser() is None, reason="no Chromium/Chrome installed (apt-get install chromium)")
def test_cli_end_to_end_exports_the_pdf(executed, tmp_path):
    r = run_cli("--student-id", SID, "--lab", LAB, "--notebook", executed, "--out-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    zpath = tmp_path / f"{SID}_{LAB}.zip"
    with zipfile.ZipFile(zpath) as z:
        assert z.testzip() is None
        assert sorted(z.namelist()) == sorted([f"{SID}_{LAB}.ipynb", f"{SID}_{LAB}.pdf"])  # the rule, nothing else
        nb = nbformat.reads(z.read(f"{SID}_{LAB}.ipynb").decode("utf-8"), as_version=4)
        pdf = z.read(f"{SID}_{LAB}.pdf")
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in outs)  # the image grid, kept
    assert any("params: 60554" in o.get("text", "") for o in outs)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 10_000
    assert sorted(os.listdir(tmp_path)) == [f"{SID}_{LAB}.zip"]  # no temporary files left
    assert f"{SID}_{LAB}.pdf" in r.stdout
    assert oct(os.stat(zpath).st_mode & 0o777) == oct(0o666 & ~_umask())  # readable by a TA (0644)


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_given_pdf_extras_and_force(executed, a_pdf, tmp_path):
    extra = tmp_path / "notes.txt"
    extra.write_text("extra file")
    out = tmp_path / "out"  # created by submit
    z1 = make_submission(SID, LAB, executed, pdf=a_pdf, out_dir=out, extras=[extra], verbose=False)
    with zipfile.ZipFile(z1) as z:
        assert sorted(z.namelist()) == sorted([f"{SID}_{LAB}.ipynb", f"{SID}_{LAB}.pdf", "notes.txt"])
        assert z.read(f"{SID}_{LAB}.pdf") == open(a_pdf, "rb").read()
        nb = nbformat.reads(z.read(f"{SID}_{LAB}.ipynb").decode("utf-8"), as_version=4)
    src = nbformat.read(executed, as_version=4)
    cells = nb.cells[:appendix_start(nb)]  # the source appendix comes after the task cells
    assert [c.source for c in cells][-len(src.cells):] == [c.source for c in src.cells]  # every cell, in order
    assert [c.get("outputs") for c in cells][-len(src.cells):] == [c.get("outputs") for c in src.cells]
    before = open(z1, "rb").read()
    # an existing zip is never replaced silently: the function and the CLI refuse, the file is untouched
    with pytest.raises(SubmissionExistsError, match="--force"):
        make_submission(SID, LAB, executed, pdf=a_pdf, out_dir=out, verbose=False)
    r = run_cli("--student-id", SID, "--lab", LAB, "--notebook", executed, "--pdf", a_pdf, "--out-dir", str(out))
    assert r.returncode == 2 and "already exists" in r.stderr and "--force" in r.stderr
    assert open(z1, "rb").read() == before
    # force replaces it (here without the extra file)
    assert make_submission(SID, LAB, executed, pdf=a_pdf, out_dir=out, force=True, verbose=False) == z1
    with zipfile.ZipFile(z1) as z:
        assert sorted(z.namelist()) == sorted([f"{SID}_{LAB}.ipynb", f"{SID}_{LAB}.pdf"])
    assert sorted(os.listdir(out)) == [f"{SID}_{LAB}.zip"]


def test_refuses_unexecuted_notebook(tmp_path, a_pdf):
    nb = notebook(tmp_path / "fresh.ipynb", ["print('hi')", "x = 1"], execute=False)
    with pytest.raises(SubmissionError, match="never executed.*papermill"):
        make_submission(SID, LAB, nb, pdf=a_pdf, out_dir=tmp_path, verbose=False)
    assert not (tmp_path / f"{SID}_{LAB}.zip").exists()


def test_refuses_error_output_naming_the_cell(tmp_path, a_pdf):
    nb = notebook(tmp_path / "broken.ipynb", ["x = 1", "def train():\n    raise ValueError('loss is nan')\ntrain()",
                                              "print('after')"], allow_errors=True)
    with pytest.raises(SubmissionError) as e:
        make_submission(SID, LAB, nb, pdf=a_pdf, out_dir=tmp_path, verbose=False)
    msg = str(e.value)
    assert "cell 3 [2]" in msg and "def train():" in msg and "ValueError: loss is nan" in msg
    assert not (tmp_path / f"{SID}_{LAB}.zip").exists()


@pytest.mark.parametrize("sid", ["", "   ", "F740 91234", "F74/091234", "..\\x", "../F74", ".hidden", "a:b"])
def test_refuses_bad_student_id(executed, a_pdf, tmp_path, sid):
    with pytest.raises(SubmissionError, match="student id"):
        make_submission(sid, LAB, executed, pdf=a_pdf, out_dir=tmp_path, verbose=False)
    assert os.listdir(tmp_path) == []


def test_cli_bad_id_and_bad_files(executed, a_pdf, tmp_path):
    r = run_cli("--student-id", "F74 091234", "--lab", LAB, "--notebook", executed, "--pdf", a_pdf,
                "--out-dir", str(tmp_path))
    assert r.returncode == 2 and "student id" in r.stderr and "F74091234" in r.stderr
    with pytest.raises(SubmissionError, match="lab"):
        make_submission(SID, "lab 2", executed, pdf=a_pdf, out_dir=tmp_path, verbose=False)
    with pytest.raises(SubmissionError, match="does not exist"):
        make_submission(SID, LAB, tmp_path / "nope.ipynb", pdf=a_pdf, out_dir=tmp_path, verbose=False)
    with pytest.raises(SubmissionError, match="extra file .* does not exist"):
        make_submission(SID, LAB, executed, pdf=a_pdf, out_dir=tmp_path, extras=[tmp_path / "x.py"], verbose=False)
    not_pdf = tmp_path / "r.pdf"
    not_pdf.write_text("hello")
    with pytest.raises(SubmissionError, match="not a PDF"):
        make_submission(SID, LAB, executed, pdf=not_pdf, out_dir=tmp_path, verbose=False)
    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps({"cells": "nope"}))
    with pytest.raises(SubmissionError, match="not a readable Jupyter notebook"):
        check_notebook(bad)
    assert sorted(os.listdir(tmp_path)) == ["bad.ipynb", "r.pdf"]


def test_refuses_a_notebook_where_only_some_cells_ran(tmp_path, a_pdf):
    """Issue 15, case 10: a partly executed notebook is refused (not just warned about); --force hands it in."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(1)"), nbformat.v4.new_code_cell("print(2)")]
    nb.cells[0].execution_count = 1
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    p = tmp_path / "partial.ipynb"
    nbformat.write(nb, str(p))
    with pytest.raises(SubmissionError, match=r"code cell\(s\) 2 .* did not run.*Run all.*--force"):
        make_submission(SID, LAB, p, pdf=a_pdf, out_dir=tmp_path / "out", verbose=False)
    assert not (tmp_path / "out").exists()
    r = run_cli("--student-id", SID, "--lab", LAB, "--notebook", str(p), "--pdf", a_pdf, "--out-dir",
                str(tmp_path / "out"))
    assert r.returncode == 2 and "did not run" in r.stderr and "--force" in r.stderr
    _, warns = check_notebook(p, force=True)
    assert len(warns) == 1 and "code cell(s) 2" in warns[0]
    assert make_submission(SID, LAB, p, pdf=a_pdf, out_dir=tmp_path / "out", force=True, verbose=False)


def test_refuses_a_report_with_template_placeholders(executed, a_pdf, tmp_path):
    template = os.path.join(REPO, "reports", "lab2_report.ipynb")
    with pytest.raises(SubmissionError) as e:
        make_submission(SID, LAB, executed, report=template, pdf=a_pdf, out_dir=tmp_path, verbose=False)
    msg = str(e.value)
    assert "placeholder" in msg and "'Write here what the lab is about'" in msg and "--force" in msg
    assert "'e.g. loss became NaN at lr 0.1'" in msg  # the sample difficulties rows
    assert os.listdir(tmp_path) == []
    # written text: nothing is reported
    nb = nbformat.read(template, as_version=4)
    from labkit.handin.notebooks import report_placeholders

    # every placeholder but the example name, which is in the parameters and shows only once it ran
    assert report_placeholders(nb) == nb.metadata["labkit"]["placeholders"][1:]
    for c in nb.cells:
        if c.cell_type == "markdown":
            for ph in nb.metadata["labkit"]["placeholders"]:
                c.source = c.source.replace(ph, "my own words")
    assert report_placeholders(nb) == []


def task_notebook(path, task, text):
    """A small executed notebook that says which task it is (metadata labkit.task, as the lab notebooks do)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if task:
        nb.metadata["labkit"] = {"task": task}
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {text}"), nbformat.v4.new_code_cell(f"print({text!r})")]
    nb.cells[1].execution_count = 1
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{text}\n")]
    nbformat.write(nb, str(path))
    return str(path)


def zipped_notebook(zip_path):
    stem = os.path.splitext(os.path.basename(zip_path))[0]
    with zipfile.ZipFile(zip_path) as z:
        return nbformat.reads(z.read(f"{stem}.ipynb").decode("utf-8"), as_version=4)


def task_headings(nb):
    return [c.source.splitlines()[0] for c in nb.cells[:appendix_start(nb)]
            if c.cell_type == "markdown" and c.source.startswith("# Task")]


def test_notebooks_are_put_in_task_order_and_labelled_by_task(tmp_path, a_pdf, capsys):
    t1 = task_notebook(tmp_path / "a.ipynb", "task1", "first task")
    t2 = task_notebook(tmp_path / "b.ipynb", "task2", "second task")
    z = make_submission(SID, LAB, [t2, t1], pdf=a_pdf, out_dir=tmp_path / "out")  # given task 2 first
    nb = zipped_notebook(z)
    assert task_headings(nb) == ["# Task 1", "# Task 2"]
    texts = [c.source for c in nb.cells]
    assert texts.index("# first task") < texts.index("# second task")
    assert nb.metadata["labkit"]["tasks"] == ["task1", "task2"]
    assert "say(s) no task" not in capsys.readouterr().out


def test_notebooks_without_a_task_keep_the_given_order_with_a_note(tmp_path, a_pdf, capsys):
    t2 = task_notebook(tmp_path / "b.ipynb", None, "second task")
    t1 = task_notebook(tmp_path / "a.ipynb", None, "first task")
    nb = zipped_notebook(make_submission(SID, LAB, [t2, t1], pdf=a_pdf, out_dir=tmp_path / "out"))
    texts = [c.source for c in nb.cells]
    assert texts.index("# second task") < texts.index("# first task")  # as given: nothing says otherwise
    assert task_headings(nb) == ["# Task 1", "# Task 2"]
    assert "say(s) no task" in capsys.readouterr().out


def test_a_notebook_given_twice_or_two_of_one_task_are_refused(tmp_path, a_pdf):
    t1 = task_notebook(tmp_path / "task1_out.ipynb", "task1", "first task")
    with pytest.raises(SubmissionError, match=r"task1_out.ipynb.*same file as.*task1_out.ipynb"):
        make_submission(SID, LAB, [t1, t1], pdf=a_pdf, out_dir=tmp_path / "out", verbose=False)
    copy = tmp_path / "copy.ipynb"
    copy.write_bytes(open(t1, "rb").read())
    with pytest.raises(SubmissionError, match="same content"):
        make_submission(SID, LAB, [t1, str(copy)], pdf=a_pdf, out_dir=tmp_path / "out", verbose=False)
    other = task_notebook(tmp_path / "again.ipynb", "task1", "task one again")
    with pytest.raises(SubmissionError, match=r"task1_out.ipynb.* and .*again.ipynb.* are both Task 1"):
        make_submission(SID, LAB, [t1, other], pdf=a_pdf, out_dir=tmp_path / "out", verbose=False)
    r = run_cli("--student-id", SID, "--lab", LAB, "--notebook", t1, t1, "--pdf", a_pdf, "--out-dir",
                str(tmp_path / "out"))
    assert r.returncode == 2 and "same file" in r.stderr
    assert not (tmp_path / "out").exists()


def test_lab_and_student_id_are_written_one_way(executed, a_pdf, tmp_path, capsys):
    z = make_submission("f74091234", "Lab2", executed, pdf=a_pdf, out_dir=tmp_path)
    assert os.path.basename(z) == f"{SID}_{LAB}.zip"  # not F74091234_Lab2 next to a PDF saying lab2
    with zipfile.ZipFile(z) as zf:
        assert sorted(zf.namelist()) == [f"{SID}_{LAB}.ipynb", f"{SID}_{LAB}.pdf"]
    out = capsys.readouterr().out
    assert "'f74091234' written as 'F74091234'" in out and "'Lab2' written as 'lab2'" in out
    nb = zipped_notebook(z)
    assert nb.cells[0].source.startswith(f"# {SID} {LAB}")
    # full-width letters and digits, as a Chinese input method types them, are the same id
    z2 = make_submission("Ｆ７４０９１２３４", "ｌａｂ２", executed, pdf=a_pdf, out_dir=tmp_path, force=True,
                         verbose=False)
    assert z2 == z


@pytest.mark.parametrize("sid", ["王小明", "F74091234" * 4, "F74\u200b091234", "-F74", "F74\n091234", "F74091234é"])
def test_refuses_ids_that_are_no_student_number(executed, a_pdf, tmp_path, sid):
    with pytest.raises(SubmissionError, match="student id"):
        make_submission(sid, LAB, executed, pdf=a_pdf, out_dir=tmp_path, verbose=False)
    assert os.listdir(tmp_path) == []


def test_refuses_bad_lab_and_student_names(executed, a_pdf, tmp_path):
    for lab in ("lab 2", "lab/2", "實驗二", "x" * 40):
        with pytest.raises(SubmissionError, match="lab"):
            make_submission(SID, lab, executed, pdf=a_pdf, out_dir=tmp_path, verbose=False)
    for name in ("王\n小明", "x" * 200, "   "):
        with pytest.raises(SubmissionError, match="student name"):
            make_submission(SID, LAB, executed, pdf=a_pdf, out_dir=tmp_path, student_name=name, verbose=False)
    assert os.listdir(tmp_path) == []


def test_the_zip_goes_to_handin_not_the_current_folder(executed, a_pdf, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    z = make_submission(SID, LAB, executed, pdf=a_pdf)
    assert os.path.abspath(z) == str(tmp_path / "handin" / f"{SID}_{LAB}.zip")
    assert os.listdir(tmp_path) == ["handin"]
    assert str(tmp_path / "handin" / f"{SID}_{LAB}.zip") in capsys.readouterr().out  # the full path is printed
    r = subprocess.run([sys.executable, "-m", "labkit.handin.submit", "--student-id", SID, "--lab", LAB,
                        "--notebook", executed, "--pdf", a_pdf, "--force"], capture_output=True, text=True,
                       timeout=300, cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": REPO})
    assert r.returncode == 0, r.stderr
    assert os.listdir(tmp_path) == ["handin"]


def test_the_notebook_ends_with_the_source_that_ran(executed, a_pdf, tmp_path):
    import labkit

    nb = zipped_notebook(make_submission(SID, LAB, executed, pdf=a_pdf, out_dir=tmp_path, verbose=False))
    start = appendix_start(nb)
    appendix = nb.cells[start:]
    heading = appendix[0].source
    assert f"labkit {labkit.__version__}" in heading
    assert "not a git checkout" in heading or "git commit " in heading
    assert all(c.cell_type == "markdown" and SOURCE_TAG in c.metadata["tags"] for c in appendix)  # text: never run
    text = "\n".join(c.source for c in appendix)
    for needle in ("def fit(", "def one_batch(", "def run_epoch(", "def build_optimizer(", "def build_scheduler(",
                   "class SimpleCNN(", "def make_layer(", "def evaluate(", "```python",
                   "def load_cifar10(", "class BatchLoader", "def random_crop_flip(", "def compute_mean_std(",
                   "**`labkit.train`: `fit`**: the function", "**`labkit.models.simplecnn`**"):
        assert needle in text, needle
    for other_lab in ("class CifarResNet(", "class VGG(", "def build_transform("):  # a notebook without a task: Lab 2
        assert other_lab not in text, other_lab
    assert all(SOURCE_TAG not in c.metadata.get("tags", []) for c in nb.cells[:start])
    # the merged notebook passes the hand-in's own check: its source cells are not "cells that did not run"
    path = tmp_path / "merged.ipynb"
    nbformat.write(nb, str(path))
    assert check_notebook(path)[1] == []


@pytest.mark.parametrize("sid, name", [("<YOUR_ID>", None), ("F74091234", "<YOUR_NAME>"), ("YOUR_ID", "x")])
def test_readme_placeholders_are_refused(executed, a_pdf, tmp_path, sid, name):
    with pytest.raises(SubmissionError, match="placeholder of README's command: put your own"):
        make_submission(sid, LAB, executed, pdf=a_pdf, out_dir=tmp_path, student_name=name, verbose=False)
    assert os.listdir(tmp_path) == []


def test_the_graded_appendix_shows_what_ran_once_without_chatter():
    """The PDF's task appendix: one parameter cell holding the values papermill set (comments kept), no time
    estimate or no-GPU warning in the prints, pandas tables without row numbers and with separators."""
    import pandas as pd

    from labkit.handin.graded import graded_cells

    new = nbformat.v4
    params = new.new_code_cell('# Parameters\ndata_root = "./data"      # where CIFAR-10 is\nepochs = 30\n'
                               'ablations = ["lr",\n             "scheduler"]\nlimit = None              # quick runs')
    params.metadata["tags"] = ["parameters"]
    injected = new.new_code_cell('# Parameters\ndata_root = "../shared/data"\nepochs = 2\nablations = ["lr"]\n'
                                 'test_limit = 60\n')
    injected.metadata["tags"] = ["injected-parameters"]
    study = new.new_code_cell("exp = run_ablations(**params)")
    study.outputs = [new.new_output("stream", name="stdout", text=(
        "Estimated: 10 runs x 30 epochs ≈ 2 h 10 min on this CPU (2 cores) (timed 3 steps per model). WARNING: no "
        "GPU; in Colab: Runtime > Change runtime type > T4 GPU\nEpoch: 1\nTest Accuracy: 51.00%\n"
        "The study took 3 min 02 s; the estimate was 2 min 10 s (39% too low).\n"))]
    table = new.new_code_cell("exp.table")
    df = pd.DataFrame({"run": ["baseline", "lr0.1"], "parameters": [11173962, 60554]})
    table.outputs = [new.new_output("execute_result", data={"text/html": df._repr_html_(), "text/plain": "x"},
                                    execution_count=4)]
    cells = graded_cells([params, injected, study, table])
    assert len(cells) == 3 and "injected-parameters" not in str([c.metadata for c in cells])
    src = cells[0].source
    assert 'data_root = "../shared/data"  # where CIFAR-10 is' in src and "\nepochs = 2\n" in src
    assert 'ablations = ["lr"]' in src and "scheduler" not in src and src.endswith("test_limit = 60")
    assert "limit = None              # quick runs" in src and "set with papermill -p: data_root, epochs" in src
    printed = cells[1].outputs[0]["text"]
    assert printed == "Epoch: 1\nTest Accuracy: 51.00%\n"
    html = cells[2].outputs[0]["data"]["text/html"]
    assert "<th>0</th>" not in html and "<th></th>" not in html and "<td>11,173,962</td>" in html
    assert "Estimated" in study.outputs[0]["text"] and len(params.source.splitlines()) == 6  # the inputs untouched
