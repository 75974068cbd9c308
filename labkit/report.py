"""What the report notebook shows, read from run folders: model and hyper-parameter tables, results,
curves and figures.

Every table comes from the runs' own files (``config.json``, ``history.json``, ``result.json``),
so the report states exactly what was trained; nothing is pasted by hand::

    import labkit.report as report
    t1 = report.latest_runs("runs", report.TASK1_MODELS)      # or report.collect_runs("runs/simplecnn-...")
    t2 = report.collect_runs("task2_ablations", run_dir="runs")  # every run in an experiment folder
    report.hyperparameter_table([*t1, t2[0]])                  # every setting, one column per run
    report.results_table(t2)                                   # accuracy per run + what each one changes
    report.show_curves(t1); report.show_studies(t2); report.show_confusion(t1[0])

Table functions return pandas DataFrames (a notebook renders the last one of a cell);
``show_*`` functions display their figure in the notebook (and close it) and, with
``save=path``, also write it as a PNG.
"""
import contextlib
import datetime
import glob
import io
import math
import os

import matplotlib.pyplot as plt
import pandas as pd

from .config import TrainConfig
from .errors import ConfigError, LabkitError
from .models import get_model
from .plots import plot_confusion_matrix, plot_histories
from .results import summarize_runs, with_baseline_delta
from .notebook import record_runs
from .runs import CURVES, RunResult, load_run, read_result, run_record, run_status, runs_below, runs_of
from .summary import input_size_for, profile_flops

try:  # IPython is optional: in plain Python the tables still work, figures are saved and text printed
    from IPython import get_ipython
    from IPython.display import Markdown, display
except ImportError:
    get_ipython = Markdown = display = None

# task 1's runs: the handout's net (the notebook's default) or a variant a student chose
TASK1_MODELS = ("simplecnn_k5", "simplecnn_k7", "simplecnn")  # its variants and the table's net (the default)

REPORT_FIGSIZE = (10, 4.8)  # the report's curves: about a third of a page each, so a figure follows its text

# Settings that make two runs different experiments (what an ablation changes).
COMPARED = ("model", "model_kwargs", "epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov",
            "weight_decay", "scheduler", "milestones", "gamma", "step_size", "label_smoothing", "augment",
            "freeze_epochs", "seed", "data.normalize", "data.norm_ratio", "data.limit", "data.val_ratio")
STUDY_NAMES = {"data.normalize": "normalization", "data.norm_ratio": "normalization", "augment": "augmentation",
               "lr": "learning rate", "scheduler": "lr schedule", "milestones": "lr schedule",
               "gamma": "lr schedule", "step_size": "lr schedule"}
# The TrainConfig settings a learning-rate schedule depends on.
SCHEDULE_KEYS = ("epochs", "lr", "scheduler", "milestones", "gamma", "step_size", "warmup_steps")


class ReportError(LabkitError, FileNotFoundError):
    """A run or experiment folder the report needs is not there."""


# ---- finding and loading runs --------------------------------------------------------------------
def collect_runs(*specs, run_dir=None):
    """RunResults (numbers only, no weights) for ``specs``: run folders, folders of runs (an experiment
    folder, a whole run_dir), glob patterns, or RunResults. A relative path not found as given is
    looked up in ``run_dir``. ``None`` specs are skipped (a report section left out)."""
    runs = []
    for spec in specs:
        if spec is None:
            continue
        if isinstance(spec, (list, tuple)):
            runs += collect_runs(*spec, run_dir=run_dir)
            continue
        if isinstance(spec, RunResult):
            runs.append(spec)
            continue
        spec = os.fspath(spec)
        tried = [spec] + ([os.path.join(os.fspath(run_dir), spec)] if run_dir and not os.path.isabs(spec) else [])
        found = []
        for cand in tried:
            matches = sorted(glob.glob(cand)) if glob.has_magic(cand) else ([cand] if os.path.isdir(cand) else [])
            for m in matches:
                if os.path.isdir(m):
                    found += runs_below(m)
            if found:
                break
        if not found:
            raise ReportError(f"no labkit run found at {' or '.join(repr(t) for t in tried)} (a run folder holds "
                              f"config.json). Run the lab notebook first, or fix the path; in Colab mount Google "
                              f"Drive first if the runs are there.")
        runs += [load_trusted(p) for p in found]
    return runs


def load_trusted(path):
    """A run's numbers (no weights) with the settings fit trusts: the record committed in its last.pth
    (config.json is a copy a hand can edit; fit rewrites it from that record), config.json only without one."""
    run = load_run(path, model=False)
    try:
        record = run_record(path)
    except LabkitError:
        record = None
    if isinstance(record, dict):
        run.config = record
    return run


def latest_runs(run_dir, model, verbose=True):
    """The newest *finished* run of ``model`` (a registry name, or several such as :data:`TASK1_MODELS`)
    directly in ``run_dir`` (a later quick check that was interrupted, diverged or never finished does not
    replace it), as a list of one run like collect_runs returns (so ``t1 + t2`` works); named in the output.
    Without a finished run, the newest run, named with its state."""
    run_dir = os.fspath(run_dir)
    found = runs_of(run_dir, model)
    if not found:
        names = " or ".join(f"'{m}'" for m in ([model] if isinstance(model, str) else model))
        raise ReportError(f"no {names} run in {run_dir!r}. Run its lab notebook first (run_dir="
                          f"{run_dir!r}), or give the run folder explicitly.")
    done = [p for p in found if status_of(p) == "finished"]
    path = (done or found)[-1]
    if verbose:
        how = ("the newest finished run" if done else f"the newest run, {status_of(path)}: no run there finished")
        print(f"run: {os.path.basename(path)} ({how} of {'/'.join([model] if isinstance(model, str) else model)} "
              f"in {run_dir}; name another with its folder)")
    return [load_trusted(path)]


def lab2_runs(run_dir="runs", task1_run=None, task2_experiment="task2_ablations"):
    """(task 1's runs, task 2's runs) for the Lab 2 report: ``task1_run`` (a folder) or the newest finished task-1
    run in ``run_dir``; the runs of ``task2_experiment`` (an experiment folder in ``run_dir``, or a list of run
    folders; None: no task 2). In a notebook they are recorded in its output (labkit.notebook.record_runs): the
    hand-in checks them against the runs the task notebooks recorded."""
    t1 = collect_runs(task1_run, run_dir=run_dir) if task1_run else latest_runs(run_dir, TASK1_MODELS)
    t2 = collect_runs(task2_experiment, run_dir=run_dir) if task2_experiment else []
    if get_ipython is not None and get_ipython() is not None:
        record_runs(t1 + t2, role="report")
    return t1, t2


def label(run):
    """A run's name in tables and legends: its folder name."""
    return os.path.basename(os.path.normpath(run.run_dir))


def _labels(runs):
    names = [label(r) for r in runs]
    out = []
    for r, n in zip(runs, names):
        if names.count(n) > 1:  # same folder name in two experiments: add the experiment's
            n = f"{os.path.basename(os.path.dirname(os.path.normpath(r.run_dir)))}/{n}"
        out.append(n)
    return out


def _get(config, key):
    cur = config
    for part in key.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def status_of(path):
    """'finished' (with a test accuracy that is a number), 'no valid result' (a result.json whose accuracy is
    not a number), 'diverged' (fit logged 'Stopped: ...') or 'not finished' (interrupted, or not started)."""
    st = run_status(path)
    if st == "finished":
        try:
            acc = (read_result(path) or {}).get("test_acc")
        except LabkitError:
            acc = None
        return "finished" if isinstance(acc, (int, float)) and math.isfinite(acc) else "no valid result"
    return st if st == "diverged" else "not finished"


def status(run):
    """The run's state as the report labels it (:func:`status_of`)."""
    return status_of(run.run_dir)


# ---- model and hyper-parameter tables --------------------------------------------------------------
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


def describe_loss(config):
    """The loss fit minimized, in words: cross-entropy (with label smoothing), or with a ``teacher`` the
    distillation loss (Hinton et al.) with its weight and temperature."""
    ls = config.get("label_smoothing") or 0
    ce = "cross-entropy" + (f" with label smoothing {_fmt(ls)}" if ls else "")
    if not config.get("teacher"):
        return ce
    a, t = config.get("distill_alpha", 0.7), config.get("distill_temperature", 4.0)
    return (f"distillation: (1 - {_fmt(a)}) x {ce} on the labels + {_fmt(a)} x T² x KL(teacher || student) on "
            f"predictions softened at T = {_fmt(t)}")


def _hyperparameters(config):
    """(setting, value) pairs of one run, in the order a report lists them: one row per report label of the declared
    settings (labkit.config: the training settings, then the data's; read at each call, so a setting declared later
    has its row), each with what the run recorded beside it (its size, the sampler, mean/std, split, torch)."""
    from . import config as declarations  # the module, not its names: a setting declared later counts too

    c, d = config, config.get("data") or {}
    sgd = c.get("optimizer") == "sgd"
    norm = {"computed": f"mean/std of {_fmt(d.get('norm_ratio', 1.0) * 100)}% of the training split",
            "fixed": "the usual CIFAR-10 mean/std"}.get(d.get("normalize"), d.get("normalize"))
    crop = "random crop + horizontal flip" if d.get("image_size") else "random crop (pad 4) + horizontal flip"
    described = {  # rows that say more than one setting's value
        "lr schedule": describe_schedule(c),  # with the milestones/step size fit used and the warm-up
        "momentum": c.get("momentum") if sgd else None,
        "nesterov": c.get("nesterov") if sgd else None,
        "augmentation": {"flip": "horizontal flip"}.get(c.get("augment"), crop) if c.get("augment") else "none",
        "loss": describe_loss(c),  # cross-entropy, or the distillation loss with its alpha and temperature
        "distillation teacher": os.path.basename(os.path.normpath(c["teacher"])) if c.get("teacher") else None,
        "test-time flips": "yes: each test image averaged with its mirror image" if c.get("test_flip") else "no",
        "test-time shifts": f"{c['test_shift']} pixel(s) up, down, left and right, each view averaged"
        if c.get("test_shift") else None,
        "precision": c.get("precision") or c.get("amp_dtype"),  # "fp16 + GradScaler" on a T4
        "normalization": norm,
    }
    recorded = {  # what the run recorded that is no setting, after the row it belongs with
        "model": [("parameters", f"{c['params']:,}" if isinstance(c.get("params"), int) else c.get("params"))],
        "class weights": [("sampler", c.get("sampler"))],
        "loss": [("model selection", "best validation accuracy")],
        "precision": [("torch", c.get("torch"))],
        "normalization": [("mean", d.get("mean") if d.get("normalize") != "off" else None),
                          ("std", d.get("std") if d.get("normalize") != "off" else None),
                          ("train / val / test images", f"{d['train']:,} / {d['val']:,} / {d['test']:,}"
                           if all(k in d for k in ("train", "val", "test")) else None)],
    }
    rows, seen = [], set()
    for values, cls in ((c, declarations.TrainConfig), (d, declarations.DataConfig)):
        for name, s, _ in declarations.declared(cls, lambda s: s.label):
            if s.label in seen:  # a row several settings share (the schedule, the loss) is written once
                continue
            value = described[s.label] if s.label in described else values.get(name)
            rows += [(s.label, value if value or s.shown_off else None), *recorded.get(s.label, [])]
            seen.add(s.label)
    return rows


def hyperparameter_table(runs, only_differing=False):
    """Every setting of each run (rows) side by side (one column per run), from its config.json.
    Rows empty for every run are left out; ``only_differing=True`` keeps the rows that differ."""
    runs = collect_runs(runs)
    if not runs:
        return pd.DataFrame()
    cols = {}
    order = []
    for name, r in zip(_labels(runs), runs):
        pairs = _hyperparameters(r.config)
        cols[name] = {k: v for k, v in pairs}
        order += [k for k, _ in pairs if k not in order]
    table = {name: [_fmt(vals.get(k)) for k in order] for name, vals in cols.items()}
    df = pd.DataFrame(table, index=order)
    df = df[(df != "-").any(axis=1)]
    if only_differing and len(runs) > 1:
        df = df[df.nunique(axis=1) > 1]
    df.index.name = "setting"
    return df


def model_table(runs, flops=True):
    """One row per distinct model of ``runs``: parameters (from the run) and, with ``flops``, thop's
    FLOPs for one image (the model rebuilt from the registry; no weights are loaded)."""
    runs = collect_runs(runs)
    rows, seen = [], set()
    for r in runs:
        c = r.config
        key = (c.get("model"), repr(sorted((c.get("model_kwargs") or {}).items())), c.get("num_classes"))
        if key in seen:
            continue
        seen.add(key)
        row = {"model": c.get("model"), "options": _fmt(c.get("model_kwargs") or None),
               "classes": c.get("num_classes"), "parameters": c.get("params"),
               "input": "x".join(str(s) for s in input_size_for(c.get("model", "")))}
        if flops:
            row["FLOPs (one image)"] = _flops(c)
        rows.append(row)
    return pd.DataFrame(rows)


def _flops(config):
    kw = {k: v for k, v in (config.get("model_kwargs") or {}).items() if k != "weights"}
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # thop/torchvision chatter
            model = get_model(config["model"], num_classes=int(config.get("num_classes") or 10), **kw)
            f, _ = profile_flops(model, verbose=False)
        return f"{f / 1e6:,.1f} M"
    except Exception as e:  # a model that thop cannot profile: say so in the cell, do not fail the report
        return f"n/a ({type(e).__name__})"


# ---- results ---------------------------------------------------------------------------------------
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


def results_table(runs, run_dir=None, extra_keys=(), changes=None, baseline=None, sort_by=None, errors=False):
    """The comparison table (labkit.results.summarize_runs: best validation accuracy, its epoch, test
    accuracy of that checkpoint, training time) for run folders / an experiment folder / RunResults.

    Added: ``change`` (what each run changes against the baseline; by default when there are several
    runs), ``status`` when some run is not finished (diverged / interrupted), and with ``errors=True``
    ``test_err`` (100 - test accuracy)."""
    runs = collect_runs(runs, run_dir=run_dir)
    if not runs:
        return summarize_runs([])
    df = summarize_runs(runs, extra_keys=extra_keys)
    df["run"] = _labels(runs)
    if changes is None:
        changes = len(runs) > 1
    if changes:
        diff = differences(runs, baseline)
        df.insert(1, "change", [diff[n] for n in df["run"]])
        df = with_baseline_delta(df, runs.index(baseline_of(runs, baseline)))
    if errors:
        df["test_err"] = (100.0 - df["test_acc"]).round(2)
    states = [status(r) for r in runs]
    if any(s != "finished" for s in states):
        df["status"] = states
    if sort_by:
        df = df.sort_values(sort_by, ascending=False).reset_index(drop=True)
    return df


# Column headers a reader understands, with units (the tables keep their short names for code).
READABLE = {"run": "run", "change": "change vs baseline", "model": "model", "epochs": "epochs",
            "best_val_acc": "best val. acc. (%)", "best_epoch": "best epoch", "test_acc": "test acc. (%)",
            "test_err": "test error (%)", "final_test_err": "final test error (%)",
            "test_vs_baseline": "Δ test vs baseline (points)",
            "train_seconds": "training time (s)", "status": "status", "lr": "learning rate",
            "train_loss": "train loss", "train_acc": "train acc. (%)", "val_loss": "val. loss",
            "val_acc": "val. acc. (%)", "test_loss": "test loss", "seconds": "time (s)"}


def readable(df, digits=2):
    """``df`` for reading: headers with units (READABLE), accuracies and times rounded to ``digits``,
    no row numbers. For display only (the column names of the returned frame are text)."""
    out = df.rename(columns=READABLE).round(digits)
    if list(out.index) == list(range(len(out))):
        out = out.set_index(out.columns[0])
    return out


def _acc(v):
    return f"{v:.2f}%" if isinstance(v, float) and v == v else "-"


# ---- a difference read against the test set's noise -------------------------------------------------
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


# ---- a setting in plain words -------------------------------------------------------------------------
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


def _pm(delta, se):
    return f"{delta:+.2f} ± {se:.2f}" if se == se else f"{delta:+.2f}"


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
    text = ("The split each run used, from its record (a seeded share of the training images is held out for "
            "validation; the best validation epoch is the one tested; the test set is used for nothing else):\n\n"
            + "\n".join(lines))
    return show(text)


def per_class_table(runs):
    """Test accuracy (%) per class (rows) of each finished run (columns), from result.json."""
    runs = collect_runs(runs)
    data = {n: r.per_class for n, r in zip(_labels(runs), runs) if r.per_class}
    df = pd.DataFrame(data)
    df.index.name = "class"
    return df


def history_table(run, every=1):
    """The per-epoch numbers of one run (the lines fit printed), every ``every``-th epoch and the last."""
    run = collect_runs(run)[0]
    h = run.history
    keep = [e for i, e in enumerate(h) if i % every == 0 or i == len(h) - 1]
    cols = [c for c in ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                        "seconds") if any(c in e for e in keep)]
    df = pd.DataFrame([{c: e.get(c) for c in cols} for e in keep])
    return df.round({c: 4 for c in ("train_loss", "val_loss", "test_loss")} | {c: 2 for c in ("train_acc", "val_acc",
                                                                                               "test_acc")})


# ---- numbered tables and figures, Markdown tables -----------------------------------------------------
class Captions:
    """Numbers the report's tables and figures in the order they are shown: ``cap.table("...")`` gives
    "**Table 1.** ..." (Markdown), ``cap.figure("...", key="curves")`` "**Figure 1.** ..."; ``cap.ref(key)``
    the name of a numbered one ("Figure 1") for the text that reads it."""

    def __init__(self):
        self.counts, self.names = {"Table": 0, "Figure": 0}, {}

    def _next(self, kind, text, key):
        self.counts[kind] += 1
        name = f"{kind} {self.counts[kind]}"
        self.names[key or name] = name
        return f"**{name}.** {text}"

    def table(self, text, key=None):
        return self._next("Table", text, key)

    def figure(self, text, key=None):
        return self._next("Figure", text, key)

    def ref(self, key):
        return self.names.get(key, key)


def _cell(v):
    """A table cell as text: whole numbers with thousands separators (60,554), decimals to 2 places."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return "-" if v != v else f"{int(v):,}" if v.is_integer() and abs(v) >= 1000 else f"{v:,.2f}"
    return "-" if v is None else str(v).replace("|", "\\|")


def markdown_table(df, caption=None, index=False):
    """``df`` as a Markdown table (no row numbers unless ``index``; numbers with separators), under its
    ``caption``: the form a report shows a table in."""
    if index:
        df = df.reset_index()
    head = [str(c) for c in df.columns]
    rows = [[_cell(v) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    return (caption + "\n\n" if caption else "") + "\n".join(lines)


def show_table(df, caption=None, index=False):
    """Display ``df`` as a Markdown table under its caption (:func:`markdown_table`)."""
    return show(markdown_table(df, caption, index))


def summary_table(run):
    """A finished run's result as a small two-column table (what ``run.summary()`` holds, in words and %)."""
    s = collect_runs(run)[0].summary()
    rows = [("run", s["run"]), ("model", s["model"]), ("epochs trained", s["epochs"]),
            ("best validation accuracy (%)", s["best_val_acc"]), ("best epoch", s["best_epoch"]),
            ("test accuracy of that checkpoint (%)", s["test_acc"]), ("training time (s)", s["train_seconds"])]
    return show_table(pd.DataFrame(rows, columns=["", "value"]))


def per_class_markdown(run, caption=None):
    """Test accuracy (%) per class of a finished run as a small table (classes as columns when few)."""
    pc = collect_runs(run)[0].per_class
    if not pc:
        return show("*No test result yet.*")
    return show_table(pd.DataFrame([{"class": k, "test accuracy (%)": v} for k, v in pc.items()]), caption)


# ---- Lab 2: the results in the report body --------------------------------------------------------------
TASK1_LINES = ((80.0, "above the 80% line (full marks)"), (70.0, "above the 70% line (16/20)"))


def task1_tier(test_acc):
    """Which of task 1's grading lines a test accuracy (in %) passes, in words."""
    if not (isinstance(test_acc, float) and test_acc == test_acc):
        return "no test result"
    return next((words for line, words in TASK1_LINES if test_acc > line), "below the 70% line")


def task1_result(runs, caption=None):
    """Task 1's result: test accuracy of the best-validation checkpoint with the grading line it passes, the
    best validation accuracy and its epoch, whether the test used flips, on how many test images."""
    rows = []
    for r in collect_runs(runs):
        rows.append({"run": label(r), "model": r.config.get("model"), "epochs": len(r.history),
                     "best val. acc. (%)": r.best_val_acc, "best epoch": r.best_epoch,
                     "test acc. (%)": r.test_acc, "task 1 line": task1_tier(r.test_acc),
                     "test-time flips": bool(r.config.get("test_flip")), "test images": test_images(r)})
    return show_table(pd.DataFrame(rows), caption)


def task1_reading(run):
    """Task 1's curves read in one paragraph: the test accuracy and its line, the last epoch's training and
    validation accuracy and the gap between them (over-fitting shows as a growing gap)."""
    r = collect_runs(run)[0]
    if not r.history:
        return show("*No finished epoch.*")
    last = r.history[-1]
    gap = last["train_acc"] - last["val_acc"]
    text = (f"The {r.config.get('model')} run reached {_acc(r.test_acc)} test accuracy ({task1_tier(r.test_acc)}), "
            f"from its best validation epoch {r.best_epoch} of {len(r.history)} ({_acc(r.best_val_acc)} validation "
            f"accuracy). In the last epoch training accuracy was {_acc(last['train_acc'])} and validation accuracy "
            f"{_acc(last['val_acc'])}: a gap of {gap:.1f} points"
            + (", so the net fits the training images better than it generalizes." if gap > 5 else "."))
    return show(text)


def comparison_table(runs, baseline=None, caption=None):
    """Task 2's comparison: per run the study, what it changes (in words), best validation and test accuracy
    (%), the difference from the baseline's test accuracy with its standard error from the test-set size, and
    whether it is beyond noise (two standard errors)."""
    runs = collect_runs(runs)
    if not runs:
        return show("*No run.*")
    base = baseline_of(runs, baseline)
    study_of = {id(r): name for name, group in studies(runs, baseline).items() for r in group[1:]}
    rows = []
    for r in [base] + [r for r in runs if r is not base]:
        c = compare(r, base) if r is not base else None
        rows.append({"study": study_of.get(id(r), "-"), "run": change_words(r, base),
                     "best val. acc. (%)": r.best_val_acc, "test acc. (%)": r.test_acc,
                     "Δ test vs baseline (points ± SE)": _pm(c[0], c[1]) if c else "-",
                     "reading": c[2] if c else ("-" if r is base else status(r))})
    rows = [rows[0]] + sorted(rows[1:], key=lambda row: row["study"])
    n = test_images(base)
    note = (f" SE: standard error of the difference on {n:,} test images; a difference under two SE is within noise."
            if n else "")
    return show_table(pd.DataFrame(rows), (caption or "") + note)


def show_study_figures(runs, cap, baseline=None):
    """Each study's curves overlaid on the baseline's, one numbered figure per study with its caption; returns
    {study: figure name} for :func:`ablation_summary` to point at."""
    runs = collect_runs(runs)
    base = baseline_of(runs, baseline) if runs else None
    names = {}
    for study, group in studies(runs, baseline).items():
        named = {f"baseline ({baseline_words(base, study) or 'baseline'})": base}
        named.update({change_words(r, base): r for r in group[1:]})
        show_curves(named)
        show(cap.figure(f"The {study} study: training and validation accuracy (%) and loss per epoch, the "
                        f"baseline and each run that changes only the {study}.", key=study))
        names[study] = cap.ref(study)
    return names


# ---- figures -----------------------------------------------------------------------------------------
def _display(obj):
    """Show a figure / table / Markdown in the notebook (figures closed afterwards, so it appears once)."""
    shell = get_ipython() if get_ipython else None  # None: plain Python, nothing to show into
    is_fig = hasattr(obj, "savefig")
    if shell is not None:
        display(obj)
    elif not is_fig:
        print(getattr(obj, "data", obj))  # Markdown objects: their text
    if is_fig:
        plt.close(obj)


def show(obj):
    """Display a DataFrame, Markdown text or matplotlib Figure in the notebook."""
    if isinstance(obj, str) and Markdown:
        obj = Markdown(obj)
    _display(obj)


def show_curves(runs, metrics=CURVES, title=None, save=None):
    """Epoch vs training/validation accuracy and loss (the handouts' four curves), runs overlaid.
    ``runs``: run(s) or folder(s), or {legend label: run}. ``metrics`` may include ``test_acc``,
    ``test_err``, ``val_err``, ``lr``."""
    if isinstance(runs, dict):
        named = {k: collect_runs(v)[0].history for k, v in runs.items()}
    else:
        rs = collect_runs(runs)
        named = {n: r.history for n, r in zip(_labels(rs), rs) if r.history}
    if not named:
        return show("*(no finished epoch to plot)*")
    fig = plot_histories(named, title=title, save=save, metrics=tuple(metrics), size=REPORT_FIGSIZE)
    _display(fig)


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


def show_studies(runs, baseline=None, metrics=CURVES, save_dir=None):
    """One overlaid figure per study: the baseline and the runs that change one setting group
    (Lab2 task 2's normalization / augmentation / learning rate / lr schedule ablations)."""
    runs = collect_runs(runs)
    groups = studies(runs, baseline)
    if not groups:
        return show_curves(runs, metrics=metrics)
    for name, group in groups.items():
        save = os.path.join(save_dir, f"study_{name.replace(' ', '_').replace('+', 'and')}.png") if save_dir else None
        show(f"**{name}**: " + ", ".join(f"`{n}`" for n in _labels(group)))
        show_curves(group, metrics=metrics, title=f"{name}: against the baseline", save=save)


def show_confusion(run, normalize=True, title=None, save=None):
    """The test-set confusion matrix of a finished run (rows: true class), from its result.json."""
    run = collect_runs(run)[0]
    if not run.confusion_matrix:
        return show(f"*`{label(run)}` has no test result yet ({status(run)}): finish its training first.*")
    classes = run.config.get("classes") or list(run.per_class) or [str(i) for i in range(len(run.confusion_matrix))]
    fig = plot_confusion_matrix(run.confusion_matrix, classes, normalize=normalize, save=save,
                                title=title or f"{label(run)}: test confusion matrix"
                                + (" (row-normalized)" if normalize else ""))
    _display(fig)


def best_run(runs, key="best_val_acc"):
    """The run with the highest ``key`` (by default validation accuracy: the honest choice)."""
    runs = collect_runs(runs)
    scored = [(r.summary().get(key), r) for r in runs]
    scored = [(v, r) for v, r in scored if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not scored:
        raise ReportError("no run with a result to choose from")
    return max(scored, key=lambda t: t[0])[1]


def title_block(student_name, student_id, lab, title=None, date=None):
    """The report's header (name, id, lab, date) as Markdown (its text without IPython)."""
    date = date or datetime.date.today().isoformat()
    head = title or f"{str(lab).upper().replace('LAB', 'Lab ')} report"
    text = (f"# {head}\n\n| | |\n|---|---|\n| Name | {student_name} |\n| Student ID | {student_id} |\n"
            f"| Lab | {lab} |\n| Date | {date} |\n")
    return Markdown(text) if Markdown else text
