"""One CSV (image name, label) + one image folder as a torch Dataset: :class:`ImageCsvDataset`.

Also the checks it makes before any training: its options, the CSV's columns and rows, the labels
(class indices or names; an unknown one is named with its CSV line) and the listed files (the
missing ones are listed, with a ``suffix=`` hint when the names lack an extension).
"""
import os

import numpy as np
import pandas as pd
from PIL import Image
from torch.utils.data import Dataset

from ..data import stratified_pick
from ..errors import ConfigError, DataError, DataMissingError
from .transforms import NORMALIZE_OPTIONS, build_transform, resize_side

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".tif", ".tiff", ".bmp", ".webp")


def check_image_options(mode, normalize, image_size, crop_ratio, flips):
    """The checked ``(image_size, crop_ratio, flips)`` of an :class:`ImageCsvDataset`; ConfigError
    naming the bad option (``mode`` and ``normalize`` are checked too)."""
    if mode not in ("train", "test"):
        raise ConfigError(f"mode must be 'train' or 'test', got {mode!r}")
    if normalize not in NORMALIZE_OPTIONS:
        raise ConfigError(f"normalize must be one of {NORMALIZE_OPTIONS}, got {normalize!r}")
    image_size = int(image_size)
    if image_size < 8:
        raise ConfigError(f"image_size must be at least 8 pixels, got {image_size}")
    if not 0 < float(crop_ratio) <= 1:
        raise ConfigError(f"crop_ratio must be in (0, 1], got {crop_ratio}")
    flips = (flips or "").lower()
    if set(flips) - set("hv"):
        raise ConfigError(f"flips must be '', 'h', 'v' or 'hv' (horizontal/vertical), got {flips!r}")
    return image_size, float(crop_ratio), flips


def read_label_csv(csv_file, image_col, label_col):
    """``(names, labels as text, CSV line numbers)`` of a label CSV; the errors name the file, the
    column or the line (an unreadable CSV, a missing column, no rows, an empty name or label)."""
    try:
        df = pd.read_csv(csv_file, dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as e:
        raise DataError(f"cannot read the CSV {csv_file!r} ({type(e).__name__}: {e}).") from None
    df.columns = [str(c).strip() for c in df.columns]
    for what, col in (("image_col", image_col), ("label_col", label_col)):
        if col not in df.columns:
            raise ConfigError(f"column {col!r} is not in {csv_file!r}; its columns are "
                              f"{', '.join(map(repr, df.columns))}. Pass {what}= one of them.")
    if len(df) == 0:
        raise DataError(f"{csv_file!r} lists no images.")
    names = [n.strip() for n in df[image_col].tolist()]
    raw = [v.strip() for v in df[label_col].tolist()]
    lines = np.arange(len(df)) + 2  # line 1 is the header
    fname = os.path.basename(csv_file)
    for i, (n, v) in enumerate(zip(names, raw)):
        if not n:
            raise DataError(f"line {lines[i]} of {fname} has no image name (column {image_col!r}).")
        if not v:
            raise DataError(f"line {lines[i]} of {fname} (image {n!r}) has no label (column {label_col!r}).")
    return names, raw, lines


def _is_int(text):
    try:
        int(text)
        return True
    except ValueError:
        return False


def class_labels(raw, names, lines, classes, fname):
    """``(classes, int64 labels)`` of the CSV's label texts ``raw``: whole numbers are class indices
    (``classes`` default "0".."K-1"), other text class names (``classes`` fixes the order, else
    sorted). DataError naming the CSV line and image of a negative or unknown label."""
    ints = all(_is_int(v) for v in raw)
    if classes is not None:
        classes = [str(c) for c in classes]
    if ints:
        vals = np.array([int(v) for v in raw], dtype=np.int64)
        if classes is None:
            if vals.min() < 0:
                bad = int(np.argmax(vals < 0))
                raise DataError(f"line {lines[bad]} of {fname} (image {names[bad]!r}): label {vals[bad]} is "
                                f"negative; labels must be class indices 0..K-1 or class names.")
            classes = [str(i) for i in range(int(vals.max()) + 1)]
        _refuse_unknown_labels(np.flatnonzero((vals < 0) | (vals >= len(classes))), lines, names, raw, fname,
                               f"0..{len(classes) - 1} ({', '.join(classes)})")
        return classes, vals
    if classes is None:
        classes = sorted(set(raw))
    index = {c: i for i, c in enumerate(classes)}
    vals = np.array([index.get(v, -1) for v in raw], dtype=np.int64)
    _refuse_unknown_labels(np.flatnonzero(vals < 0), lines, names, raw, fname, ", ".join(classes))
    return classes, vals


def _refuse_unknown_labels(bad, lines, names, raw, fname, valid):
    """DataError naming the first CSV row (line, image, label) whose label is not a class."""
    if len(bad):
        b = bad[0]
        raise DataError(f"line {lines[b]} of {fname} (image {names[b]!r}): unknown label {raw[b]!r}; "
                        f"the classes are {valid}" + (f" ({len(bad)} such rows)" if len(bad) > 1 else "") + ".")


class ImageCsvDataset(Dataset):
    """Images in ``image_dir`` listed with their labels in a CSV file.

    - ``image_col`` / ``label_col``: the CSV's column names (e.g. "image", "level").
    - ``suffix``: appended to names that do not already end with it (CSV names without
      extension, e.g. "10_left" + ".jpeg"); names that have it are used as they are.
    - labels: whole numbers (class index; names from ``classes`` or "0".."K-1") or text
      (class names; ``classes`` fixes their order, else sorted). A label that is not one of
      ``classes`` raises :class:`DataError` naming the CSV line and image.
    - ``limit``: keep a seeded, stratified subset of this many rows (quick runs).
    - ``mode``: "train" (random crop + flips) or "test" (resize + center crop); ``transform``
      replaces the mode's transform.

    Every listed file is checked at construction: missing ones raise
    :class:`DataMissingError` listing the first few and the count, before any training.
    An unreadable image raises :class:`DataError` naming the file and CSV line when read.
    """

    def __init__(self, csv_file, image_dir, image_col="image", label_col="label", suffix="", classes=None,
                 mode="train", image_size=224, normalize="imagenet", crop_ratio=0.875, flips="h", transform=None,
                 limit=None, seed=0, check_files=True):
        self.csv_file, self.image_dir = os.fspath(csv_file), os.fspath(image_dir)
        self.image_col, self.label_col, self.suffix = image_col, label_col, suffix or ""
        image_size, crop_ratio, flips = check_image_options(mode, normalize, image_size, crop_ratio, flips)
        self.image_size, self.normalize, self.crop_ratio, self.flips = image_size, normalize, crop_ratio, flips
        if not os.path.isfile(self.csv_file):
            raise DataMissingError(f"label file {self.csv_file!r} not found. Fix: pass the path of the CSV that "
                                   f"lists the images and their labels (columns {image_col!r}, {label_col!r}).")
        if not os.path.isdir(self.image_dir):
            raise DataMissingError(f"image folder {self.image_dir!r} not found (images listed in {self.csv_file!r}). "
                                   f"Fix: pass image_dir= the folder that holds the image files.")
        names, raw, lines = read_label_csv(self.csv_file, image_col, label_col)
        self.classes, labels = class_labels(raw, names, lines, classes, os.path.basename(self.csv_file))
        idx = np.arange(len(names))
        if limit is not None:
            limit = int(limit)
            if limit < 1:
                raise ConfigError(f"limit must be a positive whole number or None, got {limit}")
            idx = stratified_pick(labels, min(limit, len(idx)), seed)
        self.names = [names[i] for i in idx]
        self.labels = labels[idx]
        self.lines = lines[idx]
        self.paths = [os.path.join(self.image_dir, self._file_name(n)) for n in self.names]
        if check_files:
            self.check_files()
        self.transform = transform or build_transform(image_size, mode == "train", crop_ratio, flips, normalize)
        self.mode = mode

    def _file_name(self, name):
        if self.suffix and not name.lower().endswith(self.suffix.lower()):
            return name + self.suffix
        return name

    def check_files(self):
        """Raise DataMissingError listing the missing image files (first few + count)."""
        missing = [i for i, p in enumerate(self.paths) if not os.path.isfile(p)]
        if not missing:
            return
        fname = os.path.basename(self.csv_file)
        shown = ", ".join(f"{os.path.basename(self.paths[i])} (line {self.lines[i]})" for i in missing[:5])
        hint = ""
        first = self.paths[missing[0]]
        for ext in IMAGE_EXTENSIONS:
            if os.path.isfile(first + ext):
                hint = (f" The CSV names have no extension but {os.path.basename(first + ext)} exists: "
                        f"pass suffix={ext!r}.")
                break
        raise DataMissingError(
            f"{len(missing)} of the {len(self.paths)} images listed in {fname} are missing from {self.image_dir!r}: "
            f"{shown}{' ...' if len(missing) > 5 else ''}.{hint} Fix: point image_dir at the folder that holds them, "
            f"set suffix= for names without extension, or remove those rows from {self.csv_file!r}.")

    def __len__(self):
        return len(self.labels)

    def open_image(self, i):
        """The i-th image as an RGB PIL image; DataError naming the file and CSV line if unreadable."""
        path = self.paths[i]
        try:
            img = Image.open(path)
            if img.format == "JPEG":  # decode big JPEGs at reduced scale (DCT scaling): much faster
                side = resize_side(self.image_size, self.crop_ratio)
                img.draft("RGB", (side, side))
            return img.convert("RGB")
        except FileNotFoundError:
            raise DataMissingError(f"image {path!r} (line {self.lines[i]} of {os.path.basename(self.csv_file)}) "
                                   f"no longer exists.") from None
        except Exception as e:
            raise DataError(f"cannot read image {path!r} (line {self.lines[i]} of {os.path.basename(self.csv_file)}): "
                            f"{type(e).__name__}: {e}. Fix: replace or delete the file, or remove its row.") from None

    def load(self, i, transform=None):
        """(tensor, label) of the i-th row through ``transform`` (default: the mode's)."""
        return (transform or self.transform)(self.open_image(i)), int(self.labels[i])

    def __getitem__(self, i):
        return self.load(int(i))

    def class_counts(self, idx=None):
        labels = self.labels if idx is None else self.labels[np.asarray(idx, dtype=np.int64)]
        return np.bincount(labels, minlength=len(self.classes))
