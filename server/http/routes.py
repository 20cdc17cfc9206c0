"""The v2 REST paths (KServe v2 and Triton's extensions), each translated to one data-plane call.

``handle`` takes a request's method, raw path (still percent-encoded: a model name's ``%2F``
stays inside its segment and reaches the name check), headers and body and returns a
``Reply``; it knows nothing of the HTTP server under it (``server/http/asgi.py``).

Nothing that may block runs on the event loop: loads, unloads, the repository index, the parsing
and validation of infer requests (image decoding included) run in ``pool``, a bounded thread
pool sized from the usable cores, and the model runs on its batcher; the loop only waits for
them. The pool's threads do not wait for the run (the loop awaits the handle): they go on
decoding the next requests while the batcher merges the queued ones into batches. One thread per
core leaves the loop its share of the GIL: with four per core, health's p99 under 16 image
clients (tests/test_server_rest_loop.py) rose from 8-21 ms to 13-74 ms on 2 cores. Health, metadata, configuration and statistics are lookups and answer on the loop, so
they stay fast however busy the pool is.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import unquote

from google.protobuf import json_format

from convzoo.base.errors import ServingError, invalid, unavailable
from convzoo.server.dataplane import DataPlane, Inference
from convzoo.server.http import tensors
from convzoo.server.http.errors import HTTP_STATUS, NO_ROUTE, WRONG_METHOD, error_body
from convzoo.server.operations import (
    ConfigRequest,
    IndexRequest,
    LoadRequest,
    MetadataRequest,
    RegionsRequest,
    RegisterRegionRequest,
    StatisticsRequest,
    TraceSettingRequest,
    UnloadRequest,
    UnregisterRegionRequest,
)

log = logging.getLogger(__name__)
MODEL_PATH = re.compile(r"^/v2/models/(?P<model>[^/]*)(?:/versions/(?P<version>[^/]*))?(?:/(?P<action>[a-z]+))?$")
REPOSITORY_PATH = re.compile(r"^/v2/repository/models/(?P<model>[^/]*)/(?P<action>load|unload)$")
SHARED_MEMORY_PATH = re.compile(
    r"^/v2/(?P<kind>system|cuda)sharedmemory(?:/region/(?P<region>[^/]+))?/(?P<action>status|register|unregister)$"
)
TRACE_PATH = re.compile(r"^/v2(?:/models/(?P<model>[^/]+))?/trace/setting$")
SHARED_MEMORY_METHODS = {"status": "GET", "register": "POST", "unregister": "POST"}
JSON = {"content-type": "application/json"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    chunks: list = field(default_factory=list)


def _json(value, status: int = 200) -> Reply:
    return Reply(status, dict(JSON), [json.dumps(value, separators=(",", ":")).encode()])


def _error(status: int, message: str) -> Reply:
    return Reply(status, dict(JSON), [error_body(message)])


def _body_object(body: bytes) -> dict:
    """An optional JSON object body (repository calls)."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise invalid(f"the request body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise invalid(f"the request body must be a JSON object, got {type(value).__name__}")
    return value


class Routes:
    """The REST handlers over one data plane: a table from (path, method) to a handler."""

    def __init__(self, dataplane: DataPlane, pool: Executor):
        self.dataplane = dataplane
        self.pool = pool
        # exact paths: handler(headers, body)
        self._paths: dict[str, tuple[str, Callable[..., Awaitable[Reply]]]] = {
            "/v2": ("GET", self._server_metadata),
            "/v2/health/live": ("GET", self._live),
            "/v2/health/ready": ("GET", self._server_ready),
            "/v2/models/stats": ("GET", self._all_stats),
            "/v2/repository/index": ("POST", self._index),
        }
        # /v2/models/{m}[/versions/{v}][/action]: handler(name, version, headers, body)
        self._model_actions: dict[str, tuple[str, Callable[..., Awaitable[Reply]]]] = {
            "": ("GET", self._model_metadata),
            "ready": ("GET", self._model_ready),
            "config": ("GET", self._config),
            "stats": ("GET", self._stats),
            "infer": ("POST", self._infer),
        }

    async def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        try:
            return await self._route(method, path.rstrip("/") or "/", headers, body)
        except ServingError as error:
            return _error(HTTP_STATUS[error.kind], error.message)
        except Exception as error:  # a bug: log it, and the client still gets an answer
            log.exception("%s %s failed", method, path[:200])
            return _error(500, f"internal error: {type(error).__name__}: {error}")

    async def _route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if path in self._paths:
            expected, handler = self._paths[path]
            return await handler(headers, body) if method == expected else _wrong_method(method, path, expected)
        if match := TRACE_PATH.match(path):
            if method not in ("GET", "POST"):
                return _wrong_method(method, path, "GET, POST")
            return self._trace_setting(unquote(match["model"] or ""), body if method == "POST" else b"")
        if match := MODEL_PATH.match(path):
            action = match["action"] or ""
            if action in self._model_actions:
                expected, handler = self._model_actions[action]
                if method != expected:
                    return _wrong_method(method, path, expected)
                return await handler(unquote(match["model"]), unquote(match["version"] or ""), headers, body)
        if match := REPOSITORY_PATH.match(path):
            if method != "POST":
                return _wrong_method(method, path, "POST")
            return await self._repository(match["action"], unquote(match["model"]), body)
        if match := SHARED_MEMORY_PATH.match(path):
            expected = SHARED_MEMORY_METHODS[match["action"]]
            if method != expected:
                return _wrong_method(method, path, expected)
            region = unquote(match["region"] or "")
            if match["kind"] == "cuda":
                return self._cuda_shared_memory(match["action"], region)
            return await self._shared_memory(match["action"], region, body)
        return _error(NO_ROUTE, f"no such path: {method} {path[:200]}; the v2 REST paths start with /v2")

    # --- health, metadata, statistics ---

    async def _live(self, headers, body) -> Reply:
        return _json({"live": True})

    async def _server_ready(self, headers, body) -> Reply:
        if not self.dataplane.ready.is_set():
            raise unavailable("the server is not ready (starting, or draining)")
        return _json({"ready": True})

    async def _server_metadata(self, headers, body) -> Reply:
        return _json(dataclasses.asdict(self.dataplane.server_metadata()))

    async def _all_stats(self, headers, body) -> Reply:
        return await self._stats("", "", headers, body)

    async def _model_metadata(self, name: str, version: str, headers, body) -> Reply:
        return _json(dataclasses.asdict(self.dataplane.model_metadata(MetadataRequest(name, version))))

    async def _model_ready(self, name: str, version: str, headers, body) -> Reply:
        self.dataplane.served(name, version)  # UNAVAILABLE (503) with the reason when not ready
        return _json({"name": name, "ready": True})

    async def _config(self, name: str, version: str, headers, body) -> Reply:
        config = self.dataplane.model_config(ConfigRequest(name, version))
        return _json(json_format.MessageToDict(config, preserving_proto_field_name=True))

    async def _stats(self, name: str, version: str, headers, body) -> Reply:
        stats = self.dataplane.model_statistics(StatisticsRequest(name, version))
        return _json({"model_stats": [dataclasses.asdict(s) for s in stats]})

    # --- repository ---

    async def _index(self, headers, body: bytes) -> Reply:
        ready = _body_object(body).get("ready", False)
        if not isinstance(ready, bool):
            raise invalid("'ready' must be true or false")
        entries = await self._off_loop(self.dataplane.repository_index, IndexRequest(ready))
        return _json([dataclasses.asdict(entry) for entry in entries])

    async def _repository(self, action: str, name: str, body: bytes) -> Reply:
        parameters = _body_object(body).get("parameters", {})
        if not isinstance(parameters, dict):
            raise invalid("'parameters' must be a JSON object")
        if action == "load":
            await self._off_loop(self.dataplane.load, LoadRequest(name, "", frozenset(parameters)))
        else:
            await self._off_loop(self.dataplane.unload, UnloadRequest(name, "", frozenset(parameters)))
        return Reply(200, dict(JSON), [b"{}"])

    # --- system shared memory ---

    async def _shared_memory(self, action: str, region: str, body: bytes) -> Reply:
        if action == "status":
            regions = self.dataplane.shared_memory_status(RegionsRequest(region))
            return _json([dataclasses.asdict(status) for status in regions])
        if action == "unregister":
            self.dataplane.shared_memory_unregister(UnregisterRegionRequest(region))
            return Reply(200, dict(JSON), [b"{}"])
        if not region:
            raise invalid("register names its region: POST /v2/systemsharedmemory/region/{name}/register")
        fields = _body_object(body)
        key, offset, byte_size = fields.get("key"), fields.get("offset", 0), fields.get("byte_size")
        if not isinstance(key, str):
            raise invalid("'key' must be a string: the POSIX shared memory key")
        for field_name, value in (("offset", offset), ("byte_size", byte_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise invalid(f"'{field_name}' must be an integer >= 0, got {value!r}")
        # opening and mapping the object touches the file system: off the loop
        await self._off_loop(
            self.dataplane.shared_memory_register, RegisterRegionRequest(region, key, offset, byte_size)
        )
        return Reply(200, dict(JSON), [b"{}"])

    # --- trace settings ---

    def _trace_setting(self, model: str, body: bytes) -> Reply:
        """GET reads, POST changes: each setting a string, a list of strings, or null to clear a model's."""
        changes = {}
        for name, value in _body_object(body).items():
            if value is None:
                changes[name] = None
            elif isinstance(value, str):
                changes[name] = (value,)
            elif isinstance(value, list) and all(isinstance(item, str) for item in value):
                changes[name] = tuple(value)
            else:
                raise invalid(f"trace setting '{name}' must be a string, a list of strings or null, got {value!r}")
        return _json(self.dataplane.trace_setting(TraceSettingRequest(model, changes)))

    def _cuda_shared_memory(self, action: str, region: str) -> Reply:
        if action == "register":
            self.dataplane.cuda_shared_memory_register(RegisterRegionRequest(region, "", 0, 0))  # refused (501)
        if action == "status":
            return _json(self.dataplane.cuda_shared_memory_status(RegionsRequest(region)))
        self.dataplane.cuda_shared_memory_unregister(UnregisterRegionRequest(region))
        return Reply(200, dict(JSON), [b"{}"])

    async def _off_loop(self, call: Callable, *args):
        """``call(*args)`` in the pool; the loop serves other requests meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, partial(call, *args))

    # --- inference ---

    async def _infer(self, name: str, version: str, headers: dict[str, str], body: bytes) -> Reply:
        self.dataplane.served(name, version)  # an unknown model is 404 whatever the body, as over gRPC
        header_length = headers.get(tensors.HEADER_LENGTH)
        traceparent = headers.get("traceparent") if self.dataplane.trace_settings.active else None

        def start() -> tuple[tensors.ParsedInfer, Inference]:
            parsed = tensors.parse_infer(name, version, body, header_length)
            return parsed, self.dataplane.infer(parsed.request, traceparent=traceparent)

        started = asyncio.get_running_loop().run_in_executor(self.pool, start)
        try:
            parsed, inference = await asyncio.shield(started)
        except asyncio.CancelledError:  # the client went away: its request, once queued, never runs
            started.add_done_callback(lambda job: job.exception() is None and job.result()[1].cancel())
            raise
        await _until_done(inference)
        headers_out, chunks = tensors.encode_infer(inference.wait(), parsed)
        return Reply(200, headers_out, chunks)


async def _until_done(inference: Inference) -> None:
    """Wait on the event loop, not a thread; cancelling this task (client gone) cancels the request."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def settle() -> None:
        if not done.done():
            done.set_result(None)

    inference.add_done_callback(lambda: loop.call_soon_threadsafe(settle))
    try:
        await done
    except asyncio.CancelledError:
        inference.cancel()
        raise


def _wrong_method(method: str, path: str, expected: str) -> Reply:
    reply = _error(WRONG_METHOD, f"{path[:200]} takes {expected}, not {method}")
    reply.headers["allow"] = expected
    return reply
