"""Three backends, one result: in-process ONNX Runtime, KServe v2 gRPC, and server-side evaluation."""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import grpc
import pytest
from evalsupport import CLASSES, Item, accuracy, convzoo, draw, evaluation_server, model, pair_items, wnid

from convzoo.plugins import registry
from convzoo.plugins.backends import DEFAULT_RECIPE
from convzoo.proto import evaluation_pb2 as pb
from convzoo.proto import evaluation_pb2_grpc as pb_grpc
from convzoo.server import evaluation_service

PLUGINS = "top1,top5,per_class,confusion,calibration"
ITEMS = pair_items(lambda i, c: f"{wnid(c)}/{i}.JPEG") + [
    Item(f"{wnid(CLASSES[2])}/cmyk.JPEG", CLASSES[2], 2, "cmyk"),
    Item(f"{wnid(CLASSES[2])}/broken.JPEG", CLASSES[2], 2, "corrupt"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("backends")
    draw(root / "data", ITEMS)
    path = model(root / "repo" / "synthetic" / "1" / "model.onnx")
    model(root / "repo" / "bare" / "1" / "model.onnx", preprocessing=None)
    with evaluation_server(root / "repo", [("tiny", root / "data")]) as address:
        yield argparse.Namespace(address=address, root=root, data=root / "data", model=path)


def evaluate(server, name, *backend):
    out = server.root / f"{name}.json"
    assert (
        convzoo(
            "eval", "--model", *backend, "--plugins", PLUGINS, "--batch-size", "5", "--output", out, "--no-progress"
        )
        == 0
    )
    return json.loads(out.read_text())


def test_same_metrics_in_process_over_grpc_and_inside_the_server(server):
    local = evaluate(server, "local", server.model, "--data", server.data)
    remote_infer = evaluate(server, "grpc", "synthetic", "--server", server.address, "--data", server.data)
    inside = evaluate(server, "inside", "synthetic", "--server", server.address, "--remote", "--data", "tiny")
    assert local["metrics"] == remote_infer["metrics"] == inside["metrics"]
    assert local["metrics"]["top1"] == accuracy(ITEMS, 1) and local["metrics"]["top5"] == accuracy(ITEMS, 5)
    assert local["count"] == remote_infer["count"] == inside["count"] == len(ITEMS) - 1
    assert local["skipped"] == remote_infer["skipped"] == inside["skipped"]
    assert local["preprocessing"] == remote_infer["preprocessing"] == inside["preprocessing"]
    assert remote_infer["runtime"]["backend"] == "kserve-grpc"
    assert remote_infer["runtime"]["providers"] == ["remote (KIND_CPU)"]
    # KServe metadata carries no recipe: our server publishes the card as ModelConfig parameters.
    assert remote_infer["runtime"]["preprocessing_from"] == "model config parameters"
    assert remote_infer["model"]["card"] == local["model"]["card"]
    assert local["runtime"]["preprocessing_from"] == inside["runtime"]["preprocessing_from"] == "model metadata"
    assert inside["runtime"]["providers"] == ["CPUExecutionProvider"]
    assert inside["dataset"]["root"] == "tiny" and str(server.root) not in json.dumps(inside)
    assert inside["model"]["card"]["arch"] == "synthetic"


def test_a_model_without_a_recipe_is_evaluated_with_torchvision_defaults_over_grpc(server):
    report = evaluate(server, "bare", "bare", "--server", server.address, "--data", server.data)
    assert report["runtime"]["preprocessing_from"] == DEFAULT_RECIPE
    assert report["preprocessing"]["resize_size"] == 256 and report["preprocessing"]["crop_size"] == 224
    assert report["metrics"]["top1"] == accuracy(ITEMS, 1)


def test_remote_evaluation_only_knows_registered_names(server, capsys):
    for data in ("nope", str(server.data)):
        assert (
            convzoo(
                "eval", "--server", server.address, "--remote", "--model", "synthetic", "--data", data, "--no-progress"
            )
            == 1
        )
        err = capsys.readouterr().err
        assert "INVALID_ARGUMENT: unknown dataset" in err and "registered: tiny" in err
    assert (
        convzoo("eval", "--server", server.address, "--remote", "--model", "missing", "--data", "tiny", "--no-progress")
        == 1
    )
    assert "NOT_FOUND" in capsys.readouterr().err


def test_list_plugins_and_datasets(server, capsys):
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.EvaluationStub(channel)
        plugins = stub.ListPlugins(pb.ListPluginsRequest()).plugins
        datasets = stub.ListDatasets(pb.ListDatasetsRequest()).datasets
    assert [p.name for p in plugins] == [row["name"] for row in registry.describe()]
    assert [(d.name, d.layout, d.size) for d in datasets] == [("tiny", "imagefolder", len(ITEMS))]
    assert convzoo("plugins", "--server", server.address) == 0
    printed = capsys.readouterr().out
    assert (
        f"dataset tiny: imagefolder, {len(ITEMS)} images, {len({i.label for i in ITEMS})} classes" in printed
        and "\ntopk " in printed
    )


def test_cancelling_the_call_stops_the_work(server, monkeypatch):
    calls = []
    infer = evaluation_service.ServedBackend.infer

    def slow(self, images):
        calls.append(len(images))
        time.sleep(0.05)
        return infer(self, images)

    monkeypatch.setattr(evaluation_service.ServedBackend, "infer", slow)
    with grpc.insecure_channel(server.address) as channel:
        call = pb_grpc.EvaluationStub(channel).Evaluate(
            pb.EvaluateRequest(model_name="synthetic", dataset="tiny", plugins="top1", batch_size=1)
        )
        first = next(call)
        assert first.progress.total == len(ITEMS)
        call.cancel()
        with pytest.raises(grpc.RpcError) as error:
            next(call)
        assert error.value.code() == grpc.StatusCode.CANCELLED
    time.sleep(0.2)
    stopped_at = len(calls)
    time.sleep(0.3)
    assert len(calls) == stopped_at < len(ITEMS) - 1
    assert not [t for t in threading.enumerate() if t.name == "evaluation"]


def test_dataset_flag_parsing():
    assert evaluation_service.parse_dataset("val=/data/imagenet") == ("val", Path("/data/imagenet"))
    with pytest.raises(argparse.ArgumentTypeError):
        evaluation_service.parse_dataset("/data/imagenet")


def test_serve_gets_the_dataset_flag_through_the_services_hook(tmp_path):
    from convzoo.cli.commands import build_parser
    from convzoo.server.grpc import services

    args = build_parser().parse_args(
        ["serve", "--repository", str(tmp_path), "--dataset", "val=/data/val", "--dataset", "v2=/data/v2"]
    )
    assert args.dataset == [("val", Path("/data/val")), ("v2", Path("/data/v2"))]
    args.dataset = [("missing", tmp_path / "nowhere")]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        services.create(args, dataplane=None)
