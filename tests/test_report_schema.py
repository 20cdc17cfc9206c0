"""Real reports validate against the report's JSON Schema (docs/report.schema.json, described in
docs/report.md): in process, over gRPC, and from inside a running ``convzoo serve``; and the
schema refuses reports that break it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from evalsupport import CLASSES, Item, convzoo, draw, model, pair_items, wnid

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCHEMA = json.loads((DOCS / "report.schema.json").read_text())
PLUGINS = "top1,top5,per_class,confusion,calibration,latency"
ITEMS = pair_items(lambda i, c: f"{wnid(c)}/{i}.JPEG") + [
    Item(f"{wnid(CLASSES[2])}/broken.JPEG", CLASSES[2], 2, "corrupt")
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_schema")
    draw(root / "val", ITEMS)
    onnx_file = model(root / "repo" / "synthetic" / "1" / "model.onnx")
    return root, onnx_file


@pytest.fixture(scope="module")
def local(setup):
    root, onnx_file = setup
    return evaluate(root / "local.json", "--data", root / "val", "--model", onnx_file, "--device", "cpu")


def evaluate(out: Path, *args) -> dict:
    assert convzoo("eval", *args, "--plugins", PLUGINS, "--output", out, "--no-progress") == 0
    return json.loads(out.read_text())


def errors(report: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(report)]


def test_the_schema_is_a_valid_json_schema_and_report_md_points_at_it():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    text = (DOCS / "report.md").read_text()
    assert "report.schema.json" in text
    assert [key for key in SCHEMA["properties"] if f"`{key}`" not in text] == []  # every top-level key explained


def test_reports_in_process_over_grpc_and_inside_the_server_validate(setup, local, serve, tmp_path):
    root, _ = setup
    assert errors(local) == [] and local["skipped"]["count"] == 1 and "latency" in local["metrics"]
    server = serve(root / "repo", "--dataset", f"tiny={root / 'val'}")
    over_grpc = evaluate(tmp_path / "grpc.json", "--server", server.url, "--model", "synthetic", "--data", root / "val")
    inside = evaluate(
        tmp_path / "inside.json", "--server", server.url, "--remote", "--model", "synthetic", "--data", "tiny"
    )
    assert errors(over_grpc) == [] and errors(inside) == []
    assert (over_grpc["runtime"]["backend"], inside["runtime"]["backend"]) == (
        "kserve-grpc",
        "onnxruntime (convzoo server)",
    )


@pytest.mark.parametrize(
    "breakage, where",
    [
        (lambda r: r.pop("metrics"), "'metrics' is a required property"),
        (lambda r: r["metrics"].update(top1=100.5), "metrics/top1: 100.5 is greater than the maximum of 100"),
        (lambda r: r.update(extra=1), "Additional properties are not allowed ('extra' was unexpected)"),
        (lambda r: r["dataset"].update(manifest_sha256="abc"), "dataset/manifest_sha256: 'abc' does not match"),
        (lambda r: r["settings"].update(on_error="ignore"), "settings/on_error: 'ignore' is not one of"),
        (lambda r: r["skipped"]["files"].append({"sample_id": "x"}), "skipped/files/1: 'error' is a required property"),
    ],
)
def test_the_schema_refuses_a_broken_report(local, breakage, where):
    broken = copy.deepcopy(local)
    breakage(broken)
    found = errors(broken)
    assert any(where in line for line in found), found
