"""The comparison for a browser: the JSON the compare view draws, and ``compare --html`` as
one self-contained file (style, chart library, scripts and data inline; opens offline).

The same JSON feeds the page that ``convzoo serve --reports DIR`` serves, so the table, the
plot and the per-class figures are computed here once, not again in JavaScript.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path

from convzoo.base import atomic, imagenet, web
from convzoo.plugins.compare import row
from convzoo.plugins.compare_robust import robustness_rows

# Order matters: dom.js defines what compare.js uses.
SCRIPTS = ("vendor/chart.umd.min.js", "dom.js", "compare.js")


def _model(report: dict, name: str) -> dict:
    r = row(report)
    precision = r["precision"] if r["precision"] != "fp32" else None
    metrics = report.get("metrics") or {}
    per_class = metrics.get("per_class") if isinstance(metrics.get("per_class"), dict) else None
    confusion = metrics.get("confusion") if isinstance(metrics.get("confusion"), list) else None
    return {
        "name": r["model"],
        "report": name,
        "arch": " / ".join(str(x) for x in (r["arch"], r["variant"], precision) if x) or None,
        "precision": r["precision"],
        "params": r["params"],
        "gmacs": r["gmacs"],
        "top1": r["top1"],
        "top5": r["top5"],
        "images_per_second": r["images_per_second"],
        "p50_ms": r["p50_ms"],
        "provider": r["provider"],
        "count": report.get("count"),
        "per_class": per_class,
        "confusion": confusion,
        "dataset": (report.get("dataset") or {}).get("layout"),
        "mce": metrics.get("mce"),
        "relative_mce": metrics.get("relative_mce"),
    }


def comparison(reports: list[dict], names: list[str]) -> dict:
    """What the compare view draws: one entry per report (``names``: where each came from)
    and the class names of every class index a per-class figure mentions."""
    models = [_model(report, name) for report, name in zip(reports, names)]
    indices = set()
    for m in models:
        if m["per_class"]:
            indices.update(str(i) for i in (m["per_class"].get("accuracy") or {}))
    names_table = imagenet.class_names()
    class_names = {
        i: names_table[int(i)] for i in sorted(indices, key=int) if i.isdigit() and int(i) < len(names_table)
    }
    return {"models": models, "class_names": class_names, "robustness": robustness_rows(reports)}


def _script_json(data: dict) -> str:
    """JSON that cannot end its <script> element or open a comment inside it."""
    text = json.dumps(data, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


BOOT = """
ConvzooCompare.render(document.getElementById("compare"),
  JSON.parse(document.getElementById("comparison-data").textContent));
"""


def _inline(code: str) -> str:
    if "</script" in code.lower() or "</style" in code.lower():
        raise ValueError("an inlined file contains a closing tag")
    return f"\n{code}\n"


def _hash(inline: str) -> str:
    """The CSP source that allows exactly this inline script or style."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(inline.encode("utf-8")).digest()).decode() + "'"


def standalone(data: dict, title: str = "convzoo model comparison") -> str:
    """The whole comparison page as one HTML document. Its Content-Security-Policy allows only
    these inline scripts and style (by hash) and nothing from the network."""
    scripts = [_inline(web.asset(name).decode("utf-8")) for name in SCRIPTS] + [BOOT]
    style = _inline(web.asset("style.css").decode("utf-8"))
    policy = (
        f"default-src 'none'; script-src {' '.join(_hash(s) for s in scripts)}; style-src {_hash(style)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    inline_scripts = "\n".join(f"<script>{s}</script>" for s in scripts[:-1])
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{style}</style>
</head>
<body>
<header><h1>{html.escape(title)}</h1></header>
<main>
<section id="compare" aria-live="polite"><p class="note">Drawing the comparison…</p></section>
</main>
<script type="application/json" id="comparison-data">{_script_json(data)}</script>
{inline_scripts}
<script>{BOOT}</script>
</body>
</html>
"""


def write(reports: list[dict], paths: list[str | Path], output: str | Path) -> Path:
    """Write ``compare --html``'s file atomically."""
    data = comparison(reports, [Path(p).name for p in paths])
    atomic.write_text(output, standalone(data))
    return Path(output)
