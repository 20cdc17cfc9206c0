"""Fixtures of the in-process unit tests: one data plane over tiny ONNX models, no server process."""

from __future__ import annotations

import pytest
from server_repository import classifier_config, write_classifier, write_int_add

from convzoo.base.device import DeviceRequest
from convzoo.server.dataplane import DataPlane
from convzoo.server.manager import ModelManager
from convzoo.server.model import LoadOptions
from convzoo.server.statistics import Statistics

# Requests to "held" wait in its queue for 60 s unless 8 rows arrive: a request that is
# surely queued, not running, for as long as a test needs.
HELD = "dynamic_batching { preferred_batch_size: [ 8 ] max_queue_delay_microseconds: 60000000 }\n"


@pytest.fixture(scope="session")
def unit_repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("unit-repository")
    write_classifier(root / "classifier")
    write_classifier(root / "held", config=classifier_config("held", 8, HELD))
    write_int_add(root / "int_add")
    return root


@pytest.fixture(scope="session")
def dataplane(unit_repository):
    statistics = Statistics()
    options = LoadOptions(device=DeviceRequest("cpu"), intra_op_threads=1, warm_up=False)
    manager = ModelManager(unit_repository, options, statistics)
    manager.load_all()
    plane = DataPlane(manager, statistics)
    plane.ready.set()
    yield plane
    manager.close()
