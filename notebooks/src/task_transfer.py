# %% [markdown]
# # Transfer learning: ResNet18 / ResNet50, ImageNet-pretrained vs from scratch
#
# An image folder listed in CSV files (image name, label), e.g. the diabetic-retinopathy set (28,099 train /
# 7,025 test images, five classes, label 0 dominating). Four runs — ResNet18 and ResNet50 (torchvision), each
# with ImageNet weights and from scratch — trained by the same `labkit.fit` loop as the CIFAR labs, compared by
# accuracy, per-class accuracy and confusion matrices. The class imbalance is handled by one of: a
# class-weighted loss, a weighted sampler, or augmenting only the minority classes.

# %% tags=["hide-input"]
labkit_setup()

# %% tags=["parameters"]
# Parameters (papermill: -p name value; lists with -y "models: [tv_resnet18]"). Defaults: the retinopathy lab.
# Data: a CSV per split listing image names and labels, and the image folders.
# The diabetic-retinopathy layout (trainLabels-style CSVs with columns image,level; files 10_left.jpeg ...):
train_csv = "data/retinopathy/train.csv"
test_csv = "data/retinopathy/test.csv"      # None: carve a stratified test split (20%) from train_csv
image_dir = "data/retinopathy/train"
test_image_dir = "data/retinopathy/test"    # None: the same folder as image_dir
image_col = "image"                         # CSV column with the image file names
label_col = "level"                         # CSV column with the labels (0..K-1 or class names)
suffix = ".jpeg"                            # appended to names without it ("" when the CSV has extensions)
class_names = ["No DR", "Mild", "Moderate", "Severe", "Proliferative DR"]  # None: the label values
demo_cifar_root = None    # a CIFAR-10 folder (e.g. "../shared/data/cifar10-subset"): try the lab on a small,
                          # deliberately imbalanced image folder written from it instead of the data above

# Models: every (model, pretrained) pair is one run
models = ["tv_resnet18", "tv_resnet50"]
pretrained = [True, False]
weights = "imagenet"      # what "pretrained" loads: "imagenet" (torchvision download/cache) or a .pth file path
freeze_epochs = 0         # pretrained runs: train only the new head for the first k epochs
missing_weights = None    # pretrained weights that cannot be had (offline, nothing cached): "stop" before training
                          # with the fixes, or "skip" those runs and train the rest; None: "skip" in the demo, else "stop"

# Training (labkit.fit)
epochs = 10
lr = 0.01
optimizer = "sgd"
scheduler = "cosine"
batch_size = 32
augment = True            # random crop + horizontal flip of the training images
imbalance = "class_weights"   # none | class_weights | sampler | augment_minority
image_size = 224          # the models' input size (ImageNet: 224)
crop_ratio = 0.875        # resize to image_size / crop_ratio, then crop image_size
limit = None              # quick runs: use only this many rows of train_csv (stratified)
test_limit = None         # ... and of test_csv
val_ratio = 0.1
num_workers = 2
run_dir = "runs/transfer" # in Colab runs/ links to Google Drive (the setup cell's runs_on_drive)
seed = 0                  # train/validation split, initialization, data order, augmentation
device = "auto"           # auto | cuda | cpu
amp = "auto"              # auto (bf16 or fp16 + grad scaler on a GPU) | bf16 | fp16 | off
progress = True           # tqdm bar inside each epoch
resume = True             # True: finished runs are read back, interrupted ones continue
start_over = False        # with resume: a run that cannot continue (last.pth lost) trains again; old files kept

# %% [markdown] tags=["remove-cell"]
# **Run it:** in Colab, *Runtime > Run all*. Headless: `papermill notebooks/task_transfer.ipynb
# runs/task_transfer_out.ipynb -p train_csv ... -p image_dir ...`, or offline on a small imbalanced stand-in
# written from CIFAR-10: `-p demo_cifar_root ../shared/data/cifar10-subset`. This cell is not handed in.

# %%
from labkit.folder_data import load_image_folder
from labkit.studies import demo_settings, plan_study, run_transfer_study

params = labkit.notebook.parameters()  # the cell above read back (papermill's -p values too), every value checked
if params["demo_cifar_root"]:  # the small imbalanced stand-in: 3 CIFAR-10 classes, the first one dominating
    params.update(demo_settings(params["demo_cifar_root"], params["missing_weights"]))
plan_study(**params.of(plan_study, train=True), verbose=True);  # the study checked before any image is read

# %% [markdown]
# ## Data
#
# The class counts per split are printed: note how much label 0 dominates.

# %%
data = load_image_folder(**params.of(load_image_folder))

# %%
images, labels = data.sample_images("train", n=8)
labkit.show_images(images, labels, data.classes, n=8, title="First training images (resized and cropped)");

# %% [markdown]
# ## Training: ResNet18/50 x pretrained/scratch
#
# Each run prints the usual epoch lines and `Test Accuracy`; with `resume=True` a finished run is read back
# instead of trained again.

# %%
study = run_transfer_study(data, **params.of(run_transfer_study, train=True))

# %% [markdown]
# ## Comparison
#
# Best validation accuracy, test accuracy and per-class test accuracy of every run (also in
# `run_dir/comparison.csv` and `.md`).

# %%
study.table

# %% tags=["labkit-in-report"]
labkit.notebook.show_png(study.files["curves"])

# %% [markdown]
# ## Confusion matrices (test set)
#
# Rows: true class, columns: predicted; raw counts, then each row divided by its total (the per-class recall).

# %% tags=["labkit-in-report"]
for label in study.runs:
    print(label)
    labkit.notebook.show_png(study.files[f"{label} confusion"], study.files[f"{label} confusion normalized"])

# %% [markdown] tags=["remove-cell"]
# **For the report** (this cell is not handed in):
# - Pretrained vs scratch: how many epochs does each need, and how far apart are the test accuracies?
# - ResNet18 vs ResNet50: does the larger model pay off on this data?
# - Accuracy vs the majority-class baseline (always predicting label 0): which classes does each model actually
#   recognise (confusion matrices, per-class accuracy)?
# - Class imbalance: compare `imbalance='none'` with the option used here (set `run_dir` to a new folder per
#   option).
