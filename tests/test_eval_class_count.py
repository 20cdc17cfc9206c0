"""A model whose class count cannot hold the dataset's labels is refused before the first batch,
naming both counts: in process (exit 1, one line) and in the server's Evaluation service
(INVALID_ARGUMENT). Without the check a 10-class model on ImageNet labels ended deep in a metric
with ``index 901 is out of bounds for axis 1 with size 10``.

The model is the server tests' 10-class classifier; labels are ImageNet class indices, so a
dataset of classes 0..3 fits it and one holding class 901 does not.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from evalsupport import convzoo, wnid
from server_repository import CLASSES, write_classifier
from synthetic import draw

from convzoo.plugins.api import Batch
from convzoo.plugins.step import BatchStep
from convzoo.proto import evaluation_pb2 as pb
from convzoo.proto import evaluation_pb2_grpc as pb_grpc
from convzoo.proto import grpc_service_pb2 as infer_pb
from convzoo.proto import grpc_service_pb2_grpc as infer_grpc

FAR_LABEL = 901
REFUSAL = f"classifier outputs {CLASSES} classes but the dataset's labels are ImageNet class indices up to {FAR_LABEL} (of 1000)"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("class_count")
    write_classifier(root / "repo" / "classifier")
    for n, label in enumerate((0, 1, 2, 3)):
        draw(root / "fits" / wnid(label) / f"{n}.JPEG", n)
    for n, label in enumerate((0, 1, FAR_LABEL, 3)):
        draw(root / "imagenet" / wnid(label) / f"{n}.JPEG", n)
    return root


def evaluate_in_process(cli, data, model, tmp_path):
    return cli(
        "eval", "--data", data, "--model", model, "--device", "cpu", "--no-progress", "--output", tmp_path / "r.json"
    )


def test_in_process_a_10_class_model_on_imagenet_labels_is_one_line_naming_both_counts(cli, setup, tmp_path):
    onnx_file = setup / "repo" / "classifier" / "1" / "model.onnx"
    code, _, err = evaluate_in_process(cli, setup / "imagenet", onnx_file, tmp_path)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith(f"convzoo eval: error: {REFUSAL}"), err
    assert "out of bounds" not in err and not (tmp_path / "r.json").exists()
    code, _, err = evaluate_in_process(cli, setup / "fits", onnx_file, tmp_path)
    assert code == 0, err  # the same model on labels it holds runs


def test_the_batch_step_refuses_logits_narrower_than_a_label():
    """Where the model leaves its class count open, the first batch is checked the same way."""
    step = BatchStep("open-width", [])
    with pytest.raises(ValueError, match=f"open-width outputs 10 classes .* up to {FAR_LABEL}"):
        step(Batch(np.zeros((2, 10), np.float32), np.array([1, FAR_LABEL]), ("a", "b")))
    assert step.evaluated == 0


@pytest.fixture(scope="module")
def server(serve, setup):
    return serve(setup / "repo", "--dataset", f"imagenet={setup / 'imagenet'}", "--dataset", f"fits={setup / 'fits'}")


def inference_count(channel) -> int:
    stub = infer_grpc.GRPCInferenceServiceStub(channel)
    (stats,) = stub.ModelStatistics(infer_pb.ModelStatisticsRequest(name="classifier")).model_stats
    return stats.inference_count


def test_the_evaluation_service_refuses_before_the_first_batch_with_invalid_argument(server):
    with grpc.insecure_channel(server.url) as channel:
        before = inference_count(channel)
        call = pb_grpc.EvaluationStub(channel).Evaluate(
            pb.EvaluateRequest(model_name="classifier", dataset="imagenet", batch_size=2)
        )
        with pytest.raises(grpc.RpcError) as error:
            next(call)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details().startswith(REFUSAL), error.value.details()
        assert inference_count(channel) == before  # no batch reached the model
        responses = list(
            pb_grpc.EvaluationStub(channel).Evaluate(
                pb.EvaluateRequest(model_name="classifier", dataset="fits", batch_size=2)
            )
        )
        assert responses[-1].HasField("report_json") and inference_count(channel) == before + 4


def test_remote_eval_on_the_cli_names_both_counts_in_one_line(server, capsys):
    code = convzoo(
        "eval", "--server", server.url, "--remote", "--model", "classifier", "--data", "imagenet", "--no-progress"
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(lines) == 1
    assert lines[0] == f"convzoo eval: error: server evaluation failed: INVALID_ARGUMENT: {REFUSAL}: " + (
        f"evaluate a model with at least {FAR_LABEL + 1} outputs on this dataset"
    )
