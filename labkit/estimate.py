"""How long a study will take, said before it trains: each distinct model's run measured on this device
(:mod:`labkit.timing`: >= 20 training steps or >= 2 s after warm-up, an evaluation batch, a checkpoint commit of the
real size, the set-up) and a figure drawn, multiplied out over the runs' remaining epochs with their validation (and
tracked test) passes, commits and final tests (test-time views counted), each run's curves and the study's figure,
as a range.

    est = estimate_runs([(cfg, data, epochs_left), ...], where=exp_dir)   # one entry per run still to train
    print(est.line())     # "Estimated: 10 runs x 30 epochs ≈ 2 h 10 min (1 h 50 min to 2 h 35 min) on Tesla T4 ..."
    ... train ...
    print(est.error_line(seconds_taken))   # "The study: estimate 2 h 10 min, took 2 h 21 min: 8% low."
"""
import os
import time
from dataclasses import dataclass, field

import torch

from . import timing
from .device import choose_placement
from .files import atomic_write_json
from .timing import duration, measure, refuse_long_colab_cpu, run_seconds, span
from .train import build_parts, one_batch


def _device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"this CPU ({os.cpu_count()} cores)"


_FIGURE = {}  # the figure's time, measured once a process (per clock)


def time_figure(epochs):
    """Seconds to draw and save one four-panel figure of ``epochs`` points (each run's curves.png, a study's
    comparison figure), as labkit.plots draws them; the second of two (the first loads fonts: once a process)."""
    import io

    import matplotlib.pyplot as plt

    if timing.clock in _FIGURE:
        return _FIGURE[timing.clock]
    for _ in range(2):
        t0 = timing.clock()
        fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), squeeze=False)
        for ax in axes.flat:
            ax.plot(range(1, epochs + 1), [1.0 / e for e in range(1, epochs + 1)], marker="o", label="run")
            ax.set_title("curve")
            ax.grid(alpha=0.3)
        fig.legend(loc="lower center")
        fig.savefig(io.BytesIO(), dpi=110, bbox_inches="tight", format="png")
        plt.close(fig)
    _FIGURE[timing.clock] = timing.clock() - t0
    return _FIGURE[timing.clock]


def time_model(cfg, data, where=None):
    """The :class:`labkit.timing.Timing` of ``cfg``'s run on ``data``, on the device the run will use."""
    place = choose_placement(cfg.device, cfg.amp, cfg.channels_last)
    steps = max(1, -(-data.describe().get("train", 0) // cfg.batch_size))
    return measure(lambda: build_parts(cfg, len(data.classes), place, steps), one_batch, data, cfg, place, where)


@dataclass
class StudyEstimate:
    runs: int
    epochs: list
    seconds: float
    device: str
    cpu: bool
    per_model: dict = field(default_factory=dict)
    low: float = None
    high: float = None
    started: float = None

    def __post_init__(self):
        self.low = self.seconds if self.low is None else self.low
        self.high = self.seconds if self.high is None else self.high
        self.started = timing.clock()  # the study starts when its estimate is made

    def taken(self):
        """Seconds since the estimate was made (what the study took, asked at its end)."""
        return timing.clock() - self.started

    def what(self):
        same = len(set(self.epochs)) == 1
        return (f"{self.runs} runs x {self.epochs[0]} epochs" if same and self.runs > 1 else
                f"{self.runs} run{'s' if self.runs > 1 else ''}, {sum(self.epochs)} epochs")

    def line(self):
        text = f"Estimated: {self.what()} {span(self.low, self.seconds, self.high)} on {self.device}"
        if self.cpu:
            text += (". WARNING: no GPU; in Colab: Runtime > Change runtime type > T4 GPU, then Run all again "
                     "(finished runs are kept)")
        return text

    def error(self, seconds):
        """The estimate's error in % of the time taken (> 0: the estimate was low)."""
        return 100.0 * (seconds - self.seconds) / seconds if seconds > 0 else 0.0

    def error_line(self, seconds):
        err = self.error(seconds)
        return (f"The study: estimate {duration(self.seconds)}, took {duration(seconds)}: {abs(err):.0f}% "
                f"{'low' if err > 0 else 'high'}.")

    def save(self, path, taken=None):
        atomic_write_json(path, {"runs": self.runs, "epochs": self.epochs, "estimated_seconds": round(self.seconds, 1),
                                 "low_seconds": round(self.low, 1), "high_seconds": round(self.high, 1),
                                 "device": self.device, "per_model": self.per_model,
                                 "taken_seconds": None if taken is None else round(taken, 1),
                                 "error_percent": None if taken is None else round(self.error(taken), 1),
                                 "date": time.strftime("%Y-%m-%d %H:%M")})


def estimate_runs(todo, where=None):
    """A :class:`StudyEstimate` for ``todo``: [(TrainConfig, data, epochs still to train)], each distinct model,
    batch and data measured once (None when nothing is left to train). ``where``: the folder the runs commit to
    (a checkpoint commit is timed there). In Colab without a GPU one over COLAB_CPU_LIMIT_S stops (ConfigError)."""
    todo = [(c, d, e) for c, d, e in todo if e > 0]
    if not todo:
        return None
    timed, total = {}, [0.0, 0.0, 0.0]
    for cfg, data, epochs in todo:
        key = (cfg.model, repr(sorted(cfg.model_kwargs.items())), cfg.batch_size, cfg.amp, id(data))
        if key not in timed:
            timed[key] = time_model(cfg, data, where)
        total = [a + b for a, b in zip(total, run_seconds(timed[key], cfg, data, epochs))]
    figure = time_figure(max(e for _, _, e in todo))  # each run's curves, then the study's comparison
    total = [t + figure * (len(todo) + 1) for t in total]
    device = next(iter(timed.values())).device
    per_model = {f"{k[0]} (batch {k[2]})": {"step": round(t.step(), 4), "eval_batch": round(t.eval_batch, 4),
                                            "commit": round(t.commit, 3), "setup": round(t.setup, 3)}
                 for k, t in timed.items()}
    est = StudyEstimate(len(todo), [e for _, _, e in todo], total[1], _device_name(device), device.type == "cpu",
                        per_model, total[0], total[2])
    refuse_long_colab_cpu(est.seconds, device, [cfg for cfg, _, _ in todo], f"Estimated: {est.what()} "
                          f"{span(est.low, est.seconds, est.high)} on {est.device}")
    return est
