"""The ``inference.GRPCInferenceService`` RPCs over the model manager."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import grpc

from convzoo.base import classification, codec, wire
from convzoo.base.errors import ServingError, invalid, not_found
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc
from convzoo.server.manager import ModelManager, Served
from convzoo.server.statistics import Statistics
from convzoo.server.validation import validate

log = logging.getLogger(__name__)
SERVER_NAME = "convzoo"
EXTENSIONS = ("classification", "model_repository", "model_configuration", "statistics")
# tritonclient always sends unload_dependents; convzoo has no ensembles, so no dependents.
HARMLESS_REPOSITORY_PARAMETERS = {"unload_dependents"}


def _server_version() -> str:
    try:
        return package_version("convzoo")
    except PackageNotFoundError:
        return "unknown"


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """KServe v2 / Triton inference RPCs. ``ready`` is cleared while the server drains."""

    def __init__(self, manager: ModelManager, statistics: Statistics):
        self.manager = manager
        self.statistics = statistics
        self.ready = threading.Event()

    # --- health and metadata ---

    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.ready.is_set())

    def ModelReady(self, request, context):
        try:
            self.manager.get(request.name, request.version)
        except ServingError as error:
            if error.code == grpc.StatusCode.UNAVAILABLE:
                return pb.ModelReadyResponse(ready=False)
            context.abort(error.code, error.message)
        return pb.ModelReadyResponse(ready=True)

    def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=_server_version(), extensions=EXTENSIONS)

    def ModelMetadata(self, request, context):
        model = self._served(request.name, request.version, context).model
        batch = [-1] if model.max_batch_size > 0 else []
        versions = [str(s.version) for s in self.manager.versions(model.name) if s.served]
        return pb.ModelMetadataResponse(
            name=model.name,
            versions=versions,
            platform=model.config.platform,
            inputs=[
                pb.ModelMetadataResponse.TensorMetadata(
                    name=s.name, datatype=s.datatype.name, shape=batch + list(s.dims)
                )
                for s in model.inputs
            ],
            outputs=[
                pb.ModelMetadataResponse.TensorMetadata(
                    name=s.name, datatype=s.datatype.name, shape=batch + list(s.dims)
                )
                for s in model.outputs
            ],
        )

    def ModelConfig(self, request, context):
        return pb.ModelConfigResponse(config=self._served(request.name, request.version, context).model.config)

    def ModelStatistics(self, request, context):
        if request.name and request.name not in self.manager.names():
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown model '{request.name}'")
        loaded = [(s.model.name, str(s.model.version)) for s in self.manager.ready()]
        return pb.ModelStatisticsResponse(model_stats=self.statistics.to_proto(request.name, request.version, loaded))

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
        """Validate and queue a request (``track`` gets its future, to cancel it when the call ends);
        the returned call waits and builds the response (``lead``: see ``Batcher.submit``)."""
        start = time.monotonic_ns()
        served = self.manager.get(request.model_name, request.model_version)
        model = served.model
        name, version = model.name, str(model.version)
        try:
            valid = validate(model, request)
            future = served.batcher.submit(valid.feeds, lead=lead)
            track(future)
        except ServingError:
            self.statistics.request(name, version, False, time.monotonic_ns() - start)
            raise

        def finish() -> wire.Response:
            try:
                results = future.result()
                response = wire.Response(pb.ModelInferResponse(model_name=name, model_version=version, id=request.id))
                for output in valid.outputs:
                    array = results[output.name]
                    if output.classification:
                        array = classification.classify(
                            array, output.classification, model.labels.get(output.name), model.max_batch_size > 0
                        )
                    datatype, shape, raw = codec.encode_view(array)
                    response.message.outputs.add(name=output.name, datatype=datatype, shape=shape)
                    response.raw_output_contents.append(raw)
            except (ServingError, CancelledError):
                self.statistics.request(name, version, False, time.monotonic_ns() - start)
                raise
            self.statistics.request(name, version, True, time.monotonic_ns() - start)
            return response

        return finish

    def _served(self, name: str, version: str, context) -> Served:
        try:
            return self.manager.get(name, version)
        except ServingError as error:
            context.abort(error.code, error.message)

    # --- repository ---

    def RepositoryIndex(self, request, context):
        response = pb.RepositoryIndexResponse()
        for name, state in self.manager.index():
            if request.ready and state.state != "READY":
                continue
            response.models.add(
                name=name,
                version="" if state.version is None else str(state.version),
                state=state.state,
                reason=state.reason,
            )
        return response

    def RepositoryModelLoad(self, request, context):
        self._repository_call(request, context, self.manager.load)
        return pb.RepositoryModelLoadResponse()

    def RepositoryModelUnload(self, request, context):
        self._repository_call(request, context, self.manager.unload)
        return pb.RepositoryModelUnloadResponse()

    def _repository_call(self, request, context, action) -> None:
        try:
            if request.repository_name:
                raise invalid(f"repository '{request.repository_name}' is not served; leave repository_name empty")
            unsupported = sorted(set(request.parameters) - HARMLESS_REPOSITORY_PARAMETERS)
            if unsupported:
                raise invalid(f"repository parameters {unsupported} are not supported")
            try:
                action(request.model_name)
            except LookupError as exc:
                raise not_found(str(exc.args[0] if exc.args else exc)) from None
            except (ValueError, OSError) as exc:
                raise invalid(f"failed to {action.__name__} model '{request.model_name}': {exc}") from None
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
