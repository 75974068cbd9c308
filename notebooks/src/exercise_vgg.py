# %% [markdown]
# # Exercises: CIFAR-10 images, a small CNN, VGG11 and VGG16
#
# The first 8 training images with their labels; then the small CNN of the exercise, VGG11 (one fully
# connected layer) and VGG16 (three fully connected layers with dropout 0.5), each trained and tested,
# compared in one table.

# %% tags=["hide-input"]
labkit_setup()

# %% tags=["parameters"]
# Parameters (papermill: -p name value). Defaults are the lab's settings.
data_root = "./data"      # CIFAR-10 is downloaded here if missing; offline: "../shared/data/cifar10-subset"
download = True           # False: fail with a clear message instead of downloading
models = ["simplecnn", "vgg11", "vgg16"]
epochs = 30
batch_size = 128
optimizer = "sgd"         # sgd | adam | adamw
lr = 0.01
momentum = 0.9
weight_decay = 5e-4
scheduler = "none"        # none (constant lr) | step | multistep | cosine | onecycle | cyclic
normalize = "computed"    # off | fixed | computed (per-channel mean/std of the training split)
norm_ratio = 1.0          # share of the training images the mean/std is computed from
augment = True            # random crop (4-pixel padding) + horizontal flip
val_ratio = 0.1           # share of the training images held out for validation (model selection)
seed = 0                  # train/validation split, initialization, data order, augmentation
device = "auto"           # auto | cuda | cpu
amp = "auto"              # auto (bf16 or fp16 + grad scaler on a GPU) | bf16 | fp16 | off
run_dir = "runs"          # in Colab runs/ links to Google Drive (the setup cell's runs_on_drive)
limit = None              # use only this many training images for quick runs; None: all
test_limit = None         # use only this many test images; None: all
progress = True           # tqdm bar inside each epoch
experiment = "exercise_vgg"  # the runs go to run_dir/experiment/<model>
resume = True             # reuse finished runs, continue an interrupted one
start_over = False        # with resume: a run that cannot continue (last.pth lost) trains again; old files kept

# %% [markdown] tags=["remove-cell"]
# **Run it:** in Colab, *Runtime > Run all*. Headless: `papermill notebooks/exercise_vgg.ipynb
# runs/exercise_out.ipynb -p data_root DIR`. This cell is not handed in.

# %%
params = labkit.notebook.parameters()  # the cell above read back (papermill's -p values too), every value checked

# %% [markdown]
# ## Data and the first 8 training images

# %%
data = labkit.load_cifar10(**params.of(labkit.load_cifar10))
raw = labkit.read_cifar_folder(data.info["source"], verbose=False)  # the files' order
labkit.show_images(raw["train_x"], raw["train_y"], raw["classes"], n=8);

# %% [markdown]
# ## The models

# %%
from labkit.experiments import model_variants, run_experiments

for m in params["models"]:
    print(f"{m}: {labkit.count_params(labkit.get_model(m)):,} parameters")
labkit.get_model("vgg16").classifier  # three fully connected layers, dropout 0.5

# %% [markdown]
# ## Training and testing each model

# %%
exp = run_experiments(model_variants(params["models"]), data=data, **params.without("models"))

# %% [markdown]
# ## Comparison

# %%
exp.table

# %%
exp.show_figures()
exp.show_runs()
