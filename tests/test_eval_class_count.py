"""A model whose class count cannot hold the dataset's labels is refused before the first batch,
naming both counts: in process (exit 1, one line) and in the server's Evaluation service
(INVALID_ARGUMENT). Without the check a 10-class model on ImageNet labels ended deep in a metric
with ``index 901 is out of bounds for axis 1 with size 10``.

The model is the server tests' 10-class classifier; labels are ImageNet class indices, so a
dataset of classes 0..3 fits it and one holding class 901 does not.
"""

from __future__ import annotations

import collections
import json

import grpc
import onnx
import pytest
from evalsupport import convzoo, wnid
from server_repository import CLASSES, write_classifier
from synthetic import draw

from convzoo.plugins import job, step
from convzoo.plugins.step import check_classes
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


def evaluate_in_process(cli, data, model, tmp_path, *extra):
    return cli(
        "eval",
        "--data",
        data,
        "--model",
        model,
        "--device",
        "cpu",
        "--no-progress",
        "--output",
        tmp_path / "r.json",
        *extra,
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


@pytest.fixture
def checks(monkeypatch):
    """How many times the class-count check runs before the run (``job``) and per batch (``step``)."""
    counted = collections.Counter()
    for module in (job, step):

        def counting(*args, _where=module.__name__.rsplit(".", 1)[-1]):
            counted[_where] += 1
            return check_classes(*args)

        monkeypatch.setattr(module, "check_classes", counting)
    return counted


def test_a_model_with_a_fixed_class_count_is_checked_once_not_per_batch(cli, setup, tmp_path, checks):
    onnx_file = setup / "repo" / "classifier" / "1" / "model.onnx"
    code, _, err = evaluate_in_process(cli, setup / "fits", onnx_file, tmp_path, "--batch-size", 1)
    assert code == 0, err
    assert json.loads((tmp_path / "r.json").read_text())["count"] == 4  # four batches ran
    assert checks == {"job": 1}


def test_a_model_that_leaves_its_class_count_open_is_refused_at_the_first_batch(cli, setup, tmp_path, checks):
    """Its width is known only from the logits, so each batch is checked, with the same one line.
    The classifier's weight and bias become overridable inputs of width ``classes``, so that
    ONNX Runtime cannot infer the logits' width."""
    model = onnx.load(setup / "repo" / "classifier" / "1" / "model.onnx")
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "classes"
    for weights in model.graph.initializer:
        shape = [*weights.dims[:-1], "classes"]
        model.graph.input.append(onnx.helper.make_tensor_value_info(weights.name, onnx.TensorProto.FLOAT, shape))
    onnx_file = tmp_path / "open" / "classifier" / "1" / "model.onnx"
    onnx_file.parent.mkdir(parents=True)
    onnx.save(model, onnx_file)
    code, _, err = evaluate_in_process(cli, setup / "imagenet", onnx_file, tmp_path)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith(f"convzoo eval: error: {REFUSAL}"), err
    assert checks["job"] == 1 and checks["step"] >= 1
    code, _, err = evaluate_in_process(cli, setup / "fits", onnx_file, tmp_path, "--batch-size", 1)
    assert code == 0, err
    assert checks["step"] >= 1 + 4  # every batch of the run that fits was checked


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
