"""A run's time, measured on this device before it trains: its training steps (>= 20 steps or >= 2 s after
warm-up, in groups whose spread gives the range), its evaluation passes (validation, and the test set with its
test-time views), one epoch's checkpoint commit (a training state of the real size written as runs commit it)
and its set-up (the model built, the best checkpoint read back for the final test). The caller passes
the parts builder and the step (labkit.train's), so that fit and a study's estimate (labkit.estimate) measure
alike. In Colab without a GPU, a run or study estimated over :data:`COLAB_CPU_LIMIT_S` stops before its first
epoch, naming the fix.

    t = measure(build, step, data, cfg, place, where)   # seconds per step / eval batch / commit / set-up
    low, mid, high = run_seconds(t, cfg, data, epochs)
"""
import copy
import dataclasses
import itertools
import math
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass

import torch

from .colab import in_colab
from .device import to_device
from .errors import ConfigError
from .evaluate import confusion, evaluate
from .files import atomic_torch_save, atomic_write_json
from .models import load_model, save_model, unwrap
from .rng import rng_state, set_rng_state
from .teacher import caches, mirror, teach

MIN_STEPS, MIN_SECONDS = 20, 2.0  # steps are timed until either is reached (after warm-up), in groups
WARMUP_STEPS = 2                   # kernels chosen (cuDNN's benchmark), memory allocated
EVAL_BATCHES, EVAL_SECONDS = 5, 1.0
SLACK = 0.1  # the range widened by this much each way: what the timing cannot see (load, clocks, Drive)
COLAB_CPU_LIMIT_S = 3600  # in Colab without a GPU, a run or study estimated longer than this does not start
COLAB_CPU_FIX = "Runtime > Change runtime type > T4 GPU"


def clock():
    """The clock every measurement reads (wall time; a test may read the thread's CPU time instead)."""
    return time.perf_counter()


@dataclass
class Timing:
    """What one model's run costs on this device, in seconds: a training step (``steps``: the per-step time of
    each timed group), an evaluation batch without and with the test-time views, one epoch's commit, the set-up,
    and where the teacher's outputs are cached (teacher.cache_teacher) their pass per training batch (``cache``:
    the batch and its mirror image, once a run and again on each resume)."""

    device: torch.device
    steps: list
    eval_batch: float
    tta_batch: float
    commit: float
    setup: float
    cache: float = 0.0

    def step(self, q=0.5):
        """The step time at quantile ``q`` of the timed groups (0.5: the median)."""
        s = sorted(self.steps)
        return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))] if q != 0.5 else statistics.median(s)


def measure(build, step, data, cfg, place, where=None):
    """The :class:`Timing` of ``cfg`` on ``data``: ``build()`` makes fresh training parts (never the run's own),
    ``step(parts, x, y)`` is one optimizer step; ``where``: the folder runs commit to (the commit is timed there,
    in a temporary folder removed after). The random state is as it was before."""
    saved = rng_state()
    confusion([0], [0], 2)  # its first call imports scikit-learn (seconds, once a process): not the study's cost
    try:
        t0 = clock()
        parts = build()
        parts.forward = parts.forward or parts.net
        built = clock() - t0
        steps = time_steps(parts, step, data, cfg, place)
        ev = _time_eval(parts, data, cfg, place)
        cache = _time_cache(parts, data, cfg, place)
        commit, load = time_commit(parts, cfg, where, num_classes=len(data.classes))
    finally:
        set_rng_state(saved)
    return Timing(place.device, steps, ev, ev * views(cfg), commit, built + load, cache)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(parts, step, data, cfg, place):
    """Seconds per training step, one value per timed group (1 step on a CPU, 5 on a GPU: a sync per group), after
    WARMUP_STEPS; timed until MIN_STEPS steps or MIN_SECONDS, never beyond one epoch's batches (a per-batch
    schedule must not step past its end). Where fit caches the teacher's outputs the step is timed as fit runs
    it, reading outputs instead of running the teacher (their values do not change its cost)."""
    loader = data.loader("train", cfg.batch_size, shuffle=True, augment=cfg.augment, seed=cfg.seed,
                         channels_last=place.channels_last)
    loader.set_epoch(1)
    cached = caches(parts, loader, cfg.augment)
    n = len(loader)
    warm, group = min(WARMUP_STEPS, max(0, n - 1)), 5 if place.device.type == "cuda" else 1
    parts.net.train()
    batches, groups, done, k, t0 = iter(loader), [], 0, 0, None
    correct = torch.zeros((), device=place.device, dtype=torch.long)
    for i in range(n):
        if i == warm:
            _sync(place.device)
            t0 = tg = clock()
        x, y = to_device(*next(batches), place.device, place.channels_last)
        taught = (torch.zeros(len(y), len(data.classes), device=place.device),) if cached else ()
        _, out = step(parts, x, y, *taught)
        correct += (out.argmax(1) == y).sum()
        if i < warm:
            continue
        done, k = done + 1, k + 1
        if k == group or i == n - 1:
            _sync(place.device)
            now = clock()
            groups.append((now - tg) / k)
            tg, k = now, 0
            if done >= MIN_STEPS or now - t0 >= MIN_SECONDS:
                break
    return groups or [0.0]


def _time_eval(parts, data, cfg, place):
    """Seconds per validation batch (a test batch costs the same; with test-time views, that many times it), timed
    by :func:`_per_call` (the split's batches again if it has fewer); on test batches where there is no
    validation split (val_ratio=0), which a tracked test set still evaluates every epoch."""
    batch = cfg.eval_batch(getattr(data, "input_size", 32))
    loader = data.loader("val", batch, shuffle=False, channels_last=place.channels_last)
    if len(loader) == 0:  # as fit's loaders read it: no validation split
        loader = data.loader("test", batch, shuffle=False, channels_last=place.channels_last)
    if len(loader) == 0:
        return 0.0
    batches = itertools.cycle(loader)
    return _per_call(lambda: evaluate(parts.forward, [next(batches)], place.device, place.amp_dtype,
                                      channels_last=place.channels_last), place)  # ends with .item(): synced


def _per_call(run, place):
    """Seconds per call of ``run`` (which syncs): up to EVAL_BATCHES calls or EVAL_SECONDS, after one warm-up call
    on a GPU (cuDNN picks its kernels for the new batch size)."""
    if place.device.type == "cuda":
        run()
    timed, t0 = 0, clock()
    while timed < EVAL_BATCHES and (timed == 0 or clock() - t0 < EVAL_SECONDS):
        run()
        timed += 1
    return (clock() - t0) / timed


def _time_cache(parts, data, cfg, place):
    """Seconds of the teacher's cached pass per training batch (its outputs for the batch and its mirror image,
    as teacher.cache_teacher computes them), timed by :func:`_per_call`; 0 where nothing is cached."""
    loader = data.loader("train", cfg.batch_size, shuffle=False, channels_last=place.channels_last)
    if len(loader) == 0 or not caches(parts, loader, cfg.augment):
        return 0.0
    batches = itertools.cycle(loader)

    def run():
        x, _ = to_device(*next(batches), place.device, place.channels_last)
        (teach(parts, x) + teach(parts, mirror(parts, x))).sum().item()  # .item(): synced

    return _per_call(run, place)


def views(cfg):
    """How many views of each test image the test-time flips/shifts evaluate (labkit.evaluate.views_of)."""
    return (5 if cfg.test_shift else 1) * (2 if cfg.test_flip else 1)


def time_commit(parts, cfg, where, num_classes=None):
    """(seconds of one epoch's commit, seconds to read the best checkpoint back): a training state of the real
    size (weights, optimizer, schedule, random state, the best epoch's weights, history) written as runs commit
    it (atomically, then history.json), and a best checkpoint written and read, in a temporary folder of
    ``where`` (its nearest existing folder), removed after. ``num_classes`` is recorded in the checkpoint as
    runs record it (the transfer lab's 3-class data rebuilds a 3-class model)."""
    weights = unwrap(parts.net).state_dict()
    history = [{"epoch": e, "lr": 0.1, "train_loss": 1.0, "train_acc": 50.0, "val_loss": 1.0, "val_acc": 50.0,
                "seconds": 1.0} for e in range(1, cfg.epochs + 1)]
    state = {"model": weights, "optimizer": parts.optimizer.state_dict(),
             "scheduler": parts.scheduler.state_dict() if parts.scheduler is not None else None,
             "scaler": parts.scaler.state_dict() if parts.scaler is not None else None, "rng": rng_state(),
             "history": history, "log": "x" * 200 * cfg.epochs}
    folder = tempfile.mkdtemp(prefix=".labkit-estimate-", dir=_existing(where))
    try:
        t0 = clock()
        state["best_model"] = {k: v.detach().to("cpu", copy=True) for k, v in weights.items()}
        atomic_torch_save(state, os.path.join(folder, "state.pth"))
        atomic_write_json(os.path.join(folder, "epochs.json"), history)
        commit = clock() - t0
        save_model(parts.net, os.path.join(folder, "best.pth"), cfg.model, cfg.model_kwargs, num_classes=num_classes)
        t0 = clock()
        load_model(os.path.join(folder, "best.pth"), device=parts.device)
        return commit, clock() - t0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _existing(where):
    path = os.path.abspath(os.fspath(where)) if where else tempfile.gettempdir()
    while not os.path.isdir(path):
        path = os.path.dirname(path)
    return path


def counts(cfg, data):
    """(training steps, validation batches, test batches) of one epoch of ``cfg`` on ``data``."""
    d, eval_batch = data.describe(), cfg.eval_batch(getattr(data, "input_size", 32))
    return (math.ceil(d.get("train", 0) / cfg.batch_size), math.ceil(d.get("val", 0) / eval_batch),
            math.ceil(d.get("test", 0) / eval_batch))


def run_seconds(t, cfg, data, epochs, fresh=True):
    """(low, estimate, high) seconds of a run's ``epochs`` still to train: each epoch's steps, validation (and
    tracked test) pass and commit, then the final test; with ``fresh`` its set-up. The range: the step time of
    the fastest and slowest quarter of the timed groups, widened by SLACK."""
    steps, val, test = counts(cfg, data)
    tracked = test * t.tta_batch if cfg.track_test else 0.0
    fixed = (epochs * (val * t.eval_batch + tracked + t.commit) + test * t.tta_batch + (t.setup if fresh else 0.0)
             + steps * t.cache)  # the teacher's cached pass: before the first epoch, fresh or resumed
    low, mid, high = (epochs * steps * t.step(q) + fixed for q in (0.25, 0.5, 0.75))
    return low * (1 - SLACK), mid, high * (1 + SLACK)


def duration(seconds):
    seconds = max(0, int(round(seconds)))
    h, m, s = seconds // 3600, seconds % 3600 // 60, seconds % 60
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


def span(low, mid, high):
    """'≈ 2 h 10 min (1 h 50 min to 2 h 35 min)'."""
    return f"≈ {duration(mid)} ({duration(low)} to {duration(high)})"


def refuse_long_colab_cpu(seconds, device, cfgs, what):
    """In Colab without a GPU, a study or run (``what``: its estimate, in words) estimated over COLAB_CPU_LIMIT_S
    stops before its first epoch, naming the fix: it would otherwise train until Colab's 12-hour cap. Runs asked
    for ``device="cpu"`` by name go ahead."""
    if device.type != "cpu" or seconds <= COLAB_CPU_LIMIT_S or not in_colab() or all(c.device == "cpu" for c in cfgs):
        return
    raise ConfigError(f"{what}: this Colab runtime has no GPU. {COLAB_CPU_FIX}, then Run all again (finished runs "
                      f"are kept); device='cpu' trains on the CPU anyway.")


def check_colab_cpu_run(parts, step, data, cfg, place, epochs, where=None):
    """fit's check before its first epoch: in Colab on a CPU (``device`` not "cpu" by name), the run's time is
    measured (on a copy of ``parts``: the run's own are untouched) and a run estimated over COLAB_CPU_LIMIT_S stops
    with the fix. Elsewhere nothing is measured."""
    if place.device.type != "cpu" or cfg.device == "cpu" or epochs <= 0 or not in_colab():
        return
    build = lambda: copy.deepcopy(dataclasses.replace(parts, forward=None))  # noqa: E731
    low, mid, high = run_seconds(measure(build, step, data, cfg, place, where), cfg, data, epochs)
    refuse_long_colab_cpu(mid, place.device, [cfg], f"Estimated: this run's {epochs} epochs {span(low, mid, high)} "
                                                    f"on this CPU")
