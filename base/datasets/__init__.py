"""ImageNet dataset layouts as users have them (docs/datasets.md), one module per layout.

Layouts are ``Layout`` classes registered under the entry-point group ``convzoo.datasets``
(the built-ins too), so another distribution can add one. ``open_dataset(path, "auto")``
asks every layout in detection order (``Layout.order``); when several match it names them
all and asks for ``--format``. A ``fallback`` layout (flat files with shipped labels) is
chosen only when no other layout matches.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib.metadata import entry_points
from pathlib import Path

from convzoo.base.datasets.dataset import Dataset, Sample
from convzoo.base.datasets.layout import Layout

GROUP = "convzoo.datasets"

__all__ = ["GROUP", "Dataset", "Layout", "Sample", "describe", "detect", "formats", "layouts", "open_dataset"]


@functools.cache
def layouts() -> dict[str, Layout]:
    """Every installed layout by entry-point name, in detection order (``order``, then name)."""
    found = {}
    for entry in entry_points(group=GROUP):
        layout = entry.load()
        if not (isinstance(layout, type) and issubclass(layout, Layout)):
            raise TypeError(f"dataset layout {entry.name!r} ({entry.value}) is not a convzoo Layout")
        found[entry.name] = layout()
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))


def formats() -> tuple[str, ...]:
    """What ``--format`` accepts: ``auto`` and every installed layout, in detection order."""
    return ("auto", *layouts())


def _installed() -> dict[str, Layout]:
    """``layouts()``, or a clear error when the entry points are missing (a stale install)."""
    found = layouts()
    if not found:
        raise LookupError(f"no dataset layouts are installed (entry-point group {GROUP}); reinstall convzoo")
    return found


def describe() -> list[dict]:
    """Name, detection order, providing distribution and one-line description of each layout."""
    dists = {entry.name: entry.dist for entry in entry_points(group=GROUP)}
    rows = []
    for name, layout in layouts().items():
        doc = (type(layout).__doc__ or "").strip().splitlines()
        dist = dists.get(name)
        rows.append(
            {
                "name": name,
                "order": layout.order,
                "fallback": layout.fallback,
                "distribution": f"{dist.name} {dist.version}" if dist else "",
                "description": doc[0] if doc else "",
            }
        )
    return rows


def detect(path: Path) -> str:
    """The one layout ``path`` is in; ``ValueError`` naming the candidates otherwise."""
    installed = _installed()
    offered = [name for name, layout in installed.items() if path.is_dir() or layout.reads_files]
    candidates = [name for name in offered if installed[name].detect(path)]
    shadowed = {installed[name].specialises for name in candidates}
    candidates = [name for name in candidates if name not in shadowed]
    preferred = [name for name in candidates if not installed[name].fallback]
    chosen = preferred or candidates
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        raise ValueError(f"{path}: no known dataset layout found; use --format one of {', '.join(installed)}")
    raise ValueError(f"{path}: ambiguous dataset layout, candidates: {', '.join(chosen)}; choose one with --format")


def open_dataset(path: str | Path, layout: str = "auto") -> Dataset:
    """Read the dataset at ``path`` in ``layout`` (or the detected one); it reports that layout's name."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such dataset folder")
    if layout == "auto":
        layout = detect(path)
    installed = _installed()
    if layout not in installed:
        raise ValueError(f"unknown dataset format {layout!r}; expected one of {', '.join(formats())}")
    return dataclasses.replace(installed[layout].read(path), layout=layout)
