#!/usr/bin/env python
"""Full-size accuracy of the labs' recipes, with two test sets per figure.

On machines without the official CIFAR-10 download, the full-size data is the public JPEG copy in
``../shared/data/cifar10-jpeg`` (``prepare.py DEST`` writes the official layout). Its test images
went through JPEG, which costs a model a few points, so every figure gets a second accuracy from the
same checkpoint: the lossless official test images of the shared subset (``cifar10-subset``: the
first 500 images of the official test batch).

    python ../shared/data/cifar10-jpeg/prepare.py /tmp/cifar-full
    python benchmarks/full_size.py train resnet20 --preset resnet20_fast --data /tmp/cifar-full --run-dir runs/full
    python benchmarks/full_size.py check runs/full/resnet20-resnet20_fast     # the real-pixel check
    python benchmarks/full_size.py table runs/full/* --out benchmarks/results/full-size-cpu
    python benchmarks/full_size.py depth --data /tmp/cifar-full --run-dir runs/full --epochs 30 \\
        --out benchmarks/results/depth-cpu        # plain-20/56 and ResNet-20/56: table and figure 6
    python benchmarks/full_size.py csv runs/full/resnet20-resnet20_fast --lab-task "depth lab" --command "..."
    python benchmarks/full_size.py page           # benchmarks/README.md's table of every full-size run, from the CSV

``train`` runs ``labkit.fit`` (resumable: run it again after an interruption) and then ``check``;
``check`` evaluates a run folder's best checkpoint on the lossless images with the run's own
normalization and writes its ``real_check.json`` into the run folder; ``table`` collects run folders
(also ones trained by the notebooks) into one Markdown table. ``csv`` adds (or updates) a finished run
folder's row in ``benchmarks/results/full-size.csv``, the one record of every full-size figure (rows whose
folders are gone were typed from the dated tables of their sessions); ``page`` draws benchmarks/README.md's
table of all full-size runs from it.
"""
import argparse
import csv
import datetime
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for p in (REPO, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import labkit  # noqa: E402
from labkit.files import atomic_write_json, read_json_file  # noqa: E402
from labkit.runs import HISTORY, load_run, run_status  # noqa: E402
from labkit.errors import LabkitError  # noqa: E402
from labkit.evaluate import evaluate  # noqa: E402
from labkit.studies import PAPER_TEST_ERROR, degradation_panels  # noqa: E402
from labkit.plots import plot_error_curves  # noqa: E402
from labkit.results import trained_on  # noqa: E402
from labkit.presets import get_preset  # noqa: E402
from labkit.device import describe_machine, machine_info  # noqa: E402
from train_speed import write_report  # noqa: E402

REAL_DEFAULT = os.path.join(os.path.dirname(REPO), "shared", "data", "cifar10-subset")
DATA_LABEL = "CIFAR-10 (JPEG copy)"


def real_check(run_dir, real_root=REAL_DEFAULT, device="cpu"):
    """Accuracy of ``run_dir``'s best checkpoint on the lossless official test images of ``real_root``,
    normalized with the run's own mean/std; written to the run folder's ``real_check.json`` and returned."""
    run = load_run(run_dir, device=device)
    real = labkit.load_cifar10(real_root, download=False, normalize="off", device=device, verbose=False)
    real.mean, real.std = run.config["data"]["mean"], run.config["data"]["std"]
    flip = bool(run.config.get("test_flip", False))  # as the run measured its test set
    res = evaluate(run.model, real.loader("test", batch_size=500), flip=flip)
    out = {"real_test_acc": res["acc"], "real_test_images": res["n"], "real_root": os.path.abspath(real_root),
           "test_flip": flip}
    atomic_write_json(run.file("real_check"), out)
    return out


def run_row(run_dir):
    """One table row from a finished run folder (its record, history, result and real-pixel check)."""
    if run_status(run_dir) != "finished":
        return None
    run = load_run(run_dir, model=False)
    cfg, hist = run.config, run.history
    real = read_json_file(run.file("real_check"), "real-pixel check", "") or {}
    best = max(hist, key=lambda h: h["val_acc"]) if hist else {}
    return {"run": os.path.basename(os.path.normpath(run_dir)), "model": cfg["model"], "epochs": len(hist),
            "recipe": f"{cfg['optimizer']} lr {cfg['lr']:g} {cfg['scheduler']}, wd {cfg['weight_decay']:g}, "
                      f"{ {True: 'crop+flip', 'flip': 'flip', False: 'no aug'}[cfg['augment']]}"
                      + (f", ls {cfg['label_smoothing']:g}" if cfg.get("label_smoothing") else ""),
            "train_images": cfg["data"]["train"], "best_val_acc": best.get("val_acc"),
            "test_acc": run.test_acc, "real_test_acc": real.get("real_test_acc"),
            "train_acc_last": hist[-1]["train_acc"] if hist else None,
            "train_minutes": round(sum(h["seconds"] for h in hist) / 60, 1), "device": cfg.get("device"),
            "precision": cfg.get("amp_dtype")}


DEPTH_MODELS = ("plain20", "resnet20", "plain56", "resnet56")  # He et al. 2016's figure 6


def depth_study(data_root, run_dir, models=DEPTH_MODELS, epochs=30, preset="resnet20_fast", real=REAL_DEFAULT,
                limit=None):
    """The depth lab's figure at full size: each model with one recipe (``preset`` at ``epochs``, the test set
    tracked every epoch), trained or resumed in ``run_dir/<model>-e<epochs>``, with its real-pixel check;
    returns the run folders. ``limit`` (training images) is for a quick check of the command only."""
    data = labkit.load_cifar10(data_root, download=False, verbose=False, limit=limit)
    params = get_preset(preset, epochs=epochs, track_test=True)
    folders = []
    for m in models:
        name = f"{m}-e{epochs}"
        run = labkit.fit(m, data, run_dir=run_dir, run_name=name, progress=False,
                         resume=os.path.isdir(os.path.join(run_dir, name)), **params)
        real_check(run.run_dir, real)
        folders.append(run.run_dir)
    return folders


def depth_markdown(folders, meta):
    """The table of the depth figure: final test error (JPEG copy and real pixels), the last epoch's training
    and test error, the paper's; where each run trained (its epochs' machines: a run resumed in another session
    may have gone on elsewhere)."""
    lines = [f"## Plain nets vs ResNets at full size ({meta['date']}, {DATA_LABEL})", "",
             f"Table written on: {describe_machine(meta['machine'])}; torch {meta['machine']['torch']}.", "",
             "| model | epochs | test error % (JPEG, best-val checkpoint) | test error % (real, 500) | test error % (last "
             "epoch) | train error % (last epoch) | paper's test error % |", "|---|---:|---:|---:|---:|---:|---:|"]
    where = ["", "Where each run trained (machine, precision, epochs):", ""]
    for f in folders:
        run = load_run(f, model=False)
        real = read_json_file(run.file("real_check"), "real-pixel check", "") or {}
        last = run.history[-1]
        paper = PAPER_TEST_ERROR.get(run.config["model"])
        lines.append(f"| {run.config['model']} | {len(run.history)} | {100 - run.test_acc:.2f} | "
                     f"{100 - real['real_test_acc']:.1f} | {100 - last['test_acc']:.2f} | {100 - last['train_acc']:.2f} | "
                     f"{paper if paper else '-'} |")
        where.append(f"- {run.config['model']}: {trained_on(run.history)}")
    return "\n".join(lines + where) + "\n"


def depth_figure(folders, path):
    """He et al.'s figure 6 from the run folders, drawn by labkit's plotting (training error dashed, test solid)."""
    runs = {os.path.basename(f).split("-e")[0]: load_run(f, model=False) for f in folders}
    plt.close(plot_error_curves(degradation_panels(runs), save=path,
                                title="CIFAR-10 (JPEG copy): training error (dashed) and test error (solid)"))
    return path


def markdown(rows, meta):
    lines = [f"## Full-size accuracy ({meta['date']}, {DATA_LABEL})", "",
             f"Machine: {describe_machine(meta['machine'])}; torch {meta['machine']['torch']}. "
             f"Test: the JPEG copy's 10,000 test images; real: the same checkpoint on the 500 lossless official "
             f"test images (cifar10-subset). Best-validation checkpoint (45,000 train / 5,000 val).", "",
             "| run | model | recipe | epochs | train acc % (last) | best val % | test % (JPEG, 10k) "
             "| test % (real, 500) | train min | device |", "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        real = f"{r['real_test_acc']:.1f}" if r["real_test_acc"] is not None else "-"
        lines.append(f"| {r['run']} | {r['model']} | {r['recipe']} | {r['epochs']} | {r['train_acc_last']:.1f} | "
                     f"{r['best_val_acc']:.2f} | {r['test_acc']:.2f} | {real} | {r['train_minutes']} | "
                     f"{r['device']} ({r['precision']}) |")
    return "\n".join(lines) + "\n"


CSV_PATH = os.path.join(HERE, "results", "full-size.csv")
CSV_COLUMNS = ("date", "machine", "lab_task", "net", "recipe", "epochs", "train_images", "test_acc", "real_acc",
               "real_images", "command")
PAGE_BEGIN, PAGE_END = "<!-- full-size.csv: begin (python benchmarks/full_size.py page) -->", "<!-- full-size.csv: end -->"


def _dates(run):
    """The run's dates: when it started and when its last epoch was committed, '2026-12-02' or '2026-12-02/03'."""
    day = lambda t: datetime.datetime.fromtimestamp(t).date().isoformat()  # noqa: E731
    first = day(run.config.get("started") or os.path.getmtime(run.file(HISTORY)))
    last = day(os.path.getmtime(run.file(HISTORY)))
    return first if first == last else f"{first}/{last[-2:]}" if first[:7] == last[:7] else f"{first}/{last}"


def csv_row(run_dir, lab_task, command, machine=None, date=None):
    """The CSV row of a finished run folder: its record, history, result and real-pixel check (``check`` first).
    ``machine`` replaces the history's machine record for runs from before labkit recorded it; ``date`` the dates
    read from its files (a folder copied to another machine has new file times)."""
    row = run_row(run_dir)
    if row is None:
        raise LabkitError(f"{run_dir} is not a finished run: finish (or resume) it first")
    run = load_run(run_dir, model=False)
    real = read_json_file(run.file("real_check"), "real-pixel check", "") or {}
    where = trained_on(run.history)
    shift, flip = run.config.get("test_shift") or 0, run.config.get("test_flip")
    recipe = row["recipe"] + (f", test-time flips and {shift}-pixel shifts (10 views)" if flip and shift else
                              ", test-time flips" if flip else f", test-time {shift}-pixel shifts (5 views)" if shift
                              else "")
    kwargs = run.config.get("model_kwargs") or {}
    recipe += "".join(f", {k} {v}" for k, v in sorted(kwargs.items()))
    if run.config.get("teacher"):
        recipe += (f", distilled from {os.path.basename(os.path.normpath(run.config['teacher']))} "
                   f"(alpha {run.config['distill_alpha']:g}, T {run.config['distill_temperature']:g})")
    if run.config.get("warmup_steps"):
        recipe += f", warm-up {run.config['warmup_steps']} steps at lr/10"
    if run.config.get("seed"):
        recipe += f", seed {run.config['seed']}"  # another seed's run is another row (upsert's key)
    if len({e.get("machine") for e in run.history}) == 1 and run.history[0].get("machine"):
        where = run.history[0]["machine"]  # one machine throughout: no epoch range
    precision = "" if where.endswith(str(run.config.get("precision"))) else run.config.get("precision") or ""
    return {"date": date or _dates(run), "machine": machine or f"{where}; {precision}".strip("; "),
            "lab_task": lab_task, "net": row["model"], "recipe": recipe, "epochs": row["epochs"],
            "train_images": row["train_images"], "test_acc": f"{row['test_acc']:.2f}",
            "real_acc": f"{real['real_test_acc']:.1f}" if real else "",
            "real_images": real.get("real_test_images", ""), "command": command}


def read_csv(path=CSV_PATH):
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(rows, path=CSV_PATH):
    """Rows in date order (a stable sort keeps the order of one date's rows)."""
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(sorted(rows, key=lambda r: r["date"]))
    with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
    os.replace(path + ".tmp", path)


def row_key(r):
    """What makes a row one run: its date, machine, net, recipe and epochs (the same recipe on another machine, a
    GPU's fp16 beside a CPU's bf16, is another row)."""
    return r["date"], r["machine"], r["net"], r["recipe"], str(r["epochs"])


def upsert(rows, row):
    """``rows`` with ``row`` replacing the one of the same :func:`row_key` (a re-check), else added."""
    return [r for r in rows if row_key(r) != row_key(row)] + [row]


def page_table(rows):
    """The results page's table of every full-size run, drawn from the CSV."""
    lines = ["| date | lab task | net | recipe | epochs | train images | test % (JPEG, 10,000) | real % (images) "
             "| machine | command |", "|---|---|---|---|---:|---:|---:|---:|---|---|"]
    for r in sorted(rows, key=lambda r: (r["lab_task"], r["date"])):
        real = f"{r['real_acc']} ({int(r['real_images']):,})" if r["real_acc"] else "-"
        cmd = f"`{r['command']}`" if r["command"] else "-"
        lines.append(f"| {r['date']} | {r['lab_task']} | `{r['net']}` | {r['recipe']} | {r['epochs']} | "
                     f"{int(r['train_images']):,} | {r['test_acc']} | {real} | {r['machine']} | {cmd} |")
    return "\n".join(lines) + "\n"


def write_page(readme, rows):
    """Replace the table between the CSV markers of ``readme`` (benchmarks/README.md) by :func:`page_table`."""
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    if PAGE_BEGIN not in text or PAGE_END not in text:
        raise LabkitError(f"{readme} has no {PAGE_BEGIN} ... {PAGE_END} markers for the table")
    head, rest = text.split(PAGE_BEGIN, 1)
    tail = rest.split(PAGE_END, 1)[1]
    with open(readme, "w", encoding="utf-8") as f:
        f.write(f"{head}{PAGE_BEGIN}\n{page_table(rows)}{PAGE_END}{tail}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a model with a preset on the full data, then the real-pixel check")
    t.add_argument("model")
    t.add_argument("--preset", required=True)
    t.add_argument("--data", required=True, help="folder holding cifar-10-batches-py (the full data set)")
    t.add_argument("--run-dir", default="runs/full")
    t.add_argument("--name", default=None, help="run folder name (default MODEL-PRESET)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a fit parameter")
    t.add_argument("--real", default=REAL_DEFAULT)
    c = sub.add_parser("check", help="the real-pixel check of existing run folders")
    c.add_argument("runs", nargs="+")
    c.add_argument("--real", default=REAL_DEFAULT)
    d = sub.add_parser("depth", help="the depth lab's four runs (plain/ResNet 20/56), their table and figure")
    d.add_argument("--data", required=True, help="folder holding cifar-10-batches-py (the full data set)")
    d.add_argument("--run-dir", default="runs/full")
    d.add_argument("--epochs", type=int, default=30)
    d.add_argument("--models", default=",".join(DEPTH_MODELS))
    d.add_argument("--real", default=REAL_DEFAULT)
    d.add_argument("--out", default=None, help="write OUT.md, OUT.json and OUT.png")
    d.add_argument("--limit", type=int, default=None, help="only this many training images (a quick check)")
    b = sub.add_parser("table", help="one Markdown table of finished run folders")
    b.add_argument("runs", nargs="+")
    b.add_argument("--out", default=None, help="write OUT.md and OUT.json")
    v = sub.add_parser("csv", help="add or update finished run folders' rows in benchmarks/results/full-size.csv")
    v.add_argument("runs", nargs="+")
    v.add_argument("--lab-task", required=True, help='e.g. "task 1", "task 2", "depth lab"')
    v.add_argument("--command", default="", help="the command that trained the run")
    v.add_argument("--machine", default=None, help="for runs from before the epochs recorded their machine")
    v.add_argument("--date", default=None, help="for folders copied from another machine (new file times)")
    v.add_argument("--csv", default=CSV_PATH)
    g = sub.add_parser("page", help="draw benchmarks/README.md's table of every full-size run from the CSV")
    g.add_argument("--csv", default=CSV_PATH)
    g.add_argument("--readme", default=os.path.join(HERE, "README.md"))
    a = p.parse_args(argv)
    try:
        if a.cmd == "train":
            params = get_preset(a.preset)
            for kv in a.set:
                key, _, value = kv.partition("=")
                try:
                    params[key] = json.loads(value)  # numbers, true/false, lists
                except ValueError:
                    params[key] = value              # text such as flip or onecycle
            data = labkit.load_cifar10(a.data, download=False, verbose=False)
            name = a.name or f"{a.model}-{a.preset}"
            run = labkit.fit(a.model, data, run_dir=a.run_dir, run_name=name, progress=False,
                             resume=os.path.isdir(os.path.join(a.run_dir, name)), **params)  # a new run, or resumed
            print(json.dumps(real_check(run.run_dir, a.real)))
        elif a.cmd == "depth":
            folders = depth_study(a.data, a.run_dir, [m.strip() for m in a.models.split(",")], a.epochs, real=a.real,
                                  limit=a.limit)
            meta = {"date": datetime.date.today().isoformat(), "machine": machine_info(torch.device("cpu"))}
            md = depth_markdown(folders, meta)
            print(md)
            if a.out:
                write_report(a.out, md, {"meta": meta, "runs": folders})
                print(depth_figure(folders, a.out + ".png"))
        elif a.cmd == "csv":
            rows = read_csv(a.csv)
            for r in a.runs:
                rows = upsert(rows, csv_row(r, a.lab_task, a.command, a.machine, a.date))
            write_csv(rows, a.csv)
            print(f"{a.csv}: {len(rows)} rows")
        elif a.cmd == "page":
            write_page(a.readme, read_csv(a.csv))
            print(f"{a.readme}: table of {len(read_csv(a.csv))} full-size runs")
        elif a.cmd == "check":
            for r in a.runs:
                print(r, json.dumps(real_check(r, a.real)))
        else:
            rows = [row for row in map(run_row, a.runs) if row]
            meta = {"date": datetime.date.today().isoformat(), "machine": machine_info(torch.device("cpu"))}
            md = markdown(rows, meta)
            print(md)
            if a.out:
                write_report(a.out, md, {"meta": meta, "rows": rows})
    except LabkitError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
