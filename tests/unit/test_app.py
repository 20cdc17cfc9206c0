"""The server is built in one pass: one data plane for every transport and service, the
manager's readiness reports wired at construction."""

from __future__ import annotations

from grpc_health.v1 import health_pb2

from convzoo.base.device import DeviceRequest
from convzoo.server.app import ServerSettings, build
from convzoo.server.model import LoadOptions


def test_one_data_plane_is_shared_and_readiness_is_wired_at_construction(unit_repository):
    given = []
    server = build(
        unit_repository,
        LoadOptions(device=DeviceRequest("cpu"), intra_op_threads=1, warm_up=False),
        ServerSettings(port=0, metrics_port=None, max_queue_size=7),
        lambda dataplane: given.append(dataplane) or [],
    )
    try:
        assert given == [server.dataplane]
        assert server.grpc.servicer.dataplane is server.dataplane
        assert server.dataplane.manager.on_change == server.grpc.health.model_changed
        assert server.dataplane.manager.max_queue_size == 7
        assert not server.dataplane.ready.is_set()  # until start() has loaded the repository
    finally:
        server.grpc.server.stop(0)


def test_with_a_cache_a_model_change_reports_readiness_and_drops_the_models_responses(unit_repository):
    server = build(
        unit_repository,
        LoadOptions(device=DeviceRequest("cpu"), intra_op_threads=1, warm_up=False),
        ServerSettings(port=0, metrics_port=None, cache_bytes=1 << 20),
    )
    try:
        cache = server.dataplane.cache
        assert cache.capacity == 1 << 20 and server.dataplane.statistics.cache_metrics
        server.dataplane.manager.on_change("classifier", True)
        assert cache.generation("classifier") == 1 and cache.generation("held") == 0
        check = server.grpc.health.servicer.Check(health_pb2.HealthCheckRequest(service="classifier"), None)
        assert check.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        server.grpc.server.stop(0)
