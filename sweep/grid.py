"""The sweep's grid: one cell per (architecture, activation, precision), and what its model card must say.

A model already in the repository is kept when its card records the cell's architecture,
activation (with its parameters), precision, input size, class count and weights; otherwise
the cell is exported again.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from convzoo.exporters.activations import get_activation
from convzoo.exporters.pipeline import default_name
from convzoo.exporters.precision import PRECISIONS
from convzoo.exporters.registry import get_architecture
from convzoo.exporters.weights import OFFICIAL_TAGS, sha256_of

NUM_CLASSES = 1000  # the sweep evaluates on ImageNet: every model has the 1000-class head


@dataclass(frozen=True)
class Cell:
    arch: str
    activation: str
    precision: str

    @property
    def name(self) -> str:
        """The model's name in the repository (and its report's file name)."""
        return default_name(self.arch, self.activation, self.precision)


def names(text: str, what: str) -> list[str]:
    """A comma-separated option as a list without blanks or repeats; ValueError when empty."""
    items = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not items:
        raise ValueError(f"--{what} names nothing")
    return items


def cells(archs: str, activations: str, precisions: str) -> list[Cell]:
    """Every cell of the grid, checked before any work starts (unknown names are errors)."""
    grid = [names(archs, "archs"), names(activations, "activations"), names(precisions, "precisions")]
    for arch in grid[0]:
        get_architecture(arch)
    for activation in grid[1]:
        get_activation(activation)
    for precision in grid[2]:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    return [Cell(*combination) for combination in itertools.product(*grid)]


def wanted_weights(spec: str, arch: str, seed: int) -> dict:
    """The entries of the card's ``weights`` that ``--weights spec`` determines."""
    if spec == "random":
        return {"source": "random", "seed": seed}
    if spec in OFFICIAL_TAGS:
        default = get_architecture(arch).default_weights
        return {"source": default if spec == "DEFAULT" else spec}
    return {"source": spec, "sha256": sha256_of_file(spec)}


def sha256_of_file(path: str) -> str:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"checkpoint not found: {path} (expected random, {', '.join(OFFICIAL_TAGS)} or a .pth file)"
        )
    return sha256_of(file)


def card_matches(card: dict, cell: Cell, weights: dict, input_size: int) -> bool:
    """Whether an existing model's card is the one this cell would export."""
    recorded = card.get("weights") or {}
    return (
        card.get("arch") == cell.arch
        and card.get("activation") == get_activation(cell.activation).describe()
        and card.get("precision", "fp32") == cell.precision
        and card.get("input_size") == input_size
        and card.get("num_classes") == NUM_CLASSES
        and all(recorded.get(key) == value for key, value in weights.items())
    )
