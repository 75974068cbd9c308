"""The GPU check's dry run: the very script a lent GPU machine runs (scripts/gpu_check.sh), on the CPU at tiny
sizes, so a break in it shows here and in CI rather than in the few minutes of a GPU loan."""
import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_dry_run_passes_every_step_and_writes_its_table(subset_root, tmp_path):
    out = tmp_path / "check"
    p = subprocess.run(["bash", "scripts/gpu_check.sh", "--dry-run", "--data", subset_root, "--out", str(out),
                        ], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    report = json.loads((out / "gpu_check.json").read_text())
    rows = report["rows"]
    assert report["meta"]["dry_run"] and all(r["status"] == "ok" for r in rows), [r for r in rows if r["status"] != "ok"]
    notebooks = [r for r in rows if r["step"] == "2 notebook"]
    # each dry notebook ran on both roads: labkit's own precision here, and the T4's fp16 + GradScaler
    assert sorted((r["item"], r["amp"]) for r in notebooks) == [("task1_simplecnn", "auto"), ("task1_simplecnn", "fp16"),
                                                                ("task3_resnet_depth", "auto"),
                                                                ("task3_resnet_depth", "fp16")]
    assert all("Test Accuracy" in r["notes"] for r in notebooks), [r["notes"] for r in notebooks]
    timed = [r for r in rows if r["step"] == "3 epoch time"]
    assert {r["precision"] for r in timed if r["amp"] == "fp16"} == {"fp16 + GradScaler"}
    assert all("loss finite" in r["notes"] for r in timed)
    md = (out / "gpu_check.md").read_text()
    assert "| 2 notebook | task1_simplecnn | fp16 |" in md and "dry run" in md
    assert (out / "notebooks.tar.gz").stat().st_size > 0
