"""``convzoo compare``: many reports side by side — the picture of how deep networks differ.

One Markdown table (model, arch/variant, params, GMACs, top-1, top-5, images/s, p50 latency,
provider) and a plot of top-1 accuracy against GMACs with marker area proportional to params.
"""

from __future__ import annotations

import json
from pathlib import Path

from convzoo.plugins import atomic
from convzoo.plugins.report import variant

COLUMNS = ("model", "arch / variant", "params (M)", "GMACs", "top-1 %", "top-5 %", "images/s", "p50 ms", "provider")


def load(paths: list[str | Path]) -> list[dict]:
    reports = []
    for path in paths:
        try:
            report = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a JSON report ({exc})") from exc
        if not isinstance(report, dict) or "metrics" not in report or "model" not in report:
            raise ValueError(f"{path}: not a convzoo evaluation report")
        reports.append(report)
    return reports


def row(report: dict) -> dict:
    """The comparable figures of one report (None where the report does not have them)."""
    model = report["model"] if isinstance(report["model"], dict) else {"name": str(report["model"])}
    card = model.get("card") or {}
    metrics = report["metrics"]
    latency = metrics.get("latency") or {}
    macs = card.get("macs")
    providers = (report.get("runtime") or {}).get("providers") or []
    return {
        "model": model.get("name", "?"),
        "arch": card.get("arch"),
        "variant": variant(card) or None,
        "params": card.get("params"),
        "gmacs": macs / 1e9 if macs else None,
        "top1": metrics.get("top1"),
        "top5": metrics.get("top5"),
        "images_per_second": latency.get("images_per_second"),
        "p50_ms": latency.get("p50_ms"),
        "provider": providers[0] if providers else None,
    }


def _cell(value, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def table(rows: list[dict]) -> str:
    """The Markdown comparison table, best top-1 first."""
    ordered = sorted(rows, key=lambda r: -(r["top1"] if r["top1"] is not None else -1))
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for r in ordered:
        arch = " / ".join(x for x in (r["arch"], r["variant"]) if x) or "–"
        params = r["params"] / 1e6 if r["params"] else None
        cells = [r["model"], arch, _cell(params, 2), _cell(r["gmacs"], 3), _cell(r["top1"], 3),
                 _cell(r["top5"], 3), _cell(r["images_per_second"], 1), _cell(r["p50_ms"], 2), r["provider"] or "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: str | Path) -> int:
    """Top-1 against GMACs (marker area ~ params); returns how many models were plotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r for r in rows if r["gmacs"] is not None and r["top1"] is not None]
    figure, axes = plt.subplots(figsize=(7, 5), dpi=120)
    for r in points:
        size = 20 + 400 * (r["params"] or 0) / max((p["params"] or 1) for p in points)
        axes.scatter(r["gmacs"], r["top1"], s=size, alpha=0.6)
        axes.annotate(r["model"], (r["gmacs"], r["top1"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    axes.set_xlabel("GMACs per image (224x224)")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_title("Accuracy vs compute (marker area ~ parameters)")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return len(points)


def compare(paths: list[str | Path], output: str | Path | None = None, plot_path: str | Path | None = None) -> str:
    """Build the table (and plot); write the table to ``output`` when given; return it."""
    rows = [row(r) for r in load(paths)]
    text = table(rows)
    if output:
        atomic.write_text(output, "# Model comparison\n\n" + text)
    if plot_path:
        plot(rows, plot_path)
    return text
