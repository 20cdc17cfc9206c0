"""``convzoo summary``: per-layer kind, output shape, parameters and MACs, with totals.

The rows come from the architecture's own module, built and run once on the meta device
(see :mod:`convzoo.exporters.layer_rows`): no second description of the network to keep in step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from convzoo.exporters.activations import DEFAULT_ACTIVATION, get_activation
from convzoo.exporters.layer_rows import ConvWindow, Layer, layer_rows
from convzoo.exporters.registry import get_architecture


@dataclass(frozen=True)
class Summary:
    arch: str
    activation: str
    num_classes: int
    input_size: int
    layers: tuple[Layer, ...]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def to_dict(self) -> dict:
        return {
            "arch": self.arch,
            "activation": self.activation,
            "num_classes": self.num_classes,
            "input_size": self.input_size,
            "layers": [_row(layer) for layer in self.layers],
            "params": self.params,
            "macs": self.macs,
        }

    def card_layers(self) -> list[dict]:
        """The rows for the model card: ``to_dict``'s, and each convolution's window
        (``conv``: input_shape, kernel, stride, padding, bias), so a reader of the card can
        recompute the row's output size and parameters."""
        return [_row(layer) | ({"conv": _window(layer.conv)} if layer.conv else {}) for layer in self.layers]

    def format(self) -> str:
        """A text table, one row per layer, then the totals."""
        header = ("layer", "kind", "output shape", "params", "MACs")
        rows = [
            (l.name, l.kind, "x".join(map(str, l.output_shape)), f"{l.params:,}", f"{l.macs:,}") for l in self.layers
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
        line = "  ".join
        out = [line(h.ljust(w) if i < 3 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
        out += [line(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
        out.append(
            f"{self.arch} ({self.activation}, {self.num_classes} classes, {self.input_size}x{self.input_size}): "
            f"{self.params:,} params, {self.macs / 1e9:.3f} GMACs"
        )
        return "\n".join(out)


def _row(layer: Layer) -> dict:
    return {
        "name": layer.name,
        "kind": layer.kind,
        "output_shape": list(layer.output_shape),
        "params": layer.params,
        "macs": layer.macs,
    }


def _window(conv: ConvWindow) -> dict:
    return asdict(conv) | {"input_shape": list(conv.input_shape)}


def summarize(
    arch: str, activation: str = DEFAULT_ACTIVATION, num_classes: int = 1000, input_size: int = 224
) -> Summary:
    """The summary of ``arch`` with the given variant, head and input size."""
    if num_classes < 1:
        raise ValueError(f"--num-classes must be positive, got {num_classes}")
    if input_size < 1:
        raise ValueError(f"--input-size must be positive, got {input_size}")
    spec = get_architecture(arch)
    variant = get_activation(activation)
    with torch.device("meta"):
        model = spec.build(num_classes, variant).eval()
    try:
        layers = layer_rows(model, (3, input_size, input_size))
    except ValueError as exc:
        raise ValueError(f"{arch} cannot run on a {input_size}x{input_size} px input: {exc}") from None
    return Summary(arch, activation, num_classes, input_size, tuple(layers))
