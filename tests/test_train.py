"""A real short training run on real CIFAR-10 images, its files, and the printed format."""
import json
import os
import re
import shutil

import pytest
import torch

import labkit
from labkit.evaluate import evaluate

EPOCH_RE = re.compile(
    r"^Epoch: (\d+)\nlearning rate: ([0-9.e+-]+)\n"
    r"Train loss: (\d+\.\d{3}) \| Train acc: ([01]\.\d{3}) Val loss: (\d+\.\d{3}) \| Val acc: ([01]\.\d{3})$",
    re.M)


@pytest.fixture(scope="module")
def run(subset_root, tmp_path_factory, capsys_module=None):
    data = labkit.load_cifar10(subset_root, device="cpu", normalize="fixed", verbose=False)
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        res = labkit.fit("simplecnn", data, epochs=4, lr=0.01, seed=0, run_dir=tmp_path_factory.mktemp("runs"),
                         run_name="simple", progress=False)
    return res, data, buf.getvalue()


def test_simplecnn_learns_on_real_images(run):
    res, data, out = run
    # Measured on 2026-11-23 (4 epochs, SGD 0.01, 4,653 training images, bf16 + channels_last on
    # this CPU): 40.6% test accuracy for seed 0, 41.8% for seed 1 (39.2% in fp32). Chance is 10%;
    # we ask for 3x chance.
    assert res.test_acc > 30.0, out
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert len(res.history) == 4 and [h["epoch"] for h in res.history] == [1, 2, 3, 4]


def test_exact_epoch_print_format(run):
    res, _, out = run
    blocks = EPOCH_RE.findall(out)
    assert [int(b[0]) for b in blocks] == [1, 2, 3, 4]
    for b, h in zip(blocks, res.history):
        assert b[1] == "0.01"
        assert float(b[2]) == pytest.approx(h["train_loss"], abs=5e-4)
        assert float(b[5]) == pytest.approx(h["val_acc"] / 100, abs=5e-4)
        assert h["train_loss"] != round(h["train_loss"], 3)  # history.json keeps full precision
    assert "Finished Training" in out
    assert re.search(r"^Test Accuracy: (\d+\.\d{2})%$", out, re.M).group(1) == f"{res.test_acc:.2f}"
    assert out.index("Finished Training") < out.index("Test Accuracy:")


def test_run_folder_files(run):
    res, data, _ = run
    files = set(os.listdir(res.run_dir))
    assert {"config.json", "history.json", "best_model.pth", "result.json", "log.txt"} <= files
    assert "last.pth" not in files  # a finished run drops its training state (issue 34)
    assert not [f for f in files if f.endswith(".tmp")]
    with open(os.path.join(res.run_dir, "history.json")) as f:
        hist = json.load(f)
    assert hist == res.history
    assert set(hist[0]) >= {"epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"}
    with open(os.path.join(res.run_dir, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["model"] == "simplecnn" and cfg["lr"] == 0.01 and cfg["data"]["train"] == 4653
    assert cfg["params"] == 60554 and cfg["amp_dtype"] in ("fp32", "bfloat16")
    with open(os.path.join(res.run_dir, "result.json")) as f:
        result = json.load(f)
    cm = torch.tensor(result["confusion_matrix"])
    assert cm.sum() == 500 and cm.trace().item() / 5 == pytest.approx(res.test_acc)
    assert result["best_epoch"] == max(hist, key=lambda h: h["val_acc"])["epoch"]
    assert set(result["per_class"]) == set(data.classes)


def test_best_checkpoint_reloads_with_same_test_accuracy(run):
    res, data, _ = run
    fresh = labkit.get_model("simplecnn")
    labkit.load_model(os.path.join(res.run_dir, "best_model.pth"), model=fresh)
    amp = torch.bfloat16 if res.config["amp_dtype"] == "bfloat16" else None
    again = evaluate(fresh, data.loader("test", 1000), "cpu", amp)
    assert again["acc"] == pytest.approx(res.test_acc)
    rebuilt = labkit.load_model(os.path.join(res.run_dir, "best_model.pth"))  # model rebuilt from its name
    assert type(rebuilt).__name__ == "SimpleCNN"
    best = max(res.history, key=lambda h: h["val_acc"])
    assert evaluate(rebuilt, data.loader("val", 1000), "cpu", amp)["acc"] == pytest.approx(best["val_acc"])


def test_load_run_and_plots(run, tmp_path):
    res, _, _ = run
    again = labkit.load_run(res.run_dir)
    assert again.test_acc == res.test_acc and again.history == res.history
    png = tmp_path / "curves.png"
    labkit.plot_history(again, save=str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labkit.plot_histories({"a": res, "b": res.run_dir}, save=str(tmp_path / "over.png"))
    labkit.plot_confusion_matrix(again.confusion_matrix, list(again.per_class), normalize=True,
                                 save=str(tmp_path / "cm.png"))
    assert (tmp_path / "over.png").stat().st_size > 10_000 and (tmp_path / "cm.png").stat().st_size > 10_000


def test_first_eight_images_grid(subset, tmp_path):
    fig = labkit.show_images(subset.train_x, subset.train_y, subset.classes, n=8, save=str(tmp_path / "g.png"))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [subset.classes[i] for i in subset.train_y[:8].tolist()]


def test_thop_and_torchsummary_figures(capsys):
    model = labkit.get_model("simplecnn")
    before = set(model.state_dict())
    flops, params = labkit.profile_flops(model)
    labkit.print_summary(model)
    out = capsys.readouterr().out
    assert (flops, params) == (5840896.0, 60554.0)
    assert "FLOPs: 5840896.0" in out and "Params: 60554.0" in out
    assert "Total params: 60,554" in out and "Linear-10" in out
    assert set(model.state_dict()) == before  # profiling left no total_ops/total_params buffers
    labkit.get_model("simplecnn").load_state_dict(model.state_dict())


@pytest.mark.parametrize("lr, text", [(0.03, "0.03"), (0.0061123456, "0.00611"), (0.1, "0.1"), (1e-5, "0.00001"),
                                      (0.012345678, "0.0123"), (2.0, "2")])
def test_learning_rate_is_written_as_a_person_would(lr, text):
    from labkit.train import _fmt_lr

    assert _fmt_lr(lr) == text


def test_handout_epoch_line():
    from labkit.train import epoch_line

    assert epoch_line(1.42312, 48.7, 1.2791, 54.31) == ("Train loss: 1.423 | Train acc: 0.487 "
                                                        "Val loss: 1.279 | Val acc: 0.543")


def test_reloaded_finished_run_prints_its_log(run, capsys):
    """A notebook re-run (resume=True) reloads a finished run: it trains nothing and shows the prints it
    showed while training (from log.txt), so the handed-in notebook is the same either way."""
    res, data, out = run
    mtimes = {f: os.path.getmtime(os.path.join(res.run_dir, f)) for f in os.listdir(res.run_dir)}
    again = labkit.fit("simplecnn", data, epochs=4, lr=0.01, seed=0, run_dir=os.path.dirname(res.run_dir),
                       run_name="simple", resume=True, progress=False)
    shown = capsys.readouterr().out
    assert "already finished" in shown and "Run folder:" not in shown
    assert EPOCH_RE.findall(shown) == EPOCH_RE.findall(out)
    assert "Finished Training" in shown and f"Test Accuracy: {res.test_acc:.2f}%" in shown
    assert again.test_acc == res.test_acc
    assert {f: os.path.getmtime(os.path.join(res.run_dir, f)) for f in os.listdir(res.run_dir)} == mtimes


def test_run_files_are_readable_by_others(run):
    """Atomic writes (mkstemp) must not leave files at 0600: a TA reads the runs as another user."""
    res, _, _ = run
    mask = os.umask(0o022)
    os.umask(mask)
    for f in ("config.json", "history.json", "best_model.pth", "result.json", "log.txt"):
        assert os.stat(os.path.join(res.run_dir, f)).st_mode & 0o777 == 0o666 & ~mask, f


def test_test_time_flips_average_an_image_and_its_mirror(run, tmp_path, capsys):
    res, data, _ = run
    model = res.model.float().eval()
    loader = data.loader("test", 250, shuffle=False)
    got = evaluate(model, loader, torch.device("cpu"), None, return_preds=True, flip=True)
    with torch.no_grad():
        probs = torch.cat([(model(x).softmax(1) + model(torch.flip(x, dims=[3])).softmax(1)) / 2 for x, _ in loader])
    targets = torch.cat([y for _, y in loader])
    assert (got["preds"] == probs.argmax(1).numpy()).all()
    assert got["acc"] == pytest.approx(100.0 * (probs.argmax(1) == targets).float().mean().item())
    assert got["loss"] == pytest.approx(torch.nn.functional.nll_loss(probs.log(), targets).item(), rel=1e-4)
    # fit(test_flip=True): only the test accuracy changes, and the run says so
    small = labkit.load_cifar10(data.info["source"], limit=300, test_limit=100, device="cpu", verbose=False)
    run2 = labkit.fit("simplecnn", small, epochs=1, run_dir=tmp_path, run_name="tta", progress=False, test_flip=True)
    out = capsys.readouterr().out
    assert "Test-time flips: each test image's prediction averages it and its mirror image" in out
    assert json.load(open(os.path.join(run2.run_dir, "result.json")))["test_flip"] is True
    assert run2.config["test_flip"] is True
    # the per-epoch tracked test is measured as the final one (one epoch: the best weights are the last)
    run3 = labkit.fit("simplecnn", small, epochs=1, run_dir=tmp_path, run_name="tracked", progress=False,
                      verbose=False, test_flip=True, track_test=True)
    assert run3.history[-1]["test_acc"] == pytest.approx(run3.test_acc)


# ---- knowledge distillation (task 1's teacher) ----------------------------------------------------------
def test_distillation_teacher_checked_first_and_part_of_the_record(subset_root, tmp_path):
    small = labkit.load_cifar10(subset_root, limit=200, test_limit=50, device="cpu", verbose=False)
    kw = dict(epochs=1, batch_size=32, progress=False, verbose=False)
    with pytest.raises(labkit.ConfigError, match=r"teacher .*nowhere.* is not a finished run folder.*train the teacher"):
        labkit.fit("simplecnn", small, run_dir=tmp_path / "runs", teacher=str(tmp_path / "nowhere"), **kw)
    assert not (tmp_path / "runs").exists()  # refused before any folder
    teacher = labkit.fit("resnet20", small, run_dir=tmp_path / "t", run_name="teacher", **kw).run_dir
    run = labkit.fit("simplecnn", small, run_dir=tmp_path / "runs", run_name="kd", teacher=teacher,
                     distill_alpha=0.5, distill_temperature=2, **kw)
    assert run.config["teacher"] == teacher and run.config["distill_alpha"] == 0.5
    moved = shutil.move(teacher, tmp_path / "elsewhere" / "teacher")  # the same teacher folder, moved
    again = labkit.fit("simplecnn", small, run_dir=tmp_path / "runs", run_name="kd", teacher=str(moved),
                       distill_alpha=0.5, distill_temperature=2, resume=True, **kw)
    assert again.test_acc == run.test_acc
    with pytest.raises(labkit.ConfigError, match=r"distill_alpha was 0\.5, now 0\.7"):
        labkit.fit("simplecnn", small, run_dir=tmp_path / "runs", run_name="kd", teacher=str(moved),
                   distill_temperature=2, resume=True, **kw)
    for bad in (dict(distill_alpha=1.5), dict(distill_temperature=0), dict(teacher=3)):
        with pytest.raises(labkit.ConfigError, match=next(iter(bad))):
            labkit.fit("simplecnn", small, run_dir=tmp_path / "runs", **bad, **kw)
