"""``convzoo compare --html``: one self-contained page, checked in a real headless Chromium."""

from __future__ import annotations

import json

from browser import XSS, require_browser, screenshot

from convzoo.base import imagenet

require_browser()


def report(name, params, macs, top1, top5, ips, per_class=None, confusion=None):
    metrics = {"top1": top1, "top5": top5, "latency": {"images_per_second": ips, "p50_ms": 1000 / ips}}
    if per_class is not None:
        worst = sorted(per_class, key=lambda c: (per_class[c], c))[:2]
        metrics["per_class"] = {
            "classes": len(per_class),
            "mean_accuracy": sum(per_class.values()) / len(per_class),
            "accuracy": {str(c): a for c, a in per_class.items()},
            "worst": [
                {"index": c, "name": imagenet.class_names()[c], "accuracy": per_class[c], "count": 4} for c in worst
            ],
        }
    if confusion is not None:
        metrics["confusion"] = confusion
    return {
        "model": {"name": name, "card": {"arch": "resnet18", "activation": "relu", "params": params, "macs": macs}},
        "dataset": {"layout": "devkit", "size": 16},
        "count": 16,
        "metrics": metrics,
        "runtime": {"providers": ["CPUExecutionProvider"]},
    }


NAMES = imagenet.class_names()
REPORTS = {
    "a.json": report(
        "resnet18",
        11_689_512,
        1_814_000_000,
        62.5,
        87.5,
        120.0,
        per_class={0: 100.0, 1: 25.0, 2: 75.0, 3: 50.0},
        confusion=[{"true": 1, "predicted": 3, "true_name": NAMES[1], "predicted_name": NAMES[3], "count": 3}],
    ),
    "b.json": report(
        XSS,  # a model name that is markup: shown as text, never run
        61_100_840,
        714_000_000,
        37.5,
        75.0,
        300.0,
        per_class={0: 50.0, 1: 75.0, 2: 0.0, 3: 25.0},
        confusion=[{"true": 2, "predicted": 0, "true_name": XSS, "predicted_name": NAMES[0], "count": 4}],
    ),
}


def chart_points(page):
    return page.evaluate(
        """() => {
          const chart = Chart.getChart(document.getElementById("compare-plot"));
          return {
            points: chart.data.datasets.map(d => [d.label, d.data[0].x, d.data[0].y]),
            x: chart.options.scales.x.title.text,
            y: chart.options.scales.y.title.text,
          };
        }"""
    )


def test_compare_html_is_one_offline_file_with_table_plot_classes_and_pairs(tmp_path, cli, page):
    paths = []
    for name, data in REPORTS.items():
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(data))
    html = tmp_path / "report.html"
    code, _, err = cli("compare", *paths, "--html", html)
    assert code == 0, err
    text = html.read_text()
    assert "<script src" not in text and "<link" not in text and XSS not in text  # inline, data escaped

    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(html.as_uri())
    page.wait_for_selector("#compare-table tbody tr")
    assert all(url.startswith(("file:", "data:", "blob:")) for url in requests), requests

    rows = page.locator("#compare-table tbody tr")
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
    assert [c[0] for c in cells] == ["resnet18", XSS]  # best top-1 first, the markup as text
    assert cells[0][1:6] == ["resnet18 / relu", "11.69", "1.814", "62.500", "87.500"]
    assert cells[1][6] == "300.0" and cells[1][10] == "b.json"

    plotted = chart_points(page)
    assert plotted["x"] == "GMACs per image" and plotted["y"] == "top-1 accuracy (%)"
    assert sorted(plotted["points"]) == sorted([["resnet18", 1.814, 62.5], [XSS, 0.714, 37.5]])

    # Keyboard only: Tab to the x-axis select and step it to parameters, then to images per second.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "compare-x":
            break
    assert page.evaluate("document.activeElement.id") == "compare-x"
    page.keyboard.press("ArrowDown")
    plotted = chart_points(page)
    assert plotted["x"] == "parameters (millions)"
    assert sorted(plotted["points"]) == sorted([["resnet18", 11.689512, 62.5], [XSS, 61.10084, 37.5]])
    page.keyboard.press("ArrowDown")
    assert sorted(chart_points(page)["points"]) == sorted([["resnet18", 120.0, 62.5], [XSS, 300.0, 37.5]])
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")
    assert chart_points(page)["y"] == "top-5 accuracy (%)"

    # Per-class: the mean, every model's worst classes, each model's accuracy side by side; then a search.
    assert f"Mean per-class accuracy: resnet18 62.50%; {XSS} 37.50%" in page.inner_text("main")
    per_class = page.locator("#per-class-table tbody tr")
    shown = {
        per_class.nth(i).locator("th").inner_text(): per_class.nth(i).locator("td").all_inner_texts()
        for i in range(per_class.count())
    }
    assert set(shown) == {f"{NAMES[c]} ({c})" for c in (1, 2, 3)}
    assert [v.strip() for v in shown[f"{NAMES[2]} (2)"]] == ["75.0%", "0.0%"]
    page.fill("#class-filter", NAMES[0])
    page.wait_for_function("document.querySelectorAll('#per-class-table tbody tr').length === 1")
    assert [v.strip() for v in per_class.nth(0).locator("td").all_inner_texts()] == ["100.0%", "50.0%"]

    pairs = page.locator("#confusion table")
    assert pairs.count() == 2
    assert pairs.nth(1).locator("caption").inner_text() == XSS
    assert pairs.nth(1).locator("tbody td").all_inner_texts() == [f"{XSS} (2)", f"{NAMES[0]} (0)", "4"]
    assert page.locator("img").count() == 0
    page.fill("#class-filter", "")
    page.select_option("#compare-x", "gmacs")
    page.select_option("#compare-y", "top1")
    screenshot(page, "compare")


def test_compare_html_without_per_class_or_pairs_says_so(tmp_path, cli, page):
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(report("alexnet", 61_100_840, None, 10.0, 30.0, 50.0)))
    assert cli("compare", path, "--html", tmp_path / "plain.html")[0] == 0
    page.goto((tmp_path / "plain.html").as_uri())
    page.wait_for_selector("#compare-table")
    body = page.inner_text("main")
    assert "No report holds per-class accuracy" in body and "No report holds confused pairs" in body
    assert "Not plotted (no GMACs per image or accuracy): alexnet" in body
