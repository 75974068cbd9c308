"""Seeds and random-number state: one seed for every generator, and the state a resumed run restores."""
import random

import numpy as np
import torch


def seed_everything(seed):
    """Seed Python's, NumPy's and torch's generators (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state():
    """Every generator's state, as tensors and numbers torch.save(weights_only) can keep."""
    st = {"torch": torch.get_rng_state(), "python": random.getstate()}
    npst = np.random.get_state()
    st["numpy"] = [npst[0], torch.from_numpy(npst[1].astype(np.int64)), int(npst[2]), int(npst[3]), float(npst[4])]
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st):
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(st["torch"])
    py = st["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = st["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    if "cuda" in st and torch.cuda.is_available():
        # a run saved on more GPUs than this machine has: the states of the GPUs it has (the one it trains on first)
        for i, state in enumerate(st["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, i)
