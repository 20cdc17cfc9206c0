"""``convzoo compare``'s robustness table, from real reports on drawn robustness sets."""

from __future__ import annotations

import json

import pytest
from evalsupport import model
from robustsupport import c_cells, cell_errors, robustness_reports

from convzoo.base.datasets.imagenet_c import BENCHMARK
from convzoo.plugins.compare_html import comparison
from convzoo.plugins.corruption_error import ALEXNET_CLEAN_ERROR, ALEXNET_ERRORS


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    return robustness_reports(root, model(root / "synthetic.onnx"), BENCHMARK)


def test_robustness_row_holds_clean_mce_relative_and_a_r_sketch(reports, cli):
    code, out, err = cli("compare", *reports.values())
    assert code == 0, err
    errors = cell_errors(c_cells(BENCHMARK))
    means = {c: sum(errors[c].values()) / 5 for c in BENCHMARK}
    mce = sum(100 * means[c] / ALEXNET_ERRORS[c] for c in BENCHMARK) / 15
    relative = sum(100 * (means[c] - 0.25) / (ALEXNET_ERRORS[c] - ALEXNET_CLEAN_ERROR) for c in BENCHMARK) / 15
    robust = out.split("## Robustness")[1]
    row = next(line for line in robust.splitlines() if line.startswith("| synthetic"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:] == ["75.000", f"{mce:.2f}", f"{relative:.2f}", "50.000", "100.000", "75.000", "–"]
    data = comparison([json.loads(p.read_text()) for p in reports.values()], list(reports))
    (entry,) = data["robustness"]
    assert entry["relative_mce"] == pytest.approx(
        relative, rel=1e-12
    )  # no clean error in the C run: from the clean report
    assert entry["errors"]["fog"] == {str(s): 100.0 * e for s, e in errors["fog"].items()}


def test_no_robustness_reports_no_robustness_table(reports, cli):
    code, out, _ = cli("compare", reports["clean"])
    assert code == 0 and "Robustness" not in out
