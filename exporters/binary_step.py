"""The binary step activation as a torch module."""

from __future__ import annotations

import torch
from torch import nn


class BinaryStep(nn.Module):
    """``1`` where the input is positive, else ``0`` (exports as ``Greater`` + ``Cast``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > 0).to(x.dtype)
