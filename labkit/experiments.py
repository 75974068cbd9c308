"""Experiments: several named training configurations run one after another and compared.

One call trains every configuration in its own run folder ``run_dir/experiment/<name>``
(with :func:`labkit.fit`, the one training loop), then writes the comparison table
(``<tag>.csv`` / ``<tag>.md``) and the overlaid curves (``<tag>_<group>.png``) into the
experiment folder, and each run's own curves into ``<name>/curves.png``::

    from labkit.experiments import Variant, run_experiments
    exp = run_experiments([Variant("baseline"), Variant("lr0.1", {"lr": 0.1}, change="lr=0.1")],
                          experiment="lr_check", model="resnet20", epochs=30, data_root="./data")
    exp.table            # pandas DataFrame, one row per configuration
    exp.show()           # the table and the overlaid figures, in a notebook

Before anything trains, every configuration is checked (names, model, numbers, data
settings, and that existing run folders were made with the same settings), so a typo in
the seventh configuration fails in seconds, not after six training runs.

Repeating the call trains nothing that is finished (``fit(resume=True)`` returns a finished
run as it is) and continues an interrupted configuration from its last finished epoch.
Configurations may change the data settings ``normalize`` / ``norm_ratio``; each distinct
data setting is loaded once.

The labs' studies built on it are in :mod:`labkit.studies`: task 2's ablations, the depth study,
the transfer study. :func:`model_variants` gives one configuration per model (the exercises).
"""
import os
import re
from dataclasses import dataclass, field

import matplotlib.pyplot as plt

from .config import TrainConfig, as_bool, as_list, check_data_params
from . import data as cifar  # cifar.load_cifar10: looked up at call time (tests count the loads)
from .errors import CheckpointError, ConfigError, NonFiniteLossError, RunExistsError
from .plots import plot_histories, plot_history, show_png
from .results import save_table, summarize_runs, with_baseline_delta, with_error_rates
from .estimate import estimate_runs
from .files import shown_path
from .runs import CURVES, diff_text, epochs_done, is_run, load_run, run_record, run_status, settings_diff, stop_line
from .train import fit

DATA_KEYS = ("normalize", "norm_ratio")  # the data settings a configuration may change
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")


@dataclass
class Variant:
    """One named configuration: ``params`` are fit parameters (``model``, ``lr``, ``epochs``...)
    and the data settings ``normalize`` / ``norm_ratio``; they override the experiment's common
    parameters. ``groups`` name the overlaid figures the run appears in; ``change`` says in the
    table what differs from the baseline."""

    name: str
    params: dict = field(default_factory=dict)
    groups: tuple = ()
    change: str = ""


@dataclass
class Experiment:
    """What :func:`run_experiments` returns: the runs by configuration name, the table, files."""

    name: str
    path: str
    variants: list
    runs: dict
    table: object
    files: dict
    figures: dict
    status: dict

    def show(self, runs=False):
        """Display the comparison table and the overlaid figures (``runs=True``: each run's too)."""
        from IPython.display import display  # IPython: only in a notebook

        display(self.table)
        self.show_figures()
        if runs:
            self.show_runs()

    def show_figures(self):
        """Display the overlaid figures (one per group of configurations)."""
        show_png(*self.figures.values())

    def show_runs(self):
        """Display each run's own four curves (train/val accuracy and loss per epoch)."""
        show_png(*[r.file("curves") for r in self.runs.values()])


# ---- the runner: plan (every check) → data → fit each configuration → table and figures ----------
def run_experiments(variants, *, experiment="experiment", run_dir="runs", data=None, data_root="./data",
                    download=True, normalize="computed", norm_ratio=1.0, limit=None, test_limit=None, val_ratio=0.1,
                    seed=0, device="auto", resume=True, start_over=False, progress=True, verbose=True,
                    metrics=CURVES, tag="comparison", title=None, columns=None, estimate=True, **common):
    """Train ``variants`` one after another in ``run_dir/experiment/<name>`` and compare them.

    - ``common``: fit parameters for every configuration (``model``, ``epochs``, ``lr``...);
      a configuration's own ``params`` override them.
    - data: ``data_root``, ``download``, ``limit``, ``test_limit``, ``val_ratio``, ``seed``
      (the train/validation split) are the experiment's; ``normalize`` / ``norm_ratio`` are
      defaults a configuration may change. ``data=`` a loaded CifarData is used for the
      configurations whose normalization matches it. ``seed`` is also the default training seed.
    - ``resume=True`` (default): finished configurations are loaded, not trained again, and an
      interrupted one continues. ``resume=False`` refuses an experiment folder that holds runs.
      A run that cannot continue (its last.pth or best_model.pth lost) stops the call before
      training; ``start_over=True`` trains it again (its files kept in ``earlier-1/`` inside it).
    - ``metrics``: the history keys of the overlaid figures (``test_err`` = 100 - test_acc,
      needs ``track_test=True``); ``tag`` names the table and figure files; ``columns(config, run)``
      may return extra table columns.

    A configuration whose loss becomes NaN/inf is recorded as diverged (and not retried when the
    call is repeated; delete its folder to retry); the others still run.
    Returns an :class:`Experiment`.
    """
    variants = as_variants(variants)
    _check_name(experiment, "experiment name", "a folder name")
    _check_name(tag, "tag", "part of a file name")
    data_common = check_data_params(normalize, norm_ratio, limit, test_limit, val_ratio, seed, data_root)
    if data is not None:  # a loaded data set: its split settings are the experiment's
        data_common.update({k: v for k, v in getattr(data, "info", {}).items() if k in ("limit", "val_ratio", "seed")})
    common.setdefault("seed", data_common["seed"])
    common.setdefault("device", device)
    return run_in_folder(variants, os.path.join(os.fspath(run_dir), experiment), name=experiment, data=data,
                         data_common=dict(data_common, download=download, device=device), resume=resume,
                         start_over=start_over, progress=progress, verbose=verbose, metrics=metrics, tag=tag,
                         title=title or experiment, columns=columns, common=common, estimate=estimate)


@dataclass
class PlannedRun:
    """One planned run of an experiment: its variant, checked fit parameters and which data it trains on."""

    variant: Variant
    model: str
    params: dict
    data_key: tuple
    path: str
    settings: object  # the checked TrainConfig of model and params: fit and the estimate take it as it is


def run_in_folder(variants, exp_dir, *, name, data, data_common, resume=True, start_over=False, progress=True,
                  verbose=True, metrics=CURVES, tag="comparison", title=None, columns=None, common=None, estimate=True):
    """The runner behind :func:`run_experiments` and the transfer study: every variant checked (names,
    settings, existing folders, the data), the time it will take estimated on this device (``estimate``;
    kept in ``estimate.json`` with the time it took), then each trained with fit in ``exp_dir/<name>``, the
    table written after every run; ``metrics=()`` draws no overlaid figure."""
    variants = as_variants(variants)
    _check_name(tag, "tag", "part of a file name")
    resume, start_over = as_bool("resume", resume), as_bool("start_over", start_over)
    plan = plan_variants(variants, common or {}, data_common, exp_dir, resume, start_over, given=data is not None)
    cache = _load_data(plan, data, data_common, verbose)
    if verbose:
        _print_plan(name, exp_dir, plan)
    est = _estimate(plan, cache) if estimate else None
    if est is not None and verbose:
        print(est.line(), flush=True)
    runs, status = {}, {}
    for i, planned in enumerate(plan, 1):
        key = planned.variant.name
        runs[key], status[key] = _train_variant(planned, i, len(plan), cache, exp_dir, start_over, progress, verbose)
        _save_table(plan, runs, status, exp_dir, tag, columns)  # after every run: partial results are kept
    df, table_files = _save_table(plan, runs, status, exp_dir, tag, columns)
    figures = _save_figures(plan, runs, exp_dir, tag, metrics, title) if metrics else {}
    files = {"csv": table_files[0], "md": table_files[1], **{f"figure:{k}": v for k, v in figures.items()}}
    if est is not None:  # kept in the experiment folder, with how long it really took
        taken = est.taken()  # since the estimate was made
        est.save(os.path.join(exp_dir, "estimate.json"), taken)
        files["estimate"] = os.path.join(exp_dir, "estimate.json")
        if verbose:
            print(est.error_line(taken))
    if verbose:
        print(f"\nComparison table: {shown_path(table_files[0])} and {shown_path(table_files[1])}"
              + (f"; figures: {', '.join(map(shown_path, figures.values()))}" if figures else ""))
    return Experiment(name, exp_dir, [p.variant for p in plan], runs, df, files, figures, status)


def _check_name(value, what, kind):
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ConfigError(f"{what} {value!r} cannot be {kind}: use letters, digits and . _ - + =")


def as_variants(variants):
    """Variants from a list of :class:`Variant` / dicts with a ``name``, or a ``{name: params}`` dict."""
    if isinstance(variants, dict):
        variants = [Variant(k, dict(v or {})) for k, v in variants.items()]
    out = []
    for c in variants or []:
        if isinstance(c, Variant):
            out.append(Variant(c.name, dict(c.params), tuple(c.groups), c.change))
        elif isinstance(c, dict) and "name" in c:
            c = dict(c)
            name, groups, change = c.pop("name"), tuple(c.pop("groups", ()) or ()), c.pop("change", "")
            out.append(Variant(name, dict(c.pop("params", None) or c), groups, change))
        else:
            raise ConfigError(f"a configuration must be a labkit.experiments.Variant or a dict with a 'name', "
                              f"got {c!r}")
    if not out:
        raise ConfigError("no configurations to run: give at least one.")
    return out


def plan_variants(variants, base, data_common, exp_dir, resume, start_over=False, given=False):
    """Check every variant (names, settings, existing run folders) before anything loads or trains;
    the :class:`PlannedRun` list. With ``given`` data the folders' data is checked once it is known."""
    seen, plan = set(), []
    for c in variants:
        _check_name(c.name, "configuration name", "a folder name")
        if c.name in seen:
            raise ConfigError(f"two configurations are named {c.name!r}; names must be unique.")
        seen.add(c.name)
        params = {**base, **c.params}
        try:
            TrainConfig.check_names(params, extra=DATA_KEYS, what="parameter")
            data = check_data_params(params.pop("normalize", data_common["normalize"]),
                                     params.pop("norm_ratio", data_common["norm_ratio"]))
            if params.get("model") is None:
                raise ConfigError("no model: pass model=... to the experiment or in the configuration.")
            cfg = TrainConfig.from_params(params.pop("model"), params)
        except ConfigError as e:
            raise ConfigError(f"configuration {c.name!r}: {e}") from None
        planned = PlannedRun(c, cfg.model, params, (data["normalize"], data["norm_ratio"]),
                             os.path.join(exp_dir, c.name), cfg)
        if resume and os.path.exists(planned.path) and os.listdir(planned.path):
            keys = () if given else ("normalize", "limit", "val_ratio", "seed") + (
                ("norm_ratio",) if data["normalize"] == "computed" else ())
            _check_existing(c.name, planned.path, cfg, {**data_common, **dict(zip(DATA_KEYS, planned.data_key))},
                            keys, start_over)
        plan.append(planned)
    existing = [p.variant.name for p in plan if os.path.exists(p.path) and os.listdir(p.path)]
    if existing and not resume:
        raise RunExistsError(f"experiment folder {exp_dir!r} already holds run(s) {', '.join(existing)}. Pass "
                             f"resume=True to reuse finished runs and continue interrupted ones, or choose another "
                             f"experiment name / run_dir; labkit never overwrites a run.")
    return plan


def _check_existing(name, path, cfg, data, data_keys, start_over=False):
    """An existing run folder must come from the same settings (else: fail now, not mid-way)."""
    if not is_run(path):
        raise RunExistsError(f"{path!r} exists but holds no labkit run (no config.json); move it away or choose "
                             f"another experiment name.")
    try:
        old = run_record(path)
    except CheckpointError as e:
        if start_over:
            return  # fit sets its files aside and trains it again
        raise CheckpointError(f"configuration {name!r}: {e} Pass start_over=True to train it again (its files are "
                              f"kept in earlier-1/ inside it), or use another experiment name.") from None
    if old is None:
        return  # a run that lost its settings: fit stops it with the fix (or starts it over)
    diff = settings_diff(old, cfg.to_dict(), data, data_keys)
    if diff:
        raise ConfigError(f"configuration {name!r}: its run folder {path!r} was made with other settings ("
                          + diff_text(diff, "; ") + "). Use another experiment name (or run_dir) for new settings, "
                          "or the old settings to reuse/continue it.")


def _load_data(plan, data, data_common, verbose):
    """Each distinct data setting loaded once, before any training; every existing run folder checked
    against the data it will train on. ``data`` (given) serves the settings it was loaded with."""
    cache = {}
    if data is not None:
        key = ((data.normalize, float(data.info.get("norm_ratio", 1.0)) if data.normalize == "computed" else 1.0)
               if isinstance(data, cifar.CifarData)
               else (data_common["normalize"], data_common["norm_ratio"]))
        cache[key] = data
    for planned in plan:
        if planned.data_key not in cache:
            dc = data_common
            cache[planned.data_key] = cifar.load_cifar10(
                dc["data_root"], download=dc["download"], val_ratio=dc["val_ratio"], limit=dc["limit"],
                test_limit=dc["test_limit"], seed=dc["seed"], normalize=planned.data_key[0],
                norm_ratio=planned.data_key[1], device=dc["device"], verbose=verbose)
    for planned in plan:
        _check_loaded(planned.variant.name, planned.path, cache[planned.data_key])
    return cache


def _check_loaded(name, path, data):
    """After loading, before any training: an existing run must have used this very data (as fit
    checks when it resumes: split sizes, normalization, the content's digest...)."""
    try:
        old = run_record(path) if is_run(path) else None
    except CheckpointError:
        return  # refused (or set aside with start_over) by _check_existing / fit, before any training
    diff = settings_diff(old, data=data.describe(), data_keys=None) if old else []
    if diff:
        raise ConfigError(f"configuration {name!r}: its run folder {path!r} used other data ("
                          + diff_text([(k.replace("data ", "", 1), a, b) for k, a, b in diff], "; ")
                          + "): it was trained on other data than this call's. Use another experiment name "
                          "(or run_dir), or the data settings of that run.")


STATUS_WORDS = {"finished": "finished", "diverged": "diverged", "interrupted": "interrupted, will continue"}


def _estimate(plan, cache):
    """The study's time: the runs still to train (finished and diverged ones cost nothing), their epochs left."""
    todo = []
    for p in plan:
        status = run_status(p.path) if os.path.isdir(p.path) else "not started"
        if status not in ("finished", "diverged"):
            cfg = p.settings
            todo.append((cfg, cache[p.data_key], cfg.epochs - epochs_done(p.path)))
    return estimate_runs(todo, where=os.path.dirname(plan[0].path) if plan else None)


def _print_plan(name, exp_dir, plan):
    print(f"Experiment {name!r}: {len(plan)} configuration(s) in {shown_path(exp_dir)}")
    for p in plan:
        state = STATUS_WORDS.get(run_status(p.path), "to train") if os.path.isdir(p.path) else "to train"
        print(f"  {p.variant.name:<18} {p.model:<16} {p.variant.change or '':<34} [{state}]")


def _train_variant(planned, i, n, cache, exp_dir, start_over, progress, verbose):
    """Train (or read back) one variant: (RunResult, "finished" or "diverged")."""
    c, path = planned.variant, planned.path
    if verbose:
        print(f"\n=== [{i}/{n}] {c.name}" + (f" ({c.change})" if c.change not in ("", c.name) else "") + " ===")
    stopped, status = stop_line(path), "finished"
    if stopped is None:
        try:
            res = fit(planned.settings, cache[planned.data_key], run_dir=exp_dir, run_name=c.name,
                      resume=os.path.isdir(path), start_over=start_over and os.path.isdir(path), progress=progress,
                      verbose=verbose)
        except NonFiniteLossError as e:
            stopped = f"Stopped: {e}"
    if stopped is not None:
        if verbose:
            print(f"{c.name} diverged; recorded as such (delete {path} to try again). {stopped}")
        res, status = load_run(path, model=False), "diverged"
    if res.model is not None:
        res.model = res.model.cpu()
    if res.history:
        plt.close(plot_history(res, title=c.name, save=res.file("curves")))
    return res, status


def _save_table(plan, runs, status, exp_dir, tag, columns):
    done = [(p.variant, runs[p.variant.name]) for p in plan if p.variant.name in runs]
    df = summarize_runs([r for _, r in done])
    df.insert(1, "change", [c.change for c, _ in done])
    names = [c.name for c, _ in done]
    if "baseline" in names and len(names) > 1:  # an ablation study: what each change did to the test accuracy
        df = with_baseline_delta(df, names.index("baseline"))
    df["status"] = [status.get(c.name, "") for c, _ in done]
    if columns is not None:
        extra = [columns(c, r) for c, r in done]
        for k in dict.fromkeys(k for row in extra for k in row):
            df[k] = [row.get(k) for row in extra]
    return df, save_table(df, os.path.join(exp_dir, tag))


def _save_figures(plan, runs, exp_dir, tag, metrics, title):
    """One overlaid figure per group (all runs in one figure when no configuration has a group)."""
    groups = {}
    for p in plan:
        for g in p.variant.groups:
            groups.setdefault(g, []).append(p.variant.name)
    if not groups:
        groups = {None: [p.variant.name for p in plan]}
    figures = {}
    for g, names in groups.items():
        runs_g = {n: with_error_rates(runs[n].history) for n in names if n in runs}
        if not runs_g:
            continue
        path = os.path.join(exp_dir, f"{tag}_{g}.png" if g else f"{tag}.png")
        plt.close(plot_histories(runs_g, title=f"{title}: {g.replace('_', ' ')}" if g else title, save=path,
                                 metrics=tuple(metrics)))
        figures[g or tag] = path
    return figures


def model_variants(models):
    """One configuration per model name (e.g. the exercises' simplecnn, vgg11, vgg16)."""
    return [Variant(m, {"model": m}) for m in as_list("models", models)]
