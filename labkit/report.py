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

The pieces live in labkit/reporting/ (runs, show, words, tables, figures); every name is importable from here."""
import contextlib
import io
import os

import pandas as pd

from .models import get_model
from .notebook import record_runs
from .reporting.figures import show_confusion, show_curves, show_studies, show_study_figures, title_block
from .reporting.runs import (TASK1_MODELS, ReportError, _get, _labels, collect_runs, label, latest_runs, load_trusted,
                             status, status_of, tested)
from .reporting.show import REPORT_FIGSIZE, WIDE_FIGSIZE, Markdown, _display, display, get_ipython, show
from .reporting.tables import (READABLE, Captions, _cell, best_run, comparison_table, history_table, markdown_table,
                               per_class_markdown, per_class_table, readable, results_table, show_table, summary_table,
                               task1_result)
from .reporting.words import (COMPARED, SCHEDULE_KEYS, STUDY_NAMES, TASK1_LINES, _acc, _augment_words, _fmt, _norm_words,
                              _pm, _schedule_settings, _schedule_words, ablation_summary, baseline_of, baseline_words,
                              change_words, compare, data_description, describe_schedule, difference_se, differences,
                              setting_words, studies, study_readings, task1_reading, task1_tier, test_images)
from .summary import input_size_for, profile_flops



# ---- finding and loading runs --------------------------------------------------------------------
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


# ---- model and hyper-parameter tables --------------------------------------------------------------
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
        "loss": [("model selection", "the last epoch (no validation split)" if d.get("val") == 0
                  else "best validation accuracy")],
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
