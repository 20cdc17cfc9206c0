"""The benchmark suite runs end to end on a tiny model and writes well-formed JSON.
No timing is asserted: numbers on a shared machine are noise; the ratios are the product."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import registry  # noqa: E402
from benchmarks.measure import Figure, Target, rotate  # noqa: E402

CASES = {"runtime", "serving", "batching", "pipeline", "efficiency", "memory", "precision"}


@pytest.mark.slow
def test_quick_suite_writes_every_case_and_raw_sample(tmp_path):
    output = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--work-dir", str(tmp_path / "work"), "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("| case | figure |")
    results = json.loads(output.read_text())
    assert {"date", "command", "settings", "machine", "versions", "providers", "case_seconds", "figures"} <= set(
        results
    )
    assert results["settings"]["quick"] is True
    assert "CPUExecutionProvider" in results["providers"]
    assert results["machine"]["cpus"] >= 1 and results["versions"]["onnxruntime-gpu"]
    assert {f["case"] for f in results["figures"]} == CASES == set(results["case_seconds"])
    for figure in results["figures"]:
        assert math.isfinite(figure["ratio"]) and figure["ratio"] > 0
        assert len(figure["samples"]) == len(figure["ratios"]) >= results["settings"]["rounds"]
        for sample in figure["samples"]:
            assert figure["key"] in sample["a"] and figure["key"] in sample["b"]
    assert any(f["target"] for f in results["figures"])
    served = next(f for f in results["figures"] if f["case"] == "serving")
    assert served["samples"][0]["a"]["latencies"]


def test_cases_are_selectable_by_name():
    assert [c.name for c in registry.select("memory,runtime")] == ["runtime", "memory"]
    assert {c.name for c in registry.select(None)} >= CASES
    with pytest.raises(ValueError, match="unknown benchmark case"):
        registry.select("runtime,nope")


def test_a_figure_is_the_median_of_per_round_ratios():
    pairs = [({"x": 3.0}, {"x": 1.0}), ({"x": 1.0}, {"x": 1.0}), ({"x": 4.0}, {"x": 2.0})]
    figure = Figure("case", "name", "a", "b", "x", pairs, Target(1.5))
    assert figure.ratios == [3.0, 1.0, 2.0] and figure.ratio == 2.0 and figure.met
    assert not Target(1.5, at_least=False).met(2.0)


def test_rotate_measures_every_side_each_round_in_a_rotating_order():
    order = []
    measures = {side: (lambda side=side: order.append(side) or {"x": len(order)}) for side in "abc"}
    taken = rotate(measures, 4)
    assert "".join(order) == "abc" + "bca" + "cab" + "abc"
    assert [m["x"] for m in taken["a"]] == [1, 6, 8, 10]


def test_the_peers_case_runs_only_when_named():
    (peers,) = registry.select("peers")
    assert not peers.default and "peers" not in {c.name for c in registry.select(None)}
