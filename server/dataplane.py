"""The v2 inference protocol's operations, free of any transport.

gRPC (``server/grpc/``), HTTP/REST (``server/http/``) and the in-server Evaluation service
all call this one object: health, server and model metadata, model configuration,
statistics, the repository, and inference. It takes and returns the typed requests and
results of ``server/operations.py`` (the transports translate protobuf or JSON into them).
Inference always takes the same path — find the served version, validate, queue on its
batcher, classify, count — so every transport refuses the same requests with the same
messages and shows up in the same statistics. Failures are ``ServingError``s whose ``kind``
each transport maps to its own status code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import NoReturn

from convzoo.base import classification
from convzoo.base.errors import Kind, ServingError, invalid, not_found
from convzoo.proto import model_config_pb2
from convzoo.server import shared_memory
from convzoo.server.batcher import ClaimedRun
from convzoo.server.manager import ModelManager, Served
from convzoo.server.operations import (
    ConfigRequest,
    IndexEntry,
    IndexRequest,
    InferRequest,
    InferResult,
    LoadRequest,
    MetadataRequest,
    ModelMetadata,
    ReadyRequest,
    RegionsRequest,
    RegisterRegionRequest,
    ServerMetadata,
    StatisticsRequest,
    TensorMetadata,
    TraceSettingRequest,
    UnloadRequest,
    UnregisterRegionRequest,
)
from convzoo.server.response_cache import CacheKey, ResponseCache
from convzoo.server.shared_memory import Placements, RegionStatus, SharedMemoryRegistry
from convzoo.server.statistics import ModelStatistics, Statistics
from convzoo.server.tracing.settings import TraceSettings
from convzoo.server.tracing.spans import RequestTrace, SpanRecorder
from convzoo.server.validation import ValidRequest, validate

SERVER_NAME = "convzoo"
EXTENSIONS = (
    "classification",
    "model_repository",
    "model_configuration",
    "statistics",
    "binary_tensor_data",
    "system_shared_memory",
    "trace",
)
CUDA_SHARED_MEMORY = (
    "convzoo does not implement CUDA shared memory; use system shared memory or send tensors in the request"
)
# tritonclient always sends unload_dependents; convzoo has no ensembles, so no dependents.
HARMLESS_REPOSITORY_PARAMETERS = {"unload_dependents"}


def _server_version() -> str:
    try:
        return package_version("convzoo")
    except PackageNotFoundError:
        return "unknown"


class Inference:
    """A queued inference request: ``wait`` for its result, or ``cancel`` it.

    ``wait`` applies classification, counts the request (success or failure) and returns the
    ``InferResult``; it raises ServingError, CancelledError, or TimeoutError when ``timeout``
    seconds pass first (the request stays queued: cancel it if it is no longer wanted). A
    request queued with ``lead`` runs in the thread that waits for it when a run slot is free
    (``Batcher.submit``), so a lone request costs no thread hand-off. ``add_done_callback``
    lets a caller that must not block (an event loop, a stream: requests queued without
    ``lead``) learn when to call ``wait``.
    """

    def __init__(
        self,
        dataplane: DataPlane,
        served: Served,
        request: InferRequest,
        valid: ValidRequest,
        future: Future,
        start_ns: int,
        *,
        placements: Placements | None = None,
        cache_key: CacheKey | None = None,
        lookup_ns: int = 0,
        cached: tuple[tuple[str, object], ...] | None = None,
        trace: RequestTrace | None = None,
    ):
        self._dataplane = dataplane
        self._model = served.model
        self._request = request
        self._valid = valid
        self._future = future
        self._start_ns = start_ns
        self._placements = placements or {}
        self._cache_key = cache_key  # a miss: store the response under it
        self._lookup_ns = lookup_ns
        self._cached = cached  # a hit: the response, already classified
        self._trace = trace  # a traced request: its span is recorded once it is answered

    def cancel(self) -> bool:
        """Take the request off its queue; False if it already runs or ran."""
        return self._future.cancel()

    @property
    def runs_in_waiter(self) -> bool:
        """A lone ``lead`` request: it holds a run slot, never queued, and ``wait`` runs it at once."""
        return isinstance(self._future, ClaimedRun)

    def done(self) -> bool:
        return self._future.done()

    def add_done_callback(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` (in any thread) once the request ran, failed or was cancelled."""
        self._future.add_done_callback(lambda future: callback())

    def wait(self, timeout: float | None = None) -> InferResult:
        model = self._model
        name, version = model.name, str(model.version)
        statistics = self._dataplane.statistics
        try:
            results = self._future.result(timeout)
            if self._cached is not None:
                arrays = list(self._cached)
            else:
                arrays = []
                for output in self._valid.outputs:
                    array = results[output.name]
                    if output.classification:
                        array = classification.classify(
                            array, output.classification, model.labels.get(output.name), model.max_batch_size > 0
                        )
                    arrays.append((output.name, array))
                if self._cache_key is not None:
                    insert_start = time.monotonic_ns()
                    self._dataplane.cache.insert(self._cache_key, arrays)
                    statistics.cache(name, version, False, self._lookup_ns + time.monotonic_ns() - insert_start)
            outputs = [shared_memory.write_output(name, array, self._placements) for name, array in arrays]
        except (ServingError, CancelledError) as error:
            statistics.request(name, version, False, time.monotonic_ns() - self._start_ns)
            if self._trace is not None:
                self._trace.finish(getattr(error, "message", "cancelled"))
            raise
        statistics.request(name, version, True, time.monotonic_ns() - self._start_ns)
        if self._trace is not None:
            self._trace.finish(cache_hit=self._cached is not None)
        return InferResult(name, version, self._request.id, outputs)


class DataPlane:
    """The protocol over a model manager; ``ready`` is cleared while the server drains."""

    def __init__(
        self,
        manager: ModelManager,
        statistics: Statistics,
        ready: threading.Event | None = None,
        *,
        cache: ResponseCache | None = None,
        regions: SharedMemoryRegistry | None = None,
        trace_settings: TraceSettings | None = None,
        span_recorder: SpanRecorder | None = None,
    ):
        self.manager = manager
        self.statistics = statistics
        self.ready = threading.Event() if ready is None else ready
        self.cache = cache  # the response cache (``serve --cache-size``); None: off
        self.regions = SharedMemoryRegistry() if regions is None else regions
        # Triton's trace extension: the settings decide which requests the recorder makes spans of
        self.span_recorder = span_recorder
        self.trace_settings = (
            TraceSettings(exporting=span_recorder is not None) if trace_settings is None else trace_settings
        )

    # --- health and metadata ---

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata(SERVER_NAME, _server_version(), list(EXTENSIONS))

    def model_ready(self, request: ReadyRequest) -> bool:
        """False for a known model that is not ready; INVALID/NOT_FOUND as ``get`` raises them."""
        try:
            self.manager.get(request.name, request.version)
        except ServingError as error:
            if error.kind is Kind.UNAVAILABLE:
                return False
            raise
        return True

    def served(self, name: str, version: str = "") -> Served:
        """The ready version asked for; INVALID, NOT_FOUND or UNAVAILABLE (with the reason) otherwise."""
        return self.manager.get(name, version)

    def model_metadata(self, request: MetadataRequest) -> ModelMetadata:
        model = self.manager.get(request.name, request.version).model
        batch = [-1] if model.max_batch_size > 0 else []

        def tensors(specs) -> list[TensorMetadata]:
            return [TensorMetadata(s.name, s.datatype.name, batch + list(s.dims)) for s in specs]

        return ModelMetadata(
            name=model.name,
            versions=[str(s.version) for s in self.manager.versions(model.name) if s.served],
            platform=model.config.platform,
            inputs=tensors(model.inputs),
            outputs=tensors(model.outputs),
        )

    def model_config(self, request: ConfigRequest) -> model_config_pb2.ModelConfig:
        """The completed configuration: Triton's ``ModelConfig`` schema, the one config.pbtxt is read into."""
        return self.manager.get(request.name, request.version).model.config

    def model_statistics(self, request: StatisticsRequest) -> list[ModelStatistics]:
        if request.name and request.name not in self.manager.names():
            raise not_found(f"unknown model '{request.name}'")
        loaded = [(s.model.name, str(s.model.version)) for s in self.manager.ready()]
        return self.statistics.snapshot(request.name, request.version, loaded)

    # --- repository ---

    def repository_index(self, request: IndexRequest) -> list[IndexEntry]:
        """Every model version in the repository (loaded or not) with its state."""
        return [
            IndexEntry(name, "" if state.version is None else str(state.version), state.state, state.reason)
            for name, state in self.manager.index()
            if not request.ready or state.state == "READY"
        ]

    def load(self, request: LoadRequest) -> None:
        """(Re)load a model: blocks until its versions are up (or failed)."""
        self._repository_call(self.manager.load, request.model_name, request.repository_name, request.parameters)

    def unload(self, request: UnloadRequest) -> None:
        self._repository_call(self.manager.unload, request.model_name, request.repository_name, request.parameters)

    def _repository_call(self, action, name: str, repository_name: str, parameters: frozenset[str]) -> None:
        if repository_name:
            raise invalid(f"repository '{repository_name}' is not served; leave repository_name empty")
        unsupported = sorted(set(parameters) - HARMLESS_REPOSITORY_PARAMETERS)
        if unsupported:
            raise invalid(f"repository parameters {unsupported} are not supported")
        try:
            action(name)
        except LookupError as exc:
            raise not_found(str(exc.args[0] if exc.args else exc)) from None
        except (ValueError, OSError) as exc:
            raise invalid(f"failed to {action.__name__} model '{name}': {exc}") from None

    # --- system shared memory ---

    def shared_memory_status(self, request: RegionsRequest) -> list[RegionStatus]:
        return self.regions.status(request.name)

    def shared_memory_register(self, request: RegisterRegionRequest) -> None:
        self.regions.register(request.name, request.key, request.offset, request.byte_size)

    def shared_memory_unregister(self, request: UnregisterRegionRequest) -> None:
        """Forget a region (all when unnamed); requests already using it keep its mapping."""
        self.regions.unregister(request.name)

    # CUDA shared memory: convzoo maps none, so the status is empty, unregistering all does nothing
    # (clients such as perf_analyzer do it on exit) and a registration is refused in one line.

    def cuda_shared_memory_status(self, request: RegionsRequest) -> list:
        if request.name:
            raise not_found(f"unknown CUDA shared memory region '{request.name}'; convzoo registers none")
        return []

    def cuda_shared_memory_register(self, request: RegisterRegionRequest) -> NoReturn:
        raise ServingError(Kind.UNIMPLEMENTED, CUDA_SHARED_MEMORY)

    def cuda_shared_memory_unregister(self, request: UnregisterRegionRequest) -> None:
        if request.name:
            raise not_found(f"unknown CUDA shared memory region '{request.name}'; convzoo registers none")

    # --- trace settings ---

    def trace_setting(self, request: TraceSettingRequest) -> dict[str, list[str] | str]:
        """Change (when ``settings`` are given) and return the global or a model's trace settings."""
        settings = self.trace_settings
        if not request.settings:
            if request.model_name and request.model_name not in self.manager.names():
                raise not_found(f"unknown model '{request.model_name}'")
            return settings.setting(request.model_name)
        return settings.update(request.settings, request.model_name, known=lambda name: name in self.manager.names())

    def _start_trace(self, request: InferRequest, traceparent: str | None, start: int, model) -> RequestTrace | None:
        """A span-to-be for this request when its trace settings sample it, else None."""
        recorder = self.span_recorder
        parent = recorder.parent(traceparent)
        if not self.trace_settings.sample(model.name, recorder.propagated(parent)):
            return None
        return RequestTrace(recorder, parent, start, model.name, str(model.version), request.id)

    # --- inference ---

    def infer(self, request: InferRequest, *, lead: bool = False, traceparent: str | None = None) -> Inference:
        """Validate and queue a request; the handle waits for (or cancels) its result.
        ``lead``: the caller will call ``wait`` at once, so it may run the model itself.
        ``traceparent``: the client's W3C trace context, which a traced request's span is a child of
        (the transports read it only while ``trace_settings.active``).

        Inputs that name a shared memory region are read from it in place; outputs that name
        one are written into it. For a model whose config enables ``response_cache``, a request
        already answered is answered from the cache (``serve --cache-size``) without queueing.

        Raises ServingError (counted as a failure once the model is known)."""
        start = time.monotonic_ns()
        # taken before the lookup, so a reload in between cannot store the old model's response
        generation = self.cache.generation(request.model_name) if self.cache is not None else 0
        served = self.manager.get(request.model_name, request.model_version)
        model = served.model
        name, version = model.name, str(model.version)
        trace = self._start_trace(request, traceparent, start, model) if self.trace_settings.active else None
        try:
            request = shared_memory.read_inputs(self.regions, request)
            placements = shared_memory.output_regions(self.regions, request)
            valid = validate(model, request)
            shared_memory.check_output_room(model, valid.batch, placements)
            key, lookup_ns = None, 0
            if self.cache is not None and model.config.response_cache.enable:
                lookup_start = time.monotonic_ns()
                key = self.cache.request_key(request, name, version, generation)
                cached = self.cache.lookup(key)
                if cached is not None:
                    self.statistics.cache(name, version, True, time.monotonic_ns() - lookup_start)
                    done: Future = Future()
                    done.set_result(None)
                    return Inference(
                        self, served, request, valid, done, start, placements=placements, cached=cached, trace=trace
                    )
                lookup_ns = time.monotonic_ns() - lookup_start
            timestamps = None if trace is None else trace.timestamps
            future = served.batcher.submit(valid.feeds, lead=lead, timestamps=timestamps)
        except ServingError as error:
            self.statistics.request(name, version, False, time.monotonic_ns() - start)
            if trace is not None:
                trace.finish(error.message)
            raise
        return Inference(
            self,
            served,
            request,
            valid,
            future,
            start,
            placements=placements,
            cache_key=key,
            lookup_ns=lookup_ns,
            trace=trace,
        )
