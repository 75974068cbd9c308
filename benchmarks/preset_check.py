#!/usr/bin/env python
"""A fast preset against the handout's recipe for the same model and the same number of epochs.

    python benchmarks/preset_check.py simplecnn_fast --epochs 30 --seeds 2
    python benchmarks/preset_check.py resnet20_fast --epochs 15 --baseline paper
    python benchmarks/preset_check.py resnet18_fast --data ./data --epochs 30 --out r18_full

Baselines: ``handout`` (the Lab2 sample's SGD lr 0.01, momentum 0.9, weight decay 5e-4, constant
lr, crop + flip) and ``paper`` (He et al. 2016: SGD 0.1, momentum 0.9, weight decay 1e-4, /10 at
50% and 75% of the epochs, i.e. 81 and 122 of 164). Both sides use the same data split,
normalization (computed from the training split) and seeds; the table gives the mean test accuracy
of the best-validation weights. ``--data`` defaults to the shared CIFAR-10 subset; give the full
CIFAR-10 folder to check a preset's target (the subset's figures only compare recipes).
"""
import argparse
import os
import statistics
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import labkit  # noqa: E402
from labkit.files import atomic_write_text  # noqa: E402
from labkit.presets import get_preset, preset_info  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_speed import default_data_root  # noqa: E402

BASELINES = {
    "handout": dict(batch_size=128, optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, scheduler="none",
                    augment=True),
    "paper": dict(batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-4, scheduler="multistep",
                  augment=True),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("preset")
    p.add_argument("--model", help="default: the preset's model")
    p.add_argument("--baseline", choices=sorted(BASELINES), default="handout")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--data", default=default_data_root())
    p.add_argument("--out", help="write OUT.md")
    a = p.parse_args(argv)
    model = a.model or preset_info(a.preset).model
    recipes = {a.baseline: dict(BASELINES[a.baseline]), a.preset: get_preset(a.preset)}
    if a.baseline == "paper":
        recipes[a.baseline]["milestones"] = [round(a.epochs * 81 / 164), round(a.epochs * 122 / 164)]
    data = labkit.load_cifar10(a.data, download=False, verbose=False)
    acc = {name: [] for name in recipes}
    secs = {name: [] for name in recipes}
    with tempfile.TemporaryDirectory(prefix="labkit-presets-") as runs:
        for seed in range(a.seeds):
            for name, params in recipes.items():
                res = labkit.fit(model, data, run_dir=runs, progress=False, verbose=False,
                                 **{**params, "epochs": a.epochs, "seed": seed})
                acc[name].append(res.test_acc)
                secs[name].append(sum(h["seconds"] for h in res.history))
                print(f"{model} {name} seed {seed}: test acc {res.test_acc:.2f}%", flush=True)
    info = data.describe()
    lines = [f"{model}, {a.epochs} epochs, seeds 0..{a.seeds - 1}, {info['train']} train / {info['test']} test images "
             f"from {a.data}", "", "| recipe | test acc % (mean) | per seed | train s |", "|---|---:|---|---:|"]
    for name in recipes:
        lines.append(f"| {name} | {statistics.mean(acc[name]):.2f} | " + ", ".join(f"{x:.1f}" for x in acc[name])
                     + f" | {statistics.mean(secs[name]):.0f} |")
    md = "\n".join(lines) + "\n"
    print("\n" + md)
    if a.out:
        atomic_write_text(a.out if a.out.endswith(".md") else a.out + ".md", md)
    return acc


if __name__ == "__main__":
    main()
