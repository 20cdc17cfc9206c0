"""The activation variants: one table of names, defaults and ONNX operators.

A variant replaces every activation in a network. ``prelu`` learns one slope per
channel (He et al., 2015), so it adds parameters and state_dict keys (``<site>.weight``);
the others are parameter-free and keep torchvision's keys unchanged. ``step`` is the
binary step ``x > 0 -> 1 else 0`` and exports as ONNX ``Greater`` + ``Cast``.

This module does not import torch; :meth:`Activation.module` does, when called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Activation:
    """One variant: its name, its parameters (with defaults) and how it exports."""

    name: str
    onnx_op: str
    params: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def describe(self) -> dict:
        """JSON-able name and parameters (what the model card records)."""
        return {"name": self.name, **dict(self.params)}

    def module(self, channels: int):
        """A fresh ``torch.nn.Module`` for one activation site."""
        from torch import nn

        from convzoo.exporters.binary_step import BinaryStep

        builders = {
            "relu": lambda: nn.ReLU(inplace=True),
            "leaky_relu": lambda: nn.LeakyReLU(self.params["negative_slope"], inplace=True),
            "prelu": lambda: nn.PReLU(num_parameters=channels, init=self.params["init"]),
            "elu": lambda: nn.ELU(alpha=self.params["alpha"], inplace=True),
            "tanh": nn.Tanh,
            "sigmoid": nn.Sigmoid,
            "linear": nn.Identity,
            "step": BinaryStep,
        }
        return builders[self.name]()


def _variant(name: str, onnx_op: str, **params) -> Activation:
    return Activation(name, onnx_op, MappingProxyType(params))


ACTIVATIONS: MappingProxyType = MappingProxyType(
    {
        a.name: a
        for a in (
            _variant("relu", "Relu"),
            _variant("leaky_relu", "LeakyRelu", negative_slope=0.01),
            _variant("prelu", "PRelu", init=0.25),
            _variant("elu", "Elu", alpha=1.0),
            _variant("tanh", "Tanh"),
            _variant("sigmoid", "Sigmoid"),
            _variant("linear", "Identity"),
            _variant("step", "Greater+Cast"),
        )
    }
)
DEFAULT_ACTIVATION = "relu"


def get_activation(name: str | Activation) -> Activation:
    """The variant called ``name`` (a variant is returned as is); ``LookupError`` naming the known ones otherwise."""
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise LookupError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}") from None
