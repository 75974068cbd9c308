"""What a run writes into its folder per epoch (Colab keeps runs/ on Google Drive): ResNet18's bytes per epoch
are bounded by three copies of its weights (the training state: weights and SGD's momentum, plus the best
epoch's weights, held in last.pth when they are not its own, or written to best_model.pth when they are: so
that any whole last.pth that reached Drive restores the best checkpoint, issue 34). No checkpoint is ever
emptied or cut (each version Drive uploads is whole), and a finished run drops its last.pth."""
import os

import pytest

import labkit
from labkit import files, runs

RESNET18_PARAMS = 11_173_962


@pytest.mark.slow
def test_resnet18_bytes_per_epoch_and_nothing_emptied(subset_root, tmp_path, monkeypatch):
    data = labkit.load_cifar10(subset_root, limit=72, test_limit=32, device="cpu", verbose=False)
    written, emptied, removed, real_write, real_os = [], [], [], files.write_file, files.os

    def write_file(path, data_, append=False):
        written.append((os.path.basename(path), len(data_), data_[:7] if path.endswith("log.txt") else b""))
        real_write(path, data_, append)

    class Os:
        def __getattr__(self, name):
            return getattr(real_os, name)

        @staticmethod
        def truncate(path, length):
            emptied.append(os.path.basename(path))
            real_os.truncate(path, length)

        @staticmethod
        def remove(path):
            removed.append(os.path.basename(path))
            real_os.remove(path)

    monkeypatch.setattr(files, "write_file", write_file)
    monkeypatch.setattr(runs.folder, "write_file", write_file)
    monkeypatch.setattr(files, "os", Os())
    run = labkit.fit("resnet18", data, run_dir=tmp_path, run_name="r", epochs=3, batch_size=32, lr=0.01,
                     progress=False, verbose=False)
    best = os.path.getsize(os.path.join(run.run_dir, "best_model.pth"))
    starts = [i for i, (name, _, head) in enumerate(written) if name == "log.txt" and head == b"Epoch: "]
    assert len(starts) == 3
    weights = RESNET18_PARAMS * 4  # 44.7 MB
    for epoch, (a, b) in enumerate(zip(starts, starts[1:] + [len(written)]), 1):
        per_epoch = sum(n for _, n, _ in written[a:b])
        assert per_epoch <= 3 * weights * 1.01 + 64 * 1024, (epoch, per_epoch)  # 134 MB
        states = [n for name, n, _ in written[a:b] if name.startswith(".last.pth.")]
        # ResNet18's state: weights and SGD's momentum (2 x 44.7 MB), plus the best's weights when not its own
        assert len(states) == 1 and 2 * weights < states[0] < 3 * weights * 1.01
    assert weights < best < weights * 1.01
    assert not [n for n in emptied if n.endswith(".pth")]  # no checkpoint emptied before its swap
    assert removed.count("last.pth") == 1 and not os.path.exists(os.path.join(run.run_dir, "last.pth"))
