#!/usr/bin/env python
"""Where one training step's time goes: the handouts' arithmetic against labkit's, on this machine.

``train_speed.py`` times whole epochs (data pipeline included). This script isolates the compute of
one optimizer step on a random batch (no data loading) so that the two parts of labkit's speed-up can
be told apart, and shows what bounds it:

* ``handouts``: fp32, NCHW, ``optim.SGD`` as the handouts build it;
* ``labkit``: what ``labkit.fit`` picks on this device (bf16/fp16 autocast where it pays,
  channels_last where oneDNN/cuDNN pay, the fused SGD step);
* ``labkit, BatchNorm removed``: the same with every ``BatchNorm2d`` replaced by ``Identity``. Not a
  recipe: an upper bound on what any faster BatchNorm could save.

Each is timed per phase (forward, backward, optimizer step), median over ``--repeats`` blocks of
``--steps`` steps after 3 warm-up steps. With ``--onednn`` (CPU) the labkit step is re-run in a child
process with ``ONEDNN_VERBOSE=1`` and the oneDNN primitives' own times are summed per kind
(convolution forward / backward_data / backward_weights, reorders, matmuls) with each convolution's
achieved GFLOP/s, which is how the figures in README's speed section were found.

    python benchmarks/step_breakdown.py                          # resnet20 + resnet18, batch 128
    python benchmarks/step_breakdown.py --models resnet20 --onednn
    python benchmarks/step_breakdown.py --out benchmarks/results/steps-cpu   # also writes .md/.json
"""
import argparse
import collections
import os
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
for _p in (REPO, HERE):  # labkit from a checkout; train_speed beside this file
    if _p not in sys.path:
        sys.path.insert(0, _p)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import labkit  # noqa: E402
from labkit.files import atomic_write_json, atomic_write_text  # noqa: E402
from labkit.config import TrainConfig  # noqa: E402
from labkit.device import (auto_channels_last, autocast_context, describe_machine, machine_info,  # noqa: E402
                           resolve_amp, resolve_device, tune_cpu_allocator)
from labkit.train import build_optimizer  # noqa: E402
from train_speed import handout_optimizer  # noqa: E402

VARIANTS = ("handouts", "labkit", "labkit_no_bn")
LABELS = {"handouts": "handouts: fp32, NCHW, SGD", "labkit": "labkit: {amp}, {layout}, fused SGD",
          "labkit_no_bn": "labkit, BatchNorm removed (bound)"}


def without_batchnorm(net):
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, name, nn.Identity())
    return net


def build_step(model_name, variant, batch, device, seed=0):
    """A closure running one SGD step on a fixed random batch, returning (fwd, bwd, opt) seconds."""
    torch.manual_seed(seed)
    net = labkit.get_model(model_name)
    if variant == "labkit_no_bn":
        net = without_batchnorm(net)
    net = net.to(device)
    cfg = TrainConfig(model=model_name, lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    if variant == "handouts":
        amp_dtype, channels_last = None, False
        optimizer = handout_optimizer(cfg, net.parameters())
    else:
        amp_dtype, _ = resolve_amp("auto", device)
        channels_last = auto_channels_last(device)
        optimizer = build_optimizer(cfg, net.parameters())
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    info = {"amp": str(amp_dtype).replace("torch.", "") if amp_dtype else "fp32",
            "layout": "channels_last" if channels_last else "NCHW",
            "fused": bool(optimizer.defaults.get("fused"))}

    def step():
        sync()
        t0 = time.perf_counter()
        with autocast_context(device, amp_dtype):
            loss = F.cross_entropy(net(x), y)
        sync()
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        sync()
        t2 = time.perf_counter()
        optimizer.step()
        sync()
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    return step, info


def block_steps(model_name, steps=None):
    """Steps per timed block: ``--steps`` when given, else 10 (4 for the slow resnet18)."""
    return steps or (4 if model_name == "resnet18" else 10)


def time_variant(model_name, variant, batch, device, steps, repeats):
    step, info = build_step(model_name, variant, batch, device)
    for _ in range(3):
        step()
    blocks = []
    for _ in range(repeats):
        sums = [0.0, 0.0, 0.0]
        for _ in range(steps):
            for i, s in enumerate(step()):
                sums[i] += s
        blocks.append([s / steps * 1000 for s in sums])
    fwd, bwd, opt = (statistics.median(b[i] for b in blocks) for i in range(3))
    return {"model": model_name, "variant": variant, "fwd_ms": fwd, "bwd_ms": bwd, "opt_ms": opt,
            "step_ms": statistics.median(sum(b) for b in blocks), **info}


# ---- oneDNN's own primitive times ---------------------------------------------------------------------
def conv_gflop(desc):
    """FLOPs (x1e9) of a oneDNN convolution problem string like ``mb128_ic16oc16_ih32oh32kh3..._iw32ow32kw3...``."""
    v = {k: int(n) for k, n in re.findall(r"(mb|ic|oc|oh|ow|kh|kw)(\d+)", desc)}
    if not {"mb", "ic", "oc", "oh", "kh"} <= v.keys():
        return None
    return 2.0 * v["mb"] * v["ic"] * v["oc"] * v["oh"] * v.get("ow", v["oh"]) * v["kh"] * v.get("kw", v["kh"]) / 1e9


def summarize_onednn(lines, steps):
    """Per-step milliseconds by (primitive, pass, problem) from ``ONEDNN_VERBOSE=1`` exec lines."""
    ms, calls, impl = collections.defaultdict(float), collections.Counter(), {}
    for line in lines:
        f = line.strip().split(",")
        if not f or not f[0].startswith("onednn_verbose") or "exec" not in f:
            continue
        i = f.index("exec")  # [.., "exec", engine, primitive, implementation, pass, .., problem, ms]
        if len(f) < i + 7 or f[i + 1] != "cpu":
            continue
        key = (f[i + 2], "" if f[i + 4] == "undef" else f[i + 4], f[-2])
        ms[key] += float(f[-1])
        calls[key] += 1
        impl[key] = f[i + 3]
    rows = []
    for key, total in sorted(ms.items(), key=lambda kv: -kv[1]):
        kind, prop, desc = key
        per_call = total / calls[key]
        gf = conv_gflop(desc) if kind == "convolution" else None
        rows.append({"primitive": kind, "pass": prop, "problem": desc, "implementation": impl[key],
                     "ms_per_step": total / steps, "calls_per_step": calls[key] / steps, "ms_per_call": per_call,
                     "gflop_per_s": gf / per_call * 1000 if gf else None})
    by_pass = collections.defaultdict(float)
    for r in rows:
        by_pass[f"{r['primitive']} {r['pass']}".strip()] += r["ms_per_step"]
    return {"by_pass_ms_per_step": dict(by_pass), "primitives": rows}


def onednn_child(model_name, batch, steps):
    """Runs in a child with ONEDNN_VERBOSE=1: warm-up, then a marker, then ``steps`` timed steps."""
    tune_cpu_allocator()
    step, _ = build_step(model_name, "labkit", batch, torch.device("cpu"))
    for _ in range(3):
        step()
    print("STEP_BREAKDOWN_START", flush=True)
    for _ in range(steps):
        step()
    print("STEP_BREAKDOWN_END", flush=True)


def onednn_breakdown(model_name, batch, steps):
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--onednn-child", model_name,
                           "--batch", str(batch), "--steps", str(steps)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: the oneDNN run of {model_name} failed:\n{proc.stderr[-2000:]}")
    out = proc.stdout.splitlines()
    try:
        lines = out[out.index("STEP_BREAKDOWN_START") + 1: out.index("STEP_BREAKDOWN_END")]
    except ValueError:
        raise SystemExit("error: the oneDNN child printed no step markers")
    return summarize_onednn(lines, steps)


# ---- report -------------------------------------------------------------------------------------------
def markdown(results, meta):
    out = [f"## One training step, compute only ({meta['date']})", "",
           f"Machine: {meta['machine']}; torch {meta['torch']}; {meta['threads']} threads; batch {meta['batch']}, "
           f"random 32x32 inputs, median of {meta['repeats']} blocks ("
           + ", ".join(f"{m}: {n} steps" for m, n in meta["steps"].items()) + ").", "",
           "| model | step | forward ms | backward ms | optimizer ms | step ms | vs handouts |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for model in meta["models"]:
        rows = [r for r in results["steps"] if r["model"] == model]
        base = next((r["step_ms"] for r in rows if r["variant"] == "handouts"), None)
        for r in rows:
            label = LABELS[r["variant"]].format(amp=r["amp"], layout=r["layout"])
            ratio = f"{base / r['step_ms']:.2f}x" if base else ""
            out.append(f"| {model} | {label} | {r['fwd_ms']:.1f} | {r['bwd_ms']:.1f} | {r['opt_ms']:.1f} | "
                       f"{r['step_ms']:.1f} | {ratio} |")
    for model, od in results.get("onednn", {}).items():
        out += ["", f"### {model}: oneDNN primitives in labkit's step (ms per step)", "",
                "| primitive / pass | ms per step |", "|---|---:|"]
        out += [f"| {k} | {v:.1f} |" for k, v in sorted(od["by_pass_ms_per_step"].items(), key=lambda kv: -kv[1])]
        conv = sum(v for k, v in od["by_pass_ms_per_step"].items() if k.startswith("convolution"))
        step = next((r["step_ms"] for r in results["steps"] if r["model"] == model and r["variant"] == "labkit"), None)
        if step:
            out += ["", f"Convolutions: {conv:.1f} ms of labkit's {step:.1f} ms step ({100 * conv / step:.0f}%; "
                    "oneDNN's times, taken in a separate run with verbose logging on)."]
        out += ["", "| convolution | pass | implementation | ms per call | GFLOP/s |", "|---|---|---|---:|---:|"]
        for r in [r for r in od["primitives"] if r["primitive"] == "convolution"][:12]:
            out.append(f"| {r['problem']} | {r['pass']} | {r['implementation']} | {r['ms_per_call']:.2f} | "
                       f"{r['gflop_per_s']:.0f} |")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["resnet20", "resnet18"])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=None, help="steps per timed block (default: 10, resnet18 4)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--onednn", action="store_true", help="also sum oneDNN's primitive times (CPU only)")
    ap.add_argument("--out", help="write PATH.md and PATH.json")
    ap.add_argument("--onednn-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.onednn_child:
        return onednn_child(args.onednn_child, args.batch, block_steps(args.onednn_child, args.steps))
    for m in args.models:
        labkit.get_model(m)  # unknown names fail here, before any timing
    if args.batch < 1 or args.repeats < 1 or (args.steps is not None and args.steps < 1):
        raise SystemExit("--batch, --steps and --repeats must be at least 1")
    device = resolve_device(args.device)
    if device.type == "cpu":
        tune_cpu_allocator()
    if args.onednn and device.type != "cpu":
        raise SystemExit("--onednn times oneDNN's CPU primitives; run it with --device cpu")
    results = {"steps": [], "onednn": {}}
    for model in args.models:
        steps = block_steps(model, args.steps)
        for variant in args.variants:
            r = time_variant(model, variant, args.batch, device, steps, args.repeats)
            results["steps"].append(r)
            print(f"{model:10s} {variant:13s} fwd {r['fwd_ms']:7.1f}  bwd {r['bwd_ms']:7.1f}  opt {r['opt_ms']:5.1f}  "
                  f"step {r['step_ms']:7.1f} ms  ({r['amp']}, {r['layout']})", flush=True)
        if args.onednn:
            results["onednn"][model] = onednn_breakdown(model, args.batch, steps)
    info = machine_info(device)
    meta = {"date": time.strftime("%Y-%m-%d"), "models": args.models, "batch": args.batch,
            "steps": {m: block_steps(m, args.steps) for m in args.models}, "repeats": args.repeats,
            "torch": torch.__version__, "threads": torch.get_num_threads(), "machine_info": info,
            "machine": describe_machine(info)}
    md = markdown(results, meta)
    print()
    print(md)
    if args.out:
        atomic_write_text(args.out + ".md", md)
        atomic_write_json(args.out + ".json", {"meta": meta, **results})
    return results


if __name__ == "__main__":
    main()
