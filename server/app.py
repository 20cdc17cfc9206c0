"""Assemble and run the server: gRPC (inference, health, reflection, extra services), the v2
HTTP/REST endpoint (``server/http/``), Prometheus metrics, readiness, and a graceful drain.
Both transports translate into one data plane (``server/dataplane.py``).

Health (``grpc.health.v1``): service ``""`` and ``inference.GRPCInferenceService`` are
SERVING while the server is ready; each model name is SERVING while a version is READY.

Boundaries: gRPC, HTTP and metrics bind 127.0.0.1 unless told otherwise; with a certificate and
key gRPC and HTTP speak TLS only; with a token every call but health checks needs it (``auth``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from convzoo.base import wire
from convzoo.base.codec import DEFAULT_MAX_MESSAGE_BYTES
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc
from convzoo.server.dataplane import DataPlane
from convzoo.server.grpc.auth import BearerTokenInterceptor
from convzoo.server.grpc.decoding import DecodingInterceptor
from convzoo.server.grpc.servicer import InferenceServicer
from convzoo.server.grpc.services import ExtraService
from convzoo.server.grpc.tls import server_credentials
from convzoo.server.http.listener import HttpServer
from convzoo.server.http.metrics import MetricsServer
from convzoo.server.manager import ModelManager
from convzoo.server.statistics import Statistics

log = logging.getLogger(__name__)
INFERENCE_SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name


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


class InferenceServer:
    """A started server: ``port`` and ``metrics_port`` are the bound ones (useful with 0)."""

    def __init__(
        self,
        manager: ModelManager,
        statistics: Statistics,
        settings: ServerSettings,
        extra_services: Sequence[ExtraService] = (),
    ):
        self.manager = manager
        self.settings = settings
        self.health = health.HealthServicer()
        self.dataplane = DataPlane(manager, statistics)
        self.servicer = InferenceServicer(self.dataplane)
        manager.on_change = self._model_changed
        options = [
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            # gRPC sets SO_REUSEPORT by default: a second server on a busy port would bind and
            # silently take half the connections. Without it, the bind fails and we say so.
            ("grpc.so_reuseport", 0),
        ]
        # The token check comes first; its refusals use the never-raising deserializers too.
        interceptors = [BearerTokenInterceptor(settings.auth_token)] if settings.auth_token else []
        interceptors.append(DecodingInterceptor())
        self.grpc = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.workers), options=options, interceptors=interceptors
        )
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(self.servicer, self.grpc)
        self.grpc.add_registered_method_handlers(INFERENCE_SERVICE, wire.method_handlers(self.servicer))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        for service in extra_services:
            service.add_to_server(self.grpc)
        names = [INFERENCE_SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names + [s.name for s in extra_services], self.grpc)
        address = f"{settings.host}:{settings.port}"
        try:
            if settings.tls_cert:
                self.port = self.grpc.add_secure_port(address, server_credentials(settings.tls_cert, settings.tls_key))
            else:
                self.port = self.grpc.add_insecure_port(address)
        except RuntimeError:
            raise OSError(f"cannot bind gRPC to {settings.host}:{settings.port} (address in use?)") from None
        self.http = None
        self.http_port = None
        if settings.http_port is not None:
            self.http = HttpServer(
                self.dataplane,
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
            self._metrics = MetricsServer(statistics, settings.host, settings.metrics_port)
            self.metrics_port = self._metrics.port
        self._stopped = threading.Event()

    def _model_changed(self, name: str, ready: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        self.health.set(name, status)

    def start(self) -> None:
        """Serve gRPC, load the repository, then report ready."""
        self.grpc.start()
        for name in ("", INFERENCE_SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
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
        for name in ("", INFERENCE_SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("server ready on %s:%d", self.settings.host, self.port)

    def stop(self, grace: float) -> None:
        """Drain: report not ready, refuse new RPCs, let in-flight ones finish within ``grace`` s."""
        self.dataplane.ready.clear()
        self.health.enter_graceful_shutdown()
        if self.http is not None:
            rest = threading.Thread(target=self.http.stop, args=(grace,), name="rest-stop")
            rest.start()
        self.grpc.stop(grace).wait()
        if self.http is not None:
            rest.join()
        self.manager.close()
        if self._metrics is not None:
            self._metrics.shutdown()
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)
