"""Corruption error, mCE and relative mCE (Hendrycks & Dietterich, ICLR 2019), from an error table.

For a model f, corruption c and severity s, E(f, c, s) is the top-1 error on those images.

    CE(f, c)          = sum_s E(f, c, s) / sum_s E(base, c, s)
    relative CE(f, c) = sum_s (E(f, c, s) - E(f, clean)) / sum_s (E(base, c, s) - E(base, clean))
    mCE, relative mCE = the mean of CE / relative CE over the 15 benchmark corruptions

The baseline is AlexNet by default, through its published errors below; any model's report
can take its place (``convzoo eval --baseline REPORT.json``). A CE needs all five severities
and mCE all 15 benchmark corruptions: anything less is named in ``missing``, never averaged.
Errors and CEs are percentages (AlexNet's mCE is 100).
"""

from __future__ import annotations

from convzoo.base.datasets.imagenet_c import BENCHMARK, SEVERITIES

# AlexNet's top-1 error per benchmark corruption, the mean over severities 1-5, as published with
# Hendrycks & Dietterich's evaluation code: ALEXNET_ERR in AugMix's ImageNet script
# (https://github.com/google-research/augmix/blob/master/imagenet.py, "Raw AlexNet errors taken
# from https://github.com/hendrycks/robustness"), in the order of BENCHMARK.
ALEXNET_ERRORS = dict(
    zip(
        BENCHMARK,
        (
            0.886428,
            0.894468,
            0.922640,
            0.819880,
            0.826268,
            0.785948,
            0.798360,
            0.866816,
            0.826572,
            0.819324,
            0.564592,
            0.853204,
            0.646056,
            0.717840,
            0.606500,
        ),
    )
)
# AlexNet's clean top-1 error: 1 - 0.56522, torchvision's published acc@1 for the AlexNet
# checkpoint the reference ImageNet-C/test.py evaluates (the paper's table rounds it to 43.5%).
ALEXNET_CLEAN_ERROR = 0.43478
ALEXNET = {"name": "AlexNet (published errors)", "errors": ALEXNET_ERRORS, "clean_error": ALEXNET_CLEAN_ERROR}


def baseline_from_report(report: dict, source: str) -> dict:
    """A baseline (per-corruption mean errors as fractions, clean error) from a ``corruption`` report."""
    table = (report.get("metrics") or {}).get("corruption")
    if not isinstance(table, dict) or not table.get("mean_errors"):
        raise ValueError(f"{source}: the baseline report has no corruption table (evaluate it on ImageNet-C first)")
    clean = table.get("clean_error")
    return {
        "name": f"{(report.get('model') or {}).get('name', '?')} ({source})",
        "errors": {c: e / 100.0 for c, e in table["mean_errors"].items()},
        "clean_error": None if clean is None else clean / 100.0,
    }


def summarise(errors: dict[str, dict[int, float]], clean_error: float | None, baseline: dict) -> dict:
    """The report's ``corruption`` entry from ``errors[c][s]`` (fractions) and the model's clean error.

    ``baseline`` is ``{"name", "errors": {c: mean error}, "clean_error"}`` (fractions), ``ALEXNET`` by default.
    """
    complete = {c: rows for c, rows in errors.items() if set(rows) >= set(SEVERITIES)}
    means = {c: sum(rows[s] for s in SEVERITIES) / len(SEVERITIES) for c, rows in complete.items()}
    base_errors, base_clean = baseline["errors"], baseline.get("clean_error")
    ce = {c: 100.0 * m / base_errors[c] for c, m in means.items() if base_errors.get(c)}
    relative = {}
    if clean_error is not None and base_clean is not None:
        relative = {
            c: 100.0 * (m - clean_error) / (base_errors[c] - base_clean)
            for c, m in means.items()
            if c in base_errors and base_errors[c] != base_clean
        }
    missing = [c for c in BENCHMARK if c not in ce]
    result = {
        "errors": {c: {str(s): 100.0 * e for s, e in sorted(rows.items())} for c, rows in errors.items()},
        "mean_errors": {c: 100.0 * m for c, m in means.items()},
        "ce": ce,
        "relative_ce": relative,
        "clean_error": None if clean_error is None else 100.0 * clean_error,
        "baseline": baseline["name"],
        "missing": missing,
        "mce": None if missing else sum(ce[c] for c in BENCHMARK) / len(BENCHMARK),
        "relative_mce": None,
    }
    if not missing and all(c in relative for c in BENCHMARK):
        result["relative_mce"] = sum(relative[c] for c in BENCHMARK) / len(BENCHMARK)
    return result
