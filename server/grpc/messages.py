"""Protobuf messages to the data plane's typed requests (``server/operations.py``) and results back.

Raw contents stay as they came: an input's ``data`` is the ``base.wire.Request``'s view of the
received message, and outputs go back as views of their arrays (``base.wire.Response``).
"""

from __future__ import annotations

from convzoo.base import codec, wire
from convzoo.base.errors import invalid
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.server.operations import (
    IndexEntry,
    InferRequest,
    InferResult,
    InputTensor,
    ModelMetadata,
    OutputRequest,
    Parameter,
)
from convzoo.server.shared_memory import REGION as SHARED_MEMORY_REGION
from convzoo.server.statistics import ModelStatistics


def parameters(message_map) -> dict[str, Parameter]:
    """A protobuf map of ``InferParameter``s as typed parameters (the set oneof field is the kind)."""
    if not message_map:
        return {}
    result = {}
    for key, parameter in message_map.items():
        kind = parameter.WhichOneof("parameter_choice")
        result[key] = Parameter(kind, getattr(parameter, kind) if kind else None)
    return result


def infer_request(request: wire.Request | pb.ModelInferRequest) -> InferRequest:
    """The typed request of a ModelInfer message; INVALID when raw and typed contents mix or
    raw_input_contents does not give one buffer per input."""
    raw = request.raw_input_contents
    tensors = request.inputs
    # As in Triton, an input in a shared memory region has no raw_input_contents entry.
    placed = [bool(tensor.parameters) and SHARED_MEMORY_REGION in tensor.parameters for tensor in tensors]
    outside = len(placed) - sum(placed)
    if raw and len(raw) != outside:
        if outside == len(tensors):
            raise invalid(
                f"request has {len(raw)} raw_input_contents for {len(tensors)} inputs; expected one per input"
            )
        raise invalid(
            f"request has {len(raw)} raw_input_contents for {outside} inputs outside shared memory; "
            "expected one per such input"
        )
    given = iter(raw)
    inputs = []
    for tensor, in_region in zip(tensors, placed):
        typed = tensor.HasField("contents")
        if raw and typed:
            raise invalid(
                f"input '{tensor.name}' has typed contents but the request also uses raw_input_contents; send one or the other"
            )
        inputs.append(
            InputTensor(
                name=tensor.name,
                datatype=tensor.datatype,
                shape=tensor.shape,
                data=next(given) if raw and not in_region else None,
                contents=codec.contents_fields(tensor.contents) if typed else None,
                parameters=parameters(tensor.parameters),
            )
        )
    return InferRequest(
        model_name=request.model_name,
        model_version=request.model_version,
        id=request.id,
        parameters=parameters(request.parameters),
        inputs=inputs,
        outputs=[OutputRequest(output.name, parameters(output.parameters)) for output in request.outputs],
    )


def infer_response(result: InferResult) -> wire.Response:
    """The response with every output's data written once, as raw contents. An output written
    into the client's shared memory has an empty raw entry, as in Triton's responses, so the
    other outputs keep their indices."""
    response = wire.Response(
        pb.ModelInferResponse(model_name=result.model_name, model_version=result.model_version, id=result.id)
    )
    for output in result.outputs:
        datatype, shape, raw = codec.encode_view(output.data)
        response.message.outputs.add(name=output.name, datatype=datatype, shape=shape)
        response.raw_output_contents.append(b"" if output.shared_memory else raw)
    return response


def model_metadata(metadata: ModelMetadata) -> pb.ModelMetadataResponse:
    def tensors(specs) -> list[pb.ModelMetadataResponse.TensorMetadata]:
        return [pb.ModelMetadataResponse.TensorMetadata(name=s.name, datatype=s.datatype, shape=s.shape) for s in specs]

    return pb.ModelMetadataResponse(
        name=metadata.name,
        versions=metadata.versions,
        platform=metadata.platform,
        inputs=tensors(metadata.inputs),
        outputs=tensors(metadata.outputs),
    )


def _duration(duration) -> pb.StatisticDuration:
    return pb.StatisticDuration(count=duration.count, ns=duration.ns)


def model_statistics(stats: ModelStatistics) -> pb.ModelStatistics:
    infer = stats.inference_stats
    return pb.ModelStatistics(
        name=stats.name,
        version=stats.version,
        last_inference=stats.last_inference,
        inference_count=stats.inference_count,
        execution_count=stats.execution_count,
        inference_stats=pb.InferStatistics(
            success=_duration(infer.success),
            fail=_duration(infer.fail),
            queue=_duration(infer.queue),
            compute_input=_duration(infer.compute_input),
            compute_infer=_duration(infer.compute_infer),
            compute_output=_duration(infer.compute_output),
            cache_hit=_duration(infer.cache_hit),
            cache_miss=_duration(infer.cache_miss),
        ),
        batch_stats=[
            pb.InferBatchStatistics(
                batch_size=batch.batch_size,
                compute_input=_duration(batch.compute_input),
                compute_infer=_duration(batch.compute_infer),
                compute_output=_duration(batch.compute_output),
            )
            for batch in stats.batch_stats
        ],
    )


def index_entry(entry: IndexEntry) -> pb.RepositoryIndexResponse.ModelIndex:
    return pb.RepositoryIndexResponse.ModelIndex(
        name=entry.name, version=entry.version, state=entry.state, reason=entry.reason
    )


def shared_memory_status(regions) -> pb.SystemSharedMemoryStatusResponse:
    response = pb.SystemSharedMemoryStatusResponse()
    for region in regions:
        response.regions[region.name].CopyFrom(
            pb.SystemSharedMemoryStatusResponse.RegionStatus(
                name=region.name, key=region.key, offset=region.offset, byte_size=region.byte_size
            )
        )
    return response


def traceparent(context) -> str | None:
    """The client's W3C ``traceparent`` from the call's metadata (None when it sent none)."""
    for key, value in context.invocation_metadata():
        if key == "traceparent":
            return value
    return None


def trace_setting_response(settings: dict[str, list[str] | str]) -> pb.TraceSettingResponse:
    response = pb.TraceSettingResponse()
    for name, value in settings.items():
        response.settings[name].value.extend(value if isinstance(value, list) else [value])
    return response
