import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("LABKIT_SHARED_DATA") or os.path.join(os.path.dirname(REPO), "shared", "data",
                                                                 "cifar10-subset")


@pytest.fixture(scope="session")
def subset_root():
    """The real CIFAR-10 subset (5,170 train / 500 test) in ../shared; never copied into the repo."""
    if not os.path.isdir(os.path.join(SHARED, "cifar-10-batches-py")):
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the CIFAR-10 subset at {SHARED}")
        pytest.skip(f"CIFAR-10 subset not found at {SHARED} (set LABKIT_SHARED_DATA)")
    return SHARED


@pytest.fixture(scope="session")
def subset(subset_root):
    import labkit

    return labkit.load_cifar10(subset_root, device="cpu", normalize="fixed", verbose=False)
