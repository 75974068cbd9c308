"""Each setting declared once (issue 32): a field of TrainConfig / DataConfig / NotebookOptions carries its meaning,
unit, default, whether a resume compares it, its report row and its check; the resume comparison, the report's
hyper-parameter table, the notebooks' parameter check and their parameter comments are read from it."""
import dataclasses
import importlib.util
import os

import pytest

import labkit
import labkit.report as report
from labkit import config, runs
from labkit.config import setting
from labkit.errors import ConfigError
from labkit.parameters import Params

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", os.path.join(REPO, "notebooks",
                                                                                  "build_notebooks.py"))
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build


@pytest.fixture
def mixup(monkeypatch):
    """TrainConfig with one more setting, declared the way config.py declares every setting."""
    extended = dataclasses.make_dataclass("TrainConfig", [(
        "mixup_alpha", float, setting(0.0, "mixup's Beta(alpha, alpha) mixing of image pairs", label="mixup alpha",
                                      resume=True, check=config.number(0), hint="0: no mixup"))],
        bases=(config.TrainConfig,))
    monkeypatch.setattr(config, "TrainConfig", extended)
    return extended


def test_a_new_setting_is_in_the_resume_comparison_the_report_and_the_parameter_check(mixup):
    assert "mixup_alpha" in runs.RESUME_KEYS and "mixup_alpha" in config.TrainConfig.RESUME_KEYS
    was = mixup(mixup_alpha=0.2, device="cpu").validate().to_dict()
    now = mixup(mixup_alpha="0.4", device="cpu").validate().to_dict()
    assert runs.settings_diff(was, now) == [("mixup_alpha", 0.2, 0.4)]
    assert runs.settings_diff(was, dict(now, mixup_alpha=0.2)) == []

    rows = dict(report._hyperparameters(now))
    assert rows["mixup alpha"] == 0.4

    checked = Params({"model": "simplecnn", "epochs": 1, "mixup_alpha": "0.3", "device": "cpu"}).check()
    assert checked["mixup_alpha"] == 0.3 and "mixup_alpha" in checked.train()
    with pytest.raises(ConfigError, match="mixup_alpha must be >= 0, got -1"):
        Params({"model": "simplecnn", "mixup_alpha": -1, "device": "cpu"}).check()

    block = _builder().shared_block({"mixup_alpha": "0.2"}, {})  # the notebooks' parameter block and its comment
    assert any(line.startswith("mixup_alpha = 0.2 ") and line.endswith("# 0: no mixup") for line in block)


def test_without_the_new_setting_nothing_knows_it():
    assert "mixup_alpha" not in runs.RESUME_KEYS
    assert "mixup alpha" not in dict(report._hyperparameters({"mixup_alpha": 0.4}))


def test_the_declarations_are_the_docs_the_checks_and_the_resume_keys():
    for cls in (config.TrainConfig, config.DataConfig):
        for f in dataclasses.fields(cls):
            assert f"\n    {f.name} " in cls.__doc__, f.name  # documented field by field, from the declaration
    assert tuple(runs.RESUME_KEYS) == tuple(f.name for f in dataclasses.fields(config.TrainConfig)
                                            if f.metadata["setting"].resume)
    # what a resume compares: how the model trains, not where or how it is tested
    assert {"lr", "epochs", "augment", "seed", "distill_alpha", "class_weights", "warmup_steps"} <= set(runs.RESUME_KEYS)
    assert not {"device", "amp", "test_flip", "test_shift", "track_test", "teacher"} & set(runs.RESUME_KEYS)
    with pytest.raises(ConfigError, match="momentum must be < 1, got 1"):
        config.TrainConfig(momentum=1).validate()
    assert config.check_data_params("fixed", 0.5) == {"normalize": "fixed", "norm_ratio": 1.0, "limit": None,
                                                      "test_limit": None, "val_ratio": 0.1, "seed": 0,
                                                      "data_root": "./data"}


def test_the_report_lists_flips_shifts_teacher_warmup_and_the_distillation_loss(subset_root, tmp_path):
    data = labkit.load_cifar10(subset_root, download=False, limit=200, test_limit=60, normalize="fixed",
                               device="cpu", verbose=False)
    common = dict(epochs=1, batch_size=64, progress=False, verbose=False, device="cpu", amp="off", run_dir=tmp_path)
    teacher = labkit.fit("simplecnn", data, run_name="teacher-simplecnn", **common)
    student = labkit.fit("simplecnn", data, run_name="student", teacher=teacher.run_dir, distill_alpha=0.5,
                         distill_temperature=2.0, test_flip=True, test_shift=1, warmup_steps=2, **common)
    df = report.hyperparameter_table([teacher.run_dir, student.run_dir])
    row = df["student"]
    assert row["test-time flips"].startswith("yes") and df.loc["test-time flips", "teacher-simplecnn"] == "no"
    assert row["test-time shifts"].startswith("1 pixel(s)")
    assert row["distillation teacher"] == "teacher-simplecnn"
    assert row["loss"].startswith("distillation: (1 - 0.5) x cross-entropy") and "T = 2" in row["loss"]
    assert df.loc["loss", "teacher-simplecnn"] == "cross-entropy"
    assert row["lr schedule"].startswith("warm-up: 0.001 for the first 2 steps, then constant 0.01")


def test_fit_and_the_runner_take_the_checked_settings_lr_checked_once(subset_root, tmp_path, monkeypatch):
    """Issue 32: the lr of a study was checked five times on its way to the optimizer; the runner's plan checks it,
    the estimate and fit take the checked TrainConfig as it is."""
    from labkit.experiments import Variant, run_experiments

    checks = []
    real = config.as_float
    monkeypatch.setattr(config, "as_float", lambda name, *a, **k: checks.append(name) or real(name, *a, **k))
    data = labkit.load_cifar10(subset_root, download=False, limit=150, test_limit=50, normalize="fixed",
                               device="cpu", verbose=False)
    exp = run_experiments([Variant("base")], experiment="once", run_dir=tmp_path, data=data, normalize="fixed",
                          model="simplecnn", epochs=1, lr="0.05", batch_size=64, device="cpu", amp="off",
                          progress=False, verbose=False, estimate=True)
    assert checks.count("lr") == 1 and exp.runs["base"].config["lr"] == 0.05

    cfg = config.TrainConfig.from_params("simplecnn", {"epochs": 1, "lr": 0.02, "device": "cpu", "amp": "off"})
    checks.clear()
    run = labkit.fit(cfg, data, run_dir=tmp_path, run_name="given", progress=False, verbose=False)
    assert checks.count("lr") == 0 and run.config["lr"] == 0.02 and cfg.class_weights is None  # cfg not changed
    cfg.lr = -1  # changed after its check: checked again
    with pytest.raises(ConfigError, match="lr must be > 0"):
        labkit.fit(cfg, data, run_dir=tmp_path, run_name="changed", progress=False, verbose=False)
