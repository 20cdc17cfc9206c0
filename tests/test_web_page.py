"""The web page against a live ``convzoo serve`` (HTTP port, same process as gRPC), in a real
headless Chromium: the model table against the exported cards, a picture classified by both
exported models exactly as ``convzoo infer`` does, errors in the page, the token prompt, and
a comparison of two reports. Screenshots of each view go to out/screenshots/."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import onnx
import pytest
from browser import XSS, require_browser, screenshot
from PIL import Image
from playwright.sync_api import expect
from server_repository import classifier_config, start_server, write_broken, write_classifier

from convzoo.base.card import read_card

require_browser()
pytestmark = pytest.mark.slow  # two real exports (resnet18 variants at 32x32), ~1-2 min on 2 cores

EXPORTED = ("resnet18", "resnet18_elu")
LIMIT = 400_000  # --max-message-bytes: the "too large" picture is over it


def write_markup_model(repository):
    """A tiny classifier whose name, card and labels are markup: all must show as text."""
    folder = repository / XSS
    config = classifier_config("unused").replace('name: "unused"\n', "")  # the folder names it
    write_classifier(folder, config=config)
    path = folder / "1" / "model.onnx"
    model = onnx.load(str(path))
    card = {
        "arch": XSS,
        "activation": {"name": XSS},
        "params": 1930,
        "macs": 1920,
        "weights": {"source": XSS},
        "layers": [{"name": XSS, "kind": XSS, "output_shape": [10], "params": 1930, "macs": 1920}],
    }
    for prop in model.metadata_props:
        if prop.key == "card":
            prop.value = json.dumps(card)
    onnx.save(model, str(path))
    (folder / "labels.txt").write_text("".join(f"{XSS} {i}\n" for i in range(10)))


def report(name, macs, top1, ips):
    return {
        "model": {"name": name, "card": {"arch": "resnet18", "activation": "relu", "params": 11_181_642, "macs": macs}},
        "dataset": {"layout": "devkit", "size": 8},
        "count": 8,
        "metrics": {"top1": top1, "top5": 50.0, "latency": {"images_per_second": ips, "p50_ms": 2.0}},
        "runtime": {"providers": ["CPUExecutionProvider"]},
    }


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    from convzoo.exporters.pipeline import export_model

    root = tmp_path_factory.mktemp("web")
    repository = root / "repo"
    export_model("resnet18", repository, num_classes=10, input_size=32, progress=False)
    export_model("resnet18", repository, activation="elu", seed=1, num_classes=10, input_size=32, progress=False)
    write_markup_model(repository)
    write_broken(repository / "broken")
    reports = root / "reports"
    reports.mkdir()
    (reports / "a.json").write_text(json.dumps(report("resnet18", 37_000_000, 12.5, 400.0)))
    (reports / "b.json").write_text(json.dumps(report("resnet18_elu", 38_000_000, 25.0, 300.0)))
    picture = root / "picture.png"
    rng = np.random.default_rng(7)
    Image.fromarray((rng.random((48, 64, 3)) * 255).astype(np.uint8)).save(picture)
    server = start_server(repository, "--reports", str(reports), "--max-message-bytes", str(LIMIT))
    yield {"root": root, "repository": repository, "server": server, "picture": picture}
    assert server.stop() == 0


def open_page(page, zoo, view="models"):
    page.goto(f"http://127.0.0.1:{zoo['server'].http_port}/#{view}")
    page.wait_for_selector("body[data-ready=true]")


def cells(row):
    return [" ".join(c.split()) for c in row.locator("th, td").all_inner_texts()]


def test_model_table_matches_the_cards_and_a_layer_shows_its_formulas(page, zoo):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    open_page(page, zoo)
    origin = f"http://127.0.0.1:{zoo['server'].http_port}/"
    assert requests and all(url.startswith((origin, "data:", "blob:")) for url in requests), requests  # offline
    rows = {r.get_attribute("data-model"): r for r in page.locator("#model-table tbody tr").all()}
    assert set(rows) == {*EXPORTED, XSS, "broken"}
    for name in EXPORTED:
        card = read_card(zoo["repository"] / name / "1" / "model.onnx")
        options = ", ".join(f"{k}={v:g}" for k, v in card["activation"].items() if k != "name")
        activation = card["activation"]["name"] + (f"({options})" if options else "")
        expected = [
            name,
            "1",
            "READY",
            "resnet18",
            activation,
            "fp32",
            f"{card['params']:,}",
            f"{card['macs'] / 1e9:.3f}",
            "32×32",
            "cpu",
        ]
        assert cells(rows[name]) == expected
    assert cells(rows[XSS])[:4] == [XSS, "1", "READY", XSS]  # markup shown as text
    broken = cells(rows["broken"])
    assert broken[2].startswith("UNAVAILABLE (ONNX Runtime cannot load") and broken[3:] == ["–"] * 7

    # Keyboard: focus the model's button and press Enter; its card and layers open.
    rows["resnet18"].locator("button").focus()
    page.keyboard.press("Enter")
    card = read_card(zoo["repository"] / "resnet18" / "1" / "model.onnx")
    layers = page.locator("#layer-table tbody tr")
    assert layers.count() == len(card["layers"])
    for index in (0, len(card["layers"]) - 1):
        row, shown = card["layers"][index], cells(layers.nth(index))
        shape = "×".join(map(str, row["output_shape"]))
        assert shown[:5] == [row["name"], row["kind"], shape, f"{row['params']:,}", f"{row['macs']:,}"]
    detail = page.inner_text("#model-detail")
    assert f"seed\n{card['weights']['seed']}" in detail and "source\nrandom" in detail
    shown_diff = re.search(r"max_abs_diff\n(\S+)", detail).group(1)
    assert float(shown_diff) == card["parity"]["max_abs_diff"] and "passed\ntrue" in detail

    # The first conv row (conv1: 3x32x32, 7x7, stride 2, padding 3, no bias) is worked through.
    assert (
        page.inner_text("#formula-output")
        == "output size = (W − F + 2P) / S + 1 = ⌊(32 − 7 + 2·3) / 2⌋ + 1 = 16 ✓ as in the row"
    )
    assert (
        page.inner_text("#formula-params") == "parameters = F·F·C_in·C_out (no bias) = 7·7·3·64 = 9,408 ✓ as in the row"
    )
    # Another conv row, chosen from the keyboard: the strided 1x1 downsample of layer2.
    page.locator("tr[data-layer='layer2.0.downsample.0'] button").focus()
    page.keyboard.press("Enter")
    assert "⌊(8 − 1 + 2·0) / 2⌋ + 1 = 4 ✓" in page.inner_text("#formula-output")
    assert "1·1·64·128 = 8,192 ✓" in page.inner_text("#formula-params")
    screenshot(page, "models")

    page.locator(f"tr[data-model='{XSS}'] button").click()  # an attribute selector: the name is quoted as text
    assert page.inner_text("#model-title") == XSS
    assert cells(page.locator("#layer-table tbody tr").nth(0))[:2] == [XSS, XSS]


def infer_cli(cli, zoo, model, picture):
    code, out, err = cli("infer", "--server", zoo["server"].url, "--model", model, picture)
    assert code == 0, err
    lines = out.splitlines()[1:]
    return [re.match(r"\s+\d+\s+(\S+)\s+(\d+)\s+(.*)$", line).groups() for line in lines]


def test_one_picture_through_both_models_equals_convzoo_infer(page, zoo, cli):
    open_page(page, zoo, "try")
    checked = page.eval_on_selector_all("#try-models input:checked", "boxes => boxes.map(b => b.value)")
    assert sorted(checked) == sorted([*EXPORTED, XSS])
    page.uncheck(f"#try-models input[value='{XSS}']")
    page.set_input_files("#image-input", str(zoo["picture"]))
    page.wait_for_selector("#results[data-done='picture.png']", state="attached")
    for name in EXPORTED:
        result = page.locator(f"#results .result[data-model='{name}']")
        shown = [
            (li.locator(".score").inner_text(), li.get_attribute("data-index"), li.locator(".label").inner_text())
            for li in result.locator("li").all()
        ]
        assert shown == infer_cli(cli, zoo, name, zoo["picture"]) and len(shown) == 5
        assert re.fullmatch(r"[\d,]+\.\d ms round trip", result.locator(".latency").inner_text())
    screenshot(page, "try")

    # Dropping the same picture (as a file dragged onto the drop zone) gives the same answers.
    first = page.locator("#results .result[data-model='resnet18'] .score").all_inner_texts()
    payload = base64.b64encode(zoo["picture"].read_bytes()).decode()
    page.evaluate(
        """(payload) => {
          const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
          const transfer = new DataTransfer();
          transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
          document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
        }""",
        payload,
    )
    page.wait_for_selector("#results[data-done='dropped.png']", state="attached")
    assert page.locator("#results .result[data-model='resnet18'] .score").all_inner_texts() == first

    # Labels that are markup are shown as text.
    page.check(f"#try-models input[value='{XSS}']")
    page.click("#classify")
    page.wait_for_selector(f"#results .result[data-model='{XSS}'] li")
    labels = page.locator(f"#results .result[data-model='{XSS}'] .label").all_inner_texts()
    assert len(labels) == 5 and all(label.startswith(XSS) for label in labels)


def test_errors_show_in_the_page(page, zoo, tmp_path):
    page.allowed_errors += ["status of 413", "status of 503", "status of 400"]
    open_page(page, zoo, "try")
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture")
    page.set_input_files("#image-input", str(text))
    expect(page.locator("#try-error")).to_have_text(
        "notes.jpg is not an image: only JPEG and PNG files can be classified."
    )

    big = tmp_path / "big.png"
    Image.fromarray((np.random.default_rng(1).random((400, 400, 3)) * 255).astype(np.uint8)).save(big)
    assert big.stat().st_size > LIMIT
    page.set_input_files("#image-input", str(big))
    page.wait_for_selector("#results[data-done='big.png']", state="attached")
    error = page.inner_text("#results .result[data-model='resnet18'] .error")
    assert error.startswith("413: request body of") and f"exceeds the limit of {LIMIT} bytes" in error

    page.set_input_files("#image-input", str(zoo["picture"]))
    page.wait_for_selector("#results[data-done='picture.png']", state="attached")
    page.check("#try-models input[value='broken']")
    page.click("#classify")
    page.wait_for_selector("#results .result[data-model='broken'] .error")
    assert page.inner_text("#results .result[data-model='broken'] .error").startswith("503: ")
    assert "UNAVAILABLE" in page.inner_text("#try-models")


def test_comparison_of_two_reports_from_the_server(page, zoo):
    open_page(page, zoo)
    page.focus("#tab-models")  # tabs follow the arrow keys
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-compare", "aria-selected") == "true" and page.is_visible("#compare")
    assert page.is_hidden("#models") and page.evaluate("document.activeElement.id") == "tab-compare"
    page.wait_for_selector("#compare-table tbody tr")
    names = [r.locator("td").first.inner_text() for r in page.locator("#compare-table tbody tr").all()]
    assert names == ["resnet18_elu", "resnet18"]  # best top-1 first
    points = page.evaluate(
        "Chart.getChart(document.getElementById('compare-plot')).data.datasets.map(d => [d.label, d.data[0].x, d.data[0].y])"
    )
    assert sorted(points) == [["resnet18", 0.037, 12.5], ["resnet18_elu", 0.038, 25.0]]
    page.uncheck("#report-list input[value='a.json']")
    page.click("#compare-button")
    expect(page.locator("#compare-table tbody tr")).to_have_count(
        1
    )  # (the page's CSP forbids eval: no wait_for_function)
    page.check("#report-list input[value='a.json']")
    page.click("#compare-button")
    expect(page.locator("#compare-table tbody tr")).to_have_count(2)
    screenshot(page, "compare-served")


def test_the_page_asks_for_the_token(page, tmp_path):
    repository = tmp_path / "repo"
    write_classifier(repository / "classifier", config=classifier_config("classifier"))
    (tmp_path / "token").write_text("s3cret\n")
    server = start_server(repository, "--auth-token-file", str(tmp_path / "token"))
    page.allowed_errors.append("status of 401")
    try:
        page.goto(f"http://127.0.0.1:{server.http_port}/")  # the page itself needs no token
        page.wait_for_selector("#token-dialog[open]")
        assert "missing or wrong bearer token" in page.inner_text("#token-reason")
        page.keyboard.type("wrong")
        page.keyboard.press("Enter")
        expect(page.locator("#token-reason")).to_have_text(re.compile(r"^The token was refused"))
        page.fill("#token-input", "s3cret")
        page.keyboard.press("Enter")
        page.wait_for_selector("body[data-ready=true]")
        assert cells(page.locator("#model-table tbody tr").first)[:3] == ["classifier", "1", "READY"]
    finally:
        assert server.stop() == 0
