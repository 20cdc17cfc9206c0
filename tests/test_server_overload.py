"""Overload and deadlines against a ``convzoo serve`` process: a full queue refuses at once, a
request whose deadline passes while queued is dropped and frees its slot, a cancelled stream
stops its queued work."""

from __future__ import annotations

import re
import threading
import time
import urllib.request

import grpc
import numpy as np
import pytest
from server_repository import IMAGE, classifier_config, classifier_logits, start_server, write_classifier

from convzoo.client.inference import build_request, decode_response
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc

BATCH = np.ones((1, 3, IMAGE, IMAGE), np.float32)
# queue_limited holds one request for 1.5 s (its batching delay); slow holds up to 64 for 2 s.
MODELS = {
    "queue_limited": "dynamic_batching { max_queue_delay_microseconds: 1500000 default_queue_policy { max_queue_size: 1 } }\n",
    "slow": "dynamic_batching { preferred_batch_size: [ 8 ] max_queue_delay_microseconds: 2000000 }\n",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    for name, batching in MODELS.items():
        write_classifier(root / name, config=classifier_config(name, 8, batching))
    process = start_server(root)
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.url) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def pending(server, model: str) -> int:
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).read().decode()
    match = re.search(rf'nv_inference_pending_request_count{{model="{model}",version="1"}} (\S+)', text)
    return int(float(match.group(1))) if match else 0


def wait_pending(server, model: str, count: int, within: float) -> float:
    """Seconds until the model has ``count`` queued requests; fails after ``within``."""
    start = time.monotonic()
    while pending(server, model) != count:
        assert time.monotonic() - start < within, f"{model} never had {count} pending requests"
        time.sleep(0.02)
    return time.monotonic() - start


def inference_count(stub, model: str) -> int:
    (stats,) = stub.ModelStatistics(pb.ModelStatisticsRequest(name=model)).model_stats
    return stats.inference_count


def test_full_queue_refuses_at_once(server, stub):
    waiting = stub.ModelInfer.future(build_request("queue_limited", {"input": BATCH}))
    wait_pending(server, "queue_limited", 1, 5)
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelInfer(build_request("queue_limited", {"input": BATCH}))
    assert not waiting.done()  # refused while the queued request still waits: at once, not after it
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.value.details() == "model 'queue_limited' version 1: queue is full (1 requests waiting); retry later"
    np.testing.assert_array_equal(decode_response(waiting.result(10))["logits"], classifier_logits(BATCH))


def test_deadline_passing_in_the_queue_drops_the_request_and_frees_its_slot(server, stub):
    before = inference_count(stub, "queue_limited")
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelInfer(build_request("queue_limited", {"input": BATCH}), timeout=0.3)
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # Dropped well before its 1.5 s batching delay would have run it; the slot is free again.
    assert wait_pending(server, "queue_limited", 0, 1.0) < 1.0
    response = stub.ModelInfer(build_request("queue_limited", {"input": BATCH}), timeout=10)
    np.testing.assert_array_equal(decode_response(response)["logits"], classifier_logits(BATCH))
    assert inference_count(stub, "queue_limited") == before + 1


def test_cancelled_stream_stops_its_queued_work(server, stub):
    sent = threading.Event()

    def requests():
        for _ in range(3):
            yield build_request("slow", {"input": BATCH})
        sent.wait(10)  # keep the stream open until the test cancels it

    call = stub.ModelStreamInfer(requests())
    wait_pending(server, "slow", 3, 5)
    call.cancel()
    sent.set()
    assert wait_pending(server, "slow", 0, 1.0) < 1.0  # long before the 2 s delay
    assert call.code() == grpc.StatusCode.CANCELLED
    assert inference_count(stub, "slow") == 0
    response = stub.ModelInfer(build_request("slow", {"input": BATCH}), timeout=10)
    np.testing.assert_array_equal(decode_response(response)["logits"], classifier_logits(BATCH))
    assert inference_count(stub, "slow") == 1
