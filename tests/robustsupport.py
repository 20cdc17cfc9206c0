"""Small generated copies of the robustness sets (ImageNet-C, -A, -R, -Sketch) with known answers.

Images are drawn for the synthetic red-level model (``synthetic.py``): an image drawn at a
class's position is predicted as that class, and the next guesses are the nearest positions.
Expectations follow from that design, never from running the model.
"""

from __future__ import annotations

from pathlib import Path

import synthetic
from evalsupport import CLASSES, wnid

from convzoo.base import imagenet

C_SIZE = (synthetic.PREPROCESSING.crop_size,) * 2  # ImageNet-C files are already the crop's size


def c_cells(corruptions, severities=(1, 2, 3, 4, 5)) -> list[tuple[str, int, int, int]]:
    """``(corruption, severity, label position, drawn position)``: one image a cell, wrong by a fixed pattern."""
    cells = []
    for row, corruption in enumerate(corruptions):
        for severity in severities:
            position = (row + severity) % len(CLASSES)
            wrong = (row * 5 + severity) % 3 == 0
            cells.append((corruption, severity, position, (position + 1) % len(CLASSES) if wrong else position))
    return cells


def draw_imagenet_c(root: Path, cells, family: str = "") -> None:
    """``ROOT[/family]/<corruption>/<severity>/<wnid>/<n>.JPEG`` for each cell."""
    for n, (corruption, severity, label, drawn) in enumerate(cells):
        folder = root / family if family else root
        synthetic.draw(folder / corruption / str(severity) / wnid(CLASSES[label]) / f"{n}.JPEG", drawn, size=C_SIZE)


def cell_errors(cells) -> dict[str, dict[int, float]]:
    """The top-1 error of each cell (one image: 0 or 1)."""
    errors: dict[str, dict[int, float]] = {}
    for corruption, severity, label, drawn in cells:
        errors.setdefault(corruption, {})[severity] = float(label != drawn)
    return errors


def subset_wnids(name: str) -> list[str]:
    return [imagenet.classes()[i].wnid for i in imagenet.subset(name)]
