"""benchmarks/train_speed.py: the short mode runs end to end and writes the side-by-side table
(no timing assertions: the CPU is shared)."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import labkit.device

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "benchmarks", "train_speed.py")


def _load_module(path=SCRIPT):
    """A script under benchmarks/ as a module (they are not a package)."""
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def quick(subset_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick"
    env = {**os.environ, "LABKIT_SHARED_DATA": subset_root}
    proc = subprocess.run([sys.executable, SCRIPT, "--quick", "--models", "simplecnn,resnet20", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    return proc, out


@pytest.mark.slow
def test_quick_run_prints_both_pipelines(quick):
    proc, _ = quick
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "| model | pipeline | epochs | seeds | s/epoch | train img/s |" in out
    assert "Recipe, the same for both pipelines: SGD momentum 0.9" in out
    for model in ("simplecnn", "resnet20"):
        assert f"| {model} | handouts: PIL + DataLoader(workers=2), fp32 |" in out
        assert f"| {model} | labkit: tensor on device" in out
    assert "speed-up (s/epoch)" in out and "targets met" in out
    # progress lines for each epoch of both pipelines
    assert "handouts epoch 1:" in out and "labkit   epoch 1:" in out


@pytest.mark.slow
def test_quick_run_writes_markdown_and_json(quick):
    proc, out = quick
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (out.parent / "quick.md").read_text()
    assert md.startswith("## Training speed: handouts' pipeline vs labkit") and "| resnet20 | labkit" in md
    rep = json.loads((out.parent / "quick.json").read_text())
    assert rep["meta"]["data"] == {"train": 270, "val": 30, "test": 100}
    assert rep["meta"]["seeds"] == {"simplecnn": [0], "resnet20": [0]}
    assert rep["meta"]["machine"]["device"] == "cpu" and rep["meta"]["machine"]["cores"] >= 1
    for model in ("simplecnn", "resnet20"):
        r = rep["models"][model]
        for name in ("handouts", "labkit"):
            s = r[name]
            assert s["s_per_epoch"] > 0 and s["images_per_s"] > 0 and 0 <= s["test_acc"] <= 100
        assert r["speedup"] == pytest.approx(r["handouts"]["s_per_epoch"] / r["labkit"]["s_per_epoch"])
        assert r["handouts"]["precision"] == "fp32" and r["handouts"]["channels_last"] is False
    # the same recipe went to both pipelines
    assert rep["meta"]["recipe"]["resnet20"]["lr"] == 0.1 and rep["meta"]["recipe"]["simplecnn"]["lr"] == 0.01
    assert len(rep["runs"]) == 4 and {r["pipeline"] for r in rep["runs"]} == {"handouts", "labkit"}


def test_handout_dataset_is_torchvisions_cifar10(subset):
    from PIL import Image
    from torchvision.datasets import CIFAR10

    mod = _load_module()
    ds = mod.handout_dataset(subset.train_x[:10], subset.train_y[:10], transform=None)
    assert isinstance(ds, CIFAR10) and len(ds) == 10
    img, target = ds[3]
    assert isinstance(img, Image.Image) and img.size == (32, 32) and img.mode == "RGB"
    assert np.array_equal(np.asarray(img), subset.train_x[3].permute(1, 2, 0).numpy())
    assert target == int(subset.train_y[3])
    train_tf, _ = mod.handout_transforms(subset.mean, subset.std)
    x, _ = mod.handout_dataset(subset.train_x[:2], subset.train_y[:2], transform=train_tf)[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32


def test_repeat_to_and_epoch_spec(subset_root):
    mod = _load_module()
    assert mod.parse_epochs("4", ["simplecnn", "resnet18"]) == {"simplecnn": 4, "resnet18": 4}
    assert mod.parse_epochs("resnet18=1", ["simplecnn", "resnet18"]) == {
        "simplecnn": mod.DEFAULT_EPOCHS["simplecnn"], "resnet18": 1}
    with pytest.raises(SystemExit, match="not among --models"):
        mod.parse_epochs("vgg11=3", ["simplecnn"])
    seeds = mod.parse_per_model("simplecnn=3", ["simplecnn", "resnet18"], mod.DEFAULT_SEEDS, "--seeds")
    assert seeds == {"simplecnn": 3, "resnet18": mod.DEFAULT_SEEDS["resnet18"]}
    with pytest.raises(SystemExit, match="--seeds: simplecnn needs at least 1"):
        mod.parse_per_model("0", ["simplecnn"], mod.DEFAULT_SEEDS, "--seeds")

    class Args:
        data, val_ratio, limit, test_limit, repeat_to = subset_root, 0.1, 300, 50, 1000

    data, arrays = mod.load_data(Args, torch.device("cpu"))
    assert len(data.train_y) == 1000 and arrays["train_x"].shape == (1000, 3, 32, 32)
    assert torch.equal(data.train_x[270:540], data.train_x[:270])  # the 270-image split, repeated
    assert len(data.val_y) == 30 and len(data.test_y) == 50 and data.info["repeated_to"] == 1000


def test_bad_arguments_fail_fast(subset_root, tmp_path):
    mod = _load_module()
    with pytest.raises(SystemExit, match="unknown model 'resnet2O'.*resnet20"):
        mod.main(["--quick", "--data", subset_root, "--models", "resnet2O"])
    with pytest.raises(SystemExit, match="CIFAR-10 is not in"):
        mod.main(["--quick", "--data", str(tmp_path)])
    with pytest.raises(SystemExit, match="--repeat-to 100 is smaller than the 270 training images"):
        mod.main(["--quick", "--data", subset_root, "--repeat-to", "100"])


# ---- benchmarks/step_breakdown.py ---------------------------------------------------------------------
STEPS_SCRIPT = os.path.join(REPO, "benchmarks", "step_breakdown.py")


def test_onednn_verbose_lines_are_summed_per_pass():
    sb = _load_module(STEPS_SCRIPT)
    lines = [
        "onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core_bf16,forward_training,"
        "src:bf16::blocked:acdb::f0,attr-scratchpad:user,alg:convolution_direct,"
        "mb128_ic16oc16_ih32oh32kh3sh1dh0ph1_iw32ow32kw3sw1dw0pw1,1.0",
        "onednn_verbose,v1,primitive,exec,cpu,convolution,jit_bf16:avx512_core_bf16,backward_weights,"
        "src:bf16::blocked:acdb::f0,attr-scratchpad:user,alg:convolution_direct,"
        "mb128_ic16oc16_ih32oh32kh3sh1dh0ph1_iw32ow32kw3sw1dw0pw1,3.0",
        "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:abcd::f0,,,16x16x3x3,0.5",
        "onednn_verbose,v1,primitive,info,template:operation,engine,primitive,implementation,prop_kind,x,y,z,exec_time",
        "some other output",
    ]
    s = sb.summarize_onednn(lines + lines[:2], steps=2)
    assert s["by_pass_ms_per_step"] == {"convolution forward_training": 1.0, "convolution backward_weights": 3.0,
                                        "reorder": 0.25}
    fwd = next(r for r in s["primitives"] if r["pass"] == "forward_training")
    # 2 * 128 images * 32*32 positions * 16*16 channels * 9 taps = 0.604 GFLOP in 1 ms
    assert fwd["gflop_per_s"] == pytest.approx(2 * 128 * 1024 * 256 * 9 / 1e9 * 1000)
    assert fwd["implementation"] == "brg_conv_fwd:avx512_core_bf16" and fwd["calls_per_step"] == 1


@pytest.mark.slow
def test_step_breakdown_runs_and_writes_table(tmp_path):
    sb = _load_module(STEPS_SCRIPT)
    out = tmp_path / "steps"
    res = sb.main(["--models", "resnet20", "--batch", "4", "--steps", "1", "--repeats", "1", "--device", "cpu",
                   "--onednn", "--out", str(out)])
    rows = {r["variant"]: r for r in res["steps"]}
    assert set(rows) == {"handouts", "labkit", "labkit_no_bn"}
    assert rows["handouts"]["amp"] == "fp32" and rows["handouts"]["layout"] == "NCHW"
    assert all(r["step_ms"] > 0 and r["fwd_ms"] > 0 and r["bwd_ms"] > 0 for r in rows.values())
    md = (tmp_path / "steps.md").read_text()
    assert "| resnet20 | handouts: fp32, NCHW, SGD |" in md and "BatchNorm removed (bound)" in md
    assert json.loads((tmp_path / "steps.json").read_text())["meta"]["batch"] == 4
    passes = res["onednn"]["resnet20"]["by_pass_ms_per_step"]
    if torch.backends.mkldnn.is_available():  # x86 builds: torch's CPU convolutions are oneDNN's
        assert any(k.startswith("convolution") for k in passes), passes


def test_step_breakdown_refuses_unknown_model():
    sb = _load_module(STEPS_SCRIPT)
    with pytest.raises(Exception, match="resnet19"):
        sb.main(["--models", "resnet19", "--steps", "1", "--repeats", "1"])


# ---- benchmarks/time_to_accuracy.py ----------------------------------------------------------------
TTA = os.path.join(REPO, "benchmarks", "time_to_accuracy.py")


def test_time_to_accuracy_crossing_sums_epochs_until_the_threshold():
    tta = _load_module(TTA)
    epochs = [{"epoch": 1, "seconds": 2.0, "test_acc": 50.0}, {"epoch": 2, "seconds": 3.0, "test_acc": 80.0},
              {"epoch": 3, "seconds": 4.0, "test_acc": 79.0}, {"epoch": 4, "seconds": 5.0, "test_acc": 81.0}]
    assert tta.crossing(epochs, 80.0) == (2, 5.0)
    assert tta.crossing(epochs, 81.0) == (4, 14.0)
    assert tta.crossing(epochs, 90.0) == (None, None)
    got = tta.summarize({"epochs": [dict(e, val_acc=e["test_acc"]) for e in epochs], "test_acc": 80.5}, (70.0, 81.0))
    assert got["reached"] == {"70": {"epoch": 2, "seconds": 5.0}, "81": {"epoch": 4, "seconds": 14.0}}
    assert tta.parse_thresholds("task1=70", ["task1", "resnet18_fast"]) == {"task1": (70.0,), "resnet18_fast": (85.0,)}
    assert tta.parse_thresholds(None, ["task1"]) == {"task1": (70.0, 80.0)}
    assert tta.parse_thresholds("80/75", ["task1"]) == {"task1": (75.0, 80.0)}
    with pytest.raises(SystemExit, match="--presets"):
        tta.parse_thresholds("resnet20_fast=70", ["task1"])
    with pytest.raises(SystemExit, match="not a percentage"):
        tta.parse_thresholds("task1=high", ["task1"])


@pytest.mark.slow
def test_time_to_accuracy_quick_runs_both_pipelines(subset_root, tmp_path):
    out = tmp_path / "tta"
    env = {**os.environ, "LABKIT_SHARED_DATA": subset_root}
    proc = subprocess.run([sys.executable, TTA, "--quick", "--presets", "task1", "--data-label", "subset",
                           "--out", str(out)], capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| preset | model | pipeline | epochs | s/epoch | threshold % |" in proc.stdout
    assert "| task1 | simplecnn | handouts (fp32) | 2 |" in proc.stdout
    rep = json.loads((tmp_path / "tta.json").read_text())
    row = rep["presets"]["task1"]
    for name in ("handouts", "labkit"):
        s = row[name]
        assert s["epochs"] == 2 and s["s_per_epoch"] > 0 and 0 <= s["test_acc"] <= 100
        assert set(s["reached"]) == {"15"}
        assert (s["reached"]["15"]["epoch"] is None) == (s["reached"]["15"]["seconds"] is None)
    assert rep["meta"]["data"] == {"train": 270, "val": 30, "test": 100}
    assert (tmp_path / "tta.md").read_text().startswith("## Time to accuracy")


def test_time_to_accuracy_refuses_an_unknown_preset(subset_root):
    proc = subprocess.run([sys.executable, TTA, "--presets", "resnet19_fast", "--data", subset_root],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode != 0 and "not a lab's default recipe" in proc.stderr


# ---- benchmarks/full_size.py -----------------------------------------------------------------------
@pytest.mark.slow
def test_full_size_train_starts_a_new_run_and_resumes_it(subset_root, tmp_path, capsys):
    """``train`` as README gives it: the first call starts the run, a second returns the finished one."""
    fs = _load_module(os.path.join(REPO, "benchmarks", "full_size.py"))
    args = ["train", "simplecnn", "--preset", "task1", "--data", subset_root, "--run-dir", str(tmp_path),
            "--set", "epochs=1", "--set", "test_flip=false"]
    fs.main(args)
    run = tmp_path / "simplecnn-task1"
    assert json.loads((run / "result.json").read_text())["test_acc"] > 0
    assert json.loads((run / "real_check.json").read_text())["real_test_images"] == 500
    mtime = (run / "best_model.pth").stat().st_mtime
    fs.main(args)
    assert (run / "best_model.pth").stat().st_mtime == mtime and not (run / "earlier-1").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["simplecnn-task1"]


def test_full_size_real_check_and_table(subset_root, tmp_path):
    """The real-pixel check evaluates a run's best checkpoint with the run's own normalization on the
    lossless test images, and the table reads finished run folders."""
    import labkit

    fs = _load_module(os.path.join(REPO, "benchmarks", "full_size.py"))
    data = labkit.load_cifar10(subset_root, limit=300, test_limit=100, device="cpu", verbose=False)
    run = labkit.fit("simplecnn", data, run_dir=tmp_path, run_name="r", epochs=1, augment="flip", progress=False,
                     verbose=False)
    real = fs.real_check(run.run_dir, subset_root)
    assert real["real_test_images"] == 500 and 0 <= real["real_test_acc"] <= 100
    assert json.loads((tmp_path / "r" / "real_check.json").read_text()) == real
    fs.main(["table", run.run_dir, str(tmp_path / "not_a_run"), "--out", str(tmp_path / "full")])
    md = (tmp_path / "full.md").read_text()
    assert "| r | simplecnn | sgd lr 0.01 none, wd 0.0005, flip | 1 |" in md and md.count("\n| r |") == 1
    assert f"| {run.test_acc:.2f} | {real['real_test_acc']:.1f} |" in md
    again = labkit.fit("simplecnn", data, run_dir=tmp_path, run_name="s1", epochs=1, augment="flip", seed=1,
                       progress=False, verbose=False)  # another seed of the same recipe: its own CSV row
    rows = [fs.csv_row(d, "task 1", "cmd") for d in (run.run_dir, again.run_dir)]
    assert not rows[0]["recipe"].endswith("seed 0") and rows[1]["recipe"] == rows[0]["recipe"] + ", seed 1"
    assert len(fs.upsert([rows[0]], rows[1])) == 2
    elsewhere = dict(rows[0], machine="NVIDIA T4, fp16 + GradScaler", test_acc="1.00")  # same recipe, another machine
    assert len(fs.upsert([rows[0]], elsewhere)) == 2 and fs.upsert([rows[0], elsewhere], dict(elsewhere)) == [
        rows[0], elsewhere]  # a re-check of a row replaces that row alone


@pytest.mark.slow
def test_full_size_depth_trains_or_resumes_the_pair_and_draws_the_figure(subset_root, tmp_path, capsys):
    """``depth``: the depth lab's runs with one recipe (the test set tracked), their table beside the
    paper's error and He et al.'s figure from the run folders; a second call trains nothing."""
    fs = _load_module(os.path.join(REPO, "benchmarks", "full_size.py"))
    args = ["depth", "--data", subset_root, "--run-dir", str(tmp_path / "runs"), "--epochs", "1", "--limit", "300",
            "--models", "plain20,resnet20", "--real", subset_root, "--out", str(tmp_path / "depth")]
    fs.main(args)
    md = (tmp_path / "depth.md").read_text()
    assert "| plain20 | 1 |" in md and "| resnet20 | 1 |" in md and "| 8.75 |" in md and "CIFAR-10 (JPEG copy)" in md
    assert f"- resnet20: {labkit.device.choose_placement().machine} (epoch 1)" in md  # where it trained
    assert (tmp_path / "depth.png").stat().st_size > 10_000
    runs = tmp_path / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["plain20-e1", "resnet20-e1"]
    assert all(json.loads((runs / n / "real_check.json").read_text())["real_test_images"] == 500
               for n in ("plain20-e1", "resnet20-e1"))
    mtime = (runs / "resnet20-e1" / "best_model.pth").stat().st_mtime
    fs.main(args)
    assert (runs / "resnet20-e1" / "best_model.pth").stat().st_mtime == mtime


def test_the_committed_results_csv_has_one_row_per_run_and_the_page_shows_it():
    """benchmarks/results/full-size.csv: no two rows share upsert's key (date, machine, net, recipe, epochs),
    every row names its data size and machine, and benchmarks/README.md's table is the one drawn from it."""
    fs = _load_module(os.path.join(REPO, "benchmarks", "full_size.py"))
    rows = fs.read_csv()
    keys = [fs.row_key(r) for r in rows]
    assert rows and len(set(keys)) == len(keys), [k for k in keys if keys.count(k) > 1]
    assert all(r["machine"] and int(r["train_images"]) > 0 and 0 < float(r["test_acc"]) <= 100 for r in rows)
    page = open(os.path.join(REPO, "benchmarks", "README.md"), encoding="utf-8").read()
    assert f"{fs.PAGE_BEGIN}\n{fs.page_table(rows)}{fs.PAGE_END}" in page
