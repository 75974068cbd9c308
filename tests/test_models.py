"""Every registered model: parameter count against the published/handout figure, output shape."""
import pytest
import torch

import labkit
from labkit.models import IMAGENET_MODELS, count_params, get_model, list_models

# Published / handout figures (ResNet-20/56/110 option A: He et al. 2016 and akamaster's table).
EXPECTED = {
    "simplecnn": 60_554,
    "simplecnn_k5": 94_858,  # the same layers with 5x5 kernels
    "simplecnn_k7": 146_314,  # 7x7 kernels, dropout 0.25 (task 1 default)
    "resnet18": 11_173_962,
    "resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586, "resnet56": 853_018, "resnet110": 1_727_962,
    # plain nets: the same layers without shortcuts; option A shortcuts have no parameters
    "plain20": 269_722, "plain32": 464_154, "plain44": 658_586, "plain56": 853_018, "plain110": 1_727_962,
    # pre-activation: stem BN moves to a final BN; the block BNs see the input width
    "preact_resnet20": 269_722, "preact_resnet32": 464_154, "preact_resnet44": 658_586,
    "preact_resnet56": 853_018, "preact_resnet110": 1_727_962,
    "vgg11": 9_231_114,       # BN conv stack + one Linear(512, 10)
    "vgg16": 15_253_578,      # BN conv stack + 512-512-10 classifier with dropout 0.5
    "tv_resnet18": 11_181_642,  # torchvision resnet18 with a 10-class head
    "tv_resnet50": 23_528_522, "resnet50": 23_528_522,
}


def test_registry_covers_expected():
    assert set(list_models()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_param_count_and_output_shape(name):
    torch.manual_seed(0)
    model = get_model(name).eval()
    assert count_params(model) == EXPECTED[name]
    size = 64 if name in IMAGENET_MODELS else 32  # torchvision nets run on any size >= 32
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_resnet20_option_b_and_num_classes():
    assert count_params(get_model("resnet20", option="B")) == 272_474
    m = get_model("resnet56", num_classes=100)
    assert m(torch.randn(1, 3, 32, 32)).shape == (1, 100)


def test_plain_net_has_no_shortcut_and_resnet_has():
    plain, res = get_model("plain20"), get_model("resnet20")
    assert all(b.shortcut is None for b in plain.layers)
    assert all(b.shortcut is not None for b in res.layers)


def test_kaiming_init_std():
    # kaiming normal, fan_out, relu: std = sqrt(2 / (out_channels * 3 * 3))
    conv = get_model("resnet56").layers[10].conv1
    expected = (2.0 / (conv.out_channels * 9)) ** 0.5
    assert abs(conv.weight.std().item() - expected) / expected < 0.1


def test_root_resnet18_is_self_contained_and_the_registrys_source(tmp_path):
    import shutil
    import subprocess
    import sys

    import resnet18 as root_module

    src = root_module.__file__
    shutil.copy(src, tmp_path / "resnet18.py")  # as a student uploads it, alone
    code = ("from resnet18 import *\nimport torch\nm = ResNet18()\n"
            "print(sum(p.numel() for p in m.parameters()), tuple(m(torch.randn(1,3,32,32)).shape))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["11173962", "(1,", "10)"]
    assert type(get_model("resnet18")).__module__ == "resnet18"
    assert sorted(root_module.__all__) == ["BasicBlock", "ResNet", "ResNet18", "make_layer"]


def test_unknown_model_lists_valid_names():
    with pytest.raises(labkit.ConfigError, match=r"unknown model 'resnet19'.*Did you mean 'resnet18'.*simplecnn"):
        get_model("resnet19")
