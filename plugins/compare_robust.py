"""``convzoo compare``'s robustness table: one row per model across its clean and robustness reports.

A model (same name and file hash) may have a report on clean images, one on ImageNet-C (or a
``--corrupt`` run), and ones on ImageNet-A, -R and -Sketch. The row sets them side by side:
clean top-1, mCE, relative mCE (from the corruption report, or recomputed here from its table
and the clean report's top-1 when the run had no clean error), and A/R/Sketch top-1 (A and R
over their 200 classes). The per-corruption table of each model feeds the HTML heatmap.
"""

from __future__ import annotations

from convzoo.plugins.compare import cell, row
from convzoo.plugins.corruption_error import ALEXNET, summarise

ROBUST_LAYOUTS = {"imagenet-c": "C", "imagenet-a": "A", "imagenet-r": "R", "imagenet-sketch": "Sketch"}
COLUMNS = (
    "model",
    "arch / variant",
    "clean top-1 %",
    "mCE %",
    "relative mCE %",
    "ImageNet-A top-1 %",
    "ImageNet-R top-1 %",
    "Sketch top-1 %",
    "not in mCE",
)


def corruption_table(report: dict) -> dict | None:
    """The report's ``corruption`` entry, or None."""
    table = (report.get("metrics") or {}).get("corruption")
    return table if isinstance(table, dict) else None


def _baseline(report: dict) -> dict:
    for plugin in report.get("plugins") or []:
        if plugin.get("name") == "corruption" and (plugin.get("options") or {}).get("baseline"):
            return plugin["options"]["baseline"]
    return ALEXNET


def _relative_mce(report: dict, clean_top1: float | None) -> float | None:
    """Relative mCE from the report's table and a clean top-1 (percent), when the report lacks it."""
    table = corruption_table(report)
    if table is None or clean_top1 is None:
        return None
    errors = {c: {int(s): e / 100.0 for s, e in cells.items()} for c, cells in table["errors"].items()}
    return summarise(errors, (100.0 - clean_top1) / 100.0, _baseline(report))["relative_mce"]


def robustness_rows(reports: list[dict]) -> list[dict]:
    """One row per model (name and file hash) holding any robustness report; in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for report in reports:
        model = report.get("model") if isinstance(report.get("model"), dict) else {}
        groups.setdefault((model.get("name"), model.get("sha256")), []).append(report)
    rows = []
    for held in groups.values():
        layouts = {(r.get("dataset") or {}).get("layout"): r for r in held}
        corrupted = next((r for r in held if corruption_table(r)), None)
        if corrupted is None and not set(layouts) & set(ROBUST_LAYOUTS):
            continue
        clean = next(
            (
                r
                for r in held
                if (r.get("dataset") or {}).get("layout") not in ROBUST_LAYOUTS and not corruption_table(r)
            ),
            None,
        )
        first = row(held[0])
        clean_top1 = row(clean)["top1"] if clean else None
        table = corruption_table(corrupted) if corrupted else None
        relative = table.get("relative_mce") if table else None
        if table and relative is None:
            relative = _relative_mce(corrupted, clean_top1)
        rows.append(
            {
                "model": first["model"],
                "arch": " / ".join(x for x in (first["arch"], first["variant"]) if x) or None,
                "params": first["params"],
                "gmacs": first["gmacs"],
                "clean_top1": clean_top1,
                "mce": table.get("mce") if table else None,
                "relative_mce": relative,
                "missing": table.get("missing") if table else None,
                "baseline": table.get("baseline") if table else None,
                "errors": table.get("errors") if table else None,
                **{
                    f"{short.lower()}_top1": row(layouts[name])["top1"] if name in layouts else None
                    for name, short in ROBUST_LAYOUTS.items()
                    if short != "C"
                },
            }
        )
    return rows


def robustness_table(rows: list[dict]) -> str:
    """The Markdown robustness table, lowest mCE first (models without one last)."""
    ordered = sorted(rows, key=lambda r: (r["mce"] is None, r["mce"] or 0.0))
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for r in ordered:
        missing = r["missing"]
        cells = [
            r["model"],
            r["arch"] or "–",
            cell(r["clean_top1"], 3),
            cell(r["mce"], 2),
            cell(r["relative_mce"], 2),
            cell(r["a_top1"], 3),
            cell(r["r_top1"], 3),
            cell(r["sketch_top1"], 3),
            "–" if not missing else (f"{len(missing)} corruptions" if len(missing) > 3 else ", ".join(missing)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    baselines = sorted({r["baseline"] for r in rows if r["baseline"]})
    note = (
        "mCE and relative mCE in percent of the baseline's ("
        + "; ".join(baselines or [ALEXNET["name"]])
        + "); lower is better. ImageNet-A and -R top-1 over their 200 classes."
    )
    return "\n".join(lines) + "\n\n" + note + "\n"
