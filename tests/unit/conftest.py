"""Fixtures of the in-process unit tests: data planes over tiny ONNX models, no server process."""

from __future__ import annotations

import pytest
from server_repository import classifier_config, write_classifier, write_int_add

from convzoo.base.device import DeviceRequest
from convzoo.server.dataplane import DataPlane
from convzoo.server.manager import ModelManager
from convzoo.server.model import LoadOptions
from convzoo.server.response_cache import ResponseCache
from convzoo.server.statistics import Statistics

# Requests to "held" wait in its queue for 60 s unless 8 rows arrive: a request that is
# surely queued, not running, for as long as a test needs.
HELD = "dynamic_batching { preferred_batch_size: [ 8 ] max_queue_delay_microseconds: 60000000 }\n"
# "cached" answers a request it has answered before from the response cache (where there is one).
CACHED = "response_cache { enable: true }\n"
OPTIONS = LoadOptions(device=DeviceRequest("cpu"), intra_op_threads=1, warm_up=False)


@pytest.fixture(scope="session")
def unit_repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("unit-repository")
    write_classifier(root / "classifier")
    write_classifier(root / "held", config=classifier_config("held", 8, HELD))
    write_classifier(root / "cached", config=classifier_config("cached", 8, CACHED))
    write_int_add(root / "int_add")
    return root


@pytest.fixture(scope="session")
def dataplane(unit_repository):
    statistics = Statistics()
    manager = ModelManager(unit_repository, OPTIONS, statistics)
    manager.load_all()
    plane = DataPlane(manager, statistics)
    plane.ready.set()
    yield plane
    manager.close()


@pytest.fixture(scope="session")
def cached_dataplane(unit_repository):
    """A data plane over the same models with a 1 MiB response cache, wired as ``serve`` wires it
    (cache metrics on; a model's change drops its responses)."""
    statistics = Statistics(cache_metrics=True)
    cache = ResponseCache(1 << 20)
    manager = ModelManager(unit_repository, OPTIONS, statistics, on_change=lambda name, ready: cache.invalidate(name))
    manager.load_all()
    plane = DataPlane(manager, statistics, cache=cache)
    plane.ready.set()
    yield plane
    manager.close()
