"""The case registry: a case is a function ``(Context) -> list[Figure]`` in a module of
``benchmarks.cases``, registered with ``@case``. Every module there is imported, so adding
a case is adding a module.

    @case("runtime", "ONNX Runtime vs PyTorch eager", order=1)
    def run(context: Context) -> list[Figure]: ...
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import cases


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    run: Callable
    order: int = 100
    default: bool = True  # run when no --cases are named


CASES: dict[str, Case] = {}


def case(name: str, title: str, *, order: int = 100, default: bool = True):
    """Register the decorated function as case ``name``."""

    def register(run: Callable) -> Callable:
        if name in CASES:
            raise ValueError(f"benchmark case {name!r} is registered twice")
        CASES[name] = Case(name, title, run, order, default)
        return run

    return register


def discover() -> list[Case]:
    """Import every module of ``benchmarks.cases``; the registered cases in order."""
    for module in pkgutil.iter_modules(cases.__path__):
        importlib.import_module(f"{cases.__name__}.{module.name}")
    return sorted(CASES.values(), key=lambda c: (c.order, c.name))


def select(names: str | None) -> list[Case]:
    """The cases ``names`` (comma-separated) asks for, or every default case."""
    known = discover()
    if not names:
        return [c for c in known if c.default]
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in CASES]
    if unknown:
        raise ValueError(f"unknown benchmark case(s) {', '.join(unknown)}; known: {', '.join(c.name for c in known)}")
    return [c for c in known if c.name in wanted]
