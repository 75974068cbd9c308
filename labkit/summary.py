"""Model summaries: the model's code, the torchsummary table and thop FLOPs/params.

torchsummary and thop are imported where they are used: each is needed by one function only, and
labkit (its training, its tables) works where they are not installed.
"""
import copy
import inspect
import os

import torch

from .files import REPO_ROOT
from .models import IMAGENET_MODELS, get_model


def _as_model(model, num_classes=10):
    if isinstance(model, str):
        return get_model(model, num_classes=num_classes), model
    return model, getattr(model, "labkit_name", type(model).__name__)


def input_size_for(name):
    """The (channels, height, width) of one input image of the registry model ``name``."""
    return (3, 224, 224) if name in IMAGENET_MODELS else (3, 32, 32)


def model_source(model):
    """(file name, source) of the module that defines ``model``'s class (a model or registry name):
    for ``simplecnn`` labkit/models/simplecnn.py, for ``resnet18`` the repository's resnet18.py
    (ResNet18, ResNet, BasicBlock, make_layer)."""
    model, _ = _as_model(model)
    module = inspect.getmodule(type(model))
    path = inspect.getsourcefile(module) or module.__name__
    inside = os.path.abspath(path).startswith(REPO_ROOT + os.sep)
    shown = os.path.relpath(path, REPO_ROOT) if inside else os.path.basename(path)
    return shown, inspect.getsource(module)


def show_source(model):
    """Print the code of ``model``'s class (the whole file that defines it), so an executed notebook
    and its PDF hold the network's code, not only a call that builds it."""
    name, source = model_source(model)
    print(f"# ---- {name} ----")
    print(source.rstrip("\n"))


def print_summary(model, input_size=None, device="cpu"):
    """Print torchsummary's layer table (output shapes, parameter counts) for a model or name."""
    from torchsummary import summary  # optional package (see the module docstring)

    model, name = _as_model(model)
    m = copy.deepcopy(model).to(device).eval()
    summary(m, input_size or input_size_for(name), device=str(torch.device(device).type))


def profile_flops(model, input_size=None, verbose=True):
    """thop's (FLOPs, params) for one image, measured on a deep copy so the model itself
    gets no ``total_ops``/``total_params`` buffers (which would break a later load_state_dict).

    For ``simplecnn`` this prints the handout's ``FLOPs: 5840896.0`` and ``Params: 60554.0``.
    """
    from thop import profile  # optional package (see the module docstring)

    model, name = _as_model(model)
    m = copy.deepcopy(model).cpu().eval()
    x = torch.randn(1, *(input_size or input_size_for(name)))
    flops, params = profile(m, inputs=(x,), verbose=False)
    if verbose:
        print(f"FLOPs: {float(flops)}")
        print(f"Params: {float(params)}")
    return float(flops), float(params)
