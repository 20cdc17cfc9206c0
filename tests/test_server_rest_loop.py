"""Nothing blocks the REST event loop: health and metadata answer within 50 ms (p99) while a model
load runs and while 16 clients send JPEG images to infer (decoding and the run happen off the loop).

The load is held open by the test (creating its ONNX Runtime session waits on an event), so "while a load runs" is
certain, not a matter of timing; the image load comes from 16 client threads that keep
sending until the probes are done."""

from __future__ import annotations

import http.client
import io
import json
import threading
import time

import numpy as np
import pytest
from PIL import Image
from server_repository import write_classifier

from convzoo.base.device import DeviceRequest
from convzoo.server import model as model_module
from convzoo.server.dataplane import DataPlane
from convzoo.server.http.listener import HttpServer
from convzoo.server.manager import ModelManager
from convzoo.server.model import LoadOptions
from convzoo.server.statistics import Statistics

P99_LIMIT_S = 0.050
PROBES = 200
CLIENTS = 16


def p99(latencies: list[float]) -> float:
    return float(np.percentile(latencies, 99))


def probe(port: int, paths: list[str], count: int) -> dict[str, list[float]]:
    """GET each path ``count`` times on one keep-alive connection: latencies in seconds."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    latencies: dict[str, list[float]] = {path: [] for path in paths}
    for _ in range(count):
        for path in paths:
            start = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            latencies[path].append(time.perf_counter() - start)
            assert response.status == 200, (path, response.status)
    connection.close()
    return latencies


def test_health_and_metadata_answer_while_a_load_runs(tmp_path, monkeypatch):
    write_classifier(tmp_path / "classifier")
    statistics = Statistics()
    manager = ModelManager(tmp_path, LoadOptions(device=DeviceRequest("cpu"), intra_op_threads=1), statistics)
    manager.load_all()
    dataplane = DataPlane(manager, statistics)
    dataplane.ready.set()
    server = HttpServer(dataplane, "127.0.0.1", 0, max_body_bytes=1 << 20)
    server.start()
    loading, release = threading.Event(), threading.Event()
    real_session = model_module.ort.InferenceSession

    def held_session(*args, **kwargs):  # the reload's ONNX Runtime session, held until the probes are done
        loading.set()
        release.wait(30)
        return real_session(*args, **kwargs)

    monkeypatch.setattr(model_module.ort, "InferenceSession", held_session)
    answers = []

    def reload() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        connection.request("POST", "/v2/repository/models/classifier/load", body=b"{}")
        response = connection.getresponse()
        answers.append((response.status, response.read()))

    loader = threading.Thread(target=reload)
    loader.start()
    try:
        assert loading.wait(30)
        latencies = probe(server.port, ["/v2/health/live", "/v2/health/ready", "/v2/models/classifier"], PROBES)
        assert loader.is_alive()  # every probe ran while the load was held
    finally:
        release.set()
        loader.join(60)
        server.stop(1)
        manager.close()
    assert answers == [(200, b"{}")]
    worst = {path: p99(values) for path, values in latencies.items()}
    assert all(value <= P99_LIMIT_S for value in worst.values()), worst


def jpeg(seed: int) -> bytes:
    """A 500x375 photo-sized JPEG (smooth noise), as a client would send."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    picture = Image.fromarray(small).resize((500, 375), Image.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def image_request(data: bytes) -> tuple[bytes, dict[str, str]]:
    """A v2 infer body with one encoded image as binary BYTES data, top-3 classification asked for."""
    element = len(data).to_bytes(4, "little") + data
    header = json.dumps(
        {
            "inputs": [
                {"name": "input", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": len(element)}}
            ],
            "outputs": [{"name": "logits", "parameters": {"classification": 3}}],
        }
    ).encode()
    headers = {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"}
    return header + element, headers


@pytest.mark.timeout(120)
def test_health_and_metadata_answer_while_16_clients_send_images(repository_server):
    port = repository_server.http_port
    bodies = [image_request(jpeg(seed)) for seed in range(4)]
    stop = threading.Event()
    started = threading.Barrier(CLIENTS + 1, timeout=60)
    done: list[int] = []
    failures: list[str] = []

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        count = 0
        try:
            while not stop.is_set():
                body, headers = bodies[(index + count) % len(bodies)]
                connection.request("POST", "/v2/models/classifier/infer", body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                if response.status != 200:
                    failures.append(f"{response.status} {answer[:200]!r}")
                    return
                count += 1
                if count == 1:
                    started.wait()  # every client has had an answer: the load is on
        finally:
            done.append(count)
            connection.close()

    clients = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in clients:
        thread.start()
    try:
        started.wait()
        latencies = probe(port, ["/v2/health/live", "/v2/models/classifier"], PROBES)
        busy = all(thread.is_alive() for thread in clients)
    finally:
        stop.set()
        for thread in clients:
            thread.join(60)
    assert not failures, failures[:3]
    assert busy and sum(done) >= 2 * CLIENTS  # the clients kept sending while the probes ran
    worst = {path: p99(values) for path, values in latencies.items()}
    assert all(value <= P99_LIMIT_S for value in worst.values()), worst
