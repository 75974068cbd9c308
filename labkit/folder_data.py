"""Image folders listed in CSV files (image name, label): the transfer-learning lab's data path.

The diabetic-retinopathy layout, for example::

    data/retinopathy/train.csv      image,level        (28,099 rows)
                                    10_left,0
                                    10_right,0
                                    13_left,2 ...
    data/retinopathy/test.csv       image,level        (7,025 rows)
    data/retinopathy/train/10_left.jpeg ...
    data/retinopathy/test/1_left.jpeg ...

    data = load_image_folder("data/retinopathy/train.csv", "data/retinopathy/test.csv",
                             image_dir="data/retinopathy/train", test_image_dir="data/retinopathy/test",
                             image_col="image", label_col="level", suffix=".jpeg",
                             image_size=224, imbalance="class_weights")
    run = labkit.fit("tv_resnet18", data, model_kwargs={"weights": "imagenet"}, epochs=10)

:class:`ImageCsvDataset` is a plain ``torch.utils.data.Dataset`` (one CSV + one folder, a
train or test mode transform). :class:`ImageFolderData` is the data object ``labkit.fit``
takes (same protocol as :class:`labkit.data.CifarData`): train/val split carved from the
train CSV (seeded, stratified), test split from the test CSV, ``.loader(...)`` with a
deterministic order per (seed, epoch), and the class-imbalance options:

- ``"none"``: plain shuffling.
- ``"class_weights"``: inverse-frequency weights in the loss (``n / (K * n_c)``, scikit-learn's
  "balanced"); ``labkit.fit`` picks them up from ``data.loss_class_weights``.
- ``"sampler"``: a weighted random sampler (torch's ``WeightedRandomSampler``, weight ``1/n_c``
  per image, with replacement): every class is drawn about equally often per epoch.
- ``"augment_minority"``: only minority-class images are augmented (random flips, plus the
  random crop when ``augment=True``); the majority class is never augmented. Each
  minority image is seen ``minority_repeat`` times per epoch (default 2: the image and a
  flipped copy, as in the retinopathy report, which flipped the non-zero labels).
"""
import math
import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler

from .data import epoch_generator
from .errors import ConfigError, DataError, DataMissingError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMBALANCE_OPTIONS = ("none", "class_weights", "sampler", "augment_minority")
IMBALANCE_NOTES = {
    "none": "none (plain shuffling)",
    "class_weights": "class-weighted loss (inverse class frequency)",
    "sampler": "weighted random sampler (each class drawn about equally often)",
    "augment_minority": "minority classes augmented (random flips) and repeated; majority class not augmented",
}
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".tif", ".tiff", ".bmp", ".webp")
NORMALIZE_OPTIONS = ("imagenet", "off")


# ---------------------------------------------------------------------------------------------
# transforms
# ---------------------------------------------------------------------------------------------
def build_transform(image_size=224, train=False, crop_ratio=0.875, flips="h", normalize="imagenet"):
    """torchvision transform for a PIL image -> normalized float tensor (3, size, size).

    Evaluation: resize the shorter side to ``size / crop_ratio`` (256 for 224), center crop.
    Training: the same resize, a random crop, random flips (``flips``: "h", "hv" or "").
    ``normalize``: "imagenet" (the statistics pretrained torchvision models expect) or "off".
    """
    from torchvision.transforms import v2

    size = int(image_size)
    resize = max(size, int(round(size / float(crop_ratio))))
    ops = [v2.Resize(resize, antialias=True)]
    if train:
        ops.append(v2.RandomCrop(size))
        if "h" in flips:
            ops.append(v2.RandomHorizontalFlip(0.5))
        if "v" in flips:
            ops.append(v2.RandomVerticalFlip(0.5))
    else:
        ops.append(v2.CenterCrop(size))
    ops += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    if normalize == "imagenet":
        ops.append(v2.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return v2.Compose(ops)


# ---------------------------------------------------------------------------------------------
# the CSV + folder Dataset
# ---------------------------------------------------------------------------------------------
def _is_int(text):
    try:
        int(text)
        return True
    except ValueError:
        return False


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
        import pandas as pd

        self.csv_file, self.image_dir = os.fspath(csv_file), os.fspath(image_dir)
        self.image_col, self.label_col, self.suffix = image_col, label_col, suffix or ""
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
        self.image_size, self.normalize, self.crop_ratio, self.flips = image_size, normalize, float(crop_ratio), flips
        if not os.path.isfile(self.csv_file):
            raise DataMissingError(f"label file {self.csv_file!r} not found. Fix: pass the path of the CSV that "
                                   f"lists the images and their labels (columns {image_col!r}, {label_col!r}).")
        if not os.path.isdir(self.image_dir):
            raise DataMissingError(f"image folder {self.image_dir!r} not found (images listed in {self.csv_file!r}). "
                                   f"Fix: pass image_dir= the folder that holds the image files.")
        try:
            df = pd.read_csv(self.csv_file, dtype=str, keep_default_na=False, skipinitialspace=True)
        except Exception as e:
            raise DataError(f"cannot read the CSV {self.csv_file!r} ({type(e).__name__}: {e}).") from None
        df.columns = [str(c).strip() for c in df.columns]
        for what, col in (("image_col", image_col), ("label_col", label_col)):
            if col not in df.columns:
                raise ConfigError(f"column {col!r} is not in {self.csv_file!r}; its columns are "
                                  f"{', '.join(map(repr, df.columns))}. Pass {what}= one of them.")
        if len(df) == 0:
            raise DataError(f"{self.csv_file!r} lists no images.")
        names = [n.strip() for n in df[image_col].tolist()]
        raw = [v.strip() for v in df[label_col].tolist()]
        lines = np.arange(len(df)) + 2  # line 1 is the header
        fname = os.path.basename(self.csv_file)
        for i, (n, v) in enumerate(zip(names, raw)):
            if not n:
                raise DataError(f"line {lines[i]} of {fname} has no image name (column {image_col!r}).")
            if not v:
                raise DataError(f"line {lines[i]} of {fname} (image {n!r}) has no label (column {label_col!r}).")
        self.classes, labels = self._labels(raw, names, lines, classes, fname)
        idx = np.arange(len(df))
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

    def _labels(self, raw, names, lines, classes, fname):
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
                hint = f" The CSV names have no extension but {os.path.basename(first + ext)} exists: pass suffix={ext!r}."
                break
        raise DataMissingError(
            f"{len(missing)} of the {len(self.paths)} images listed in {fname} are missing from {self.image_dir!r}: "
            f"{shown}{' ...' if len(missing) > 5 else ''}.{hint} Fix: point image_dir at the folder that holds them, "
            f"set suffix= for names without extension, or remove those rows from {self.csv_file!r}.")

    def __len__(self):
        return len(self.labels)

    def open_image(self, i):
        """The i-th image as an RGB PIL image; DataError naming the file and CSV line if unreadable."""
        from PIL import Image

        path = self.paths[i]
        try:
            img = Image.open(path)
            if img.format == "JPEG":  # decode big JPEGs at reduced scale (DCT scaling): much faster
                side = max(self.image_size, int(round(self.image_size / self.crop_ratio)))
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


def stratified_pick(labels, n, seed=0):
    """Sorted positions of a seeded subset of ``n`` of ``labels``, stratified when possible."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    if n >= len(labels):
        return idx
    if n <= 0:
        return idx[:0]
    try:
        pick, _ = train_test_split(idx, train_size=n, stratify=labels, random_state=int(seed))
    except ValueError:  # a class with one image, or fewer picks than classes
        pick, _ = train_test_split(idx, train_size=n, random_state=int(seed))
    return np.sort(pick)


# ---------------------------------------------------------------------------------------------
# loaders: deterministic order and augmentation per (seed, epoch)
# ---------------------------------------------------------------------------------------------
class _SplitView(Dataset):
    """Rows ``idx`` of an ImageCsvDataset; an item key is (position, sample seed)."""

    def __init__(self, base, idx, aug_mask, aug_transform, eval_transform):
        self.base, self.idx, self.aug_mask = base, np.asarray(idx, dtype=np.int64), np.asarray(aug_mask, dtype=bool)
        self.aug_transform, self.eval_transform = aug_transform, eval_transform

    def __len__(self):
        return len(self.idx)

    def __getitem__(self, key):
        pos, sample_seed = key
        row = int(self.idx[pos])
        if not self.aug_mask[pos]:
            return self.base.load(row, self.eval_transform)
        img = self.base.open_image(row)
        # Seed this image's augmentation from (seed, epoch, position): identical with any
        # num_workers and after a resume; fork_rng leaves the training process's RNG alone.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed)
            x = self.aug_transform(img)
        return x, int(self.base.labels[row])


class EpochSampler(Sampler):
    """Yields (position, sample seed) pairs; the order depends only on (seed, epoch).

    ``mode``: "sequential", "shuffle" or "weighted" (``weights`` per position, drawn with
    replacement by torch's WeightedRandomSampler). ``repeats`` (per position, >= 1) lists
    positions several times per epoch (minority oversampling).
    """

    def __init__(self, n, mode="sequential", weights=None, repeats=None, seed=0, epoch=0, drop=0):
        self.n, self.mode, self.seed, self.epoch, self.drop = n, mode, int(seed), int(epoch), int(drop)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.base = (np.arange(n) if repeats is None
                     else np.repeat(np.arange(n), np.asarray(repeats, dtype=np.int64)))

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.base) - self.drop

    def positions(self):
        gen = epoch_generator(self.seed, self.epoch)
        if self.mode == "shuffle":
            order = self.base[torch.randperm(len(self.base), generator=gen).numpy()]
        elif self.mode == "weighted":
            order = np.fromiter(WeightedRandomSampler(self.weights, len(self.base), replacement=True, generator=gen),
                                dtype=np.int64, count=len(self.base))
        else:
            order = self.base
        return order[:len(self)]

    def __iter__(self):
        order = self.positions()
        seeds = torch.randint(0, 2**62, (len(order),), generator=epoch_generator(self.seed, self.epoch, stream=1))
        return iter(zip(order.tolist(), seeds.tolist()))


class FolderLoader:
    """Batches (x float (B,3,S,S), y int64 (B,)) of one split; ``set_epoch`` fixes the order."""

    def __init__(self, view, sampler, batch_size, num_workers=0, channels_last=False):
        self.view, self.sampler, self.channels_last = view, sampler, channels_last
        self.batch_size = int(batch_size)
        self.loader = DataLoader(view, batch_size=self.batch_size, sampler=sampler, num_workers=int(num_workers),
                                 pin_memory=torch.cuda.is_available(), persistent_workers=int(num_workers) > 0)

    def __len__(self):
        return math.ceil(len(self.sampler) / self.batch_size)

    def set_epoch(self, epoch):
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        for x, y in self.loader:
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y


# ---------------------------------------------------------------------------------------------
# the data object for labkit.fit
# ---------------------------------------------------------------------------------------------
class ImageFolderData:
    """Train/val/test splits of CSV-listed image folders, for :func:`labkit.fit` (see the module doc)."""

    def __init__(self, train_set, test_set, train_idx, val_idx, test_idx, imbalance="none", minority_classes=None,
                 minority_repeat=2, num_workers=2, info=None):
        if imbalance not in IMBALANCE_OPTIONS:
            from .errors import unknown_name

            raise unknown_name("imbalance option", imbalance, IMBALANCE_OPTIONS)
        self.train_set, self.test_set = train_set, test_set
        self.train_idx, self.val_idx, self.test_idx = (np.asarray(a, dtype=np.int64) for a in (train_idx, val_idx, test_idx))
        self.classes = list(train_set.classes)
        self.imbalance = imbalance
        self.num_workers = int(num_workers)
        if self.num_workers < 0:
            raise ConfigError(f"num_workers must be >= 0, got {num_workers}")
        self.minority_repeat = int(minority_repeat)
        if self.minority_repeat < 1:
            raise ConfigError(f"minority_repeat must be >= 1, got {minority_repeat}")
        counts = self.class_counts("train")
        if minority_classes is None:
            minority = [i for i, c in enumerate(counts) if c < counts.max()]
        else:
            minority = [self._class_index(c) for c in minority_classes]
        self.minority_classes = sorted(set(minority))
        self.info = dict(info or {})
        self.image_size = train_set.image_size
        self.input_size = self.image_size
        ts = train_set
        self._eval_tf = build_transform(ts.image_size, False, ts.crop_ratio, ts.flips, ts.normalize)
        self._train_tf = build_transform(ts.image_size, True, ts.crop_ratio, ts.flips, ts.normalize)
        # minority augmentation without augment=True: flips only (crop/resize as in evaluation)
        self._flip_tf = _flip_transform(ts)

    def _class_index(self, c):
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < len(self.classes):
            return int(c)
        if str(c) in self.classes:
            return self.classes.index(str(c))
        raise ConfigError(f"unknown class {c!r} in minority_classes; classes are {', '.join(self.classes)}")

    @property
    def num_classes(self):
        return len(self.classes)

    def _split(self, name):
        if name == "train":
            return self.train_set, self.train_idx
        if name == "val":
            return self.train_set, self.val_idx
        if name == "test":
            return self.test_set, self.test_idx
        raise ConfigError(f"split must be 'train', 'val' or 'test', got {name!r}")

    def split_labels(self, name):
        base, idx = self._split(name)
        return base.labels[idx]

    def class_counts(self, split="train"):
        return np.bincount(self.split_labels(split), minlength=len(self.classes))

    def class_weights(self):
        """Inverse-frequency weights ``n / (K * n_c)`` of the training split (scikit-learn's
        "balanced"; a class absent from the split gets weight 0)."""
        from sklearn.utils.class_weight import compute_class_weight

        y = self.split_labels("train")
        present = np.unique(y)
        w = np.zeros(len(self.classes))
        w[present] = compute_class_weight("balanced", classes=present, y=y)
        return w.tolist()

    @property
    def loss_class_weights(self):
        """The class weights ``labkit.fit`` uses in the loss: set with imbalance="class_weights"."""
        return self.class_weights() if self.imbalance == "class_weights" else None

    def loader(self, split, batch_size, shuffle=None, augment=False, seed=0, epoch=0, channels_last=False):
        base, idx = self._split(split)
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        train = split == "train"
        shuffle = train if shuffle is None else bool(shuffle)
        labels = base.labels[idx]
        minority = np.isin(labels, self.minority_classes)
        weights = repeats = None
        aug_tf = self._train_tf
        if train and self.imbalance == "augment_minority":
            aug_mask = minority
            repeats = np.where(minority, self.minority_repeat, 1)
            if not augment:
                aug_tf = self._flip_tf
        else:
            aug_mask = np.full(len(idx), bool(augment and train))
        mode = "sequential"
        if shuffle:
            mode = "shuffle"
            if train and self.imbalance == "sampler":
                counts = np.bincount(labels, minlength=len(self.classes)).astype(float)
                weights = 1.0 / counts[labels]
                mode = "weighted"
        n_items = len(idx) if repeats is None else int(np.sum(repeats))
        # BatchNorm cannot train on a last batch of one image (1 value per channel at small sizes)
        drop = 1 if train and shuffle and n_items % batch_size == 1 and n_items > 1 else 0
        sampler = EpochSampler(len(idx), mode, weights=weights, repeats=repeats, seed=seed, epoch=epoch, drop=drop)
        view = _SplitView(base, idx, aug_mask, aug_tf, self._eval_tf)
        return FolderLoader(view, sampler, batch_size, self.num_workers, channels_last)

    def sample_images(self, split="train", n=8):
        """The first ``n`` images of a split as uint8 (n,3,S,S) (evaluation resize/crop) and labels."""
        from torchvision.transforms import v2

        base, idx = self._split(split)
        ts = base
        resize = max(ts.image_size, int(round(ts.image_size / ts.crop_ratio)))
        tf = v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(ts.image_size), v2.PILToTensor()])
        pos = idx[:n]
        return torch.stack([tf(base.open_image(int(i))) for i in pos]), torch.as_tensor(base.labels[pos])

    def counts_table(self):
        """{split: {class: count}} for train, val and test."""
        return {s: {c: int(k) for c, k in zip(self.classes, self.class_counts(s))} for s in ("train", "val", "test")}

    def describe(self):
        return {"source": "image folder + CSV", "train": len(self.train_idx), "val": len(self.val_idx),
                "test": len(self.test_idx), "classes": self.classes, "class_counts": self.counts_table(),
                "imbalance": self.imbalance,
                "minority_classes": [self.classes[i] for i in self.minority_classes],
                "minority_repeat": self.minority_repeat if self.imbalance == "augment_minority" else None,
                "image_size": self.image_size, "normalize": self.train_set.normalize,
                "crop_ratio": self.train_set.crop_ratio, "flips": self.train_set.flips, **self.info}

    def print_counts(self):
        """Print the class counts per split and the imbalance option."""
        width = max(len(c) for c in self.classes)
        print(f"{'class':<{width}} " + " ".join(f"{s:>13}" for s in ("train", "val", "test")))
        for i, c in enumerate(self.classes):
            cells = []
            for s in ("train", "val", "test"):
                cnt = self.class_counts(s)
                tot = max(int(cnt.sum()), 1)
                cells.append(f"{int(cnt[i]):>6} ({100 * cnt[i] / tot:4.1f}%)")
            print(f"{c:<{width}} " + " ".join(cells))
        print(f"{'total':<{width}} " + " ".join(f"{len(self._split(s)[1]):>13}" for s in ("train", "val", "test")))
        note = IMBALANCE_NOTES[self.imbalance]
        if self.imbalance == "class_weights":
            note += ": " + ", ".join(f"{c} {w:.3g}" for c, w in zip(self.classes, self.class_weights()))
        elif self.imbalance == "augment_minority":
            note += (f": minority classes {', '.join(self.classes[i] for i in self.minority_classes) or '(none)'}, "
                     f"each image {self.minority_repeat}x per epoch")
        print(f"Class imbalance option: {note}")


def _flip_transform(ts):
    """Evaluation resize/crop followed by the random flips (minority-only augmentation)."""
    from torchvision.transforms import v2

    size = ts.image_size
    resize = max(size, int(round(size / ts.crop_ratio)))
    ops = [v2.Resize(resize, antialias=True), v2.CenterCrop(size)]
    if "h" in ts.flips:
        ops.append(v2.RandomHorizontalFlip(0.5))
    if "v" in ts.flips:
        ops.append(v2.RandomVerticalFlip(0.5))
    ops += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    if ts.normalize == "imagenet":
        ops.append(v2.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return v2.Compose(ops)


def load_image_folder(train_csv, test_csv=None, image_dir=None, test_image_dir=None, image_col="image",
                      label_col="label", suffix="", classes=None, class_names=None, val_ratio=0.1, test_ratio=0.2,
                      limit=None, test_limit=None, seed=0, image_size=224, normalize="imagenet", crop_ratio=0.875,
                      flips="h", imbalance="none", minority_classes=None, minority_repeat=2, num_workers=2,
                      verbose=True):
    """Build an :class:`ImageFolderData` from a train CSV (+ a test CSV) and image folders.

    - ``image_dir``: the folder of the train CSV's images (default: the CSV's folder);
      ``test_image_dir``: the test CSV's (default: ``image_dir``).
    - ``val_ratio``: fraction of the train CSV held out for validation (seeded, stratified).
      Without ``test_csv`` a ``test_ratio`` fraction of the train CSV becomes the test split.
    - ``limit`` / ``test_limit``: seeded stratified subsets of the CSVs (quick runs).
    - ``classes``: the label values in class order (text labels; default sorted);
      ``class_names``: display names for the classes (e.g. "No DR", "Mild", ...).
    - ``imbalance``: "none", "class_weights", "sampler" or "augment_minority" (module doc);
      ``minority_classes`` default to every class smaller than the largest.
    """
    if imbalance not in IMBALANCE_OPTIONS:
        from .errors import unknown_name

        raise unknown_name("imbalance option", imbalance, IMBALANCE_OPTIONS)
    try:
        val_ratio, test_ratio = float(val_ratio), float(test_ratio)
    except (TypeError, ValueError):
        raise ConfigError(f"val_ratio/test_ratio must be numbers in [0, 1), got {val_ratio!r}, {test_ratio!r}") from None
    if not 0 <= val_ratio < 1 or not 0 < test_ratio < 1:
        raise ConfigError(f"val_ratio must be in [0, 1) and test_ratio in (0, 1), got {val_ratio}, {test_ratio}")
    image_dir = image_dir if image_dir is not None else os.path.dirname(os.path.abspath(os.fspath(train_csv)))
    common = dict(image_col=image_col, label_col=label_col, suffix=suffix, image_size=image_size,
                  normalize=normalize, crop_ratio=crop_ratio, flips=flips, seed=seed)
    train_set = ImageCsvDataset(train_csv, image_dir, classes=classes, mode="train", limit=limit, **common)
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) != len(train_set.classes):
            raise ConfigError(f"class_names has {len(class_names)} names but the labels make "
                              f"{len(train_set.classes)} classes ({', '.join(train_set.classes)}).")
    label_values = list(train_set.classes)
    idx = np.arange(len(train_set))
    if test_csv is not None:
        test_set = ImageCsvDataset(test_csv, test_image_dir if test_image_dir is not None else image_dir,
                                   classes=label_values, mode="test", limit=test_limit, **common)
        test_idx = np.arange(len(test_set))
    else:
        test_set = train_set
        pos = stratified_pick(train_set.labels, max(1, int(round(len(idx) * test_ratio))), seed + 1)
        test_idx = idx[pos]
        if test_limit is not None:
            test_idx = test_idx[stratified_pick(train_set.labels[test_idx], int(test_limit), seed)]
        idx = np.setdiff1d(idx, idx[pos])
    n_val = int(round(len(idx) * val_ratio))
    if val_ratio > 0 and n_val == 0:
        n_val = 1
    if len(idx) - n_val < 1:
        raise ConfigError(f"only {len(idx)} training images: too few to split off a validation set.")
    val_pos = stratified_pick(train_set.labels[idx], n_val, seed)
    val_idx = idx[val_pos]
    train_idx = np.setdiff1d(idx, val_idx)
    if class_names is not None:
        train_set.classes = class_names
        if test_set is not train_set:
            test_set.classes = class_names
    info = {"train_csv": os.fspath(train_csv), "test_csv": None if test_csv is None else os.fspath(test_csv),
            "image_dir": os.fspath(image_dir), "val_ratio": val_ratio, "seed": int(seed), "limit": limit,
            "test_limit": test_limit}
    data = ImageFolderData(train_set, test_set, train_idx, val_idx, test_idx, imbalance=imbalance,
                           minority_classes=minority_classes, minority_repeat=minority_repeat,
                           num_workers=num_workers, info=info)
    if verbose:
        print(f"Images: {len(train_set)} rows of {os.path.basename(os.fspath(train_csv))}"
              + (f", {len(test_set)} rows of {os.path.basename(os.fspath(test_csv))}" if test_csv is not None else "")
              + f" -> {len(train_idx)} train / {len(val_idx)} validation / {len(test_idx)} test images, "
              f"{image_size}x{image_size} input")
        data.print_counts()
    return data


def write_cifar_image_folder(cifar_root, out_dir, train_counts, test_counts, fmt="png", with_extension=True,
                             seed=0, overwrite=False):
    """Write CIFAR-10 images as files + ``train.csv``/``test.csv`` (columns image,label): a small,
    deliberately imbalanced image-folder data set to try the transfer lab without the retinopathy data.

    ``train_counts`` / ``test_counts``: images per class, e.g. {0: 150, 1: 40, 2: 25} (class
    indices of CIFAR-10; the CSV labels are 0..K-1 in that order). Returns ``out_dir``.
    Refuses to write into a folder that already has a train.csv unless ``overwrite``.
    """
    from PIL import Image

    from .files import atomic_path, atomic_write_text
    from .data import read_cifar_folder

    out_dir = os.fspath(out_dir)
    if all(os.path.isfile(os.path.join(out_dir, f)) for f in ("train.csv", "test.csv", "classes.txt")) \
            and not overwrite:
        return out_dir  # written before (classes.txt comes last)
    if fmt not in ("png", "jpg", "jpeg"):
        raise ConfigError(f"fmt must be 'png' or 'jpg', got {fmt!r}")
    raw = read_cifar_folder(cifar_root, verbose=False)
    rng = np.random.default_rng(seed)
    keys = list(train_counts)
    for split, counts in (("train", train_counts), ("test", test_counts)):  # check before writing anything
        y = raw[f"{split}_y"].numpy()
        for cls in keys:
            have, k = int(np.sum(y == int(cls))), int(counts.get(cls, 0))
            if k > have:
                raise ConfigError(f"{k} {split} images of class {cls} asked for, only {have} available in "
                                  f"{cifar_root!r}.")
    for split, counts in (("train", train_counts), ("test", test_counts)):
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
    names = [raw["classes"][int(c)] for c in keys]
    atomic_write_text(os.path.join(out_dir, "classes.txt"), "\n".join(names) + "\n")
    return out_dir


def _refuse_unknown_labels(bad, lines, names, raw, fname, valid):
    """DataError naming the first CSV row (line, image, label) whose label is not a class."""
    if len(bad):
        b = bad[0]
        raise DataError(f"line {lines[b]} of {fname} (image {names[b]!r}): unknown label {raw[b]!r}; "
                        f"the classes are {valid}" + (f" ({len(bad)} such rows)" if len(bad) > 1 else "") + ".")
