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


def evaluate(data: Path, onnx_model: Path, out: Path, *extra) -> dict:
    """``convzoo eval`` (top-1/top-5) into ``out``; the report."""
    import json

    from evalsupport import convzoo

    argv = ["eval", "--data", data, "--model", onnx_model, "--plugins", "top1,top5", "--workers", 0]
    assert convzoo(*argv, "--no-progress", "--device", "cpu", "--output", out, *extra) == 0
    return json.loads(out.read_text())


# Clean images: (label position, drawn position); 3 of 4 right.
CLEAN = [(0, 0), (1, 1), (2, 5), (3, 3)]


def robustness_reports(root: Path, onnx_model: Path, corruptions) -> dict[str, Path]:
    """One model's clean, ImageNet-C, -A, -R and -Sketch reports over drawn copies; their paths by set."""
    paths = {}
    for n, (label, drawn) in enumerate(CLEAN):
        synthetic.draw(root / "clean" / wnid(CLASSES[label]) / f"{n}.JPEG", drawn)
    draw_imagenet_c(root / "c", c_cells(corruptions))
    # Model classes 4, 5, 6 are in ImageNet-A's 200 and 6 in ImageNet-R's. A: one right, one taken
    # by class 6 (50%); R: both right (100%), the second only because class 7 is outside R's subset.
    for folder, draws in (("imagenet-a", [(4, 4), (5, 6)]), ("imagenet-r", [(6, 6), (6, 7)])):
        for n, (label, drawn) in enumerate(draws):
            synthetic.draw(root / folder / wnid(CLASSES[label]) / f"{n}.JPEG", drawn)
    for n, (label, drawn) in enumerate([(0, 0), (4, 6), (7, 7), (8, 8)]):
        synthetic.draw(root / "sketch" / wnid(CLASSES[label]) / f"{n}.png", drawn)
    for name, folder in [
        ("clean", "clean"),
        ("c", "c"),
        ("a", "imagenet-a"),
        ("r", "imagenet-r"),
        ("sketch", "sketch"),
    ]:
        paths[name] = root / f"{name}.json"
        evaluate(root / folder, onnx_model, paths[name])
    return paths
