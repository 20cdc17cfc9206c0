"""The gRPC servicer with a fake context: protobuf in, protobuf out, ServingError as status."""

from __future__ import annotations

import logging
import threading

import grpc
import numpy as np
import pytest
from server_repository import IMAGE, classifier_logits
from transport_calls import ONE_IMAGE, Aborted, FakeContext

from convzoo.base import wire
from convzoo.base.codec import decode_raw
from convzoo.base.datatypes import DATATYPES
from convzoo.client.inference import build_request, wire_request
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.server.grpc.servicer import InferenceServicer
from convzoo.server.tracing.settings import TraceSettings


@pytest.fixture(scope="module")
def servicer(dataplane):
    return InferenceServicer(dataplane)


def logits(response: wire.Response) -> np.ndarray:
    (output,) = response.message.outputs
    return decode_raw(response.raw_output_contents[0], DATATYPES[output.datatype], list(output.shape), output.name)


def test_metadata_and_serving_errors_as_status(servicer):
    context = FakeContext()
    metadata = servicer.ModelMetadata(pb.ModelMetadataRequest(name="classifier"), context)
    assert metadata.name == "classifier" and list(metadata.inputs[0].shape) == [-1, 3, IMAGE, IMAGE]
    with pytest.raises(Aborted):
        servicer.ModelConfig(pb.ModelConfigRequest(name="nope"), context)
    assert context.status[0] == grpc.StatusCode.NOT_FOUND and context.status[1].startswith("unknown model 'nope'")


def test_model_infer_answers_with_raw_outputs(servicer):
    request = wire_request("classifier", {"input": ONE_IMAGE})
    request.message.id = "x"
    response = servicer.ModelInfer(request, FakeContext())
    assert response.message.id == "x"
    np.testing.assert_allclose(logits(response), classifier_logits(ONE_IMAGE), rtol=1e-5, atol=1e-5)


def test_raw_and_typed_contents_mixed_are_invalid(servicer):
    request = wire_request("classifier", {"input": ONE_IMAGE})
    request.message.inputs[0].contents.fp32_contents.extend([0.0])
    context = FakeContext()
    with pytest.raises(Aborted):
        servicer.ModelInfer(request, context)
    assert context.status[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert "has typed contents but the request also uses raw_input_contents" in context.status[1]


def test_a_stream_answers_in_order_and_a_refused_request_does_not_end_it(servicer):
    requests = [
        build_request("classifier", {"input": ONE_IMAGE}),
        build_request("nope", {"input": ONE_IMAGE}),
        build_request("classifier", {"input": ONE_IMAGE * 0.5}),
    ]
    responses = list(servicer.ModelStreamInfer(iter(requests), FakeContext()))
    assert len(responses) == 3
    np.testing.assert_allclose(logits(responses[0]), classifier_logits(ONE_IMAGE), rtol=1e-5, atol=1e-5)
    assert responses[1].error_message.startswith("unknown model 'nope'")
    np.testing.assert_allclose(logits(responses[2]), classifier_logits(ONE_IMAGE * 0.5), rtol=1e-5, atol=1e-5)


class BrokenDataPlane:
    """A data plane with a bug: infer raises what no ServingError covers."""

    ready = threading.Event()
    trace_settings = TraceSettings(exporting=False)

    def infer(self, request, *, lead=False, traceparent=None):
        raise KeyError("a bug")


def test_a_fault_while_reading_a_stream_is_logged_and_answered(caplog):
    servicer = InferenceServicer(BrokenDataPlane())
    with caplog.at_level(logging.DEBUG, logger="convzoo.server.grpc.servicer"):
        responses = list(
            servicer.ModelStreamInfer(iter([build_request("classifier", {"input": ONE_IMAGE})]), FakeContext())
        )
    assert [r.error_message for r in responses] == ["the server failed to read the stream: KeyError: 'a bug'"]
    (record,) = [r for r in caplog.records if r.name == "convzoo.server.grpc.servicer"]
    assert record.levelno == logging.ERROR and record.exc_info is not None


def test_a_stream_whose_client_left_ends_quietly(servicer, caplog):
    context = FakeContext()

    def requests():
        yield build_request("classifier", {"input": ONE_IMAGE})
        context.status = (grpc.StatusCode.CANCELLED, "gone")
        raise grpc.RpcError()

    with caplog.at_level(logging.DEBUG, logger="convzoo.server.grpc.servicer"):
        responses = list(servicer.ModelStreamInfer(requests(), context))
    np.testing.assert_allclose(logits(responses[0]), classifier_logits(ONE_IMAGE), rtol=1e-5, atol=1e-5)
    assert len(responses) == 1
    assert [r.levelno for r in caplog.records if r.name == "convzoo.server.grpc.servicer"] == [logging.DEBUG]
