"""labkit.experiments: several configurations trained, compared, written; repeat calls train nothing."""
import contextlib
import io
import json
import os

import pandas as pd
import pytest

import labkit
import labkit.data
from labkit.experiments import Variant, run_experiments
from labkit.studies import PAPER_TEST_ERROR, ablation_variants, depth_variants, paper_recipe, run_depth_study, \
    scale_milestones

TINY = dict(limit=200, test_limit=60, epochs=2, progress=False, device="cpu")


def _run(*args, **kw):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exp = run_experiments(*args, **kw)
    return exp, out.getvalue()


def _files(run_dir):
    """(line count of log.txt, mtime_ns of best_model.pth and history.json) per run folder."""
    return {d: (sum(1 for _ in open(os.path.join(run_dir, d, "log.txt"))),
                os.stat(os.path.join(run_dir, d, "best_model.pth")).st_mtime_ns,
                os.stat(os.path.join(run_dir, d, "history.json")).st_mtime_ns)
            for d in sorted(os.listdir(run_dir)) if os.path.isfile(os.path.join(run_dir, d, "log.txt"))}


@pytest.fixture(scope="module")
def two_configs(subset_root, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("exp")
    configs = [Variant("base", {}, ("lr",), "baseline"), Variant("lr0.05", {"lr": 0.05}, ("lr",), "lr=0.05")]
    kw = dict(experiment="two", run_dir=run_dir, data_root=subset_root, model="simplecnn", lr=0.01, **TINY)
    exp, out = _run(configs, **kw)
    return exp, out, configs, kw


def test_two_configs_write_table_and_figures(two_configs):
    exp, out, _, kw = two_configs
    assert exp.path == os.path.join(str(kw["run_dir"]), "two")
    assert sorted(exp.runs) == ["base", "lr0.05"] and exp.status == {"base": "finished", "lr0.05": "finished"}
    # each configuration in its own run folder, named after it, trained for the asked epochs
    for name, run in exp.runs.items():
        assert run.run_dir == os.path.join(exp.path, name)
        assert [h["epoch"] for h in run.history] == [1, 2]
        assert os.path.isfile(os.path.join(run.run_dir, "result.json"))
    assert exp.runs["lr0.05"].config["lr"] == 0.05 and exp.runs["base"].config["lr"] == 0.01
    assert out.count("Finished Training") == 2 and out.count("Test Accuracy:") == 2
    # the table: CSV and Markdown, one row per configuration, numbers equal to the runs'
    csv = pd.read_csv(os.path.join(exp.path, "comparison.csv"))
    assert list(csv["run"]) == ["base", "lr0.05"] and list(csv["change"]) == ["baseline", "lr=0.05"]
    assert {"best_val_acc", "test_acc", "epochs", "train_seconds"} <= set(csv.columns)
    for _, row in csv.iterrows():
        assert row["test_acc"] == pytest.approx(exp.runs[row["run"]].test_acc, abs=0.01)
        assert row["epochs"] == 2
    md = open(os.path.join(exp.path, "comparison.md")).read()
    assert md.startswith("| run") and "lr=0.05" in md
    assert exp.files["csv"].endswith("comparison.csv") and exp.files["md"].endswith("comparison.md")
    # overlaid figure of the group, and each run's own curves: real PNG files
    pngs = [exp.figures["lr"]] + [os.path.join(r.run_dir, "curves.png") for r in exp.runs.values()]
    assert exp.figures["lr"].endswith("comparison_lr.png")
    for p in pngs:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(p) > 10_000
    assert not [f for f in os.listdir(exp.path) if f.endswith(".tmp")]


def test_repeat_call_trains_nothing(two_configs):
    exp, _, configs, kw = two_configs
    before = _files(exp.path)
    again, out = _run(configs, **kw)
    assert _files(exp.path) == before  # no log line added, no checkpoint rewritten
    assert out.count("already finished") == 2 and "Run folder:" not in out and "Resuming" not in out
    assert out.count("Finished Training") == 2 and out.count("Test Accuracy:") == 2  # replayed from log.txt
    assert {k: r.test_acc for k, r in again.runs.items()} == {k: r.test_acc for k, r in exp.runs.items()}
    assert list(again.table["run"]) == ["base", "lr0.05"]


def test_changed_settings_fail_before_training(two_configs):
    exp, _, configs, kw = two_configs
    before = _files(exp.path)
    with pytest.raises(labkit.ConfigError, match=r"'base'.*other settings \(epochs was 2, now 3\).*another experiment"):
        _run(configs, **{**kw, "epochs": 3})
    with pytest.raises(labkit.ConfigError, match=r"other settings \(limit was 200, now 300\)"):
        _run(configs, **{**kw, "limit": 300})
    with pytest.raises(labkit.ConfigError, match=r"'base'.*used other data \(test was 60, now 50\)"):
        _run(configs, **{**kw, "test_limit": 50})
    with pytest.raises(labkit.RunExistsError, match=r"already holds run\(s\) base, lr0\.05\. Pass resume=True"):
        _run(configs, **{**kw, "resume": False})
    assert _files(exp.path) == before


@pytest.mark.parametrize("configs, message", [
    ([Variant("a"), Variant("b", {"lr": "fast"})], r"configuration 'b': lr must be a number, got the text 'fast'"),
    ([Variant("a"), Variant("b", {"modle": "vgg11"})], r"configuration 'b': unknown parameter\(s\) \['modle'\]"),
    ([Variant("a"), Variant("b", {"model": "vgg12"})], r"configuration 'b': unknown model 'vgg12'\. Did you mean"),
    ([Variant("a"), Variant("b", {"normalize": "zscore"})], r"configuration 'b': normalize must be one of"),
    ([Variant("a"), Variant("b", {"norm_ratio": 1.5})], r"configuration 'b': norm_ratio must be <= 1"),
    ([Variant("a"), Variant("a", {"lr": 0.1})], r"two configurations are named 'a'"),
    ([Variant("a/b")], r"cannot be a folder name"),
    ([], r"no configurations"),
])
def test_bad_configuration_fails_before_anything_trains(subset_root, tmp_path, monkeypatch, configs, message):
    def no_loading(*a, **k):
        raise AssertionError("data loaded before the configurations were checked")

    monkeypatch.setattr(labkit.data, "load_cifar10", no_loading)
    with pytest.raises(labkit.ConfigError, match=message):
        run_experiments(configs, experiment="bad", run_dir=tmp_path, data_root=subset_root, model="simplecnn", **TINY)
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_data_loaded_once_per_normalization_and_divergence_recorded(subset_root, tmp_path, monkeypatch):
    calls = []
    real = labkit.data.load_cifar10

    def counting(*a, **k):
        calls.append((k["normalize"], k["norm_ratio"]))
        return real(*a, **k)

    monkeypatch.setattr(labkit.data, "load_cifar10", counting)
    configs = [Variant("a"), Variant("b", {"lr": 0.02}), Variant("off", {"normalize": "off"}),
               Variant("huge_lr", {"lr": 1e4, "epochs": 3})]
    kw = dict(experiment="e", run_dir=tmp_path, data_root=subset_root, model="simplecnn", **dict(TINY, epochs=1))
    exp, out = _run(configs, **kw)
    assert sorted(calls) == [("computed", 1.0), ("off", 1.0)]
    assert exp.runs["off"].config["data"]["normalize"] == "off" and exp.runs["a"].config["data"]["normalize"] == "computed"
    # a diverging configuration is recorded, the others are not lost
    assert exp.status == {"a": "finished", "b": "finished", "off": "finished", "huge_lr": "diverged"}
    assert "huge_lr diverged" in out
    row = exp.table.set_index("run").loc["huge_lr"]
    assert row["status"] == "diverged" and pd.isna(row["test_acc"])
    # and is not trained again when the call is repeated
    log = (tmp_path / "e" / "huge_lr" / "log.txt").read_text()
    again, out = _run(configs, **kw)
    assert again.status["huge_lr"] == "diverged" and "Run folder:" not in out and "Resuming" not in out
    assert (tmp_path / "e" / "huge_lr" / "log.txt").read_text() == log


def test_interrupted_configuration_continues(subset_root, tmp_path, monkeypatch):
    import labkit.train

    real_eval, n = labkit.train.evaluate, [0]

    def interrupt_on_second_epoch(*a, **k):
        n[0] += 1
        if n[0] == 2:  # the second epoch's validation: a disconnect
            raise KeyboardInterrupt
        return real_eval(*a, **k)

    monkeypatch.setattr(labkit.train, "evaluate", interrupt_on_second_epoch)
    kw = dict(experiment="e", run_dir=tmp_path, data_root=subset_root, model="simplecnn", **TINY)
    with pytest.raises(KeyboardInterrupt):
        _run([Variant("a")], **kw)
    assert json.loads((tmp_path / "e" / "a" / "history.json").read_text())[0]["epoch"] == 1
    monkeypatch.setattr(labkit.train, "evaluate", real_eval)
    exp, out = _run([Variant("a")], **kw)
    assert "interrupted, will continue" in out and "Resuming" in out and "Epoch: 1\n" not in out
    assert [h["epoch"] for h in exp.runs["a"].history] == [1, 2]


def test_milestones_scale_with_epochs():
    assert scale_milestones(164) == [81, 122]
    assert scale_milestones(82) == [40, 61]
    assert scale_milestones(2) == [1] and scale_milestones(1) == [1]
    r = paper_recipe(10)
    assert r["milestones"] == [5, 7] and r["lr"] == 0.1 and r["weight_decay"] == 1e-4 and r["momentum"] == 0.9
    assert r["batch_size"] == 128 and r["scheduler"] == "multistep" and r["augment"] and r["track_test"]
    labkit.TrainConfig(model="resnet20", **{k: v for k, v in r.items() if k != "normalize"}).validate()


def test_builders():
    names = [c.name for c in ablation_variants()]
    assert names == ["baseline", "norm_off", "norm_ratio0.3", "no_augment", "lr0.1", "lr0.001",
                     "sched_step", "sched_cosine", "sched_onecycle", "sched_cyclic"]
    base = ablation_variants()[0]
    assert base.params == {} and set(base.groups) == {"normalization", "augmentation", "lr", "scheduler"}
    # variants are relative to the baseline: never a copy of it
    alt = ablation_variants(["normalization", "scheduler", "lr"], normalize="off", scheduler="cosine", lr=0.05,
                           lr_values="[0.1, 0.05, 0.01]")
    assert [c.name for c in alt] == ["baseline", "norm_computed", "norm_ratio0.3", "sched_none", "sched_step",
                                     "sched_onecycle", "sched_cyclic", "lr0.1", "lr0.01"]
    with pytest.raises(labkit.ConfigError, match="unknown ablation 'augment'. Did you mean 'augmentation'"):
        ablation_variants(["augment"])
    d = depth_variants([20, 56], ["plain", "resnet"])
    assert [(c.name, c.groups) for c in d] == [("plain20", ("20_layers",)), ("resnet20", ("20_layers",)),
                                               ("plain56", ("56_layers",)), ("resnet56", ("56_layers",))]
    assert [c.name for c in depth_variants("110", "resnet,preact", shortcut="B")] == ["resnet110_optB",
                                                                                     "preact_resnet110_optB"]
    with pytest.raises(labkit.ConfigError, match="depth 21 is not a CIFAR ResNet depth"):
        depth_variants([21])
    with pytest.raises(labkit.ConfigError, match="unknown kind 'plan'. Did you mean 'plain'"):
        depth_variants([20], ["plan"])
    assert PAPER_TEST_ERROR["resnet20"] == 8.75 and PAPER_TEST_ERROR["resnet56"] == 6.97
    assert PAPER_TEST_ERROR["resnet110"] == 6.43


@pytest.mark.slow
def test_depth_study_table_and_figure(subset_root, tmp_path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exp = run_depth_study([20], ["plain", "resnet"], run_dir=tmp_path, data_root=subset_root, **TINY)
    t = exp.table.set_index("run")
    assert list(t.index) == ["plain20", "resnet20"]
    assert t.loc["resnet20", "paper_test_err"] == 8.75 and pd.isna(t.loc["plain20", "paper_test_err"])
    for name, run in exp.runs.items():
        assert run.config["milestones"] == [1] and run.config["lr"] == 0.1 and run.config["track_test"]
        assert [h["lr"] for h in run.history] == pytest.approx([0.1, 0.01])  # /10 after the scaled milestone
        assert t.loc[name, "final_test_err"] == pytest.approx(100 - run.history[-1]["test_acc"], abs=0.01)
        assert t.loc[name, "test_err"] == pytest.approx(100 - run.test_acc, abs=0.01)
    # He et al.'s figure 6: one panel per kind (plain | ResNet), drawn from the run folders
    assert exp.figures == {"degradation": os.path.join(exp.path, "plain_vs_resnet.png")}
    assert os.path.getsize(exp.figures["degradation"]) > 10_000
    assert os.path.isfile(os.path.join(exp.path, "plain_vs_resnet.csv"))
