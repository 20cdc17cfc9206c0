"""Summary rows read off a module on the meta device: leaf modules, operations written in a
``forward``, a container's own parameters, a module called twice, and a failing call."""

import pytest
import torch
from torch import nn

from convzoo.exporters.layer_rows import ConvWindow, Layer, layer_rows


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, kernel_size=(3, 1), stride=(2, 1), padding=(1, 0))
        self.scale = nn.Parameter(torch.ones(4, 1, 1))
        self.mix = nn.Parameter(torch.ones(8, 8))

    def forward(self, x):
        out = self.conv(x)
        out = out * self.scale
        out = out @ self.mix
        out = out + out
        out += 1
        return out


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.shared = nn.ReLU(inplace=True)
        self.block = Block()
        self.head = nn.Linear(4 * 4 * 8, 5)

    def forward(self, x):
        x = self.stem(x)
        x = self.shared(x)
        x = self.block(x)
        x = self.shared(x)
        x = torch.flatten(x, 1)
        x = self.head(x)
        return x


def test_rows_follow_the_calls_with_shapes_params_and_macs():
    with torch.device("meta"):
        net = Net().eval()
    rows = layer_rows(net, (3, 8, 8))
    assert rows == [
        Layer(
            "stem", "Conv2d 3x3/1", (4, 8, 8), 3 * 4 * 9 + 4, 3 * 4 * 9 * 8 * 8, ConvWindow((3, 8, 8), 3, 1, 1, True)
        ),
        Layer("shared", "relu", (4, 8, 8), 0, 0),
        Layer("block.conv", "Conv2d 3x1/2x1", (4, 4, 8), 4 * 4 * 3 + 4, 4 * 4 * 3 * 4 * 8),  # not square: no window
        Layer("block.mul", "Mul", (4, 4, 8), 0, 0),
        Layer("block.matmul", "Matmul", (4, 4, 8), 0, 4 * 4 * 8 * 8),
        Layer("block.add", "Add", (4, 4, 8), 0, 0),
        Layer("block.add_1", "Add", (4, 4, 8), 0, 0),  # out += 1
        Layer("block", "Block", (4, 4, 8), 4 + 8 * 8, 0),  # the container's own parameters
        Layer("shared", "relu", (4, 4, 8), 0, 0),  # called again: its parameters count once
        Layer("flatten", "Flatten", (128,), 0, 0),
        Layer("head", "Linear", (5,), 128 * 5 + 5, 128 * 5),
    ]
    assert sum(row.params for row in rows) == sum(p.numel() for p in net.parameters())


def test_a_call_that_cannot_run_names_its_layer():
    with torch.device("meta"):
        net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 4, 5))
    with pytest.raises(ValueError, match=r"^2: .*Kernel size can't be greater than actual input size"):
        layer_rows(net, (3, 8, 8))
    rows = layer_rows(net, (3, 14, 14))
    assert [(row.name, row.output_shape) for row in rows] == [("0", (4, 12, 12)), ("1", (4, 6, 6)), ("2", (4, 2, 2))]
