"""``convzoo sweep``: a grid of random-weight resnet18 variants at 32 px over a few drawn images, and resume.

Resume is judged by the sweep's own log lines and by file modification times (never by timing):
a second run keeps every model and report; after a report is lost (an interrupted run) only that
cell is evaluated again; a changed data manifest re-evaluates without re-exporting. Last, one cell
is evaluated again on a two-node local Ray cluster (tests/raycluster.py) into the same report.
"""

from __future__ import annotations

import json

import evalsupport
import pytest
from evalsupport import convzoo, draw, pair_items, wnid
from raycluster import two_node_cluster

pytestmark = pytest.mark.slow

ITEMS = pair_items(lambda i, label: f"{wnid(label)}/img_{i}.JPEG")[:6]
CELLS = ("resnet18", "resnet18_elu")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """Data, repository and report folders, and the first (complete) sweep's output."""
    root = tmp_path_factory.mktemp("sweep")
    draw(root / "val", ITEMS)
    return root


def sweep(root, capsys, *extra):
    return evalsupport.sweep(
        root, capsys, "--activations", "relu,elu", "--precisions", "fp32", "--batch-size", 4, *extra
    )


def mtimes(root) -> dict:
    files = [root / "repo" / name / "1" / "model.onnx" for name in CELLS] + [
        root / "reports" / f"{name}.json" for name in CELLS
    ]
    return {f.relative_to(root).as_posix(): f.stat().st_mtime_ns for f in files if f.exists()}


def test_a_sweep_exports_evaluates_and_compares(zoo, capsys):
    code, out = sweep(zoo, capsys)
    assert code == 0
    for name in CELLS:
        assert f"sweep: {name}: exporting" in out and f"sweep: {name}: evaluating" in out
        report = json.loads((zoo / "reports" / f"{name}.json").read_text())
        assert report["count"] == len(ITEMS) and report["model"]["card"]["input_size"] == 32
    assert report["model"]["card"]["activation"]["name"] == "elu"
    table = (zoo / "reports" / "compare.md").read_text()
    assert all(f"| {name} |" in table for name in CELLS) and (zoo / "reports" / "compare.png").stat().st_size > 0


def test_the_same_command_again_keeps_every_model_and_report(zoo, capsys):
    before = mtimes(zoo)
    code, out = sweep(zoo, capsys)
    assert code == 0 and mtimes(zoo) == before and len(before) == 4
    for name in CELLS:
        assert f"sweep: {name}: model kept" in out and f"sweep: {name}: report kept" in out
    assert "exporting" not in out and "evaluating" not in out


def test_an_interrupted_sweep_continues_with_the_missing_cell_only(zoo, capsys):
    (zoo / "reports" / "resnet18_elu.json").unlink()  # the run stopped before this cell's report was written
    before = mtimes(zoo)
    code, out = sweep(zoo, capsys)
    assert code == 0
    after = mtimes(zoo)
    assert "sweep: resnet18: report kept" in out and "sweep: resnet18_elu: evaluating" in out
    assert {k: v for k, v in after.items() if k in before} == before  # nothing else was redone
    assert "reports/resnet18_elu.json" in after


def test_other_data_reevaluates_but_keeps_the_models(zoo, capsys):
    before = mtimes(zoo)
    code, out = sweep(zoo, capsys, "--limit", 3)
    assert code == 0 and out.count("model kept") == 2 and out.count("evaluating") == 2
    after = mtimes(zoo)
    assert all(after[k] == before[k] for k in before if k.startswith("repo/"))
    assert all(after[k] != before[k] for k in before if k.startswith("reports/"))
    assert json.loads((zoo / "reports" / "resnet18.json").read_text())["count"] == 3


def test_a_changed_card_is_exported_again(zoo, capsys):
    code, out = sweep(zoo, capsys, "--seed", 1, "--activations", "relu")
    assert code == 0 and "sweep: resnet18: re-exporting (its card differs)" in out
    assert json.loads((zoo / "reports" / "resnet18.json").read_text())["model"]["card"]["weights"]["seed"] == 1


def test_unknown_grid_names_fail_before_any_work(tmp_path, capsys):
    code = convzoo(
        "sweep", "--archs", "resnet18,lenet", "--data", tmp_path, "--repository", tmp_path / "r", "--reports", tmp_path
    )
    assert code == 1 and "lenet" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_a_sweep_on_ray_writes_the_in_process_report(zoo, capsys):
    with two_node_cluster() as address:
        report = zoo / "reports" / "resnet18.json"
        in_process = json.loads(report.read_text())
        report.unlink()
        code, out = sweep(zoo, capsys, "--seed", 1, "--activations", "relu", "--ray", address, "--ray-actors", 2)
    assert code == 0 and "sweep: resnet18: model kept" in out and "sweep: resnet18: evaluating" in out
    on_ray = json.loads(report.read_text())
    assert on_ray["runtime"]["ray"]["nodes"] == 2
    for key in ("metrics", "count", "skipped", "dataset", "model"):
        assert on_ray[key] == in_process[key], key
