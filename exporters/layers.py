"""Analytic layer accounting: output shapes, parameter counts and MACs from formulas.

Shapes follow ``out = floor((W - F + 2P) / S) + 1``; a convolution has
``F·F·C_in·C_out (+ C_out bias)`` parameters and ``F·F·C_in·C_out·H_out·W_out`` MACs, a
linear layer ``C_in·C_out (+ C_out)`` parameters and ``C_in·C_out`` MACs. Batch norm
counts its affine weight and bias (running statistics are buffers, not parameters).
Only convolutions and linear layers count MACs. No torch here: this is arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

from convzoo.exporters.activations import Activation

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ConvWindow:
    """What a convolution row's formulas need: its input shape (C_in, H, W), F, S, P and bias."""

    input_shape: Shape
    kernel: int
    stride: int
    padding: int
    bias: bool


@dataclass(frozen=True)
class Layer:
    """One row of a summary: a layer's state_dict prefix, kind, output shape, params, MACs
    (and for a convolution the window its output size and parameters follow from)."""

    name: str
    kind: str
    output_shape: Shape
    params: int
    macs: int
    conv: ConvWindow | None = None


def conv_output(size: int, kernel: int, stride: int, padding: int) -> int:
    """Spatial output size of a convolution or pooling window."""
    out = (size - kernel + 2 * padding) // stride + 1
    if out <= 0:
        raise ValueError(f"input of {size} px is too small for kernel {kernel}, stride {stride}, padding {padding}")
    return out


class LayerTable:
    """Builds the rows of a network in order, tracking the current activation shape."""

    def __init__(self, input_shape: Shape, activation: Activation) -> None:
        self.shape = tuple(input_shape)
        self.activation = activation
        self.rows: list[Layer] = []

    def _add(
        self, name: str, kind: str, shape: Shape, params: int = 0, macs: int = 0, conv: ConvWindow | None = None
    ) -> None:
        self.rows.append(Layer(name, kind, tuple(shape), params, macs, conv))
        self.shape = tuple(shape)

    def conv(
        self,
        name: str,
        out_channels: int,
        kernel: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        source: Shape | None = None,
    ) -> None:
        """A square Conv2d applied to ``source`` (default: the current shape)."""
        c_in, h, w = source or self.shape
        h_out, w_out = conv_output(h, kernel, stride, padding), conv_output(w, kernel, stride, padding)
        weights = kernel * kernel * c_in * out_channels
        self._add(
            name,
            f"Conv2d {kernel}x{kernel}/{stride}",
            (out_channels, h_out, w_out),
            weights + (out_channels if bias else 0),
            weights * h_out * w_out,
            ConvWindow((c_in, h, w), kernel, stride, padding, bias),
        )

    def batchnorm(self, name: str) -> None:
        self._add(name, "BatchNorm2d", self.shape, 2 * self.shape[0])

    def act(self, name: str) -> None:
        """The variant's activation; ``prelu`` learns one slope per channel."""
        self._add(name, self.activation.name, self.shape, self.activation.num_params(self.shape[0]))

    def maxpool(self, name: str, kernel: int, stride: int, padding: int = 0) -> None:
        c, h, w = self.shape
        self._add(
            name,
            f"MaxPool2d {kernel}x{kernel}/{stride}",
            (c, conv_output(h, kernel, stride, padding), conv_output(w, kernel, stride, padding)),
        )

    def adaptive_avgpool(self, name: str, size: int) -> None:
        self._add(name, "AdaptiveAvgPool2d", (self.shape[0], size, size))

    def flatten(self, name: str) -> None:
        total = 1
        for dim in self.shape:
            total *= dim
        self._add(name, "Flatten", (total,))

    def dropout(self, name: str) -> None:
        self._add(name, "Dropout", self.shape)

    def linear(self, name: str, out_features: int) -> None:
        (in_features,) = self.shape
        self._add(
            name, "Linear", (out_features,), in_features * out_features + out_features, in_features * out_features
        )

    def residual_add(self, name: str, shortcut: Shape) -> None:
        if tuple(shortcut) != self.shape:
            raise ValueError(f"{name}: residual shapes differ: {shortcut} vs {self.shape}")
        self._add(name, "Add", self.shape)
