"""``convzoo eval --ray`` on the robustness sets: mCE and the ImageNet-A restriction equal the formula and
the in-process run to the last digit (a two-node local Ray cluster, tests/raycluster.py)."""

from __future__ import annotations

import json

import pytest
from evalsupport import convzoo, model
from raycluster import two_node_cluster
from robustsupport import c_cells, cell_errors, robustness_reports

from convzoo.base.datasets.imagenet_c import BENCHMARK
from convzoo.plugins.corruption_error import ALEXNET_ERRORS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray_robust")
    onnx = model(root / "synthetic.onnx")
    return root / "sets", onnx, robustness_reports(root / "sets", onnx, BENCHMARK)


def test_ray_mce_and_a_restriction_equal_the_in_process_reports(sets, tmp_path):
    root, onnx, reports = sets
    argv = ["eval", "--model", onnx, "--plugins", "top1,top5", "--batch-size", 4, "--no-progress", "--device", "cpu"]
    with two_node_cluster() as address:
        on_ray = tmp_path / "c_ray.json"
        assert convzoo(*argv, "--data", root / "c", "--output", on_ray, "--ray", address, "--ray-actors", 2) == 0
        a_ray = tmp_path / "a_ray.json"
        assert convzoo(*argv, "--data", root / "imagenet-a", "--output", a_ray, "--ray", address) == 0
    expected, got = json.loads(reports["c"].read_text()), json.loads(on_ray.read_text())
    assert got["metrics"] == expected["metrics"] and got["preprocessing"] == expected["preprocessing"]
    errors = cell_errors(c_cells(BENCHMARK))
    mce = sum(100 * sum(errors[c].values()) / 5 / ALEXNET_ERRORS[c] for c in BENCHMARK) / 15
    assert got["metrics"]["mce"] == pytest.approx(mce, rel=1e-12)
    a = json.loads(a_ray.read_text())
    assert a["metrics"]["top1"] == json.loads(reports["a"].read_text())["metrics"]["top1"] == 50.0
    assert a["dataset"]["class_subset"] == {"name": "imagenet-a", "classes": 200}
