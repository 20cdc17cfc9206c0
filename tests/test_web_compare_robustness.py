"""``compare --html``'s robustness table and corruption x severity heatmaps, in a real headless Chromium."""

from __future__ import annotations

import json

import pytest
from browser import XSS, require_browser, screenshot
from evalsupport import model
from robustsupport import c_cells, cell_errors, robustness_reports

from convzoo.base.datasets.imagenet_c import BENCHMARK

require_browser()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    paths = robustness_reports(root, model(root / "synthetic.onnx"), BENCHMARK)
    for path in paths.values():  # the model's name is markup: shown as text, never run
        report = json.loads(path.read_text())
        report["model"]["name"] = XSS
        path.write_text(json.dumps(report))
    return paths


def test_heatmap_and_robustness_table(reports, cli, page, tmp_path):
    html = tmp_path / "robust.html"
    code, _, err = cli("compare", *reports.values(), "--html", html)
    assert code == 0, err
    assert XSS not in html.read_text()
    page.goto(html.as_uri())
    page.wait_for_selector("#robustness-table tbody tr")
    cells = page.locator("#robustness-table tbody tr").nth(0).locator("td").all_inner_texts()
    assert cells[0] == XSS and cells[2] == "75.000" and cells[5:8] == ["50.000", "100.000", "75.000"]
    heatmap = page.locator("#heatmaps table")
    assert heatmap.count() == 1 and heatmap.locator("caption").inner_text().startswith(XSS)
    rows = heatmap.locator("tbody tr")
    assert rows.count() == 15
    errors = cell_errors(c_cells(BENCHMARK))
    fog = next(i for i in range(15) if rows.nth(i).locator("th").inner_text() == "fog")
    assert rows.nth(fog).locator("td").all_inner_texts() == [f"{100 * errors['fog'][s]:.1f}" for s in range(1, 6)]
    page.select_option("#compare-y", "mce")
    plotted = page.evaluate("Chart.getChart(document.getElementById('compare-plot')).data.datasets.length")
    assert plotted == 1  # only the ImageNet-C report has an mCE
    page.select_option("#compare-y", "top1")
    screenshot(page, "compare-robustness")
