"""The ResNet depth lab (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016): ResNets vs plain
nets of the same depths with the paper's recipe, test error against the paper's, the degradation figure's
panels; pre-activation ResNets as the bonus."""
import os
import re

import matplotlib.pyplot as plt

from ..config import as_int, as_list, canonical_scheduler
from ..errors import ConfigError, unknown_name
from ..experiments import Variant, run_experiments
from ..plots import plot_error_curves

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


def scale_milestones(epochs, milestones=PAPER_MILESTONES, total=PAPER_EPOCHS):
    """The paper's lr-decay epochs (81 and 122 of 164) scaled to ``epochs``: 164 -> [81, 122],
    82 -> [40, 61] (40.5 rounds to even), 2 -> [1]; always at least epoch 1, repeated epochs merged."""
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
