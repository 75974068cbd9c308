"""The CIFAR-10 data path on the real subset in ../shared."""
import os
import pickle
import shutil

import numpy as np
import pytest
import torch

import labkit
from labkit.data import compute_mean_std, random_crop_flip, read_cifar_folder


def test_reader_on_shared_subset(subset_root, capsys):
    raw = read_cifar_folder(subset_root)
    assert "5170 training images, 500 test images" in capsys.readouterr().out
    assert raw["train_x"].shape == (5170, 3, 32, 32) and raw["train_x"].dtype == torch.uint8
    assert raw["test_x"].shape == (500, 3, 32, 32)
    assert raw["train_y"].dtype == torch.int64
    assert set(raw["train_y"].tolist()) == set(range(10)) and set(raw["test_y"].tolist()) == set(range(10))
    assert raw["classes"][0] == "airplane" and raw["classes"][9] == "truck"
    # rows are R, G, B planes: the first image matches the raw pickle bytes
    with open(os.path.join(raw["folder"], "data_batch_1"), "rb") as f:
        d = pickle.load(f, encoding="bytes")
    assert np.array_equal(raw["train_x"][0].numpy().reshape(-1), d[b"data"][0])


def test_split_is_seeded_and_disjoint(subset_root):
    a = labkit.load_cifar10(subset_root, device="cpu", normalize="off", verbose=False, seed=1)
    b = labkit.load_cifar10(subset_root, device="cpu", normalize="off", verbose=False, seed=1)
    c = labkit.load_cifar10(subset_root, device="cpu", normalize="off", verbose=False, seed=2)
    assert (len(a.train_y), len(a.val_y), len(a.test_y)) == (4653, 517, 500)  # the 45,000/5,000 ratio
    assert torch.equal(a.val_x, b.val_x) and not torch.equal(a.val_x, c.val_x)
    # validation images are not training images (no duplicates in CIFAR within one split)
    tr = {bytes(x.numpy()) for x in a.train_x[:2000]}
    assert not any(bytes(x.numpy()) in tr for x in a.val_x)
    lim = labkit.load_cifar10(subset_root, device="cpu", limit=300, test_limit=50, verbose=False)
    assert (len(lim.train_y), len(lim.val_y), len(lim.test_y)) == (270, 30, 50)


def test_normalization_statistics(subset_root, capsys):
    d = labkit.load_cifar10(subset_root, device="cpu", normalize="computed")
    out = capsys.readouterr().out
    assert "Computed normalization from 4653 of 4653 training images" in out
    x = d.train_x.double() / 255
    for c in range(3):
        assert d.mean[c] == pytest.approx(x[:, c].mean().item(), abs=1e-4)
        assert d.std[c] == pytest.approx(x[:, c].std().item(), abs=1e-4)
    # close to the published full-CIFAR statistics
    assert np.allclose(d.mean, labkit.CIFAR10_MEAN, atol=0.01) and np.allclose(d.std, labkit.CIFAR10_STD, atol=0.01)
    # sampled ratio: seeded, uses 30% of the images, close to the full value
    m1, s1 = compute_mean_std(d.train_x, ratio=0.3, seed=0)
    assert "from 1396 of 4653" in capsys.readouterr().out
    assert m1 == compute_mean_std(d.train_x, ratio=0.3, seed=0, verbose=False)[0]
    assert np.allclose(m1, d.mean, atol=0.01)
    # normalized training batches are ~zero-mean, unit-std per channel
    xb, _ = next(iter(d.loader("train", 4653, shuffle=False)))
    assert xb.mean((0, 2, 3)).abs().max() < 1e-3 and (xb.std((0, 2, 3)) - 1).abs().max() < 1e-3
    fixed = labkit.load_cifar10(subset_root, device="cpu", normalize="fixed", verbose=False)
    assert fixed.mean == labkit.CIFAR10_MEAN and fixed.std == labkit.CIFAR10_STD
    off = labkit.load_cifar10(subset_root, device="cpu", normalize="off", verbose=False)
    xb, _ = next(iter(off.loader("val", 10)))
    assert 0 <= xb.min() and xb.max() <= 1


def test_augmentation_shape_dtype_reproducible(subset):
    x = subset.train_x[:256]
    g = lambda: torch.Generator().manual_seed(7)  # noqa: E731
    a, b = random_crop_flip(x, g()), random_crop_flip(x, g())
    assert a.shape == x.shape and a.dtype == torch.uint8
    assert torch.equal(a, b)
    assert not torch.equal(a, random_crop_flip(x, torch.Generator().manual_seed(8)))
    # a crop is a shifted copy with zero padding: every output image equals some padded window
    pad = torch.nn.functional.pad(x[:1], (4, 4, 4, 4))
    windows = [pad[..., i:i + 32, j:j + 32] for i in range(9) for j in range(9)]
    windows += [w.flip(3) for w in windows]
    assert any(torch.equal(a[:1], w) for w in windows)
    # flips happen with p ~ 0.5
    noflip_g = torch.Generator().manual_seed(3)
    flipped = random_crop_flip(x, noflip_g, pad=0)
    frac = sum(not torch.equal(f, o) for f, o in zip(flipped, x)) / len(x)
    assert 0.35 < frac < 0.65
    # the loader's augmented epoch is reproducible under (seed, epoch) and changes with the epoch
    l1 = subset.loader("train", 64, augment=True, seed=0, epoch=1)
    e1 = next(iter(l1))[0]
    assert torch.equal(e1, next(iter(subset.loader("train", 64, augment=True, seed=0, epoch=1)))[0])
    l1.set_epoch(2)
    assert not torch.equal(e1, next(iter(l1))[0])


def test_batches_shuffle_and_cover_the_split(subset):
    loader = subset.loader("train", 500, seed=0, epoch=1)
    ys = torch.cat([y for _, y in loader])
    assert len(loader) == 10 and len(ys) == len(subset.train_y)
    assert torch.equal(ys.sort().values, subset.train_y.sort().values)
    assert not torch.equal(ys, subset.train_y)


def test_missing_data_offline(tmp_path, monkeypatch):
    with pytest.raises(labkit.DataMissingError, match=r"not in .*empty.*download=True.*cifar-10-batches-py"):
        labkit.load_cifar10(tmp_path / "empty", download=False)

    import torchvision

    def offline(*a, **k):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(labkit.DataMissingError, match=r"download failed.*name resolution.*cifar-10-python.tar.gz"):
        labkit.load_cifar10(tmp_path / "empty2", download=True)


def test_truncated_batch_file(subset_root, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    shutil.copytree(os.path.join(subset_root, "cifar-10-batches-py"), folder)
    data = (folder / "data_batch_3").read_bytes()
    (folder / "data_batch_3").write_bytes(data[: len(data) // 2])
    with pytest.raises(labkit.DataError, match=r"data_batch_3 is corrupt or truncated.*download again"):
        labkit.load_cifar10(tmp_path, download=False)


def test_limit_larger_than_data(subset_root):
    with pytest.raises(labkit.ConfigError, match=r"limit=6000 is larger than the 5170 images"):
        labkit.load_cifar10(subset_root, limit=6000, device="cpu")


def test_flip_only_augmentation_mirrors_without_shifting(subset):
    """augment="flip": every training image is itself or its mirror image, never shifted; both occur."""
    plain = next(iter(subset.loader("train", 256, augment=False, seed=0, epoch=1)))[0]
    flip = next(iter(subset.loader("train", 256, augment="flip", seed=0, epoch=1)))[0]
    same = [torch.equal(a, b) for a, b in zip(flip, plain)]
    mirrored = [torch.equal(a, b.flip(2)) for a, b in zip(flip, plain)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 0.3 < sum(mirrored) / len(mirrored) < 0.7
    assert labkit.TrainConfig(augment="flip").validate().augment == "flip"
    with pytest.raises(labkit.ConfigError, match="'flip' \\(flip only\\)"):
        labkit.TrainConfig(augment="rotate").validate()


@pytest.mark.parametrize("augment,batch", [(True, 128), (True, 7), ("flip", 50)])
def test_epoch_draws_give_the_per_batch_images(augment, batch):
    """The loader draws an epoch's crop offsets and flips at once (one copy to the device per epoch); the
    images are those of drawing them batch by batch with random_crop_flip from the same generator."""
    from labkit.data import BatchLoader, epoch_generator

    x = torch.randint(0, 256, (300, 3, 32, 32), dtype=torch.uint8)
    y = torch.arange(300)
    got = list(BatchLoader(x, y, batch, shuffle=True, augment=augment, seed=3, epoch=2))
    order = torch.randperm(300, generator=epoch_generator(3, 2))
    gen = epoch_generator(3, 2, stream=1)
    for i, (xb, yb) in enumerate(got):
        idx = order[i * batch:(i + 1) * batch]
        want = random_crop_flip(x[idx], gen, pad=0 if augment == "flip" else 4).float() / 255
        assert torch.equal(yb, y[idx]) and torch.equal(xb, want)
