"""One truth per hand-in (issue 29): the runs each notebook recorded, the report on those runs, edited prints and
out-of-order cells refused, the lab registry, the rubric checklist and the manifest. Tiny real runs (300 images,
one epoch) in notebooks executed here; the variants are the same notebooks edited as a student could."""
import hashlib
import json
import os
import shutil
import zipfile

import nbformat
import pytest
from nbclient import NotebookClient

import labkit.report as report
from labkit.handin.errors import SubmissionError
from labkit.handin.document import order_tasks
from labkit.handin.labs import LABS, checklist, report_params, task_view
from labkit.handin.manifest import order_problems, print_problems, recorded_runs
from labkit.handin.submit import make_submission

SID = "F74091234"
pytestmark = pytest.mark.slow  # two notebooks executed (a tiny fit each), then a hand-in per test


def execute(path, sources, meta=None, params_cell=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["labkit"] = dict(meta or {})
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    if params_cell is not None:
        nb.cells[params_cell].metadata["tags"] = ["parameters"]
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    nbformat.write(nb, str(path))
    return str(path)


def fit_cells(subset_root, run_dir, run_name, model="simplecnn", limit=300):
    return ["import labkit, labkit.notebook",
            f"run_dir = {str(run_dir)!r}\nlimit = {limit}",
            f"data = labkit.load_cifar10({subset_root!r}, download=False, limit=limit, test_limit=100, "
            f"normalize='fixed', device='cpu', verbose=False)",
            f"run = labkit.fit({model!r}, data, epochs=1, batch_size=64, run_dir=run_dir, run_name={run_name!r}, "
            f"progress=False)",
            "labkit.plot_history(run);"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, subset_root):
    """A task-1 and a task-2 notebook that trained one tiny run each, in runs/ and runs/task2_ablations/."""
    d = tmp_path_factory.mktemp("truth")
    runs = d / "runs"
    t1 = execute(d / "task1_out.ipynb", fit_cells(subset_root, runs, "simplecnn-1"), {"task": "task1"}, 1)
    t2 = execute(d / "task2_out.ipynb", fit_cells(subset_root, runs / "task2_ablations", "baseline"),
                 {"task": "task2"}, 1)
    return d, runs, t1, t2


@pytest.fixture
def work(lab, tmp_path):
    """A fresh copy of the lab (notebooks and runs), paths rewritten: each test may edit it."""
    d, runs, t1, t2 = lab
    shutil.copytree(runs, tmp_path / "runs")
    out = []
    for p in (t1, t2):
        text = open(p, encoding="utf-8").read().replace(str(d), str(tmp_path))
        (tmp_path / os.path.basename(p)).write_text(text, encoding="utf-8")
        out.append(str(tmp_path / os.path.basename(p)))
    pdf = tmp_path / "given.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% a stand-in\n%%EOF\n")
    return tmp_path, tmp_path / "runs", out[0], out[1], str(pdf)


def submit(work, **kw):
    d, runs, t1, t2, pdf = work
    args = dict(notebooks=[t1, t2], pdf=pdf, run_dir=runs, out_dir=d / "out", verbose=False)
    args.update(kw)
    return make_submission(SID, "lab2", **args)


def edit(path, fn):
    nb = nbformat.read(path, as_version=4)
    fn(nb)
    nbformat.write(nb, path)


def test_each_notebook_records_its_runs(lab):
    d, runs, t1, t2 = lab
    (e,) = recorded_runs(nbformat.read(t1, as_version=4))
    assert e["name"] == "simplecnn-1" and e["status"] == "finished" and e["epochs"] == 1 and e["limit"] == 300
    with open(runs / "simplecnn-1" / "result.json", "rb") as f:
        assert e["result_sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert e["test_acc"] == round(json.load(open(runs / "simplecnn-1" / "result.json"))["test_acc"], 4)
    (b,) = recorded_runs(nbformat.read(t2, as_version=4))
    assert (b["experiment"], b["name"]) == ("task2_ablations", "baseline")


def test_a_later_quick_run_does_not_become_the_reports_run(work, capsys):
    d, runs, t1, t2, pdf = work
    # later runs of task 1's model: interrupted (no result), a NaN result, and never finished
    for name, fix in (("simplecnn-2", lambda p: os.remove(p / "result.json")),
                      ("simplecnn-3", lambda p: (p / "result.json").write_text(
                          (p / "result.json").read_text().replace('"test_acc": ', '"test_acc": NaN, "x": ')))):
        shutil.copytree(runs / "simplecnn-1", runs / name)
        fix(runs / name)
        cfg = json.loads((runs / name / "config.json").read_text())
        cfg["started"] += 100 + len(name)
        (runs / name / "config.json").write_text(json.dumps(cfg))
    (t,) = report.latest_runs(runs, report.TASK1_MODELS)
    assert report.label(t) == "simplecnn-1" and "simplecnn-1 (the newest finished run" in capsys.readouterr().out
    assert report.status_of(runs / "simplecnn-3") == "no valid result"
    assert report.status_of(runs / "simplecnn-2") == "not finished"


def test_the_report_reads_what_fit_trusts(work):
    d, runs, *_ = work
    cfg = json.loads((runs / "simplecnn-1" / "config.json").read_text())
    cfg["lr"] = 0.1  # edited by hand; last.pth's record says 0.01
    (runs / "simplecnn-1" / "config.json").write_text(json.dumps(cfg))
    (r,) = report.collect_runs(runs / "simplecnn-1")
    assert r.config["lr"] == 0.01


def test_an_edited_test_accuracy_is_refused(work):
    d, runs, t1, t2, pdf = work

    def forge(nb):
        for c in nb.cells:
            for o in c.get("outputs", []):
                if o.get("name") == "stdout" and "Test Accuracy:" in o["text"]:
                    o["text"] = o["text"].split("Test Accuracy:")[0] + "Test Accuracy: 85.20%\n"
    edit(t1, forge)
    assert print_problems(nbformat.read(t1, as_version=4))
    with pytest.raises(SubmissionError, match=r"85\.20%.*simplecnn-1 \d+\.\d\d%"):
        submit(work)
    assert not (d / "out").exists()


def test_a_parameter_cell_run_after_training_is_refused(work):
    d, runs, t1, t2, pdf = work

    def rerun_params(nb):
        nb.cells[1].source = "run_dir = 'runs'\nlimit = None\nlr = 0.5"
        nb.cells[1].execution_count = 9  # run again after the training cell [4]
    edit(t1, rerun_params)
    (msg,) = order_problems(nbformat.read(t1, as_version=4))
    assert "the parameter cell 2 [9] ran after cell 3 [3]" in msg and "Restart & Run all" in msg
    with pytest.raises(SubmissionError, match="out of order.*Restart & Run all"):
        submit(work)


def test_a_run_changed_after_the_notebook_is_refused_naming_both(work):
    d, runs, t1, t2, pdf = work
    res = json.loads((runs / "simplecnn-1" / "result.json").read_text())
    res["test_acc"] = 85.2
    (runs / "simplecnn-1" / "result.json").write_text(json.dumps(res))
    with pytest.raises(SubmissionError, match=r"recorded run .*simplecnn-1.*now reads.*85\.20% test"):
        submit(work)


def test_a_report_on_another_run_is_refused_naming_both(work, subset_root):
    d, runs, t1, t2, pdf = work
    shutil.copytree(runs / "simplecnn-1", runs / "simplecnn-9")  # the same settings, another folder
    rep = execute(d / "lab2_report.ipynb", [
        "import labkit.notebook, labkit.report as report",
        f"t1, t2 = report.lab2_runs({str(runs)!r}, task1_run={str(runs / 'simplecnn-9')!r})"],
        {"placeholders": ["Write here"]})
    with pytest.raises(SubmissionError, match=r"the report shows run runs/simplecnn-9 .*none of the handed-in"):
        submit(work, report=rep)


def test_the_lab_registry(work):
    d, runs, t1, t2, pdf = work
    with pytest.raises(SubmissionError, match=r"lab2 needs task2"):
        submit(work, notebooks=[t1])
    edit(t2, lambda nb: nb.metadata["labkit"].update(task="task3"))
    with pytest.raises(SubmissionError, match=r"is Task 3 \(task3\), not part of lab2"):
        submit(work)
    edit(t2, lambda nb: nb.metadata["labkit"].update(task="task2"))
    with pytest.raises(SubmissionError, match=r"report is missing.*reports/lab2_report.ipynb"):
        submit(work, pdf=None)
    with pytest.raises(SubmissionError, match=r"--report .* is a task notebook, not a report"):
        submit(work, report=t1)
    with pytest.raises(SubmissionError, match=r"not one labkit knows"):
        make_submission(SID, "lab9", [t1, t2], pdf=pdf, out_dir=d / "out", verbose=False)
    # --force hands it in, and the manifest (on the cover too) says what was forced
    z = submit(work, notebooks=[t1], force=True)
    with zipfile.ZipFile(z) as zf:
        nb = nbformat.reads(zf.read(f"{SID}_lab2.ipynb").decode(), as_version=4)
    assert any("lab2 needs task2" in f for f in nb.metadata["labkit"]["manifest"]["forced"])


def test_the_manifest_names_every_run_and_its_files(work):
    d, runs, t1, t2, pdf = work
    z = submit(work)
    with zipfile.ZipFile(z) as zf:
        assert sorted(zf.namelist()) == [f"{SID}_lab2.ipynb", f"{SID}_lab2.pdf"]
        nb = nbformat.reads(zf.read(f"{SID}_lab2.ipynb").decode(), as_version=4)
    m = nb.metadata["labkit"]["manifest"]
    assert m["labkit"].startswith("labkit ") and "commit" in m["labkit"]
    (n1, n2) = m["notebooks"]
    assert (n1["task"], n2["task"]) == ("task1", "task2") and n1["execution_order"] == [1, 2, 3, 4, 5]
    r = n1["runs"][0]
    assert r["name"] == "simplecnn-1" and len(r["settings_digest"]) == 16
    for f in ("result", "history"):
        with open(runs / "simplecnn-1" / f"{f}.json", "rb") as fh:
            assert r[f"{f}_sha256"] == hashlib.sha256(fh.read()).hexdigest()


def test_the_checklist_names_each_miss_and_strict_refuses(work, capsys):
    d, runs, t1, t2, pdf = work
    views = {k: task_view(nbformat.read(p, as_version=4)) for k, p in (("task1", t1), ("task2", t2))}
    rows = {r["item"]: r for r in checklist(LABS["lab2"], views, None)}
    assert rows["task 1: training ran to its end"]["found"]
    assert rows["task 1: the table's net (60,554 parameters)"]["found"] is False  # no summary printed here
    assert rows["task 2: baseline"]["found"]
    for study in ("normalization", "augmentation", "learning rate", "update strategy (lr schedule)"):
        assert not rows[f"task 2 study: {study}"]["found"]
    full = rows["full data set (no limit / test_limit, 50,000 + 10,000 images)"]
    assert not full["found"] and "simplecnn-1" in full["detail"] and "baseline" in full["detail"]
    submit(work, verbose=True)
    out = capsys.readouterr().out
    assert "[ ] task 2 study: normalization" in out and "warning: rubric item missing: full data set" in out
    assert "[x] task 1: training ran to its end" in out
    with pytest.raises(SubmissionError, match=r"--strict: \d+ rubric item\(s\) missing: .*task 2 study: "
                                              r"normalization.*full data set"):
        submit(work, strict=True, force=True)


def test_the_report_is_run_on_the_notebooks_runs_not_the_latest(work):
    d, runs, t1, t2, pdf = work
    shutil.copytree(runs / "simplecnn-1", runs / "simplecnn-2")  # a later quick check, finished
    cfg = json.loads((runs / "simplecnn-2" / "config.json").read_text())
    cfg["started"] += 100
    (runs / "simplecnn-2" / "config.json").write_text(json.dumps(cfg))
    assert report.label(report.latest_runs(runs, report.TASK1_MODELS)[0]) == "simplecnn-2"
    paths = [t1, t2]
    tasks = order_tasks(paths, [nbformat.read(p, as_version=4) for p in paths], verbose=False)
    params = report_params(LABS["lab2"], tasks, runs)
    assert params == {"task1_run": str(runs / "simplecnn-1"), "task2_experiment": [str(runs / "task2_ablations" /
                                                                                       "baseline")]}
    t1_runs, t2_runs = report.lab2_runs(runs, **params)
    assert [report.label(r) for r in t1_runs + t2_runs] == ["simplecnn-1", "baseline"]
