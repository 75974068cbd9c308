"""Which images an epoch of the image-folder data draws, and how: :class:`EpochSampler` and the
class-imbalance options ("none", "class_weights", "sampler", "augment_minority").

The policy of each option is written here once: the minority classes, the inverse-frequency class
weights, which images are augmented and repeated (:func:`augment_plan`), the sampler of a split
(:func:`epoch_sampler`) and the line that names the option (:func:`imbalance_note`).
"""
import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight
from torch.utils.data import Sampler, WeightedRandomSampler

from ..data import epoch_generator
from ..errors import ConfigError, unknown_name

IMBALANCE_OPTIONS = ("none", "class_weights", "sampler", "augment_minority")
IMBALANCE_NOTES = {
    "none": "none (plain shuffling)",
    "class_weights": "class-weighted loss (inverse class frequency)",
    "sampler": "weighted random sampler (each class drawn about equally often)",
    "augment_minority": "minority classes augmented (random flips) and repeated; majority class not augmented",
}


def check_imbalance(imbalance):
    """``imbalance`` if it is one of :data:`IMBALANCE_OPTIONS`, else ConfigError with the closest one."""
    if imbalance not in IMBALANCE_OPTIONS:
        raise unknown_name("imbalance option", imbalance, IMBALANCE_OPTIONS)
    return imbalance


def _class_index(c, classes):
    if isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < len(classes):
        return int(c)
    if str(c) in classes:
        return classes.index(str(c))
    raise ConfigError(f"unknown class {c!r} in minority_classes; classes are {', '.join(classes)}")


def minority_class_indices(counts, minority_classes, classes):
    """Sorted class indices of ``minority_classes`` (indices or names of ``classes``); by default
    every class with fewer training images (``counts``) than the largest."""
    if minority_classes is None:
        minority = [i for i, c in enumerate(counts) if c < counts.max()]
    else:
        minority = [_class_index(c, classes) for c in minority_classes]
    return sorted(set(minority))


def balanced_class_weights(labels, num_classes):
    """Inverse-frequency weights ``n / (K * n_c)`` of ``labels`` (scikit-learn's "balanced"; a class
    absent from them gets weight 0), as a list of ``num_classes`` floats."""
    present = np.unique(labels)
    w = np.zeros(num_classes)
    w[present] = compute_class_weight("balanced", classes=present, y=labels)
    return w.tolist()


def imbalance_note(imbalance, classes, train_labels, minority_classes, minority_repeat):
    """The printed description of the imbalance option, with its class weights or minority classes."""
    note = IMBALANCE_NOTES[imbalance]
    if imbalance == "class_weights":
        weights = balanced_class_weights(train_labels, len(classes))
        note += ": " + ", ".join(f"{c} {w:.3g}" for c, w in zip(classes, weights))
    elif imbalance == "augment_minority":
        note += (f": minority classes {', '.join(classes[i] for i in minority_classes) or '(none)'}, "
                 f"each image {minority_repeat}x per epoch")
    return note


def augment_plan(labels, imbalance, minority_classes, minority_repeat, train, augment):
    """``(aug_mask, repeats, flips_only)`` for the images of a split with ``labels``: which are
    augmented, how often each is listed per epoch (None: once) and whether the augmentation is the
    random flips alone. With "augment_minority" on the training split only minority images are
    augmented and repeated (flips only unless ``augment``); otherwise every image is augmented
    when ``augment`` and ``train``, none else."""
    if train and imbalance == "augment_minority":
        minority = np.isin(labels, minority_classes)
        return minority, np.where(minority, minority_repeat, 1), not augment
    return np.full(len(labels), bool(augment and train)), None, False


def epoch_sampler(labels, imbalance, num_classes, train, shuffle, batch_size, seed=0, epoch=0, repeats=None):
    """The :class:`EpochSampler` of a split with ``labels``: in order unless ``shuffle``; on the
    training split with "sampler", drawn with weights ``1/n_c``. A last training batch of one image
    is dropped (BatchNorm cannot train on it)."""
    mode, weights = "sequential", None
    if shuffle:
        mode = "shuffle"
        if train and imbalance == "sampler":
            counts = np.bincount(labels, minlength=num_classes).astype(float)
            weights = 1.0 / counts[labels]
            mode = "weighted"
    n_items = len(labels) if repeats is None else int(np.sum(repeats))
    # BatchNorm cannot train on a last batch of one image (1 value per channel at small sizes)
    drop = 1 if train and shuffle and n_items % batch_size == 1 and n_items > 1 else 0
    return EpochSampler(len(labels), mode, weights=weights, repeats=repeats, seed=seed, epoch=epoch, drop=drop)


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
