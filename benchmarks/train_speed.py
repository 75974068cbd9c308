#!/usr/bin/env python
"""Training speed, side by side: the handouts' pipeline against labkit's, on one machine, in one run.

For each model (default simplecnn, resnet20, resnet18) and each seed, the same recipe is trained
two ways, one right after the other (the order alternates between seeds, so both see the same
machine load), each run in a fresh Python process (no allocator, thread-pool or kernel-cache state
carried from one run to the next):

(a) **handouts**: what the Lab2 sample code and kuangliu/pytorch-cifar ``main.py`` do. A
    torchvision CIFAR10 dataset yielding PIL images (torchvision's own ``CIFAR10.__getitem__``;
    only the constructor is replaced, because ``torchvision.datasets.CIFAR10`` refuses the
    subset's md5 sums), ``transforms.Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(),
    ToTensor(), Normalize(mean, std)])``, ``DataLoader(batch_size=128, shuffle=True,
    num_workers=2)``, a plain fp32 loop (``loss.item()`` every step), validation through a
    ``DataLoader(batch_size=100, num_workers=2)`` under ``torch.no_grad()`` every epoch, and
    ``optim.SGD(net.parameters(), lr, momentum, weight_decay)`` as the handouts write it;
(b) **labkit**: ``labkit.fit`` (data as one uint8 tensor on the device, batched crop/flip/
    normalize there, bf16 autocast and channels_last where they pay, large-batch inference).

The recipe is the same object on both sides: one data split (``labkit.load_cifar10``, which reads
the folder with ``labkit.read_cifar_folder``), the fixed CIFAR-10 normalization, 4-pixel crop +
flip, SGD with the same lr/momentum/weight decay, the lr schedule from labkit's
``build_scheduler``, the same epochs and seeds, the model built after ``seed_everything``
(the same initial weights), and the test accuracy of the best-validation weights. Only the
pipeline differs.

Reported per model and pipeline: seconds per epoch (training + validation pass, averaged over
epochs and seeds), training images/s, wall-clock seconds per run (including model build,
checkpoint writes and the final test), test accuracy (mean over seeds, and each seed), and the
speed ratio (handouts s/epoch / labkit s/epoch) and the accuracy gap.

    python benchmarks/train_speed.py --out benchmarks/results/cpu   # subset, this machine
    python benchmarks/train_speed.py --quick --out /tmp/quick        # CI-size smoke run
    python benchmarks/train_speed.py --data ./data --device cuda --repeat-to 50000 --out gpu

``--data`` defaults to ``$LABKIT_SHARED_DATA`` or ``../shared/data/cifar10-subset``; give the folder
of the full CIFAR-10 to use it. ``--repeat-to 50000`` repeats the training split to 50,000 images
(timing a full-size epoch with the subset). ``--out PATH`` writes ``PATH.md`` and ``PATH.json``.
"""
import argparse
import copy
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:  # run from a checkout without installing labkit
    sys.path.insert(0, REPO)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import labkit  # noqa: E402
from labkit.files import atomic_write_json, atomic_write_text  # noqa: E402
from labkit.config import TrainConfig  # noqa: E402
from labkit.device import describe_machine, machine_info, resolve_device  # noqa: E402
from labkit.rng import seed_everything  # noqa: E402
from labkit.train import build_scheduler  # noqa: E402

MODELS = ("simplecnn", "resnet20", "resnet18")
# Epochs per model for the full CPU benchmark: enough for accuracies to mean something, small
# enough that the whole run (3 models x their seeds x 2 pipelines) fits in ~35 minutes on 2 cores.
DEFAULT_EPOCHS = {"simplecnn": 10, "resnet20": 6, "resnet18": 4}
# Seeds per model (0..n-1): the test set of the subset has only 500 images (one run's accuracy
# has a standard error of ~2 points), so the cheap models average over more seeds.
DEFAULT_SEEDS = {"simplecnn": 4, "resnet20": 3, "resnet18": 2}
# The shared recipe (both pipelines): the handouts' SGD (momentum 0.9, weight decay 5e-4, batch
# 128, 4-pixel crop + flip) with the lr of each model's source (Lab2: 0.01; He et al. and
# kuangliu: 0.1) annealed to 0 by a per-step cosine, so short runs end at a settled model.
COMMON = dict(batch_size=128, optimizer="sgd", momentum=0.9, weight_decay=5e-4, scheduler="cosine",
              label_smoothing=0.0, augment=True)
LR = {"simplecnn": 0.01, "resnet20": 0.1, "resnet18": 0.1}
HANDOUT_WORKERS = 2       # DataLoader(num_workers=2) in both handouts
HANDOUT_EVAL_BATCH = 100  # kuangliu's testloader batch size
QUICK = dict(limit=300, test_limit=100, epochs=1, seeds=1)


def default_data_root():
    env = os.environ.get("LABKIT_SHARED_DATA")
    if env:
        return env
    return os.path.join(os.path.dirname(REPO), "shared", "data", "cifar10-subset")


# ---- (a) the handouts' pipeline ------------------------------------------------------------------
def handout_dataset(images_nchw_uint8, labels, transform):
    """A ``torchvision.datasets.CIFAR10`` over in-memory arrays: torchvision's own ``__getitem__``
    (HWC uint8 row -> ``PIL.Image.fromarray`` -> transform), only the file reading is replaced."""
    from torchvision.datasets import CIFAR10, VisionDataset

    class InMemoryCIFAR10(CIFAR10):
        def __init__(self, data, targets, transform=None):
            VisionDataset.__init__(self, root=None, transform=transform)
            self.train = True
            self.data = data            # (N, 32, 32, 3) uint8, as CIFAR10 stores it
            self.targets = targets      # list of ints

    data = images_nchw_uint8.cpu().permute(0, 2, 3, 1).contiguous().numpy()
    return InMemoryCIFAR10(data, labels.cpu().tolist(), transform)


def handout_transforms(mean, std, augment=True):
    """The handouts' torchvision transforms; ``augment`` as labkit's (True: crop + flip, "flip", False)."""
    import torchvision.transforms as T

    aug = {True: [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()], "flip": [T.RandomHorizontalFlip()]}
    train = T.Compose(aug.get(augment, []) + [T.ToTensor(), T.Normalize(mean, std)])
    test = T.Compose([T.ToTensor(), T.Normalize(mean, std)])
    return train, test


def handout_optimizer(cfg, params):
    """``optim.SGD`` as the handouts build it: no fused or foreach step chosen for the device."""
    if cfg.optimizer != "sgd":
        raise SystemExit("the handouts' pipeline trains with SGD; use an SGD recipe")
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                           nesterov=cfg.nesterov)


def run_handouts(model_name, data, arrays, cfg, device, workers=HANDOUT_WORKERS, log=print):
    """Train like the handouts; returns per-epoch seconds, images/s and the test accuracy."""
    from torch.utils.data import DataLoader

    t_start = time.perf_counter()
    train_tf, test_tf = handout_transforms(data.mean, data.std, cfg.augment)
    trainset = handout_dataset(arrays["train_x"], arrays["train_y"], train_tf)
    valset = handout_dataset(arrays["val_x"], arrays["val_y"], test_tf)
    testset = handout_dataset(arrays["test_x"], arrays["test_y"], test_tf)
    trainloader = DataLoader(trainset, batch_size=cfg.batch_size, shuffle=True, num_workers=workers)
    valloader = DataLoader(valset, batch_size=HANDOUT_EVAL_BATCH, shuffle=False, num_workers=workers)
    testloader = DataLoader(testset, batch_size=HANDOUT_EVAL_BATCH, shuffle=False, num_workers=workers)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as kuangliu's main.py

    seed_everything(cfg.seed)
    net = labkit.get_model(model_name).to(device)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    optimizer = handout_optimizer(cfg, net.parameters())
    scheduler, per_batch = build_scheduler(cfg, optimizer, len(trainloader))

    def evaluate(loader, flip=False):
        net.eval()
        correct = total = 0
        with torch.no_grad():
            for inputs, targets in loader:
                inputs, targets = inputs.to(device), targets.to(device)
                outputs = net(inputs)
                if flip:  # test-time flips, as the recipe's test_flip: probabilities of image and mirror
                    outputs = outputs.softmax(1) + net(torch.flip(inputs, dims=[3])).softmax(1)
                correct += outputs.argmax(1).eq(targets).sum().item()
                total += targets.size(0)
        return 100.0 * correct / total

    epochs, best_acc, best_state = [], -1.0, None
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        net.train()
        train_loss = correct = total = 0
        for inputs, targets in trainloader:
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
            train_loss += loss.item()
            correct += outputs.argmax(1).eq(targets).sum().item()
            total += targets.size(0)
        if scheduler is not None and not per_batch:
            scheduler.step()
        train_s = time.perf_counter() - t0
        val_acc = evaluate(valloader)
        sec = time.perf_counter() - t0
        if val_acc > best_acc:
            best_acc, best_state = val_acc, copy.deepcopy(net.state_dict())
        epochs.append({"epoch": epoch + 1, "seconds": sec, "train_images_per_s": total / train_s,
                       "train_acc": 100.0 * correct / total, "val_acc": val_acc})
        if cfg.track_test:  # as labkit's track_test: measured after the epoch's seconds, not counted in them
            epochs[-1]["test_acc"] = evaluate(testloader, cfg.test_flip)
        log(f"    handouts epoch {epoch + 1}: {sec:.2f} s, {total / train_s:.0f} img/s, "
            f"train acc {100.0 * correct / total:.2f}%, val acc {val_acc:.2f}%")
    net.load_state_dict(best_state)
    test_acc = evaluate(testloader, cfg.test_flip)
    return {"epochs": epochs, "test_acc": test_acc, "wall_s": time.perf_counter() - t_start,
            "precision": "fp32", "channels_last": False, "compile": False}


# ---- (b) labkit ------------------------------------------------------------------------------------
def run_labkit(model_name, data, cfg, run_dir, log=print):
    t_start = time.perf_counter()
    params = {k: v for k, v in cfg.to_dict().items() if k != "model"}
    res = labkit.fit(model_name, data, run_dir=run_dir, progress=False, verbose=False, **params)
    wall = time.perf_counter() - t_start
    epochs = [{"epoch": h["epoch"], "seconds": h["seconds"], "train_images_per_s": h["train_images_per_s"],
               "train_acc": h["train_acc"], "val_acc": h["val_acc"],
               **({"test_acc": h["test_acc"]} if "test_acc" in h else {})} for h in res.history]
    for e in epochs:
        log(f"    labkit   epoch {e['epoch']}: {e['seconds']:.2f} s, {e['train_images_per_s']:.0f} img/s, "
            f"train acc {e['train_acc']:.2f}%, val acc {e['val_acc']:.2f}%")
    return {"epochs": epochs, "test_acc": res.test_acc, "wall_s": wall, "precision": res.config["amp_dtype"],
            "channels_last": res.config["channels_last"], "compile": res.config["compile"],
            "fused_optimizer": res.config.get("fused_optimizer"), "cpu_malloc_tuned": res.config.get("cpu_malloc_tuned")}


def run_one(spec, log=print):
    """One (model, seed, pipeline) run, as described by ``spec`` (what run_isolated sends)."""
    device = torch.device(spec["device"])
    data, arrays = load_data(argparse.Namespace(**spec["data"]), device)
    cfg = TrainConfig(**spec["cfg"]).validate()
    if spec["pipeline"] == "handouts":
        return run_handouts(cfg.model, data, arrays, cfg, device, workers=spec["workers"], log=log)
    return run_labkit(cfg.model, data, cfg, spec["run_dir"], log=log)


def run_isolated(spec, in_process=False):
    """run_one in a fresh interpreter (its log lines pass through); the result comes back as JSON."""
    if in_process:
        return run_one(spec)
    fd, path = tempfile.mkstemp(suffix=".json", prefix="train_speed-")
    os.close(fd)
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", json.dumps(spec), "--result", path],
                              cwd=REPO)
        if proc.returncode != 0:
            raise SystemExit(f"error: the {spec['pipeline']} run of {spec['cfg']['model']} (seed {spec['cfg']['seed']}) "
                             f"failed with exit code {proc.returncode} (its output is above)")
        with open(path) as f:
            return json.load(f)
    finally:
        os.remove(path)


# ---- driver ------------------------------------------------------------------------------------------
def parse_per_model(text, models, defaults=None, option="--epochs", fallback=3):
    """``"10"`` (every model) or ``"simplecnn=10,resnet20=6"`` (the others keep their default)."""
    defaults = DEFAULT_EPOCHS if defaults is None else defaults
    out = {m: defaults.get(m, fallback) for m in models}
    if text is not None:
        text = str(text).strip()
        if "=" not in text:
            out = {m: int(text) for m in models}
        else:
            for part in text.split(","):
                name, _, n = part.partition("=")
                if name.strip() not in out:
                    raise SystemExit(f"{option} names {name.strip()!r}, which is not among --models {list(models)}")
                out[name.strip()] = int(n)
    for m, n in out.items():
        if n < 1:
            raise SystemExit(f"{option}: {m} needs at least 1, got {n}")
    return out


def parse_epochs(text, models):
    return parse_per_model(text, models, DEFAULT_EPOCHS, "--epochs")


def load_data(args, device):
    data = labkit.load_cifar10(args.data, download=False, val_ratio=args.val_ratio, limit=args.limit,
                               test_limit=args.test_limit, seed=0, normalize="fixed", device="cpu", verbose=False)
    n = len(data.train_y)
    if args.repeat_to:
        if args.repeat_to < n:
            raise SystemExit(f"--repeat-to {args.repeat_to} is smaller than the {n} training images")
        idx = torch.arange(args.repeat_to) % n
        data.train_x, data.train_y = data.train_x[idx], data.train_y[idx]
        data.info["repeated_to"] = args.repeat_to
    arrays = {k: getattr(data, k).clone() for k in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}
    return data.to(device), arrays


def summarize(runs):
    """Mean seconds/epoch, images/s, wall seconds and test accuracy over the seeds of one pipeline."""
    sec = [statistics.mean(e["seconds"] for e in r["epochs"]) for r in runs]
    ips = [statistics.mean(e["train_images_per_s"] for e in r["epochs"]) for r in runs]
    acc = [r["test_acc"] for r in runs]
    return {"s_per_epoch": statistics.mean(sec), "images_per_s": statistics.mean(ips),
            "wall_s": statistics.mean(r["wall_s"] for r in runs), "test_acc": statistics.mean(acc),
            "test_acc_seeds": acc, "first_epoch_s": statistics.mean(r["epochs"][0]["seconds"] for r in runs),
            "precision": runs[0]["precision"], "channels_last": runs[0]["channels_last"],
            "compile": runs[0]["compile"], "fused_optimizer": runs[0].get("fused_optimizer", False),
            "cpu_malloc_tuned": runs[0].get("cpu_malloc_tuned", False)}


def pipeline_label(s, name):
    if name == "handouts":
        return "handouts: PIL + DataLoader(workers=2), fp32"
    tags = ["tensor on device", s["precision"]]
    if s["channels_last"]:
        tags.append("channels_last")
    if s.get("fused_optimizer"):
        tags.append("fused SGD")
    if s["compile"]:
        tags.append("compile")
    return "labkit: " + ", ".join(tags)


def recipe_text(recipes):
    first = next(iter(recipes.values()))
    common = (f"{first['optimizer'].upper()} momentum {first['momentum']:g}"
              + (" (Nesterov)" if first["nesterov"] else "")
              + f", weight decay {first['weight_decay']:g}, batch {first['batch_size']}, "
              + ("4-pixel crop + flip, " if first["augment"] else "no augmentation, ")
              + f"{first['scheduler']} lr schedule"
              + (f", label smoothing {first['label_smoothing']:g}" if first["label_smoothing"] else ""))
    lrs = ", ".join(f"{m} {r['lr']:g}" for m, r in recipes.items())
    return f"{common}; lr {lrs}; fixed CIFAR-10 normalization; best-validation weights tested."


def markdown(report):
    m = report["meta"]
    lines = [f"## Training speed: handouts' pipeline vs labkit ({m['date']})", "",
             f"Machine: {describe_machine(m['machine'])}; torch {m['machine']['torch']}. "
             f"Data: {m['data']['train']} train / {m['data']['val']} val / {m['data']['test']} test images from "
             f"{m['data_root']}"
             + (f" (train repeated to {m['repeat_to']})" if m.get("repeat_to") else "")
             + f". Seeds 0..n-1 per model. Load average (1 min) during the run: {m['load_min']:.1f}-{m['load_max']:.1f}.",
             "", "Recipe, the same for both pipelines: " + recipe_text(m["recipe"]), "",
             "| model | pipeline | epochs | seeds | s/epoch | train img/s | wall s/run | test acc % (mean) "
             "| test acc % per seed | speed-up |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for model, r in report["models"].items():
        for name in ("handouts", "labkit"):
            s = r[name]
            speed = f"{r['speedup']:.2f}x" if name == "labkit" else "1.00x"
            lines.append(f"| {model} | {pipeline_label(s, name)} | {r['epochs']} | {r['seeds']} | "
                         f"{s['s_per_epoch']:.2f} | "
                         f"{s['images_per_s']:.0f} | {s['wall_s']:.1f} | {s['test_acc']:.2f} | "
                         + ", ".join(f"{a:.1f}" for a in s["test_acc_seeds"]) + f" | {speed} |")
    lines += ["", "| model | speed-up (s/epoch) | test acc labkit - handouts (points) | targets met "
              f"(>= {m['target_speedup']:g}x, gap >= -{m['target_acc_gap']:g}) |", "|---|---:|---:|---|"]
    for model, r in report["models"].items():
        ok = r["speedup"] >= m["target_speedup"] and r["acc_gap"] >= -m["target_acc_gap"]
        lines.append(f"| {model} | {r['speedup']:.2f}x | {r['acc_gap']:+.2f} | {'yes' if ok else 'NO'} |")
    lines += ["", "s/epoch: one training epoch plus the validation pass, mean over epochs and seeds (the first "
              "epoch included). wall s/run: the whole run (model build, epochs, checkpoints, final test)."]
    return "\n".join(lines) + "\n"


def out_paths(out):
    stem = out[:-3] if out.endswith(".md") else out[:-5] if out.endswith(".json") else out
    return stem + ".md", stem + ".json"


def write_report(out, md, report):
    """``OUT.md`` (the table) and ``OUT.json`` (everything measured), folders made as needed."""
    md_path, json_path = out_paths(out)
    os.makedirs(os.path.dirname(os.path.abspath(md_path)), exist_ok=True)
    atomic_write_text(md_path, md)
    atomic_write_json(json_path, report)
    print(f"wrote {md_path} and {json_path}", flush=True)


def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=default_data_root(),
                   help="folder holding cifar-10-batches-py (default: the shared CIFAR-10 subset)")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated registry names")
    p.add_argument("--epochs", default=None, help="N for every model, or simplecnn=10,resnet20=6,resnet18=2")
    p.add_argument("--seeds", default=None,
                   help="seeds per model, N (seeds 0..N-1 for every model) or simplecnn=4,resnet18=2 "
                        f"(default {DEFAULT_SEEDS}); accuracies are their mean")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--repeat-to", type=int, default=None, help="repeat the training split to this many images")
    p.add_argument("--limit", type=int, default=None, help="use only this many training images (before the split)")
    p.add_argument("--test-limit", type=int, default=None, help="use only the first N test images")
    p.add_argument("--val-ratio", type=float, default=0.1)
    p.add_argument("--workers", type=int, default=HANDOUT_WORKERS, help="handouts' DataLoader workers (2 as in both)")
    p.add_argument("--amp", default="auto", help="labkit: auto | bf16 | fp16 | off")
    p.add_argument("--channels-last", default="auto", help="labkit: auto | true | false")
    p.add_argument("--compile", action="store_true", help="labkit: torch.compile the model")
    p.add_argument("--lr", type=float, default=None, help="one lr for every model (default: per model)")
    p.add_argument("--only", choices=("both", "handouts", "labkit"), default="both")
    p.add_argument("--quick", action="store_true",
                   help=f"CI-size run: {QUICK['limit']} images, {QUICK['test_limit']} test, 1 epoch, seed 0")
    p.add_argument("--target-speedup", type=float, default=3.0)
    p.add_argument("--target-acc-gap", type=float, default=1.5)
    p.add_argument("--keep-runs", default=None, help="keep labkit's run folders here (default: a temp folder)")
    p.add_argument("--out", default=None, help="write OUT.md and OUT.json")
    p.add_argument("--in-process", action="store_true",
                   help="run everything in this process (default: a fresh process per run)")
    p.add_argument("--one", help=argparse.SUPPRESS)     # internal: one run's spec (JSON)
    p.add_argument("--result", help=argparse.SUPPRESS)  # internal: where that run writes its result
    return p


def _plan(args):
    """(models, epochs, seeds, device, data, the checked TrainConfig per model): every option checked before any
    run; a bad one ends the command with its message."""
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.quick:
        args.limit = args.limit or QUICK["limit"]
        args.test_limit = args.test_limit or QUICK["test_limit"]
        args.epochs = args.epochs or str(QUICK["epochs"])
        args.seeds = args.seeds or str(QUICK["seeds"])
    try:
        for m in models:
            labkit.models.check_model_name(m)
        epochs = parse_epochs(args.epochs, models)
        seeds = {m: list(range(n)) for m, n in parse_per_model(args.seeds, models, DEFAULT_SEEDS, "--seeds", 2).items()}
        device = resolve_device(args.device)
        data, _ = load_data(args, torch.device("cpu"))  # checks the folder and options before any run
        cl = args.channels_last if args.channels_last == "auto" else args.channels_last.lower() in ("1", "true", "yes")
        cfgs = {m: TrainConfig(model=m, epochs=epochs[m], lr=args.lr or LR.get(m, 0.05), device=str(device),
                               amp=args.amp, channels_last=cl, compile=args.compile, **COMMON).validate()
                for m in models}
    except labkit.LabkitError as e:
        raise SystemExit(f"error: {e}") from None
    return models, epochs, seeds, device, data, cfgs


def _run_model(m, cfg, seeds, args, device, data_spec, run_root, loads, log):
    """Both pipelines on model ``m`` for each seed, in alternating order (no pipeline always goes first)."""
    per = {"handouts": [], "labkit": []}
    for i, seed in enumerate(seeds):
        cfg = copy.deepcopy(cfg)
        cfg.seed = seed
        spec = {"pipeline": None, "cfg": cfg.to_dict(), "device": str(device), "data": data_spec,
                "workers": args.workers, "run_dir": run_root}
        order = [args.only] if args.only != "both" else ["handouts", "labkit"] if i % 2 == 0 else ["labkit", "handouts"]
        for name in order:
            load0 = os.getloadavg()[0]
            log(f"[{m} seed {seed}] {name} (load {load0:.2f})")
            r = run_isolated({**spec, "pipeline": name}, in_process=args.in_process)
            load1 = os.getloadavg()[0]
            loads += [load0, load1]
            r.update(model=m, pipeline=name, seed=seed, load_before=load0, load_after=load1)
            log(f"[{m} seed {seed}] {name}: {statistics.mean(e['seconds'] for e in r['epochs']):.2f} s/epoch, "
                f"test acc {r['test_acc']:.2f}%, wall {r['wall_s']:.1f} s")
            per[name].append(r)
    return per


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.one:
        result = run_one(json.loads(args.one), log=lambda line: print(line, flush=True))
        atomic_write_json(args.result, result)
        return result
    models, epochs, seeds, device, data, cfgs = _plan(args)

    def log(line):
        print(line, flush=True)

    loads = [os.getloadavg()[0]]
    date = datetime.date.today().isoformat()
    log(f"train_speed {date}: {machine_info(device)} | data {data.describe()['train']} train images | "
        f"models {models} | epochs {epochs} | seeds {seeds} | load {loads[0]:.2f}")
    run_root = args.keep_runs or tempfile.mkdtemp(prefix="labkit-bench-")
    data_spec = {k: getattr(args, k) for k in ("data", "val_ratio", "limit", "test_limit", "repeat_to")}
    report = {"meta": {"date": date, "machine": machine_info(device), "data_root": args.data,
                       "data": {k: data.describe()[k] for k in ("train", "val", "test")},
                       "repeat_to": args.repeat_to, "seeds": seeds, "workers": args.workers,
                       "recipe": {m: {k: v for k, v in cfgs[m].to_dict().items()
                                      if k not in ("device", "model_kwargs", "track_test", "freeze_epochs")}
                                  for m in models},
                       "target_speedup": args.target_speedup, "target_acc_gap": args.target_acc_gap},
              "models": {}, "runs": []}
    for m in models:
        per = _run_model(m, cfgs[m], seeds[m], args, device, data_spec, run_root, loads, log)
        report["runs"] += per["handouts"] + per["labkit"]
        if args.only == "both":
            h, lk = summarize(per["handouts"]), summarize(per["labkit"])
            report["models"][m] = {"epochs": epochs[m], "seeds": len(seeds[m]), "handouts": h, "labkit": lk,
                                   "speedup": h["s_per_epoch"] / lk["s_per_epoch"],
                                   "acc_gap": lk["test_acc"] - h["test_acc"]}
    report["meta"]["load_min"], report["meta"]["load_max"] = min(loads), max(loads)
    if not args.keep_runs:
        shutil.rmtree(run_root, ignore_errors=True)
    if args.only != "both":
        log("(--only: no side-by-side table)")
        return report
    md = markdown(report)
    print("\n" + md, flush=True)
    if args.out:
        write_report(args.out, md, report)
    return report


if __name__ == "__main__":
    main()
