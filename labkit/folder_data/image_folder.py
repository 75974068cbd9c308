"""The data object :func:`labkit.fit` takes for CSV-listed image folders: :class:`ImageFolderData`.

Train/val/test splits as row indices of two :class:`ImageCsvDataset`, their class counts (a dict
for ``describe()``, a printed table), the content digest of ``describe()``, the class weights of the
loss and ``.loader(...)``, which puts together the transforms, the imbalance policy of
:mod:`.sampling` and the batches of :mod:`.batches`.
"""
import hashlib
import json

import numpy as np
import torch

from ..config import as_int
from ..errors import ConfigError
from .batches import FolderLoader, SplitView
from .sampling import (augment_plan, balanced_class_weights, check_imbalance, epoch_sampler, imbalance_note,
                       minority_class_indices)
from .transforms import build_transform, flip_transform, preview_transform

SPLITS = ("train", "val", "test")


class ImageFolderData:
    """Train/val/test splits of CSV-listed image folders, for :func:`labkit.fit` (see :mod:`labkit.folder_data`)."""

    def __init__(self, train_set, test_set, train_idx, val_idx, test_idx, imbalance="none", minority_classes=None,
                 minority_repeat=2, num_workers=2, info=None):
        self.imbalance = check_imbalance(imbalance)
        self.train_set, self.test_set = train_set, test_set
        self.train_idx, self.val_idx, self.test_idx = (np.asarray(a, dtype=np.int64)
                                                       for a in (train_idx, val_idx, test_idx))
        self.classes = list(train_set.classes)
        self.num_workers = as_int("num_workers", num_workers, 0, hi=256)
        self.minority_repeat = as_int("minority_repeat", minority_repeat, 1, hi=1000)
        self.minority_classes = minority_class_indices(self.class_counts("train"), minority_classes, self.classes)
        self.info = dict(info or {})
        self.image_size = train_set.image_size
        self.input_size = self.image_size
        ts = train_set
        self._eval_tf = build_transform(ts.image_size, False, ts.crop_ratio, ts.flips, ts.normalize)
        self._train_tf = build_transform(ts.image_size, True, ts.crop_ratio, ts.flips, ts.normalize)
        # minority augmentation without augment=True: flips only (crop/resize as in evaluation)
        self._flip_tf = flip_transform(ts.image_size, ts.crop_ratio, ts.flips, ts.normalize)

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
        return balanced_class_weights(self.split_labels("train"), len(self.classes))

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
        aug_mask, repeats, flips_only = augment_plan(labels, self.imbalance, self.minority_classes,
                                                     self.minority_repeat, train, augment)
        sampler = epoch_sampler(labels, self.imbalance, len(self.classes), train, shuffle, batch_size,
                                seed=seed, epoch=epoch, repeats=repeats)
        view = SplitView(base, idx, aug_mask, self._flip_tf if flips_only else self._train_tf, self._eval_tf)
        return FolderLoader(view, sampler, batch_size, self.num_workers, channels_last)

    def sample_images(self, split="train", n=8):
        """The first ``n`` images of a split as uint8 (n,3,S,S) (evaluation resize/crop) and labels."""
        base, idx = self._split(split)
        tf = preview_transform(base.image_size, base.crop_ratio)
        pos = idx[:n]
        return torch.stack([tf(base.open_image(int(i))) for i in pos]), torch.as_tensor(base.labels[pos])

    def counts_table(self):
        """{split: {class: count}} for train, val and test."""
        return {s: {c: int(k) for c, k in zip(self.classes, self.class_counts(s))} for s in SPLITS}

    def _split_record(self, name):
        """What a split is, wherever its folder: its files (relative to the folder), labels and file sizes."""
        base, idx = self._split(name)
        sizes = base.file_sizes()
        return {"n": len(idx), "files": [base.files[i] for i in idx], "labels": base.labels[idx].tolist(),
                "sizes": [sizes[i] for i in idx]}

    def digest(self):
        """A short hash of what the data is: each split's files (names relative to their folder, in order),
        labels and file sizes, the classes and how the images become inputs (size, normalization, crop
        ratio, flips, imbalance option). The same images moved or spelled with another path give the same
        digest; another image, label or setting another (a resumed run is checked against it)."""
        record = {"splits": {s: self._split_record(s) for s in SPLITS}, "classes": self.classes,
                  "image_size": self.image_size, "normalize": self.train_set.normalize,
                  "crop_ratio": self.train_set.crop_ratio, "flips": self.train_set.flips, "imbalance": self.imbalance}
        if self.imbalance == "augment_minority":  # only then do they change what an epoch holds
            record.update(minority_classes=self.minority_classes, minority_repeat=self.minority_repeat)
        return hashlib.blake2b(json.dumps(record, sort_keys=True).encode(), digest_size=12).hexdigest()

    def describe(self):
        return {"source": "image folder + CSV", "train": len(self.train_idx), "val": len(self.val_idx),
                "test": len(self.test_idx), "classes": self.classes, "class_counts": self.counts_table(),
                "imbalance": self.imbalance,
                "minority_classes": [self.classes[i] for i in self.minority_classes],
                "minority_repeat": self.minority_repeat if self.imbalance == "augment_minority" else None,
                "image_size": self.image_size, "normalize": self.train_set.normalize,
                "crop_ratio": self.train_set.crop_ratio, "flips": self.train_set.flips, **self.info,
                "digest": self.digest()}

    def print_counts(self):
        """Print the class counts per split and the imbalance option."""
        width = max(len(c) for c in self.classes)
        print(f"{'class':<{width}} " + " ".join(f"{s:>13}" for s in SPLITS))
        for i, c in enumerate(self.classes):
            cells = []
            for s in SPLITS:
                cnt = self.class_counts(s)
                tot = max(int(cnt.sum()), 1)
                cells.append(f"{int(cnt[i]):>6} ({100 * cnt[i] / tot:4.1f}%)")
            print(f"{c:<{width}} " + " ".join(cells))
        print(f"{'total':<{width}} " + " ".join(f"{len(self._split(s)[1]):>13}" for s in SPLITS))
        note = imbalance_note(self.imbalance, self.classes, self.split_labels("train"), self.minority_classes,
                              self.minority_repeat)
        print(f"Class imbalance option: {note}")
