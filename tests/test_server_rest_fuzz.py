"""Property-based fuzzing of the REST endpoint against a live ``convzoo serve``: random JSON
bodies and paths, valid infer bodies (JSON and Triton binary) with fields replaced by random
JSON, and valid bodies with their bytes mangled. Every request gets a documented status
(docs/errors.md) with a ``{"error": ...}`` body, never 500; the server lives, and its RSS
stays bounded.

``CONVZOO_REST_FUZZ_CASES`` sets the number of cases (default 300, the CI run).
"""

from __future__ import annotations

import http.client
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_repository import IMAGE, build_repository, rss_mb, start_server

CASES = int(os.environ.get("CONVZOO_REST_FUZZ_CASES", "300"))
RSS_BOUND_MB = 64
MAX_BODY = 1 << 20
EXPECTED = {200, 400, 404, 405, 413, 429, 503}
MODELS = ["classifier", "versioned", "batched", "int_add", "strings", "scaler", "all_types", "broken", "nope", ""]
PATHS = st.sampled_from(["/v2", "/v2/health/ready", "/v2/models/stats", "/v2/repository/index", "/v2/models/%2F", "/"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
FIELDS = [
    "id",
    "parameters",
    "inputs",
    "outputs",
    "name",
    "shape",
    "datatype",
    "data",
    "binary_data_size",
    "classification",
]


def valid_bodies() -> st.SearchStrategy[tuple[str, dict, list[bytes]]]:
    """(model, JSON header, binary parts) of requests the server answers with 200."""
    images = np.ones((1, 3, IMAGE, IMAGE), np.float32)
    classifier_json = {
        "inputs": [{"name": "input", "shape": [1, 3, IMAGE, IMAGE], "datatype": "FP32", "data": images.tolist()}]
    }
    classifier_binary = {
        "inputs": [
            {
                "name": "input",
                "shape": [1, 3, IMAGE, IMAGE],
                "datatype": "FP32",
                "parameters": {"binary_data_size": images.nbytes},
            }
        ],
        "outputs": [{"name": "logits", "parameters": {"binary_data": True, "classification": 2}}],
    }
    int_add = {
        "inputs": [
            {"name": "INPUT0", "shape": [1, 4], "datatype": "INT32", "data": [1, 2, 3, 4]},
            {"name": "INPUT1", "shape": [1, 4], "datatype": "INT32", "data": [[4, 3, 2, 1]]},
        ],
        "parameters": {"binary_data_output": True},
    }
    strings = {"inputs": [{"name": "TEXT", "shape": [1, 2], "datatype": "BYTES", "data": ["a", "bc"]}]}
    return st.sampled_from(
        [
            ("classifier", classifier_json, []),
            ("classifier", classifier_binary, [images.tobytes()]),
            ("int_add", int_add, []),
            ("strings", strings, []),
        ]
    )


def _replace_somewhere(draw, value):
    """``value`` with one nested field (by a known key, or a list item) replaced by random JSON."""
    if isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value)))
        if draw(st.booleans()):
            return {**value, key: draw(JSON)}
        return {**value, key: _replace_somewhere(draw, value[key])}
    if isinstance(value, list) and value:
        index = draw(st.integers(0, len(value) - 1))
        copy = list(value)
        copy[index] = draw(JSON) if draw(st.booleans()) else _replace_somewhere(draw, value[index])
        return copy
    return draw(JSON)


@st.composite
def requests(draw) -> tuple[str, str, bytes, dict[str, str]]:
    """(method, path, body, headers)."""
    kind = draw(st.sampled_from(["random", "mutated", "mangled", "path"]))
    if kind == "path":
        return draw(st.sampled_from(["GET", "POST", "PUT"])), draw(PATHS), json.dumps(draw(JSON)).encode(), {}
    model, header, binary = draw(valid_bodies())
    if kind == "random":
        header = draw(JSON)
    elif kind == "mutated":
        header = _replace_somewhere(draw, header)
        if draw(st.booleans()):
            header = {**header, draw(st.sampled_from(FIELDS)): draw(JSON)}
    model = draw(st.sampled_from(MODELS)) if draw(st.integers(0, 4)) == 0 else model
    text = json.dumps(header).encode()
    body = text + b"".join(binary)
    headers = {"Inference-Header-Content-Length": str(len(text))} if binary else {}
    if kind == "mangled":
        data = bytearray(body)
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(data)))
            edit = draw(st.sampled_from(["truncate", "flip", "insert", "drop", "length"]))
            if edit == "truncate":
                del data[at:]
            elif edit == "flip" and at < len(data):
                data[at] ^= draw(st.integers(1, 255))
            elif edit == "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=12))
            elif edit == "drop":
                del data[at : at + draw(st.integers(1, 12))]
            else:
                headers["Inference-Header-Content-Length"] = draw(st.sampled_from(["-1", "x", str(at), "9" * 30]))
        body = bytes(data)
    return "POST", f"/v2/models/{model}/infer", body, headers


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = start_server(
        build_repository(tmp_path_factory.mktemp("repository")), "--max-message-bytes", str(MAX_BODY)
    )
    yield process
    assert process.stop() == 0


def test_every_rest_request_gets_a_documented_status_and_the_server_holds(server):
    seen: dict[int, int] = {}

    def send(method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
        # A connection per request: pauses of the generator must not meet the keep-alive timeout.
        connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
        connection.request(method, path, body, headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        assert response.status in EXPECTED, f"{response.status}: {data[:300]!r}\n{method} {path} {body[:300]!r}"
        if response.status != 200:
            assert isinstance(json.loads(data)["error"], str)
        seen[response.status] = seen.get(response.status, 0) + 1
        return response.status

    valid = json.dumps(
        {
            "inputs": [
                {"name": "INPUT0", "shape": [1, 4], "datatype": "INT32", "data": [1, 2, 3, 4]},
                {"name": "INPUT1", "shape": [1, 4], "datatype": "INT32", "data": [1, 2, 3, 4]},
            ]
        }
    ).encode()
    for _ in range(50):  # warm-up, then the baseline RSS
        assert send("POST", "/v2/models/int_add/infer", valid, {}) == 200
    warm = rss_mb(server.process.pid)

    @settings(
        max_examples=CASES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(requests())
    def check(request):
        send(*request)

    check()
    assert send("POST", "/v2/models/int_add/infer", valid, {}) == 200
    assert server.process.poll() is None
    assert rss_mb(server.process.pid) - warm < RSS_BOUND_MB
    assert seen.get(400, 0) > CASES // 4 and seen.get(200, 0) > 50, seen
