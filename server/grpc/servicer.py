"""The ``inference.GRPCInferenceService`` RPCs: protobuf in and out, the work in ``server/dataplane.py``."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future

import grpc

from convzoo.base import codec, wire
from convzoo.base.errors import ServingError
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc
from convzoo.server.dataplane import DataPlane

log = logging.getLogger(__name__)


def _tensors(specs: list[dict]) -> list[pb.ModelMetadataResponse.TensorMetadata]:
    return [pb.ModelMetadataResponse.TensorMetadata(**spec) for spec in specs]


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """KServe v2 / Triton inference RPCs: each translates between protobuf and the data plane."""

    def __init__(self, dataplane: DataPlane):
        self.dataplane = dataplane

    # --- health and metadata ---

    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.dataplane.ready.is_set())

    def ModelReady(self, request, context):
        try:
            return pb.ModelReadyResponse(ready=self.dataplane.model_ready(request.name, request.version))
        except ServingError as error:
            context.abort(error.code, error.message)

    def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(**self.dataplane.server_metadata())

    def ModelMetadata(self, request, context):
        try:
            metadata = self.dataplane.model_metadata(request.name, request.version)
        except ServingError as error:
            context.abort(error.code, error.message)
        return pb.ModelMetadataResponse(
            **{**metadata, "inputs": _tensors(metadata["inputs"]), "outputs": _tensors(metadata["outputs"])}
        )

    def ModelConfig(self, request, context):
        try:
            return pb.ModelConfigResponse(config=self.dataplane.model_config(request.name, request.version))
        except ServingError as error:
            context.abort(error.code, error.message)

    def ModelStatistics(self, request, context):
        try:
            return pb.ModelStatisticsResponse(
                model_stats=self.dataplane.model_statistics(request.name, request.version)
            )
        except ServingError as error:
            context.abort(error.code, error.message)

    # --- inference ---

    def ModelInfer(self, request, context):
        try:
            # lead: this thread waits in finish() at once, so it may run the model itself
            track = lambda future: context.add_callback(future.cancel) or future.cancel()  # noqa: E731
            return self._submit(request, track, lead=True)()
        except ServingError as error:
            context.abort(error.code, error.message)
        except CancelledError:
            context.abort(grpc.StatusCode.CANCELLED, "request cancelled while queued (client gone or deadline passed)")

    def ModelStreamInfer(self, request_iterator, context) -> Iterator[wire.Response | pb.ModelStreamInferResponse]:
        """Requests of a stream are validated and queued as they arrive (so they can batch
        together); responses come back in request order. A failed request answers with
        ``error_message`` and the stream goes on. When the stream ends early (cancelled, deadline),
        its queued requests are cancelled and never run."""
        started: queue.Queue = queue.Queue()
        queued: set[Future] = set()

        def track(future: Future) -> None:
            queued.add(future)
            future.add_done_callback(queued.discard)

        context.add_callback(lambda: [future.cancel() for future in queued.copy()])

        def read() -> None:
            try:
                for request in request_iterator:
                    started.put(self._start_safely(request, track))
            except Exception as exc:  # the client went away: stop reading
                log.debug("stream reader stopped: %s", exc)
            finally:
                started.put(None)

        threading.Thread(target=read, name="stream-reader", daemon=True).start()
        while (finish := started.get()) is not None:
            try:
                yield finish()
            except ServingError as error:
                yield pb.ModelStreamInferResponse(error_message=error.message)
            except CancelledError:
                return

    def _start_safely(self, request, track) -> Callable[[], wire.Response]:
        try:
            return self._submit(request, track)
        except ServingError as error:
            failure = error

            def fail():
                raise failure

            return fail

    def _submit(
        self, request: wire.Request, track: Callable[[Future], object], *, lead: bool = False
    ) -> Callable[[], wire.Response]:
        """Queue a request on the data plane; the returned call waits and encodes the response
        (``lead``: see ``Batcher.submit``)."""
        finish_inference = self.dataplane.infer(request, track, lead=lead)

        def finish() -> wire.Response:
            result = finish_inference()
            response = wire.Response(
                pb.ModelInferResponse(model_name=result.model_name, model_version=result.model_version, id=result.id)
            )
            for name, array in result.outputs:
                datatype, shape, raw = codec.encode_view(array)
                response.message.outputs.add(name=name, datatype=datatype, shape=shape)
                response.raw_output_contents.append(raw)
            return response

        return finish

    # --- repository ---

    def RepositoryIndex(self, request, context):
        return pb.RepositoryIndexResponse(
            models=[
                pb.RepositoryIndexResponse.ModelIndex(**row) for row in self.dataplane.repository_index(request.ready)
            ]
        )

    def RepositoryModelLoad(self, request, context):
        self._repository_call(request, context, self.dataplane.load)
        return pb.RepositoryModelLoadResponse()

    def RepositoryModelUnload(self, request, context):
        self._repository_call(request, context, self.dataplane.unload)
        return pb.RepositoryModelUnloadResponse()

    def _repository_call(self, request, context, action) -> None:
        try:
            action(request.model_name, request.repository_name, request.parameters)
        except ServingError as error:
            context.abort(error.code, error.message)

    # --- not implemented ---

    def _unimplemented(self, request, context):
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "convzoo does not implement shared memory, trace or log settings; send tensors in the request",
        )

    SystemSharedMemoryStatus = SystemSharedMemoryRegister = SystemSharedMemoryUnregister = _unimplemented
    CudaSharedMemoryStatus = CudaSharedMemoryRegister = CudaSharedMemoryUnregister = _unimplemented
    TraceSetting = LogSettings = _unimplemented
