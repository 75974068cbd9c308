"""torchvision's ImageNet ResNet18/50 for transfer learning, with a new classifier head.

``weights``: None (from scratch), "imagenet"/"DEFAULT"/True (torchvision's recommended
pretrained weights: downloaded once into the torch hub cache, ``$TORCH_HOME/hub/checkpoints``),
a torchvision weights name ("IMAGENET1K_V1", "IMAGENET1K_V2" for ResNet50), or a path to a
local ``.pth`` state dict (e.g. one saved on Drive: an ImageNet model's, or a labkit
``best_model.pth``). The classifier head ``fc`` of the file is not used: it is replaced by a
fresh ``Linear(in_features, num_classes)``.
"""
import os
import re

import torch
import torch.nn as nn
import torchvision

from ..errors import CheckpointError, ConfigError, DataMissingError
from ..files import file_sha256, read_checkpoint
from .weights import load_checked_state_dict

_ARCH = {
    "tv_resnet18": (torchvision.models.resnet18, torchvision.models.ResNet18_Weights),
    "tv_resnet50": (torchvision.models.resnet50, torchvision.models.ResNet50_Weights),
}
PRETRAINED_ALIASES = ("imagenet", "default", "pretrained", "true")
HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")  # torchvision's file names end in the first hex digits of their SHA-256


def _weights_enum_member(name, weights, weight_enum):
    """The torchvision weights enum member that ``weights`` names, or None if it names none."""
    if weights is True:
        return weight_enum.DEFAULT
    if not isinstance(weights, str):
        return None
    key = weights.strip()
    if key.lower() in PRETRAINED_ALIASES:
        return weight_enum.DEFAULT
    if key.upper().startswith("IMAGENET1K_"):
        if key.upper() not in weight_enum.__members__:
            raise ConfigError(f"{name} has no torchvision weights {weights!r}; valid: "
                              f"{', '.join(weight_enum.__members__)} (or 'imagenet', None, or a file path).")
        return weight_enum[key.upper()]
    return None


def imagenet_state_dict(url, cache):
    """torchvision's published weights at ``url``: the cached copy in ``cache`` (else downloaded there),
    checked against the SHA-256 prefix torchvision puts in the file name (``resnet18-f37072fd.pth``) and read
    as tensors only (``weights_only``), so a file copied into the cache by hand cannot run code."""
    fname = url.rsplit("/", 1)[-1]
    path = os.path.join(cache, fname)
    match = HASH_IN_NAME.search(fname)
    prefix = match.group(1) if match else None
    if not os.path.isfile(path):
        os.makedirs(cache, exist_ok=True)
        torch.hub.download_url_to_file(url, path, hash_prefix=prefix, progress=True)  # checks the hash itself
    elif prefix:
        if not file_sha256(path).startswith(prefix):
            raise CheckpointError(
                f"{path} is not torchvision's published {fname}: its SHA-256 does not start with {prefix}, as the "
                f"file name promises (a damaged download, or a file that was replaced), so it was not loaded. "
                f"Delete it and run again with internet (torchvision downloads the real file), or copy the real "
                f"file from {url} there.")
    return read_checkpoint(path, "pretrained weights")


def build_torchvision_resnet(name, num_classes=10, weights=None):
    ctor, weight_enum = _ARCH[name]
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
    model = ctor(weights=None)
    member = None if weights in (None, False) else _weights_enum_member(name, weights, weight_enum)
    if weights in (None, False, "none", "None", "", "scratch"):
        pass
    elif member is not None:
        cache = os.path.join(torch.hub.get_dir(), "checkpoints")
        fname = member.url.rsplit("/", 1)[-1]
        try:
            state = imagenet_state_dict(member.url, cache)
        except Exception as e:  # offline, proxy, broken or truncated download
            cached = os.path.join(cache, fname)
            hint = (f" A file {cached} exists but could not be read: delete it and download again."
                    if os.path.isfile(cached) else "")
            raise DataMissingError(
                f"could not get the pretrained ImageNet weights for {name} ({type(e).__name__}: {e}).{hint} "
                f"Options: (1) run once with internet so torchvision caches {fname} in {cache} "
                f"(set TORCH_HOME to keep the cache elsewhere, e.g. on Drive); (2) copy that file there by hand; "
                f"(3) pass weights='/path/to/{fname}' (a local state-dict file); "
                f"(4) pass weights=None to train from scratch."
            ) from e
        model.load_state_dict(state)
    elif isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
        if os.path.isdir(path):
            raise ConfigError(f"weights {path!r} is a folder; pass the .pth state-dict file inside it "
                              f"(or weights='imagenet', or None for training from scratch).")
        if not os.path.isfile(path):
            raise DataMissingError(
                f"weights file {path!r} not found. Pass weights=None (from scratch), 'imagenet' "
                f"(torchvision download/cache) or the path of an existing state-dict file."
            )
        _load_backbone_file(model, path, name)
    else:
        raise ConfigError(f"weights must be None, 'imagenet' or a file path, got {weights!r}")
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def _load_backbone_file(model, path, name):
    """Load every parameter but the classifier head from a state-dict file (checked, strict)."""
    obj = read_checkpoint(path, f"{name} weights")
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict):
        raise CheckpointError(f"{name} weights {path!r} hold a {type(obj).__name__}, not a state dict.")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    head = {k: v for k, v in model.state_dict().items() if k.startswith("fc.")}
    state = {**{k: v for k, v in state.items() if not k.startswith("fc.")}, **head}  # the head is replaced anyway
    load_checked_state_dict(model, state, f"{name} weights {path!r}")
