"""A thin Python client over convzoo's own stubs (used by ``convzoo infer`` and the
evaluation job). Any KServe v2 / Triton gRPC server works.

    with InferenceClient("127.0.0.1:8001") as client:
        logits = client.infer("resnet50", batch)               # first output, np.ndarray
        top5 = client.infer_images("resnet50", [jpeg_bytes], top_k=5)
        top5[0][0].label, top5[0][0].score

    InferenceClient("models.example:8001", security=Security(tls=True, token="..."))  # TLS + bearer token
    InferenceClient("127.0.0.1:8001", shared_memory=True)  # tensors through /dev/shm (client/shared_memory.py)

Errors from the server raise ``InferenceServerError`` (an OSError) with the gRPC ``code``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import grpc
import numpy as np

from convzoo.base import classification, codec, wire
from convzoo.base.codec import DEFAULT_MAX_MESSAGE_BYTES
from convzoo.base.datatypes import DATATYPES
from convzoo.base.errors import ServingError
from convzoo.client.channel import Security, open_channel
from convzoo.client.shared_memory import SlotPool, aligned, local_server
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc

MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
log = logging.getLogger(__name__)
# Registration refusals that mean the server cannot use this machine's shared memory.
NO_SHARED_MEMORY = {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.INVALID_ARGUMENT}


class InferenceServerError(OSError):
    """A failed RPC: ``code`` is the grpc.StatusCode, ``message`` the server's details."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


class SharedMemoryRefused(InferenceServerError):
    """The server refused to register this machine's shared memory."""


class Classification(NamedTuple):
    score: float
    index: int
    label: str


class InferenceClient:
    """Blocking client for one server at ``url`` (``host:port``); ``security``: TLS and a bearer token.

    ``shared_memory``: send inputs and receive fixed-size outputs through this machine's shared
    memory (Triton's extension) instead of the message. When the server cannot be on this
    machine, or refuses to map its shared memory, the client says so once through
    ``on_fallback`` (one line) and sends tensors in the request.

    ``traceparent``: a W3C trace context (``client/tracecontext.py``) sent with every call, so a
    server that traces makes each request's span a child of it."""

    def __init__(
        self,
        url: str,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        timeout: float | None = None,
        security: Security = Security(),
        shared_memory: bool = False,
        on_fallback: Callable[[str], object] = log.warning,
        traceparent: str | None = None,
    ):
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        self._channel = open_channel(url, security, options)
        self._stub = pb_grpc.GRPCInferenceServiceStub(self._channel)
        # Tensors go out from the arrays and come back as views of the response: see ``wire``.
        self._stub.ModelInfer = self._channel.unary_unary(
            MODEL_INFER, request_serializer=wire.serialize_request, response_deserializer=wire.parse_response
        )
        self._timeout = timeout
        self._call_metadata = (("traceparent", traceparent),) if traceparent else None
        self._metadata: dict[tuple[str, str], pb.ModelMetadataResponse] = {}
        self._on_fallback = on_fallback
        self._slots: SlotPool | None = None
        if shared_memory and local_server(url):
            self._slots = SlotPool(self._register_region, self._unregister_region)
        elif shared_memory:
            on_fallback(f"shared memory needs the server on this machine; {url} is not, so tensors go in the request")

    def __enter__(self) -> InferenceClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._slots is not None:
            self._slots.close()
        self._channel.close()

    def _call(self, method: str, request):
        try:
            return getattr(self._stub, method)(request, timeout=self._timeout, metadata=self._call_metadata)
        except grpc.RpcError as error:
            raise InferenceServerError(error.code(), error.details() or "") from None

    # --- health and metadata ---

    def live(self) -> bool:
        return self._call("ServerLive", pb.ServerLiveRequest()).live

    def ready(self) -> bool:
        return self._call("ServerReady", pb.ServerReadyRequest()).ready

    def model_ready(self, model: str, version: str = "") -> bool:
        return self._call("ModelReady", pb.ModelReadyRequest(name=model, version=version)).ready

    def server_metadata(self) -> pb.ServerMetadataResponse:
        return self._call("ServerMetadata", pb.ServerMetadataRequest())

    def model_metadata(self, model: str, version: str = "") -> pb.ModelMetadataResponse:
        """Inputs/outputs of a model (cached per model and version)."""
        key = (model, version)
        if key not in self._metadata:
            self._metadata[key] = self._call("ModelMetadata", pb.ModelMetadataRequest(name=model, version=version))
        return self._metadata[key]

    def model_config(self, model: str, version: str = ""):
        """The model's completed ``ModelConfig``."""
        return self._call("ModelConfig", pb.ModelConfigRequest(name=model, version=version)).config

    def statistics(self, model: str = "", version: str = "") -> list[pb.ModelStatistics]:
        return list(self._call("ModelStatistics", pb.ModelStatisticsRequest(name=model, version=version)).model_stats)

    # --- repository ---

    def repository_index(self, ready: bool = False) -> list[pb.RepositoryIndexResponse.ModelIndex]:
        return list(self._call("RepositoryIndex", pb.RepositoryIndexRequest(ready=ready)).models)

    def load(self, model: str) -> None:
        self._call("RepositoryModelLoad", pb.RepositoryModelLoadRequest(model_name=model))

    def unload(self, model: str) -> None:
        self._call("RepositoryModelUnload", pb.RepositoryModelUnloadRequest(model_name=model))

    # --- inference ---

    def infer_tensors(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        *,
        outputs: Sequence[str] = (),
        version: str = "",
        classification_k: int = 0,
    ) -> dict[str, np.ndarray]:
        """Send named arrays (raw), get the outputs (all, or ``outputs`` in order) as arrays.

        With ``classification_k`` each requested output comes back as top-k BYTES strings.
        """
        if self._slots is not None:
            try:
                return self._infer_in_shared_memory(model, inputs, outputs, version, classification_k)
            except SharedMemoryRefused as refused:
                self._slots = None
                self._on_fallback(
                    f"the server cannot map this machine's shared memory ({refused.message}); tensors go in the request"
                )
        request = wire_request(model, inputs, outputs=outputs, version=version, classification_k=classification_k)
        return decode_response(self._call("ModelInfer", request))

    def _infer_in_shared_memory(
        self, model: str, inputs: dict[str, np.ndarray], outputs: Sequence[str], version: str, classification_k: int
    ) -> dict[str, np.ndarray]:
        """``infer_tensors`` with the inputs, and the outputs whose size the metadata fixes, in a slot."""
        metadata = self.model_metadata(model, version)
        encoded = {name: codec.encode_view(np.asarray(array)) for name, array in inputs.items()}
        first_shape = next((shape for _, shape, _ in encoded.values()), [])
        rows = first_shape[0] if first_shape else None  # the batch size, for outputs with a batch dimension
        wanted = list(outputs) or [spec.name for spec in metadata.outputs]
        sizes = {}
        if not classification_k:  # top-k strings have no size known in advance
            for spec in metadata.outputs:
                size = _fixed_nbytes(spec, rows)
                if spec.name in wanted and size is not None:
                    sizes[spec.name] = size
        offsets, end = {}, 0
        for name, size in [
            *((name, memoryview(data).nbytes) for name, (_, _, data) in encoded.items()),
            *sizes.items(),
        ]:
            offsets[name] = end
            end += aligned(size)
        with self._slots.slot(end) as slot:
            message = pb.ModelInferRequest(model_name=model, model_version=version)
            for name, (datatype, shape, data) in encoded.items():
                size = memoryview(data).nbytes
                slot.buffer[offsets[name] : offsets[name] + size] = memoryview(data).cast("B")
                _place(
                    message.inputs.add(name=name, datatype=datatype, shape=shape).parameters,
                    slot.name,
                    size,
                    offsets[name],
                )
            for name in wanted:
                output = message.outputs.add(name=name)
                if classification_k:
                    output.parameters["classification"].int64_param = classification_k
                if name in sizes:
                    _place(output.parameters, slot.name, sizes[name], offsets[name])
            response = self._call("ModelInfer", wire.Request(message, []))
            result = {}
            for index, output in enumerate(response.outputs):
                datatype, shape = DATATYPES[output.datatype], list(output.shape)
                if output.name in sizes:
                    count = math.prod(shape)
                    result[output.name] = (
                        np.frombuffer(slot.buffer, dtype=datatype.dtype, count=count, offset=offsets[output.name])
                        .reshape(shape)
                        .copy()  # the slot serves the next call
                    )
                else:
                    result[output.name] = codec.decode_raw(
                        response.raw_output_contents[index], datatype, shape, output.name
                    )
            return result

    def _register_region(self, name: str, key: str, byte_size: int) -> None:
        request = pb.SystemSharedMemoryRegisterRequest(name=name, key=key, byte_size=byte_size)
        try:
            self._call("SystemSharedMemoryRegister", request)
        except InferenceServerError as error:
            if error.code in NO_SHARED_MEMORY:
                raise SharedMemoryRefused(error.code, error.message) from None
            raise

    def _unregister_region(self, name: str) -> None:
        self._call("SystemSharedMemoryUnregister", pb.SystemSharedMemoryUnregisterRequest(name=name))

    def infer(
        self, model: str, array: np.ndarray, *, version: str = "", input_name: str = "", output_name: str = ""
    ) -> np.ndarray:
        """One input array in, one output array out (default: the model's first input and output)."""
        metadata = self.model_metadata(model, version)
        name = input_name or metadata.inputs[0].name
        output = output_name or metadata.outputs[0].name
        return self.infer_tensors(model, {name: array}, outputs=[output], version=version)[output]

    def infer_images(
        self,
        model: str,
        images: Sequence[bytes],
        *,
        top_k: int = 5,
        version: str = "",
        input_name: str = "",
        output_name: str = "",
    ) -> list[list[Classification]]:
        """Encoded images (JPEG/PNG bytes) in; per image the top-k classes, best first.

        The server decodes and preprocesses them with the model's recorded preprocessing.
        """
        metadata = self.model_metadata(model, version)
        name = input_name or metadata.inputs[0].name
        output = output_name or metadata.outputs[0].name
        array = np.empty(len(images), dtype=object)
        array[:] = [bytes(image) for image in images]
        result = self.infer_tensors(model, {name: array}, outputs=[output], version=version, classification_k=top_k)[
            output
        ]
        return [[Classification(*classification.parse(item)) for item in row] for row in result]


def _fixed_nbytes(spec: pb.ModelMetadataResponse.TensorMetadata, rows: int | None) -> int | None:
    """Bytes of an output whose shape the metadata fixes (the batch dimension: ``rows``); None
    for BYTES and for other variable dimensions."""
    datatype = DATATYPES.get(spec.datatype)
    if datatype is None or datatype.dtype is None or datatype.name == "BYTES":
        return None
    dims = list(spec.shape)
    if dims and dims[0] == -1 and rows is not None:
        dims[0] = rows
    if any(d < 0 for d in dims):
        return None
    return math.prod(dims) * datatype.dtype.itemsize


def _place(parameters, region: str, byte_size: int, offset: int) -> None:
    parameters["shared_memory_region"].string_param = region
    parameters["shared_memory_byte_size"].int64_param = byte_size
    parameters["shared_memory_offset"].int64_param = offset


def wire_request(
    model: str,
    inputs: dict[str, np.ndarray],
    *,
    outputs: Sequence[str] = (),
    version: str = "",
    classification_k: int = 0,
) -> wire.Request:
    """A ModelInferRequest with every input as raw contents, still views of the arrays."""
    message = pb.ModelInferRequest(model_name=model, model_version=version)
    raw = []
    for name, array in inputs.items():
        datatype, shape, data = codec.encode_view(np.asarray(array))
        message.inputs.add(name=name, datatype=datatype, shape=shape)
        raw.append(data)
    for name in outputs:
        output = message.outputs.add(name=name)
        if classification_k:
            output.parameters["classification"].int64_param = classification_k
    return wire.Request(message, raw)


def build_request(
    model: str,
    inputs: dict[str, np.ndarray],
    *,
    outputs: Sequence[str] = (),
    version: str = "",
    classification_k: int = 0,
) -> pb.ModelInferRequest:
    """A ModelInferRequest with every input in ``raw_input_contents`` (one protobuf message, for generated stubs)."""
    request = wire_request(model, inputs, outputs=outputs, version=version, classification_k=classification_k)
    request.message.raw_input_contents.extend(bytes(data) for data in request.raw_input_contents)
    return request.message


def decode_response(response: pb.ModelInferResponse | wire.Response) -> dict[str, np.ndarray]:
    """{output name: array} of a response (raw or typed contents)."""
    result = {}
    for index, output in enumerate(response.outputs):
        datatype = DATATYPES[output.datatype]
        try:
            if index < len(response.raw_output_contents):
                array = codec.decode_raw(response.raw_output_contents[index], datatype, list(output.shape), output.name)
            else:
                array = codec.decode_contents(output.contents, datatype, list(output.shape), output.name)
        except ServingError as error:
            raise ValueError(f"malformed response: {error.message}") from None
        result[output.name] = array
    return result
