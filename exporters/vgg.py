"""VGG 11/13/16/19, with and without batch norm, with torchvision's keys.

Keys: ``features.<i>`` numbered as torchvision's ``make_layers`` numbers them (a
convolution, then its batch norm at ``i+1`` for ``_bn``, then the activation), and
``classifier.{0,3,6}``; with ``prelu`` also each activation site's ``weight``.
"""

from __future__ import annotations

import torch
from torch import nn

from convzoo.exporters.activations import DEFAULT_ACTIVATION, Activation, get_activation
from convzoo.exporters.registry import PretrainedWeights, register_model

# Output channels of each 3x3 convolution; "M" is a 2x2/2 max-pool (the paper's configurations A, B, D, E).
CONFIGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    def __init__(self, features: nn.Sequential, num_classes: int, activation: Activation) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            activation.module(4096),
            nn.Dropout(p=0.5),
            nn.Linear(4096, 4096),
            activation.module(4096),
            nn.Dropout(p=0.5),
            nn.Linear(4096, num_classes),
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
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def make_layers(config: list[int | str], batch_norm: bool, activation: Activation) -> nn.Sequential:
    """The convolutional part: each convolution (then its batch norm) then an activation site."""
    layers: list[nn.Module] = []
    in_channels = 3
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(activation.module(v))
        in_channels = v
    return nn.Sequential(*layers)


def _vgg(depth: int, batch_norm: bool, num_classes: int, activation: str | Activation) -> VGG:
    variant = get_activation(activation)
    return VGG(make_layers(CONFIGS[depth], batch_norm, variant), num_classes, variant)


def _v1(file_name: str, acc1: float, acc5: float) -> dict[str, PretrainedWeights]:
    return {"IMAGENET1K_V1": PretrainedWeights(f"https://download.pytorch.org/models/{file_name}", acc1, acc5)}


@register_model(weights=_v1("vgg11-8a719046.pth", 69.020, 88.628))
def vgg11(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> VGG:
    """VGG-11 (configuration A)."""
    return _vgg(11, False, num_classes, activation)


@register_model(weights=_v1("vgg11_bn-6002323d.pth", 70.370, 89.810))
def vgg11_bn(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> VGG:
    """VGG-11 with batch norm."""
    return _vgg(11, True, num_classes, activation)


@register_model(weights=_v1("vgg13-19584684.pth", 69.928, 89.246))
def vgg13(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> VGG:
    """VGG-13 (configuration B)."""
    return _vgg(13, False, num_classes, activation)


@register_model(weights=_v1("vgg13_bn-abd245e5.pth", 71.586, 90.374))
def vgg13_bn(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> VGG:
    """VGG-13 with batch norm."""
    return _vgg(13, True, num_classes, activation)


@register_model(weights=_v1("vgg16-397923af.pth", 71.592, 90.382))
def vgg16(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> VGG:
    """VGG-16 (configuration D)."""
    return _vgg(16, False, num_classes, activation)


@register_model(weights=_v1("vgg16_bn-6c64b313.pth", 73.360, 91.516))
def vgg16_bn(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> VGG:
    """VGG-16 with batch norm."""
    return _vgg(16, True, num_classes, activation)


@register_model(weights=_v1("vgg19-dcbb9e9d.pth", 72.376, 90.876))
def vgg19(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> VGG:
    """VGG-19 (configuration E)."""
    return _vgg(19, False, num_classes, activation)


@register_model(weights=_v1("vgg19_bn-c79401a0.pth", 74.218, 91.842))
def vgg19_bn(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> VGG:
    """VGG-19 with batch norm."""
    return _vgg(19, True, num_classes, activation)
