# %% [markdown] tags=["remove-cell"]
# **How to use this template** (this cell is left out of the PDF)
#
# 1. Train first: `notebooks/task_transfer.ipynb` writes its runs (ResNet18/50, pretrained and from scratch) to
#    its `run_dir` (default `runs/transfer`; in Colab on Google Drive). Keep the executed notebook: it becomes the
#    PDF's appendix.
# 2. Replace every *italic placeholder* in the text cells with your own words and set `student_name` /
#    `student_id` below; the hand-in command refuses a report whose placeholders are still there. Every number,
#    table and figure here is read from the run folders.
# 3. The hand-in zip, from the repository root:
#    `python -m labkit.handin.submit --student-id <ID> --lab transfer --notebook runs/task_transfer_out.ipynb --report reports/transfer_report.ipynb --run-dir runs/transfer`

# %% tags=["remove-cell"]
labkit_setup(folder="reports", then="from labkit import lab_reports, report\n")

# %% tags=["parameters", "hide-input"]
# Parameters (papermill: -p name value)
student_name = "王小明 (Wang Xiao-Ming)"
student_id = "F74091234"
lab = "transfer"
run_dir = "runs/transfer"              # the transfer notebook's run_dir (Colab: on Drive)

# %% tags=["hide-input"]
params = labkit.notebook.parameters(verbose=False)  # a mistyped papermill parameter stops here, not ignored
study = lab_reports.transfer_runs(params["run_dir"])  # {"tv_resnet18 pretrained": run, ...}
cap = report.Captions()  # numbers the tables and figures in the order they are shown
report.title_block(**params.of(report.title_block),
                   title="Transfer learning report: ResNet18/50, ImageNet-pretrained vs from scratch")

# %% [markdown]
# ## 1. Introduction
#
# *Write here, in your own words, what the data set is (the images, the classes, how unbalanced they are), what
# transfer learning is, and what this lab sets out to find.*

# %% [markdown]
# ## 2. Experiment setups
#
# ### 2.1 The models: ResNet18 and ResNet50
#
# Both are torchvision's ImageNet ResNets: a 7×7 convolution with stride 2 and max-pooling, four stages (64,
# 128, 256, 512 channels before expansion), global average pooling and a fully connected head, here replaced
# by a new layer with one output per class. ResNet18 stacks basic blocks (two 3×3 convolutions), ResNet50
# bottleneck blocks (1×1, 3×3, 1×1, four times wider at the output). A *pretrained* run starts from the
# ImageNet weights, a *scratch* run from a random initialization (Table 1). *Add your own description.*

# %% tags=["hide-input"]
lab_reports.transfer_model_table(study, cap.table("The runs' models: blocks, starting weights, head and parameters."))

# %% [markdown]
# ### 2.2 The data loader
#
# The images are listed in CSV files (image name, label) and read from their folders by labkit's image-folder
# loader (PIL, then torchvision's transforms); Table 2 counts them per class and split.

# %% tags=["hide-input"]
lab_reports.transfer_data_description(study, cap.table("Images per class in each split."))

# %% [markdown]
# ### 2.3 Training hyper-parameters
#
# Every setting of the runs, from their records (Table 3): the same for every run except the starting weights.

# %% tags=["hide-input"]
report.show_table(lab_reports.shared_settings(list(study.values())), cap.table("Every training setting of the runs."))

# %% [markdown]
# ### 2.4 Evaluation
#
# The checkpoint of the best validation epoch is tested once on the test images. Besides the accuracy, each
# run's confusion matrix counts the test images of each true class (rows) by the class predicted (columns); a
# row divided by its total gives the share of that class recognized (its recall) on the diagonal, which shows
# whether a model recognizes the rare classes or predicts the common one.

# %% [markdown]
# ## 3. Results
#
# ### 3.1 Highest accuracies: pretrained vs from scratch
#
# Table 4 gives each run's best validation accuracy and the test accuracy of that checkpoint, with each class's
# test accuracy; below it, each model's pretrained run against its scratch run.

# %% tags=["hide-input"]
lab_reports.transfer_results(study, cap.table("The highest accuracies of each run (%), overall and per class."))
lab_reports.pretrained_vs_scratch(study)

# %% [markdown]
# ### 3.2 Comparison figures
#
# Figure 1 overlays the four curves of every run.

# %% tags=["hide-input"]
lab_reports.show_transfer_curves(study, cap.figure("Training and validation accuracy (%) and loss per epoch of every "
                                           "run."))

# %% [markdown]
# ### 3.3 Confusion matrices
#
# Figure 2 puts the runs' confusion matrices side by side.

# %% tags=["hide-input"]
lab_reports.show_transfer_confusions(study, cap.figure("Test confusion matrix of each run, each row divided by the "
                                                       "class's test images (the diagonal is each class's recall); "
                                                       "rows: true class, columns: predicted."))

# %% [markdown]
# ## 4. Discussion
#
# *Interpret the results above in your own words; do not restate the numbers. For example: how much do the
# ImageNet weights help, and how early? Does ResNet50 pay off over ResNet18 here? Which classes does each model
# recognize, and what did the class-imbalance option change?*

# %% [markdown]
# ## 5. References
#
# - K. He, X. Zhang, S. Ren, J. Sun. *Deep Residual Learning for Image Recognition.* CVPR 2016.
# - J. Yosinski, J. Clune, Y. Bengio, H. Lipson. *How transferable are features in deep neural networks?*
#   NeurIPS 2014.
