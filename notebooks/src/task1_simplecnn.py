# %% [markdown]
# # Lab 2, task 1: SimpleCNN on CIFAR-10
#
# The network of the handout's table: Conv1 (3→32, 3×3, padding 1), Bn1, ReLU, max-pooling, Conv2 (32→64,
# 3×3, padding 1), Bn2, ReLU, max-pooling, one fully connected layer (4096→10). Its layer table
# (torchsummary) and FLOPs/parameters (thop), its training with the per-epoch lines, the test accuracy of
# the best checkpoint (by validation accuracy), and the four curves: training/validation accuracy and loss.

# %% tags=["hide-input"]
labkit_setup()

# %% tags=["parameters"]
# Parameters (papermill: -p name value). Defaults are the lab's settings.
labkit_parameters(epochs=150, nesterov=True, scheduler="onecycle", label_smoothing=0.0, test_flip=True, test_shift=1,
                  run_name=None)
model = "simplecnn"       # the handout's net; "simplecnn_k7": the same layers with 7x7 kernels (146,314 parameters)
model_kwargs = {"dropout": 0.25}  # the net's dropout before its FC layer (no parameters; the class's default: 0.5)
lr = 0.05                 # the one-cycle schedule's peak (it warms up from lr/25 over the first 30% of the steps)
augment = "flip"          # True: random crop (4-pixel padding) + flip | "flip": flip only | False
teacher_model = "resnet56"  # distillation: this net trains first (or is reused from run_dir) for teacher_epochs
teacher_epochs = 30       #   with the depth lab's fast recipe; SimpleCNN then learns from its predictions too
distill_alpha = 0.9       #   (the net stays the table's): distill_alpha of the loss matches the teacher's
distill_temperature = 4.0 #   predictions softened at distill_temperature. None: no teacher
resume = False            # True: continue run_name (or this model's latest interrupted run in run_dir)
start_over = False        # with resume: start that run (again) at epoch 1 if it cannot be found or continued

# %% [markdown] tags=["remove-cell"]
# **Run it:** in Colab, *Runtime > Run all* (the first cell finds labkit, keeps runs on Google Drive and checks
# the GPU). Headless: `papermill notebooks/task1_simplecnn.ipynb runs/task1_out.ipynb -p data_root DIR`
# (any parameter above with `-p name value`; lists with `-y "name: [a, b]"`). This cell is not handed in.
#
# **What to expect:** these defaults pass task 1's 80% line with the table's net: 80.50% test on CIFAR-10
# (JPEG copy; 81.6% on 500 real test images) with seed 0 on a 2-core CPU; seeds 1 and 2 reached 79.44% and 80.05%
# (mean of the three 80.00%), so the line is within a seed's spread (benchmarks/README.md has every recipe's row
# and command). The teacher (ResNet-56, 30 epochs: 88.5%) trains first (its own epoch lines), then SimpleCNN for
# 150 epochs, its test accuracy over 10 views (`test_shift = 1`).
#
# **How long:** about 1.3 PFLOP of training (thop's multiply-adds x 2 x 3 for forward and backward x 45,000 images:
# ResNet-56 at 30 epochs 1.03, SimpleCNN at 150 epochs 0.24), an estimated 10-25 minutes on Colab's T4 in fp16
# (1.5-6.5 TFLOP/s assumed, as the depth lab's notebook does, and SimpleCNN's 53,000 small steps bound by launch
# time; not measured on a T4). Measured on an H100 (fp16 + GradScaler, 2026-12-05): 5.1 s per ResNet-56 epoch and
# 1.3 s per SimpleCNN epoch, about 6 minutes of training steps; a T4 is slower. On a 2-core CPU: 2-2.5 hours for
# the teacher, 30-45 minutes for SimpleCNN. A
# teacher already in `run_dir` is reused. Without a teacher (`teacher_model = None`, `model_kwargs = {}`, 30
# epochs, `test_shift = 0`): 77.19%; `model = "simplecnn_k7"` passes the line (80.44%) with 7×7 kernels and
# 146,314 parameters: not the table's net.

# %%
params = labkit.notebook.parameters()  # the cell above read back (papermill's -p values too), every value checked

# %% [markdown]
# ## The model: its code, layer table, FLOPs and parameters

# %%
net = labkit.get_model(params["model"], **params["model_kwargs"])
labkit.show_source(net)  # the code of the model's class
labkit.print_summary(net)
flops, n_params = labkit.profile_flops(net)

# %% [markdown]
# ## Data

# %%
data = labkit.load_cifar10(**params.of(labkit.load_cifar10))

# %% [markdown]
# ## Training
#
# Per epoch: learning rate, training loss/accuracy, validation loss/accuracy. The best epoch's weights (by
# validation accuracy) are reloaded for the test set. With a `teacher_model`, the teacher trains first (its
# own epoch lines), then SimpleCNN.

# %%
import labkit.presets  # with a teacher_model: the student's resume checked, then the teacher trained, then the student
import labkit.report
run = labkit.presets.fit_with_teacher(data=data, **params.of(labkit.fit, labkit.presets.fit_with_teacher, train=True))
labkit.report.summary_table(run)  # the result as a small table

# %% [markdown]
# ## Curves: epoch vs training/validation accuracy and loss

# %%
labkit.plot_history(run, title=params["model"], save=run.file("curves"));

# %% [markdown]
# ## Test set: confusion matrix and per-class accuracy (best checkpoint)

# %%
labkit.plot_confusion_matrix(run.confusion_matrix, data.classes, normalize=True, save=run.file("confusion"))
labkit.report.per_class_markdown(run)  # test accuracy (%) per class
