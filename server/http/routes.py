"""The v2 REST paths (KServe v2 and Triton's extensions), each translated to one data-plane call.

``handle`` takes a request's method, raw path (still percent-encoded: a model name's ``%2F``
stays inside its segment and reaches the name check), headers and body and returns a
``Reply``; it knows nothing of the HTTP server under it (``server/http/asgi.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from google.protobuf import json_format
from google.protobuf.message import Message

from convzoo.base.errors import ServingError, invalid, unavailable
from convzoo.server.dataplane import DataPlane
from convzoo.server.http import tensors
from convzoo.server.http.errors import HTTP_STATUS, NO_ROUTE, WRONG_METHOD, error_body

log = logging.getLogger(__name__)
MODEL_PATH = re.compile(r"^/v2/models/(?P<model>[^/]*)(?:/versions/(?P<version>[^/]*))?(?:/(?P<action>[a-z]+))?$")
REPOSITORY_PATH = re.compile(r"^/v2/repository/models/(?P<model>[^/]*)/(?P<action>load|unload)$")
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


def plain_dict(message: Message) -> dict:
    """Every field of a message, numbers as JSON numbers (protobuf's own JSON quotes 64-bit ones)."""
    result = {}
    for descriptor in message.DESCRIPTOR.fields:
        value = getattr(message, descriptor.name)
        if descriptor.label == descriptor.LABEL_REPEATED:
            result[descriptor.name] = [plain_dict(v) if descriptor.message_type else v for v in value]
        elif descriptor.message_type:
            result[descriptor.name] = plain_dict(value)
        else:
            result[descriptor.name] = value
    return result


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

    def __init__(self, dataplane: DataPlane):
        self.dataplane = dataplane
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
            return self._repository(match["action"], unquote(match["model"]), body)
        return _error(NO_ROUTE, f"no such path: {method} {path[:200]}; the v2 REST paths start with /v2")

    # --- health, metadata, statistics ---

    async def _live(self, headers, body) -> Reply:
        return _json({"live": True})

    async def _server_ready(self, headers, body) -> Reply:
        if not self.dataplane.ready.is_set():
            raise unavailable("the server is not ready (starting, or draining)")
        return _json({"ready": True})

    async def _server_metadata(self, headers, body) -> Reply:
        return _json(self.dataplane.server_metadata())

    async def _all_stats(self, headers, body) -> Reply:
        return await self._stats("", "", headers, body)

    async def _model_metadata(self, name: str, version: str, headers, body) -> Reply:
        return _json(self.dataplane.model_metadata(name, version))

    async def _model_ready(self, name: str, version: str, headers, body) -> Reply:
        self.dataplane.served(name, version)  # UNAVAILABLE (503) with the reason when not ready
        return _json({"name": name, "ready": True})

    async def _config(self, name: str, version: str, headers, body) -> Reply:
        config = self.dataplane.model_config(name, version)
        return _json(json_format.MessageToDict(config, preserving_proto_field_name=True))

    async def _stats(self, name: str, version: str, headers, body) -> Reply:
        return _json({"model_stats": [plain_dict(s) for s in self.dataplane.model_statistics(name, version)]})

    # --- repository ---

    async def _index(self, headers, body: bytes) -> Reply:
        ready = _body_object(body).get("ready", False)
        if not isinstance(ready, bool):
            raise invalid("'ready' must be true or false")
        return _json(self.dataplane.repository_index(ready))

    def _repository(self, action: str, name: str, body: bytes) -> Reply:
        parameters = _body_object(body).get("parameters", {})
        if not isinstance(parameters, dict):
            raise invalid("'parameters' must be a JSON object")
        (self.dataplane.load if action == "load" else self.dataplane.unload)(name, "", parameters)
        return Reply(200, dict(JSON), [b"{}"])

    # --- inference ---

    async def _infer(self, name: str, version: str, headers: dict[str, str], body: bytes) -> Reply:
        self.dataplane.served(name, version)  # an unknown model is 404 whatever the body, as over gRPC
        parsed = tensors.parse_infer(name, version, body, headers.get(tensors.HEADER_LENGTH))
        queued = []
        finish = self.dataplane.infer(parsed.request, queued.append)
        # Wait on the event loop, not a thread; cancelling this task (client gone) cancels the queued request.
        wrapped = asyncio.wrap_future(queued[0])
        try:
            await asyncio.wait([wrapped])
        except asyncio.CancelledError:
            wrapped.cancel()
            raise
        result = finish()
        headers_out, chunks = tensors.encode_infer(result, parsed)
        return Reply(200, headers_out, chunks)


def _wrong_method(method: str, path: str, expected: str) -> Reply:
    reply = _error(WRONG_METHOD, f"{path[:200]} takes {expected}, not {method}")
    reply.headers["allow"] = expected
    return reply
