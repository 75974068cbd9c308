"""How long a study will take, said before it trains: a few real training steps of each model timed on this
device, multiplied out over the runs' remaining epochs (the evaluation passes counted at a third of a
training step per image, as a forward pass costs about a third of forward + backward).

    est = estimate_runs([(cfg, data, epochs_left), ...])   # one entry per run still to train
    print(est.line())     # "10 runs x 30 epochs = 300 epochs ≈ 2 h 10 min on Tesla T4"
    ... train ...
    print(est.error_line(seconds_taken))
"""
import os
import time
from dataclasses import dataclass, field

import torch

from .colab import in_colab
from .device import choose_placement, to_device
from .errors import ConfigError
from .files import atomic_write_json
from .train import build_parts, one_batch

TIMED_STEPS = 3  # after one warm-up step: enough to see the step's cost, a few seconds on a CPU
COLAB_CPU_LIMIT_S = 3600  # in Colab without a GPU, a study estimated longer than this does not start


def _device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"this CPU ({os.cpu_count()} cores)"


def time_step(cfg, data):
    """Seconds per training step of ``cfg`` on ``data``'s training split, on the device the run will use."""
    place = choose_placement(cfg.device, cfg.amp, cfg.channels_last)
    loader = data.loader("train", cfg.batch_size, shuffle=True, augment=cfg.augment, seed=cfg.seed,
                         channels_last=place.channels_last)
    parts = build_parts(cfg, len(data.classes), place, max(1, len(loader)))
    parts.forward = parts.net
    batches = iter(loader)
    x, y = to_device(*next(batches), place.device, place.channels_last)
    one_batch(parts, x, y)  # warm-up: kernels chosen, memory allocated
    if place.device.type == "cuda":
        torch.cuda.synchronize(place.device)
    t0 = time.perf_counter()
    for _ in range(TIMED_STEPS):
        one_batch(parts, x, y)
    if place.device.type == "cuda":
        torch.cuda.synchronize(place.device)
    return (time.perf_counter() - t0) / TIMED_STEPS, place.device


def run_seconds(cfg, data, epochs, step_seconds):
    """A run's ``epochs`` at ``step_seconds`` per training step, its validation (and tracked test) passes."""
    d = data.describe()
    steps = -(-d.get("train", 0) // cfg.batch_size)
    evaluated = d.get("val", 0) + (d.get("test", 0) if cfg.track_test else 0)
    return epochs * step_seconds * (steps + evaluated / cfg.batch_size / 3)


def duration(seconds):
    seconds = max(0, int(round(seconds)))
    h, m, s = seconds // 3600, seconds % 3600 // 60, seconds % 60
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


@dataclass
class StudyEstimate:
    runs: int
    epochs: list
    seconds: float
    device: str
    cpu: bool
    per_model: dict = field(default_factory=dict)

    def line(self):
        same = len(set(self.epochs)) == 1
        what = (f"{self.runs} runs x {self.epochs[0]} epochs" if same and self.runs > 1 else
                f"{self.runs} run{'s' if self.runs > 1 else ''}, {sum(self.epochs)} epochs")
        text = f"Estimated: {what} ≈ {duration(self.seconds)} on {self.device} (timed {TIMED_STEPS} steps per model)"
        if self.cpu:
            text += (". WARNING: no GPU; in Colab: Runtime > Change runtime type > T4 GPU, then Run all again "
                     "(finished runs are kept)")
        return text

    def error_line(self, seconds):
        if not self.seconds:
            return f"The study took {duration(seconds)}."
        err = 100.0 * (seconds - self.seconds) / self.seconds
        return (f"The study took {duration(seconds)}; the estimate was {duration(self.seconds)} "
                f"({abs(err):.0f}% too {'low' if err > 0 else 'high'}).")

    def save(self, path, taken=None):
        atomic_write_json(path, {"runs": self.runs, "epochs": self.epochs, "estimated_seconds": round(self.seconds, 1),
                                 "device": self.device, "per_model_step_seconds": self.per_model,
                                 "taken_seconds": None if taken is None else round(taken, 1),
                                 "date": time.strftime("%Y-%m-%d %H:%M")})


def estimate_runs(todo):
    """A :class:`StudyEstimate` for ``todo``: [(TrainConfig, data, epochs still to train)], each distinct model
    and batch timed once (None when nothing is left to train)."""
    todo = [(c, d, e) for c, d, e in todo if e > 0]
    if not todo:
        return None
    timed, total, device = {}, 0.0, None
    for cfg, data, epochs in todo:
        key = (cfg.model, repr(sorted(cfg.model_kwargs.items())), cfg.batch_size, cfg.amp, id(data))
        if key not in timed:
            timed[key], device = time_step(cfg, data)
        total += run_seconds(cfg, data, epochs, timed[key])
    per_model = {f"{k[0]} (batch {k[2]})": round(v, 4) for k, v in timed.items()}
    est = StudyEstimate(len(todo), [e for _, _, e in todo], total, _device_name(device), device.type == "cpu",
                        per_model)
    refuse_long_colab_cpu(est, [cfg for cfg, _, _ in todo])
    return est


def refuse_long_colab_cpu(est, cfgs):
    """In Colab without a GPU, a study (or run) estimated over COLAB_CPU_LIMIT_S stops before its first epoch,
    naming the fix: it would otherwise train until Colab's 12-hour cap. Runs asked for ``device="cpu"`` by
    name go ahead."""
    if not (est.cpu and est.seconds > COLAB_CPU_LIMIT_S and in_colab()) or all(c.device == "cpu" for c in cfgs):
        return
    raise ConfigError(f"{est.line().split('. WARNING')[0]}: this Colab runtime has no GPU. Runtime > Change runtime "
                      f"type > T4 GPU, then Run all again (finished runs are kept); device='cpu' trains on the CPU "
                      f"anyway.")
