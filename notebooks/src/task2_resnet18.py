# %% [markdown]
# # Lab 2, task 2: ResNet18 and what each training choice is worth
#
# A baseline ResNet18 (from `resnet18.py`) and the ablations, each against the baseline: input normalization
# (off / mean-std computed over all or a sampled share of the training images), data augmentation (crop+flip
# off), the base learning rate, and the update strategy (constant, step decay, cosine, one-cycle, cyclical).
# One comparison table with each run's difference from the baseline and the curves of each study overlaid
# on the baseline's (every run is in one of them).

# %% tags=["hide-input"]
labkit_setup()

# %% tags=["parameters"]
# Parameters (papermill: -p name value). Defaults are the lab's settings.
labkit_parameters()
model = "resnet18"        # the baseline's settings: every ablation changes one of them
experiment = "task2_ablations"  # the runs go to run_dir/experiment/<configuration>
resume = True             # reuse finished configurations, continue an interrupted one
# the ablations, each against the baseline
ablations = ["normalization", "augmentation", "lr", "scheduler"]
lr_values = [0.1, 0.01, 0.001]
schedulers = ["none", "step", "cosine", "onecycle", "cyclic"]
sampled_norm_ratio = 0.3  # the sampled-mean/std variant of the normalization study

# %% [markdown] tags=["remove-cell"]
# **Run it:** in Colab, *Runtime > Run all*. Re-running the notebook trains only what is not finished
# (`resume = True`): after a disconnect, run it again. Headless: `papermill notebooks/task2_resnet18.ipynb
# runs/task2_out.ipynb -p data_root DIR`; a quick look at one study: `-y "ablations: [lr]" -p epochs 5`.
# This cell is not handed in.

# %%
params = labkit.notebook.parameters()  # the cell above read back (papermill's -p values too), every value checked

# %% [markdown]
# ## ResNet18 from `resnet18.py`
#
# The self-contained file of the hand-in; labkit trains the same class.

# %%
from resnet18 import *

net = ResNet18()
labkit.show_source(net)  # resnet18.py: BasicBlock, make_layer, ResNet, ResNet18
print(f"ResNet18: {sum(p.numel() for p in net.parameters()):,} parameters")

# %%
labkit.print_summary(params["model"])
flops, n_params = labkit.profile_flops(params["model"])

# %% [markdown]
# ## Baseline and ablations
#
# Every configuration is checked, and the time they will take is estimated, before the first one trains.
# Each run gets its own folder `run_dir/experiment/<name>`.

# %%
from labkit.studies import run_ablations

exp = run_ablations(**params)

# %% [markdown]
# ## Comparison
#
# Best validation accuracy, test accuracy of that checkpoint and its difference from the baseline, epochs
# and training time of every configuration (also in `comparison.csv` / `comparison.md` in the experiment
# folder), and what each study found.

# %% tags=["labkit-in-report"]
from labkit.report import ablation_summary, readable

readable(exp.table)

# %% tags=["labkit-in-report"]
ablation_summary(exp)

# %% [markdown]
# ## Each study against the baseline

# %% tags=["labkit-in-report"]
exp.show_figures()
