"""Writes notebooks/task_transfer.ipynb (unexecuted) from the cell texts below.

    .venv/bin/python notebooks/build_transfer_notebook.py          # rewrite the notebook
    .venv/bin/python notebooks/build_transfer_notebook.py --check  # exit 1 if it differs

The Colab setup cell and the notebook metadata come from build_notebooks.py (one source for
every lab notebook).
"""
import os
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from build_notebooks import METADATA, SETUP  # noqa: E402

NAME = "task_transfer.ipynb"

PARAMS = '''\
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
progress = True           # tqdm bar inside each epoch
resume = True             # True: finished runs are read back, interrupted ones continue
start_over = False        # with resume: a run that cannot continue (last.pth lost) trains again; old files kept'''

CELLS = [
    new_markdown_cell(
        "# Transfer learning: ResNet18 / ResNet50, ImageNet-pretrained vs from scratch\n\n"
        "An image folder listed in CSV files (image name, label), e.g. the diabetic-retinopathy set "
        "(28,099 train / 7,025 test images, five classes, label 0 dominating). Four runs — ResNet18 and "
        "ResNet50 (torchvision), each with ImageNet weights and from scratch — trained by the same "
        "`labkit.fit` loop as the CIFAR labs, compared by accuracy, per-class accuracy and confusion "
        "matrices. The class imbalance is handled by one of: a class-weighted loss, a weighted sampler, "
        "or augmenting only the minority classes.\n\n"
        "**Run it:** in Colab, *Runtime > Run all* (the first cell finds labkit, keeps runs on Google Drive and checks the GPU). "
        "Headless: `papermill notebooks/task_transfer.ipynb runs/task_transfer_out.ipynb -p train_csv ... "
        "-p image_dir ...`, or offline on a small imbalanced stand-in written from CIFAR-10: "
        "`-p demo_cifar_root ../shared/data/cifar10-subset` (any parameter below can be given with "
        "`-p name value`; lists with `-y \"models: [tv_resnet18]\"`)."),
    new_code_cell(SETUP),
    new_code_cell(PARAMS, metadata={"tags": ["parameters"]}),
    new_markdown_cell("Every training value is checked before any image is read, weight downloaded or run trained."),
    new_code_cell('''\
from labkit.transfer import plan_study, run_transfer_study

train_params = dict(epochs=epochs, lr=lr, optimizer=optimizer, scheduler=scheduler, batch_size=batch_size,
                    augment=augment, seed=seed, device=device)
plan_study(models, pretrained, weights, freeze_epochs, verbose=True, **train_params);'''),
    new_markdown_cell("## Data\nThe class counts per split are printed: note how much label 0 dominates."),
    new_code_cell('''\
from labkit.folder_data import load_image_folder, write_cifar_image_folder

if demo_cifar_root:  # the small imbalanced stand-in: 3 CIFAR-10 classes, the first one dominating
    demo = write_cifar_image_folder(demo_cifar_root, "data/cifar_imbalanced", {0: 500, 1: 120, 2: 75},
                                    {0: 45, 1: 12, 2: 8})
    train_csv, test_csv = f"{demo}/train.csv", f"{demo}/test.csv"
    image_dir, test_image_dir = f"{demo}/train", f"{demo}/test"
    image_col, label_col, suffix = "image", "label", ""
    class_names = open(f"{demo}/classes.txt").read().split()
    missing_weights = missing_weights or "skip"  # the demo runs offline: what needs ImageNet weights is skipped

data = load_image_folder(train_csv, test_csv, image_dir=image_dir, test_image_dir=test_image_dir,
                         image_col=image_col, label_col=label_col, suffix=suffix, class_names=class_names,
                         val_ratio=val_ratio, limit=limit, test_limit=test_limit, seed=seed,
                         image_size=image_size, crop_ratio=crop_ratio, imbalance=imbalance,
                         num_workers=num_workers)'''),
    new_code_cell('''\
images, labels = data.sample_images("train", n=8)
labkit.show_images(images, labels, data.classes, n=8, title="First training images (resized and cropped)");'''),
    new_markdown_cell("## Training: ResNet18/50 x pretrained/scratch\n"
                      "Each run prints the usual epoch lines and `Test Accuracy`; with `resume=True` a finished "
                      "run is read back instead of trained again."),
    new_code_cell('''\
study = run_transfer_study(data, models=models, pretrained=pretrained, weights=weights, run_dir=run_dir,
                           resume=resume, freeze_epochs=freeze_epochs, progress=progress,
                           missing_weights=missing_weights, start_over=start_over, **train_params)'''),
    new_markdown_cell("## Comparison\nBest validation accuracy, test accuracy and per-class test accuracy of "
                      "every run (also in `run_dir/comparison.csv` and `.md`)."),
    new_code_cell("study.table"),
    new_code_cell("labkit.notebook.show_png(study.files['curves'])"),
    new_markdown_cell("## Confusion matrices (test set)\nRows: true class, columns: predicted; raw counts, "
                      "then each row divided by its total (the per-class recall)."),
    new_code_cell('''\
for label in study.runs:
    print(label)
    labkit.notebook.show_png(study.files[f"{label} confusion"], study.files[f"{label} confusion normalized"])'''),
    new_markdown_cell(
        "## For the report\n"
        "- Pretrained vs scratch: how many epochs does each need, and how far apart are the test accuracies?\n"
        "- ResNet18 vs ResNet50: does the larger model pay off on this data?\n"
        "- Accuracy vs the majority-class baseline (always predicting label 0): which classes does each model "
        "actually recognise (confusion matrices, per-class accuracy)?\n"
        "- Class imbalance: compare `imbalance='none'` with the option used here (set `run_dir` to a new "
        "folder per option)."),
]


def build():
    nb = new_notebook(cells=CELLS, metadata=dict(METADATA))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"task-transfer-{i:02d}"  # stable ids: rebuilding gives the same file
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def main(argv):
    path = os.path.join(HERE, NAME)
    text = build()
    old = open(path, encoding="utf-8").read() if os.path.isfile(path) else None
    if "--check" in argv:
        print(("up to date: " if old == text else "out of date (run notebooks/build_transfer_notebook.py): ") + NAME)
        return 0 if old == text else 1
    if old != text:
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
    print(f"written: {NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
