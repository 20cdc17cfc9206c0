"""``convzoo eval --ray``: the same evaluation on a two-node local Ray cluster, to the last digit.

One cluster for the module (tests/raycluster.py). The known-answer dataset is drawn for the
synthetic model (tests/evalsupport.py), with a corrupt file among the images.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import ray_faults
from evalsupport import CLASSES, Item, accuracy, convzoo, draw, model, pair_items, wnid
from raycluster import two_node_cluster

pytestmark = pytest.mark.slow

ITEMS = [
    *pair_items(lambda i, label: f"{wnid(label)}/img_{i}.JPEG"),
    Item(f"{wnid(CLASSES[2])}/broken.JPEG", CLASSES[2], 2, "corrupt"),
    Item(f"{wnid(CLASSES[9])}/gray.JPEG", CLASSES[9], 9, "gray"),
]
PLUGINS = "top1,top5,per_class,confusion,calibration"
SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "report.schema.json"
EXACT = ("metrics", "count", "skipped", "plugins", "preprocessing", "model")


@pytest.fixture(scope="module")
def cluster():
    with two_node_cluster() as address:
        yield address


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The dataset, the model, and the in-process report every Ray run must equal."""
    root = tmp_path_factory.mktemp("ray_eval")
    draw(root / "val", ITEMS)
    onnx = model(root / "synthetic.onnx")
    reference = root / "in_process.json"
    assert evaluate(root / "val", onnx, reference, "--predictions", root / "in_process.csv") == 0
    return root / "val", onnx, json.loads(reference.read_text())


def evaluate(data, onnx, out, *extra):
    return convzoo(
        "eval", "--data", data, "--model", onnx, "--plugins", PLUGINS, "--batch-size", 3, "--output", out, *extra
    )


def test_in_process_reference_has_the_known_answer(case):
    _, _, reference = case
    assert reference["metrics"]["top1"] == accuracy(ITEMS, 1) and reference["metrics"]["top5"] == accuracy(ITEMS, 5)
    assert reference["skipped"]["count"] == 1 and reference["dataset"]["manifest_sha256"]


def test_two_nodes_three_actors_equal_the_in_process_report(cluster, case, tmp_path):
    data, onnx, reference = case
    out = tmp_path / "ray.json"
    assert evaluate(data, onnx, out, "--ray", cluster, "--ray-actors", 3, "--predictions", tmp_path / "p.csv") == 0
    report = json.loads(out.read_text())
    for key in EXACT:
        assert report[key] == reference[key], key
    assert report["dataset"] == reference["dataset"]
    assert report["runtime"]["ray"]["nodes"] == 2 and report["runtime"]["ray"]["actors"] == 3
    assert report["runtime"]["providers"] == ["CPUExecutionProvider"]
    jsonschema.validate(report, json.loads(SCHEMA.read_text()), cls=jsonschema.Draft202012Validator)
    # per-image predictions: same rows, same order (the manifest's), same logits to the last digit
    assert (tmp_path / "p.csv").read_text() == (data.parent / "in_process.csv").read_text()


def test_an_actor_killed_mid_run_is_retried_and_the_report_is_identical(cluster, case, tmp_path):
    import ray

    data, onnx, reference = case
    marker = tmp_path / "crashed"
    # The job reuses this connection, whose workers run the test's crash hook (tests/ray_faults.py).
    ray.init(address=cluster, runtime_env=ray_faults.runtime_env(marker), log_to_driver=False)
    out = tmp_path / "ray.json"
    try:
        assert evaluate(data, onnx, out, "--ray", cluster, "--ray-actors", 2) == 0
    finally:
        ray.shutdown()
    assert marker.exists()  # an actor really died (os._exit) during the run
    report = json.loads(out.read_text())
    for key in EXACT:
        assert report[key] == reference[key], key


@pytest.mark.parametrize("extra", [("--server", "127.0.0.1:1"), ("--resume",)])
def test_ray_refuses_server_and_resume_in_one_line(case, tmp_path, capsys, extra):
    data, onnx, _ = case
    assert evaluate(data, onnx, tmp_path / "r.json", "--ray", *extra) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "convzoo eval: error: --ray runs an ONNX file on the cluster: it takes neither --server nor --resume"
    ]


def test_an_actor_pool_that_leaves_no_cpu_for_decoding_is_refused_not_hung():
    from convzoo.plugins.ray_job import RayOptions, check_room

    check_room({"CPU": 4.0}, RayOptions(actors=3))
    with pytest.raises(ValueError, match="4 CPUs: 4 actors would leave none for decoding"):
        check_room({"CPU": 4.0}, RayOptions(actors=4))
    with pytest.raises(ValueError, match="needs as many GPUs; the cluster has 1"):
        check_room({"CPU": 4.0, "GPU": 1.0}, RayOptions(actors=2, device="cuda"))
