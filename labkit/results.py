"""Reading finished runs back: the comparison table (one row per run) from run folders, and the
error rates of a run's history."""
import os

import pandas as pd

from .files import atomic_write_text
from .runs import load_run

COLUMNS = ["run", "model", "epochs", "best_val_acc", "best_epoch", "test_acc", "train_seconds"]


def run_row(run, extra_keys=()):
    """One table row from a RunResult or a run folder (finished or not)."""
    if isinstance(run, (str, os.PathLike)):
        run = load_run(os.fspath(run), model=False)  # model=False: do not load weights
    row = run.summary()
    for k in extra_keys:
        row[k] = run.config.get(k, (run.config.get("data") or {}).get(k))
    return row


def summarize_runs(runs, extra_keys=(), sort_by=None):
    """A pandas DataFrame with one row per run (RunResults or run folders)."""
    rows = [run_row(r, extra_keys) for r in runs]
    df = pd.DataFrame(rows, columns=COLUMNS + [k for k in extra_keys if k not in COLUMNS])
    for c in ("best_val_acc", "test_acc"):
        df[c] = df[c].astype(float).round(2)
    if sort_by:
        df = df.sort_values(sort_by, ascending=False)
    return df.reset_index(drop=True)


def with_baseline_delta(df, baseline_index):
    """``df`` with ``test_vs_baseline``: each run's test accuracy minus the baseline's, in points."""
    base = df["test_acc"].iloc[baseline_index]
    df["test_vs_baseline"] = (df["test_acc"] - base).round(2)
    return df


def save_table(df, path_stem):
    """Write ``<stem>.csv`` and ``<stem>.md`` atomically; returns both paths. In the Markdown a missing value
    (a run without a validation split has no best validation accuracy) reads "-", not "nan"."""
    csv, md = f"{path_stem}.csv", f"{path_stem}.md"
    atomic_write_text(csv, df.to_csv(index=False))
    atomic_write_text(md, df.astype(object).where(df.notna(), "-").to_markdown(index=False) + "\n")
    return csv, md


def with_error_rates(history):
    """A copy of ``history`` where every epoch with ``train/val/test_acc`` also has the matching
    ``*_err`` (100 - accuracy, in %): the ResNet paper plots test error, the handouts accuracy. An accuracy of
    None (no validation split: val_ratio=0) has an error of None."""
    out = []
    for e in history:
        e = dict(e)
        for split in ("train", "val", "test"):
            if f"{split}_acc" in e:
                e[f"{split}_err"] = None if e[f"{split}_acc"] is None else 100.0 - e[f"{split}_acc"]
        out.append(e)
    return out


def trained_on(history):
    """Where a run's epochs ran, as text: each machine and precision (their ``machine`` entry, Placement.machine)
    with the epochs it ran, in order, e.g. 'Tesla T4, fp16 + GradScaler (epochs 1-4); NVIDIA L4, bf16 (epochs
    5-30)'. Epochs from before labkit recorded it are 'not recorded'."""
    spans = []  # [machine, first epoch, last epoch]
    for e in history:
        where = e.get("machine") or "not recorded"
        if spans and spans[-1][0] == where:
            spans[-1][2] = e["epoch"]
        else:
            spans.append([where, e["epoch"], e["epoch"]])
    return "; ".join(f"{w} (epoch {a})" if a == b else f"{w} (epochs {a}-{b})" for w, a, b in spans)
