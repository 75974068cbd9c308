"""Writes reports/lab2_report.ipynb (unexecuted) from the cell texts below: one source for the template.

    .venv/bin/python reports/build_report.py          # rewrite the .ipynb
    .venv/bin/python reports/build_report.py --check  # exit 1 if the .ipynb differs

The template: a cell tagged ``parameters`` (papermill injects ``-p name value`` after it), thin
cells calling labkit.report (tables, curves and figures read from the run folders), and Markdown
sections for the student's text. Cells tagged ``hide-input`` show only their output in the PDF
(labkit.handin.pdf); the ``remove-cell`` instructions do not appear in the PDF at all.
"""
import os
import sys

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "notebooks"))
from build_notebooks import setup_cell  # noqa: E402  (one source for every notebook's setup cell)

METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
    "labkit": {"hide_code": True},  # labkit.handin.pdf: a report shows outputs and text, not code
}


def md(text, tags=None):
    cell = nbformat.v4.new_markdown_cell(text)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def code(text, tags=("hide-input",)):
    cell = nbformat.v4.new_code_cell(text)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


HOW_TO = '''\
**How to use this template** (this cell is left out of the PDF)

1. Train first: `notebooks/task1_simplecnn.ipynb` and `notebooks/task2_resnet18.ipynb` write their runs to
   `run_dir` (default `runs/`; in Colab, `runs/` links to `My Drive/labkit_runs`, where this report finds them).
   Keep the executed notebooks.
2. Replace every *italic placeholder* in the text cells (and the example introduction) with your own words
   and set `student_name` / `student_id` below; the hand-in command refuses a report whose placeholders are
   still there. Every table and figure is read from the run folders.
3. The hand-in zip (`<ID>_lab2.ipynb` with both tasks, `<ID>_lab2.pdf` with this report and every print and
   figure of both tasks), from the repository root; it runs this report against `--run-dir` if you did not:
   `python -m labkit.handin.submit --student-id <ID> --lab lab2 --notebook runs/task1_out.ipynb runs/task2_out.ipynb --report reports/lab2_report.ipynb --run-dir runs`

Code cells tagged `hide-input` print only their output in the PDF; write in English, 中文 or 한국어.'''

# the lab notebooks' setup cell; Jupyter starts in reports/: work from the repository root like them
SETUP = setup_cell('''import labkit.notebook
import labkit.report as report
labkit.notebook.setup(runs_on_drive=runs_on_drive, folder="reports");''')

PARAMETERS = '''\
# Parameters (papermill: -p name value)
student_name = "王小明 (Wang Xiao-Ming)"
student_id = "F74091234"
lab = "lab2"
run_dir = "runs"                       # where the lab notebooks wrote their runs (Colab: runs/ is on Drive)
task1_run = None                       # task 1's run folder; None: the latest task-1 run in run_dir
task2_experiment = "task2_ablations"   # task 2's experiment folder in run_dir; None leaves task 2 out
flops = True                           # count FLOPs per image with thop (seconds per model on a CPU)'''

INTRO = '''\
## 1. Introduction 簡介

*Write here what the lab is about and what you set out to find.* Example of the expected tone
(replace it; Chinese or Korean are fine):

本實驗以 CIFAR-10 資料集（10 類、32×32 彩色影像）訓練卷積神經網路：任務一實作 SimpleCNN，
任務二以 ResNet18 比較輸入正規化、資料增強、學習率與學習率排程對準確率的影響。
(이 보고서는 한국어로 작성해도 됩니다.)'''

RUNS = '''\
t1 = report.collect_runs(task1_run, run_dir=run_dir) if task1_run else report.latest_runs(run_dir, report.TASK1_MODELS)
t2 = report.collect_runs(task2_experiment, run_dir=run_dir) if task2_experiment else []
report.show("**Runs read by this report:** " + ", ".join(f"`{r.run_dir}`" for r in t1 + t2))'''

SETUP_MD = '''\
## 2. Experiment setup 實驗設定

### 2.1 Data

CIFAR-10: 50,000 training and 10,000 test images of 32×32 pixels in 10 classes. A seeded share of the
training images is held out for validation; the checkpoint with the best validation accuracy is the
one tested, and the test set is used for nothing else. The exact split sizes and normalization
statistics of each run are in the table of section 2.3.

### 2.2 Models

*Describe the models in your own words: SimpleCNN (task 1) and ResNet18 from `resnet18.py`
(basic residual blocks, [2, 2, 2, 2] layers, 3×3 stem for 32×32 inputs).* Their sizes, read from
the runs (FLOPs counted by thop for one image):'''

HPARAMS_MD = '''\
### 2.3 Hyper-parameters

Every setting of task 1's run and of task 2's baseline, from the runs' `config.json`. Each task-2
ablation changes one of them; the `change` column of section 3.2 says which.'''

T1_MD = '''\
## 3. Results 實驗結果

### 3.1 Task 1: SimpleCNN

Best validation accuracy and its epoch, test accuracy of that checkpoint, training time:'''

T1_CURVES_MD = "Epoch against training/validation accuracy and loss:"
T1_CM_MD = "Test set, best checkpoint: confusion matrix (rows: true class) and accuracy per class (%):"

T2_MD = '''\
### 3.2 Task 2: ResNet18 ablations

One row per run; `change` is what the run changes against the baseline (read from the runs' configurations):'''

T2_STUDIES_MD = "Each study overlaid on the baseline:"
T2_CM_MD = "The run with the best validation accuracy, on the test set:"

DISCUSSION = '''\
## 4. Discussion 討論

*Interpret the numbers above; do not restate them. For example:*

- *Task 1: does SimpleCNN over-fit (training vs validation curves)? Which classes are confused, and why?*
- *Normalization: what did per-channel normalization change, and did a sampled mean/std (ratio 0.3) differ from the full one?*
- *Augmentation: effect on the gap between training and validation accuracy.*
- *Learning rate: which values were too large / too small, as seen in the loss curves?*
- *Update strategy: constant vs step vs cosine vs one-cycle vs cyclic - final accuracy and speed of convergence.*
- *What would you try next?*'''

DIFFICULTIES = '''\
## 5. Difficulties and solutions 遇到的困難與解決方法

*The Lab2 handout requires this section: list what went wrong and how you solved it.*

| Difficulty 困難 | Cause 原因 | Solution 解決方法 |
| --- | --- | --- |
| *e.g. Colab disconnected during the ResNet18 runs* | *idle / time limit* | *runs on Google Drive, re-ran with `resume = True`* |
| *e.g. loss became NaN at lr 0.1* | *learning rate too large* | *...* |'''

REFERENCES = '''\
## 6. References

- K. He, X. Zhang, S. Ren, J. Sun. *Deep Residual Learning for Image Recognition.* CVPR 2016.
- A. Krizhevsky. *Learning Multiple Layers of Features from Tiny Images.* 2009 (CIFAR-10).
- L. N. Smith. *Cyclical Learning Rates for Training Neural Networks.* WACV 2017.'''


# The template's example texts: a report that still holds one is not finished (labkit.handin.submit refuses it).
# Stored in the notebook's metadata (labkit.placeholders); each must occur in the cells above.
PLACEHOLDERS = [
    "王小明 (Wang Xiao-Ming)",
    "Write here what the lab is about",
    "Example of the expected tone",
    "本實驗以 CIFAR-10 資料集（10 類、32×32 彩色影像）訓練卷積神經網路",  # the example introduction
    "(이 보고서는 한국어로 작성해도 됩니다.)",
    "Describe the models in your own words",
    "Interpret the numbers above; do not restate them.",
    "The Lab2 handout requires this section: list what went wrong",
    "e.g. Colab disconnected during the ResNet18 runs",
    "e.g. loss became NaN at lr 0.1",
]


def cells():
    return [
        md(HOW_TO, tags=["remove-cell"]),
        code(SETUP, tags=("remove-cell",)),  # setup output is not part of the PDF
        code(PARAMETERS, tags=["parameters", "hide-input"]),
        code('report.title_block(student_name, student_id, lab,\n'
             '                    title="Lab 2 report: CNN image classification on CIFAR-10 (實驗二報告)")'),
        md(INTRO),
        code(RUNS),
        md(SETUP_MD),
        code("report.model_table(t1 + t2, flops=flops)"),
        md(HPARAMS_MD),
        code("report.hyperparameter_table(t1 + ([report.baseline_of(t2)] if t2 else []))"),
        md(T1_MD),
        code("report.readable(report.results_table(t1))"),
        md(T1_CURVES_MD),
        code('report.show_curves(t1, title="Task 1: SimpleCNN")'),
        md(T1_CM_MD),
        code("report.show_confusion(t1[-1])\nreport.per_class_table(t1)"),
        md(T2_MD),
        code('report.readable(report.results_table(t2)) if t2 else '
             'report.show("*Task 2 left out (task2_experiment = None).*")'),
        md(T2_STUDIES_MD),
        code("report.show_studies(t2) if t2 else None"),
        md(T2_CM_MD),
        code("if t2:\n    best = report.best_run(t2)\n    report.show_confusion(best)\n    "
             "report.show(report.per_class_table([best]))"),
        md(DISCUSSION),
        md(DIFFICULTIES),
        md(REFERENCES),
    ]


def build():
    nb = nbformat.v4.new_notebook(metadata=METADATA)
    nb.cells = cells()
    every = "\n".join(c.source for c in nb.cells)
    missing = [p for p in PLACEHOLDERS if p not in every]
    assert not missing, f"placeholders not in the template: {missing}"
    nb.metadata["labkit"] = {**METADATA["labkit"], "placeholders": PLACEHOLDERS}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"lab2-report-{i:02d}"  # stable ids: rebuilding gives the same file
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def main(argv):
    path = os.path.join(HERE, "lab2_report.ipynb")
    text = build()
    old = open(path, encoding="utf-8").read() if os.path.isfile(path) else None
    if "--check" in argv:
        if old != text:
            print("out of date: run reports/build_report.py")
            return 1
        return 0
    if old != text:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
