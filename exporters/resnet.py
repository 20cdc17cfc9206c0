"""ResNet 18/34/50/101/152 (v1.5: the stride sits on the 3x3 convolution), torchvision's keys.

Keys: ``conv1``, ``bn1``, ``layer{1..4}.{i}.conv{1,2[,3]}``, ``.bn*``, ``.downsample.{0,1}``,
``fc``. torchvision reuses one parameter-free ``relu`` per block; here every activation
site is its own module (``act``, ``layer*.*.act{1,2[,3]}``) so that ``prelu`` can learn
one slope per channel at each site; parameter-free variants add no keys.
"""

from __future__ import annotations

import torch
from torch import nn

from convzoo.exporters.activations import DEFAULT_ACTIVATION, Activation, get_activation
from convzoo.exporters.registry import PretrainedWeights, register_model

BASE = "https://download.pytorch.org/models/"


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None, activation: Activation
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = activation.module(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.act2 = activation.module(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.act1(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.act2(out)
        return out


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None, activation: Activation
    ) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = activation.module(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = activation.module(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample
        self.act3 = activation.module(planes * self.expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.act1(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = self.act2(out)
        out = self.conv3(out)
        out = self.bn3(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.act3(out)
        return out


class ResNet(nn.Module):
    def __init__(
        self, block: type[BasicBlock | Bottleneck], layers: list[int], num_classes: int, activation: Activation
    ) -> None:
        super().__init__()
        self._activation = activation
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.act = activation.module(self.inplanes)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self._init_weights()

    def _make_layer(self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int, stride: int = 1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self._activation)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, 1, None, self._activation))
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        """torchvision's initialisation for ResNet (no zero-init of the last BN)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.act(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def _weights(**checkpoints: tuple) -> dict[str, PretrainedWeights]:
    """``IMAGENET1K_V1=(file, acc@1, acc@5[, resize])`` -> official weights; V2 (torchvision's new recipe) resizes to 232."""
    return {tag: PretrainedWeights(BASE + file, *rest) for tag, (file, *rest) in checkpoints.items()}


@register_model(weights=_weights(IMAGENET1K_V1=("resnet18-f37072fd.pth", 69.758, 89.078)))
def resnet18(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> ResNet:
    """ResNet-18."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, get_activation(activation))


@register_model(weights=_weights(IMAGENET1K_V1=("resnet34-b627a593.pth", 73.314, 91.420)))
def resnet34(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> ResNet:
    """ResNet-34."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, get_activation(activation))


@register_model(
    weights=_weights(
        IMAGENET1K_V1=("resnet50-0676ba61.pth", 76.130, 92.862),
        IMAGENET1K_V2=("resnet50-11ad3fa6.pth", 80.858, 95.434, 232),
    ),
    default_weights="IMAGENET1K_V2",
)
def resnet50(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> ResNet:
    """ResNet-50 (v1.5)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, get_activation(activation))


@register_model(
    weights=_weights(
        IMAGENET1K_V1=("resnet101-63fe2227.pth", 77.374, 93.546),
        IMAGENET1K_V2=("resnet101-cd907fc2.pth", 81.886, 95.780, 232),
    ),
    default_weights="IMAGENET1K_V2",
)
def resnet101(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> ResNet:
    """ResNet-101 (v1.5)."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, get_activation(activation))


@register_model(
    weights=_weights(
        IMAGENET1K_V1=("resnet152-394f9c45.pth", 78.312, 94.046),
        IMAGENET1K_V2=("resnet152-f82ba261.pth", 82.284, 96.002, 232),
    ),
    default_weights="IMAGENET1K_V2",
)
def resnet152(*, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION) -> ResNet:
    """ResNet-152 (v1.5)."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes, get_activation(activation))
