"""Lab2 task 2: a baseline and the ablations against it (normalization, augmentation, learning rate and
update strategy, each differing from the baseline in that one setting), trained and compared by
:func:`labkit.experiments.run_experiments`."""
import math

from ..config import as_augment, as_float, as_list, canonical_scheduler, check_data_params
from ..errors import unknown_name
from ..experiments import Variant, run_experiments

ABLATIONS = ("normalization", "augmentation", "lr", "scheduler")
LR_VALUES = (0.1, 0.01, 0.001)
SCHEDULERS = ("none", "step", "cosine", "onecycle", "cyclic")


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
