"""A student knows before Run all whether a study fits the session: its time, estimated on this device from a few
timed steps, is printed before anything trains (with a warning on a CPU runtime), kept in estimate.json, and
compared with the time it really took."""
import json

import labkit
from labkit.experiments import Variant, run_experiments


def test_the_estimate_comes_first_then_its_error(subset_root, tmp_path, capsys):
    data = labkit.load_cifar10(subset_root, limit=200, test_limit=64, device="cpu", verbose=False)
    kw = dict(experiment="e", run_dir=tmp_path, data=data, model="simplecnn", epochs=2, batch_size=32, progress=False)
    variants = [Variant("a"), Variant("b", {"lr": 0.02})]
    exp = run_experiments(variants, **kw)
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("Estimated:"))
    assert "2 runs x 2 epochs ≈" in line and "on this CPU" in line and "WARNING: no GPU" in line
    assert out.index("Estimated:") < out.index("=== [1/2] a")
    assert "The study took" in out and "the estimate was" in out
    rec = json.loads((tmp_path / "e" / "estimate.json").read_text())
    assert rec["runs"] == 2 and rec["estimated_seconds"] > 0 and rec["taken_seconds"] > 0
    assert exp.files["estimate"].endswith("estimate.json")
    run_experiments(variants, **kw)  # everything finished: nothing to estimate, nothing trained
    assert "Estimated:" not in capsys.readouterr().out
