"""Assemble and run the server: one data plane (``server/dataplane.py``) under the gRPC
transport (``server/grpc/``) and the HTTP one (``server/http/``: REST, the web page, Prometheus
metrics), readiness, and a graceful drain.

``build`` constructs everything in order, each part given what it needs: the statistics, the
gRPC health servicer, the model manager (which reports model readiness to it), the data plane,
the extra services (which share the data plane), then the listeners.

Boundaries: gRPC, HTTP and metrics bind 127.0.0.1 unless told otherwise; with a certificate and
key gRPC and HTTP speak TLS only; with a token every call but health checks needs it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from convzoo.base.codec import DEFAULT_MAX_MESSAGE_BYTES
from convzoo.server.dataplane import DataPlane
from convzoo.server.grpc.server import GrpcServer, ModelHealth
from convzoo.server.grpc.services import ExtraService
from convzoo.server.http.listener import HttpServer
from convzoo.server.http.metrics import MetricsServer
from convzoo.server.manager import ModelManager
from convzoo.server.model import LoadOptions
from convzoo.server.response_cache import ResponseCache
from convzoo.server.statistics import Statistics
from convzoo.server.tracing.config import TraceConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8001
    metrics_port: int | None = 8002
    http_port: int | None = None  # the v2 REST endpoint; None: none (``convzoo serve`` defaults to 8000)
    reports: Path | None = None  # evaluation reports the web page compares (``server/http/web.py``)
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    workers: int = 32
    tls_cert: Path | None = None  # PEM certificate chain and private key: serve TLS only
    tls_key: Path | None = None
    auth_token: str | None = None
    max_queue_size: int = 1024  # queued requests per model version, unless its config sets its own
    cache_bytes: int = 0  # the response cache's size (``serve --cache-size``); 0: no cache
    trace: TraceConfig = field(default_factory=TraceConfig)  # ``serve --trace-config``; default: no tracing


class InferenceServer:
    """A bound server: ``port``, ``http_port`` and ``metrics_port`` are the bound ones (useful with 0)."""

    def __init__(
        self,
        dataplane: DataPlane,
        health: ModelHealth,
        settings: ServerSettings,
        extra_services: Sequence[ExtraService] = (),
    ):
        self.dataplane = dataplane
        self.manager = dataplane.manager
        self.settings = settings
        self.grpc = GrpcServer(
            dataplane,
            health,
            settings.host,
            settings.port,
            max_message_bytes=settings.max_message_bytes,
            workers=settings.workers,
            tls_cert=settings.tls_cert,
            tls_key=settings.tls_key,
            auth_token=settings.auth_token,
            extra_services=extra_services,
        )
        self.port = self.grpc.port
        self.http = None
        self.http_port = None
        if settings.http_port is not None:
            self.http = HttpServer(
                dataplane,
                settings.host,
                settings.http_port,
                max_body_bytes=settings.max_message_bytes,
                auth_token=settings.auth_token,
                tls_cert=settings.tls_cert,
                tls_key=settings.tls_key,
                reports=settings.reports,
            )
            self.http_port = self.http.port
        self.metrics_port = None
        self._metrics = None
        if settings.metrics_port is not None:
            self._metrics = MetricsServer(dataplane.statistics, settings.host, settings.metrics_port)
            self.metrics_port = self._metrics.port
        self._stopped = threading.Event()

    def start(self) -> None:
        """Serve gRPC and HTTP, load the repository, then report ready."""
        self.grpc.start()
        security = ("TLS" if self.settings.tls_cert else "plaintext") + (
            ", bearer token" if self.settings.auth_token else ""
        )
        log.info("gRPC listening on %s:%d (%s)", self.settings.host, self.port, security)
        if self.http is not None:
            self.http.start()
            scheme = "https" if self.settings.tls_cert else "http"
            log.info("HTTP/REST listening on %s://%s:%d (%s)", scheme, self.settings.host, self.http_port, security)
        if self.metrics_port is not None:
            log.info("metrics on http://%s:%d/metrics", self.settings.host, self.metrics_port)
        self.manager.load_all()
        self.dataplane.ready.set()
        self.grpc.health.set_serving(True)
        log.info("server ready on %s:%d", self.settings.host, self.port)

    def stop(self, grace: float) -> None:
        """Drain: report not ready, refuse new RPCs, let in-flight ones finish within ``grace`` s."""
        self.dataplane.ready.clear()
        if self.http is not None:
            rest = threading.Thread(target=self.http.stop, args=(grace,), name="rest-stop")
            rest.start()
        self.grpc.stop(grace)
        if self.http is not None:
            rest.join()
        self.manager.close()
        if self.dataplane.span_recorder is not None:
            self.dataplane.span_recorder.shutdown()  # export the spans still batched
        if self._metrics is not None:
            self._metrics.shutdown()
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)


def build(
    repository: Path,
    options: LoadOptions,
    settings: ServerSettings,
    services: Callable[[DataPlane], Sequence[ExtraService]] = lambda dataplane: (),
) -> InferenceServer:
    """The whole server over one repository, bound but not started; ``services(dataplane)``
    builds the extra gRPC services over the same data plane."""
    recorder = settings.trace.recorder()  # first: a missing OpenTelemetry SDK fails before anything binds
    statistics = Statistics(cache_metrics=settings.cache_bytes > 0)
    health = ModelHealth()
    cache = ResponseCache(settings.cache_bytes) if settings.cache_bytes else None

    def model_changed(name: str, ready: bool) -> None:
        health.model_changed(name, ready)
        cache.invalidate(name)  # a load or unload: the cached responses are the old model's

    on_change = health.model_changed if cache is None else model_changed
    manager = ModelManager(repository, options, statistics, max_queue_size=settings.max_queue_size, on_change=on_change)
    dataplane = DataPlane(
        manager, statistics, cache=cache, trace_settings=settings.trace.settings(recorder), span_recorder=recorder
    )
    return InferenceServer(dataplane, health, settings, services(dataplane))
