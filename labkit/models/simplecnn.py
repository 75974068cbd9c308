"""The Lab2 task-1 network: two conv-BN-ReLU-pool stages, dropout, one FC layer."""
import torch.nn as nn


class SimpleCNN(nn.Module):
    """conv(3->32,k3,p1)-BN-ReLU-pool, conv(32->64,k3,p1)-BN-ReLU-pool, dropout, FC(4096->10).

    60,554 parameters for 10 classes; thop counts 5,840,896 FLOPs for a 32x32 image.
    """

    def __init__(self, num_classes=10, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(64 * 8 * 8, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.fc(self.dropout(x.flatten(1)))
