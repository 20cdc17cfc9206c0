"""Keep every path taken from a request or a config inside the model repository.

A model name from a request must be one folder name (no separators, not ``.``/``..``); a
file a config names (model file, labels) must stay in its model's folder once symlinks are
resolved. Both checks touch no file: names are checked as text, paths by ``resolve()``.
ONNX external data is ONNX Runtime's to check: it refuses locations outside the model's
folder (absolute, ``..`` or a symlink), and the repository tests prove it.
"""

from __future__ import annotations

from pathlib import Path


def check_name(name: str) -> str:
    """``name`` if it names a folder directly inside the repository; ValueError otherwise."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise ValueError(f"model name {name!r} is not a folder name (no '/', '\\', '..' or NUL)")
    return name


def inside(folder: Path, path: Path, what: str) -> Path:
    """``path`` resolved (symlinks followed); ValueError if it leads outside ``folder``."""
    resolved = path.resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise ValueError(f"{what} {path} leads outside {folder}")
    return resolved
