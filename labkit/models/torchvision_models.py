"""torchvision's ImageNet ResNet18/50 for transfer learning, with a new classifier head.

``weights``: None (from scratch), "imagenet"/"DEFAULT" (torchvision's pretrained
weights: downloaded once into the torch hub cache), or a path to a local
``.pth`` state dict of the ImageNet model (e.g. one saved on Drive).
"""
import os

import torch
import torch.nn as nn
import torchvision

from ..errors import ConfigError, DataMissingError

_ARCH = {
    "tv_resnet18": (torchvision.models.resnet18, torchvision.models.ResNet18_Weights),
    "tv_resnet50": (torchvision.models.resnet50, torchvision.models.ResNet50_Weights),
}


def build_torchvision_resnet(name, num_classes=10, weights=None):
    ctor, weight_enum = _ARCH[name]
    model = ctor(weights=None)
    if weights in (None, False, "none", "None", ""):
        pass
    elif isinstance(weights, (str, os.PathLike)) and str(weights) in ("imagenet", "DEFAULT", "IMAGENET1K_V1", "pretrained") or weights is True:
        w = weight_enum.DEFAULT
        try:
            state = w.get_state_dict(progress=True)
        except Exception as e:  # offline, proxy, broken download
            cache = os.path.join(torch.hub.get_dir(), "checkpoints")
            raise DataMissingError(
                f"could not get the pretrained ImageNet weights for {name} ({type(e).__name__}: {e}). "
                f"Options: (1) run once with internet so torchvision caches {w.url.rsplit('/', 1)[-1]} in {cache}; "
                f"(2) copy that file there by hand; (3) pass weights='/path/to/{name}.pth' (a state dict); "
                f"(4) pass weights=None to train from scratch."
            ) from e
        model.load_state_dict(state)
    else:
        path = str(weights)
        if not os.path.isfile(path):
            raise DataMissingError(
                f"weights file {path!r} not found. Pass weights=None (from scratch), 'imagenet' "
                f"(torchvision download/cache) or the path of an existing state-dict file."
            )
        from ..checkpoint import load_state_dict_file

        load_state_dict_file(model, path, what=f"{name} weights")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model
