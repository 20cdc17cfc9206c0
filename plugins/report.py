"""The evaluation report: JSON as docs/report.md describes (docs/report.schema.json), and a Markdown summary.

``{"model": {name, source, card...}, "dataset": {layout, root, size, ...}, "count": N,
"metrics": {"top1": %, "top5": %, ...}, "preprocessing": {...}, "runtime": {...},
"timing": {...}, "skipped": {"count", "files"}, "settings": {...}}``
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict
from pathlib import Path

from convzoo.base import atomic
from convzoo.base.datasets import Dataset, manifest
from convzoo.base.preprocessing import Preprocessing
from convzoo.plugins import registry
from convzoo.plugins.evaluate import Outcome, Settings

REPORT_VERSION = 1


def collect_metrics(outcome: Outcome) -> dict:
    """Every plugin's results in one ``metrics`` mapping (two plugins may not share a key)."""
    metrics: dict = {}
    for plugin in outcome.plugins:
        for key, value in plugin.compute().items():
            if key in metrics:
                raise ValueError(f"plugins disagree on who reports {key!r}")
            metrics[key] = value
    return metrics


def build(
    model: dict, runtime: dict, dataset: dict, recipe: Preprocessing, settings: Settings, outcome: Outcome
) -> dict:
    """The report of one finished evaluation."""
    return {
        "report_version": REPORT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": model,
        "dataset": dataset,
        "count": outcome.evaluated,
        "metrics": collect_metrics(outcome),
        "plugins": registry.identify(outcome.plugins),
        "preprocessing": recipe.to_dict(),
        "runtime": runtime,
        "settings": asdict(settings),
        "timing": {
            "wall_seconds": outcome.wall_seconds,
            "images_per_second": outcome.evaluated / outcome.wall_seconds if outcome.wall_seconds > 0 else 0.0,
            "resumed": outcome.resumed,
        },
        "skipped": {"count": len(outcome.skipped), "files": [asdict(f) for f in outcome.skipped]},
    }


def dataset_entry(dataset: Dataset, outcome: Outcome) -> dict:
    """The report's ``dataset``: the layout as read, how much of it was used, and that part's manifest hash."""
    return {
        **dataset.describe(),
        "used": outcome.total,
        "manifest_sha256": manifest.sha256(dataset.samples[: outcome.total]),
    }


def variant(card: dict) -> str:
    """The card's activation variant as text: ``relu``, ``leaky_relu(slope=0.1)``; '' if none."""
    activation = card.get("activation") or card.get("variant") or ""
    if isinstance(activation, dict):
        options = ", ".join(f"{k}={v}" for k, v in activation.items() if k != "name")
        return f"{activation.get('name', '')}({options})" if options else str(activation.get("name", ""))
    return str(activation)


def _fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def corruption_lines(table: dict) -> list[str]:
    """The ``corruption`` plugin's table in Markdown: top-1 error % per corruption and severity, and CE."""
    severities = ("1", "2", "3", "4", "5")
    lines = [
        "",
        f"Top-1 error (%) by corruption and severity; CE in % of {table.get('baseline')}'s:",
        "",
        "| corruption | " + " | ".join(f"severity {s}" for s in severities) + " | CE |",
        "|" + " --- |" * (len(severities) + 2),
    ]
    for name, cells in table["errors"].items():
        row = [f"{cells[s]:.1f}" if s in cells else "–" for s in severities]
        ce = table["ce"].get(name)
        lines.append(f"| {name} | " + " | ".join(row) + f" | {'–' if ce is None else f'{ce:.1f}'} |")
    if table.get("missing"):
        lines += ["", "Not in mCE (a corruption needs all five severities): " + ", ".join(table["missing"])]
    return lines


def markdown(report: dict) -> str:
    """A short human summary of a report."""
    model, dataset, metrics = report["model"], report["dataset"], report["metrics"]
    card = model.get("card") or {}
    lines = [
        f"# Evaluation of {model.get('name', '?')}",
        "",
        f"- model: `{model.get('source', '')}`"
        + (f" ({card.get('arch')}, {variant(card)})" if card.get("arch") else ""),
        f"- dataset: `{dataset['root']}` ({dataset['layout']}, labels from {dataset['labels_from']}), "
        f"{report['count']} of {dataset['used']} images evaluated, {report['skipped']['count']} skipped",
        f"- runtime: {report['runtime'].get('backend')} on {', '.join(report['runtime'].get('providers', []))}",
        f"- wall time {report['timing']['wall_seconds']:.1f} s ({report['timing']['images_per_second']:.1f} images/s end to end)",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    lines += [f"| {key} | {_fmt(value)} |" for key, value in metrics.items() if not isinstance(value, (dict, list))]
    for key in ("latency", "calibration"):
        if isinstance(metrics.get(key), dict):
            lines += [f"| {key}.{k} | {_fmt(v)} |" for k, v in metrics[key].items()]
    if metrics.get("per_class"):
        lines += [
            "",
            "Worst classes: " + ", ".join(f"{w['name']} ({w['accuracy']:.1f}%)" for w in metrics["per_class"]["worst"]),
        ]
    if isinstance(metrics.get("corruption"), dict):
        lines += corruption_lines(metrics["corruption"])
    if metrics.get("confusion"):
        lines += [
            "",
            "Most confused: "
            + ", ".join(f"{c['true_name']} -> {c['predicted_name']} ({c['count']})" for c in metrics["confusion"]),
        ]
    if report["skipped"]["files"]:
        lines += ["", "Skipped files:", *(f"- `{f['sample_id']}`: {f['error']}" for f in report["skipped"]["files"])]
    return "\n".join(lines) + "\n"


def write(report: dict, path: str | Path) -> Path:
    """Write the JSON report and its Markdown summary (``.md`` next to it), atomically."""
    path = Path(path)
    atomic.write_text(path, json.dumps(report, indent=2) + "\n")
    summary = path.with_suffix(".md")
    atomic.write_text(summary, markdown(report))
    return summary
