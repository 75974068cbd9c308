"""The CIFAR-10 ResNets of He et al. 2016 (section 4.2): 6n+2 layers, 16/32/64 filters.

Also the "plain" nets of the same depth (no shortcuts) and the pre-activation
variant (He et al., "Identity Mappings in Deep Residual Networks").

Shortcut options when the shape changes (stride 2, width doubles):
  "A" - identity with zero-padded extra channels and stride-2 subsampling; no
        parameters (the paper's choice for CIFAR);
  "B" - 1x1 convolution + BN projection.
"""
import torch.nn as nn
import torch.nn.functional as F


class ZeroPadShortcut(nn.Module):
    """Option A: subsample by 2 and zero-pad the new channels (parameter free)."""

    def __init__(self, in_planes, planes):
        super().__init__()
        self.extra = planes - in_planes

    def forward(self, x):
        x = x[:, :, ::2, ::2]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


def _shortcut(in_planes, planes, stride, option):
    if stride == 1 and in_planes == planes:
        return nn.Identity()
    if option == "A":
        return ZeroPadShortcut(in_planes, planes)
    if option == "B":
        return nn.Sequential(
            nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
        )
    raise ValueError(f"shortcut option must be 'A' or 'B', got {option!r}")


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN (+ shortcut) - ReLU. ``residual=False`` gives the plain block."""

    def __init__(self, in_planes, planes, stride=1, option="A", residual=True):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(in_planes, planes, stride, option) if residual else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


class PreActBlock(nn.Module):
    """BN-ReLU-conv-BN-ReLU-conv (+ shortcut), no activation after the addition."""

    def __init__(self, in_planes, planes, stride=1, option="A", residual=True):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.shortcut = _shortcut(in_planes, planes, stride, option) if residual else None

    def forward(self, x):
        out = F.relu(self.bn1(x))
        # the projection (option B) sees the pre-activated input, as in the paper's code
        short = x if isinstance(self.shortcut, (nn.Identity, ZeroPadShortcut)) else out
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        if self.shortcut is not None:
            out = out + self.shortcut(short)
        return out


class CifarResNet(nn.Module):
    """3x3 conv (16) -> 3 stages of n blocks (16, 32, 64 filters) -> global avg pool -> FC."""

    def __init__(self, depth=20, num_classes=10, option="A", residual=True, preact=False):
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
        n = (depth - 2) // 6
        block = PreActBlock if preact else BasicBlock
        self.preact = preact
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = None if preact else nn.BatchNorm2d(16)
        layers, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(block(in_planes, planes, stride if i == 0 else 1, option, residual))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.bn_final = nn.BatchNorm2d(64) if preact else None
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out" if isinstance(m, nn.Conv2d) else "fan_in",
                                        nonlinearity="relu")

    def forward(self, x):
        out = self.conv1(x)
        if self.bn1 is not None:
            out = F.relu(self.bn1(out))
        out = self.layers(out)
        if self.bn_final is not None:
            out = F.relu(self.bn_final(out))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))
