"""``convzoo compare``: many reports side by side — the picture of how deep networks differ.

One Markdown table (model, arch/variant[/precision], params, GMACs, top-1, top-5, images/s,
p50 latency, provider) and a plot of top-1 accuracy against GMACs with marker area
proportional to params. When fp16/int8 reports are present, a second table sets each
against the fp32 report of the same model (same arch, variant, classes, input size and
weights) on the same data: top-1/top-5 deltas, and with ``measure`` the throughput ratio
of the two ONNX files timed together in this run (``convzoo.plugins.throughput``).
"""

from __future__ import annotations

import json
from pathlib import Path

from convzoo.base import atomic
from convzoo.plugins.report import variant
from convzoo.plugins.throughput import Measurement, interleaved

COLUMNS = ("model", "arch / variant", "params (M)", "GMACs", "top-1 %", "top-5 %", "images/s", "p50 ms", "provider")
PRECISION_COLUMNS = (
    "model",
    "precision",
    "fp32 model",
    "top-1 Δ (pp)",
    "top-5 Δ (pp)",
    "images/s",
    "fp32 images/s",
    "speed vs fp32",
)


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
    weights = card.get("weights") or {}
    dataset = report.get("dataset") or {}
    return {
        "model": model.get("name", "?"),
        "arch": card.get("arch"),
        "variant": variant(card) or None,
        "precision": card.get("precision") or ("fp32" if card.get("arch") else None),
        # what must match for two reports to be precision variants of one model on the same data
        "base": (
            card.get("arch"),
            variant(card),
            card.get("num_classes"),
            card.get("input_size"),
            weights.get("sha256") or weights.get("source"),
            dataset.get("layout"),
            dataset.get("root"),
            report.get("count"),
        ),
        "source": model.get("source"),
        "version": model.get("version"),
        "params": card.get("params"),
        "gmacs": macs / 1e9 if macs else None,
        "top1": metrics.get("top1"),
        "top5": metrics.get("top5"),
        "images_per_second": latency.get("images_per_second"),
        "p50_ms": latency.get("p50_ms"),
        "provider": providers[0] if providers else None,
    }


def cell(value, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def table(rows: list[dict]) -> str:
    """The Markdown comparison table, best top-1 first."""
    ordered = sorted(rows, key=lambda r: -(r["top1"] if r["top1"] is not None else -1))
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for r in ordered:
        precision = r["precision"] if r["precision"] != "fp32" else None
        arch = " / ".join(x for x in (r["arch"], r["variant"], precision) if x) or "–"
        params = r["params"] / 1e6 if r["params"] else None
        cells = [
            r["model"],
            arch,
            cell(params, 2),
            cell(r["gmacs"], 3),
            cell(r["top1"], 3),
            cell(r["top5"], 3),
            cell(r["images_per_second"], 1),
            cell(r["p50_ms"], 2),
            r["provider"] or "–",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def precision_pairs(rows: list[dict]) -> list[tuple[dict, dict]]:
    """(fp16/int8 row, its fp32 row) for every lower-precision report that has an fp32 partner."""
    fp32 = {}
    for r in rows:
        if r["precision"] == "fp32" and r["arch"]:
            fp32.setdefault(r["base"], r)
    return [(r, fp32[r["base"]]) for r in rows if r["precision"] not in (None, "fp32") and r["base"] in fp32]


def model_file(r: dict, repository: str | Path | None) -> Path | None:
    """The row's ONNX file: its report's local source, or ``<repository>/<name>/<version>/model.onnx``."""
    if r["source"] and Path(r["source"]).is_file():
        return Path(r["source"])
    if repository is None:
        return None
    folder = Path(repository) / r["model"]
    versions = [p.name for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []
    version = str(r["version"]) if r["version"] else max(versions, key=int, default=None)
    path = folder / str(version) / "model.onnx"
    return path if version and path.is_file() else None


def measure(
    pairs: list[tuple[dict, dict]], repository: str | Path | None = None, batch_size: int = 8, rounds: int = 20
) -> Measurement:
    """Time every model of ``pairs`` whose file is found, all in one interleaved run."""
    files = {}
    for pair in pairs:
        for r in pair:
            path = model_file(r, repository)
            if path is not None:
                files[r["model"]] = path
    return interleaved(files, batch_size, rounds)


def _delta(value, reference) -> float | None:
    return value - reference if value is not None and reference is not None else None


def precision_table(pairs: list[tuple[dict, dict]], measured: Measurement | None) -> str:
    """Each fp16/int8 model against its fp32 model: accuracy deltas and the measured speed ratio."""
    speed = measured.images_per_second if measured else {}
    lines = ["| " + " | ".join(PRECISION_COLUMNS) + " |", "|" + " --- |" * len(PRECISION_COLUMNS)]
    for low, full in pairs:
        mine, theirs = speed.get(low["model"]), speed.get(full["model"])
        ratio = f"{mine / theirs:.2f}x" if mine and theirs else "–"
        cells = [
            low["model"],
            low["precision"],
            full["model"],
            cell(_delta(low["top1"], full["top1"]), 3),
            cell(_delta(low["top5"], full["top5"]), 3),
            cell(mine, 1),
            cell(theirs, 1),
            ratio,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    note = (
        f"Speed vs fp32: {measured.describe()}; the reports' own images/s come from separate runs and are not used."
        if measured
        else "Speed vs fp32: not measured (run compare with --measure to time the ONNX files together)."
    )
    return "\n".join(lines) + "\n\n" + note + "\n"


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
    low, high = axes.get_ylim()
    axes.set_ylim(max(low, 0.0), min(high, 100.0))  # a percentage: no axis below 0 or above 100
    axes.set_title("Accuracy vs compute (marker area ~ parameters)")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return len(points)


def compare(
    paths: list[str | Path],
    output: str | Path | None = None,
    plot_path: str | Path | None = None,
    measure_speed: bool = False,
    repository: str | Path | None = None,
    batch_size: int = 8,
    rounds: int = 20,
) -> str:
    """Build the tables (and plot); write them to ``output`` when given; return them."""
    from convzoo.plugins.compare_robust import robustness_rows, robustness_table

    reports = load(paths)
    rows = [row(r) for r in reports]
    text = table(rows)
    robust = robustness_rows(reports)
    if robust:
        text += "\n## Robustness\n\n" + robustness_table(robust)
    pairs = precision_pairs(rows)
    if pairs:
        measured = measure(pairs, repository, batch_size, rounds) if measure_speed else None
        text += "\n" + precision_table(pairs, measured)
    if output:
        atomic.write_text(output, "# Model comparison\n\n" + text)
    if plot_path:
        plot(rows, plot_path)
    return text
