"""Mistyped papermill parameters fail fast, in the cell that checks them, with labkit's message."""
import os

import papermill as pm
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = [
    ("task1_simplecnn.ipynb", {"lr": -1}, "ConfigError", r"lr must be > 0, got -1"),
    ("task2_resnet18.ipynb", {"model": "resnet19"}, "ConfigError",
     r"unknown model 'resnet19'\. Did you mean 'resnet18'\?"),
    ("task1_simplecnn.ipynb", {"epochs": "ten"}, "ConfigError", r"epochs must be a number, got the text 'ten'"),
    ("task3_resnet_depth.ipynb", {"scheduler": "cosin"}, "ConfigError", r"Did you mean 'cosine'"),
    ("task1_simplecnn.ipynb", {"limit": 999999}, "ConfigError", r"limit=999999 is larger than the 5170 images"),
    # issue 15: each refused before training, with the fix
    ("task1_simplecnn.ipynb", {"val_ratio": 1}, "ConfigError", r"val_ratio must be < 1, got 1"),
    ("task1_simplecnn.ipynb", {"device": "gpu"}, "ConfigError", r"unknown device 'gpu' \('gpu' is called 'cuda'"),
    ("task1_simplecnn.ipynb", {"resume": True, "run_name": "task1-typo"}, "ConfigError",
     r"resume=True, but there is no run 'task1-typo' in .*resume=False to start a new run"),
    ("task1_simplecnn.ipynb", {"run_name": "../outside"}, "ConfigError", r"run_name must be one folder name"),
    # issue 23: a mistyped parameter name is not ignored
    ("task1_simplecnn.ipynb", {"learning_rate": 0.1}, "ConfigError",
     r"papermill passed parameter\(s\) 'learning_rate' \(did you mean 'lr'\?\) that this notebook does not have"),
    ("task2_resnet18.ipynb", {"ablation": "[lr]"}, "ConfigError", r"'ablation' \(did you mean 'ablations'\?\)"),
    ("task3_resnet_depth.ipynb", {"depths": "[21]"}, "ConfigError", r"depth 21 is not a CIFAR ResNet depth"),
    # issue 31 rows 13 and 14: refused by the parameter cell, before the model summary and the data
    ("task1_simplecnn.ipynb", {"seed": 99999999999999999999}, "ConfigError", r"seed must be <= 9223372036854775807"),
    ("task1_simplecnn.ipynb", {"run_dir": 2024}, "ConfigError", r"run_dir must be a folder path \(text\), got the "
                                                                r"number 2024"),
]


@pytest.mark.slow
@pytest.mark.parametrize("nb,params,ename,message", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_bad_papermill_parameter(nb, params, ename, message, subset_root, tmp_path):
    out = tmp_path / "out.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(os.path.join(REPO, "notebooks", nb), str(out), cwd=str(tmp_path), progress_bar=False,
                            parameters={"data_root": subset_root, "run_dir": str(tmp_path / "runs"),
                                        "epochs": 1, "limit": 200, **params})
    assert e.value.ename == ename
    import re

    assert re.search(message, e.value.evalue), e.value.evalue
    # nothing trained: no epoch line was printed and no checkpoint written
    text = out.read_text()
    assert "Epoch: 1" not in text
    assert not list((tmp_path / "runs").rglob("*.pth")) if (tmp_path / "runs").exists() else True


@pytest.mark.slow
def test_missing_data_offline_through_papermill(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(os.path.join(REPO, "notebooks", "task1_simplecnn.ipynb"), str(tmp_path / "o.ipynb"),
                            cwd=str(tmp_path), progress_bar=False,
                            parameters={"data_root": str(tmp_path / "nodata"), "download": False})
    assert e.value.ename == "DataMissingError" and "nodata" in e.value.evalue and "download=True" in e.value.evalue
