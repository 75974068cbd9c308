"""VGG11 / VGG16 sized for 32x32 CIFAR images (five 2x2 pools leave 512x1x1)."""
import torch.nn as nn

CFG = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


def conv_stack(cfg, batch_norm=True):
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        layers.append(nn.Conv2d(c, v, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        c = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``fc_layers=1``: one Linear(512, classes) (VGG11 exercise);
    ``fc_layers=3``: 512-512-classes with ReLU and dropout 0.5 (VGG16 exercise)."""

    def __init__(self, name="vgg11", num_classes=10, fc_layers=1, batch_norm=True, dropout=0.5, hidden=512):
        super().__init__()
        self.features = conv_stack(CFG[name], batch_norm)
        if fc_layers == 1:
            self.classifier = nn.Linear(512, num_classes)
        elif fc_layers == 3:
            self.classifier = nn.Sequential(
                nn.Linear(512, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
        else:
            raise ValueError(f"fc_layers must be 1 or 3, got {fc_layers}")

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))
