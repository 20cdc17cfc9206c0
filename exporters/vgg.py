"""VGG 11/13/16/19, with and without batch norm, with torchvision's keys.

Keys: ``features.<i>`` numbered as torchvision's ``make_layers`` numbers them (a
convolution, then its batch norm at ``i+1`` for ``_bn``, then the activation), and
``classifier.{0,3,6}``; with ``prelu`` also each activation site's ``weight``.
"""

from __future__ import annotations

import torch
from torch import nn

from convzoo.exporters.activations import Activation
from convzoo.exporters.layers import LayerTable
from convzoo.exporters.registry import PretrainedWeights, register_model

CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
POOLED = 7
HIDDEN = 4096
# (depth, batch_norm) -> (official checkpoint file, acc@1, acc@5)
CHECKPOINTS = {
    (11, False): ("vgg11-8a719046.pth", 69.020, 88.628),
    (13, False): ("vgg13-19584684.pth", 69.928, 89.246),
    (16, False): ("vgg16-397923af.pth", 71.592, 90.382),
    (19, False): ("vgg19-dcbb9e9d.pth", 72.376, 90.876),
    (11, True): ("vgg11_bn-6002323d.pth", 70.370, 89.810),
    (13, True): ("vgg13_bn-abd245e5.pth", 71.586, 90.374),
    (16, True): ("vgg16_bn-6c64b313.pth", 73.360, 91.516),
    (19, True): ("vgg19_bn-c79401a0.pth", 74.218, 91.842),
}


class VGG(nn.Module):
    def __init__(self, depth: int, batch_norm: bool, num_classes: int, activation: Activation) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in CONFIGS[depth]:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(item))
            layers.append(activation.module(item))
            channels = item
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((POOLED, POOLED))
        self.classifier = nn.Sequential(
            nn.Linear(channels * POOLED * POOLED, HIDDEN),
            activation.module(HIDDEN),
            nn.Dropout(p=0.5),
            nn.Linear(HIDDEN, HIDDEN),
            activation.module(HIDDEN),
            nn.Dropout(p=0.5),
            nn.Linear(HIDDEN, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's initialisation for VGG."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def describe_vgg(depth: int, batch_norm: bool, num_classes: int, activation: Activation, input_size: int):
    """VGG's layers, shapes, parameters and MACs at ``input_size`` px."""
    t = LayerTable((3, input_size, input_size), activation)
    index = 0
    for item in CONFIGS[depth]:
        if item == "M":
            t.maxpool(f"features.{index}", 2, 2)
            index += 1
            continue
        t.conv(f"features.{index}", item, 3, 1, 1)
        index += 1
        if batch_norm:
            t.batchnorm(f"features.{index}")
            index += 1
        t.act(f"features.{index}")
        index += 1
    t.adaptive_avgpool("avgpool", POOLED)
    t.flatten("flatten")
    t.linear("classifier.0", HIDDEN)
    t.act("classifier.1")
    t.dropout("classifier.2")
    t.linear("classifier.3", HIDDEN)
    t.act("classifier.4")
    t.dropout("classifier.5")
    t.linear("classifier.6", num_classes)
    return t.rows


def _register(depth: int, batch_norm: bool) -> None:
    name = f"vgg{depth}{'_bn' if batch_norm else ''}"
    file_name, acc1, acc5 = CHECKPOINTS[(depth, batch_norm)]

    def describe(num_classes, activation, input_size):
        return describe_vgg(depth, batch_norm, num_classes, activation, input_size)

    def build(num_classes: int, activation: Activation) -> VGG:
        return VGG(depth, batch_norm, num_classes, activation)

    build.__name__ = build.__qualname__ = name
    weights = {"IMAGENET1K_V1": PretrainedWeights(f"https://download.pytorch.org/models/{file_name}", acc1, acc5)}
    register_model(name, describe=describe, weights=weights)(build)


for _depth in CONFIGS:
    for _bn in (False, True):
        _register(_depth, _bn)
