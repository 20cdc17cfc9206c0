"""Which optional extra a missing module belongs to, and the one line that says how to install it.

A serving install (``pip install convzoo``) leaves out PyTorch and the ONNX exporter's needs;
``export``, ``summary`` and ``sweep`` import them only when they run, so a missing one surfaces
as a ``ModuleNotFoundError`` at the command boundary (cli/commands.py).
"""

from __future__ import annotations

# Top-level modules of the `export` extra (pyproject.toml [project.optional-dependencies]).
EXPORT_MODULES = frozenset({"torch", "onnxscript", "onnxconverter_common"})
CPU_TORCH = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The install hint for a module of the ``export`` extra, or ``None`` for any other module."""
    top = (exc.name or "").partition(".")[0]
    if top not in EXPORT_MODULES:
        return None
    return (
        f"needs {top}, which a serving install leaves out: pip install 'convzoo[export]' "
        f"(for the CPU-only build of torch, first: {CPU_TORCH})"
    )
