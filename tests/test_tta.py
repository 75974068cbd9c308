"""Test-time augmentation over translations (``test_shift``), airbench's mirror x translate views."""
import json
import os

import pytest
import torch

import labkit
from labkit.config import TrainConfig
from labkit.errors import ConfigError
from labkit.evaluate import evaluate, shifted, views_of


def test_shifted_moves_the_image_and_reflects_the_edge():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    down = shifted(x, 1, 0)  # the view 1 pixel "down" the padded image: row i of the view is row i+1 of x
    assert torch.equal(down[0, 0, :3], x[0, 0, 1:])
    assert torch.equal(down[0, 0, 3], x[0, 0, 2])  # reflect: the last row's neighbour
    assert len(views_of(x, flip=True, shift=1)) == 10 and len(views_of(x, shift=1)) == 5
    assert len(views_of(x, flip=True)) == 2 and len(views_of(x)) == 1


def test_evaluate_averages_the_probabilities_of_every_view():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(5)).eval()
    x, y = torch.randn(8, 3, 6, 6), torch.randint(0, 5, (8,))
    model(x)
    got = evaluate(model, [(x, y)], device="cpu", flip=True, shift=1, return_preds=True)
    with torch.no_grad():
        probs = sum(model(v).softmax(1) for v in views_of(x, True, 1)) / 10
    assert list(got["preds"]) == probs.argmax(1).tolist()
    assert got["loss"] == pytest.approx(torch.nn.functional.nll_loss(probs.log(), y).item(), rel=1e-4)


def test_fit_records_and_remeasures_test_shift(subset, tmp_path, capsys):
    small = labkit.load_cifar10(subset.info["source"], limit=300, test_limit=100, device="cpu", verbose=False)
    run = labkit.fit("simplecnn", small, epochs=1, run_dir=tmp_path, run_name="tta", progress=False, test_flip=True,
                     test_shift=1)
    assert "Test-time augmentation: each test image's prediction averages it, its copies moved by 1 pixel up, " \
           "down, left and right, and the mirror image of each (10 views)" in capsys.readouterr().out
    result = json.load(open(os.path.join(run.run_dir, "result.json")))
    assert result["test_shift"] == 1 and result["test_flip"] is True
    again = labkit.fit("simplecnn", small, epochs=1, run_dir=tmp_path, run_name="tta", progress=False, test_flip=True,
                       resume=True)  # the same run, test_shift back to 0: measured again, not trained
    assert "test_shift was 1, now 0: the test set is measured again" in capsys.readouterr().out
    assert json.load(open(os.path.join(again.run_dir, "result.json")))["test_shift"] == 0


def test_test_shift_checked():
    with pytest.raises(ConfigError, match="test_shift=9 moves a test image"):
        TrainConfig.from_params("simplecnn", {"test_shift": 9, "device": "cpu"})
