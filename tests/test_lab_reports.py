"""The depth lab's and the transfer lab's reports (reports/resnet_report.ipynb, reports/transfer_report.ipynb)
executed with papermill against tiny runs trained here on the shared CIFAR-10 subset: their spec's sections,
tables and figures, read from the runs."""
import contextlib
import io
import os

import nbformat
import pytest
import torch
import torchvision

from labkit.studies import run_depth_study
from labkit.folder_data import load_image_folder, write_cifar_image_folder
from labkit.studies import run_transfer_study

pytestmark = pytest.mark.slow
papermill = pytest.importorskip("papermill")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(limit=200, test_limit=50, epochs=2, progress=False, device="cpu")


def execute(name, out_dir, params):
    out = os.path.join(str(out_dir), name)
    papermill.execute_notebook(os.path.join(REPO, "reports", name), out, parameters=params, cwd=REPO,
                               progress_bar=False, kernel_name="python3")
    nb = nbformat.read(out, as_version=4)
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outs if o.get("output_type") == "error"]
    md = "\n".join(o.get("data", {}).get("text/markdown", "") for o in outs)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return nb, md, text, sum("image/png" in o.get("data", {}) for o in outs)


def test_depth_report(subset_root, tmp_path):
    with contextlib.redirect_stdout(io.StringIO()):
        run_depth_study([20], ["plain", "resnet"], run_dir=tmp_path, data_root=subset_root, **TINY)
    nb, md, text, images = execute("resnet_report.ipynb", tmp_path, {"run_dir": str(tmp_path)})
    for section in ("## 1. Introduction", "## 2. Experiment setup", "### 2.2 Models", "### 2.3 Training hyper",
                    "## 3. Results", "Training loss and test error per epoch", "## 4. Discussion"):
        assert section in text, section
    assert images == 2  # plain vs ResNet at each depth (training loss, test error), and He et al.'s figure 6
    assert "| plain-20 | 20 | 3 / 3 / 3 |" in md and "| ResNet-20 | 20 | 3 / 3 / 3 |" in md
    assert "| 269,722 |" in md  # ResNet-20's parameters, with separators
    assert "| conv-BN-ReLU-conv-BN, ReLU |" in md and "| conv-BN-ReLU-conv-BN + shortcut, ReLU |" in md
    assert "| ResNet-20 | 2 |" in md and "| 8.75 |" in md  # the final test error beside the paper's
    for setting in ("learning rate", "multistep", "weight decay", "momentum", "batch size", "test-time flips"):
        assert setting in md, setting
    assert "**Figure 1.**" in md and "**Figure 2.**" in md and "**Table 3.**" in md
    assert "Not run" in md  # no pre-activation bonus here
    assert str(tmp_path) not in md


@pytest.fixture(scope="module")
def transfer_runs(subset_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    folder = write_cifar_image_folder(subset_root, root / "png", {0: 60, 1: 20, 2: 12}, {0: 20, 1: 6, 2: 4})
    torch.manual_seed(1)
    weights = str(root / "r18.pth")
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    data = load_image_folder(os.path.join(folder, "train.csv"), os.path.join(folder, "test.csv"),
                             os.path.join(folder, "train"), os.path.join(folder, "test"), image_col="image",
                             label_col="label", suffix="", image_size=32, crop_ratio=1.0, num_workers=0,
                             verbose=False)
    with contextlib.redirect_stdout(io.StringIO()):
        run_transfer_study(data, models=["tv_resnet18"], weights=weights, run_dir=root / "runs", epochs=1,
                           batch_size=16, progress=False, eval_batch_size=64, verbose=False)
    return root


def test_transfer_report(transfer_runs):
    nb, md, text, images = execute("transfer_report.ipynb", transfer_runs, {"run_dir": str(transfer_runs / "runs")})
    for section in ("## 1. Introduction", "## 2. Experiment setups", "ResNet18 and ResNet50", "The data loader",
                    "Evaluation", "Highest accuracies: pretrained vs from scratch", "Comparison figures",
                    "Confusion matrices", "## 4. Discussion"):
        assert section in text, section
    assert images == 2  # the curves, and every run's confusion matrix side by side
    assert "| tv_resnet18 pretrained |" in md and "| tv_resnet18 scratch |" in md
    assert "**tv_resnet18**: pretrained" in md and "points on 30 test images" in md
    assert "**Figure 2.** Test confusion matrix of each run" in md
    assert "11,178,051" in md  # ResNet18 with a 3-class head
