# %% [markdown] tags=["remove-cell"]
# **How to use this template** (this cell is left out of the PDF)
#
# 1. Train first: `notebooks/task1_simplecnn.ipynb` and `notebooks/task2_resnet18.ipynb` write their runs to
#    `run_dir` (default `runs/`; in Colab, `runs/` links to `My Drive/labkit_runs`, where this report finds them).
#    Keep the executed notebooks: they become the appendices of the PDF.
# 2. Replace every *italic placeholder* in the text cells (each is a paragraph or a table row of its own) with
#    your own words and set `student_name` / `student_id` below; the hand-in command refuses a report whose
#    placeholders are still there. Every number and table here is read from the run folders.
# 3. The hand-in zip (`<ID>_lab2.ipynb` with both tasks, `<ID>_lab2.pdf`: this report, then each task notebook
#    as an appendix with every print and figure), from the repository root; it runs this report against
#    `--run-dir` if you did not:
#    `python -m labkit.handin.submit --student-id <ID> --lab lab2 --notebook runs/task1_out.ipynb runs/task2_out.ipynb --report reports/lab2_report.ipynb --run-dir runs`
#
# Code cells tagged `hide-input` print only their output in the PDF; write in English, 中文 or 한국어.

# %% tags=["remove-cell"]
labkit_setup(folder="reports", then="from labkit import report\n")

# %% tags=["parameters", "hide-input"]
# Parameters (papermill: -p name value)
student_name = "王小明 (Wang Xiao-Ming)"
student_id = "F74091234"
lab = "lab2"
run_dir = "runs"                       # where the lab notebooks wrote their runs (Colab: runs/ is on Drive)
task1_run = None                       # task 1's run folder; None: the latest task-1 run in run_dir
task2_experiment = "task2_ablations"   # task 2's experiment folder in run_dir; None leaves task 2 out
flops = True                           # count FLOPs per image with thop (seconds per model on a CPU)

# %% tags=["hide-input"]
params = labkit.notebook.parameters(verbose=False)  # a mistyped papermill parameter stops here, not ignored
t1, t2 = report.lab2_runs(**params.of(report.lab2_runs))  # task 1's run and task 2's experiment
cap = report.Captions()  # numbers the tables and figures in the order they are shown
report.title_block(**params.of(report.title_block),
                   title="Lab 2 report: CNN image classification on CIFAR-10 (實驗二報告)")

# %% [markdown]
# ## 1. Introduction 簡介
#
# *Write here what the lab is about and what you set out to find (English, 中文 or 한국어 are all fine).*

# %% [markdown]
# ## 2. Experiment setup 實驗設定
#
# ### 2.1 Data

# %% tags=["hide-input"]
report.data_description(t1 + t2)

# %% [markdown]
# ### 2.2 Models
#
# Table 1 gives the models' sizes, read from the runs (FLOPs counted by thop for one image).
#
# *Describe the models in your own words: SimpleCNN (task 1) and ResNet18 from `resnet18.py` (basic residual
# blocks, [2, 2, 2, 2] layers, 3×3 stem for 32×32 inputs).*

# %% tags=["hide-input"]
report.show_table(report.model_table(t1 + t2, flops=params["flops"]),
                  cap.table("The models: parameters and FLOPs for one image."))

# %% [markdown]
# ### 2.3 Hyper-parameters
#
# Table 2 lists every setting of task 1's run and of task 2's baseline, from the runs' records. Each task-2
# run changes one of the baseline's settings (Table 4 says which).

# %% tags=["hide-input"]
report.show_table(report.hyperparameter_table(t1 + ([report.baseline_of(t2)] if t2 else [])),
                  cap.table("Every training setting of task 1's run and task 2's baseline."), index=True)

# %% [markdown]
# ## 3. Results 實驗結果
#
# ### 3.1 Task 1: SimpleCNN
#
# Table 3 gives task 1's test accuracy (the best-validation checkpoint on the test set) and the grading line it
# passes; Figure 1 its four curves. The per-epoch lines and the confusion matrix are in Appendix A.

# %% tags=["hide-input"]
report.task1_result(t1, cap.table("Task 1: the test accuracy of the best-validation checkpoint."))

# %% tags=["hide-input"]
report.show_curves(t1)
report.show(cap.figure("Task 1: training and validation accuracy (%) and loss per epoch."))
report.task1_reading(t1)

# %% [markdown]
# ### 3.2 Task 2: ResNet18 ablations
#
# Table 4 compares every task-2 run with the baseline: its test accuracy and the difference from the
# baseline's, with the standard error that the test-set size alone gives that difference. A difference under
# two standard errors is within noise: the runs cannot tell those settings apart. The figures after it overlay
# each study's curves on the baseline's; every run's own lines are in Appendix B.

# %% tags=["hide-input"]
report.comparison_table(t2, caption=cap.table("Task 2: every run against the baseline.")) if t2 else \
    report.show("*Task 2 left out (task2_experiment = None).*")

# %% tags=["hide-input"]
figures = report.show_study_figures(t2, cap) if t2 else {}

# %% [markdown]
# What each study found, read from the runs:

# %% tags=["hide-input"]
report.ablation_summary(t2, figures=figures) if t2 else None

# %% [markdown]
# ## 4. Discussion 討論
#
# *Interpret the numbers above; do not restate them. For example:*
#
# - *Task 1: does SimpleCNN over-fit (training vs validation curves)? Which classes are confused, and why?*
# - *Normalization: what did per-channel normalization change, and did a sampled mean/std (ratio 0.3) differ from the full one?*
# - *Augmentation: effect on the gap between training and validation accuracy.*
# - *Learning rate: which values were too large / too small, as seen in the loss curves?*
# - *Update strategy: constant vs step vs cosine vs one-cycle vs cyclic - final accuracy and speed of convergence.*
# - *What would you try next?*

# %% [markdown]
# ## 5. Difficulties and solutions 遇到的困難與解決方法
#
# *List here what went wrong and how you solved it (the Lab2 handout requires this section). Replace both example
# rows below with your own.*
#
# | Difficulty 困難 | Cause 原因 | Solution 解決方法 |
# | --- | --- | --- |
# | *e.g. Colab disconnected during the ResNet18 runs* | *idle / time limit* | *runs on Google Drive, re-ran with `resume = True`* |
# | *e.g. loss became NaN at lr 0.1* | *learning rate too large* | *...* |

# %% [markdown]
# ## 6. References
#
# - K. He, X. Zhang, S. Ren, J. Sun. *Deep Residual Learning for Image Recognition.* CVPR 2016.
# - A. Krizhevsky. *Learning Multiple Layers of Features from Tiny Images.* 2009 (CIFAR-10).
# - L. N. Smith. *Cyclical Learning Rates for Training Neural Networks.* WACV 2017.
