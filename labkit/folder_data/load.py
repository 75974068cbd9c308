"""``load_image_folder``: an :class:`ImageFolderData` from a train CSV (+ a test CSV) and image folders.

Checks the split options, reads the CSVs (:class:`ImageCsvDataset`; ``~`` in the paths expanded),
refuses a train CSV of one class and test images that are training images too, carves the test split
from the train CSV when there is no test CSV, takes the validation split with :func:`labkit.data.split_indices`
(seeded, stratified: the one split of labkit) and prints what it built.
"""
import os

import numpy as np

from ..data import holdout_count, split_indices, stratified_pick
from ..errors import ConfigError, DataError
from .csv_images import ImageCsvDataset, expand_path
from .image_folder import ImageFolderData
from .sampling import check_imbalance


def _check_ratios(val_ratio, test_ratio):
    """``(val_ratio, test_ratio)`` as floats; ConfigError unless in [0, 1) and (0, 1)."""
    try:
        val_ratio, test_ratio = float(val_ratio), float(test_ratio)
    except (TypeError, ValueError):
        raise ConfigError(f"val_ratio/test_ratio must be numbers in [0, 1), got {val_ratio!r}, "
                          f"{test_ratio!r}") from None
    if not 0 <= val_ratio < 1 or not 0 < test_ratio < 1:
        raise ConfigError(f"val_ratio must be in [0, 1) and test_ratio in (0, 1), got {val_ratio}, {test_ratio}")
    return val_ratio, test_ratio


def _check_class_names(class_names, classes):
    """``class_names`` as a list of text (or None); ConfigError unless one per class."""
    if class_names is None:
        return None
    class_names = [str(c) for c in class_names]
    if len(class_names) != len(classes):
        raise ConfigError(f"class_names has {len(class_names)} names but the labels make "
                          f"{len(classes)} classes ({', '.join(classes)}).")
    return class_names


def _carve_test_split(labels, test_ratio, test_limit, seed):
    """``(rest, test)`` row indices of one CSV: a stratified ``test_ratio`` of its rows (seed + 1) is
    the test split, cut to a stratified ``test_limit`` of them (seed); the other rows are the rest."""
    rows = np.arange(len(labels))
    held = rows[stratified_pick(labels, holdout_count(len(rows), test_ratio), seed + 1)]
    test_idx = held
    if test_limit is not None:
        test_idx = held[stratified_pick(labels[held], int(test_limit), seed)]
    return np.setdiff1d(rows, held), test_idx


def _print_summary(data, train_csv, test_csv, image_size):
    train_set, test_set = data.train_set, data.test_set
    print(f"Images: {len(train_set)} rows of {os.path.basename(os.fspath(train_csv))}"
          + (f", {len(test_set)} rows of {os.path.basename(os.fspath(test_csv))}" if test_csv is not None else "")
          + f" -> {len(data.train_idx)} train / {len(data.val_idx)} validation / {len(data.test_idx)} test images, "
          f"{image_size}x{image_size} input")
    data.print_counts()


def _refuse_one_class(train_set):
    """DataError when the train CSV's (used) rows hold a single class: nothing to tell apart."""
    present = np.unique(train_set.labels)
    if len(present) < 2:
        raise DataError(f"every image of {os.path.basename(train_set.csv_file)} has the class "
                        f"{train_set.classes[present[0]]!r}: a classifier needs images of at least two classes. "
                        f"Fix: check label_col= (is it the label column?) and the CSV.")


def _refuse_leakage(train_set, test_set):
    """DataError naming the test CSV's images that are training images too (the same file: the same name in the
    same folder however the folder is spelled, or a link to it): the test would score images the model trained on."""
    train = set(train_set.real_paths())  # the files themselves: a link to a training image is that image
    both = [i for i, f in enumerate(test_set.real_paths()) if f in train]
    if not both:
        return
    test_name, train_name = os.path.basename(test_set.csv_file), os.path.basename(train_set.csv_file)
    same = os.path.realpath(test_set.csv_file) == os.path.realpath(train_set.csv_file)
    shown = ", ".join(test_set.files[i] for i in both[:5]) + (f" and {len(both) - 5} more" if len(both) > 5 else "")
    raise DataError(
        (f"test_csv is the train CSV itself ({train_name}): " if same else "")
        + f"{len(both)} of the {len(test_set)} test images ({test_name}) are also training images of {train_name} "
        f"(the same files in {test_set.image_dir!r}): {shown}. The test accuracy would score images the model "
        f"trained on. Fix: remove them from one of the CSVs (pandas: test = test[~test[{test_set.image_col!r}]"
        f".isin(train[{train_set.image_col!r}])]), or pass test_csv=None to carve a test split from {train_name}.")


def _read_sets(train_csv, test_csv, image_dir, test_image_dir, classes, limit, test_limit, common):
    """The train and test :class:`ImageCsvDataset` (the test one is the train one without a test CSV),
    refusing a train CSV of one class and test images that are training images."""
    train_set = ImageCsvDataset(train_csv, image_dir, classes=classes, mode="train", limit=limit, **common)
    _refuse_one_class(train_set)
    if test_csv is None:
        return train_set, train_set
    test_set = ImageCsvDataset(test_csv, test_image_dir, classes=list(train_set.classes), mode="test",
                               limit=test_limit, **common)
    _refuse_leakage(train_set, test_set)
    return train_set, test_set


def load_image_folder(train_csv, test_csv=None, image_dir=None, test_image_dir=None, image_col="image",
                      label_col="label", suffix="", classes=None, class_names=None, val_ratio=0.1, test_ratio=0.2,
                      limit=None, test_limit=None, seed=0, image_size=224, normalize="imagenet", crop_ratio=0.875,
                      flips="h", imbalance="none", minority_classes=None, minority_repeat=2, num_workers=2,
                      verbose=True, verify_images=False):
    """Build an :class:`ImageFolderData` from a train CSV (+ a test CSV) and image folders.

    - ``image_dir``: the folder of the train CSV's images (default: the CSV's folder);
      ``test_image_dir``: the test CSV's (default: ``image_dir``). ``~`` in any path is expanded.
    - ``val_ratio``: fraction of the train CSV held out for validation (seeded, stratified).
      Without ``test_csv`` a ``test_ratio`` fraction of the train CSV becomes the test split.
    - ``limit`` / ``test_limit``: seeded stratified subsets of the CSVs (quick runs).
    - ``classes``: the label values in class order (text labels; default sorted);
      ``class_names``: display names for the classes (e.g. "No DR", "Mild", ...).
    - ``imbalance``: "none", "class_weights", "sampler" or "augment_minority" (see :mod:`labkit.folder_data`);
      ``minority_classes`` default to every class smaller than the largest.
    - ``verify_images``: decode every image now (slow on big folders), not just the first few.

    Refused before any training, with the fix: see :mod:`.labels` (the labels, images listed twice),
    :class:`ImageCsvDataset` (missing, empty, undecodable files), a train CSV of one class and test
    images that are training images too.
    """
    check_imbalance(imbalance)
    val_ratio, test_ratio = _check_ratios(val_ratio, test_ratio)
    train_csv = expand_path(train_csv, "train_csv")
    image_dir = (os.path.dirname(os.path.abspath(train_csv)) if image_dir is None
                 else expand_path(image_dir, "image_dir"))
    test_csv = None if test_csv is None else expand_path(test_csv, "test_csv")
    test_image_dir = image_dir if test_image_dir is None else expand_path(test_image_dir, "test_image_dir")
    common = dict(image_col=image_col, label_col=label_col, suffix=suffix, image_size=image_size,
                  normalize=normalize, crop_ratio=crop_ratio, flips=flips, seed=seed, verify_images=verify_images)
    train_set, test_set = _read_sets(train_csv, test_csv, image_dir, test_image_dir, classes, limit, test_limit,
                                     common)
    class_names = _check_class_names(class_names, train_set.classes)
    if test_csv is not None:
        idx, test_idx = np.arange(len(train_set)), np.arange(len(test_set))
    else:
        idx, test_idx = _carve_test_split(train_set.labels, test_ratio, test_limit, seed)
    train_pos, val_pos = split_indices(len(idx), val_ratio, seed, labels=train_set.labels[idx])
    if class_names is not None:
        train_set.classes = test_set.classes = class_names
    info = {"train_csv": train_csv, "test_csv": test_csv, "image_dir": image_dir, "val_ratio": val_ratio,
            "seed": int(seed), "limit": limit, "test_limit": test_limit}
    data = ImageFolderData(train_set, test_set, idx[train_pos], idx[val_pos], test_idx, imbalance=imbalance,
                           minority_classes=minority_classes, minority_repeat=minority_repeat,
                           num_workers=num_workers, info=info)
    if verbose:
        _print_summary(data, train_csv, test_csv, image_size)
    return data
