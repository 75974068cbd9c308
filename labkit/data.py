"""CIFAR-10 as uint8 tensors on the training device, with batched augmentation there.

The one data path of the CIFAR labs:

    data = load_cifar10("./data", normalize="computed", val_ratio=0.1, seed=0)
    for x, y in data.loader("train", batch_size=128, augment=True, seed=0, epoch=3): ...

``data_root`` may hold ``cifar-10-batches-py/`` (what torchvision's download
unpacks) or be that folder itself, e.g. ``../shared/data/cifar10-subset``.
"""
import hashlib
import math
import os
import pickle
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .config import NORMALIZE_MODES, as_bool, as_count, check_data_params
from .device import resolve_device
from .errors import ConfigError, DataError, DataMissingError
from .files import read_data_pickle, shown_path

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]


def find_cifar_folder(data_root):
    """The folder that holds ``data_batch_1``..``test_batch``, or None."""
    for cand in (data_root, os.path.join(data_root, FOLDER)):
        if os.path.isfile(os.path.join(cand, "test_batch")) or os.path.isfile(os.path.join(cand, "data_batch_1")):
            return cand
    return None


def _read_batch(path):
    try:
        d = read_data_pickle(path)  # plain data only: a crafted batch file cannot run code
    except FileNotFoundError:
        raise DataMissingError(f"{path} is missing: the CIFAR-10 folder is incomplete. "
                               "Delete the folder and download again (load_cifar10(..., download=True)).") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder, not a CIFAR-10 batch file: move it away and download again.") from None
    except pickle.UnpicklingError as e:
        if "asks to run" in str(e):
            raise DataError(f"{path} is not a CIFAR-10 batch: {e}, so it was not loaded (a crafted file?). "
                            f"Delete it and download CIFAR-10 again from its official source.") from None
        raise DataError(f"{path} is corrupt or truncated ({type(e).__name__}: {e}). "
                        "Delete it (or the whole cifar-10-batches-py folder) and download again.") from None
    except Exception as e:
        raise DataError(f"{path} is corrupt or truncated ({type(e).__name__}: {e}). "
                        "Delete it (or the whole cifar-10-batches-py folder) and download again.") from None
    if not isinstance(d, dict):
        raise DataError(f"{path} holds a {type(d).__name__}, not a CIFAR-10 batch (a dict with 'data' and "
                        f"'labels'). Delete it and download CIFAR-10 again.")
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise DataError(f"{path} is not a CIFAR-10 batch (keys {sorted(d)}; expected 'data' and 'labels').")
    try:
        data = np.asarray(d["data"])
        labels = np.asarray(d["labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"{path}: its 'data' / 'labels' are not arrays of numbers ({type(e).__name__}: {e}); "
                        f"it is not a CIFAR-10 batch. Delete it and download CIFAR-10 again.") from None
    if labels.ndim != 1:
        raise DataError(f"{path}: 'labels' has shape {labels.shape}, not one label per image. Re-download it.")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: 'data' has shape {data.shape} and dtype {data.dtype}; "
                        "a CIFAR-10 batch holds uint8 rows of 3072 values (3x32x32). Re-download it.")
    if len(labels) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} labels. Re-download it.")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: labels outside 0..9 (found {labels.min()}..{labels.max()}). Re-download it.")
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar_folder(folder, verbose=True):
    """Read an official-format ``cifar-10-batches-py`` folder into uint8 tensors.

    Returns dict(train_x (N,3,32,32) uint8, train_y int64, test_x, test_y, classes).
    """
    found = find_cifar_folder(folder)
    if found is None:
        raise DataMissingError(f"no CIFAR-10 batch files in {folder!r} (looked for data_batch_1..5 and test_batch "
                               f"there and in {os.path.join(folder, FOLDER)!r}).")
    out = {}
    for split, files in (("train", TRAIN_FILES), ("test", TEST_FILES)):
        parts = [_read_batch(os.path.join(found, f)) for f in files]
        out[f"{split}_x"] = torch.from_numpy(np.concatenate([p[0] for p in parts]))
        out[f"{split}_y"] = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    classes = list(CIFAR10_CLASSES)
    meta = os.path.join(found, "batches.meta")
    if os.path.isfile(meta):
        try:
            names = read_data_pickle(meta, encoding="latin1").get("label_names")
            if names and len(names) == 10:
                classes = list(names)
        except Exception:
            pass
    out["classes"] = classes
    out["folder"] = found
    if verbose:
        print(f"CIFAR-10 from {shown_path(found)}: {len(out['train_y'])} training images, {len(out['test_y'])} test images")
    return out


def download_cifar10(data_root):
    """torchvision's real download (with a progress bar) into ``data_root``."""
    import torchvision

    try:
        torchvision.datasets.CIFAR10(root=data_root, train=True, download=True)
    except Exception as e:
        raise DataMissingError(
            f"CIFAR-10 is not in {os.path.abspath(data_root)!r} and the download failed ({type(e).__name__}: {e}). "
            f"Fix: connect to the internet and run again with download=True, or put the extracted "
            f"'cifar-10-batches-py' folder (from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz) "
            f"inside {data_root!r}, or point data_root at a folder that already has it."
        ) from None


def compute_mean_std(images, ratio=1.0, seed=0, verbose=True):
    """Per-channel mean/std in [0, 1] units over uint8 images (N,3,H,W).

    ``ratio`` < 1 samples that fraction of the images (seeded), as the Lab2
    handout's ``get_mean_std(dataset, ratio=0.3)`` does.
    """
    ratio = float(ratio)
    if not 0 < ratio <= 1:
        raise ConfigError(f"norm_ratio must be in (0, 1], got {ratio}")
    n = len(images)
    k = max(1, int(round(n * ratio)))
    if k < n:
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(n, generator=g)[:k].to(images.device)
        images = images[idx]
    x = images.to(torch.float64).div_(255).transpose(0, 1).reshape(3, -1)
    mean = tuple(round(v, 4) for v in x.mean(1).tolist())
    std = tuple(round(v, 4) for v in x.std(1).tolist())
    if verbose:
        print(f"Computed normalization from {k} of {n} training images (ratio {ratio:g}): mean={mean} std={std}")
    return mean, std


def draw_crop_flip(b, generator, pad=4, flip=True):
    """The random numbers of :func:`random_crop_flip` for ``b`` images, from a CPU ``generator``: crop
    offsets (dy, dx; None without padding) and the flip mask (None without flips), on the CPU."""
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator) if pad else None
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator) if pad else None
    m = (torch.rand(b, generator=generator) < 0.5) if flip else None
    return dy, dx, m


def apply_crop_flip(x, dy, dx, m, pad=4):
    """Crop (offsets ``dy``, ``dx`` into the zero-padded image) and flip (mask ``m``) the batch ``x``
    (B, C, H, W), any dtype, on its device; the offsets and mask must be on that device too."""
    b, c, h, w = x.shape
    if pad:
        # zero canvas + one gather over the flattened image: ~100x faster on the CPU than F.pad on
        # uint8 plus 4-tensor advanced indexing (40 ms -> 0.4 ms per 128 images), same result
        hp, wp = h + 2 * pad, w + 2 * pad
        xp = x.new_zeros((b, c, hp, wp))
        xp[:, :, pad:pad + h, pad:pad + w] = x
        grid = (torch.arange(h, device=x.device)[:, None] * wp + torch.arange(w, device=x.device)[None]).view(1, 1, -1)
        idx = (dy * wp + dx).view(b, 1, 1) + grid
        x = xp.view(b, c, hp * wp).gather(2, idx.expand(b, c, h * w)).view(b, c, h, w)
    if m is not None:
        x = torch.where(m[:, None, None, None], x.flip(3), x)
    return x


def random_crop_flip(x, generator, pad=4, flip=True):
    """Batched torchvision-style RandomCrop(32, padding=pad) + RandomHorizontalFlip(0.5).

    ``x``: (B, C, H, W) of any dtype on any device; zero padding as torchvision's.
    Random numbers come from a CPU ``generator`` so results match across devices.
    """
    draws = [None if t is None else t.to(x.device) for t in draw_crop_flip(len(x), generator, pad, flip)]
    return apply_crop_flip(x, *draws, pad=pad)


def epoch_generator(seed, epoch, stream=0):
    """A CPU generator whose state depends only on (seed, epoch, stream): the data order and
    augmentation of an epoch are the same whether a run was interrupted and resumed or not."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(epoch) * 7919 + stream) % (2**63))


class BatchLoader:
    """Iterates (images, labels) batches already on the device, normalized, optionally augmented. With ``views``
    (a (2, N, ...) tensor: something computed once per training image, [0] for the image and [1] for its mirror
    image, e.g. a distillation teacher's outputs) and no random crops, a batch is (images, labels, the views of
    exactly the images shown, flipped or not)."""

    def __init__(self, x, y, batch_size, mean=None, std=None, shuffle=False, augment=False, seed=0, epoch=0,
                 channels_last=False, drop_last=False):
        self.x, self.y, self.views = x, y, None
        self.batch_size = int(batch_size)
        self.shuffle, self.augment, self.seed, self.epoch = shuffle, augment, seed, epoch
        self.channels_last, self.drop_last = channels_last, drop_last
        dev = x.device
        self.mean = None if mean is None else torch.tensor(mean, device=dev).view(1, 3, 1, 1) * 255
        self.std = None if std is None else torch.tensor(std, device=dev).view(1, 3, 1, 1) * 255

    def __len__(self):
        n = len(self.y)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        n = len(self.y)
        gen = epoch_generator(self.seed, self.epoch)
        order = torch.randperm(n, generator=gen).to(self.x.device) if self.shuffle else None
        pad = 0 if self.augment == "flip" else 4  # augment True: crop + flip; "flip": flip only
        if self.views is not None and self.augment and pad:
            raise ValueError("views are per image and its mirror image: they need augment='flip' or none, not crops")
        draws = self._epoch_draws(pad) if self.augment else None
        for i in range(len(self)):
            sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
            idx = order[sl] if order is not None else sl
            xb, yb = self.x[idx], self.y[idx]
            if draws is not None:
                xb = apply_crop_flip(xb, *(None if t is None else t[sl] for t in draws), pad=pad)
            xb = xb.float()
            if self.mean is not None:
                xb = (xb - self.mean) / self.std
            else:
                xb = xb / 255
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            if self.views is None:
                yield xb, yb
            else:  # per image: its view as it is shown (the flip mask picks [1], the mirror image's)
                m = draws[2][sl] if draws is not None and draws[2] is not None else None
                yield xb, yb, self.views[0, idx] if m is None else torch.where(
                    m.view(-1, *[1] * (self.views.dim() - 2)), self.views[1, idx], self.views[0, idx])

    def _epoch_draws(self, pad):
        """Every batch's crop offsets and flip mask of this epoch, drawn batch by batch from the (seed, epoch)
        generator as the images are augmented, then copied to the device at once: three copies an epoch
        instead of three blocking ones per batch (which kept a GPU's CPU from running ahead)."""
        gen = epoch_generator(self.seed, self.epoch, stream=1)
        n = len(self.y)
        per_batch = [draw_crop_flip(min(self.batch_size, n - i * self.batch_size), gen, pad)
                     for i in range(len(self))]
        return [None if parts[0] is None else torch.cat(parts).to(self.x.device, non_blocking=True)
                for parts in zip(*per_batch)] if per_batch else None


@dataclass
class CifarData:
    """Train/validation/test splits as uint8 tensors on ``device``, plus normalization."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list
    mean: tuple = None
    std: tuple = None
    normalize: str = "off"
    info: dict = field(default_factory=dict)
    input_size: int = 32

    @property
    def num_classes(self):
        return len(self.classes)

    @property
    def device(self):
        return self.train_x.device

    def split(self, name):
        if name not in ("train", "val", "test"):
            raise ConfigError(f"split must be 'train', 'val' or 'test', got {name!r}")
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")

    def loader(self, split, batch_size, shuffle=None, augment=False, seed=0, epoch=0, channels_last=False):
        x, y = self.split(split)
        shuffle = (split == "train") if shuffle is None else shuffle
        return BatchLoader(x, y, batch_size, self.mean, self.std, shuffle=shuffle,
                           augment=augment if split == "train" else False, seed=seed, epoch=epoch,
                           channels_last=channels_last)

    def to(self, device):
        device = resolve_device(device)
        for k in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
            setattr(self, k, getattr(self, k).to(device))
        return self

    def describe(self):
        return {"train": len(self.train_y), "val": len(self.val_y), "test": len(self.test_y),
                "normalize": self.normalize, "mean": self.mean, "std": self.std, **self.info}


def data_digest(*arrays):
    """A short digest of the data's content (tensors or arrays, in order): what identifies the data when
    a run is resumed or compared, wherever its files are."""
    h = hashlib.blake2b(digest_size=12)
    for a in arrays:
        t = torch.as_tensor(a).detach().cpu().contiguous()
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def check_data_root(data_root):
    """``data_root`` must be a folder (or not exist yet, for a download); a file is refused with the fix."""
    if os.path.exists(data_root) and not os.path.isdir(data_root):
        parent = os.path.dirname(os.path.abspath(data_root))
        if data_root.endswith((".tar.gz", ".tgz")):
            fix = (f"point data_root at the folder that holds it ({parent!r}): with download=True torchvision "
                   f"checks and extracts the archive there instead of downloading")
        else:
            fix = (f"point data_root at the folder that holds 'cifar-10-batches-py' (or at that folder itself), "
                   f"e.g. {parent!r}")
        raise ConfigError(f"data_root {data_root!r} is a file, not a folder: {fix}.")
    return data_root


def holdout_count(n, ratio):
    """How many of ``n`` items a held-out fraction ``ratio`` takes: ``round(n * ratio)``, at least 1 when
    ``ratio`` > 0 (the validation split here, the test split carved from a train CSV in folder_data)."""
    k = int(round(n * ratio))
    return 1 if ratio > 0 and k == 0 else k


def stratified_pick(labels, n, seed=0):
    """Sorted positions of a seeded subset of ``n`` of ``labels``, stratified when possible."""
    # imported here, not at the top: scikit-learn takes ~1.4 s to import and only image-folder splits need it
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


def split_indices(n, val_ratio, seed=0, limit=None, labels=None):
    """The seeded train/validation split of ``n`` items, labkit's only one: ``(train_idx, val_idx)``, int64 arrays.

    ``holdout_count(n, val_ratio)`` items go to validation (of ``limit`` items when a limit is given); a
    ConfigError when that leaves no training item. The same arguments always give the same indices (a run
    is resumed only if its split is unchanged).

    - without ``labels`` (:func:`load_cifar10`): ``torch.randperm(n)`` seeded with ``seed``, cut to its
      first ``limit`` items; validation is the start of that permutation, training the rest, in its order.
    - with ``labels``, one per item (``labkit.folder_data``): validation is a stratified pick
      (:func:`stratified_pick`), training the other items; both sorted. ``limit`` must then be None.
    """
    if labels is None:
        order = torch.randperm(int(n), generator=torch.Generator().manual_seed(int(seed))).numpy()[:limit]
    elif limit is not None or len(labels) != n:
        raise ConfigError(f"split_indices: labels must have n={n} entries and limit must be None with labels")
    else:
        order = np.arange(n)
    n_val = holdout_count(len(order), val_ratio)
    if len(order) - n_val < 1:
        raise ConfigError(f"only {len(order)} training images: too few to split off a validation set.")
    if labels is None:
        return order[n_val:], order[:n_val]
    val_idx = stratified_pick(labels, n_val, seed)
    return np.setdiff1d(order, val_idx), val_idx


def load_cifar10(data_root="./data", download=True, val_ratio=0.1, limit=None, test_limit=None, seed=0,
                 normalize="computed", norm_ratio=1.0, device="auto", verbose=True):
    """Load CIFAR-10 (downloading it with torchvision if needed) as a :class:`CifarData`.

    - ``val_ratio``: fraction of the training images held out for validation (seeded;
      0.1 gives 45,000/5,000 on the full set). The test set is never touched for training.
    - ``limit``: use only this many training images (seeded random subset) before the split;
      ``test_limit`` likewise for the test set (first N).
    - ``normalize``: "off", "fixed" (the usual CIFAR-10 statistics) or "computed" (from the
      training split; ``norm_ratio`` < 1 samples that fraction of it). True means "computed".
    """
    checked = check_data_params(normalize, norm_ratio, None, None, val_ratio, seed, data_root)
    normalize, val_ratio, seed = checked["normalize"], checked["val_ratio"], checked["seed"]
    norm_ratio = float(norm_ratio)  # checked; recorded as given (describe() is compared on resume)
    download = as_bool("download", download)
    device = resolve_device(device)
    data_root = check_data_root(checked["data_root"])
    if find_cifar_folder(data_root) is None:
        if not download:
            raise DataMissingError(
                f"CIFAR-10 is not in {os.path.abspath(data_root)!r}. Fix: pass download=True (needs internet), "
                f"or put the extracted 'cifar-10-batches-py' folder inside it, or point data_root at a folder "
                f"that has it (offline on this repo's machines: data_root='../shared/data/cifar10-subset').")
        download_cifar10(data_root)
    raw = read_cifar_folder(data_root, verbose=verbose)
    x, y = raw["train_x"], raw["train_y"]
    limit = as_count("limit", limit, len(y))
    test_limit = as_count("test_limit", test_limit, len(raw["test_y"]))
    train_idx, val_idx = (torch.from_numpy(i) for i in split_indices(len(y), val_ratio, seed, limit=limit))
    test_x, test_y = raw["test_x"], raw["test_y"]
    if test_limit is not None:
        test_x, test_y = test_x[:test_limit], test_y[:test_limit]
    train_x = x[train_idx]
    if normalize == "computed":
        mean, std = compute_mean_std(train_x, norm_ratio, seed=seed, verbose=verbose)
    elif normalize == "fixed":
        mean, std = CIFAR10_MEAN, CIFAR10_STD
    else:
        mean = std = None
    data = CifarData(train_x, y[train_idx], x[val_idx], y[val_idx], test_x, test_y, raw["classes"],
                     mean=mean, std=std, normalize=normalize,
                     info={"source": raw["folder"], "norm_ratio": float(norm_ratio), "val_ratio": val_ratio,
                           "seed": int(seed), "limit": limit,
                           "digest": data_digest(train_x, y[train_idx], x[val_idx], y[val_idx], test_x, test_y)})
    if verbose:
        print(f"Split: {len(data.train_y)} train / {len(data.val_y)} validation / {len(data.test_y)} test images")
    return data.to(device)
