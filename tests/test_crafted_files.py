"""Files a student or TA is sent cannot run code when labkit reads them: CIFAR-10 batches, torchvision's
cached ImageNet weights, run folders' checkpoints (issue 23, cases 7 and 8 and their neighbours)."""
import os
import pickle
import shutil

import numpy as np
import pytest
import torch

import labkit
from labkit.errors import CheckpointError, DataError, DataMissingError

MARK = "LABKIT_CRAFTED_FILE_RAN"


class Payload:
    """Unpickling it runs code: it creates a marker file (os.system would do anything else)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def cifar_copy(subset_root, tmp_path):
    dst = tmp_path / "cifar-10-batches-py"
    shutil.copytree(os.path.join(subset_root, "cifar-10-batches-py"), dst)
    return dst


def test_a_crafted_cifar_batch_is_refused_unrun(cifar_copy, tmp_path):
    marker = tmp_path / MARK
    with open(cifar_copy / "data_batch_3", "wb") as f:
        pickle.dump({b"data": Payload(str(marker)), b"labels": [0]}, f, protocol=2)
    with pytest.raises(DataError, match=r"data_batch_3 is not a CIFAR-10 batch: it asks to run .*was not loaded"):
        labkit.load_cifar10(str(tmp_path), download=False, device="cpu", verbose=False)
    assert not marker.exists()


@pytest.mark.parametrize("content,message", [
    ([1, 2, 3], r"holds a list, not a CIFAR-10 batch"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}, r"'labels' are not arrays of numbers"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [[0, 1], [1, 0]]}, r"'labels' has shape \(2, 2\)"),
    ({b"images": 1}, r"is not a CIFAR-10 batch \(keys \['images'\]"),
])
def test_batches_of_the_wrong_shape_name_the_file(cifar_copy, tmp_path, content, message):
    with open(cifar_copy / "data_batch_2", "wb") as f:
        pickle.dump(content, f, protocol=2)
    with pytest.raises(DataError, match=r"data_batch_2.*" + message):
        labkit.load_cifar10(str(tmp_path), download=False, device="cpu", verbose=False)


def test_a_batch_replaced_by_a_folder(cifar_copy, tmp_path):
    os.remove(cifar_copy / "test_batch")
    os.mkdir(cifar_copy / "test_batch")
    with pytest.raises(DataError, match=r"test_batch is a folder"):
        labkit.load_cifar10(str(tmp_path), download=False, device="cpu", verbose=False)


def test_crafted_hub_weights_are_refused_unrun(tmp_path, monkeypatch):
    """README tells students to copy resnet18-f37072fd.pth into $TORCH_HOME/hub/checkpoints by hand."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("no download here"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    marker = tmp_path / MARK
    torch.save({"conv1.weight": Payload(str(marker))}, cache / "resnet18-f37072fd.pth")
    with pytest.raises(DataMissingError, match=r"SHA-256 does not start with f37072fd.*not loaded"):
        labkit.get_model("tv_resnet18", weights="imagenet")
    assert not marker.exists()


def test_a_crafted_checkpoint_is_refused_unrun(tmp_path):
    marker = tmp_path / MARK
    torch.save({"format": "labkit-model-1", "model_name": "simplecnn", "state_dict": Payload(str(marker))},
               tmp_path / "best_model.pth")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        labkit.load_model(tmp_path / "best_model.pth")
    with pytest.raises(CheckpointError):
        labkit.get_model("tv_resnet18", weights=str(tmp_path / "best_model.pth"))
    assert not marker.exists()
