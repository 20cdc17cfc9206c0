"""Bearer tokens kept in files: the server checks one, clients send one."""

from __future__ import annotations

from pathlib import Path


def read_token(path: str | Path) -> str:
    """The token in a file (surrounding whitespace ignored); ValueError if it is empty."""
    token = Path(path).read_text(encoding="utf-8").strip()
    if not token or not token.isprintable() or not token.isascii():
        raise ValueError(f"{path}: the token must be one line of printable ASCII")
    return token
