"""The report's figures: the four curves of runs overlaid, one figure per study, a confusion matrix; the
report's header."""
import datetime
import os

from ..plots import plot_confusion_matrix, plot_histories
from ..runs import CURVES
from .runs import _labels, collect_runs, label, status
from .show import REPORT_FIGSIZE, WIDE_FIGSIZE, Markdown, _display, show
from .words import baseline_of, baseline_words, change_words, studies

def show_curves(runs, metrics=CURVES, title=None, save=None, wide=False):
    """Epoch vs training/validation accuracy and loss (the handouts' four curves), runs overlaid.
    ``runs``: run(s) or folder(s), or {legend label: run}. ``metrics`` may include ``test_acc``,
    ``test_err``, ``val_err``, ``lr``. ``wide``: the panels in one row (half the height)."""
    if isinstance(runs, dict):
        named = {k: collect_runs(v)[0].history for k, v in runs.items()}
    else:
        rs = collect_runs(runs)
        named = {n: r.history for n, r in zip(_labels(rs), rs) if r.history}
    if not named:
        return show("*(no finished epoch to plot)*")
    fig = plot_histories(named, title=title, save=save, metrics=tuple(metrics),
                         size=WIDE_FIGSIZE if wide else REPORT_FIGSIZE, rows=1 if wide else 2)
    _display(fig)


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


def show_study_figures(runs, cap, baseline=None):
    """Each study's curves overlaid on the baseline's, one numbered figure per study with its caption; returns
    {study: figure name} for :func:`ablation_summary` to point at."""
    runs = collect_runs(runs)
    base = baseline_of(runs, baseline) if runs else None
    names = {}
    for study, group in studies(runs, baseline).items():
        named = {f"baseline ({baseline_words(base, study) or 'baseline'})": base}
        named.update({change_words(r, base): r for r in group[1:]})
        show_curves(named, wide=True)
        show(cap.figure(f"The {study} study: training and validation accuracy (%) and loss per epoch, the "
                        f"baseline and each run that changes only the {study}.", key=study))
        names[study] = cap.ref(study)
    return names


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


def title_block(student_name, student_id, lab, title=None, date=None):
    """The report's header (name, id, lab, date) as Markdown (its text without IPython)."""
    date = date or datetime.date.today().isoformat()
    head = title or f"{str(lab).upper().replace('LAB', 'Lab ')} report"
    text = (f"# {head}\n\n| | |\n|---|---|\n| Name | {student_name} |\n| Student ID | {student_id} |\n"
            f"| Lab | {lab} |\n| Date | {date} |\n")
    return Markdown(text) if Markdown else text
