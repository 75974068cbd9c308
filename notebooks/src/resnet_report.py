# %% [markdown] tags=["remove-cell"]
# **How to use this template** (this cell is left out of the PDF)
#
# 1. Train first: `notebooks/task3_resnet_depth.ipynb` writes the depth study's runs to
#    `run_dir/task3_depth/` (in Colab, `runs/` links to `My Drive/labkit_runs`, where this report finds them).
#    Keep the executed notebook: it becomes the PDF's appendix.
# 2. Replace every *italic placeholder* in the text cells with your own words and set `student_name` /
#    `student_id` below; the hand-in command refuses a report whose placeholders are still there. Every number,
#    table and figure here is read from the run folders.
# 3. The hand-in zip, from the repository root (it runs this report against `--run-dir` if you did not):
#    `python -m labkit.handin.submit --student-id <ID> --lab resnet --notebook runs/task3_out.ipynb --report reports/resnet_report.ipynb --run-dir runs`

# %% tags=["remove-cell"]
labkit_setup(folder="reports", then="from labkit import lab_reports, report\n")

# %% tags=["parameters", "hide-input"]
# Parameters (papermill: -p name value)
student_name = "王小明 (Wang Xiao-Ming)"
student_id = "F74091234"
lab = "resnet"
run_dir = "runs"                       # where the depth notebook wrote its runs (Colab: runs/ is on Drive)
experiment = "task3_depth"             # the depth study's folder in run_dir

# %% tags=["hide-input"]
params = labkit.notebook.parameters(verbose=False)  # a mistyped papermill parameter stops here, not ignored
runs = lab_reports.depth_runs(**params.of(lab_reports.depth_runs))  # plain nets, ResNets (and pre-activation ResNets) of the study
cap = report.Captions()  # numbers the tables and figures in the order they are shown
report.title_block(**params.of(report.title_block),
                   title="ResNet lab report: plain nets vs residual nets on CIFAR-10")

# %% [markdown]
# ## 1. Introduction
#
# *Write here, in your own words, what the degradation problem is and what residual learning changes (He et al.,
# 2016), and what this lab sets out to show.*

# %% [markdown]
# ## 2. Experiment setup
#
# ### 2.1 Data

# %% tags=["hide-input"]
report.data_description(runs)

# %% [markdown]
# ### 2.2 Models
#
# Table 1 lists the nets (the CIFAR-10 architecture of He et al., section 4.2): a 3×3 convolution with 16
# filters, three stages of *n* basic blocks on 32×32, 16×16 and 8×8 feature maps with 16, 32 and 64 filters
# (the first block of a stage halves the map with stride 2), global average pooling and a 10-way fully
# connected layer: 6*n* + 2 weighted layers. A plain net is the same stack without the shortcuts.
# *Add what you want to say about the blocks and the shortcuts.*

# %% tags=["hide-input"]
lab_reports.depth_model_table(runs, cap.table("The nets: depth, blocks, shortcut and parameters (from the runs)."))

# %% [markdown]
# ### 2.3 Training hyper-parameters
#
# Every setting of the runs, from their records (Table 2); every net trained with the same recipe.

# %% tags=["hide-input"]
report.show_table(lab_reports.shared_settings(runs), cap.table("Every training setting of the runs."))

# %% [markdown]
# ## 3. Results
#
# ### 3.1 Final test error
#
# Table 3 gives each net's test error after its last epoch (what the paper reports) and the error of the
# checkpoint it tested (its best validation epoch; with `val_ratio = 0` the last), beside the paper's Table 6
# (ResNets, 164 epochs on all 50,000 training images).

# %% tags=["hide-input"]
lab_reports.depth_error_table(runs, cap.table("Final test error (%) of each net beside the paper's."))

# %% [markdown]
# ### 3.2 Training loss and test error per epoch
#
# Figure 1 puts the plain net and the ResNet of each depth side by side: the training loss (top) and the test
# error (bottom) recorded every epoch. Figure 2 is the paper's figure 6 drawn from these runs: per kind of
# net, training error (dashed) and test error (solid) for every depth.

# %% tags=["hide-input"]
lab_reports.show_depth_pairs(runs, cap.figure("Training loss (top) and test error (%, bottom) per epoch: the plain net "
                                      "and the ResNet of each depth."))

# %% tags=["hide-input"]
lab_reports.show_degradation(runs, cap.figure("Training error (dashed) and test error (solid), in %, per epoch: the "
                                      "plain nets, then the ResNets (He et al.'s figure 6)."))

# %% [markdown]
# What the runs show, with each test-error difference's standard error from the test-set size (a difference
# under two standard errors is within noise):

# %% tags=["hide-input"]
lab_reports.depth_reading(runs)

# %% [markdown]
# ### 3.3 Bonus: pre-activation ResNets

# %% tags=["hide-input"]
if lab_reports.has_preact(runs):
    lab_reports.show_depth_pairs(runs, cap.figure("Training loss (top) and test error (%, bottom) per epoch: the "
                                          "original and the pre-activation ResNet of each depth."),
                         kinds=("resnet", "preact"))
else:
    report.show("*Not run (the depth notebook's `preact_depths` was empty).*")

# %% [markdown]
# ## 4. Discussion
#
# *Interpret the results above in your own words; do not restate the numbers. For example: does the deeper
# plain net train worse than the shallower one (degradation), and does the ResNet remove that? How far are your
# errors from the paper's, and why (epochs, training images, augmentation)? What did the pre-activation
# variant change?*

# %% [markdown]
# ## 5. References
#
# - K. He, X. Zhang, S. Ren, J. Sun. *Deep Residual Learning for Image Recognition.* CVPR 2016.
# - K. He, X. Zhang, S. Ren, J. Sun. *Identity Mappings in Deep Residual Networks.* ECCV 2016.
# - A. Krizhevsky. *Learning Multiple Layers of Features from Tiny Images.* 2009 (CIFAR-10).
