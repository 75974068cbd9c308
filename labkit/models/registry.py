"""The model registry: every model the labs use, by name, and the checks of a name and its options.

>>> from labkit.models import get_model, list_models
>>> model = get_model("resnet20")            # option A shortcuts, kaiming init
>>> model = get_model("resnet20", option="B")
"""
import functools
import importlib.util
import inspect
import os
import sys

from ..errors import ConfigError, unknown_name
from ..files import REPO_ROOT
from .cifar_resnet import CifarResNet
from .simplecnn import SimpleCNN
from .torchvision_models import build_torchvision_resnet
from .vgg import VGG


def _import_root_resnet18():
    """The lab's ResNet18 lives in the repo-root ``resnet18.py`` (the file students upload).

    Import it as the top-level module ``resnet18`` if it is importable; otherwise load it
    from the repository root next to the ``labkit`` package. There is no second copy.
    """
    path = os.path.join(REPO_ROOT, "resnet18.py")
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
    "simplecnn": SimpleCNN,                                        # the handout's exact net
    "simplecnn_k5": functools.partial(SimpleCNN, kernel_size=5),   # the same rule, 5x5 kernels
    "simplecnn_k7": functools.partial(SimpleCNN, kernel_size=7, dropout=0.25),  # 7x7, dropout 0.25: past 80%, not the table
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
    if not isinstance(name, str):
        raise ConfigError(f"model must be one registered model name (text), got {name!r}; "
                          f"e.g. model='resnet20'. Valid models: {', '.join(list_models())}")
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    return name


def model_options(name):
    """The keyword arguments (model_kwargs) the model ``name`` takes, besides num_classes."""
    params = inspect.signature(MODELS[check_model_name(name)]).parameters
    return [k for k, p in params.items() if k != "num_classes" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_model_kwargs(name, kwargs):
    """ConfigError for model_kwargs the model does not take (before any folder is made)."""
    if not isinstance(kwargs, dict):
        raise ConfigError(f"model_kwargs must be a dict such as {{'option': 'B'}}, got {kwargs!r}")
    valid = model_options(name)
    bad = sorted(str(k) for k in kwargs if k not in valid)
    if bad:
        raise ConfigError(f"model '{name}' takes no option(s) {bad} in model_kwargs. "
                          f"Its options: {', '.join(valid) or 'none'}")
    return kwargs


def get_model(name, num_classes=10, **kwargs):
    """Build a registered model by name; keyword arguments go to its constructor."""
    check_model_kwargs(name, kwargs)
    model = MODELS[name](num_classes=num_classes, **kwargs)
    model.labkit_name = name  # lets load_model tell "a resnet20 checkpoint into a simplecnn" apart
    return model


def count_params(model, trainable_only=False):
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
