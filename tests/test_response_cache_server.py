"""The response cache in a ``convzoo serve`` process (``--cache-size``): a repeated request is a
hit in ModelStatistics and in Prometheus and returns the same bytes without running the model;
a model without ``response_cache { enable: true }`` never uses it; a reload empties it."""

from __future__ import annotations

import json
import re
import urllib.request

import grpc
import numpy as np
import pytest
from server_repository import CLASSES, IMAGE, classifier_config, classifier_logits, write_classifier

from convzoo.client.inference import build_request
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc

CACHED = "response_cache { enable: true }\n"


@pytest.fixture(scope="module")
def server(serve, tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    write_classifier(root / "cached", config=classifier_config("cached", 8, CACHED))
    write_classifier(root / "plain")
    return serve(root, "--cache-size", str(1 << 20))


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.url) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def _batch(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-4, 5, size=(2, 3, IMAGE, IMAGE)).astype(np.float32)


def _infer(stub, model: str, batch: np.ndarray, classification_k: int = 0) -> pb.ModelInferResponse:
    return stub.ModelInfer(
        build_request(model, {"input": batch}, outputs=["logits"], classification_k=classification_k)
    )


def _stats(stub, model: str) -> pb.ModelStatistics:
    (stats,) = stub.ModelStatistics(pb.ModelStatisticsRequest(name=model)).model_stats
    return stats


def _counts(stub, model: str) -> tuple[int, int, int]:
    stats = _stats(stub, model)
    return stats.inference_stats.cache_hit.count, stats.inference_stats.cache_miss.count, stats.execution_count


def _metric(server, name: str, model: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).read().decode()
    match = re.search(rf'^{name}{{model="{model}",version="1"}} (\S+)$', text, re.M)
    assert match, f"{name} for {model} not in the metrics"
    return float(match.group(1))


def test_a_repeated_request_is_a_hit_with_the_same_bytes_and_no_model_run(server, stub):
    batch = _batch(1)
    hits, misses, runs = _counts(stub, "cached")
    first = _infer(stub, "cached", batch)
    second = _infer(stub, "cached", batch)
    assert second.raw_output_contents == first.raw_output_contents
    logits = np.frombuffer(first.raw_output_contents[0], np.float32).reshape(2, CLASSES)
    np.testing.assert_allclose(logits, classifier_logits(batch), rtol=1e-5, atol=1e-5)
    assert _counts(stub, "cached") == (hits + 1, misses + 1, runs + 1)
    stats = _stats(stub, "cached").inference_stats
    assert stats.cache_hit.ns > 0 and stats.cache_miss.ns > 0
    assert _metric(server, "nv_cache_num_hits_per_model", "cached") == hits + 1
    assert _metric(server, "nv_cache_num_misses_per_model", "cached") == misses + 1


def test_one_changed_byte_or_another_classification_is_a_miss(stub):
    batch = _batch(2)
    _infer(stub, "cached", batch)
    hits, misses, runs = _counts(stub, "cached")
    changed = batch.copy()
    changed[1, 2, 3, 4] += 1
    _infer(stub, "cached", changed)
    top3 = _infer(stub, "cached", batch, classification_k=3)
    top3_again = _infer(stub, "cached", batch, classification_k=3)
    _infer(stub, "cached", batch, classification_k=2)
    assert _counts(stub, "cached") == (hits + 1, misses + 3, runs + 3)
    assert top3_again.raw_output_contents == top3.raw_output_contents


def test_a_model_without_response_cache_never_uses_it(stub):
    batch = _batch(3)
    _, _, runs = _counts(stub, "plain")
    _infer(stub, "plain", batch)
    _infer(stub, "plain", batch)
    assert _counts(stub, "plain") == (0, 0, runs + 2)


def test_a_reload_empties_the_models_entries(stub):
    batch = _batch(4)
    _infer(stub, "cached", batch)
    stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="cached"))
    hits, misses, runs = _counts(stub, "cached")
    _infer(stub, "cached", batch)
    assert _counts(stub, "cached") == (hits, misses + 1, runs + 1)


def test_a_rest_request_repeated_is_a_hit_too(server, stub):
    batch = _batch(5)
    body = json.dumps(
        {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(batch.shape), "data": batch.ravel().tolist()}]}
    ).encode()
    hits, misses, runs = _counts(stub, "cached")
    answers = []
    for _ in range(2):
        request = urllib.request.Request(f"http://{server.http_url}/v2/models/cached/infer", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            answers.append(json.loads(response.read())["outputs"][0]["data"])
    assert answers[0] == answers[1]
    np.testing.assert_allclose(
        np.array(answers[0], np.float32).reshape(2, CLASSES), classifier_logits(batch), rtol=1e-5, atol=1e-5
    )
    assert _counts(stub, "cached") == (hits + 1, misses + 1, runs + 1)
