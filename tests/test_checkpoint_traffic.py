"""What a run writes into its folder per epoch (Colab keeps runs/ on Google Drive): ResNet18's bytes per epoch
are bounded by its training state plus, at a new best, its weights; every replaced checkpoint is emptied
before the swap, so Drive's trash receives empty files instead of one superseded copy per epoch."""
import os

import pytest

import labkit
from labkit import files, runs


@pytest.mark.slow
def test_resnet18_bytes_per_epoch_and_no_superseded_copies(subset_root, tmp_path, monkeypatch):
    data = labkit.load_cifar10(subset_root, limit=72, test_limit=32, device="cpu", verbose=False)
    written, emptied, real_write, real_truncate = [], [], files.write_file, files.os.truncate

    def write_file(path, data_, append=False):
        written.append((os.path.basename(path), len(data_), data_[:7] if path.endswith("log.txt") else b""))
        real_write(path, data_, append)

    class Os:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def truncate(path, length):
            emptied.append((os.path.basename(path), os.path.getsize(path)))
            real_truncate(path, length)

    monkeypatch.setattr(files, "write_file", write_file)
    monkeypatch.setattr(runs, "write_file", write_file)
    monkeypatch.setattr(files, "os", Os())
    run = labkit.fit("resnet18", data, run_dir=tmp_path, run_name="r", epochs=3, batch_size=32, lr=0.01,
                     progress=False, verbose=False)
    state = os.path.getsize(os.path.join(run.run_dir, "last.pth"))
    best = os.path.getsize(os.path.join(run.run_dir, "best_model.pth"))
    starts = [i for i, (name, _, head) in enumerate(written) if name == "log.txt" and head == b"Epoch: "]
    assert len(starts) == 3
    new_best = {h["epoch"] for h in run.history if h["val_acc"] == max(x["val_acc"] for x in run.history[:h["epoch"]])}
    for epoch, (a, b) in enumerate(zip(starts, starts[1:] + [len(written)]), 1):
        per_epoch = sum(n for _, n, _ in written[a:b])
        bound = state + (best if epoch in new_best else 0) + 64 * 1024
        assert per_epoch <= bound, (epoch, per_epoch, bound)
    # ResNet18: its training state is its weights and SGD's momentum, ~2 x 44.7 MB
    assert 2 * 11_173_962 * 4 < state < 2 * 11_173_962 * 4 * 1.01 and best < state * 0.51
    # every replaced checkpoint was emptied just before its swap (epochs 2 and 3 replace last.pth)
    sizes = [s for n, s in emptied if n == "last.pth"]
    assert len(sizes) == 2 and all(abs(s - state) < 1024 for s in sizes)  # the history grows by one entry each
