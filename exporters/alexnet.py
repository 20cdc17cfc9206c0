"""AlexNet (the "one weird trick" variant torchvision ships), with torchvision's keys.

Keys: ``features.{0,3,6,8,10}`` (convolutions), ``classifier.{1,4,6}`` (linear layers);
with ``prelu`` also the activation sites ``features.{1,4,7,9,11}`` and ``classifier.{2,5}``.
"""

from __future__ import annotations

import torch
from torch import nn

from convzoo.exporters.activations import DEFAULT_ACTIVATION, Activation, get_activation
from convzoo.exporters.registry import PretrainedWeights, register_model


class AlexNet(nn.Module):
    def __init__(self, num_classes: int, activation: Activation) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            activation.module(64),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            activation.module(192),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            activation.module(384),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            activation.module(256),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            activation.module(256),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5),
            nn.Linear(256 * 6 * 6, 4096),
            activation.module(4096),
            nn.Dropout(p=0.5),
            nn.Linear(4096, 4096),
            activation.module(4096),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


@register_model(
    weights={
        "IMAGENET1K_V1": PretrainedWeights(
            "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", 56.522, 79.066
        )
    }
)
def alexnet(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> AlexNet:
    """AlexNet, as torchvision ships it."""
    return AlexNet(num_classes, get_activation(activation))
