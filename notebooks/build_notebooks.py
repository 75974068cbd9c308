"""Writes the lab notebooks (unexecuted) from the cell texts below: one source for all of them.

    .venv/bin/python notebooks/build_notebooks.py          # rewrite the .ipynb files
    .venv/bin/python notebooks/build_notebooks.py --check  # exit 1 if a notebook differs
    .venv/bin/python notebooks/build_notebooks.py --repo https://github.com/COURSE/labkit
        # TA, once: the git URL every notebook's setup cell clones in Colab (stored in
        # notebooks/labkit_repo.txt; also rebuilds task_transfer.ipynb and reports/lab2_report.ipynb)

Each notebook: a Colab setup cell, a cell tagged ``parameters`` (papermill injects its
``-p name value`` after it), then thin cells of a few labkit calls. task_transfer.ipynb is
not built here.
"""
import argparse
import json
import os
import runpy
import subprocess
import sys

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from labkit.presets import get_preset, preset_info  # noqa: E402  (task 1's defaults: one source)

METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
    "accelerator": "GPU",  # Colab opens it on a GPU runtime
    "colab": {"provenance": [], "gpuType": "T4"},
}

ROOT = os.path.dirname(HERE)
REPO_FILE = os.path.join(HERE, "labkit_repo.txt")  # the course's labkit git URL: the one place it is set


def labkit_repo():
    """The git URL the setup cells clone in Colab ("" until a TA sets it with --repo URL)."""
    if not os.path.isfile(REPO_FILE):
        return ""
    with open(REPO_FILE, encoding="utf-8") as f:
        return f.read().strip()


def bootstrap_source():
    """labkit/bootstrap.py, copied verbatim into every setup cell (it runs before labkit imports)."""
    with open(os.path.join(ROOT, "labkit", "bootstrap.py"), encoding="utf-8") as f:
        return f.read().rstrip("\n")


def setup_cell(then, repo=None):
    """The first cell of every notebook (lab notebooks and the report): a Colab form with the two
    settings a student may change, labkit/bootstrap.py, then ``then`` (labkit.notebook.setup...)."""
    repo = labkit_repo() if repo is None else repo
    return f'''\
# @title Setup: get labkit, keep runs on Google Drive, check the GPU {{ display-mode: "form" }}
LABKIT_REPO = {json.dumps(repo)}  # @param {{type:"string"}}
runs_on_drive = True  # @param {{type:"boolean"}}
# LABKIT_REPO: the course's labkit git URL (set by the TA; empty: labkit.zip or a labkit folder on Drive).
# runs_on_drive: in Colab, look for labkit on Google Drive and keep runs/ there (a disconnect loses no run).
# Below: labkit/bootstrap.py (finds labkit), then labkit's own setup (packages, Drive, GPU, precision).
{bootstrap_source()}


find_labkit(LABKIT_REPO, drive=runs_on_drive)
{then}'''


# Makes labkit importable (a checkout, a zip or folder in /content or on Drive, a clone), installs what
# Colab lacks, links runs/ to Drive, reports GPU and precision. The report template has its own `then`.
SETUP = setup_cell("import labkit.notebook\nlabkit.notebook.setup(runs_on_drive=runs_on_drive);")

DATA_PARAMS = '''\
data_root = "./data"      # CIFAR-10 is downloaded here if missing; offline: "../shared/data/cifar10-subset"
download = True           # False: fail with a clear message instead of downloading'''

# The Lab2 handout's training settings (task 1, task 2's baseline, the VGG exercises)
NORMALIZE_PARAMS = '''\
normalize = "computed"    # off | fixed | computed (per-channel mean/std of the training split)
norm_ratio = 1.0          # share of the training images the mean/std is computed from'''

HANDOUT_RECIPE = '''\
epochs = 30
batch_size = 128
optimizer = "sgd"         # sgd | adam | adamw
lr = 0.01
momentum = 0.9
weight_decay = 5e-4
scheduler = "none"        # none (constant lr) | step | multistep | cosine | onecycle | cyclic
''' + NORMALIZE_PARAMS

COMMON_TAIL = '''\
val_ratio = 0.1           # share of the training images held out for validation (model selection)
seed = 0                  # train/validation split, initialization, data order, augmentation
device = "auto"           # auto | cuda | cpu
run_dir = "runs"          # in Colab runs/ links to Google Drive (the setup cell's runs_on_drive)
limit = None              # use only this many training images for quick runs; None: all
test_limit = None         # use only this many test images; None: all
progress = True           # tqdm bar inside each epoch'''


def md(text):
    return nbformat.v4.new_markdown_cell(text)


def code(text, tags=None):
    cell = nbformat.v4.new_code_cell(text)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def parameters(text):
    return code("# Parameters (papermill: -p name value). Defaults are the lab's settings.\n" + text,
                tags=["parameters"])


HOW_TO_RUN = '''\
**Run it:** in Colab, *Runtime > Run all* (the first cell finds labkit, keeps runs on Google Drive and checks the GPU).
Headless: `papermill notebooks/{nb} runs/{out} -p data_root ../shared/data/cifar10-subset`
(any parameter below can be given with `-p name value`; lists with `-y "name: [a, b]"`).'''

TASK1_COMMENTS = {
    "optimizer": "sgd | adam | adamw",
    "lr": "the one-cycle schedule's peak (it warms up from lr/25 over the first 30% of the steps)",
    "scheduler": "none (constant lr) | step | multistep | cosine | onecycle | cyclic",
    "label_smoothing": "0: plain cross-entropy",
    "augment": 'True: random crop (4-pixel padding) + flip | "flip": flip only | False',
    "test_flip": "True: the test accuracy averages each test image with its mirror image",
}


def task1_recipe():
    """Task 1's default training settings as parameter lines, written from labkit.presets' "task1"
    (the one place they are set; README and the benchmarks read the same preset)."""
    lines = []
    for name, value in get_preset("task1").items():
        text = f"{name} = " + (f'"{value}"' if isinstance(value, str) else f"{value:g}" if isinstance(value, float)
                               else repr(value))
        if name in TASK1_COMMENTS:
            text = f"{text:<25} # {TASK1_COMMENTS[name]}"
        lines.append(text)
    return "\n".join(lines + [NORMALIZE_PARAMS])


TASK1_WHY = f"""\
**Why the default model is `{preset_info("task1").model}`, not the handout's exact net.** The handout's net
(`simplecnn`, printed first below: 60,554 parameters, `FLOPs: 5840896.0`) is too small for the 80% line
in 30 epochs: on the full CIFAR-10 (JPEG copy) it reached 74.3% with this notebook's recipe (it underfits
with crop + flip: 69% training accuracy) and about 73% with the handout's. `{preset_info("task1").model}`
keeps the handout's rule, the same two conv-BN-ReLU blocks (3→32, 32→64) with max-pooling, dropout and
one fully connected layer and no further layers; it widens the convolutions from 3x3 to 7x7 and drops
0.25 instead of 0.5 of the features. With flip-only augmentation, the one-cycle recipe below and
test-time flips (each test image's prediction averages it and its mirror image: `test_flip = True`) it
reached 80.4% on the full CIFAR-10 (JPEG copy; 79.1% without the test-time flips, 81.8% on 500 lossless
test images; README, "Results at full size"). To train the exact net, set `model = "simplecnn"` (one
parameter); `test_flip = False` gives the plain test accuracy."""


def task1():
    nb = "task1_simplecnn.ipynb"
    return [
        md("# Lab 2, task 1: SimpleCNN on CIFAR-10\n\n"
           "The model's layer table (torchsummary) and FLOPs/parameters (thop), training with the "
           "per-epoch lines, the test accuracy of the best checkpoint (by validation accuracy) and "
           "the four curves: training/validation accuracy and loss per epoch.\n\n" + TASK1_WHY + "\n\n"
           + HOW_TO_RUN.format(nb=nb, out="task1_out.ipynb")),
        code(SETUP, tags=["hide-input"]),  # the PDF shows what it printed, not the bootstrap
        parameters(DATA_PARAMS + f'''
model = "{preset_info("task1").model}"    # task 1's default net (above); "simplecnn": the handout's exact net
''' + task1_recipe() + '''
''' + COMMON_TAIL + '''
run_name = None           # None: a new folder runs/<model>-<date>-<time>
resume = False            # True: continue run_name (or this model's latest run in run_dir)
start_over = False        # with resume: start that run (again) at epoch 1 if it cannot be found or continued'''),
        md("Every value is checked before anything is downloaded or trained."),
        code('''\
train_params = dict(epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, momentum=momentum,
                    nesterov=nesterov, weight_decay=weight_decay, scheduler=scheduler,
                    label_smoothing=label_smoothing, augment=augment, test_flip=test_flip, seed=seed,
                    device=device)
data_params = dict(data_root=data_root, download=download, normalize=normalize, norm_ratio=norm_ratio,
                   limit=limit, test_limit=test_limit, val_ratio=val_ratio, seed=seed, device=device)
labkit.notebook.check_params(model, train_params, data_params, resume=resume, start_over=start_over,
                             progress=progress);'''),
        md("## The handout's model: layer table, FLOPs and parameters\n\n"
           "The net the handout describes, as it asks for it (torchsummary, thop)."),
        code('labkit.print_summary("simplecnn")\nflops, params = labkit.profile_flops("simplecnn")'),
        md("## The model trained here: its code, layer table, FLOPs and parameters"),
        code("net = labkit.get_model(model)\nlabkit.show_source(net)  # the code of the model's class\n"
             "labkit.print_summary(net)\nflops, params = labkit.profile_flops(net)"),
        md("## Data"),
        code("data = labkit.load_cifar10(**data_params)"),
        md("## Training\n\nPer epoch: learning rate, training loss/accuracy, validation loss/accuracy. "
           "The best epoch's weights (by validation accuracy) are reloaded for the test set."),
        code("run = labkit.fit(model, data, run_dir=run_dir, run_name=run_name, resume=resume, start_over=start_over,\n"
             "                 progress=progress, **train_params)\nrun.summary()"),
        md("## Curves: epoch vs training/validation accuracy and loss"),
        code('labkit.plot_history(run, title=f"{model}", save=f"{run.run_dir}/curves.png");'),
        md("## Test set: confusion matrix and per-class accuracy (best checkpoint)"),
        code('labkit.plot_confusion_matrix(run.confusion_matrix, data.classes, normalize=True,\n'
             '                             save=f"{run.run_dir}/confusion_matrix.png")\nrun.per_class'),
    ]


def task2():
    nb = "task2_resnet18.ipynb"
    return [
        md("# Lab 2, task 2: ResNet18 and what each training choice is worth\n\n"
           "A baseline ResNet18 (from `resnet18.py`) and the ablations, each against the baseline: "
           "input normalization (off / mean-std computed over all or a sampled share of the training "
           "images), data augmentation (crop+flip off), the base learning rate, and the update strategy "
           "(constant, step decay, cosine, one-cycle, cyclical). One comparison table, the curves of each "
           "study overlaid on the baseline's, and each run's own curves.\n\n"
           "Re-running the notebook trains only what is not finished (`resume = True`): after a "
           "disconnect, run it again.\n\n"
           + HOW_TO_RUN.format(nb=nb, out="task2_out.ipynb")
           + "\nQuick look at a subset of the studies: `-y \"ablations: [lr]\" -p epochs 5`."),
        code(SETUP, tags=["hide-input"]),  # the PDF shows what it printed, not the bootstrap
        parameters(DATA_PARAMS + '''
model = "resnet18"        # the baseline's settings: every ablation changes one of them
''' + HANDOUT_RECIPE + '''
augment = True            # random crop (4-pixel padding) + horizontal flip
''' + COMMON_TAIL + '''
experiment = "task2_ablations"  # the runs go to run_dir/experiment/<configuration>
resume = True             # reuse finished configurations, continue an interrupted one
start_over = False        # with resume: a run that cannot continue (last.pth lost) trains again; old files kept
# the ablations, each against the baseline
ablations = ["normalization", "augmentation", "lr", "scheduler"]
lr_values = [0.1, 0.01, 0.001]
schedulers = ["none", "step", "cosine", "onecycle", "cyclic"]
sampled_norm_ratio = 0.3  # the sampled-mean/std variant of the normalization study'''),
        md("## ResNet18 from `resnet18.py`\n\nThe self-contained file of the hand-in; labkit trains the same class."),
        code('from resnet18 import *\n\nnet = ResNet18()\nlabkit.show_source(net)  # resnet18.py: BasicBlock, make_layer, '
             'ResNet, ResNet18\nprint(f"ResNet18: {sum(p.numel() for p in net.parameters()):,} parameters")'),
        code("labkit.print_summary(model)\nflops, params = labkit.profile_flops(model)"),
        md("## Baseline and ablations\n\nEvery configuration is checked before the first one trains. "
           "Each run gets its own folder `run_dir/experiment/<name>`."),
        code('''\
from labkit.experiments import run_ablations

exp = run_ablations(model, ablations, lr_values=lr_values, schedulers=schedulers,
                    sampled_norm_ratio=sampled_norm_ratio, experiment=experiment, run_dir=run_dir, resume=resume,
                    data_root=data_root, download=download, normalize=normalize, norm_ratio=norm_ratio,
                    limit=limit, test_limit=test_limit, val_ratio=val_ratio, progress=progress, epochs=epochs,
                    batch_size=batch_size, optimizer=optimizer, lr=lr, momentum=momentum,
                    weight_decay=weight_decay, scheduler=scheduler, augment=augment, seed=seed, device=device,
                    start_over=start_over)'''),
        md("## Comparison\n\nBest validation accuracy, test accuracy (best checkpoint), epochs and training "
           "time of every configuration (also in `comparison.csv` / `comparison.md` in the experiment folder)."),
        code("from labkit.report import readable\n\nreadable(exp.table)  # headers with units"),
        md("## Each study against the baseline"),
        code("exp.show_figures()"),
        md("## Each run's curves"),
        code("exp.show_runs()"),
    ]


def task3():
    nb = "task3_resnet_depth.ipynb"
    return [
        md("# ResNet-20/56/110 vs plain nets: the degradation problem\n\n"
           "He et al., *Deep Residual Learning for Image Recognition* (CVPR 2016), section 4.2, "
           "with the paper's recipe as the default: SGD lr 0.1, momentum 0.9, weight decay 1e-4, "
           "batch 128, lr divided by 10 at epochs 81 and 122 of 164 (scaled when `epochs` is smaller, "
           "e.g. 82 epochs: 41 and 61), kaiming initialization, 4-pixel-pad random crop + flip, "
           "per-channel normalization. Training loss and test error are recorded every epoch; per "
           "depth, the plain net and the ResNet are overlaid (the paper's figure 6). The final table "
           "puts the test error next to the paper's (8.75 / 6.97 / 6.43% for ResNet-20/56/110). "
           "Bonus: pre-activation ResNets (He et al., *Identity Mappings in Deep Residual Networks*, 2016).\n\n"
           "The paper trains ResNet-110 at lr 0.01 for the first ~400 iterations (warm-up); this "
           "recipe has no warm-up. Validation (10% of the training images) picks the best checkpoint; "
           "the paper reports the last epoch's test error (`final_test_err`).\n\n"
           + HOW_TO_RUN.format(nb=nb, out="task3_out.ipynb")
           + "\nShorter: `-p epochs 82 -y \"depths: [20, 56]\"`."),
        code(SETUP, tags=["hide-input"]),  # the PDF shows what it printed, not the bootstrap
        parameters(DATA_PARAMS + '''
depths = [20, 56, 110]    # of 20, 32, 44, 56, 110
kinds = ["plain", "resnet"]
shortcut = "A"            # A: zero-padding identity (the paper's CIFAR choice) | B: 1x1 projection
preact_depths = [110]     # bonus: pre-activation vs original ResNet at these depths ([] skips it)
epochs = 164
milestones = None         # None: 81 and 122 of 164, scaled to epochs
batch_size = 128
optimizer = "sgd"
lr = 0.1
momentum = 0.9
weight_decay = 1e-4
scheduler = "multistep"
gamma = 0.1               # lr factor at each milestone
normalize = "computed"    # per-channel mean/std of the training split
norm_ratio = 1.0
augment = True            # random crop (4-pixel padding) + horizontal flip
''' + COMMON_TAIL + '''
experiment = "task3_depth"  # the runs go to run_dir/experiment/<model>
resume = True             # reuse finished runs, continue an interrupted one
start_over = False        # with resume: a run that cannot continue (last.pth lost) trains again; old files kept'''),
        md("Every value is checked before anything trains (the bonus's depths too)."),
        code('''\
from labkit.config import as_list
from labkit.experiments import depth_variants, run_depth_study, scale_milestones

preact_depths = as_list("preact_depths", preact_depths, int)
if preact_depths:
    depth_variants(preact_depths, ["resnet", "preact"], shortcut)  # checks the bonus's depths now
print("lr divided by 10 after epochs", milestones or scale_milestones(epochs), "of", epochs)
common = dict(epochs=epochs, milestones=milestones, batch_size=batch_size, optimizer=optimizer, lr=lr,
              momentum=momentum, weight_decay=weight_decay, scheduler=scheduler, gamma=gamma, augment=augment,
              seed=seed, device=device, shortcut=shortcut, experiment=experiment, run_dir=run_dir, resume=resume,
              data_root=data_root, download=download, normalize=normalize, norm_ratio=norm_ratio, limit=limit,
              test_limit=test_limit, val_ratio=val_ratio, progress=progress, start_over=start_over)'''),
        md("## Plain nets and ResNets"),
        code("exp = run_depth_study(depths, kinds, **common)"),
        md("## Training loss and test error per epoch, plain vs ResNet, per depth"),
        code("exp.show_figures()"),
        md("## Test error against the paper's\n\n`test_err`: best-validation checkpoint; "
           "`final_test_err`: last epoch; `paper_test_err`: the paper's Table 6 (ResNets only)."),
        code('exp.table[["run", "kind", "depth", "epochs", "best_val_acc", "test_err", "final_test_err",\n'
             '           "paper_test_err", "train_seconds"]]'),
        md("## Bonus: pre-activation ResNets\n\nSame recipe; the original ResNets trained above are reused."),
        code('bonus = run_depth_study(preact_depths, ["resnet", "preact"], tag="preact_vs_resnet", **common) '
             'if preact_depths else None'),
        code("if bonus is not None:\n    bonus.show()"),
    ]


def exercise():
    nb = "exercise_vgg.ipynb"
    return [
        md("# Exercises: CIFAR-10 images, a small CNN, VGG11 and VGG16\n\n"
           "The first 8 training images with their labels; then the small CNN of the exercise, "
           "VGG11 (one fully connected layer) and VGG16 (three fully connected layers with dropout 0.5), "
           "each trained and tested, compared in one table.\n\n"
           + HOW_TO_RUN.format(nb=nb, out="exercise_out.ipynb")),
        code(SETUP, tags=["hide-input"]),  # the PDF shows what it printed, not the bootstrap
        parameters(DATA_PARAMS + '''
models = ["simplecnn", "vgg11", "vgg16"]
''' + HANDOUT_RECIPE + '''
augment = True            # random crop (4-pixel padding) + horizontal flip
''' + COMMON_TAIL + '''
experiment = "exercise_vgg"  # the runs go to run_dir/experiment/<model>
resume = True             # reuse finished runs, continue an interrupted one
start_over = False        # with resume: a run that cannot continue (last.pth lost) trains again; old files kept'''),
        md("## Data and the first 8 training images"),
        code("data = labkit.load_cifar10(data_root, download=download, normalize=normalize, norm_ratio=norm_ratio,\n"
             "                          limit=limit, test_limit=test_limit, val_ratio=val_ratio, seed=seed, device=device)"),
        code('raw = labkit.read_cifar_folder(data.info["source"], verbose=False)  # the files\' order\n'
             'labkit.show_images(raw["train_x"], raw["train_y"], raw["classes"], n=8);'),
        md("## The models"),
        code('''\
from labkit.config import as_list
from labkit.experiments import model_variants, run_experiments

for m in as_list("models", models):
    print(f"{m}: {labkit.count_params(labkit.get_model(m)):,} parameters")
labkit.get_model("vgg16").classifier  # three fully connected layers, dropout 0.5'''),
        md("## Training and testing each model"),
        code("exp = run_experiments(model_variants(models), data=data, experiment=experiment, run_dir=run_dir,\n"
             "                      resume=resume, data_root=data_root, normalize=normalize, norm_ratio=norm_ratio,\n"
             "                      limit=limit, test_limit=test_limit, val_ratio=val_ratio, seed=seed, device=device,\n"
             "                      progress=progress, epochs=epochs, batch_size=batch_size, optimizer=optimizer,\n"
             "                      lr=lr, momentum=momentum, weight_decay=weight_decay, scheduler=scheduler,\n"
             "                      augment=augment, start_over=start_over)"),
        md("## Comparison"),
        code("exp.table"),
        code("exp.show_figures()\nexp.show_runs()"),
    ]


NOTEBOOKS = {"task1_simplecnn.ipynb": task1, "task2_resnet18.ipynb": task2, "task3_resnet_depth.ipynb": task3,
             "exercise_vgg.ipynb": exercise}


def build(name):
    nb = nbformat.v4.new_notebook(metadata=METADATA)
    nb.cells = NOTEBOOKS[name]()
    stem = name.split(".")[0].replace("_", "-")
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{stem}-{i:02d}"  # stable ids: rebuilding gives the same file
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def set_repo(url):
    """Store the course's git URL (refusing a placeholder) and rebuild every notebook with it."""
    url = url.strip()
    if url and runpy.run_path(os.path.join(ROOT, "labkit", "bootstrap.py"))["is_placeholder"](url):
        print(f"--repo {url!r} is a placeholder, not a repository URL: pass the course's labkit URL, "
              f"e.g. --repo https://github.com/COURSE/labkit")
        return 2
    with open(REPO_FILE, "w", encoding="utf-8") as f:
        f.write(url + "\n")
    print(f"LABKIT_REPO = {url!r} (in {os.path.relpath(REPO_FILE, ROOT)}); rebuilding the notebooks")
    for script in ("notebooks/build_notebooks.py", "notebooks/build_transfer_notebook.py", "reports/build_report.py"):
        subprocess.run([sys.executable, os.path.join(ROOT, script)], check=True)
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description="Write the lab notebooks from notebooks/build_notebooks.py.")
    ap.add_argument("--check", action="store_true", help="exit 1 if a notebook differs from its build")
    ap.add_argument("--repo", help="set the labkit git URL the setup cells clone in Colab, then rebuild all")
    args = ap.parse_args(argv)
    if args.repo is not None:
        return set_repo(args.repo)
    check = args.check
    stale = []
    for name in NOTEBOOKS:
        path = os.path.join(HERE, name)
        text = build(name)
        old = open(path, encoding="utf-8").read() if os.path.isfile(path) else None
        if old != text:
            stale.append(name)
            if not check:
                tmp = path + ".tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(tmp, path)
    if check and stale:
        print("out of date (run notebooks/build_notebooks.py):", ", ".join(stale))
        return 1
    print(("up to date: " if check else "written: ") + ", ".join(stale if not check else NOTEBOOKS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
