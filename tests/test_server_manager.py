"""The model manager in-process (no gRPC, no subprocess): which versions serve, the reasons
the others do not, lookups and their statuses, unload, reload, close."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from server_repository import IMAGE, classifier_logits, write_broken, write_classifier, write_int_add

from convzoo.base.device import DeviceRequest
from convzoo.base.errors import ServingError
from convzoo.server.manager import READY, UNAVAILABLE, ModelManager
from convzoo.server.model import LoadOptions
from convzoo.server.statistics import Statistics

BATCH = np.arange(2 * 3 * IMAGE * IMAGE, dtype=np.float32).reshape(2, 3, IMAGE, IMAGE) % 7
RESULT_S = 60


@pytest.fixture
def repository(tmp_path):
    root = tmp_path / "repository"
    write_classifier(root / "classifier")
    write_classifier(root / "versioned", version=1, seed=1)
    write_classifier(root / "versioned", version=2, seed=2)
    write_broken(root / "broken")
    return root


@pytest.fixture
def manager(repository):
    changes: list[tuple[str, bool]] = []
    options = LoadOptions(device=DeviceRequest("cpu"), intra_op_threads=1, warm_up=False)
    manager = ModelManager(
        repository, options, Statistics(), on_change=lambda name, ready: changes.append((name, ready))
    )
    manager.changes = changes
    manager.load_all()
    yield manager
    manager.close()


def states(manager: ModelManager) -> dict[str, list[tuple[int | None, str]]]:
    index: dict[str, list[tuple[int | None, str]]] = {}
    for name, state in manager.index():
        index.setdefault(name, []).append((state.version, state.state))
    return index


def infer(manager: ModelManager, name: str, version: str = "") -> np.ndarray:
    served = manager.get(name, version)
    return served.batcher.submit({"input": BATCH}).result(RESULT_S)["logits"]


def status(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(ServingError) as error:
        call()
    return error.value.code, error.value.message


def test_load_all_serves_the_good_models_and_keeps_the_reason_for_the_broken_one(manager):
    assert states(manager) == {
        "broken": [(1, UNAVAILABLE)],
        "classifier": [(1, READY)],
        "versioned": [(2, READY)],  # the default policy serves the latest version only
    }
    (broken,) = manager.versions("broken")
    assert broken.reason.startswith("ONNX Runtime cannot load ")
    assert sorted(manager.changes) == [("broken", False), ("classifier", True), ("versioned", True)]
    np.testing.assert_array_equal(infer(manager, "classifier"), classifier_logits(BATCH))
    np.testing.assert_array_equal(infer(manager, "versioned"), classifier_logits(BATCH, seed=2))


def test_lookups_answer_with_the_status_a_client_gets(manager):
    assert status(lambda: manager.get("")) == (grpc.StatusCode.INVALID_ARGUMENT, "model name is empty")
    assert status(lambda: manager.get("nope")) == (
        grpc.StatusCode.NOT_FOUND,
        "unknown model 'nope'; models in the repository: broken, classifier, versioned",
    )
    assert status(lambda: manager.get("versioned", "7")) == (
        grpc.StatusCode.NOT_FOUND,
        "model 'versioned' has no version '7'; versions: 2",
    )
    code, message = status(lambda: manager.get("broken"))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert message.startswith("model 'broken' version 1 is not ready (UNAVAILABLE: ONNX Runtime cannot load ")


def test_unload_refuses_new_requests_and_lets_queued_ones_finish(manager):
    served = manager.get("classifier")
    queued = served.batcher.submit({"input": BATCH})
    manager.unload("classifier")
    np.testing.assert_array_equal(queued.result(RESULT_S)["logits"], classifier_logits(BATCH))
    assert status(lambda: manager.get("classifier")) == (
        grpc.StatusCode.UNAVAILABLE,
        "model 'classifier' is not ready (UNAVAILABLE: unloaded)",
    )
    assert ("classifier", False) in manager.changes
    manager.load("classifier")
    np.testing.assert_array_equal(infer(manager, "classifier"), classifier_logits(BATCH))


def test_reload_picks_up_a_new_version_and_retires_the_old_one(manager, repository):
    old = manager.get("versioned")
    write_classifier(repository / "versioned", version=3, seed=3)
    manager.load("versioned")
    assert states(manager)["versioned"] == [(3, READY)]
    np.testing.assert_array_equal(infer(manager, "versioned"), classifier_logits(BATCH, seed=3))
    assert status(lambda: old.batcher.submit({"input": BATCH}))[0] == grpc.StatusCode.UNAVAILABLE


def test_load_of_a_new_model_an_unknown_one_and_a_path(manager, repository):
    assert states(manager).get("int_add") is None
    write_int_add(repository / "int_add")
    assert states(manager)["int_add"] == [(None, UNAVAILABLE)]  # in the repository, not loaded yet
    manager.load("int_add")
    ones = np.ones((1, 4), np.int32)
    result = manager.get("int_add").batcher.submit({"INPUT0": ones, "INPUT1": ones}).result(RESULT_S)
    assert result["OUTPUT0"].tolist() == [[2, 2, 2, 2]]
    with pytest.raises(LookupError, match="model 'nope' is not in the repository"):
        manager.load("nope")
    for name in ("..", "../outside", "/etc"):
        with pytest.raises(ValueError, match="is not a folder name"):
            manager.load(name)


def test_close_takes_every_model_out_of_service(manager):
    manager.close()
    assert not manager.ready()
    assert {state for versions in states(manager).values() for _, state in versions} == {UNAVAILABLE}
    assert manager.versions("classifier")[0].reason == "server shutting down"
