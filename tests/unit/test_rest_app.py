"""The REST ASGI app called in-process (a raw ASGI call, no socket): JSON in, JSON out, over the data plane."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from threading import current_thread

import numpy as np
import pytest
from server_repository import IMAGE, classifier_logits
from transport_calls import call

from convzoo.server.http.asgi import RestApp
from convzoo.server.http.routes import Routes
from convzoo.server.http.web import WebRoutes

POOL = "rest-work-test"


@pytest.fixture(scope="module")
def app(dataplane):
    with ThreadPoolExecutor(2, thread_name_prefix=POOL) as pool:
        yield RestApp(Routes(dataplane, pool), max_body_bytes=1 << 20, page=WebRoutes())


def test_health_and_metadata(app):
    assert call(app, "GET", "/v2/health/live")[::2] == (200, b'{"live":true}')
    status, _, body = call(app, "GET", "/v2/models/classifier")
    assert status == 200
    assert json.loads(body)["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, IMAGE, IMAGE]}]
    status, _, body = call(app, "GET", "/v2/models/classifier/stats")
    (stats,) = json.loads(body)["model_stats"]
    assert status == 200 and set(stats["inference_stats"]) >= {"success", "fail", "queue", "cache_hit"}


def test_json_infer(app):
    batch = (np.arange(3 * IMAGE * IMAGE, dtype=np.float32).reshape(1, 3, IMAGE, IMAGE) % 5) / 5
    request = {
        "id": "a",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": list(batch.shape), "data": batch.ravel().tolist()}],
    }
    status, headers, body = call(app, "POST", "/v2/models/classifier/infer", json.dumps(request).encode())
    assert status == 200 and headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert answer["id"] == "a" and answer["outputs"][0]["shape"] == [1, 10]
    np.testing.assert_allclose(answer["outputs"][0]["data"], classifier_logits(batch).ravel(), rtol=1e-5, atol=1e-5)


def test_refusals_are_json_errors(app):
    status, _, body = call(app, "POST", "/v2/models/nope/infer", b"{}")
    assert status == 404 and json.loads(body)["error"].startswith("unknown model 'nope'")
    status, _, body = call(app, "POST", "/v2/models/classifier/infer", b"not json")
    assert status == 400 and json.loads(body)["error"].startswith("the request body is not JSON")
    status, headers, _ = call(app, "GET", "/v2/models/classifier/infer")
    assert status == 405 and headers["allow"] == "POST"


def test_repository_calls_run_off_the_loop(app, dataplane, monkeypatch):
    threads = []
    for name in ("load", "unload", "repository_index"):
        real = getattr(dataplane, name)
        monkeypatch.setattr(
            dataplane, name, lambda *a, real=real, **k: threads.append(current_thread().name) or real(*a, **k)
        )
    assert call(app, "POST", "/v2/repository/models/int_add/unload")[::2] == (200, b"{}")
    status, _, body = call(app, "POST", "/v2/repository/index", b'{"ready": true}')
    assert status == 200 and "int_add" not in [row["name"] for row in json.loads(body)]
    assert call(app, "POST", "/v2/repository/models/int_add/load")[::2] == (200, b"{}")
    assert call(app, "GET", "/v2/models/int_add/ready")[0] == 200
    assert len(threads) == 3 and all(name.startswith(POOL) for name in threads), threads
