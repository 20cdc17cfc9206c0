"""The Evaluation service refuses what it cannot evaluate with a clear status, never UNKNOWN."""

from __future__ import annotations

import grpc
import pytest
from evalsupport import draw, pair_items, wnid

from convzoo.proto import evaluation_pb2 as pb
from convzoo.proto import evaluation_pb2_grpc as pb_grpc


@pytest.fixture(scope="module")
def evaluation_server(serve, served_repository, tmp_path_factory):
    data = tmp_path_factory.mktemp("tiny")
    draw(data, pair_items(lambda i, c: f"{wnid(c)}/{i}.JPEG")[:4])
    return serve(served_repository, "--dataset", f"tiny={data}")


def test_evaluating_a_model_without_an_image_input_is_invalid_and_names_its_inputs(evaluation_server):
    with grpc.insecure_channel(evaluation_server.url) as channel:
        call = pb_grpc.EvaluationStub(channel).Evaluate(pb.EvaluateRequest(model_name="int_add", dataset="tiny"))
        with pytest.raises(grpc.RpcError) as error:
            list(call)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == (
        "model 'int_add' has no image input to evaluate: evaluation needs a batched FP32 [-1,3,H,W] input "
        "(H = W); its inputs: INPUT0 (INT32 [-1,4]), INPUT1 (INT32 [-1,4])"
    )
