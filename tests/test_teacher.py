"""Task 1's distillation teacher as part of the student's run (issue 31, rows 1-7): recorded by what it is (its
checkpoint's SHA-256), checked against the student's data before any folder is made, the student's resume
checked before any teacher trains, a finished student reloaded without it, start_over reaching it."""
import json
import os
import re
import shutil

import pytest
import torch

import labkit
import labkit.models
import labkit.parameters
import labkit.presets
from test_robustness import StopInEpoch

KW = dict(epochs=1, batch_size=32, progress=False, verbose=False)


@pytest.fixture(scope="module")
def small(subset_root):
    return labkit.load_cifar10(subset_root, limit=200, test_limit=50, device="cpu", verbose=False)


@pytest.fixture(scope="module")
def teacher(small, tmp_path_factory):
    """A finished teacher run folder (a 1-epoch SimpleCNN: fast; any model teaches)."""
    return labkit.fit("simplecnn", small, run_dir=tmp_path_factory.mktemp("t"), run_name="teacher", seed=5,
                      **KW).run_dir


def _student(data, run_dir, teacher, **kw):
    return labkit.fit("simplecnn", data, run_dir=run_dir, run_name="kd", teacher=str(teacher), **{**KW, **kw})


def _interrupted_student(data, run_dir, teacher, **kw):
    """A student stopped in epoch 2 of 2: last.pth holds epoch 1."""
    with pytest.raises(KeyboardInterrupt):
        _student(StopInEpoch(data, 2), run_dir, teacher, epochs=2, **kw)
    return run_dir / "kd"


def test_the_teacher_is_recorded_by_content(small, teacher, tmp_path):
    """Row 1: a teacher folder trained again under the same name (other weights), or another teacher of the same
    folder name elsewhere: the student's resume is refused; the same teacher moved is the same teacher."""
    _interrupted_student(small, tmp_path / "runs", teacher)
    other = labkit.fit("simplecnn", small, run_dir=tmp_path / "elsewhere", run_name="teacher", seed=6, **KW).run_dir
    with pytest.raises(labkit.ConfigError, match=r"cannot resume .*teacher sha256 was '[0-9a-f]{64}', now"):
        _student(small, tmp_path / "runs", other, epochs=2, resume=True)
    retrained = tmp_path / "t2" / "teacher"  # the original folder's name and place, other weights
    shutil.copytree(teacher, tmp_path / "t2" / "kept")
    shutil.rmtree(teacher)
    shutil.copytree(other, teacher)
    try:
        with pytest.raises(labkit.ConfigError, match=r"teacher sha256 was"):
            _student(small, tmp_path / "runs", teacher, epochs=2, resume=True)
    finally:
        shutil.rmtree(teacher)
        shutil.copytree(tmp_path / "t2" / "kept", teacher)
    moved = shutil.copytree(teacher, retrained)
    run = _student(small, tmp_path / "runs", moved, epochs=2, resume=True)
    assert len(run.history) == 2
    record = labkit.runs.run_record(tmp_path / "runs" / "kd")  # how: by its best_model.pth's SHA-256
    assert record["teacher_record"]["sha256"] == labkit.files.file_sha256(os.path.join(teacher, "best_model.pth"))


def _unfinished_teacher(small, run_dir):
    with pytest.raises(KeyboardInterrupt):
        labkit.fit("simplecnn", StopInEpoch(small, 2), run_dir=run_dir, run_name="half", **{**KW, "epochs": 2})
    return run_dir / "half"


def test_a_teacher_that_does_not_fit_is_refused_before_any_folder(small, subset_root, teacher, tmp_path):
    """Rows 3 and 4: an unfinished teacher, one trained on another split or with another normalization, one of
    3 classes for 10-class data: each refused naming the difference, before the student's folder is made."""
    half = _unfinished_teacher(small, tmp_path / "t")
    other_split = labkit.load_cifar10(subset_root, limit=200, test_limit=50, seed=1, device="cpu", verbose=False)
    off = labkit.load_cifar10(subset_root, limit=200, test_limit=50, normalize="off", device="cpu", verbose=False)
    split_teacher = labkit.fit("simplecnn", other_split, run_dir=tmp_path / "t", run_name="split", **KW).run_dir
    off_teacher = labkit.fit("simplecnn", off, run_dir=tmp_path / "t", run_name="off", **KW).run_dir
    three = tmp_path / "three.pth"
    labkit.models.save_model(labkit.get_model("simplecnn", num_classes=3), three, "simplecnn", num_classes=3)
    cases = [(half, r"is not a finished run \(interrupted: 1 of 2 epochs\): finish it first"),
             (split_teacher, r"was trained on other data than this run: .*data seed was 1, now 0.*validation images"),
             (off_teacher, r"was trained on other data than this run: data mean was None.*normalize was 'off', "
                           r"now 'computed'"),
             (three, r"predicts 3 classes .*but the data has 10")]
    wrong = []  # every case tried, each wrong outcome named (the code before issue 31 accepted rows 3's three)
    for bad, message in cases:
        try:
            _student(small, tmp_path / "runs", bad)
            wrong.append(f"{os.path.basename(bad)}: accepted")
        except labkit.ConfigError as e:
            if not re.search(message, str(e)):
                wrong.append(f"{os.path.basename(bad)}: {e}")
        except Exception as e:  # noqa: BLE001  (row 4: a raw RuntimeError from inside the training step)
            wrong.append(f"{os.path.basename(bad)}: raw {type(e).__name__}: {str(e)[:200]}")
        if (tmp_path / "runs").exists():
            wrong.append(f"{os.path.basename(bad)}: the student's run folder was made")
            shutil.rmtree(tmp_path / "runs")
    assert not wrong, "\n".join(wrong)


def test_a_finished_student_reloads_without_its_teacher(small, teacher, tmp_path):
    """Row 5: the teacher folder gone, a finished student reloads (a resume of an unfinished one is refused)."""
    copy = shutil.copytree(teacher, tmp_path / "teacher")
    run = _student(small, tmp_path / "runs", copy)
    shutil.rmtree(copy)
    again = _student(small, tmp_path / "runs", copy, resume=True)
    assert again.test_acc == run.test_acc


def test_class_weights_are_compared_on_resume(small, tmp_path):
    """Row 7: equal weights, then class 0 weighted 10x: refused like any other changed setting."""
    with pytest.raises(KeyboardInterrupt):
        labkit.fit("simplecnn", StopInEpoch(small, 2), run_dir=tmp_path, run_name="w", class_weights=[1.0] * 10,
                   **{**KW, "epochs": 2})
    with pytest.raises(labkit.ConfigError, match=r"class_weights was \[1\.0, 1\.0.*now \[10\.0, 1\.0"):
        labkit.fit("simplecnn", small, run_dir=tmp_path, run_name="w", class_weights=[10.0] + [1.0] * 9,
                   resume=True, **{**KW, "epochs": 2})
    with pytest.raises(labkit.ConfigError, match=r"class_weights was \[1\.0.*now None"):
        labkit.fit("simplecnn", small, run_dir=tmp_path, run_name="w", resume=True, **{**KW, "epochs": 2})
    for bad in ([1.0] * 9 + [float("nan")], [0.0] * 10, ["a"] * 10):
        with pytest.raises(labkit.ConfigError, match="class_weights"):
            labkit.fit("simplecnn", small, run_dir=tmp_path, run_name="w2", class_weights=bad, **KW)
    assert not (tmp_path / "w2").exists()


def test_notebook_path_checks_the_student_before_any_teacher_trains(small, tmp_path, monkeypatch):
    """Rows 2, 5 and 6 through task 1's notebook path (presets.fit_with_teacher): a student resumed with another
    teacher_epochs is refused before a teacher trains; a finished student reloads without training its teacher
    (even when the teacher folder is gone); start_over reaches a teacher run that cannot continue."""
    runs = tmp_path / "runs"
    kw = dict(run_dir=str(runs), run_name="kd", teacher_model="simplecnn", teacher_epochs=1, **KW)
    with pytest.raises(KeyboardInterrupt):
        labkit.presets.fit_with_teacher("simplecnn", StopInEpoch(small, 2), **{**kw, "epochs": 2})
    teachers = sorted(d for d in os.listdir(runs) if d.startswith("teacher-"))
    assert teachers == [f"teacher-simplecnn-e1-s0-{small.describe()['digest'][:8]}"]
    trained = []
    real_fit = labkit.presets.fit
    monkeypatch.setattr(labkit.presets, "fit", lambda *a, **k: trained.append(k.get("run_name")) or real_fit(*a, **k))
    with pytest.raises(labkit.ConfigError, match=r"cannot resume .*teacher epochs was 1, now 2"):
        labkit.presets.fit_with_teacher("simplecnn", small, **{**kw, "epochs": 2, "teacher_epochs": 2, "resume": True})
    assert trained == [] and sorted(d for d in os.listdir(runs) if d.startswith("teacher-")) == teachers
    done = labkit.presets.fit_with_teacher("simplecnn", small, **{**kw, "epochs": 2, "resume": True})
    assert len(done.history) == 2
    shutil.rmtree(runs / teachers[0])  # a finished student reloads without training its teacher again
    trained.clear()
    again = labkit.presets.fit_with_teacher("simplecnn", small, **{**kw, "epochs": 2, "resume": True})
    assert again.test_acc == done.test_acc and trained == ["kd"] and not (runs / teachers[0]).exists()
    # row 2: the teacher's run cannot continue (an unfinished teacher, its last.pth corrupt): since issue 34 a run
    # with no whole training state starts again at epoch 1 by itself (what it held set aside), teachers too
    labkit.presets.fit_with_teacher("simplecnn", small, **{**kw, "run_name": "kd2"})
    teacher = runs / teachers[0]
    (teacher / "last.pth").write_bytes(b"garbage")
    os.remove(teacher / "result.json")
    run = labkit.presets.fit_with_teacher("simplecnn", small, **{**kw, "run_name": "kd3"})
    assert (teacher / "best_model.pth").is_file() and (teacher / "result.json").is_file() and len(run.history) == 1
    assert torch.isfinite(torch.tensor(run.test_acc))


# ---- rows 2, 5 and 6 through task 1's notebook as it is: its parameter cell and its own training cell's code --
NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks",
                        "task1_simplecnn.ipynb")


def _notebook_cells():
    """(tags, code) of each code cell of task 1's built notebook (what papermill runs: its parameter cell with the
    shared block written out)."""
    with open(NOTEBOOK, encoding="utf-8") as f:
        nb = json.load(f)
    return [(json.dumps(c.get("metadata", {}).get("tags", [])), "".join(c["source"])) for c in nb["cells"]
            if c["cell_type"] == "code"]


def _task1_training_cell(data, **overrides):
    """Task 1's training cell run on ``data`` with its parameter cell's values and papermill-style ``-p``
    overrides (checked as the notebook checks them): whatever labkit calls that cell makes. Returns ``run``."""
    cells = _notebook_cells()
    defaults = {}
    exec(next(c for h, c in cells if '"parameters"' in h), {}, defaults)  # noqa: S102  (the repo's own cell)
    params = labkit.parameters.Params({**defaults, **overrides}).check()
    space = {"labkit": labkit, "data": data, "params": params}
    exec(next(c for h, c in cells if "import labkit.presets" in c), space)  # noqa: S102
    return space["run"]


def test_task1_notebooks_training_cell_with_a_teacher(small, subset_root, tmp_path):
    """Rows 2, 5 and 6 as the notebook meets them (its own training cell, -p values): the student's resume with
    another teacher_epochs refused before a teacher trains; a finished student reloaded without training its
    deleted teacher again; a teacher run that cannot continue does not block every re-run, and the fix the
    message named (start_over) reaches the teacher."""
    runs = tmp_path / "runs"
    p = dict(data_root=subset_root, run_dir=str(runs), run_name="kd", teacher_model="simplecnn", teacher_epochs=1,
             epochs=2, batch_size=32, amp="off", progress=False)

    def teachers():
        return sorted(d for d in os.listdir(runs) if d.startswith("teacher-"))

    wrong = []  # each row's wrong outcome, named (all three rows are tried in one pass)
    with pytest.raises(KeyboardInterrupt):
        _task1_training_cell(StopInEpoch(small, 2), **p)
    first = teachers()
    assert len(first) == 1 and "-e1-" in first[0]
    with pytest.raises(labkit.ConfigError) as e:  # row 6: -p teacher_epochs 2 -p resume True
        _task1_training_cell(small, **{**p, "teacher_epochs": 2, "resume": True})
    if teachers() != first:
        wrong.append(f"row 6: a teacher trained before the student's resume was refused: {teachers()}")
        shutil.rmtree(runs / next(t for t in teachers() if t not in first))
    if not re.search(r"cannot resume .*teacher epochs was 1, now 2", str(e.value)):
        wrong.append(f"row 6: {e.value}")
    done = _task1_training_cell(small, **{**p, "resume": True})
    assert len(done.history) == 2
    shutil.rmtree(runs / first[0])  # row 5: the teacher folder gone, the finished student reloaded
    again = _task1_training_cell(small, **{**p, "resume": True})
    if teachers():
        wrong.append("row 5: the teacher was trained again just to reload a finished student")
    assert again.test_acc == done.test_acc and again.history == done.history
    # row 2: a teacher whose run cannot continue (its last.pth garbage, its result.json lost), then the fix its
    # message named: -p start_over True (with resume), which reached only the student
    _task1_training_cell(small, **{**p, "run_name": "kd2", "epochs": 1})
    teacher = runs / first[0]
    (teacher / "last.pth").write_bytes(b"garbage")
    (teacher / "result.json").unlink()
    try:
        run = _task1_training_cell(small, **{**p, "run_name": "kd3", "epochs": 1, "resume": True, "start_over": True})
        assert len(run.history) == 1 and (teacher / "result.json").is_file()
        assert (teacher / "best_model.pth").is_file()
    except labkit.CheckpointError as e:
        wrong.append(f"row 2: {e}")
    assert not wrong, "\n".join(wrong)


def test_with_flips_the_teachers_two_views_are_run_once_and_each_batch_gets_its_own(small, teacher, tmp_path,
                                                                                      monkeypatch):
    """augment='flip' (task 1's recipe): the teacher runs once per training image and its mirror image before
    epoch 1, never in a step; each batch's cached outputs are the teacher's for exactly the images shown (flipped
    or not), so the run is the in-step teacher's run up to float rounding."""
    import labkit.train as train

    calls, seen = [], []
    real_distilled = train.distilled

    def spy(loss, out, x, parts, taught=None):
        seen.append((x.clone(), None if taught is None else taught.clone()))
        calls.append(taught is None)
        return real_distilled(loss, out, x, parts, taught)

    monkeypatch.setattr(train, "distilled", spy)
    cached = _student(small, tmp_path / "cached", teacher, augment="flip", epochs=2, amp="off")
    assert calls and not any(calls)  # every step read the cached outputs
    net = labkit.models.load_model(os.path.join(str(teacher), "best_model.pth")).eval()
    with torch.no_grad():
        for x, taught in seen[:3] + seen[-2:]:  # first and last steps: shuffled, some images mirrored
            assert torch.allclose(net(x), taught, atol=1e-4), "a batch got other images' teacher outputs"
    calls.clear()
    with monkeypatch.context() as m:
        m.setattr(train, "cache_teacher", lambda *a: None)  # the teacher in the step, as with crops
        in_step = _student(small, tmp_path / "in_step", teacher, augment="flip", epochs=2, amp="off")
    assert calls and all(calls)
    for a, b in zip(cached.history, in_step.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-3)
    calls.clear()
    _student(small, tmp_path / "crops", teacher, augment=True)  # crops: more than two views, nothing cached
    assert calls and all(calls)


def test_a_loader_refuses_views_with_random_crops(small):
    ld = small.loader("train", 32, augment=True)
    ld.views = torch.zeros(2, len(small.train_y), 10)
    with pytest.raises(ValueError, match="augment='flip' or none"):
        next(iter(ld))


def test_the_time_of_a_cached_teacher_run_is_measured_as_it_runs(small, teacher):
    """The Colab-CPU stop's and a study's estimate (labkit.timing.measure) time a distilled step as fit runs it:
    with flips it reads the cached outputs (the teacher never runs in a timed step) and the cache's own pass,
    the teacher on each training batch and its mirror image, is counted once per run; with crops the step runs
    the teacher and there is no cache pass."""
    from labkit import timing
    from labkit.device import choose_placement
    from labkit.train import build_parts, one_batch

    in_step = []
    spy = lambda parts, x, y, taught=None: (in_step.append(taught is None), one_batch(parts, x, y, taught))[1]  # noqa
    out = {}
    for augment in ("flip", True):
        cfg = labkit.TrainConfig(model="simplecnn", teacher=str(teacher), augment=augment, batch_size=32, epochs=2)
        place = choose_placement(cfg.device, cfg.amp, cfg.channels_last)
        in_step.clear()
        t = timing.measure(lambda: build_parts(cfg, 10, place, 6), spy, small, cfg, place)
        out[augment] = (t, list(in_step))
    (cached, steps_c), (crops, steps_x) = out["flip"], out[True]
    assert steps_c and not any(steps_c) and steps_x and all(steps_x)
    assert cached.cache > 0 and crops.cache == 0
    n = timing.counts(cfg, small)[0]
    with_cache = timing.run_seconds(cached, cfg, small, epochs=2)[1]
    assert with_cache == pytest.approx(timing.run_seconds(timing.dataclasses.replace(cached, cache=0.0), cfg, small,
                                                          epochs=2)[1] + n * cached.cache)
