"""One registry of every model the labs use, by name.

>>> from labkit.models import get_model, list_models
>>> model = get_model("resnet20")            # option A shortcuts, kaiming init
>>> model = get_model("resnet20", option="B")
"""
import functools
import importlib.util
import os
import sys

from ..errors import unknown_name
from .cifar_resnet import CifarResNet
from .simplecnn import SimpleCNN
from .torchvision_models import build_torchvision_resnet
from .vgg import VGG


def _import_root_resnet18():
    """The lab's ResNet18 lives in the repo-root ``resnet18.py`` (the file students upload).

    Import it as the top-level module ``resnet18`` if it is importable; otherwise load it
    from the repository root next to the ``labkit`` package. There is no second copy.
    """
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, "resnet18.py")
    mod = sys.modules.get("resnet18")
    if mod is not None and hasattr(mod, "ResNet18"):
        return mod
    if os.path.isfile(path):
        spec = importlib.util.spec_from_file_location("resnet18", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["resnet18"] = mod
        spec.loader.exec_module(mod)
        return mod
    import resnet18  # installed as a top-level module (pip install .)

    return resnet18


def _resnet18(num_classes=10):
    return _import_root_resnet18().ResNet18(num_classes=num_classes)


MODELS = {
    "simplecnn": SimpleCNN,
    "resnet18": _resnet18,
    "vgg11": functools.partial(VGG, "vgg11", fc_layers=1),
    "vgg16": functools.partial(VGG, "vgg16", fc_layers=3),
    "tv_resnet18": functools.partial(build_torchvision_resnet, "tv_resnet18"),
    "tv_resnet50": functools.partial(build_torchvision_resnet, "tv_resnet50"),
    "resnet50": functools.partial(build_torchvision_resnet, "tv_resnet50"),
}
for _depth in (20, 32, 44, 56, 110):
    MODELS[f"resnet{_depth}"] = functools.partial(CifarResNet, _depth)
for _depth in (20, 32, 44, 56, 110):
    MODELS[f"plain{_depth}"] = functools.partial(CifarResNet, _depth, residual=False)
    MODELS[f"preact_resnet{_depth}"] = functools.partial(CifarResNet, _depth, preact=True)

# Models that expect ImageNet-sized inputs (224x224) rather than 32x32.
IMAGENET_MODELS = {"tv_resnet18", "tv_resnet50", "resnet50"}


def list_models():
    return sorted(MODELS)


def check_model_name(name):
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    return name


def get_model(name, num_classes=10, **kwargs):
    """Build a registered model by name; keyword arguments go to its constructor."""
    check_model_name(name)
    model = MODELS[name](num_classes=num_classes, **kwargs)
    model.labkit_name = name  # lets load_model tell "a resnet20 checkpoint into a simplecnn" apart
    return model


def count_params(model, trainable_only=False):
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = ["MODELS", "IMAGENET_MODELS", "get_model", "list_models", "count_params", "check_model_name",
           "SimpleCNN", "CifarResNet", "VGG"]
