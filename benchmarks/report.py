"""The results: a Markdown table for people, JSON with every raw sample for machines."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchmarks.measure import Figure

PACKAGES = ("convzoo", "onnxruntime-gpu", "torch", "numpy", "onnx", "grpcio", "protobuf", "pillow")
UNITS = {
    "items_per_s": ("img/s", 1),
    "p50": ("ms", 1e3),
    "p99": ("ms", 1e3),
    "seconds": ("s", 1),
    "gflops": ("GFLOP/s", 1),
    "bytes": ("MB", 1e-6),
    "overhead": ("µs", 1e6),
    "transfer": ("µs", 1e6),  # client p50 minus the server's compute
    "cpu": ("ms", 1e3),
}


def machine() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    memory = next(
        (int(line.split()[1]) * 1024 for line in _lines("/proc/meminfo") if line.startswith("MemTotal")), None
    )
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "memory_bytes": memory,
        "load_average": os.getloadavg(),
    }


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def versions() -> dict:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    found["git"] = commit.stdout.strip() or None
    return found


def _value(figure: Figure, side: str) -> str:
    unit, scale = UNITS.get(figure.key, ("", 1))
    return f"{figure.median(side) * scale:.3g} {unit}".strip()


def markdown(figures: list[Figure]) -> str:
    """One row per figure: both sides' medians, the median ratio, its per-round range, the target."""
    rows = [
        "| case | figure | A | B | A/B (median) | rounds (min–max) | target | met |",
        "| --- | --- | --- | --- | ---: | --- | --- | --- |",
    ]
    for f in figures:
        met = "—" if f.met is None else ("yes" if f.met else "**no**")
        rows.append(
            f"| {f.case} | {f.name} | {f.a} {_value(f, 'a')} | {f.b} {_value(f, 'b')} | {f.ratio:.2f} "
            f"| {min(f.ratios):.2f}–{max(f.ratios):.2f} ({len(f.ratios)}) | {f.target or '—'} | {met} |"
        )
    return "\n".join(rows) + "\n"


def figure_json(figure: Figure) -> dict:
    target = None if figure.target is None else {"value": figure.target.value, "at_least": figure.target.at_least}
    return {
        "case": figure.case,
        "name": figure.name,
        "a": figure.a,
        "b": figure.b,
        "key": figure.key,
        "ratio": figure.ratio,
        "ratios": figure.ratios,
        "a_median": figure.median("a"),
        "b_median": figure.median("b"),
        "target": target,
        "met": figure.met,
        "extra": figure.extra,
        "samples": [{"a": a, "b": b} for a, b in figure.pairs],
    }
