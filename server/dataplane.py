"""The v2 inference protocol's operations, free of any transport.

gRPC (``server/grpc/servicer.py``), HTTP/REST (``server/http/``) and the in-server Evaluation
service all call this one object: health, server and model metadata, model configuration,
statistics, the repository, and inference. Inference always takes the same path — find the
served version, validate, queue on its batcher, classify, count — so every transport refuses
the same requests with the same messages and shows up in the same statistics. Failures are
``ServingError``s whose ``kind`` each transport maps to its own status code.

An inference request has the fields of ``ModelInferRequest`` (the protobuf message, or
``base.wire.Request``: raw inputs as buffers that NumPy reads in place); the result holds
NumPy arrays that each transport encodes itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import numpy as np

from convzoo.base import classification
from convzoo.base.errors import Kind, ServingError, invalid, not_found
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import model_config_pb2
from convzoo.server.manager import ModelManager, Served
from convzoo.server.statistics import Statistics
from convzoo.server.validation import validate

SERVER_NAME = "convzoo"
EXTENSIONS = ("classification", "model_repository", "model_configuration", "statistics", "binary_tensor_data")
# tritonclient always sends unload_dependents; convzoo has no ensembles, so no dependents.
HARMLESS_REPOSITORY_PARAMETERS = {"unload_dependents"}


def _server_version() -> str:
    try:
        return package_version("convzoo")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class InferResult:
    """The outputs of one request, in the order asked for (classification already applied)."""

    model_name: str
    model_version: str
    id: str
    outputs: list[tuple[str, np.ndarray]]


class DataPlane:
    """The protocol over a model manager; ``ready`` is cleared while the server drains."""

    def __init__(self, manager: ModelManager, statistics: Statistics):
        self.manager = manager
        self.statistics = statistics
        self.ready = threading.Event()

    # --- health and metadata ---

    def server_metadata(self) -> dict:
        return {"name": SERVER_NAME, "version": _server_version(), "extensions": list(EXTENSIONS)}

    def model_ready(self, name: str, version: str = "") -> bool:
        """False for a known model that is not ready; INVALID/NOT_FOUND as ``get`` raises them."""
        try:
            self.manager.get(name, version)
        except ServingError as error:
            if error.kind is Kind.UNAVAILABLE:
                return False
            raise
        return True

    def served(self, name: str, version: str = "") -> Served:
        return self.manager.get(name, version)

    def model_metadata(self, name: str, version: str = "") -> dict:
        """``{name, versions, platform, inputs, outputs}``; tensors as ``{name, datatype, shape}``."""
        model = self.manager.get(name, version).model
        batch = [-1] if model.max_batch_size > 0 else []

        def tensors(specs) -> list[dict]:
            return [{"name": s.name, "datatype": s.datatype.name, "shape": batch + list(s.dims)} for s in specs]

        return {
            "name": model.name,
            "versions": [str(s.version) for s in self.manager.versions(model.name) if s.served],
            "platform": model.config.platform,
            "inputs": tensors(model.inputs),
            "outputs": tensors(model.outputs),
        }

    def model_config(self, name: str, version: str = "") -> model_config_pb2.ModelConfig:
        return self.manager.get(name, version).model.config

    def model_statistics(self, name: str = "", version: str = "") -> list[pb.ModelStatistics]:
        if name and name not in self.manager.names():
            raise not_found(f"unknown model '{name}'")
        loaded = [(s.model.name, str(s.model.version)) for s in self.manager.ready()]
        return self.statistics.to_proto(name, version, loaded)

    # --- repository ---

    def repository_index(self, ready_only: bool = False) -> list[dict]:
        """``{name, version, state, reason}`` of every model version in the repository."""
        return [
            {
                "name": name,
                "version": "" if state.version is None else str(state.version),
                "state": state.state,
                "reason": state.reason,
            }
            for name, state in self.manager.index()
            if not ready_only or state.state == "READY"
        ]

    def load(self, name: str, repository_name: str = "", parameters: Iterable[str] = ()) -> None:
        self._repository_call(self.manager.load, name, repository_name, parameters)

    def unload(self, name: str, repository_name: str = "", parameters: Iterable[str] = ()) -> None:
        self._repository_call(self.manager.unload, name, repository_name, parameters)

    def _repository_call(self, action, name: str, repository_name: str, parameters: Iterable[str]) -> None:
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

    # --- inference ---

    def infer(self, request, track: Callable[[Future], object], *, lead: bool = False) -> Callable[[], InferResult]:
        """Validate and queue a request (``track`` gets its future: cancel it when the caller
        goes away; await it to wait without a thread; ``lead``: the caller calls the returned
        call at once, see ``Batcher.submit``); the returned call waits for the batch,
        applies classification, counts the request and returns the outputs.

        Raises ServingError (counted as a failure once the model is known); the call raises
        ServingError or CancelledError."""
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

        def finish() -> InferResult:
            try:
                results = future.result()
                outputs = []
                for output in valid.outputs:
                    array = results[output.name]
                    if output.classification:
                        array = classification.classify(
                            array, output.classification, model.labels.get(output.name), model.max_batch_size > 0
                        )
                    outputs.append((output.name, array))
            except (ServingError, CancelledError):
                self.statistics.request(name, version, False, time.monotonic_ns() - start)
                raise
            self.statistics.request(name, version, True, time.monotonic_ns() - start)
            return InferResult(name, version, request.id, outputs)

        return finish
