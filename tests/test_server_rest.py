"""``convzoo serve``'s v2 HTTP/REST endpoint, driven by tritonclient[http] (each check of
tritonclient_http_checks.py in its own process), by curl, and by plain HTTP requests: the
paths, the binary tensor extension, errors as ``{"error": ...}``, the body limit, a full
queue, TLS and the bearer token, and a port in use."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from server_repository import IMAGE, build_repository, classifier_logits, run_serve, start_server
from test_server_security import TOKEN, listening_addresses, secrets  # noqa: F401  (secrets: a fixture)

CHECKS_SCRIPT = Path(__file__).with_name("tritonclient_http_checks.py")
CHECKS = re.findall(r"^def check_(\w+)\(", CHECKS_SCRIPT.read_text(), flags=re.MULTILINE)
MAX_BODY = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = start_server(
        build_repository(tmp_path_factory.mktemp("repository")), "--max-message-bytes", str(MAX_BODY)
    )
    yield process
    assert process.stop() == 0


def http(url: str, path: str, body: bytes | None = None, headers=None, method=None, context=None):
    """(status, headers, body) of one request; error statuses are returned, not raised."""
    request = urllib.request.Request(f"{url}{path}", data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def call(server, path: str, payload=None, **kwargs):
    body = None if payload is None else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    status, headers, raw = http(f"http://{server.http_url}", path, body, **kwargs)
    return status, json.loads(raw) if raw and headers.get("content-type") == "application/json" else raw


def int_add_json(a, b) -> dict:
    """An int_add request of shape [1, 4] whatever the data holds."""
    return {
        "inputs": [
            {"name": "INPUT0", "shape": [1, 4], "datatype": "INT32", "data": a},
            {"name": "INPUT1", "shape": [1, 4], "datatype": "INT32", "data": b},
        ]
    }


@pytest.mark.parametrize("check", CHECKS)
def test_tritonclient_http(server, check):
    run = subprocess.run(
        [sys.executable, str(CHECKS_SCRIPT), server.http_url, check], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == f"ok {check}"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_health_metadata_and_json_infer(server):
    """The README's curl lines."""

    def curl(*args: str) -> tuple[str, int]:
        run = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=30)
        body, _, code = run.stdout.rpartition("\n")
        return body, int(code)

    base = f"http://{server.http_url}"
    assert curl(f"{base}/v2/health/ready") == ('{"ready":true}', 200)
    metadata, code = curl(f"{base}/v2/models/int_add")
    assert code == 200 and json.loads(metadata)["inputs"][0] == {
        "name": "INPUT0",
        "datatype": "INT32",
        "shape": [-1, 4],
    }
    body = json.dumps(int_add_json([[1, 2, 3, 4]], [[1, 1, 1, 1]]))
    answer, code = curl(
        "-X", "POST", f"{base}/v2/models/int_add/infer", "-H", "Content-Type: application/json", "-d", body
    )
    outputs = {o["name"]: o for o in json.loads(answer)["outputs"]}
    assert code == 200 and outputs["OUTPUT0"]["data"] == [2, 3, 4, 5] and outputs["OUTPUT1"]["shape"] == [1, 4]


def test_nested_and_flat_json_data_agree(server):
    images = np.random.default_rng(3).integers(-4, 5, size=(2, 3, IMAGE, IMAGE)).astype(np.float32)
    for data in (images.tolist(), images.reshape(-1).tolist()):
        status, answer = call(
            server,
            "/v2/models/classifier/versions/1/infer",
            {"id": "n", "inputs": [{"name": "input", "shape": [2, 3, IMAGE, IMAGE], "datatype": "FP32", "data": data}]},
        )
        assert status == 200 and answer["id"] == "n" and answer["model_version"] == "1"
        np.testing.assert_array_equal(np.array(answer["outputs"][0]["data"]).reshape(2, -1), classifier_logits(images))


def test_binary_request_and_response_by_hand(server):
    """Triton's binary extension without tritonclient: header length, binary_data_size, binary_data_output."""
    images = np.ones((1, 3, IMAGE, IMAGE), np.float32)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [1, 3, IMAGE, IMAGE],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": images.nbytes},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    status, headers, body = http(
        f"http://{server.http_url}",
        "/v2/models/classifier/infer",
        header + images.tobytes(),
        {"Inference-Header-Content-Length": str(len(header))},
    )
    assert status == 200
    length = int(headers["inference-header-content-length"])
    output = json.loads(body[:length])["outputs"][0]
    assert output["parameters"]["binary_data_size"] == len(body) - length
    np.testing.assert_array_equal(np.frombuffer(body[length:], np.float32).reshape(1, -1), classifier_logits(images))


@pytest.mark.parametrize(
    "method, path, payload, headers, status, message",
    [
        ("GET", "/v2/models/nope", None, {}, 404, "unknown model 'nope'; models in the repository: "),
        (
            "GET",
            "/v2/models/classifier/versions/7",
            None,
            {},
            404,
            "model 'classifier' has no version '7'; versions: 1",
        ),
        ("GET", "/v2/models/broken/ready", None, {}, 503, "model 'broken' version 1 is not ready (UNAVAILABLE: "),
        ("GET", "/v3/anything", None, {}, 404, "no such path: GET /v3/anything; the v2 REST paths start with /v2"),
        ("GET", "/v2/models/classifier/infer", None, {}, 405, "/v2/models/classifier/infer takes POST, not GET"),
        ("POST", "/v2/models/int_add/infer", b"{not json", {}, 400, "the request body is not JSON: "),
        ("POST", "/v2/models/int_add/infer", b"[1, 2]", {}, 400, "the request must be a JSON object, got list"),
        ("POST", "/v2/models/int_add/infer", b"{}", {}, 400, "request 'inputs' must be a list of tensors"),
        (
            "POST",
            "/v2/models/int_add/infer",
            b"{}",
            {"Inference-Header-Content-Length": "99"},
            400,
            "Inference-Header-Content-Length '99' is not a length within the body of 2 bytes",
        ),
        (
            "POST",
            "/v2/models/int_add/infer",
            b"x" * (MAX_BODY + 1),
            {},
            413,
            f"request body of {MAX_BODY + 1} bytes exceeds the limit of {MAX_BODY} bytes (--max-message-bytes)",
        ),
        (
            "POST",
            "/v2/models/int_add/infer",
            int_add_json([[1, 2, 3]], [[1, 2, 3, 4]]),
            {},
            400,
            "input 'INPUT0': 'data' has 3 elements; expected 4 for shape [1,4]",
        ),
        (
            "POST",
            "/v2/models/int_add/infer",
            int_add_json([["a", "b", "c", "d"]], [[1, 2, 3, 4]]),
            {},
            400,
            "input 'INPUT0': 'data' is not a (nested) list of INT32 values: ",
        ),
        (
            "POST",
            "/v2/models/int_add/infer",
            int_add_json([[1, 2], [3]], [[1, 2, 3, 4]]),
            {},
            400,
            "input 'INPUT0': 'data' is not a (nested) list of INT32 values: ",
        ),
        (
            "POST",
            "/v2/repository/models/../load",
            None,
            {},
            400,
            "failed to load model '..': model name '..' is not a folder name",
        ),
        ("POST", "/v2/repository/models/nope/load", b"{}", {}, 404, "model 'nope' is not in the repository"),
        ("POST", "/v2/repository/index", b'{"ready": 3}', {}, 400, "'ready' must be true or false"),
    ],
)
def test_errors_are_json_with_their_status(server, method, path, payload, headers, status, message):
    got, answer = call(server, path, payload, headers=headers, method=method)
    assert (got, answer["error"][: len(message)]) == (status, message)
    assert call(server, "/v2/models/int_add/infer", int_add_json([[1, 2, 3, 4]], [[0, 0, 0, 0]]))[0] == 200


def test_a_full_queue_answers_429(server):
    """queue_limited holds one request for 1.5 s; a second one while it waits is refused at once."""
    body = {
        "inputs": [
            {"name": "input", "shape": [1, 3, IMAGE, IMAGE], "datatype": "FP32", "data": [0.0] * (3 * IMAGE * IMAGE)}
        ]
    }
    first: list = []
    waiting = threading.Thread(target=lambda: first.append(call(server, "/v2/models/queue_limited/infer", body)))
    waiting.start()
    pending = 'nv_inference_pending_request_count{model="queue_limited",version="1"} 1.0'
    while (
        pending
        not in urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).read().decode()
    ):
        assert waiting.is_alive()
        time.sleep(0.01)
    status, answer = call(server, "/v2/models/queue_limited/infer", body)
    assert status == 429 and "queue is full (1 requests waiting); retry later" in answer["error"]
    waiting.join(30)
    assert first[0][0] == 200


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, secrets):  # noqa: F811
    repository = build_repository(tmp_path_factory.mktemp("tls-repository"))
    process = start_server(
        repository,
        "--tls-cert",
        str(secrets["cert"]),
        "--tls-key",
        str(secrets["key"]),
        "--auth-token-file",
        str(secrets["token"]),
    )
    yield process
    assert process.stop() == 0


def test_tls_and_token(tls_server, secrets):  # noqa: F811
    context = ssl.create_default_context(cafile=str(secrets["cert"]))
    base = f"https://{tls_server.http_url}"
    assert http(base, "/v2/health/live", context=context)[0] == 200  # health needs no token
    assert http(base, "/v2/health/ready", context=context)[0] == 200
    status, _, body = http(base, "/v2/models/classifier", context=context)
    assert (status, json.loads(body)["error"]) == (
        401,
        "missing or wrong bearer token: send the header 'Authorization: Bearer <token>'",
    )
    assert http(base, "/v2/models/classifier", headers={"Authorization": "Bearer wrong"}, context=context)[0] == 401
    status, _, body = http(base, "/v2/models/classifier", headers={"Authorization": f"Bearer {TOKEN}"}, context=context)
    assert status == 200 and json.loads(body)["name"] == "classifier"
    for path in ("/v2/systemsharedmemory/status", "/v2/systemsharedmemory/region/r/status"):
        assert http(base, path, context=context)[0] == 401  # shared memory paths are behind the token too
    status, _, body = http(
        base, "/v2/systemsharedmemory/status", headers={"Authorization": f"Bearer {TOKEN}"}, context=context
    )
    assert (status, json.loads(body)) == (200, [])
    for path in ("/v2/trace/setting", "/v2/models/classifier/trace/setting"):
        assert http(base, path, context=context)[0] == 401  # so are the trace settings
        status, _, body = http(base, path, headers={"Authorization": f"Bearer {TOKEN}"}, context=context)
        assert status == 200 and json.loads(body)["trace_level"] == ["OFF"]
    with pytest.raises(OSError):  # plaintext HTTP is not served (the connection is dropped)
        urllib.request.urlopen(f"http://{tls_server.http_url}/v2/health/live", timeout=10)


def test_binds_loopback_only_by_default(server):
    assert listening_addresses(server.http_port) == {ipaddress.ip_address("127.0.0.1")}


def test_a_port_in_use_is_refused_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = run_serve(tmp_path, "--http-port", str(port), timeout=60)
    assert (run.returncode, run.stderr.splitlines()[-1]) == (
        1,
        f"convzoo serve: error: cannot bind HTTP to 127.0.0.1:{port} (Address already in use)",
    )


KSERVE_PYTHON = Path(
    os.environ.get("CONVZOO_KSERVE_PYTHON", Path(__file__).parents[1] / ".venv-kserve" / "bin" / "python")
)


@pytest.mark.skipif(
    not KSERVE_PYTHON.exists(),
    reason=f"KServe's client needs its own venv (kserve pulls kubernetes, fastapi...): set CONVZOO_KSERVE_PYTHON; {KSERVE_PYTHON} is missing",
)
def test_kserve_rest_client_with_protocol_v2(server):
    images = np.random.default_rng(7).integers(-4, 5, size=(2, 3, IMAGE, IMAGE)).astype(np.float32)
    run = subprocess.run(
        [str(KSERVE_PYTHON), str(Path(__file__).with_name("kserve_rest_checks.py")), f"http://{server.http_url}"],
        input=json.dumps({"classifier": images.tolist()}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.splitlines()[-1])
    assert (result["live"], result["ready"], result["model_ready"], result["broken_ready"]) == (True, True, True, False)
    for binary in (False, True):
        np.testing.assert_array_equal(
            np.array(result[f"logits_binary_{binary}"], np.float32), classifier_logits(images)
        )
        assert result[f"id_binary_{binary}"] == f"k{int(binary)}"
    status, message = result["unknown_model"]
    assert status == 404 and message.startswith("unknown model 'nope'")


def test_sigterm_lets_an_in_flight_rest_request_finish(tmp_path):
    process = start_server(build_repository(tmp_path / "repository"))
    body = {
        "inputs": [
            {"name": "input", "shape": [1, 3, IMAGE, IMAGE], "datatype": "FP32", "data": [1.0] * (3 * IMAGE * IMAGE)}
        ]
    }
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(call(process, "/v2/models/queue_limited/infer", body)))
    thread.start()
    pending = 'nv_inference_pending_request_count{model="queue_limited",version="1"} 1.0'
    metrics = f"http://127.0.0.1:{process.metrics_port}/metrics"
    while pending not in urllib.request.urlopen(metrics, timeout=5).read().decode():
        assert thread.is_alive()
        time.sleep(0.01)
    assert process.stop() == 0  # SIGTERM: the request waiting 1.5 s in the queue still gets its answer
    thread.join(30)
    status, answer = outcome[0]
    images = np.ones((1, 3, IMAGE, IMAGE), np.float32)
    assert status == 200
    np.testing.assert_array_equal(
        np.array(answer["outputs"][0]["data"], np.float32).reshape(1, -1), classifier_logits(images)
    )
