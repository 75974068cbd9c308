"""Runs compared in plain words: the settings a run changes against the baseline, the learning-rate schedule,
each difference read against the test set's noise (its standard error), each study's reading, task 1's line."""
import math

from ..config import TrainConfig
from ..errors import ConfigError
from .runs import _get, _labels, collect_runs, label, status, ReportError
from .show import show

# Settings that make two runs different experiments (what an ablation changes).
COMPARED = ("model", "model_kwargs", "epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov",
            "weight_decay", "scheduler", "milestones", "gamma", "step_size", "label_smoothing", "augment",
            "freeze_epochs", "seed", "data.normalize", "data.norm_ratio", "data.limit", "data.val_ratio")


STUDY_NAMES = {"data.normalize": "normalization", "data.norm_ratio": "normalization", "augment": "augmentation",
               "lr": "learning rate", "scheduler": "lr schedule", "milestones": "lr schedule",
               "gamma": "lr schedule", "step_size": "lr schedule"}


# The TrainConfig settings a learning-rate schedule depends on.
SCHEDULE_KEYS = ("epochs", "lr", "scheduler", "milestones", "gamma", "step_size", "warmup_steps")


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items()) or "-"
    return str(v)


def _acc(v):
    return f"{v:.2f}%" if isinstance(v, float) and v == v else "-"


def _pm(delta, se):
    return f"{delta:+.2f} ± {se:.2f}" if se == se else f"{delta:+.2f}"


def _schedule_settings(config):
    """The schedule settings of a run's ``config``, checked and completed with TrainConfig's defaults
    (None when they are not valid settings)."""
    try:
        return TrainConfig(**{k: config[k] for k in SCHEDULE_KEYS if k in config}).validate()
    except (ConfigError, TypeError):  # TypeError: a scheduler that is not text (a list, a dict)
        return None


def describe_schedule(config):
    """The learning-rate schedule in words, with the step size / milestones fit used (its defaults
    where the config leaves them out)."""
    cfg = _schedule_settings(config)
    if cfg is None:  # an older or foreign config: say what it holds
        return str(config.get("scheduler"))
    text = _schedule_words(cfg)
    if cfg.warmup_steps:  # He et al.'s ResNet-110 warm-up
        text = f"warm-up: {cfg.lr / 10:g} for the first {cfg.warmup_steps} steps, then {text}"
    return text


def _schedule_words(cfg):
    s, lr, n = cfg.scheduler, cfg.lr, cfg.epochs
    if s == "none":
        return f"constant {lr:g}"
    if s == "step":
        return f"step: x{cfg.gamma:g} every {cfg.step_epochs()} epochs"
    if s == "multistep":  # a milestone given twice is one lr change
        return f"multistep: x{cfg.gamma:g} after epochs {', '.join(map(str, sorted(set(cfg.milestone_epochs()))))}"
    if s == "cosine":
        return f"cosine from {lr:g} to 0 over {n} epochs (per batch)"
    if s == "onecycle":
        return f"one-cycle, peak {lr:g} (per batch)"
    if s == "cyclic":
        return f"cyclic (triangular) between {lr / 10:g} and {lr:g}, two cycles (per batch)"
    return s


def baseline_of(runs, baseline=None):
    """The run the others are compared with: the one named ``baseline`` (default 'baseline'),
    else the first."""
    names = _labels(runs)
    want = baseline or "baseline"
    for n, r in zip(names, runs):
        if n == want or label(r) == want:
            return r
    if baseline:
        raise ReportError(f"no run named {baseline!r} among {names}")
    return runs[0]


def differences(runs, baseline=None):
    """{run label: what it changes against the baseline, e.g. 'lr=0.1'} ('baseline' for the baseline)."""
    if not runs:
        return {}
    base = baseline_of(runs, baseline)
    out = {}
    for name, r in zip(_labels(runs), runs):
        if r is base:
            out[name] = "baseline"
            continue
        diff = [f"{k.split('.')[-1]}={_fmt(_get(r.config, k))}" for k in COMPARED
                if _get(r.config, k) != _get(base.config, k)]
        out[name] = ", ".join(diff) or "same settings"
    return out


def studies(runs, baseline=None):
    """{study name: [baseline, runs that change only that]} grouping ablation runs by what they change
    (normalization, augmentation, learning rate, lr schedule, or the setting's own name)."""
    if not runs:
        return {}
    base = baseline_of(runs, baseline)
    groups = {}
    for r in runs:
        if r is base:
            continue
        keys = [k for k in COMPARED if _get(r.config, k) != _get(base.config, k)]
        names = sorted({STUDY_NAMES.get(k, k.split(".")[-1]) for k in keys}) or ["same settings"]
        groups.setdefault(" + ".join(names), [base]).append(r)
    return groups


def test_images(run):
    """How many test images ``run`` was tested on (its data record), or None."""
    n = (run.config.get("data") or {}).get("test")
    return n if isinstance(n, int) and n > 0 else None


def difference_se(p1, p2, n):
    """The standard error (in points) of the difference of two test accuracies ``p1``, ``p2`` (in %) each
    measured on ``n`` test images: sqrt(p1(1-p1)/n + p2(1-p2)/n)."""
    a, b = p1 / 100.0, p2 / 100.0
    return 100.0 * math.sqrt(max(a * (1 - a), 0) / n + max(b * (1 - b), 0) / n)


def compare(run, base):
    """(difference in points, its standard error, reading) of ``run``'s test accuracy against ``base``'s:
    'within noise' when the difference is under two standard errors, else 'better' / 'worse'; None when
    either has no test result."""
    n = test_images(run) or test_images(base)
    if status(run) != "finished" or not all(isinstance(a, float) and a == a for a in (run.test_acc, base.test_acc)):
        return None
    delta = run.test_acc - base.test_acc
    se = difference_se(run.test_acc, base.test_acc, n) if n else float("nan")
    reading = ("within noise" if se == se and abs(delta) < 2 * se else
               "better" if delta > 0 else "worse" if delta < 0 else "same")
    return delta, se, reading


def _norm_words(data):
    norm = data.get("normalize")
    if norm == "computed":
        ratio = data.get("norm_ratio") or 1.0
        return ("mean/std from all training images" if ratio >= 1 else
                f"mean/std from {_fmt(100 * ratio)}% of the training images")
    return {"fixed": "the usual CIFAR-10 mean/std", "off": "no normalization"}.get(norm, f"normalization {norm}")


def _augment_words(augment):
    return {True: "random crop + flip", "flip": "flip only", False: "no augmentation"}.get(augment, f"{augment}")


def setting_words(config, key):
    """One setting of a run (a COMPARED key) in plain words: 'learning rate 0.1', 'no augmentation',
    'mean/std from 30% of the training images', 'cosine schedule'."""
    if key in ("data.normalize", "data.norm_ratio"):
        return _norm_words(config.get("data") or {})
    if key == "augment":
        return _augment_words(config.get("augment"))
    if key == "lr":
        return f"learning rate {_fmt(config.get('lr'))}"
    if key in ("scheduler", "milestones", "gamma", "step_size"):
        return describe_schedule(config)
    words = {"data.limit": "training images drawn", "data.val_ratio": "validation share", "model_kwargs": "model options"}
    return f"{words.get(key, key.split('.')[-1].replace('_', ' '))} {_fmt(_get(config, key))}"


def change_words(run, base):
    """What ``run`` changes against ``base`` in plain words ('baseline' for the baseline itself)."""
    if run is base:
        return "baseline"
    keys = [k for k in COMPARED if _get(run.config, k) != _get(base.config, k)]
    words = []
    for k in keys:
        w = setting_words(run.config, k)
        if w not in words:
            words.append(w)
    return ", ".join(words) or "same settings"


def baseline_words(base, study):
    """The baseline's value of the settings a study varies, in plain words."""
    keys = [k for k in COMPARED if STUDY_NAMES.get(k, k.split(".")[-1]) == study and _get(base.config, k) is not None]
    return ", ".join(dict.fromkeys(setting_words(base.config, k) for k in keys))


def study_readings(runs, baseline=None, figures=None):
    """{study: one line in plain words saying what its runs did against the baseline}, from the runs' test
    accuracies (of their best-validation checkpoints), each difference with its standard error from the
    test-set size, e.g. "learning rate 0.1: +3.20 ± 2.40 points (within noise); ... (baseline, learning rate
    0.01: 71.30%)". Only a difference of two standard errors or more is called better or worse; a diverged or
    unfinished run is named as such. ``figures``: {study: figure name} to point at."""
    runs = collect_runs(runs)
    if len(runs) < 2:
        return {}
    base = baseline_of(runs, baseline)
    out = {}
    for study, group in studies(runs, baseline).items():
        parts, beyond = [], []
        for r in group[1:]:
            what, c = change_words(r, base), compare(r, base)
            if c is None:
                parts.append(f"{what}: {status(r)}")
                continue
            parts.append(f"{what}: {_pm(c[0], c[1])} points ({c[2]})")
            if c[2] in ("better", "worse"):
                beyond.append(f"{what} {c[2]}")
        setting = baseline_words(base, study)
        line = "; ".join(parts) + f" (baseline{', ' + setting if setting else ''}: {_acc(base.test_acc)})"
        line += (". Beyond noise: " + ", ".join(beyond) if beyond else
                 ". No difference is beyond noise (two standard errors)") + "."
        if figures and study in figures:
            line += f" Curves: {figures[study]}."
        out[study] = line
    return out


def ablation_summary(runs, baseline=None, figures=None):
    """What each ablation study found, one data-driven line per study (:func:`study_readings`), as Markdown the
    student may keep or rewrite. ``runs``: an Experiment, run folders or RunResults."""
    runs = list(runs.runs.values()) if hasattr(runs, "runs") and isinstance(runs.runs, dict) else runs
    readings = study_readings(runs, baseline, figures)
    if not readings:
        return show("*No study to summarize (one run, or none finished).*")
    return show("\n".join(f"- **{study}**: {line}" for study, line in readings.items()))


def data_description(runs):
    """The data the runs actually used, in words: split sizes, quick-run limits, normalization (one line per
    distinct setting, naming its runs when they differ)."""
    runs = collect_runs(runs)
    groups = {}
    for name, r in zip(_labels(runs), runs):
        d = r.config.get("data") or {}
        norm = d.get("normalize")
        norm = (f"per-channel mean/std computed over {_fmt(100 * (d.get('norm_ratio') or 1.0))}% of the training "
                f"split" if norm == "computed" else "the usual CIFAR-10 mean/std" if norm == "fixed" else
                "none (pixel values / 255)")
        key = (d.get("train"), d.get("val"), d.get("test"), d.get("limit"), norm)
        groups.setdefault(key, []).append(name)
    lines = []
    for (n_train, n_val, n_test, limit, norm), names in groups.items():
        who = "" if len(groups) == 1 else f" ({', '.join(names)})"
        size = (f"{n_train:,} training / {n_val:,} validation / {n_test:,} test images" if all(
            isinstance(v, int) for v in (n_train, n_val, n_test)) else "split sizes not recorded")
        lines.append(f"- CIFAR-10{who}: {size}" + (f" (a quick run: {limit:,} training images drawn)" if limit else "")
                     + f"; normalization: {norm}.")
    held = ("a seeded share of the training images is held out for validation; the best validation epoch is the one "
            "tested" if any(g[1] != 0 for g in groups) else "no validation split: every training image trains and the last "
            "epoch is the one tested")
    text = (f"The split each run used, from its record ({held}; the test set is used for nothing else):\n\n"
            + "\n".join(lines))
    return show(text)


TASK1_LINES = ((80.0, "above the 80% line (full marks)"), (70.0, "above the 70% line (16/20)"))


def task1_tier(test_acc):
    """Which of task 1's grading lines a test accuracy (in %) passes, in words."""
    if not (isinstance(test_acc, float) and test_acc == test_acc):
        return "no test result"
    return next((words for line, words in TASK1_LINES if test_acc > line), "below the 70% line")


def task1_reading(run):
    """Task 1's curves read in one paragraph: the test accuracy and its line, the last epoch's training and
    validation accuracy and the gap between them (over-fitting shows as a growing gap)."""
    r = collect_runs(run)[0]
    if not r.history:
        return show("*No finished epoch.*")
    last = r.history[-1]
    if last["val_acc"] is None:  # val_ratio=0: no validation split, the last epoch is the model
        return show(f"The {r.config.get('model')} run reached {_acc(r.test_acc)} test accuracy "
                    f"({task1_tier(r.test_acc)}) with its last epoch, {len(r.history)}, after training on every "
                    f"training image (no validation split, so no validation curve; last training accuracy "
                    f"{_acc(last['train_acc'])}).")
    gap = last["train_acc"] - last["val_acc"]
    text = (f"The {r.config.get('model')} run reached {_acc(r.test_acc)} test accuracy ({task1_tier(r.test_acc)}), "
            f"from its best validation epoch {r.best_epoch} of {len(r.history)} ({_acc(r.best_val_acc)} validation "
            f"accuracy). In the last epoch training accuracy was {_acc(last['train_acc'])} and validation accuracy "
            f"{_acc(last['val_acc'])}: a gap of {gap:.1f} points"
            + (", so the net fits the training images better than it generalizes." if gap > 5 else "."))
    return show(text)
