"""Serve the REST app with uvicorn (httptools parser, uvloop event loop) on a thread of the
server process, beside gRPC, over the same data plane.

Why this stack: the same routes under each server, JSON infer of the tests' 8x8 classifier,
keep-alive clients, 3 interleaved rounds of 10 s, medians, on the shared 2-core machine
(``python -m benchmarks.rest_stack --repository REPO``): uvicorn + httptools + uvloop 366 req/s
(p50 1.09 ms) at 1 client and 762 req/s at 8; aiohttp 3.14 304 req/s (p50 1.35 ms) and 440. The socket is bound here (no SO_REUSEPORT), so a
port in use is refused with one line instead of being shared with another server.
"""

from __future__ import annotations

import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvicorn

from convzoo.server import threads
from convzoo.server.dataplane import DataPlane
from convzoo.server.http.asgi import RestApp
from convzoo.server.http.routes import Routes
from convzoo.server.http.web import WebRoutes

log = logging.getLogger(__name__)
logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # convzoo logs the bound port itself


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0: a free port); OSError in one line if in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT only; a live listener still refuses
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot bind HTTP to {host}:{port} ({exc.strerror})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class HttpServer:
    """The REST endpoint: ``port`` is the bound one (useful with 0)."""

    def __init__(
        self,
        dataplane: DataPlane,
        host: str,
        port: int,
        *,
        max_body_bytes: int,
        auth_token: str | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        reports: Path | None = None,
        pool_threads: int = 0,
    ):
        """``pool_threads``: threads for the work kept off the event loop (0: the usable cores)."""
        self.socket = bind(host, port)
        self.port = self.socket.getsockname()[1]
        self.pool = ThreadPoolExecutor(
            pool_threads or threads.usable_cpus(), thread_name_prefix="rest-work", initializer=threads.name_os_thread
        )
        app = RestApp(Routes(dataplane, self.pool), max_body_bytes, auth_token, WebRoutes(reports))
        config = uvicorn.Config(
            app,
            loop="uvloop",
            http="httptools",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=30,  # clients pool connections (tritonclient.http); 5 s would drop them between bursts
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="rest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        """The event loop's thread: uvicorn serving the bound socket until ``stop``."""
        threads.name_os_thread()
        self.server.run(sockets=[self.socket])

    def stop(self, grace: float) -> None:
        """Stop accepting, let requests in flight finish within ``grace`` seconds."""
        self.server.config.timeout_graceful_shutdown = grace
        self.server.should_exit = True
        self._thread.join(grace + 5)
        self.socket.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
