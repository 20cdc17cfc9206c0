"""The robustness sets through a server: over gRPC and inside it (``--remote``), the same metrics as in-process."""

from __future__ import annotations

import argparse
import json

import pytest
from evalsupport import convzoo, evaluation_server, model
from robustsupport import robustness_reports


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("remote_robust")
    path = model(root / "repo" / "synthetic" / "1" / "model.onnx")
    robustness_reports(root, path, ["fog", "snow", "contrast"])  # clean, C, A, R and Sketch copies
    with evaluation_server(root / "repo", [("c", root / "c"), ("a", root / "imagenet-a")]) as address:
        yield argparse.Namespace(address=address, root=root, model=path)


def evaluate(server, name, *argv):
    out = server.root / f"{name}.json"
    assert convzoo("eval", *argv, "--plugins", "top1,top5,corruption", "--output", out, "--no-progress") == 0
    return json.loads(out.read_text())


def test_imagenet_c_the_same_in_process_over_grpc_and_inside_the_server(server):
    local = evaluate(server, "local_c", "--model", server.model, "--data", server.root / "c")
    over_grpc = evaluate(
        server, "grpc_c", "--server", server.address, "--model", "synthetic", "--data", server.root / "c"
    )
    inside = evaluate(server, "inside_c", "--server", server.address, "--remote", "--model", "synthetic", "--data", "c")
    assert local["metrics"] == over_grpc["metrics"] == inside["metrics"]
    assert local["preprocessing"] == over_grpc["preprocessing"] == inside["preprocessing"]
    assert inside["preprocessing"]["resize_size"] == inside["preprocessing"]["crop_size"]  # centre crop only
    assert inside["metrics"]["corruption"]["errors"].keys() == {"fog", "snow", "contrast"}


def test_imagenet_a_restricted_inside_the_server(server, capsys):
    out = server.root / "inside_a.json"
    argv = ["eval", "--server", server.address, "--remote", "--model", "synthetic", "--data", "a", "--no-progress"]
    assert convzoo(*argv, "--plugins", "top1,top5", "--output", out) == 0
    report = json.loads(out.read_text())
    assert report["metrics"]["top1"] == 50.0 and report["dataset"]["class_subset"]["classes"] == 200
    assert convzoo(*argv, "--corruptions", "fog") == 1
    assert "not with --remote" in capsys.readouterr().err
