"""ResNet18 for CIFAR-10 (32x32 inputs), self-contained: needs torch only.

Upload this single file next to your notebook and use it as::

    from resnet18 import *
    model = ResNet18()            # 11,173,962 parameters, 10 classes

CIFAR stem: one 3x3 convolution, stride 1, no max-pool (an ImageNet 7x7/stride-2
stem plus max-pool would shrink a 32x32 image to 8x8 before the first block).
Four stages of two BasicBlocks each (64, 128, 256, 512 filters), global average
pool, one linear layer.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["BasicBlock", "ResNet", "ResNet18", "make_layer"]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes * self.expansion:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes * self.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * self.expansion),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def make_layer(block, in_planes, planes, num_blocks, stride):
    """Stack ``num_blocks`` blocks; only the first one changes stride/width.

    Returns ``(layer, out_planes)`` so the caller can chain stages.
    """
    layers = []
    for s in [stride] + [1] * (num_blocks - 1):
        layers.append(block(in_planes, planes, s))
        in_planes = planes * block.expansion
    return nn.Sequential(*layers), in_planes


class ResNet(nn.Module):
    def __init__(self, block=BasicBlock, num_blocks=(2, 2, 2, 2), num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        planes = 64
        self.layer1, planes = make_layer(block, planes, 64, num_blocks[0], 1)
        self.layer2, planes = make_layer(block, planes, 128, num_blocks[1], 2)
        self.layer3, planes = make_layer(block, planes, 256, num_blocks[2], 2)
        self.layer4, planes = make_layer(block, planes, 512, num_blocks[3], 2)
        self.linear = nn.Linear(planes, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def ResNet18(num_classes=10):
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes=num_classes)


if __name__ == "__main__":
    net = ResNet18()
    print(net(torch.randn(2, 3, 32, 32)).shape)
    print(sum(p.numel() for p in net.parameters()), "parameters")
