"""Property-based fuzzing of ModelInferRequest against a live ``convzoo serve``: random model
names, versions, datatypes, shapes, raw sizes, typed contents and parameter maps; mutations of
valid requests; and valid requests with their bytes mangled (the server parses ModelInfer's
wire format itself, ``server/wire.py``). Every request gets a documented status
(docs/errors.md) within the deadline, the server never dies, and its RSS stays bounded.

``CONVZOO_FUZZ_CASES`` sets the number of cases (default 2000, the CI run).
"""

from __future__ import annotations

import os
import time

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_repository import ALL_TYPES, IMAGE, rss_mb

from convzoo.client.inference import build_request
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc

CASES = int(os.environ.get("CONVZOO_FUZZ_CASES", "2000"))
DEADLINE_S = 10.0
# RSS may grow this much over the run (allocator caches, gRPC buffers); a leak per request
# would exceed it by far over thousands of requests.
RSS_BOUND_MB = 64

pytestmark = pytest.mark.slow  # CASES requests, each checked
EXPECTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
SERVING = ["classifier", "versioned", "batched", "int_add", "strings", "scaler", "all_types"]
MODELS = SERVING * 3 + ["broken", "nope", ""]  # mostly models that serve, to get past the lookup
NAMES = ["input", "INPUT0", "INPUT1", "TEXT", "X", "logits", "OUTPUT0", "ECHO", "Y", *(f"IN_{t}" for t in ALL_TYPES)]
DATATYPES = [*ALL_TYPES, "BF16", "FLOAT32", "", "bytes"]
DIMS = st.one_of(st.integers(-2, 10), st.sampled_from([IMAGE, 2**31, 2**62, 2**63 - 1, -(2**63)]))
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
CONTENT_FIELDS = {
    "bool_contents": st.booleans(),
    "int_contents": st.integers(-(2**31), 2**31 - 1),
    "int64_contents": st.integers(-(2**63), 2**63 - 1),
    "uint_contents": st.integers(0, 2**32 - 1),
    "uint64_contents": st.integers(0, 2**64 - 1),
    "fp32_contents": st.floats(width=32),
    "fp64_contents": st.floats(),
    "bytes_contents": st.binary(max_size=16),
}
PARAMETERS = {
    "bool_param": st.booleans(),
    "int64_param": st.integers(-(2**63), 2**63 - 1),
    "string_param": TEXT,
    "double_param": st.floats(),
    "uint64_param": st.integers(0, 2**64 - 1),
}


@st.composite
def parameter_maps(draw, target):
    for key in draw(
        st.lists(
            st.sampled_from(["classification", "priority", "timeout", "sequence_id", "binary_data", "x"]), max_size=3
        )
    ):
        kind = draw(st.sampled_from(sorted(PARAMETERS)))
        setattr(target[key], kind, draw(PARAMETERS[kind]))


@st.composite
def contents(draw):
    field = draw(st.sampled_from(sorted(CONTENT_FIELDS)))
    return pb.InferTensorContents(**{field: draw(st.lists(CONTENT_FIELDS[field], max_size=20))})


@st.composite
def random_requests(draw) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(
        model_name=draw(st.sampled_from(MODELS) if draw(st.integers(0, 9)) else TEXT),
        model_version=draw(st.sampled_from(["", "", "", "", "1", "2", "0", "x"])),
        id=draw(TEXT),
    )
    draw(parameter_maps(request.parameters))
    for _ in range(draw(st.integers(0, 4))):
        tensor = request.inputs.add(
            name=draw(st.one_of(st.sampled_from(NAMES), TEXT)),
            datatype=draw(st.sampled_from(DATATYPES)),
            shape=draw(st.lists(DIMS, max_size=6)),
        )
        if draw(st.booleans()):
            tensor.contents.CopyFrom(draw(contents()))
    for _ in range(draw(st.integers(0, 3))):
        draw(parameter_maps(request.outputs.add(name=draw(st.one_of(st.sampled_from(NAMES), TEXT))).parameters))
    request.raw_input_contents.extend(draw(st.lists(st.binary(max_size=64), max_size=4)))
    return request


def valid_requests() -> st.SearchStrategy[pb.ModelInferRequest]:
    rows = st.integers(1, 3)
    return st.one_of(
        rows.map(lambda n: build_request("classifier", {"input": np.ones((n, 3, IMAGE, IMAGE), np.float32)})),
        rows.map(
            lambda n: build_request(
                "int_add", {"INPUT0": np.ones((n, 4), np.int32), "INPUT1": np.ones((n, 4), np.int32)}
            )
        ),
        rows.map(lambda n: build_request("strings", {"TEXT": np.full((n, 2), "ab", dtype=object)})),
        st.just(build_request("scaler", {"X": np.ones((2, 3))})),
    )


@st.composite
def mutated_requests(draw) -> pb.ModelInferRequest:
    """A valid request with one or two fields changed: the checks deep inside validation."""
    request = draw(valid_requests())
    for _ in range(draw(st.integers(1, 2))):
        mutation = draw(
            st.sampled_from(["shape", "datatype", "raw", "name", "contents", "output", "parameters", "none"])
        )
        tensor = request.inputs[draw(st.integers(0, len(request.inputs) - 1))]
        if mutation == "shape":
            tensor.shape[draw(st.integers(0, len(tensor.shape) - 1))] = draw(DIMS)
        elif mutation == "datatype":
            tensor.datatype = draw(st.sampled_from(DATATYPES))
        elif mutation == "raw" and request.raw_input_contents:
            index = draw(st.integers(0, len(request.raw_input_contents) - 1))
            raw = request.raw_input_contents[index]
            cut = draw(st.integers(0, len(raw)))
            request.raw_input_contents[index] = (
                raw[:cut] + draw(st.binary(max_size=8)) + raw[cut + draw(st.integers(0, 8)) :]
            )
        elif mutation == "name":
            tensor.name = draw(st.sampled_from(NAMES))
        elif mutation == "contents":
            tensor.contents.CopyFrom(draw(contents()))
            if draw(st.booleans()):
                request.ClearField("raw_input_contents")
        elif mutation == "output":
            draw(parameter_maps(request.outputs.add(name=draw(st.sampled_from(NAMES))).parameters))
        elif mutation == "parameters":
            draw(parameter_maps(request.parameters))
    return request


@st.composite
def mangled_bytes(draw) -> bytes:
    """A valid request's bytes, truncated, with bytes flipped, inserted or dropped."""
    data = bytearray(draw(valid_requests()).SerializeToString())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["truncate", "flip", "insert", "drop"]))
        if edit == "truncate":
            del data[at:]
        elif edit == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
        else:
            del data[at : at + draw(st.integers(1, 12))]
    return bytes(data)


@pytest.fixture(scope="module")
def server(repository_server):
    return repository_server


def test_every_request_gets_a_documented_status_and_the_server_holds(server):
    seen: dict[grpc.StatusCode, int] = {}
    with grpc.insecure_channel(server.url) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)

        infer_bytes = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")

        def send(request: pb.ModelInferRequest | bytes) -> grpc.StatusCode:
            start = time.monotonic()
            try:
                (infer_bytes if isinstance(request, bytes) else stub.ModelInfer)(request, timeout=DEADLINE_S)
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()
                assert code in EXPECTED, f"{code}: {error.details()}\n{request}"
            assert time.monotonic() - start < DEADLINE_S
            seen[code] = seen.get(code, 0) + 1
            return code

        for _ in range(50):  # warm-up: every path once, then the baseline RSS
            send(build_request("classifier", {"input": np.ones((1, 3, IMAGE, IMAGE), np.float32)}))
        warm = rss_mb(server.process.pid)

        @settings(
            max_examples=CASES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
        )
        @given(st.one_of(random_requests(), mutated_requests(), mangled_bytes()))
        def fuzz(request):
            send(request)

        fuzz()
        assert server.process.poll() is None
        assert stub.ServerLive(pb.ServerLiveRequest(), timeout=5).live
        after = rss_mb(server.process.pid)
    cases = sum(seen.values()) - 50
    print(
        f"\nfuzz: {cases} requests, statuses { ({c.name: n for c, n in seen.items()}) }, "
        f"RSS {warm:.0f} MB after warm-up, {after:.0f} MB after (bound +{RSS_BOUND_MB} MB)"
    )
    assert cases >= CASES
    assert after - warm < RSS_BOUND_MB
    assert len(seen) >= 3  # the run reached past the first checks
