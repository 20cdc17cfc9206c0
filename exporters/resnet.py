"""ResNet 18/34/50/101/152 (v1.5: the stride sits on the 3x3 convolution), torchvision's keys.

Keys: ``conv1``, ``bn1``, ``layer{1..4}.{i}.conv{1,2[,3]}``, ``.bn*``, ``.downsample.{0,1}``,
``fc``. torchvision reuses one parameter-free ``relu`` per block; here every activation
site is its own module (``act``, ``layer*.*.act{1,2[,3]}``) so that ``prelu`` can learn
one slope per channel at each site; parameter-free variants add no keys.
"""

from __future__ import annotations

import torch
from torch import nn

from convzoo.exporters.activations import Activation
from convzoo.exporters.layers import LayerTable
from convzoo.exporters.registry import PretrainedWeights, register_model

STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))  # (planes, stride of the first block)
BASE = "https://download.pytorch.org/models/"


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int, activation: Activation) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = activation.module(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _downsample(inplanes, planes, stride)
        self.act2 = activation.module(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.act2(out + shortcut)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, activation: Activation) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = activation.module(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = activation.module(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = _downsample(inplanes, out, stride)
        self.act3 = activation.module(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.act3(out + shortcut)


def _downsample(inplanes: int, out: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and inplanes == out:
        return None
    return nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))


class ResNet(nn.Module):
    def __init__(self, block: type, depths: list[int], num_classes: int, activation: Activation) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act = activation.module(64)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        for index, ((planes, stride), depth) in enumerate(zip(STAGES, depths), start=1):
            blocks = []
            for i in range(depth):
                blocks.append(block(inplanes, planes, stride if i == 0 else 1, activation))
                inplanes = planes * block.expansion
            setattr(self, f"layer{index}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's initialisation for ResNet (no zero-init of the last BN)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def describe_resnet(bottleneck: bool, depths: list[int], num_classes: int, activation: Activation, input_size: int):
    """ResNet's layers, shapes, parameters and MACs at ``input_size`` px."""
    t = LayerTable((3, input_size, input_size), activation)
    t.conv("conv1", 64, 7, 2, 3, bias=False)
    t.batchnorm("bn1")
    t.act("act")
    t.maxpool("maxpool", 3, 2, 1)
    expansion = 4 if bottleneck else 1
    for index, ((planes, stride), depth) in enumerate(zip(STAGES, depths), start=1):
        for i in range(depth):
            p = f"layer{index}.{i}"
            s = stride if i == 0 else 1
            block_in = t.shape
            if bottleneck:
                t.conv(f"{p}.conv1", planes, 1, bias=False)
                t.batchnorm(f"{p}.bn1")
                t.act(f"{p}.act1")
                t.conv(f"{p}.conv2", planes, 3, s, 1, bias=False)
                t.batchnorm(f"{p}.bn2")
                t.act(f"{p}.act2")
                t.conv(f"{p}.conv3", planes * expansion, 1, bias=False)
                t.batchnorm(f"{p}.bn3")
            else:
                t.conv(f"{p}.conv1", planes, 3, s, 1, bias=False)
                t.batchnorm(f"{p}.bn1")
                t.act(f"{p}.act1")
                t.conv(f"{p}.conv2", planes, 3, 1, 1, bias=False)
                t.batchnorm(f"{p}.bn2")
            main = t.shape
            shortcut = block_in
            if s != 1 or block_in[0] != planes * expansion:
                t.conv(f"{p}.downsample.0", planes * expansion, 1, s, bias=False, source=block_in)
                t.batchnorm(f"{p}.downsample.1")
                shortcut = t.shape
            t.shape = main
            t.residual_add(f"{p}.add", shortcut)
            t.act(f"{p}.act{3 if bottleneck else 2}")
    t.adaptive_avgpool("avgpool", 1)
    t.flatten("flatten")
    t.linear("fc", num_classes)
    return t.rows


def _register(depth: int, bottleneck: bool, depths: list[int], checkpoints: dict[str, tuple]) -> None:
    name = f"resnet{depth}"
    block = Bottleneck if bottleneck else BasicBlock

    def describe(num_classes, activation, input_size):
        return describe_resnet(bottleneck, depths, num_classes, activation, input_size)

    def build(num_classes: int, activation: Activation) -> ResNet:
        return ResNet(block, depths, num_classes, activation)

    build.__name__ = build.__qualname__ = name
    weights = {tag: PretrainedWeights(BASE + file, *rest) for tag, (file, *rest) in checkpoints.items()}
    default = "IMAGENET1K_V2" if "IMAGENET1K_V2" in weights else "IMAGENET1K_V1"
    register_model(name, describe=describe, weights=weights, default_weights=default)(build)


# V2 weights (TorchVision's new training recipe) are evaluated with a 232 px resize.
_register(18, False, [2, 2, 2, 2], {"IMAGENET1K_V1": ("resnet18-f37072fd.pth", 69.758, 89.078)})
_register(34, False, [3, 4, 6, 3], {"IMAGENET1K_V1": ("resnet34-b627a593.pth", 73.314, 91.420)})
_register(
    50,
    True,
    [3, 4, 6, 3],
    {
        "IMAGENET1K_V1": ("resnet50-0676ba61.pth", 76.130, 92.862),
        "IMAGENET1K_V2": ("resnet50-11ad3fa6.pth", 80.858, 95.434, 232),
    },
)
_register(
    101,
    True,
    [3, 4, 23, 3],
    {
        "IMAGENET1K_V1": ("resnet101-63fe2227.pth", 77.374, 93.546),
        "IMAGENET1K_V2": ("resnet101-cd907fc2.pth", 81.886, 95.780, 232),
    },
)
_register(
    152,
    True,
    [3, 8, 36, 3],
    {
        "IMAGENET1K_V1": ("resnet152-394f9c45.pth", 78.312, 94.046),
        "IMAGENET1K_V2": ("resnet152-f82ba261.pth", 82.284, 96.002, 232),
    },
)
