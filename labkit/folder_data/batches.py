"""Batches of one split of the image-folder data: :class:`SplitView` (rows of an ImageCsvDataset,
each image's augmentation seeded by its sampler key) and :class:`FolderLoader` (a DataLoader over it
whose order and augmentation depend only on (seed, epoch), whatever ``num_workers``)."""
import math

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import LabkitError


class SplitView(Dataset):
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


class FolderLoader:
    """Batches (x float (B,3,S,S) NCHW, y int64 (B,)) of one split; ``set_epoch`` fixes the order.

    The batches are yielded as the DataLoader makes them: pinned (on a CUDA machine) and contiguous
    NCHW. ``channels_last`` is accepted for compatibility and ignored: converting here would make an
    unpinned copy of every batch on the CPU and turn the non-blocking copy to the GPU into a
    synchronous one; :func:`labkit.fit` converts on the device, after the copy."""

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
        batches = iter(self.loader)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except LabkitError as e:  # raised in a worker process: torch puts its own lines first
                raise from_worker(e) from None
            yield batch


def from_worker(error):
    """A labkit error a DataLoader worker raised, with labkit's message first (torch re-raises it as "Caught
    DataError in DataLoader worker process 0. Original Traceback ...", the message on the last line)."""
    text = str(error)
    marker = f"{type(error).__module__}.{type(error).__name__}: "
    if not text.startswith("Caught ") or marker not in text:
        return error
    worker = text.split(".", 1)[0].replace("Caught ", "").replace(type(error).__name__, "").strip()
    return type(error)(f"{text[text.rindex(marker) + len(marker):].strip()} ({worker})")
