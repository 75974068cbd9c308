#!/usr/bin/env python
"""GPU check: every lab notebook and every lab model's training speed on one CUDA machine, in minutes.

    bash scripts/gpu_check.sh                       # on the GPU machine: the full check (<= ~7.5 min)
    bash scripts/gpu_check.sh --dry-run             # here or in CI: the same code path on the CPU, tiny sizes
    bash scripts/gpu_check.sh --stage               # here, online: wheels into .whl/ and the JPEG archive
                                                    # into data/cifar10-jpeg/ (carry both to a bare GPU image)

In this order, each step in its own process with its own time limit (a failure or a hang is recorded
and the check goes on), all inside one time budget (``--budget``, default 450 s: well inside a 9-minute window):

0. data: ``--data DIR`` (a folder holding ``cifar-10-batches-py``), else the CIFAR-10 JPEG archive
   (``cifar10-jpeg.tar.gz`` + ``prepare.py``, found in ``$LABKIT_JPEG_DIR``, ``data/cifar10-jpeg``,
   ``shared/data/cifar10-jpeg`` or ``../shared/data/cifar10-jpeg``) unpacked by its ``prepare.py``
   into a temporary folder;
1. the GPU (name, compute capability, memory, driver, CUDA, cuDNN, torch) and the precision labkit
   picks there (``labkit.device.resolve_amp("auto")``, ``labkit.notebook.device_info()``);
2. each lab notebook under papermill at small size (:data:`NOTEBOOKS`), first with ``amp="fp16"`` (the
   T4's fp16 + GradScaler road, on any GPU: run first, so a budget cut leaves out the other road; skipped
   where auto is fp16 already), then with ``amp="auto"``: pass/fail, wall seconds, the "Test Accuracy" lines it printed;
3. each lab model's training step (``labkit.train.build_parts`` + ``labkit.train.one_batch`` on
   labkit's on-device loader, data from ``labkit.load_cifar10``): a fixed number of steps after a
   warm-up, timed between ``torch.cuda.synchronize()`` calls and extrapolated to one epoch; images/s
   and peak GPU memory, with forced fp16 (where auto is not fp16) first, then amp auto;
4. one Markdown table and a JSON file, ``OUT/gpu_check.md`` and ``OUT/gpu_check.json`` (``--out``,
   default ``benchmarks/results/gpu-<gpu>-<date>``; a temporary folder with ``--dry-run``), the
   executed notebooks packed into ``OUT/notebooks.tar.gz``; the table is printed at the end too.

Each notebook's parameter cell is read at run time: an override of :data:`NOTEBOOKS` that a notebook
does not declare is dropped (and said so in the table), so the check keeps running when notebooks change.
"""
import argparse
import ast
import datetime
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for _p in (REPO, HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import torch  # noqa: E402  (the parent only reads its version: CUDA is touched in the child processes alone)

from labkit.device import describe_machine, machine_info  # noqa: E402
from train_speed import default_data_root, write_report  # noqa: E402

DATA, RUNS = "{data}", "{runs}"  # placeholders in the tables below, filled in at run time
# Per-notebook overrides (small sizes). An override the notebook's parameter cell lacks is dropped with a note.
NOTEBOOKS = {
    "task1_simplecnn": dict(data_root=DATA, epochs=2, limit=2000, test_limit=500, teacher_model="resnet56",
                            teacher_epochs=1),  # the default's teacher, one epoch
    "task2_resnet18": dict(data_root=DATA, epochs=1, limit=1000, test_limit=500, ablations=["lr"],
                           lr_values=[0.1, 0.01]),
    "task3_resnet_depth": dict(data_root=DATA, epochs=1, limit=1000, test_limit=500, depths=[20],
                               kinds=["plain", "resnet"], preact_depths=[]),
    "exercise_vgg": dict(data_root=DATA, epochs=1, limit=1000, test_limit=500),
    "task_transfer": dict(demo_cifar_root=DATA, models=["tv_resnet18"], pretrained=[False], epochs=1, limit=200,
                          image_size=64),
}
# Set in every notebook that declares them (no note where one does not: not every notebook reads CIFAR-10).
COMMON = dict(download=False, progress=False, run_dir=RUNS, resume=False)
# --dry-run: on the CPU, tiny, fewer notebooks (both amp passes) and models: it must pass in CI in under ~3 minutes
DRY_NOTEBOOKS = ("task1_simplecnn", "task3_resnet_depth")
DRY_OVERRIDES = dict(epochs=1, limit=100, test_limit=50,  # on top of NOTEBOOKS' own (the table's names kept)
                     teacher_model=None)  # no ResNet-56 on the CPU's fp16 path (below); tests/test_teacher has it
DRY_BATCH = 32  # below the 90 training images of limit=100 (fit refuses a batch larger than the training set)
# task 3 at 20 images in batches of 8 (18 train: 3 steps; its estimate times 4 more): some CPUs compute fp16
# convolution weight gradients on a slow path (measured 2026-12-03 on an Intel Xeon with AVX512-FP16 and AMX, 1
# thread: ResNet-20's training step at batch 8 4.8 s in fp16 vs 17 ms in bf16, all of it in the weight gradient of
# convolution_backward), where its fp16 pass at 90 images in batches of 32 ran past the 60 s notebook limit.
# A GPU's fp16 (cuDNN) has no such path.
DRY_NOTEBOOK_OVERRIDES = {"task3_resnet_depth": dict(kinds=["resnet"], limit=20, batch_size=8),
                          "task_transfer": dict(limit=60)}

CIFAR_MODELS = ("simplecnn", "resnet18", "resnet20", "resnet56", "resnet110", "vgg16")
BIG_MODEL = "tv_resnet50"
DRY_MODELS = ("simplecnn", "resnet20", BIG_MODEL)
CIFAR_EPOCH = 45000   # the training split of the full CIFAR-10 at val_ratio 0.1
BIG_EPOCH = 25289     # the retinopathy training split (28,099 images, val_ratio 0.1): the transfer lab's epoch
SIZES = {"gpu": dict(batch=128, big_batch=32, big_images=384, big_size=224, warmup=15, steps=50, limit=None),
         "dry": dict(batch=8, big_batch=4, big_images=8, big_size=32, warmup=1, steps=2, limit=200)}
# Seconds: each step's own limit, the budget of the whole check, what the notebooks leave for the timing
LIMITS = {"gpu": dict(budget=450, prepare=120, info=90, notebook=100, task_transfer=140, model=60, big=80,
                      reserve_timing=170, reserve_report=10),
          "dry": dict(budget=240, prepare=120, info=60, notebook=60, task_transfer=90, model=60, big=90,
                      reserve_timing=60, reserve_report=5)}
MIN_START = 10        # a step is not started with less time than this left: it is recorded as skipped
# What a bare GPU image lacks for the notebooks (versions as in requirements.txt and its venv), for --stage
WHEELS = ("papermill==2.7.0 nbclient==0.11.0 nbformat==5.11.1 ipykernel==7.4.0 jupyter-client==8.10.0 "
          "jupyter-core==5.9.1 torchsummary==1.5.1 ultralytics-thop==2.2.3 asttokens==3.0.2 comm==0.2.3 "
          "debugpy==1.8.22 entrypoints==0.4.2 executing==2.3.0 fastjsonschema==2.22.3 ipython==9.18.1 "
          "ipython-pygments-lexers==1.1.1 jedi==0.20.1 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 "
          "matplotlib-inline==0.2.2 nest-asyncio2==1.7.4 parso==0.8.7 pexpect==4.9.0 platformdirs==4.14.9 "
          "prompt-toolkit==3.0.53 ptyprocess==0.7.0 pure-eval==0.2.4 pyzmq==27.3.0 referencing==0.37.0 "
          "rpds-py==2026.9.1 stack-data==0.6.3 tenacity==9.2.1 tornado==6.6.1 traitlets==5.16.1 wcwidth==0.9.4").split()
JPEG_DIRS = ("data/cifar10-jpeg", "shared/data/cifar10-jpeg", "../shared/data/cifar10-jpeg")


# ---- running a step: a child process with a time limit -------------------------------------------
class Clock:
    """The check's time budget: each step gets its own limit, cut to what the budget has left."""

    def __init__(self, budget):
        self.start, self.budget = time.monotonic(), budget

    def elapsed(self):
        return time.monotonic() - self.start

    def limit(self, own, reserve=0):
        """Seconds a step may run (its own limit, or what is left after ``reserve``); 0: do not start it."""
        left = self.budget - self.elapsed() - reserve
        return min(own, left) if left >= MIN_START else 0


def descendants(pid):
    """Every process below ``pid`` (read from /proc): a notebook's kernel runs in a session of its own,
    so killing papermill's process group alone would leave it (and its DataLoader workers) on the GPU."""
    children = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def kill_tree(proc):
    for pid in descendants(proc.pid) + [proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def run_child(cmd, limit, log_path, env=None):
    """Run ``cmd`` (its output into ``log_path``) for at most ``limit`` s: {rc, seconds, timed_out, tail}."""
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
        try:
            rc, timed_out = proc.wait(timeout=limit), False
        except subprocess.TimeoutExpired:
            kill_tree(proc)
            rc, timed_out = None, True
        for pid in descendants(proc.pid):  # nothing a finished step started may keep running
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    with open(log_path, "rb") as f:
        tail = f.read()[-4000:].decode("utf-8", "replace")
    return {"rc": rc, "seconds": round(time.monotonic() - t0, 1), "timed_out": timed_out, "tail": tail}


def child(part, spec, work):
    """The command line of one step run by this file (``--part``), its spec and its result file."""
    result = os.path.join(work, f"{part}-{spec.get('model', 'x')}-{time.monotonic_ns()}.json")
    return [sys.executable, os.path.abspath(__file__), "--part", part, "--spec", json.dumps(spec),
            "--result", result], result


def failure(r, what):
    """One line for a step that failed: timed out, or its exit code and last error line."""
    if r["timed_out"]:
        return f"{what}: timed out after {r['seconds']:.0f} s"
    lines = [ln for ln in r["tail"].strip().splitlines() if ln.strip()]
    errs = [ln for ln in lines if re.search(r"Error|error:|Exception|Traceback", ln)]
    return f"{what}: exit code {r['rc']}: " + ((errs or lines or [""])[-1].strip()[:300])


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def row(step, item, status, seconds=None, amp="-", precision="-", notes="", **extra):
    return {"step": step, "item": item, "amp": amp, "precision": precision, "status": status,
            "seconds": seconds, "notes": notes, **extra}


# ---- step 0: the data ------------------------------------------------------------------------------
def find_jpeg_dir():
    """The folder holding cifar10-jpeg.tar.gz and prepare.py, or None."""
    dirs = [os.environ.get("LABKIT_JPEG_DIR")] + [os.path.join(REPO, d) for d in JPEG_DIRS]
    for d in dirs:
        if d and all(os.path.isfile(os.path.join(d, f)) for f in ("cifar10-jpeg.tar.gz", "prepare.py")):
            return os.path.abspath(d)
    return None


def step_data(args, clock, work, lim):
    """(CIFAR-10 folder or None, row): ``--data``, else the JPEG archive unpacked by its prepare.py."""
    if args.data:
        ok = os.path.isdir(os.path.join(args.data, "cifar-10-batches-py"))
        return (os.path.abspath(args.data) if ok else None), row(
            "0 data", os.path.abspath(args.data), "ok" if ok else "FAILED", 0.0,
            notes="given with --data" if ok else "no cifar-10-batches-py folder in it")
    src = find_jpeg_dir()
    if src is None:
        return None, row("0 data", "cifar10-jpeg", "FAILED", 0.0,
                         notes=f"no cifar10-jpeg.tar.gz + prepare.py in $LABKIT_JPEG_DIR or {', '.join(JPEG_DIRS)}")
    dest = os.path.join(work, "cifar-full")
    r = run_child([sys.executable, os.path.join(src, "prepare.py"), dest], clock.limit(lim["prepare"]),
                  os.path.join(work, "prepare.log"))
    ok = r["rc"] == 0 and os.path.isdir(os.path.join(dest, "cifar-10-batches-py"))
    notes = r["tail"].strip().splitlines()[-1][:200] if ok and r["tail"].strip() else failure(r, "prepare.py")
    return (dest if ok else None), row("0 data", f"prepare.py {src}", "ok" if ok else "FAILED", r["seconds"],
                                       notes=notes)


# ---- step 1: the GPU and labkit's precision ----------------------------------------------------------
def part_info(spec):
    """(in the child) The machine, the GPU and the precision labkit picks there."""
    import torch

    from labkit.device import cuda_native_bf16, precision_label, resolve_amp, resolve_device
    from labkit.notebook import device_info, device_report

    device = resolve_device(spec["device"])
    info = {"machine": machine_info(device), "python": sys.version.split()[0], "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "auto_precision": precision_label(*resolve_amp("auto", device)), "device_info": device_info()}
    info["device_report"] = device_report(info["device_info"])
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, capability="{}.{}".format(*torch.cuda.get_device_capability(device)),
                    memory_gib=round(props.total_memory / 2**30, 1), native_bf16=cuda_native_bf16(device),
                    multiprocessors=props.multi_processor_count, driver=driver_version())
    return info


def driver_version():
    """The NVIDIA driver's version (nvidia-smi, else NVML), or None."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import pynvml

        pynvml.nvmlInit()
        v = pynvml.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else v
    except Exception:  # noqa: BLE001  (no NVML: the driver's version is only not known)
        return None


def step_info(args, clock, work, lim):
    cmd, result = child("info", {"device": args.device}, work)
    r = run_child(cmd, clock.limit(lim["info"]), os.path.join(work, "info.log"))
    info = read_json(result) if r["rc"] == 0 else None
    if not info:
        return None, row("1 info", args.device, "FAILED", r["seconds"], notes=failure(r, "GPU query"))
    name = info.get("gpu") or info["machine"].get("cpu", "cpu")
    notes = (f"cc {info['capability']}, {info['memory_gib']} GiB, {info['multiprocessors']} SMs; driver "
             f"{info['driver']}, CUDA {info['cuda']}, cuDNN {info['cudnn']}; " if info.get("gpu") else "no GPU; ")
    notes += f"torch {info['machine']['torch']}, Python {info['python']}; {info['device_report']}"
    return info, row("1 info", name, "ok", r["seconds"], amp="auto", precision=info["auto_precision"], notes=notes)


# ---- step 2: the notebooks under papermill ------------------------------------------------------------
def declared_parameters(path):
    """The names the notebook's cell tagged ``parameters`` assigns (read from the file, not hard-coded)."""
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell.get("source", []))
            try:
                return {t.id for node in ast.parse(src).body if isinstance(node, (ast.Assign, ast.AnnAssign))
                        for tgt in (node.targets if isinstance(node, ast.Assign) else [node.target])
                        for t in ast.walk(tgt) if isinstance(t, ast.Name)}
            except SyntaxError:  # e.g. an IPython magic in the cell: fall back to "name = ..." lines
                return set(re.findall(r"^([A-Za-z_]\w*)\s*=", src, flags=re.M))
    return set()


def fill(value, ctx):
    if isinstance(value, list):
        return [fill(v, ctx) for v in value]
    return ctx.get(value, value) if isinstance(value, str) else value


def notebook_params(path, overrides, common, ctx):
    """(parameters to pass, notes): ``overrides`` and ``common`` filled in, keeping only what the notebook's
    parameter cell declares; a dropped override is named in the notes (a dropped common one is not)."""
    declared = declared_parameters(path)
    params = {k: fill(v, ctx) for k, v in common.items() if k in declared}
    dropped = sorted(k for k in overrides if k not in declared)
    params.update({k: fill(v, ctx) for k, v in overrides.items() if k in declared})
    notes = [f"dropped {', '.join(dropped)}: not in the parameter cell"] if dropped else []
    return params, notes


def notebook_outputs(path):
    """(test accuracies, precision the run printed, first error) from an executed notebook."""
    nb = read_json(path) or {}
    texts, error = [], None
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                texts.append("".join(o.get("text", "")))
            elif o.get("output_type") == "error" and error is None:
                error = f"{o.get('ename')}: {str(o.get('evalue', '')).splitlines()[0] if o.get('evalue') else ''}"
            elif "data" in o:
                texts.append("".join(o["data"].get("text/plain", "")))
    text = "\n".join(texts)
    accs = re.findall(r"Test Accuracy: ([\d.]+%)", text)
    prec = re.findall(r"\| precision ([^|\n]+?) \|", text)
    return accs, (prec[0].strip() if prec else None), error


def run_notebook(name, amp, args, ctx, clock, lim):
    """One notebook, one amp setting, under papermill in a child process: its table row."""
    src = os.path.join(REPO, "notebooks", name + ".ipynb")
    overrides = dict(NOTEBOOKS[name])
    if args.dry_run:
        overrides.update({k: v for k, v in DRY_OVERRIDES.items() if k in overrides}, batch_size=DRY_BATCH)
        overrides.update(DRY_NOTEBOOK_OVERRIDES.get(name, {}))
    params, notes = notebook_params(src, dict(overrides, device=args.device, amp=amp), COMMON,
                                    dict(ctx, **{RUNS: os.path.join(ctx["work"], f"runs-{name}-{amp}")}))
    if "amp" not in params and amp != "auto":
        return row("2 notebook", name, "skipped", amp=amp, notes="no amp parameter: the same run as auto")
    limit = clock.limit(lim.get(name, lim["notebook"]), lim["reserve_timing"] + lim["reserve_report"])
    if not limit:
        return row("2 notebook", name, "skipped", amp=amp, notes="time budget spent")
    out = os.path.join(ctx["nb_out"], f"{name}-{amp}.ipynb")
    pfile = os.path.join(ctx["work"], f"{name}-{amp}.yaml")
    with open(pfile, "w") as f:
        json.dump(params, f)  # JSON is YAML: papermill -f reads it, lists and None included
    r = run_child([sys.executable, "-m", "papermill", src, out, "-f", pfile, "--cwd", REPO, "-k", "python3",
                   "--no-progress-bar"], limit, os.path.join(ctx["work"], f"{name}-{amp}.log"))
    accs, prec, error = notebook_outputs(out)
    ok = r["rc"] == 0
    notes.append(("Test Accuracy: " + ", ".join(accs)) if accs else "no Test Accuracy line")
    if not ok:
        notes.append(error if error and not r["timed_out"] else failure(r, "papermill"))
    return row("2 notebook", name, "ok" if ok else "FAILED", r["seconds"], amp=amp, precision=prec or "-",
               notes="; ".join(notes), test_acc=accs, params=params)


def missing_packages():
    """What the notebooks need that this Python lacks (a bare GPU image: carry .whl/, see --stage)."""
    import importlib.util

    return [m for m in ("papermill", "ipykernel", "torchsummary", "thop") if importlib.util.find_spec(m) is None]


def step_notebooks(args, info, ctx, clock, lim):
    names = args.notebooks
    rows, missing = [], missing_packages()
    blocking = [m for m in missing if m in ("papermill", "ipykernel")]  # without these no notebook runs at all
    auto_is_fp16 = bool(info) and info["auto_precision"].startswith("fp16")
    for amp in ("fp16", "auto"):  # the T4's road first: what a short GPU loan must not leave out
        for name in names:
            if blocking:
                rows.append(row("2 notebook", name, "skipped", amp=amp, notes=f"not installed: {', '.join(missing)} "
                                "(carry the .whl/ of scripts/gpu_check.sh --stage)"))
            elif amp == "fp16" and auto_is_fp16:
                rows.append(row("2 notebook", name, "skipped", amp=amp, notes="auto is fp16 + GradScaler here"))
            elif ctx[DATA] is None:
                rows.append(row("2 notebook", name, "skipped", amp=amp, notes="no data (step 0 failed)"))
            else:
                rows.append(run_notebook(name, amp, args, ctx, clock, lim))
                if missing:
                    rows[-1]["notes"] += f"; not installed: {', '.join(missing)}"
            print(f"  {name} amp={amp}: {rows[-1]['status']} {rows[-1]['seconds']} s; {rows[-1]['notes'][:200]}",
                  flush=True)
    return rows


# ---- step 3: one epoch of each model, extrapolated from timed steps ---------------------------------------
def timing_data(spec, device):
    """(labkit data on the device, images/batch, image size, epoch images) for one model's timing: the 45,000-image
    training split for the CIFAR models, a few hundred images resized on the device for tv_resnet50."""
    import torch
    import torch.nn.functional as F

    import labkit

    size, big = spec["sizes"], spec["model"] == BIG_MODEL
    limit = 2 * size["big_images"] if big else size["limit"]
    data = labkit.load_cifar10(spec["data"], download=False, limit=limit, test_limit=10, normalize="fixed",
                               device=device, verbose=False)
    if not big:
        return data, size["batch"], 32, CIFAR_EPOCH
    x = data.train_x[:size["big_images"]].float()
    x = F.interpolate(x, size=size["big_size"], mode="bilinear", align_corners=False)
    data.train_x, data.train_y = x.round().clamp(0, 255).to(torch.uint8), data.train_y[:size["big_images"]]
    return data, size["big_batch"], size["big_size"], BIG_EPOCH


def endless(loader):
    """The loader's batches epoch after epoch (a timed run may be longer than the few hundred images)."""
    epoch = 0
    while True:
        loader.set_epoch(epoch)
        yield from loader
        epoch += 1


def time_model(model, amp, data, batch, spec, device):
    """Warm-up steps, then ``steps`` timed training steps of labkit's own loop body: {images_per_s, ...}."""
    import torch

    from labkit.config import TrainConfig
    from labkit.data import BatchLoader
    from labkit.device import choose_placement, precision_label, to_device
    from labkit.train import build_parts, one_batch

    size = spec["sizes"]
    cfg = TrainConfig(model=model, batch_size=batch, device=str(device), amp=amp).validate()
    place = choose_placement(cfg.device, cfg.amp, cfg.channels_last)
    loader = BatchLoader(data.train_x, data.train_y, batch, data.mean, data.std, shuffle=True, augment=True,
                         channels_last=place.channels_last, drop_last=True)  # fixed shapes: cuDNN tunes once
    parts = build_parts(cfg, len(data.classes), place, len(loader))
    parts.forward = parts.net
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    batches = endless(loader)
    for _ in range(size["warmup"]):
        x, y = to_device(*next(batches), device, place.channels_last)
        loss, _ = one_batch(parts, x, y)
    sync()
    t0 = time.perf_counter()
    for _ in range(size["steps"]):
        x, y = to_device(*next(batches), device, place.channels_last)
        loss, _ = one_batch(parts, x, y)
    sync()
    seconds = time.perf_counter() - t0
    out = {"precision": precision_label(place.amp_dtype, place.use_scaler), "channels_last": place.channels_last,
           "batch": batch, "steps": size["steps"], "warmup": size["warmup"], "timed_s": round(seconds, 4),
           "images_per_s": round(size["steps"] * batch / seconds, 1), "loss_finite": math.isfinite(loss.item()),
           "peak_mib": round(torch.cuda.max_memory_allocated(device) / 2**20) if cuda else None}
    del parts, loader, batches
    return out


def part_time(spec, result_path):
    """(in the child) One model's timings, amp after amp; the result file is written after each, so a
    timeout in the second keeps the first."""
    from labkit.device import resolve_device
    from labkit.files import atomic_write_json

    device = resolve_device(spec["device"])
    data, batch, image, epoch_images = timing_data(spec, device)
    done = {"model": spec["model"], "image_size": image, "epoch_images": epoch_images,
            "train_images": len(data.train_y), "runs": {}}
    for amp in spec["amps"]:
        r = time_model(spec["model"], amp, data, batch, spec, device)
        r["s_per_epoch"] = round(math.ceil(epoch_images / batch) * r["timed_s"] / r["steps"], 2)
        done["runs"][amp] = r
        atomic_write_json(result_path, done)
        print(f"{spec['model']} {amp}: {r}", flush=True)
    return done


def timing_item(model, sizes):
    return f"{model} {sizes['big_size'] if model == BIG_MODEL else 32}px"


def timing_rows(model, res, amps, r, item):
    """The table rows of one model's timing child (one per amp; a missing one says why)."""
    rows, runs = [], (res or {}).get("runs", {})
    for amp in amps:
        t = runs.get(amp)
        if t is None:
            rows.append(row("3 epoch time", item, "FAILED", r["seconds"], amp=amp, notes=failure(r, "timing")))
            continue
        notes = [f"batch {t['batch']}, {t['steps']} steps after {t['warmup']} warm-up, x{math.ceil(res['epoch_images'] / t['batch'])} "
                 f"steps = {res['epoch_images']:,} images", "loss finite" if t["loss_finite"] else "LOSS NOT FINITE"]
        if amp != "auto" and "auto" in runs:
            notes.append(f"{amp}/auto speed {t['images_per_s'] / runs['auto']['images_per_s']:.2f}x")
        rows.append(row("3 epoch time", item, "ok" if t["loss_finite"] else "FAILED", r["seconds"], amp=amp,
                        precision=t["precision"], notes="; ".join(notes), images_per_s=t["images_per_s"],
                        s_per_epoch=t["s_per_epoch"], peak_mib=t["peak_mib"]))
    return rows


def step_timing(args, info, ctx, clock, lim):
    mode = "dry" if args.dry_run else "gpu"
    amps = ["auto"] if info and info["auto_precision"].startswith("fp16") else ["fp16", "auto"]  # the T4 road first
    rows = []
    for model in args.models:
        item = timing_item(model, SIZES[mode])
        limit = clock.limit(lim["big" if model == BIG_MODEL else "model"], lim["reserve_report"])
        if ctx[DATA] is None or not limit:
            why = "no data (step 0 failed)" if ctx[DATA] is None else "time budget spent"
            rows += [row("3 epoch time", item, "skipped", amp=a, notes=why) for a in amps]
            continue
        spec = {"model": model, "amps": amps, "device": args.device, "data": ctx[DATA], "sizes": SIZES[mode]}
        cmd, result = child("time", spec, ctx["work"])
        r = run_child(cmd, limit, os.path.join(ctx["work"], f"time-{model}.log"))
        rows += timing_rows(model, read_json(result), amps, r, item)
        if len(amps) == 1:
            rows[-1]["notes"] += "; auto is fp16 + GradScaler here (the T4 road): no second run"
        for rw in rows[-len(amps):]:
            print(f"  {rw['item']} amp={rw['amp']}: {rw['status']} {rw.get('images_per_s', '-')} img/s", flush=True)
    return rows


# ---- step 4: the report ---------------------------------------------------------------------------------------
def fmt(v, spec="{:,.0f}"):
    return "-" if v is None else spec.format(v)


def markdown(report):
    m = report["meta"]
    info = report.get("info") or {}
    gpu = info.get("gpu") or ("no GPU (dry run on the CPU)" if m["dry_run"] else "GPU unknown (step 1 failed)")
    lines = [f"## GPU check: {gpu} ({m['date']}{', dry run' if m['dry_run'] else ''})", "",
             f"Machine: {describe_machine(info['machine']) if info else 'unknown'}; torch {m['torch']}; labkit's "
             f"precision with amp auto: {info.get('auto_precision', 'unknown')}. Data: {m['data']}. Wall time "
             f"{m['wall_s']:.0f} s of a {m['budget_s']} s budget.", "",
             "| step | item | amp | precision | status | wall s | images/s | s/epoch (extrapolated) | peak GPU MiB "
             "| result / notes |", "|---|---|---|---|---|---:|---:|---:|---:|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['step']} | {r['item']} | {r['amp']} | {r['precision']} | {r['status']} | "
                     f"{fmt(r['seconds'], '{:.1f}')} | {fmt(r.get('images_per_s'))} | "
                     f"{fmt(r.get('s_per_epoch'), '{:.1f}')} | {fmt(r.get('peak_mib'))} | "
                     f"{r['notes'].replace('|', '/')} |")
    lines += ["", "Epoch times are extrapolated: the mean of the timed training steps (labkit.train.one_batch on "
              "labkit's on-device loader with crop/flip/normalize, after the warm-up, between "
              "torch.cuda.synchronize calls) times the steps of one epoch (45,000 images for the 32x32 models; "
              "for tv_resnet50 the transfer lab's 25,289-image retinopathy split, timed on CIFAR images resized "
              "to 224x224 on the GPU, so without the JPEG decoding of the real lab). No validation pass, no "
              "checkpoint. Peak GPU memory: torch.cuda.max_memory_allocated, reset per run (the data on the GPU "
              "included). Notebooks: papermill at small size; the executed notebooks are in notebooks.tar.gz."]
    return "\n".join(lines) + "\n"


def default_out(info, dry_run):
    if dry_run:
        return tempfile.mkdtemp(prefix="gpu-check-dry-")
    name = (info or {}).get("gpu") or "unknown"
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return os.path.join(REPO, "benchmarks", "results", f"gpu-{slug}-{datetime.date.today().isoformat()}")


def pack_notebooks(nb_out, out):
    """The executed notebooks as one archive in ``out`` (one file to fetch, nothing big left in the tree)."""
    names = sorted(os.listdir(nb_out)) if os.path.isdir(nb_out) else []
    with tarfile.open(os.path.join(out, "notebooks.tar.gz"), "w:gz") as tar:
        for n in names:
            tar.add(os.path.join(nb_out, n), arcname=os.path.join("notebooks", n))
    shutil.rmtree(nb_out, ignore_errors=True)
    return names


# ---- --stage: what a bare GPU image lacks, made ready here ------------------------------------------------------
def stage():
    """Here, online: the wheels of :data:`WHEELS` for CPython 3.12 on x86-64 Linux into ``.whl/`` and the JPEG archive
    with its prepare.py into ``data/cifar10-jpeg/`` (both git-ignored): carry ``.whl`` and ``data/cifar10-jpeg``."""
    whl = os.path.join(REPO, ".whl")
    plats = [f"manylinux_2_{n}_x86_64" for n in range(17, 40)] + ["manylinux2014_x86_64", "manylinux1_x86_64"]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           "3.12", "--implementation", "cp", "-d", whl] + [a for p in plats for a in ("--platform", p)] + list(WHEELS)
    subprocess.run(cmd, check=True)
    src = os.environ.get("LABKIT_JPEG_DIR") or os.path.join(os.path.dirname(REPO), "shared", "data", "cifar10-jpeg")
    dest = os.path.join(REPO, "data", "cifar10-jpeg")
    os.makedirs(dest, exist_ok=True)
    for f in ("cifar10-jpeg.tar.gz", "prepare.py"):
        shutil.copy2(os.path.join(src, f), os.path.join(dest, f))
    size = sum(os.path.getsize(os.path.join(d, f)) for d in (whl, dest) for f in os.listdir(d)) / 2**20
    print(f"staged {len(os.listdir(whl))} wheels in .whl/ and the archive in data/cifar10-jpeg/ ({size:.0f} MiB): "
          f"run(command='bash scripts/gpu_check.sh --out $OUT/gpu', carry=['.whl', 'data/cifar10-jpeg'])")


# ---- main -------------------------------------------------------------------------------------------------------
def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="the same steps on the CPU at tiny sizes (CI)")
    p.add_argument("--data", default=None, help="a folder holding cifar-10-batches-py (default: the JPEG archive, "
                                                "unpacked by its prepare.py; with --dry-run the shared subset)")
    p.add_argument("--out", default=None, help="folder for gpu_check.md/.json and notebooks.tar.gz")
    p.add_argument("--budget", type=float, default=None, help="seconds for the whole check (default 450; dry 240)")
    p.add_argument("--notebooks", default=None, help="comma-separated notebook names (default: all; dry: "
                   f"{','.join(DRY_NOTEBOOKS)}; 'none': no notebook)")
    p.add_argument("--models", default=None, help="comma-separated models to time (default: all; dry: "
                   f"{','.join(DRY_MODELS)}; 'none': no timing)")
    p.add_argument("--stage", action="store_true", help="here, online: wheels and data for a bare GPU image")
    p.add_argument("--part", help=argparse.SUPPRESS)    # internal: one step in a child process
    p.add_argument("--spec", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.device = "cpu" if args.dry_run else "cuda"
    args.notebooks = pick(args.notebooks, DRY_NOTEBOOKS if args.dry_run else tuple(NOTEBOOKS), NOTEBOOKS, p)
    args.models = pick(args.models, DRY_MODELS if args.dry_run else CIFAR_MODELS + (BIG_MODEL,),
                       CIFAR_MODELS + (BIG_MODEL,), p)
    if args.dry_run and args.data is None and os.path.isdir(os.path.join(default_data_root(), "cifar-10-batches-py")):
        args.data = default_data_root()  # CI: the shared subset (no prepare.py needed)
    return args


def pick(text, default, known, parser):
    """A --notebooks/--models list: the default, 'none', or names checked against ``known``."""
    if text is None:
        return tuple(default)
    names = tuple(n.strip().removesuffix(".ipynb") for n in text.split(",") if n.strip() and n.strip() != "none")
    bad = [n for n in names if n not in known]
    if bad:
        parser.error(f"unknown name(s) {bad}; known: {', '.join(known)}")
    return names


def run_part(args):
    from labkit.files import atomic_write_json

    spec = json.loads(args.spec)
    if args.part == "info":
        atomic_write_json(args.result, part_info(spec))
    else:
        part_time(spec, args.result)


def main(argv=None):
    args = parse_args(argv)
    if args.part:
        return run_part(args)
    if args.stage:
        return stage()
    mode = "dry" if args.dry_run else "gpu"
    lim = LIMITS[mode]
    clock, work = Clock(args.budget or lim["budget"]), tempfile.mkdtemp(prefix="gpu-check-work-")
    print(f"gpu_check ({mode}): budget {clock.budget:.0f} s, work folder {work}", flush=True)
    data, data_row = step_data(args, clock, work, lim)
    print(f"[0] data: {data_row['status']} {data_row['notes']}", flush=True)
    info, info_row = step_info(args, clock, work, lim)
    print(f"[1] info: {info_row['status']} {info_row['notes']}", flush=True)
    out = os.path.abspath(args.out or default_out(info, args.dry_run))
    ctx = {DATA: data, "work": work, "nb_out": os.path.join(out, "notebooks")}
    os.makedirs(ctx["nb_out"], exist_ok=True)
    print("[2] notebooks", flush=True)
    rows = [data_row, info_row] + step_notebooks(args, info, ctx, clock, lim)
    print("[3] epoch times", flush=True)
    rows += step_timing(args, info, ctx, clock, lim)
    executed = pack_notebooks(ctx["nb_out"], out)
    report = {"meta": {"date": datetime.date.today().isoformat(), "gpu": (info or {}).get("gpu"),
                       "torch": (info or {}).get("machine", {}).get("torch", torch.__version__),
                       "dry_run": args.dry_run, "data": data, "budget_s": clock.budget,
                       "wall_s": round(clock.elapsed(), 1), "executed_notebooks": executed,
                       "sizes": SIZES[mode], "limits": lim},
              "info": info, "rows": rows}
    md = markdown(report)
    print("\n" + md, flush=True)
    write_report(os.path.join(out, "gpu_check"), md, report)
    shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in rows if r["status"] == "FAILED"]
    print(f"gpu_check: {len(rows) - len(failed)} of {len(rows)} rows without failure; {out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
