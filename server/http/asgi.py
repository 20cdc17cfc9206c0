"""A thin ASGI application around ``Routes``: the bearer token, the body limit, and replies.

Health paths (``/v2/health/...``) need no token, as ``grpc.health.v1`` needs none over gRPC;
nor do the web page and its static files (``server/http/web.py``), so a browser can load the page
and then ask for the token. The page's report data needs the token like the API.
The page's answers read files (reports), so they are made in the routes' thread pool, off the
event loop. A body over the limit (``--max-message-bytes``) is refused with 413: it is read to its end (so
the client, still sending, gets the answer) but not kept, so memory stays flat.
"""

from __future__ import annotations

import asyncio
import hmac

from convzoo.server.http import web
from convzoo.server.http.errors import TOO_LARGE, error_body
from convzoo.server.http.routes import Reply, Routes

HEALTH_PREFIX = "/v2/health/"
REFUSAL = "missing or wrong bearer token: send the header 'Authorization: Bearer <token>'"
UNAUTHENTICATED = 401


class RestApp:
    """The ASGI callable."""

    def __init__(
        self,
        routes: Routes,
        max_body_bytes: int,
        auth_token: str | None = None,
        page: web.WebRoutes | None = None,
    ):
        self.routes = routes
        self.max_body_bytes = max_body_bytes
        self._expected = f"Bearer {auth_token}".encode() if auth_token else None
        self.page = page

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # uvicorn runs with lifespan off
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        reply = await self._reply(scope, headers, receive)
        reply.headers["content-length"] = str(sum(len(chunk) for chunk in reply.chunks))
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(key.encode(), value.encode()) for key, value in reply.headers.items()],
            }
        )
        last = len(reply.chunks) - 1
        for index, chunk in enumerate(reply.chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": index < last})
        if not reply.chunks:
            await send({"type": "http.response.body", "body": b""})

    async def _reply(self, scope, headers: dict[str, str], receive) -> Reply:
        path = scope["raw_path"].decode("latin-1") if scope.get("raw_path") else scope["path"]
        page_path = scope["path"]  # the page's own paths, decoded (its files are checked by name)
        page = self.page is not None and web.owns(page_path)
        public = path.startswith(HEALTH_PREFIX) or (page and web.is_public(page_path))
        if self._expected is not None and not public:
            supplied = headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(supplied, self._expected):
                return Reply(UNAUTHENTICATED, {"content-type": "application/json"}, [error_body(REFUSAL)])
        if page:  # GET only: a body, if any, is not read
            query = scope.get("query_string", b"").decode("latin-1")
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(self.routes.pool, self.page.handle, scope["method"], page_path, query)
            return Reply(answer.status, {"content-type": answer.content_type, **answer.headers}, [answer.body])
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return Reply(499)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.max_body_bytes:
                chunks.append(chunk)
            elif chunks:
                chunks = []  # over the limit: read on (so the client can read the answer), keep nothing
            if not message.get("more_body", False):
                break
        if size > self.max_body_bytes:
            return Reply(
                TOO_LARGE,
                {"content-type": "application/json"},
                [
                    error_body(
                        f"request body of {size} bytes exceeds the limit of {self.max_body_bytes} bytes (--max-message-bytes)"
                    )
                ],
            )
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return await self.routes.handle(scope["method"], path, headers, body)
