"""labkit's fast path: precision/layout switches recorded and learning, batches that match the
handouts' torchvision transforms, and the fast-recipe presets."""
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import labkit
from labkit.data import random_crop_flip
from labkit.presets import Preset, fit_preset, get_preset, list_presets, preset_info, preset_table
from labkit.device import auto_channels_last, cpu_has_fast_bf16


@pytest.fixture(scope="module")
def small(subset_root):
    # 1,440 training images: big enough to learn something in 3 epochs, small enough for CI
    return labkit.load_cifar10(subset_root, device="cpu", normalize="fixed", limit=1600, test_limit=300,
                               verbose=False)


@pytest.fixture(scope="module")
def runs(small, tmp_path_factory):
    root = tmp_path_factory.mktemp("fast")
    out = {}
    for name, kw in {"fp32": dict(amp="off", channels_last=False),
                     "bf16_cl": dict(amp="bf16", channels_last=True),
                     "auto": dict()}.items():
        out[name] = labkit.fit("simplecnn", small, run_dir=root, run_name=name, epochs=3, lr=0.01,
                               scheduler="cosine", seed=0, progress=False, verbose=False, **kw)
    return out


def _config(run):
    with open(os.path.join(run.run_dir, "config.json")) as f:
        return json.load(f)


@pytest.mark.slow
def test_switches_recorded_in_config(runs):
    fp32, bf16, auto = (_config(runs[k]) for k in ("fp32", "bf16_cl", "auto"))
    assert (fp32["amp"], fp32["amp_dtype"], fp32["channels_last"], fp32["compile"]) == ("off", "fp32", False, False)
    assert (bf16["amp"], bf16["amp_dtype"], bf16["channels_last"]) == ("bf16", "bfloat16", True)
    assert bf16["grad_scaler"] is False  # bf16 needs no loss scaling
    # "auto" resolves to what pays on this machine, and the run says what it used
    assert auto["amp"] == "auto" and auto["amp_dtype"] == ("bfloat16" if cpu_has_fast_bf16() else "fp32")
    assert auto["channels_last"] == auto_channels_last(torch.device("cpu"))
    assert auto["device"] == "cpu"


def test_fp32_and_bf16_both_learn(runs):
    for name, run in runs.items():
        h = run.history
        assert h[-1]["train_loss"] < h[0]["train_loss"] - 0.1, (name, h)
        assert run.test_acc > 22.0, (name, run.test_acc)  # chance is 10%; measured 27-33%
        assert all(e["train_images_per_s"] > 0 and e["seconds"] > 0 for e in h)
    # the same recipe in bf16 + channels_last ends close to fp32 (same seed, same batches)
    assert abs(runs["fp32"].test_acc - runs["bf16_cl"].test_acc) < 10.0


def test_channels_last_evaluation_matches_contiguous(runs, small):
    model = runs["fp32"].model.float().eval()
    a = labkit.evaluate(model, small.loader("test", 1000), "cpu")
    model_cl = model.to(memory_format=torch.channels_last)
    b = labkit.evaluate(model_cl, small.loader("test", 1000, channels_last=True), "cpu")
    assert a["acc"] == pytest.approx(b["acc"], abs=0.34)  # at most one of 300 images flips
    assert a["loss"] == pytest.approx(b["loss"], abs=1e-3)


def _reference_crop_flip(x, generator, pad=4):
    """The first implementation (F.pad + 4-tensor indexing) that random_crop_flip replaced."""
    b, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w)[None])[:, None, None, :]
    x = xp[torch.arange(b)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    m = torch.rand(b, generator=generator) < 0.5
    return torch.where(m[:, None, None, None], x.flip(3), x)


def test_fast_crop_equals_reference_implementation(subset):
    x = subset.train_x[:300]
    for seed in (0, 1):
        fast = random_crop_flip(x, torch.Generator().manual_seed(seed))
        ref = _reference_crop_flip(x, torch.Generator().manual_seed(seed))
        assert torch.equal(fast, ref)
    xf = x.float()
    assert torch.equal(random_crop_flip(xf, torch.Generator().manual_seed(5)),
                       _reference_crop_flip(xf, torch.Generator().manual_seed(5)))
    cl = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(random_crop_flip(cl, torch.Generator().manual_seed(5)),
                       _reference_crop_flip(x, torch.Generator().manual_seed(5)))


def test_augmentation_matches_torchvision_transforms():
    """Every labkit crop/flip is an output torchvision's RandomCrop(32, padding=4) +
    RandomHorizontalFlip can give, offsets are uniform over the 9x9 shifts, flips ~50%."""
    import torchvision.transforms.functional as TF

    n = 2000
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)  # noise: each window unique
    out = random_crop_flip(x, torch.Generator().manual_seed(11))
    assert out.shape == x.shape and out.dtype == torch.uint8 and out.is_contiguous()
    offsets, flips = [], 0
    for i in range(200):
        padded = TF.pad(x[i], [4], fill=0)  # torchvision's RandomCrop(padding=4) pads with 0
        found = [(dy, dx, f) for dy in range(9) for dx in range(9) for f in (False, True)
                 if torch.equal(out[i], (lambda w: TF.hflip(w) if f else w)(TF.crop(padded, dy, dx, 32, 32)))]
        assert len(found) == 1, i
        offsets.append(found[0][:2])
        flips += found[0][2]
    assert 0.38 < flips / 200 < 0.62
    # offsets: each coordinate takes all 9 values, roughly uniformly (expected 200/9 = 22 each)
    for k in (0, 1):
        counts = np.bincount([o[k] for o in offsets], minlength=9)
        assert counts.min() >= 8 and counts.max() <= 40, counts
    # flip fraction over the whole batch: the flip is the only change when pad=0
    flipped = random_crop_flip(x, torch.Generator().manual_seed(4), pad=0)
    changed = (flipped != x).flatten(1).any(1).float().mean().item()
    assert 0.46 < changed < 0.54
    assert torch.equal(flipped[(flipped != x).flatten(1).any(1)], x[(flipped != x).flatten(1).any(1)].flip(3))


def test_batches_match_handout_totensor_normalize(subset):
    """Without augmentation a labkit batch equals ToTensor()+Normalize() of the PIL images."""
    import torchvision.transforms as T
    from PIL import Image

    tf = T.Compose([T.ToTensor(), T.Normalize(subset.mean, subset.std)])
    xb, yb = next(iter(subset.loader("val", 64, shuffle=False)))
    ref = torch.stack([tf(Image.fromarray(img.permute(1, 2, 0).numpy())) for img in subset.val_x[:64]])
    assert xb.dtype == torch.float32 and torch.allclose(xb, ref, atol=1e-5)
    assert torch.equal(yb, subset.val_y[:64])
    xcl, _ = next(iter(subset.loader("val", 64, shuffle=False, channels_last=True)))
    assert xcl.is_contiguous(memory_format=torch.channels_last) and torch.allclose(xcl, ref, atol=1e-5)
    # augmented batches: the same per-channel statistics as the handouts' augmented pipeline
    aug = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                     T.Normalize(subset.mean, subset.std)])
    torch.manual_seed(0)
    ref_aug = torch.stack([aug(Image.fromarray(img.permute(1, 2, 0).numpy())) for img in subset.train_x[:512]])
    ours = torch.cat([x for x, _ in subset.loader("train", 512, shuffle=False, augment=True)])[:512]
    assert torch.allclose(ours.mean((0, 2, 3)), ref_aug.mean((0, 2, 3)), atol=0.03)
    assert torch.allclose(ours.std((0, 2, 3)), ref_aug.std((0, 2, 3)), atol=0.03)
    # padding shows up as the normalized value of black pixels in about the same share of pixels
    black = torch.tensor([-m / s for m, s in zip(subset.mean, subset.std)]).view(1, 3, 1, 1)
    share = lambda t: ((t - black).abs() < 1e-4).all(1).float().mean().item()  # noqa: E731
    assert abs(share(ours) - share(ref_aug)) < 0.02


# ---- presets ------------------------------------------------------------------------------------
def test_presets_are_valid_fit_parameters():
    assert {"simplecnn_fast", "resnet18_fast", "resnet20_fast"} <= set(list_presets())
    for name in list_presets():
        params = get_preset(name)
        cfg = labkit.TrainConfig(model=preset_info(name).model, **params).validate()
        assert cfg.scheduler == "onecycle" and cfg.nesterov and cfg.augment
        assert "model" not in params and "amp" not in params  # speed switches stay fit's "auto"
        params["epochs"] = 1  # a fresh copy each call
        assert get_preset(name)["epochs"] > 1
    assert get_preset("resnet18_fast")["label_smoothing"] == 0.1
    assert get_preset("resnet18_fast", epochs=5)["epochs"] == 5
    table = preset_table()
    assert table.count("\n") == len(list_presets()) + 2 and "resnet18_fast" in table and "to confirm" in table


def test_presets_keep_their_targets():
    """Each preset's target is backed by a full-size measurement that meets it, or there is none (issue 14)."""
    for name in list_presets():
        p = preset_info(name)
        assert not p.target or p.full_size.startswith("met"), name
    assert preset_info("task1").target.startswith("> 70%") and "> 80%" in preset_info("task1").to_confirm
    assert not preset_info("resnet18_fast").target and "> 85%" in preset_info("resnet18_fast").to_confirm
    row = next(line for line in preset_table().splitlines() if line.startswith("| resnet18_fast "))
    assert "none: not measured at full size" in row
    with pytest.raises(ValueError, match="full-size measurement"):
        Preset(name="x", model="simplecnn", params={}, task="t", target="> 99%", basis="b")


def test_preset_errors_name_the_fix():
    with pytest.raises(labkit.ConfigError, match="Did you mean 'resnet18_fast'"):
        get_preset("resnet18_fats")
    with pytest.raises(labkit.ConfigError, match="unknown training parameter.*lrr"):
        get_preset("simplecnn_fast", lrr=0.1)
    with pytest.raises(labkit.ConfigError, match="lr must be > 0"):
        get_preset("simplecnn_fast", lr=0)
    with pytest.raises(labkit.ConfigError, match="fit_preset"):
        get_preset("resnet20_fast", model="resnet32")


@pytest.mark.slow
def test_fit_preset_trains_with_the_preset_recipe(small, tmp_path):
    run = fit_preset("simplecnn_fast", small, epochs=2, run_dir=tmp_path, run_name="p", progress=False,
                     verbose=False)
    cfg = _config(run)
    assert (cfg["model"], cfg["scheduler"], cfg["nesterov"], cfg["lr"], cfg["epochs"]) == \
        ("simplecnn", "onecycle", True, 0.02, 2)
    assert len(run.history) == 2 and run.history[1]["lr"] > run.history[0]["lr"]  # one-cycle warm-up
    assert run.test_acc > 15.0
