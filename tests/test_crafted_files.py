"""Files a student or TA is sent cannot run code when labkit reads them: CIFAR-10 batches, torchvision's
cached ImageNet weights, run folders' checkpoints (issue 23, cases 7 and 8 and their neighbours)."""
import os
import re
import pickle
import shutil

import numpy as np
import pytest
import torch

import labkit
import labkit.models
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


class SystemCall:
    """A pickle asking to run os.system (never run: the command would only create a marker file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


ASKS = r"asks to run {}, so it was not loaded"


def _refused_unrun(call, asked, marker):
    with pytest.raises(CheckpointError, match=ASKS.format(asked)) as e:
        call()
    assert "weights_only" not in str(e.value) and "corrupt" not in str(e.value)  # never torch's unsafe advice
    assert not marker.exists()


def test_a_crafted_checkpoint_is_refused_unrun(tmp_path):
    """Issue 31 row 15: named as a crafted file (what it asks to run), never as corrupt, never with torch's
    advice to re-run torch.load with weights_only=False (the one step that would run it)."""
    marker = tmp_path / MARK
    torch.save({"format": "labkit-model-1", "model_name": "simplecnn", "state_dict": Payload(str(marker))},
               tmp_path / "best_model.pth")
    _refused_unrun(lambda: labkit.load_model(tmp_path / "best_model.pth"), r"io\.open", marker)
    _refused_unrun(lambda: labkit.get_model("tv_resnet18", weights=str(tmp_path / "best_model.pth")), r"io\.open",
                   marker)
    with open(tmp_path / "plain.pth", "wb") as f:  # a bare pickle (not torch's zip), protocol 4
        pickle.dump({"state_dict": SystemCall(str(marker))}, f, protocol=4)
    _refused_unrun(lambda: labkit.load_model(tmp_path / "plain.pth"), r"os\.system", marker)


def test_a_crafted_teacher_or_training_state_is_refused_unrun(subset_root, tmp_path):
    """Row 15's teacher= and last.pth: the same words."""
    marker = tmp_path / MARK
    torch.save({"format": "labkit-model-1", "model_name": "simplecnn", "state_dict": SystemCall(str(marker))},
               tmp_path / "teacher.pth")
    small = labkit.load_cifar10(subset_root, limit=100, test_limit=20, device="cpu", verbose=False)
    kw = dict(epochs=1, batch_size=32, progress=False, verbose=False, run_dir=tmp_path / "runs")
    _refused_unrun(lambda: labkit.fit("simplecnn", small, teacher=str(tmp_path / "teacher.pth"), **kw), r"os\.system",
                   marker)
    assert not (tmp_path / "runs").exists()
    run = labkit.fit("simplecnn", small, run_name="r", **kw)
    torch.save({"format": "labkit-train-state-1", "epoch": 1, "model": SystemCall(str(marker))},
               os.path.join(run.run_dir, "last.pth"))
    for name in ("result.json", "history.json", "best_model.pth"):  # an unfinished run: last.pth is all it has
        os.remove(os.path.join(run.run_dir, name))
    # never loaded: set aside as a state that cannot be used (issue 34: a run resumes from whatever is whole, here
    # nothing, so it starts at epoch 1 with the crafted file kept in earlier-1/), the log naming what it asked for
    labkit.fit("simplecnn", small, run_name="r", resume=True, **kw)
    log = open(os.path.join(run.run_dir, "log.txt"), encoding="utf-8").read()
    assert re.search(r"last\.pth asks to run os\.system, so it was not loaded", log)
    assert "weights_only" not in log and not marker.exists()
    assert os.path.isfile(os.path.join(run.run_dir, "earlier-1", "last.pth"))


@pytest.mark.parametrize("num_classes", [-5, "ten", 2**40, True, 2.5])
def test_model_checkpoint_metadata_is_checked(tmp_path, num_classes):
    """Row 16: num_classes -5 / "ten" / 2**40 in a checkpoint's metadata: a CheckpointError naming the field,
    no raw error, no 256 TiB allocation."""
    path = tmp_path / "best_model.pth"
    labkit.models.save_model(labkit.get_model("simplecnn"), path, "simplecnn", num_classes=num_classes)
    with pytest.raises(CheckpointError, match=r"metadata field num_classes is .*was not loaded"):
        labkit.load_model(path)
    torch.save({"format": "labkit-model-1", "model_name": "simplecnn", "model_kwargs": {"dropout": "x" * 3},
                "state_dict": {}}, path)
    with pytest.raises(CheckpointError, match=r"metadata .*builds no model"):
        labkit.load_model(path)
