"""Creating a benchmark tool's own virtual environment and installing packages into it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def install(venv: Path, packages: list[str]) -> str | None:
    """Create ``venv`` if it has no python, pip-install ``packages`` into it; None, or one line saying why not."""
    python = venv / "bin" / "python"
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        if not python.is_file():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *packages],
            check=True,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return f"cannot install {' '.join(packages)} into {venv}: {detail.strip()[-300:]}"
    return None
