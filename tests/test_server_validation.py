"""Every malformed request of docs/errors.md, sent to a ``convzoo serve`` process: the status
and message are the table's, and a normal request succeeds after each."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import urllib.error
import urllib.parse
import urllib.request
import zlib
from multiprocessing import shared_memory
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image
from server_repository import IMAGE, build_repository, classifier_logits, start_server, write_classifier

from convzoo.base.errors import MAX_MESSAGE_CHARS
from convzoo.client.inference import build_request, decode_response
from convzoo.proto import evaluation_pb2 as eval_pb
from convzoo.proto import grpc_service_pb2 as pb

ERRORS_DOC = Path(__file__).parents[1] / "docs" / "errors.md"
IMAGES = np.arange(2 * 3 * IMAGE * IMAGE, dtype=np.float32).reshape(2, 3, IMAGE, IMAGE) % 5
MAX_MESSAGE_BYTES = 1 << 20
SERVICES = {"Evaluate": "convzoo.evaluation.Evaluation"}
# A POSIX shared memory object of 4096 bytes, registered as region 'taken' for the whole module.
SHM_NAME = f"convzoo_errors_{os.getpid()}"
SHM_KEY = "/" + SHM_NAME


def _rows() -> list[list[str]]:
    section = ERRORS_DOC.read_text().split("## Malformed requests", 1)[1].split("\n## ", 1)[0]
    return [line.strip().strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")][2:]


def catalogue() -> list[tuple[str, str, str, str]]:
    """(case, RPC, status, message prefix) rows of the 'Malformed requests' table."""
    return [(case.strip(), rpc, status, message.strip().strip("`")) for case, rpc, status, _, message in _rows()]


def rest_catalogue() -> list[tuple[str, str, int, str]]:
    """(case, RPC, HTTP status, message prefix) of the rows REST can express: the REST column
    is a status, then the message where REST words it differently."""
    result = []
    for case, rpc, _, rest, message in _rows():
        if rest.strip() != "—":
            status, _, own = rest.strip().partition(" ")
            result.append((case.strip(), rpc, int(status), (own or message).strip().strip("`")))
    return result


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = build_repository(tmp_path_factory.mktemp("repository"))
    outside = tmp_path_factory.mktemp("outside")
    write_classifier(outside / "escape")
    (root / "escape").symlink_to(outside / "escape", target_is_directory=True)
    process = start_server(root, "--max-message-bytes", str(MAX_MESSAGE_BYTES))
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.url) as channel:
        yield channel


@pytest.fixture(scope="module", autouse=True)
def taken_region(channel):
    block = shared_memory.SharedMemory(name=SHM_NAME, create=True, size=4096)
    call(channel, "SystemSharedMemoryRegister", register("taken", SHM_KEY))
    yield
    call(channel, "SystemSharedMemoryUnregister", pb.SystemSharedMemoryUnregisterRequest(name="taken"))
    block.close()
    block.unlink()


def register(name: str, key: str, offset: int = 0, byte_size: int = 4096) -> pb.SystemSharedMemoryRegisterRequest:
    return pb.SystemSharedMemoryRegisterRequest(name=name, key=key, offset=offset, byte_size=byte_size)


def placed(parameters, region=None, byte_size=None, offset=None) -> None:
    """Set Triton's shared memory parameters of an input or output (None: leave out)."""
    if region is not None:
        setattr(
            parameters["shared_memory_region"], "int64_param" if isinstance(region, int) else "string_param", region
        )
    if byte_size is not None:
        parameters["shared_memory_byte_size"].int64_param = byte_size
    if offset is not None:
        parameters["shared_memory_offset"].int64_param = offset


def in_region(region, byte_size=None, offset=None) -> pb.ModelInferRequest:
    """The classifier request with its input in a shared memory region instead of the message."""

    def edit(request):
        del request.raw_input_contents[:]
        placed(request.inputs[0].parameters, region, byte_size, offset)

    return edited(classifier(), edit)


def out_region(region: str, byte_size: int, request=None) -> pb.ModelInferRequest:
    request = classifier(outputs=["logits"]) if request is None else request
    placed(request.outputs[0].parameters, region, byte_size)
    return request


def trace_setting(model: str = "", **settings: list[str]) -> pb.TraceSettingRequest:
    request = pb.TraceSettingRequest(model_name=model)
    for name, values in settings.items():
        request.settings[name].value.extend(values)
    return request


def classifier(array=IMAGES, **kwargs) -> pb.ModelInferRequest:
    return build_request("classifier", {"input": array}, **kwargs)


def int_add(a=None, b=None) -> pb.ModelInferRequest:
    a = np.ones((1, 4), np.int32) if a is None else a
    b = np.ones((1, 4), np.int32) if b is None else b
    return build_request("int_add", {"INPUT0": a, "INPUT1": b})


def strings_raw(raw: bytes, shape) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="strings")
    request.inputs.add(name="TEXT", datatype="BYTES", shape=shape)
    request.raw_input_contents.append(raw)
    return request


def edited(request, edit):
    edit(request)
    return request


def shaped(shape) -> pb.ModelInferRequest:
    """The classifier request with its declared shape replaced (the data stays as it is)."""
    return edited(classifier(), lambda r: (r.inputs[0].ClearField("shape"), r.inputs[0].shape.extend(shape)))


def typed(a_field: str, a_values, b_field: str = "int_contents") -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="int_add")
    request.inputs.add(
        name="INPUT0", datatype="INT32", shape=[1, 4], contents=pb.InferTensorContents(**{a_field: a_values})
    )
    request.inputs.add(
        name="INPUT1", datatype="INT32", shape=[1, 4], contents=pb.InferTensorContents(**{b_field: [1, 2, 3, 4]})
    )
    return request


def classification(parameter: str, value, model=None) -> pb.ModelInferRequest:
    request = model or classifier(outputs=["logits"])
    setattr(request.outputs[0].parameters["classification"], parameter, value)
    return request


def images(data: list[bytes], shape=None) -> pb.ModelInferRequest:
    array = np.empty(len(data), dtype=object)
    array[:] = data
    request = build_request("classifier", {"input": array})
    if shape:
        request.inputs[0].ClearField("shape")
        request.inputs[0].shape.extend(shape)
    return request


def truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()[:1500]


def png_bomb(side: int = 9000) -> bytes:
    """A PNG whose header declares side x side pixels, with almost no pixel data: decoding it
    in full would fail as truncated, so the size message proves the header check came first."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )


def load(name: str, **fields) -> pb.RepositoryModelLoadRequest:
    return pb.RepositoryModelLoadRequest(model_name=name, **fields)


REQUESTS = {
    ("unknown model", "ModelInfer"): lambda: build_request("nope", {"input": IMAGES}),
    ("empty model name", "ModelInfer"): lambda: build_request("", {"input": IMAGES}),
    ("model name of 100,000 characters", "ModelInfer"): lambda: build_request("x" * 100_000, {"input": IMAGES}),
    ("unknown version", "ModelInfer"): lambda: edited(classifier(), lambda r: setattr(r, "model_version", "7")),
    ("model that failed to load", "ModelInfer"): lambda: build_request("broken", {"x": IMAGES}),
    ("model folder escaping by symlink", "ModelInfer"): lambda: build_request("escape", {"input": IMAGES}),
    ("unknown datatype string", "ModelInfer"): lambda: edited(
        classifier(), lambda r: setattr(r.inputs[0], "datatype", "FLOAT32")
    ),
    ("wrong datatype", "ModelInfer"): lambda: classifier(IMAGES.astype(np.float64)),
    ("rank too small", "ModelInfer"): lambda: classifier(IMAGES[0]),
    ("rank too large", "ModelInfer"): lambda: classifier(IMAGES[..., None]),
    ("rank of 100,000", "ModelInfer"): lambda: shaped([2, 3, IMAGE, IMAGE] + [1] * (100_000 - 4)),
    ("wrong dims", "ModelInfer"): lambda: classifier(IMAGES[:, :, :4]),
    ("negative dim", "ModelInfer"): lambda: shaped([2, 3, -IMAGE, IMAGE]),
    ("zero batch", "ModelInfer"): lambda: classifier(IMAGES[:0]),
    ("zero dim without batching", "ModelInfer"): lambda: build_request("scaler", {"X": np.zeros((2, 0))}),
    ("element count overflowing 64 bits", "ModelInfer"): lambda: shaped([2**62, 3, IMAGE, IMAGE]),
    ("batch over max_batch_size", "ModelInfer"): lambda: classifier(np.zeros((9, 3, IMAGE, IMAGE), np.float32)),
    ("raw data one byte short", "ModelInfer"): lambda: edited(
        classifier(), lambda r: r.raw_input_contents.__setitem__(0, r.raw_input_contents[0][:-1])
    ),
    ("raw data one byte long", "ModelInfer"): lambda: edited(
        classifier(), lambda r: r.raw_input_contents.__setitem__(0, r.raw_input_contents[0] + b"\0")
    ),
    ("fewer raw entries than inputs", "ModelInfer"): lambda: edited(int_add(), lambda r: r.raw_input_contents.pop()),
    ("more raw entries than inputs", "ModelInfer"): lambda: edited(
        int_add(), lambda r: r.raw_input_contents.append(b"\0" * 16)
    ),
    ("missing input", "ModelInfer"): lambda: build_request("int_add", {"INPUT0": np.ones((1, 4), np.int32)}),
    ("duplicate input", "ModelInfer"): lambda: edited(
        int_add(),
        lambda r: (r.inputs.add().CopyFrom(r.inputs[0]), r.raw_input_contents.append(r.raw_input_contents[0])),
    ),
    ("unknown input", "ModelInfer"): lambda: build_request(
        "int_add", {"INPUT0": np.ones((1, 4), np.int32), "INPUT9": np.ones((1, 4), np.int32)}
    ),
    ("batch sizes differ", "ModelInfer"): lambda: int_add(b=np.ones((2, 4), np.int32)),
    ("no data", "ModelInfer"): lambda: edited(
        pb.ModelInferRequest(model_name="scaler"), lambda r: r.inputs.add(name="X", datatype="FP64", shape=[2, 3])
    ),
    ("raw and typed contents", "ModelInfer"): lambda: edited(
        int_add(), lambda r: r.inputs[1].contents.int_contents.extend([1, 2, 3, 4])
    ),
    ("typed contents in the wrong field", "ModelInfer"): lambda: typed("int_contents", [1, 2, 3, 4], "fp32_contents"),
    ("typed contents of the wrong count", "ModelInfer"): lambda: typed("int_contents", [1, 2, 3]),
    ("unknown output", "ModelInfer"): lambda: classifier(outputs=["probabilities"]),
    ("duplicate requested output", "ModelInfer"): lambda: classifier(outputs=["logits", "logits"]),
    ("classification k of 0", "ModelInfer"): lambda: classification("int64_param", 0),
    ("classification k below 0", "ModelInfer"): lambda: classification("int64_param", -3),
    ("classification k as a string", "ModelInfer"): lambda: classification("string_param", "5"),
    ("classification of a BYTES output", "ModelInfer"): lambda: classification(
        "int64_param",
        1,
        edited(
            strings_raw(struct.pack("<I", 1) + b"a" + struct.pack("<I", 1) + b"b", [1, 2]),
            lambda r: r.outputs.add(name="ECHO"),
        ),
    ),
    ("request parameter of the wrong type", "ModelInfer"): lambda: edited(
        classifier(), lambda r: setattr(r.parameters["priority"], "string_param", "high")
    ),
    ("BYTES length prefix past the end", "ModelInfer"): lambda: strings_raw(
        struct.pack("<I", 2) + b"ab" + struct.pack("<I", 50) + b"abc", [1, 2]
    ),
    ("BYTES length prefix truncated", "ModelInfer"): lambda: strings_raw(
        struct.pack("<I", 1) + b"a" + b"\x01\x00", [1, 2]
    ),
    ("BYTES element count", "ModelInfer"): lambda: strings_raw(struct.pack("<I", 1) + b"a", [1, 2]),
    ("BYTES that is not UTF-8", "ModelInfer"): lambda: strings_raw(
        struct.pack("<I", 1) + b"a" + struct.pack("<I", 2) + b"\xff\xfe", [1, 2]
    ),
    ("image bytes that are not an image", "ModelInfer"): lambda: images([b"not an image"]),
    ("truncated JPEG", "ModelInfer"): lambda: images([truncated_jpeg()]),
    ("decompression bomb", "ModelInfer"): lambda: images([png_bomb()]),
    ("images of the wrong shape", "ModelInfer"): lambda: images([b"a"] * 6, shape=[2, 3]),
    ("message above the size limit", "ModelInfer"): lambda: edited(
        classifier(), lambda r: setattr(r, "id", "x" * MAX_MESSAGE_BYTES)
    ),
    ("bytes that are not a request", "ModelInfer"): lambda: b"\x0a\x02\xff\xfe",
    ("bytes that are not a request", "ModelReady"): lambda: b"\x0a\x05ab",
    ("bytes that are not a request", "ModelStreamInfer"): lambda: b"\x2a\x05ab",
    ("unknown method", "Nope"): lambda: b"",
    ("trace level that is not a level", "TraceSetting"): lambda: trace_setting(trace_level=["VERBOSE"]),
    ("negative trace rate", "TraceSetting"): lambda: trace_setting(trace_rate=["-1"]),
    ("trace count below -1", "TraceSetting"): lambda: trace_setting(trace_count=["-2"]),
    ("unknown trace setting", "TraceSetting"): lambda: trace_setting(trace_mode=["triton"]),
    ("writing a trace file", "TraceSetting"): lambda: trace_setting(trace_file=["/tmp/trace.json"]),
    ("trace settings of an unknown model", "TraceSetting"): lambda: trace_setting("nope"),
    ("tracing with no exporter", "TraceSetting"): lambda: trace_setting(trace_level=["TIMESTAMPS"]),
    ("register CUDA shared memory", "CudaSharedMemoryRegister"): lambda: pb.CudaSharedMemoryRegisterRequest(
        name="r", raw_handle=b"handle", byte_size=64
    ),
    ("unregister a CUDA region", "CudaSharedMemoryUnregister"): lambda: pb.CudaSharedMemoryUnregisterRequest(name="r"),
    ("register a key that does not exist", "SystemSharedMemoryRegister"): lambda: register("r", "/convzoo_no_such_key"),
    ("register a key outside /dev/shm", "SystemSharedMemoryRegister"): lambda: register("r", "/etc/passwd"),
    ("register 0 bytes", "SystemSharedMemoryRegister"): lambda: register("r", SHM_KEY, byte_size=0),
    ("register beyond the object's size", "SystemSharedMemoryRegister"): lambda: register("far", SHM_KEY, offset=8),
    ("register a name twice", "SystemSharedMemoryRegister"): lambda: register("taken", SHM_KEY),
    ("unregister an unknown region", "SystemSharedMemoryUnregister"): lambda: pb.SystemSharedMemoryUnregisterRequest(
        name="nope"
    ),
    ("status of an unknown region", "SystemSharedMemoryStatus"): lambda: pb.SystemSharedMemoryStatusRequest(
        name="nope"
    ),
    ("input in an unknown region", "ModelInfer"): lambda: in_region("nope", IMAGES.nbytes),
    ("output in an unknown region", "ModelInfer"): lambda: out_region("nope", 80),
    ("input beyond its region", "ModelInfer"): lambda: in_region("taken", IMAGES.nbytes, offset=4000),
    ("output region too small", "ModelInfer"): lambda: out_region("taken", 8),
    ("shared memory offset without a region", "ModelInfer"): lambda: in_region(None, offset=0),
    ("shared memory region without a byte size", "ModelInfer"): lambda: in_region("taken"),
    ("shared memory region of the wrong type", "ModelInfer"): lambda: in_region(5, IMAGES.nbytes),
    ("input in shared memory and in the request", "ModelInfer"): lambda: edited(
        classifier(), lambda r: placed(r.inputs[0].parameters, "taken", IMAGES.nbytes)
    ),
    ("output in shared memory with classification", "ModelInfer"): lambda: out_region(
        "taken", 80, classification("int64_param", 3)
    ),
    ("empty model name", "ModelReady"): pb.ModelReadyRequest,
    ("unknown model", "ModelMetadata"): lambda: pb.ModelMetadataRequest(name="nope"),
    ("load `..`", "RepositoryModelLoad"): lambda: load(".."),
    ("load `../outside`", "RepositoryModelLoad"): lambda: load("../outside"),
    ("load an absolute path", "RepositoryModelLoad"): lambda: load("/etc"),
    ("load a symlink leading outside", "RepositoryModelLoad"): lambda: load("escape"),
    ("load an unknown model", "RepositoryModelLoad"): lambda: load("nope"),
    ("load from another repository", "RepositoryModelLoad"): lambda: load("classifier", repository_name="other"),
    ("load with unsupported parameters", "RepositoryModelLoad"): lambda: edited(
        load("classifier"), lambda r: setattr(r.parameters["config"], "string_param", "{}")
    ),
    ("unload `..`", "RepositoryModelUnload"): lambda: pb.RepositoryModelUnloadRequest(model_name=".."),
    ("evaluate a dataset path", "Evaluate"): lambda: eval_pb.EvaluateRequest(model_name="classifier", dataset="/etc"),
    ("evaluate `../`", "Evaluate"): lambda: eval_pb.EvaluateRequest(model_name="classifier", dataset="../data"),
}


def call(channel, rpc: str, request, timeout: float = 30):
    """Send ``request`` (a message, or raw bytes) to ``rpc``; a streaming answer is read through."""
    path = f"/{SERVICES.get(rpc, 'inference.GRPCInferenceService')}/{rpc}"
    serialize = (lambda data: data) if isinstance(request, bytes) else type(request).SerializeToString
    if rpc == "Evaluate":
        return list(channel.unary_stream(path, request_serializer=serialize)(request, timeout=timeout))
    if rpc == "ModelStreamInfer":
        return list(channel.stream_stream(path, request_serializer=serialize)(iter([request]), timeout=timeout))
    return channel.unary_unary(path, request_serializer=serialize)(request, timeout=timeout)


def test_the_catalogue_and_the_requests_match():
    rows = catalogue()
    assert len(rows) >= 30
    assert [(case, rpc) for case, rpc, _, _ in rows] == list(REQUESTS)


@pytest.mark.parametrize("case, rpc, status, message", catalogue(), ids=[f"{c} ({r})" for c, r, _, _ in catalogue()])
def test_refused_with_the_catalogued_status_and_message(channel, case, rpc, status, message):
    with pytest.raises(grpc.RpcError) as error:
        call(channel, rpc, REQUESTS[case, rpc]())
    details = error.value.details()
    assert (error.value.code().name, details[: len(message)]) == (status, message)
    assert len(details) <= MAX_MESSAGE_CHARS + 40
    response = call(channel, "ModelInfer", classifier())
    np.testing.assert_array_equal(
        decode_response(pb.ModelInferResponse.FromString(response))["logits"], classifier_logits(IMAGES)
    )


def test_the_symlinked_model_was_never_opened(channel, server):
    """The outside model is valid: had the server followed the symlink, it would be READY."""
    index = pb.RepositoryIndexResponse.FromString(call(channel, "RepositoryIndex", pb.RepositoryIndexRequest())).models
    (escape,) = [m for m in index if m.name == "escape"]
    assert escape.state == "UNAVAILABLE" and re.search(r"model 'escape': folder \S+ leads outside ", escape.reason)
    assert not any("loaded model 'escape'" in line for line in server.log)


# --- the same catalogue over HTTP/REST ---


def _json_parameter(parameter: pb.InferParameter):
    kind = parameter.WhichOneof("parameter_choice")
    return getattr(parameter, kind) if kind else None


def _json_parameters(parameters) -> dict:
    return {key: _json_parameter(value) for key, value in parameters.items()}


def rest_request(rpc: str, request) -> tuple[str, str, bytes | None, dict[str, str]]:
    """(method, path, body, headers) of a catalogue request as a REST client sends it: raw
    contents as Triton binary tensors, typed contents as JSON ``data``."""

    def name(text: str) -> str:
        return urllib.parse.quote(text, safe="")

    if rpc in ("RepositoryModelLoad", "RepositoryModelUnload"):
        action = "load" if rpc == "RepositoryModelLoad" else "unload"
        body = json.dumps({"parameters": _json_parameters(request.parameters)}).encode()
        return "POST", f"/v2/repository/models/{name(request.model_name)}/{action}", body, {}
    if rpc == "ModelReady":
        return "GET", f"/v2/models/{name(request.name)}/ready", None, {}
    if rpc == "ModelMetadata":
        return "GET", f"/v2/models/{name(request.name)}", None, {}
    if rpc == "TraceSetting":
        path = (f"/v2/models/{name(request.model_name)}" if request.model_name else "/v2") + "/trace/setting"
        if not request.settings:
            return "GET", path, None, {}
        # as Triton's REST clients send them: trace_level a list, the others one string
        body = {key: list(v.value) if key == "trace_level" else v.value[0] for key, v in request.settings.items()}
        return "POST", path, json.dumps(body).encode(), {}
    if rpc == "CudaSharedMemoryUnregister":
        return "POST", f"/v2/cudasharedmemory/region/{name(request.name)}/unregister", None, {}
    if rpc == "CudaSharedMemoryRegister":
        body = json.dumps({"raw_handle": {"b64": "aGFuZGxl"}, "device_id": 0, "byte_size": 64}).encode()
        return "POST", f"/v2/cudasharedmemory/region/{name(request.name)}/register", body, {}
    if rpc.startswith("SystemSharedMemory"):
        region = f"/region/{name(request.name)}" if request.name else ""
        if rpc == "SystemSharedMemoryStatus":
            return "GET", f"/v2/systemsharedmemory{region}/status", None, {}
        if rpc == "SystemSharedMemoryUnregister":
            return "POST", f"/v2/systemsharedmemory{region}/unregister", None, {}
        body = json.dumps({"key": request.key, "offset": request.offset, "byte_size": request.byte_size}).encode()
        return "POST", f"/v2/systemsharedmemory{region}/register", body, {}
    if isinstance(request, bytes):
        return "POST", "/v2/models/classifier/infer", request, {}
    path = f"/v2/models/{name(request.model_name)}"
    path += (f"/versions/{name(request.model_version)}" if request.model_version else "") + "/infer"
    header: dict = {"inputs": []}
    if request.id:
        header["id"] = request.id
    if request.parameters:
        header["parameters"] = _json_parameters(request.parameters)
    binary = []
    for index, tensor in enumerate(request.inputs):
        entry = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        if index < len(request.raw_input_contents):
            entry["parameters"] = {"binary_data_size": len(request.raw_input_contents[index])}
            binary.append(request.raw_input_contents[index])
        elif tensor.HasField("contents"):
            ((_, values),) = tensor.contents.ListFields()
            entry["data"] = [v.decode() if isinstance(v, bytes) else v for v in values]
        if tensor.parameters:
            entry.setdefault("parameters", {}).update(_json_parameters(tensor.parameters))
        header["inputs"].append(entry)
    if request.outputs:
        header["outputs"] = [{"name": o.name, "parameters": _json_parameters(o.parameters)} for o in request.outputs]
    body = json.dumps(header).encode()
    headers = {"Inference-Header-Content-Length": str(len(body))} if binary else {}
    return "POST", path, body + b"".join(binary), headers


def rest_call(server, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://{server.http_url}{path}", data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    "case, rpc, status, message", rest_catalogue(), ids=[f"{c} ({r}, REST)" for c, r, _, _ in rest_catalogue()]
)
def test_refused_over_rest_with_the_catalogued_status_and_message(server, case, rpc, status, message):
    got, answer = rest_call(server, *rest_request(rpc, REQUESTS[case, rpc]()))
    assert (got, answer["error"][: len(message)]) == (status, message)
    assert len(answer["error"]) <= MAX_MESSAGE_CHARS + 40
    got, answer = rest_call(server, *rest_request("ModelInfer", classifier()))
    assert got == 200
    np.testing.assert_array_equal(
        np.array(answer["outputs"][0]["data"], np.float32).reshape(len(IMAGES), -1), classifier_logits(IMAGES)
    )
