"""What a dataset layout is: a class registered under the entry-point group ``convzoo.datasets``.

The built-in layouts register there like any third-party one. ``--format auto`` asks every
installed layout, in ascending ``order`` (ties by name), whether a path is in its layout.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from convzoo.base.datasets.dataset import Dataset


class Layout(ABC):
    """One way an ImageNet copy sits on disk: recognise it, and read its labelled samples."""

    # Auto-detection tries layouts by ascending order and lists candidates in it; the
    # built-ins use 100..700 in steps of 100, so a third-party layout can slot in between.
    order: ClassVar[int] = 1000
    # Chosen by auto-detection only when no other layout matches (e.g. labels shipped with convzoo).
    fallback: ClassVar[bool] = False
    # Whether ``--data`` may name a file in this layout (a folder is always offered).
    reads_files: ClassVar[bool] = False
    # A layout stored like another (ImageNet-A is an ImageFolder of 200 classes) names it here:
    # when both match, auto-detection takes the specialised one.
    specialises: ClassVar[str | None] = None

    @abstractmethod
    def detect(self, root: Path) -> bool:
        """Whether ``root`` looks like this layout (cheap: no image is opened)."""

    @abstractmethod
    def read(self, root: Path) -> Dataset:
        """The samples at ``root`` in a fixed order, or ``ValueError`` naming what is wrong."""
