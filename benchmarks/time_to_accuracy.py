#!/usr/bin/env python
"""Time to accuracy, side by side: how long each lab model takes to reach its grading threshold,
the handouts' pipeline against labkit's, with the same recipe, on one machine, in one run.

The figure students feel is not seconds per epoch but "how long until my model passes the line".
For each model this trains the lab's default recipe twice, one pipeline right after the other, each
in a fresh Python process (the two pipelines are ``benchmarks/train_speed.py``'s: the handouts'
PIL + DataLoader fp32 loop, and ``labkit.fit``), and reports per pipeline:

- for each threshold, the first epoch whose **test** accuracy reaches it (the labs grade test
  accuracy; it is measured after every epoch as the recipe measures its final test, test-time flips
  included where the recipe has them) and the training time until then: the sum of the epochs'
  seconds, training pass + validation pass. The per-epoch test pass is not counted, nor are model
  build and data loading (the same on both sides);
- seconds per epoch, the best validation accuracy and the test accuracy of the best-validation
  weights (model selection uses the validation split only, as in the labs);
- the ratio of the two times to each threshold (handouts / labkit).

Each recipe is a ``labkit.presets`` preset and trains the preset's model: ``task1`` (the task-1
notebook's defaults), ``resnet20_fast``, ``resnet18_fast``. Thresholds (``--threshold``) default to
the labs' lines: task 1 70 % (16/20) and 80 % (full marks), ResNet18 85 %, ResNet-20 91 % (the
paper's 8.75 % error, on real images: the JPEG copy's test set costs ResNet-20 about 3 points).

    python benchmarks/time_to_accuracy.py --data /path/to/cifar10 --presets task1 --out benchmarks/results/tta-cpu
    python benchmarks/time_to_accuracy.py --quick --out /tmp/tta      # CI-size smoke run (tested)

``--data`` defaults to ``$LABKIT_SHARED_DATA`` or ``../shared/data/cifar10-subset``; use the full
CIFAR-10 for figures (on machines without the official download: the JPEG copy, and say so).
Timings need a quiet machine: the load average during the run is printed with the table.
"""
import argparse
import datetime
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for p in (REPO, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

import torch  # noqa: E402

import labkit  # noqa: E402
from labkit.config import TrainConfig  # noqa: E402
from labkit.device import describe_machine, machine_info, resolve_device  # noqa: E402
from labkit.errors import LabkitError  # noqa: E402
from labkit.presets import get_preset, preset_info  # noqa: E402
from train_speed import default_data_root, load_data, run_isolated, write_report  # noqa: E402

# preset (the lab's default recipe and model) -> the lab's grading lines, % test accuracy
LABS = {"task1": (70.0, 80.0), "resnet20_fast": (91.0,), "resnet18_fast": (85.0,)}
QUICK = dict(limit=300, test_limit=100, epochs=2, threshold="15")


def crossing(epochs, threshold, key="test_acc"):
    """(epoch number, seconds of training until the end of it) of the first epoch whose accuracy
    ``key`` is >= threshold, or (None, None)."""
    total = 0.0
    for e in epochs:
        total += e["seconds"]
        if e[key] >= threshold:
            return e["epoch"], total
    return None, None


def summarize(result, thresholds):
    ep = result["epochs"]
    reached = {}
    for t in thresholds:
        epoch, secs = crossing(ep, t)
        reached[f"{t:g}"] = {"epoch": epoch, "seconds": secs}
    return {"epochs": len(ep), "s_per_epoch": sum(e["seconds"] for e in ep) / len(ep),
            "best_val_acc": max(e["val_acc"] for e in ep), "test_acc": result["test_acc"],
            "reached": reached, "precision": result.get("precision", "fp32")}


def parse_thresholds(text, presets):
    """``N`` or ``N/M`` for every preset, or ``task1=70/80,resnet18_fast=85``: {preset: (lines...)}."""
    def lines(value):
        try:
            return tuple(sorted(float(v) for v in value.split("/")))
        except ValueError:
            raise SystemExit(f"--threshold: {value!r} is not a percentage or N/M list of them") from None

    out = {m: LABS[m] for m in presets}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        if not eq:  # the same lines for every model
            out = {m: lines(part) for m in presets}
            continue
        if name.strip() not in out:
            raise SystemExit(f"--threshold names {name.strip()!r}, which is not among --presets {list(presets)}")
        out[name.strip()] = lines(value)
    return out


def recipe(preset, epochs=None):
    """(model, fit parameters) of a preset, with ``epochs`` overridden if given."""
    params = get_preset(preset)
    if epochs:
        params["epochs"] = epochs
    return preset_info(preset).model, params


def fmt_time(s):
    return "not reached" if s is None else f"{s:.1f} s" if s < 10 else f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def markdown(report):
    m = report["meta"]
    mach = m["machine"]
    lines = [f"## Time to accuracy: handouts' pipeline vs labkit ({m['date']})", "",
             f"Machine: {describe_machine(mach)}; torch {mach['torch']}. "
             f"Data: {m['data']['train']} train / {m['data']['val']} val / {m['data']['test']} test images from "
             f"{m['data_label']}. Load average (1 min) before/after: {m['load_before']:.1f} / {m['load_after']:.1f}.",
             "", "Time to threshold: training + validation seconds summed up to the first epoch whose test "
             "accuracy (measured after every epoch as the recipe's final test is) reaches the threshold; the same "
             "recipe on both sides. Final test %: the best-validation weights.", "",
             "| preset | model | pipeline | epochs | s/epoch | threshold % | reached at epoch | time to threshold "
             "| speed-up | best val % | final test % |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for preset, r in report["presets"].items():
        for name in ("handouts", "labkit"):
            s = r[name]
            for t, hit in s["reached"].items():
                speed = {"handouts": "1.00x", "labkit": r.get("speedup", {}).get(t)}[name]
                speed = speed if isinstance(speed, str) else f"{speed:.2f}x" if speed else "-"
                lines.append(f"| {preset} | {r['model']} | {name} ({s['precision']}) | {s['epochs']} | "
                             f"{s['s_per_epoch']:.1f} | {t} | {hit['epoch'] or '-'} | {fmt_time(hit['seconds'])} | "
                             f"{speed} | {s['best_val_acc']:.2f} | {s['test_acc']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=default_data_root(), help="folder holding cifar-10-batches-py")
    p.add_argument("--data-label", default=None, help='how the table names the data, e.g. "CIFAR-10 (JPEG copy)"')
    p.add_argument("--presets", default=",".join(LABS), help="comma-separated, of: " + ", ".join(LABS))
    p.add_argument("--threshold", default=None,
                   help="N or N/M for every preset, or task1=70/80,resnet18_fast=85 (percent test accuracy)")
    p.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    p.add_argument("--device", default="auto")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--only", choices=("both", "handouts", "labkit"), default="both")
    p.add_argument("--quick", action="store_true",
                   help=f"CI-size run: {QUICK['limit']} images, {QUICK['epochs']} epochs, "
                        f"threshold {QUICK['threshold']}%")
    p.add_argument("--out", default=None, help="write OUT.md and OUT.json")
    a = p.parse_args(argv)
    presets = [m.strip() for m in a.presets.split(",") if m.strip()]
    for m in presets:
        if m not in LABS:
            raise SystemExit(f"error: --presets: {m!r} is not a lab's default recipe; choose from {', '.join(LABS)}")
    if a.quick:
        a.limit, a.test_limit = a.limit or QUICK["limit"], a.test_limit or QUICK["test_limit"]
        a.epochs = a.epochs or QUICK["epochs"]
        a.threshold = a.threshold or QUICK["threshold"]
    thresholds = parse_thresholds(a.threshold, presets)
    device = resolve_device(a.device)
    args = argparse.Namespace(data=a.data, val_ratio=0.1, limit=a.limit, test_limit=a.test_limit, repeat_to=None)
    try:
        data, _ = load_data(args, torch.device("cpu"))  # the folder and options, checked before any run
        cfgs = {}
        for m in presets:
            model, params = recipe(m, a.epochs)
            cfgs[m] = TrainConfig(model=model, device=str(device), **{**params, "track_test": True}).validate()
    except LabkitError as e:
        raise SystemExit(f"error: {e}") from None
    info = data.describe()
    report = {"meta": {"date": datetime.date.today().isoformat(), "machine": machine_info(device),
                       "data_root": a.data, "data_label": a.data_label or a.data,
                       "data": {k: info[k] for k in ("train", "val", "test")},
                       "load_before": os.getloadavg()[0]}, "presets": {}}
    with tempfile.TemporaryDirectory(prefix="labkit-tta-") as runs:
        for m in presets:
            spec = {"cfg": cfgs[m].to_dict(), "device": str(device), "data": vars(args), "workers": 2, "run_dir": runs}
            row = {"model": cfgs[m].model, "thresholds": list(thresholds[m])}
            lines = "/".join(f"{t:g}" for t in thresholds[m])
            for name in (["handouts", "labkit"] if a.only == "both" else [a.only]):
                print(f"[{m}] {name}: {cfgs[m].epochs} epochs, thresholds {lines}%", flush=True)
                row[name] = summarize(run_isolated({**spec, "pipeline": name}), thresholds[m])
                times = ", ".join(f"{t}%: {fmt_time(h['seconds'])}" for t, h in row[name]["reached"].items())
                print(f"[{m}] {name}: time to {times}; final test {row[name]['test_acc']:.2f}%", flush=True)
            if a.only == "both":
                row["speedup"] = {t: h["seconds"] / row["labkit"]["reached"][t]["seconds"]
                                  for t, h in row["handouts"]["reached"].items()
                                  if h["seconds"] and row["labkit"]["reached"][t]["seconds"]}
            report["presets"][m] = row
    report["meta"]["load_after"] = os.getloadavg()[0]
    if a.only != "both":
        return report
    md = markdown(report)
    print("\n" + md, flush=True)
    if a.out:
        write_report(a.out, md, report)
    return report


if __name__ == "__main__":
    main()
