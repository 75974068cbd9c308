"""The report's tables: the comparison of runs, numbered captions, Markdown tables with thousands separators
and no row numbers, task 1's result, task 2's comparison with each difference's standard error."""
import math

import pandas as pd

from ..results import summarize_runs, with_baseline_delta
from .runs import ReportError, _labels, collect_runs, label, status
from .show import show
from .words import (_pm, baseline_of, change_words, compare, differences, studies, task1_tier, test_images)

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
    if list(out.index) == list(range(len(out))):  # the first column names the rows, its header in the corner
        first = out.columns[0]
        out = out.set_index(first)
        out.index.name, out.columns.name = None, first
    return out


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


def best_run(runs, key="best_val_acc"):
    """The run with the highest ``key`` (by default validation accuracy: the honest choice)."""
    runs = collect_runs(runs)
    scored = [(r.summary().get(key), r) for r in runs]
    scored = [(v, r) for v, r in scored if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not scored:
        raise ReportError("no run with a result to choose from")
    return max(scored, key=lambda t: t[0])[1]


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

    @staticmethod
    def name_of(caption):
        """The name a caption of this class starts with ("Figure 1" of "**Figure 1.** ..."), else None."""
        if caption.startswith("**") and ".**" in caption:
            return caption[2:].split(".**", 1)[0]
        return None

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
    if len(pc) <= 12:  # one row: the classes side by side (a tall table would take a third of a page)
        return show_table(pd.DataFrame([{"class": "test accuracy (%)", **pc}]), caption)
    return show_table(pd.DataFrame([{"class": k, "test accuracy (%)": v} for k, v in pc.items()]), caption)


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
