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

The standard studies are built by :func:`run_ablations` (Lab2 task 2: normalization,
augmentation, learning rate and update strategy, each against one baseline) and
:func:`run_depth_study` (ResNet vs plain nets of the same depth with the recipe of
He et al. 2016, test error against the paper's; pre-activation variants as the bonus).
"""
import math
import os
import re
from dataclasses import dataclass, field

import matplotlib.pyplot as plt

from .config import TrainConfig, as_augment, as_bool, as_float, as_int, as_list, canonical_scheduler, check_data_params
from . import data as cifar  # cifar.load_cifar10: looked up at call time (tests count the loads)
from .errors import CheckpointError, ConfigError, NonFiniteLossError, RunExistsError, unknown_name
from .plots import plot_error_curves, plot_histories, plot_history, show_png
from .results import save_table, summarize_runs, with_baseline_delta, with_error_rates
from .estimate import estimate_runs
from .files import shown_path
from .runs import CURVES, diff_text, epochs_done, is_run, load_run, run_record, run_status, settings_diff, stop_line
from .train import fit

DATA_KEYS = ("normalize", "norm_ratio")  # the data settings a configuration may change
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")

# ---- Lab2 task 2: ablations against a baseline ---------------------------------------------------
ABLATIONS = ("normalization", "augmentation", "lr", "scheduler")
LR_VALUES = (0.1, 0.01, 0.001)
SCHEDULERS = ("none", "step", "cosine", "onecycle", "cyclic")

# ---- ResNet depth lab (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016) ----
PAPER_EPOCHS = 164
PAPER_MILESTONES = (81, 122)
# "we use 0.01 to warm up the training until the training error is below 80% (about 400 iterations), and then go
# back to 0.1" (He et al. 2016, section 4.2, ResNet-110): the depth study does so at 110 layers
PAPER_WARMUP = {110: 400}
# CIFAR-10 test error (%) of the paper's Table 6; pre-activation ResNet-110 from He et al.,
# "Identity Mappings in Deep Residual Networks" (ECCV 2016).
PAPER_TEST_ERROR = {"resnet20": 8.75, "resnet32": 7.51, "resnet44": 7.17, "resnet56": 6.97, "resnet110": 6.43,
                    "preact_resnet110": 6.37}
DEPTHS = (20, 32, 44, 56, 110)
KINDS = {"plain": "plain{}", "resnet": "resnet{}", "preact": "preact_resnet{}"}
KIND_TITLES = {"plain": "plain nets", "resnet": "ResNets", "preact": "pre-activation ResNets"}


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
                             os.path.join(exp_dir, c.name))
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
            cfg = TrainConfig.from_params(p.model, p.params)
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
            res = fit(planned.model, cache[planned.data_key], run_dir=exp_dir, run_name=c.name,
                      resume=os.path.isdir(path), start_over=start_over and os.path.isdir(path), progress=progress,
                      verbose=verbose, **planned.params)
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


# ---- Lab2 task 2: ablations against one baseline -------------------------------------------------
def ablation_variants(studies=ABLATIONS, *, normalize="computed", norm_ratio=1.0, augment=True, lr=0.01,
                     scheduler="none", lr_values=LR_VALUES, schedulers=SCHEDULERS, sampled_norm_ratio=0.3):
    """The baseline plus, for each study, the variants that differ from it in that one setting.

    The keyword arguments ``normalize`` ... ``scheduler`` are the baseline's settings;
    - ``normalization``: off / computed mean-std over all training images / over a sampled
      ``sampled_norm_ratio`` of them (the handout's ``get_mean_std(ratio=...)``);
    - ``augmentation``: crop+flip off (or on, if the baseline has none);
    - ``lr``: each of ``lr_values`` (at least three values with the baseline's);
    - ``scheduler``: each of ``schedulers`` (constant ``none``, ``step``, ``cosine``, ``onecycle``, ``cyclic``).
    The baseline belongs to every study's figure.
    """
    studies = as_list("ablations", studies)
    for s in studies:
        if s not in ABLATIONS:
            raise unknown_name("ablation", s, ABLATIONS)
    base_norm = check_data_params(normalize, norm_ratio)
    sampled = as_float("sampled_norm_ratio", sampled_norm_ratio, 0, hi=1, lo_open=True, hi_open=True)
    augment, lr, scheduler = as_augment(augment), as_float("lr", lr, 0, lo_open=True), canonical_scheduler(scheduler)
    configs = [Variant("baseline", {}, tuple(studies), "baseline")]
    for study in studies:
        if study == "normalization":
            for mode, ratio, name in (("off", 1.0, "norm_off"), ("computed", 1.0, "norm_computed"),
                                      ("computed", sampled, f"norm_ratio{sampled:g}")):
                if (mode, ratio) != (base_norm["normalize"], base_norm["norm_ratio"]):
                    change = f"normalize={mode}" + (f", norm_ratio={ratio:g}" if ratio != 1.0 else "")
                    configs.append(Variant(name, {"normalize": mode, "norm_ratio": ratio}, (study,), change))
        elif study == "augmentation":
            configs.append(Variant("no_augment" if augment else "augment", {"augment": not augment}, (study,),
                                  "augment=False (no crop+flip)" if augment else "augment=True (crop+flip)"))
        elif study == "lr":
            values = as_list("lr_values", lr_values, float)
            for v in dict.fromkeys(values):
                if not math.isclose(v, lr):
                    configs.append(Variant(f"lr{v:g}", {"lr": v}, (study,), f"lr={v:g}"))
        elif study == "scheduler":
            for s in dict.fromkeys(canonical_scheduler(s) for s in as_list("schedulers", schedulers)):
                if s != scheduler:
                    configs.append(Variant(f"sched_{s}", {"scheduler": s}, (study,), f"scheduler={s}"))
    return configs


def run_ablations(model="resnet18", ablations=ABLATIONS, *, lr_values=LR_VALUES, schedulers=SCHEDULERS,
                  sampled_norm_ratio=0.3, experiment="task2_ablations", normalize="computed", norm_ratio=1.0,
                  augment=True, lr=0.01, scheduler="none", **kwargs):
    """Lab2 task 2: a baseline of ``model`` and the ablations against it, trained and compared.

    ``model``, ``normalize``, ``norm_ratio``, ``augment``, ``lr``, ``scheduler`` and every other
    keyword (epochs, batch_size, optimizer, data_root, limit, run_dir, resume...) set the baseline
    and the experiment, as in :func:`run_experiments`. Figures: ``comparison_<study>.png``
    (baseline and that study's variants overlaid); table ``comparison.csv`` / ``.md``.
    """
    configs = ablation_variants(ablations, normalize=normalize, norm_ratio=norm_ratio, augment=augment, lr=lr,
                               scheduler=scheduler, lr_values=lr_values, schedulers=schedulers,
                               sampled_norm_ratio=sampled_norm_ratio)
    kwargs.setdefault("title", f"{model}: ablations against the baseline")
    return run_experiments(configs, experiment=experiment, model=model, normalize=normalize, norm_ratio=norm_ratio,
                           augment=augment, lr=lr, scheduler=scheduler, **kwargs)


# ---- ResNet depth lab ----------------------------------------------------------------------------
def scale_milestones(epochs, milestones=PAPER_MILESTONES, total=PAPER_EPOCHS):
    """The paper's lr-decay epochs (81 and 122 of 164) scaled to ``epochs``: 164 -> [81, 122],
    82 -> [41, 61], 2 -> [1]; always at least epoch 1, repeated epochs merged."""
    epochs = as_int("epochs", epochs, 1)
    return sorted({max(1, int(round(m * epochs / total))) for m in milestones})


def paper_recipe(epochs=PAPER_EPOCHS):
    """He et al. 2016's CIFAR-10 training: SGD lr 0.1, momentum 0.9, weight decay 1e-4, batch 128,
    lr / 10 at epochs 81 and 122 of 164 (scaled to ``epochs``), 4-pixel-pad crop + flip,
    per-channel normalization; the models use kaiming init. ``track_test`` records the test error
    per epoch for the degradation figure."""
    return {"epochs": as_int("epochs", epochs, 1), "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
            "weight_decay": 1e-4, "batch_size": 128, "scheduler": "multistep", "milestones": scale_milestones(epochs),
            "gamma": 0.1, "augment": True, "normalize": "computed", "track_test": True}


def depth_variants(depths=(20, 56, 110), kinds=("plain", "resnet"), shortcut="A"):
    """One configuration per (depth, kind): kinds ``plain`` (no shortcuts), ``resnet``,
    ``preact`` (pre-activation ResNet); grouped by depth for the overlaid figures."""
    depths = as_list("depths", depths, int)
    kinds = as_list("kinds", kinds)
    for d in depths:
        if d not in DEPTHS:
            raise ConfigError(f"depth {d} is not a CIFAR ResNet depth; use some of {list(DEPTHS)}")
    for k in kinds:
        if k not in KINDS:
            raise unknown_name("kind", k, KINDS)
    shortcut = str(shortcut).upper()
    if shortcut not in ("A", "B"):
        raise ConfigError(f"shortcut must be 'A' (zero-padding identity, the paper's CIFAR choice) or 'B' "
                          f"(1x1 projection), got {shortcut!r}")
    if not depths or not kinds:
        raise ConfigError("depths and kinds must each name at least one value")
    configs = []
    for d in depths:
        for k in kinds:
            model = KINDS[k].format(d)
            params = {"model": model}
            name = model
            if k != "plain" and shortcut == "B":
                params["model_kwargs"] = {"option": "B"}
                name += "_optB"
            configs.append(Variant(name, params, (f"{d}_layers",), f"{k}, {d} layers"))
    return configs


def _depth_columns(config, run):
    model = run.config.get("model", config.params.get("model", ""))
    kind = "preact" if model.startswith("preact") else "plain" if model.startswith("plain") else "resnet"
    hist = run.history
    final = hist[-1].get("test_acc") if hist else None
    paper = PAPER_TEST_ERROR.get(model) if (run.config.get("model_kwargs") or {}).get("option", "A") == "A" else None
    return {"kind": kind, "depth": int(re.sub(r"\D", "", model) or 0),
            "test_err": round(100.0 - run.test_acc, 2) if run.test_acc == run.test_acc else float("nan"),
            "final_test_err": round(100.0 - final, 2) if final is not None else float("nan"),
            "paper_test_err": paper if paper is not None else float("nan")}


def run_depth_study(depths=(20, 56, 110), kinds=("plain", "resnet"), *, epochs=PAPER_EPOCHS, milestones=None,
                    shortcut="A", experiment="task3_depth", tag="plain_vs_resnet", **kwargs):
    """ResNet vs plain nets of the same depths with the paper's recipe (:func:`paper_recipe`;
    any keyword overrides it; ``milestones=None`` scales 81/122 of 164 to ``epochs``).

    Writes ``<tag>.csv`` / ``.md`` (test error of the best-validation checkpoint and of the last
    epoch, next to the paper's) and the degradation figure ``<tag>.png``: one panel per kind (plain nets,
    ResNets, pre-activation ResNets), its depths overlaid, training error dashed and test error solid per epoch
    (the paper's figure 6). Call it again with ``kinds=("resnet", "preact")`` and another ``tag`` in the same
    ``experiment`` for the pre-activation bonus: the ResNets trained already are reused.
    """
    recipe = paper_recipe(epochs)
    if milestones is not None:
        recipe["milestones"] = milestones
    recipe.update(kwargs)
    if milestones is None and canonical_scheduler(recipe.get("scheduler")) != "multistep":
        recipe.pop("milestones")  # the paper's lr drops belong to its step schedule, not to another one
    if not recipe.get("track_test"):
        raise ConfigError("the depth study plots the test error per epoch: it needs track_test=True.")
    variants = depth_variants(depths, kinds, shortcut)
    if "warmup_steps" not in kwargs and canonical_scheduler(recipe.get("scheduler")) in ("none", "step", "multistep"):
        for v in variants:
            steps = PAPER_WARMUP.get(int(re.sub(r"\D", "", v.params["model"])), 0)
            if steps:
                v.params["warmup_steps"] = steps
    title = recipe.pop("title", "Training error (dashed) and test error (solid): " + " vs ".join(as_list("kinds", kinds)))
    exp = run_experiments(variants, experiment=experiment, tag=tag, metrics=(),
                          columns=_depth_columns, **recipe)
    path = os.path.join(exp.path, f"{tag}.png")
    plt.close(plot_error_curves(degradation_panels(exp.runs), title=title, save=path))
    exp.figures["degradation"] = exp.files["figure:degradation"] = path
    return exp


def degradation_panels(runs):
    """{panel title: {run name: run}}: the runs of the depth study by kind (plain nets, ResNets,
    pre-activation ResNets), each panel's depths in order."""
    panels = {}
    for name, run in sorted(runs.items(), key=lambda kv: int(re.sub(r"\D", "", kv[0].split("_opt")[0]) or 0)):
        kind = next(k for k in ("preact", "plain", "resnet") if name.startswith(KINDS[k].split("{")[0]))
        panels.setdefault(KIND_TITLES[kind], {})[name] = run
    return {t: panels[t] for t in KIND_TITLES.values() if t in panels}


def model_variants(models):
    """One configuration per model name (e.g. the exercises' simplecnn, vgg11, vgg16)."""
    return [Variant(m, {"model": m}) for m in as_list("models", models)]
