"""Calling the transports in process, for the unit tests: a fake gRPC servicer context, one raw
ASGI request through the REST app, and a one-image batch for the tiny classifier."""

from __future__ import annotations

import asyncio

import numpy as np
from server_repository import IMAGE

ONE_IMAGE = (np.arange(3 * IMAGE * IMAGE, dtype=np.float32).reshape(1, 3, IMAGE, IMAGE) % 3) / 3


class Aborted(Exception):
    """What ``FakeContext.abort`` raises (gRPC raises its own exception there)."""


class FakeContext:
    """What the servicer uses of ``grpc.ServicerContext``."""

    def __init__(self) -> None:
        self.callbacks = []
        self.status = None

    def add_callback(self, callback) -> bool:
        self.callbacks.append(callback)
        return True

    def is_active(self) -> bool:
        return self.status is None

    def code(self):
        return self.status[0] if self.status else None

    def abort(self, code, details):
        self.status = (code, details)
        raise Aborted(details)


def call(app, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
    """(status, headers, body) of one request through the ASGI callable."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    sent = []
    incoming = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return (
        start["status"],
        dict((k.decode(), v.decode()) for k, v in start["headers"]),
        b"".join(m.get("body", b"") for m in sent[1:]),
    )
