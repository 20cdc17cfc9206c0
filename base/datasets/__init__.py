"""ImageNet dataset layouts as users have them (DESIGN.md §7), one module per layout.

``open_dataset(path, "auto")`` detects the layout; when several match it names them all and
asks for ``--format``. A layout with ``FALLBACK = True`` (flat files with shipped labels) is
chosen only when no other layout matches.
"""

from __future__ import annotations

from pathlib import Path

from convzoo.base.datasets import csvfile, devkit, flat, imagefolder, imagenetv2, kaggle, mlperf
from convzoo.base.datasets.dataset import Dataset, Sample

LAYOUTS = {m.NAME: m for m in (imagefolder, devkit, flat, kaggle, imagenetv2, mlperf, csvfile)}
FORMATS = ("auto", *LAYOUTS)

__all__ = ["FORMATS", "LAYOUTS", "Dataset", "Sample", "detect", "open_dataset"]


def detect(path: Path) -> str:
    """The one layout ``path`` is in; ``ValueError`` naming the candidates otherwise."""
    modules = LAYOUTS.items() if path.is_dir() else [(csvfile.NAME, csvfile)]
    candidates = [name for name, m in modules if m.detect(path)]
    preferred = [name for name in candidates if not getattr(LAYOUTS[name], "FALLBACK", False)]
    chosen = preferred or candidates
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        raise ValueError(f"{path}: no known dataset layout found; use --format one of {', '.join(LAYOUTS)}")
    raise ValueError(f"{path}: ambiguous dataset layout, candidates: {', '.join(chosen)}; choose one with --format")


def open_dataset(path: str | Path, layout: str = "auto") -> Dataset:
    """Read the dataset at ``path`` in ``layout`` (or the detected one)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such dataset folder")
    if layout == "auto":
        layout = detect(path)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown dataset format {layout!r}; expected one of {', '.join(FORMATS)}")
    return LAYOUTS[layout].read(path)
