"""Models: one small file per family, one registry by name, and saving/loading trained weights.

>>> from labkit.models import get_model, list_models
>>> model = get_model("resnet20")            # option A shortcuts, kaiming init
>>> model = get_model("resnet20", option="B")

    registry.py            the names (get_model, list_models, the checks of a name and its options)
    simplecnn.py           the Lab2 task-1 net (and its 5x5-kernel variant)
    cifar_resnet.py        ResNet-20..110, plain nets, pre-activation ResNets (He et al. 2016)
    vgg.py                 VGG11/16 for CIFAR
    torchvision_models.py  torchvision's ImageNet ResNet18/50 with a new head (transfer learning;
                           registry names tv_resnet18 / tv_resnet50, and resnet50 as the transfer lab calls it)
    weights.py             state dicts checked against a model
    saved.py               save_model / load_model (a run's best_model.pth)
"""
from .cifar_resnet import CifarResNet
from .registry import (IMAGENET_MODELS, MODELS, check_model_kwargs, check_model_name, count_params, get_model,
                       list_models, model_options)
from .saved import checkpoint_num_classes, load_model, save_model
from .simplecnn import SimpleCNN
from .vgg import VGG
from .weights import load_checked_state_dict, load_state_dict_file, unwrap

__all__ = ["MODELS", "IMAGENET_MODELS", "get_model", "list_models", "count_params", "check_model_name",
           "check_model_kwargs", "model_options", "checkpoint_num_classes", "load_model", "save_model", "load_checked_state_dict",
           "load_state_dict_file", "unwrap", "SimpleCNN", "CifarResNet", "VGG"]
