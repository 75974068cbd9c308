"""Report helpers (labkit.report) and the report template (reports/lab2_report.ipynb), on real runs
trained here on the shared CIFAR-10 subset (1-2 epochs, 200 images)."""
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

import labkit
import labkit.report as report
from labkit.handin.browser import find_browser
from labkit.results import summarize_runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(REPO, "reports", "lab2_report.ipynb")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, subset_root):
    """run_dir with a task-1 run and a task-2-like experiment folder (baseline, lr0.1, no_augment)."""
    run_dir = tmp_path_factory.mktemp("runs")
    data = labkit.load_cifar10(subset_root, download=False, limit=200, test_limit=100, normalize="fixed",
                               device="cpu", verbose=False)
    common = dict(epochs=1, batch_size=64, progress=False, verbose=False, device="cpu", amp="off")
    labkit.fit("simplecnn", data, run_dir=run_dir, run_name="simplecnn-20250101-000000", **common)
    exp = run_dir / "task2_ablations"
    labkit.fit("simplecnn", data, run_dir=exp, run_name="baseline", scheduler="multistep", **{**common, "epochs": 2})
    labkit.fit("simplecnn", data, run_dir=exp, run_name="lr0.1", scheduler="multistep", lr=0.1,
               **{**common, "epochs": 2})
    labkit.fit("simplecnn", data, run_dir=exp, run_name="no_augment", scheduler="multistep", augment=False,
               **{**common, "epochs": 2})
    return str(run_dir)


def test_collect_runs_from_every_kind_of_path(runs):
    exp = os.path.join(runs, "task2_ablations")
    assert [report.label(r) for r in report.collect_runs(exp)] == ["baseline", "lr0.1", "no_augment"]
    assert [report.label(r) for r in report.collect_runs("task2_ablations", run_dir=runs)] == \
        ["baseline", "lr0.1", "no_augment"]
    assert [report.label(r) for r in report.collect_runs(os.path.join(exp, "lr0.1"))] == ["lr0.1"]
    assert [report.label(r) for r in report.collect_runs(os.path.join(exp, "*aug*"))] == ["no_augment"]
    assert len(report.collect_runs([exp, None, os.path.join(runs, "simplecnn-20250101-000000")])) == 4
    (t1,) = report.latest_runs(runs, "simplecnn")
    assert report.label(t1) == "simplecnn-20250101-000000" and t1.history and t1.model is None
    with pytest.raises(report.ReportError, match="no labkit run found.*Run the lab notebook first"):
        report.collect_runs("task9", run_dir=runs)
    with pytest.raises(report.ReportError, match="no 'resnet18' run"):
        report.latest_runs(runs, "resnet18")


def test_hyperparameter_table_is_read_from_config(runs):
    t2 = report.collect_runs("task2_ablations", run_dir=runs)
    df = report.hyperparameter_table(t2)
    assert list(df.columns) == ["baseline", "lr0.1", "no_augment"]
    assert df.loc["learning rate", "baseline"] == "0.01" and df.loc["learning rate", "lr0.1"] == "0.1"
    assert df.loc["batch size", "baseline"] == "64" and df.loc["epochs", "baseline"] == "2"
    assert df.loc["optimizer", "baseline"] == "sgd" and df.loc["momentum", "baseline"] == "0.9"
    assert df.loc["weight decay", "baseline"] == "0.0005"
    # the schedule with the milestones fit really used (default 50% / 75% of 2 epochs)
    assert df.loc["lr schedule", "baseline"] == "multistep: x0.1 after epochs 1"
    assert df.loc["augmentation", "no_augment"] == "none"
    assert df.loc["train / val / test images", "baseline"] == "180 / 20 / 100"
    assert df.loc["normalization", "baseline"] == "the usual CIFAR-10 mean/std"
    assert df.loc["parameters", "baseline"] == "60,554"
    assert "nesterov" in df.index and "label smoothing" in df.index and "seed" in df.index
    assert "frozen-backbone epochs" not in df.index  # rows empty for every run are left out
    diff = report.hyperparameter_table(t2, only_differing=True)
    assert set(diff.index) == {"learning rate", "augmentation"}


def test_describe_schedule_matches_fit():
    cfg = {"model": "simplecnn", "epochs": 30, "lr": 0.1, "gamma": 0.2}
    assert report.describe_schedule({**cfg, "scheduler": "multistep"}) == "multistep: x0.2 after epochs 15, 22"
    assert report.describe_schedule({**cfg, "scheduler": "multistep", "milestones": [10, 20]}) == \
        "multistep: x0.2 after epochs 10, 20"
    assert report.describe_schedule({**cfg, "scheduler": "step"}) == "step: x0.2 every 10 epochs"
    assert report.describe_schedule({**cfg, "scheduler": "none"}) == "constant 0.1"
    assert "cosine" in report.describe_schedule({**cfg, "scheduler": "cosine"})


def test_describe_schedule_names_the_step_size_and_milestones_fit_builds():
    """describe_schedule computes fit's default step size / milestones from the config; they are the
    ones labkit.train.build_scheduler gives its scheduler, for every epoch count."""
    import torch

    from labkit.config import TrainConfig
    from labkit.train import build_scheduler

    for epochs in range(1, 201):
        # given settings only where they act (issue 23: a step size longer than the run, or milestones past it,
        # are refused as inert)
        for step_extra, ms_extra in (({}, {}), ({"step_size": 7} if epochs >= 7 else {},
                                                {"milestones": [3, 3, 9]} if epochs >= 9 else {})):
            opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
            step = build_scheduler(TrainConfig(epochs=epochs, gamma=0.5, scheduler="step", **step_extra).validate(),
                                   opt, 1)[0].step_size
            multistep = build_scheduler(TrainConfig(epochs=epochs, gamma=0.5, scheduler="multistep",
                                                    **ms_extra).validate(), opt, 1)[0]
            ms = sorted(multistep.milestones)
            config = {"epochs": epochs, "gamma": 0.5}
            assert report.describe_schedule({**config, **step_extra, "scheduler": "step"}) == \
                f"step: x0.5 every {step} epochs"
            assert report.describe_schedule({**config, **ms_extra, "scheduler": "multistep"}) == \
                f"multistep: x0.5 after epochs {', '.join(map(str, ms))}"


def test_results_table_reuses_summarize_runs(runs):
    exp = os.path.join(runs, "task2_ablations")
    t2 = report.collect_runs(exp)
    df = report.results_table(exp)
    base = summarize_runs(t2)
    for col in base.columns:
        assert list(df[col]) == list(base[col])
    assert list(df["change"]) == ["baseline", "lr=0.1", "augment=no"]
    assert "status" not in df.columns and "test_err" not in df.columns  # all finished; errors on request
    err = report.results_table(t2, errors=True)
    assert list(err["test_err"]) == [round(100 - a, 2) for a in base["test_acc"]]
    assert "change" not in report.results_table(report.latest_runs(runs, "simplecnn")).columns
    groups = report.studies(t2)
    assert {k: [report.label(r) for r in v] for k, v in groups.items()} == \
        {"learning rate": ["baseline", "lr0.1"], "augmentation": ["baseline", "no_augment"]}
    assert report.label(report.best_run(t2)) == df.loc[df["best_val_acc"].idxmax(), "run"]


def test_tables_and_figures(runs, tmp_path):
    (t1,) = report.latest_runs(runs, "simplecnn")
    pc = report.per_class_table([t1])
    assert list(pc.index) == list(labkit.CIFAR10_CLASSES) and pc[report.label(t1)].notna().any()
    h = report.history_table(t1)
    assert list(h["epoch"]) == [1] and {"train_loss", "val_acc", "lr"} <= set(h.columns)
    models = report.model_table([t1], flops=True)
    assert models.loc[0, "parameters"] == 60554 and models.loc[0, "FLOPs (one image)"] == "5.8 M"
    report.show_curves([t1], save=tmp_path / "curves.png")
    report.show_confusion(t1, save=tmp_path / "cm.png")
    report.show_studies(os.path.join(runs, "task2_ablations"), save_dir=tmp_path)
    names = sorted(os.listdir(tmp_path))
    assert names == ["cm.png", "curves.png", "study_augmentation.png", "study_learning_rate.png"]
    for n in names:
        with open(tmp_path / n, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # every figure closed after showing (none shown twice)


def test_template_is_built_from_its_source():
    r = subprocess.run([sys.executable, os.path.join(REPO, "notebooks", "build_notebooks.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    nb = nbformat.read(TEMPLATE, as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert sum("parameters" in t for t in tags) == 1
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for section in ("Introduction", "Experiment setup", "Results", "Discussion", "Difficulties and solutions"):
        assert section in text
    assert "遇到的困難與解決方法" in text and all(c.outputs == [] for c in nb.cells if c.cell_type == "code")


@pytest.fixture(scope="module")
def executed_report(runs, tmp_path_factory):
    import papermill

    out = str(tmp_path_factory.mktemp("report") / "lab2_report.ipynb")
    papermill.execute_notebook(TEMPLATE, out, parameters={"run_dir": runs, "student_name": "王小明",
                                                          "student_id": "F74091234", "flops": True},
                               cwd=REPO, progress_bar=False, kernel_name="python3")
    return out


@pytest.mark.slow
def test_report_notebook_executes_with_papermill(executed_report, runs):
    nb = nbformat.read(executed_report, as_version=4)
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outs if o.get("output_type") == "error"]
    # issue 30: the results in the body: task 1's curves and one overlay per study (augmentation, lr)
    assert sum("image/png" in o.get("data", {}) for o in outs) == 3
    md = "\n".join(o.get("data", {}).get("text/markdown", "") for o in outs)
    assert "王小明" in md and "F74091234" in md
    assert runs not in md  # no absolute paths
    # the data the runs used, and what each study did against the baseline, in plain words, from the runs
    assert re.search(r"\d+ training / \d+ validation / \d+ test images", md)
    assert re.search(r"\*\*learning rate\*\*: learning rate 0\.1: [+-]\d+\.\d\d ± \d+\.\d\d points \(", md)
    assert re.search(r"\*\*augmentation\*\*: no augmentation: [+-]\d+\.\d\d ± \d+\.\d\d points", md)
    assert "lr=" not in md and "data.normalize" not in md and "best:" not in md  # no config keys, no "best"
    assert "multistep: x0.1 after epochs 1" in md
    for n in (1, 2, 3, 4):  # numbered tables with captions, the figures after them
        assert f"**Table {n}.**" in md
    assert "**Figure 1.** Task 1" in md and "**Figure 3.**" in md and "Curves: Figure" in md
    assert "Δ test vs baseline (points ± SE)" in md and "| baseline |" in md
    assert "60,554" in md  # thousands separators in the model table


@pytest.mark.slow
@pytest.mark.skipif(find_browser() is None or shutil.which("pdftotext") is None,
                    reason="no Chromium or no pdftotext (apt-get install chromium fonts-noto-cjk poppler-utils)")
@pytest.mark.slow
def test_report_pdf_has_cjk_text_and_no_code(executed_report, tmp_path):
    from labkit.handin.pdf import export_pdf

    pdf = export_pdf(executed_report, tmp_path / "report.pdf", verbose=False)
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", pdf, "-"], capture_output=True, text=True).stdout
    flat = "".join(text.split())
    assert "遇到的困難與解決方法" in flat and "王小明" in flat and "한국어" in flat
    assert "report.show_curves" not in text  # the template asks for outputs only (metadata labkit.hide_code)
    assert "How to use this template" not in text  # remove-cell
    assert "learning rate 0.1" in text and "Figure 1." in text


def test_unfinished_and_diverged_runs_are_marked(runs, tmp_path):
    src = os.path.join(runs, "task2_ablations")
    for name in ("baseline", "lr0.1", "no_augment"):
        shutil.copytree(os.path.join(src, name), tmp_path / name)
    os.remove(tmp_path / "lr0.1" / "result.json")  # interrupted
    os.remove(tmp_path / "no_augment" / "result.json")
    with open(tmp_path / "no_augment" / "log.txt", "a", encoding="utf-8") as f:
        f.write("Stopped: training loss became nan at epoch 2, step 1, learning rate 0.01: ...\n")
    df = report.results_table(str(tmp_path))
    assert list(df["status"]) == ["finished", "not finished", "diverged"]
    assert df["test_acc"].isna().tolist() == [False, True, True]
    report.show_confusion(str(tmp_path / "lr0.1"))  # no result yet: a note, not an error


def test_difference_and_its_noise():
    se = report.difference_se(70.0, 70.4, 500)  # issue 30's case: +0.4 points on 500 test images
    assert se == pytest.approx(100 * ((0.7 * 0.3 + 0.704 * 0.296) / 500) ** 0.5) and 2.8 < se < 3.0
    assert report.difference_se(50.0, 50.0, 10_000) == pytest.approx(0.7071, abs=1e-3)


def test_readings_in_plain_words_and_noise(runs):
    t2 = report.collect_runs("task2_ablations", run_dir=runs)
    base = report.baseline_of(t2)
    words = {report.label(r): report.change_words(r, base) for r in t2}
    assert words == {"baseline": "baseline", "lr0.1": "learning rate 0.1", "no_augment": "no augmentation"}
    readings = report.study_readings(t2, figures={"learning rate": "Figure 7"})
    assert set(readings) == {"learning rate", "augmentation"}
    lr = readings["learning rate"]
    assert re.match(r"learning rate 0\.1: [+-]\d+\.\d\d ± \d+\.\d\d points \((within noise|better|worse)\)", lr)
    assert "(baseline, learning rate 0.01: " in lr and "Curves: Figure 7." in lr
    assert "lr=" not in lr and "best" not in lr
    for r in t2[1:]:  # "better"/"worse" only beyond two standard errors
        delta, se, reading = report.compare(r, base)
        assert (reading == "within noise") == (abs(delta) < 2 * se)


def test_tables_are_markdown_with_captions_and_separators(runs):
    import pandas as pd

    cap = report.Captions()
    assert cap.table("Models.") == "**Table 1.** Models." and cap.figure("Curves.", key="c") == "**Figure 1.** Curves."
    assert cap.table("More.") == "**Table 2.** More." and cap.ref("c") == "Figure 1"
    md = report.markdown_table(pd.DataFrame({"model": ["simplecnn"], "parameters": [60554], "acc. (%)": [70.456]}),
                               "**Table 1.** x")
    assert md.splitlines() == ["**Table 1.** x", "", "| model | parameters | acc. (%) |", "|---|---|---|",
                               "| simplecnn | 60,554 | 70.46 |"]
    hp = report.hyperparameter_table(report.latest_runs(runs, "simplecnn"))
    assert hp.loc["loss"].iloc[0] == "cross-entropy" and hp.loc["test-time flips"].iloc[0] == "no"


def test_hyperparameters_name_flips_teacher_and_distillation_loss():
    config = {"model": "simplecnn", "test_flip": True, "teacher": "/x/runs/teacher-resnet20-e30-s0-ab12",
              "distill_alpha": 0.7, "distill_temperature": 4.0, "label_smoothing": 0.0}
    rows = dict(report._hyperparameters(config))
    assert rows["test-time flips"].startswith("yes") and rows["distillation teacher"] == "teacher-resnet20-e30-s0-ab12"
    assert rows["loss"].startswith("distillation: (1 - 0.7) x cross-entropy") and "T = 4" in rows["loss"]


def test_task1_tiers():
    assert report.task1_tier(81.2) == "above the 80% line (full marks)"
    assert report.task1_tier(77.19) == "above the 70% line (16/20)"
    assert report.task1_tier(24.4) == "below the 70% line" and report.task1_tier(float("nan")) == "no test result"


def test_a_diverging_loss_gets_a_log_axis():
    from labkit.plots import plot_histories

    def hist(losses):
        return [{"epoch": i + 1, "train_loss": v, "val_loss": v, "train_acc": 50.0, "val_acc": 50.0}
                for i, v in enumerate(losses)]

    fig = plot_histories({"lr 0.1": hist([2.3, 3679.0]), "lr 0.01": hist([2.0, 1.5]), "lr 0.001": hist([2.2, 2.1])})
    scales = {ax.get_title(): ax.get_yscale() for ax in fig.axes}
    assert scales["Validation loss (log scale)"] == "log" and scales["Validation accuracy (%)"] == "linear"
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes)  # one legend for the figure
    two = plot_histories({"a": hist([2.3, 1050.0]), "b": hist([2.0, 620.0]), "c": hist([2.2, 1.5])})  # two diverge
    assert {ax.get_title(): ax.get_yscale() for ax in two.axes}["Train loss (log scale)"] == "log"
    calm = plot_histories({"a": hist([2.3, 1.0]), "b": hist([2.0, 1.5])})
    assert all(ax.get_yscale() == "linear" for ax in calm.axes)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_source_appendix_is_the_labs_code_once_as_text():
    import nbformat as nbf

    from labkit.handin.source import lab_sources, source_appendix

    def nb(task, printed="", params=""):
        cells = [nbf.v4.new_code_cell(params)]
        cells[0].metadata["tags"] = ["parameters"]
        out = nbf.v4.new_code_cell("labkit.show_source(net)")
        out.outputs = [nbf.v4.new_output("stream", name="stdout", text=printed)]
        return nbf.v4.new_notebook(cells=cells + [out], metadata={"labkit": {"task": task}})

    import inspect

    import labkit.models.simplecnn as simplecnn

    lab2 = [nb("task1", inspect.getsource(simplecnn)), nb("task2")]
    mods = [m for _, m, _ in lab_sources(lab2)]
    assert "labkit.models.simplecnn" in mods and "resnet18" in mods and "labkit.data" in mods
    for other in ("labkit.models.vgg", "labkit.models.cifar_resnet", "labkit.models.torchvision_models",
                  "labkit.folder_data.transforms", "labkit.models.registry"):
        assert other not in mods, other
    cells = source_appendix(notebooks=lab2)
    assert all(c.cell_type == "markdown" for c in cells)  # Run All never executes it
    text = "\n".join(c.source for c in cells)
    assert "class SimpleCNN(" not in text and "printed in the task notebook above" in text  # shown once
    assert "```python\ndef fit(" in text and "def load_cifar10(" in text and "class BasicBlock(" in text
    assert "**`labkit.schedule`: `step_schedule`**: the function in `labkit/schedule.py" in text  # where it is defined
    heads = [c.source.split("**:")[0] for c in cells if c.source.startswith("**`")]  # one per piece
    assert len(heads) == len(set(heads)) and len(heads) >= 10  # nothing twice
    assert "class BatchLoader" in text and text.count("class BatchLoader") == 1 and text.count("def fit(") == 1
    teacher = [nb("task1", params="teacher_model = 'resnet20'")]
    assert {"labkit.models.cifar_resnet"} <= {m for _, m, _ in lab_sources(teacher)}
    assert "def distilled(" in "\n".join(c.source for c in source_appendix(notebooks=teacher))
    depth = {m for _, m, _ in lab_sources([nb("task3")])}
    assert "labkit.models.cifar_resnet" in depth and "resnet18" not in depth and "labkit.folder_data.load" not in depth
    transfer = {m for _, m, _ in lab_sources([nb("transfer")])}
    assert {"labkit.models.torchvision_models", "labkit.folder_data.transforms"} <= transfer
    assert "labkit.data" not in transfer and "labkit.models.simplecnn" not in transfer


def test_a_depth_figure_not_drawn_keeps_its_number(capsys):
    """The depth report's text names Figure 1 (plain vs ResNet at each depth) and Figure 2 (He et al.'s figure 6).
    A hand-in of ResNet-110 alone (the graded net, no plain-110) drew no Figure 1 and captioned the next one
    Figure 2: its number is kept and the figure said not drawn, and why."""
    from types import SimpleNamespace

    from labkit import lab_reports

    cap = report.Captions()
    lab_reports.show_depth_pairs([SimpleNamespace(config={"model": "resnet110"})], cap.figure("pairs"))
    out = capsys.readouterr().out
    assert "Figure 1 is not drawn: no depth where plain and ResNet both ran (only ResNet-110)" in out, out
    assert cap.figure("the paper's figure 6").startswith("**Figure 2.**")
