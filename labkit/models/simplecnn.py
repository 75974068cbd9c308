"""The Lab2 task-1 network: two conv-BN-ReLU stages (3->32, 32->64), pooling, dropout, one FC layer.

``SimpleCNN()`` is the handout's exact net: 3x3 convolutions, a 2x2 max-pool after each stage,
FC(4096->10); 60,554 parameters, thop counts 5,840,896 FLOPs for a 32x32 image.

The handout's table fixes 3x3 kernels with padding 1: ``SimpleCNN()`` (registry ``simplecnn``) is what
task 1 trains by default. ``kernel_size`` and ``pool_between`` make variants outside the table, for a
student who chooses one knowingly: ``simplecnn_k5`` (5x5 kernels) and ``simplecnn_k7`` (7x7 kernels,
dropout 0.25, 146,314 parameters: past 80% on CIFAR-10 where the exact net stays under it).
"""
import torch.nn as nn


class SimpleCNN(nn.Module):
    """conv(3->32)-BN-ReLU-[pool]-conv(32->64)-BN-ReLU-pool, dropout, FC(->num_classes)."""

    def __init__(self, num_classes=10, dropout=0.5, kernel_size=3, pool_between=True):
        super().__init__()
        pad = kernel_size // 2
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=kernel_size, padding=pad),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2) if pool_between else nn.Identity(),
            nn.Conv2d(32, 64, kernel_size=kernel_size, padding=pad),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        side = 32 // (4 if pool_between else 2)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(64 * side * side, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.fc(self.dropout(x.flatten(1)))
