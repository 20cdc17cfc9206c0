"""The gRPC server: the inference service (with convzoo's zero-copy ModelInfer codec),
``grpc.health.v1``, reflection and the extra services, behind the token and decoding interceptors.

Health: service ``""`` and ``inference.GRPCInferenceService`` are SERVING while the server is
ready (``set_serving``); each model name is SERVING while a version is READY (``model_changed``,
the manager's ``on_change``).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from convzoo.base import wire
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc
from convzoo.server.dataplane import DataPlane
from convzoo.server.grpc.auth import BearerTokenInterceptor
from convzoo.server.grpc.decoding import DecodingInterceptor
from convzoo.server.grpc.servicer import InferenceServicer
from convzoo.server.grpc.services import ExtraService
from convzoo.server.grpc.tls import server_credentials

INFERENCE_SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


class ModelHealth:
    """The ``grpc.health.v1`` servicer; ``model_changed`` is what the model manager calls."""

    def __init__(self) -> None:
        self.servicer = health.HealthServicer()

    def model_changed(self, name: str, ready: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        self.servicer.set(name, status)

    def set_serving(self, serving: bool) -> None:
        """The server as a whole (service "" and the inference service)."""
        for name in ("", INFERENCE_SERVICE):
            self.model_changed(name, serving)


class GrpcServer:
    """A bound (not yet started) gRPC server; ``port`` is the bound one (useful with 0)."""

    def __init__(
        self,
        dataplane: DataPlane,
        health: ModelHealth,
        host: str,
        port: int,
        *,
        max_message_bytes: int,
        workers: int,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        auth_token: str | None = None,
        extra_services: Sequence[ExtraService] = (),
    ):
        self.health = health
        self.servicer = InferenceServicer(dataplane)
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # gRPC sets SO_REUSEPORT by default: a second server on a busy port would bind and
            # silently take half the connections. Without it, the bind fails and we say so.
            ("grpc.so_reuseport", 0),
        ]
        # The token check comes first; its refusals use the never-raising deserializers too.
        interceptors = [BearerTokenInterceptor(auth_token)] if auth_token else []
        interceptors.append(DecodingInterceptor())
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers), options=options, interceptors=interceptors
        )
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(self.servicer, self.server)
        self.server.add_registered_method_handlers(INFERENCE_SERVICE, wire.method_handlers(self.servicer))
        health_pb2_grpc.add_HealthServicer_to_server(health.servicer, self.server)
        for service in extra_services:
            service.add_to_server(self.server)
        names = [INFERENCE_SERVICE, HEALTH_SERVICE, reflection.SERVICE_NAME, *(s.name for s in extra_services)]
        reflection.enable_server_reflection(names, self.server)
        address = f"{host}:{port}"
        try:
            if tls_cert:
                self.port = self.server.add_secure_port(address, server_credentials(tls_cert, tls_key))
            else:
                self.port = self.server.add_insecure_port(address)
        except RuntimeError:
            raise OSError(f"cannot bind gRPC to {host}:{port} (address in use?)") from None

    def start(self) -> None:
        self.server.start()
        self.health.set_serving(False)

    def stop(self, grace: float) -> None:
        """Refuse new RPCs, let in-flight ones finish within ``grace`` seconds."""
        self.health.servicer.enter_graceful_shutdown()
        self.server.stop(grace).wait()
