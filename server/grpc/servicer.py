"""The ``inference.GRPCInferenceService`` RPCs: protobuf in and out (``messages``), the work in
``server/dataplane.py``. ``ServingError``s become the RPC's status in one place (``aborts_on_error``)."""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError

import grpc

from convzoo.base import wire
from convzoo.base.errors import Kind, ServingError
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc
from convzoo.server.dataplane import DataPlane, Inference
from convzoo.server.grpc import messages
from convzoo.server.operations import (
    ConfigRequest,
    IndexRequest,
    LoadRequest,
    MetadataRequest,
    ReadyRequest,
    RegionsRequest,
    RegisterRegionRequest,
    StatisticsRequest,
    TraceSettingRequest,
    UnloadRequest,
    UnregisterRegionRequest,
)

log = logging.getLogger(__name__)
CANCELLED = "request cancelled while queued (client gone or deadline passed)"


def aborts_on_error(rpc: Callable) -> Callable:
    """A unary RPC whose ``ServingError`` ends the call with the error's status and message."""

    @functools.wraps(rpc)
    def call(self, request, context):
        try:
            return rpc(self, request, context)
        except ServingError as error:
            context.abort(error.code, error.message)

    return call


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """KServe v2 / Triton inference RPCs: each translates between protobuf and the data plane."""

    def __init__(self, dataplane: DataPlane):
        self.dataplane = dataplane

    # --- health and metadata ---

    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.dataplane.ready.is_set())

    @aborts_on_error
    def ModelReady(self, request, context):
        return pb.ModelReadyResponse(ready=self.dataplane.model_ready(ReadyRequest(request.name, request.version)))

    def ServerMetadata(self, request, context):
        metadata = self.dataplane.server_metadata()
        return pb.ServerMetadataResponse(name=metadata.name, version=metadata.version, extensions=metadata.extensions)

    @aborts_on_error
    def ModelMetadata(self, request, context):
        metadata = self.dataplane.model_metadata(MetadataRequest(request.name, request.version))
        return messages.model_metadata(metadata)

    @aborts_on_error
    def ModelConfig(self, request, context):
        return pb.ModelConfigResponse(config=self.dataplane.model_config(ConfigRequest(request.name, request.version)))

    @aborts_on_error
    def ModelStatistics(self, request, context):
        stats = self.dataplane.model_statistics(StatisticsRequest(request.name, request.version))
        return pb.ModelStatisticsResponse(model_stats=[messages.model_statistics(s) for s in stats])

    # --- inference ---

    @aborts_on_error
    def ModelInfer(self, request, context):
        # lead: this thread waits at once, so it may run the model itself (no hand-off)
        traceparent = messages.traceparent(context) if self.dataplane.trace_settings.active else None
        inference = self.dataplane.infer(messages.infer_request(request), lead=True, traceparent=traceparent)
        # a queued request is cancelled when the call ends first (client gone, deadline passed);
        # a lone one runs in this thread at once, where a cancellation could only come too late
        if not inference.runs_in_waiter and not context.add_callback(inference.cancel):
            inference.cancel()  # the call already ended
        try:
            return messages.infer_response(inference.wait())
        except CancelledError:
            context.abort(grpc.StatusCode.CANCELLED, CANCELLED)

    def ModelStreamInfer(self, request_iterator, context) -> Iterator[wire.Response | pb.ModelStreamInferResponse]:
        """Requests of a stream are validated and queued as they arrive (so they can batch
        together); responses come back in request order. A failed request answers with
        ``error_message`` and the stream goes on. When the stream ends early (cancelled, deadline),
        its queued requests are cancelled and never run. A fault of the server while reading
        (a bug) is logged at ERROR and answered with ``error_message``, then the stream ends."""
        started: queue.Queue = queue.Queue()
        queued: set[Inference] = set()
        lock = threading.Lock()

        def cancel_queued() -> None:
            with lock:
                pending = list(queued)
            for inference in pending:
                inference.cancel()

        context.add_callback(cancel_queued)
        traceparent = messages.traceparent(context) if self.dataplane.trace_settings.active else None

        def read() -> None:
            try:
                for request in request_iterator:
                    started.put(self._start(request, queued, lock, traceparent))
            except Exception as exc:
                if not context.is_active() or context.code() is not None:
                    log.debug("stream reader stopped (the call ended): %s", exc)
                else:  # the client is still there: a fault of ours, which it must hear of
                    log.exception("ModelStreamInfer: reading the stream failed")
                    started.put(
                        ServingError(
                            Kind.INTERNAL, f"the server failed to read the stream: {type(exc).__name__}: {exc}"
                        )
                    )
            finally:
                started.put(None)

        threading.Thread(target=read, name="stream-reader", daemon=True).start()
        while (item := started.get()) is not None:
            if isinstance(item, ServingError):
                yield pb.ModelStreamInferResponse(error_message=item.message)
                continue
            try:
                yield messages.infer_response(item.wait())
            except ServingError as error:
                yield pb.ModelStreamInferResponse(error_message=error.message)
            except CancelledError:
                return
            finally:
                if isinstance(item, Inference):
                    with lock:
                        queued.discard(item)

    def _start(
        self, request, queued: set[Inference], lock: threading.Lock, traceparent: str | None
    ) -> Inference | ServingError:
        """Queue one stream request (tracked so that the stream's end cancels it), or its refusal."""
        try:
            inference = self.dataplane.infer(messages.infer_request(request), traceparent=traceparent)
        except ServingError as error:
            return error
        with lock:
            queued.add(inference)
        return inference

    # --- repository ---

    def RepositoryIndex(self, request, context):
        entries = self.dataplane.repository_index(IndexRequest(request.ready))
        return pb.RepositoryIndexResponse(models=[messages.index_entry(entry) for entry in entries])

    @aborts_on_error
    def RepositoryModelLoad(self, request, context):
        self.dataplane.load(LoadRequest(request.model_name, request.repository_name, frozenset(request.parameters)))
        return pb.RepositoryModelLoadResponse()

    @aborts_on_error
    def RepositoryModelUnload(self, request, context):
        self.dataplane.unload(UnloadRequest(request.model_name, request.repository_name, frozenset(request.parameters)))
        return pb.RepositoryModelUnloadResponse()

    # --- system shared memory ---

    @aborts_on_error
    def SystemSharedMemoryStatus(self, request, context):
        regions = self.dataplane.shared_memory_status(RegionsRequest(request.name))
        return messages.shared_memory_status(regions)

    @aborts_on_error
    def SystemSharedMemoryRegister(self, request, context):
        self.dataplane.shared_memory_register(
            RegisterRegionRequest(request.name, request.key, request.offset, request.byte_size)
        )
        return pb.SystemSharedMemoryRegisterResponse()

    @aborts_on_error
    def SystemSharedMemoryUnregister(self, request, context):
        self.dataplane.shared_memory_unregister(UnregisterRegionRequest(request.name))
        return pb.SystemSharedMemoryUnregisterResponse()

    @aborts_on_error
    def CudaSharedMemoryStatus(self, request, context):
        self.dataplane.cuda_shared_memory_status(RegionsRequest(request.name))
        return pb.CudaSharedMemoryStatusResponse()

    @aborts_on_error
    def CudaSharedMemoryRegister(self, request, context):
        self.dataplane.cuda_shared_memory_register(RegisterRegionRequest(request.name, "", 0, request.byte_size))
        return pb.CudaSharedMemoryRegisterResponse()  # not reached: registration is refused

    @aborts_on_error
    def CudaSharedMemoryUnregister(self, request, context):
        self.dataplane.cuda_shared_memory_unregister(UnregisterRegionRequest(request.name))
        return pb.CudaSharedMemoryUnregisterResponse()

    # --- trace settings ---

    @aborts_on_error
    def TraceSetting(self, request, context):
        changes = {name: tuple(setting.value) or None for name, setting in request.settings.items()}
        settings = self.dataplane.trace_setting(TraceSettingRequest(request.model_name, changes))
        return messages.trace_setting_response(settings)

    # --- not implemented ---

    def LogSettings(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "convzoo does not implement log settings")
