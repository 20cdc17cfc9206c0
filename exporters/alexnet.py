"""AlexNet (the "one weird trick" variant torchvision ships), with torchvision's keys.

Keys: ``features.{0,3,6,8,10}`` (convolutions), ``classifier.{1,4,6}`` (linear layers);
with ``prelu`` also the activation sites ``features.{1,4,7,9,11}`` and ``classifier.{2,5}``.
"""

from __future__ import annotations

import torch
from torch import nn

from convzoo.exporters.activations import Activation
from convzoo.exporters.layers import LayerTable
from convzoo.exporters.registry import PretrainedWeights, register_model

# (out_channels, kernel, stride, padding) for a convolution + activation; "M" for a 3x3/2 max-pool.
FEATURES = [(64, 11, 4, 2), "M", (192, 5, 1, 2), "M", (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1), "M"]
POOLED = 6
HIDDEN = 4096


class AlexNet(nn.Module):
    def __init__(self, num_classes: int, activation: Activation) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in FEATURES:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            else:
                out, kernel, stride, padding = item
                layers += [nn.Conv2d(channels, out, kernel, stride, padding), activation.module(out)]
                channels = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((POOLED, POOLED))
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5),
            nn.Linear(channels * POOLED * POOLED, HIDDEN),
            activation.module(HIDDEN),
            nn.Dropout(p=0.5),
            nn.Linear(HIDDEN, HIDDEN),
            activation.module(HIDDEN),
            nn.Linear(HIDDEN, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def describe(num_classes: int, activation: Activation, input_size: int):
    """AlexNet's layers, shapes, parameters and MACs at ``input_size`` px."""
    t = LayerTable((3, input_size, input_size), activation)
    index = 0
    for item in FEATURES:
        if item == "M":
            t.maxpool(f"features.{index}", 3, 2)
            index += 1
        else:
            out, kernel, stride, padding = item
            t.conv(f"features.{index}", out, kernel, stride, padding)
            t.act(f"features.{index + 1}")
            index += 2
    t.adaptive_avgpool("avgpool", POOLED)
    t.flatten("flatten")
    t.dropout("classifier.0")
    t.linear("classifier.1", HIDDEN)
    t.act("classifier.2")
    t.dropout("classifier.3")
    t.linear("classifier.4", HIDDEN)
    t.act("classifier.5")
    t.linear("classifier.6", num_classes)
    return t.rows


@register_model(
    "alexnet",
    describe=describe,
    weights={
        "IMAGENET1K_V1": PretrainedWeights(
            "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", 56.522, 79.066
        )
    },
)
def alexnet(num_classes: int, activation: Activation) -> AlexNet:
    return AlexNet(num_classes, activation)
