"""A small image-folder data set made from CIFAR-10, to try the transfer lab without the retinopathy
data: :func:`write_cifar_image_folder` writes chosen CIFAR-10 images as PNG/JPEG files plus
``train.csv`` / ``test.csv`` (image,label) and ``classes.txt``, deliberately imbalanced."""
import os

import numpy as np
from PIL import Image

from ..files import atomic_path, atomic_write_text
from ..data import read_cifar_folder
from ..errors import ConfigError


def _check_counts(raw, cifar_root, keys, train_counts, test_counts):
    """ConfigError if a split asks for more images of a class than the CIFAR-10 folder has."""
    for split, counts in (("train", train_counts), ("test", test_counts)):
        y = raw[f"{split}_y"].numpy()
        for cls in keys:
            have, k = int(np.sum(y == int(cls))), int(counts.get(cls, 0))
            if k > have:
                raise ConfigError(f"{k} {split} images of class {cls} asked for, only {have} available in "
                                  f"{cifar_root!r}.")


def _write_split(raw, split, counts, keys, out_dir, fmt, with_extension, rng):
    """Write the chosen images of one split as files in ``out_dir/split`` and ``out_dir/split.csv``."""
    x, y = raw[f"{split}_x"].numpy(), raw[f"{split}_y"].numpy()
    folder = os.path.join(out_dir, split)
    os.makedirs(folder, exist_ok=True)
    rows = ["image,label"]
    for label, cls in enumerate(keys):
        pool = np.flatnonzero(y == int(cls))
        for j in rng.choice(pool, size=int(counts.get(cls, 0)), replace=False):
            name = f"{split}_{int(j):05d}"
            with atomic_path(os.path.join(folder, f"{name}.{fmt}")) as tmp:
                Image.fromarray(np.transpose(x[j], (1, 2, 0))).save(tmp, format="PNG" if fmt == "png" else "JPEG",
                                                                  **({} if fmt == "png" else {"quality": 95}))
            rows.append(f"{name}.{fmt},{label}" if with_extension else f"{name},{label}")
    atomic_write_text(os.path.join(out_dir, f"{split}.csv"), "\n".join(rows) + "\n")


def write_cifar_image_folder(cifar_root, out_dir, train_counts, test_counts, fmt="png", with_extension=True,
                             seed=0, overwrite=False):
    """Write CIFAR-10 images as files + ``train.csv``/``test.csv`` (columns image,label): a small,
    deliberately imbalanced image-folder data set to try the transfer lab without the retinopathy data.

    ``train_counts`` / ``test_counts``: images per class, e.g. {0: 150, 1: 40, 2: 25} (class
    indices of CIFAR-10; the CSV labels are 0..K-1 in that order). Returns ``out_dir``.
    Refuses to write into a folder that already has a train.csv unless ``overwrite``.
    """
    out_dir, cifar_root = os.path.expanduser(os.fspath(out_dir)), os.path.expanduser(os.fspath(cifar_root))
    if all(os.path.isfile(os.path.join(out_dir, f)) for f in ("train.csv", "test.csv", "classes.txt")) \
            and not overwrite:
        return out_dir  # written before (classes.txt comes last)
    if fmt not in ("png", "jpg", "jpeg"):
        raise ConfigError(f"fmt must be 'png' or 'jpg', got {fmt!r}")
    raw = read_cifar_folder(cifar_root, verbose=False)
    rng = np.random.default_rng(seed)
    keys = list(train_counts)
    _check_counts(raw, cifar_root, keys, train_counts, test_counts)  # before writing anything
    for split, counts in (("train", train_counts), ("test", test_counts)):
        _write_split(raw, split, counts, keys, out_dir, fmt, with_extension, rng)
    names = [raw["classes"][int(c)] for c in keys]
    atomic_write_text(os.path.join(out_dir, "classes.txt"), "\n".join(names) + "\n")
    return out_dir
