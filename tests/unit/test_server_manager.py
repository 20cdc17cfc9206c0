"""The model manager in-process (no gRPC, no subprocess): which versions serve, the reasons
the others do not, lookups and their statuses, unload, reload, close; and the races between
them, made deterministic with loads and runs that wait for the test (events, never sleeps)."""

from __future__ import annotations

import gc
import threading
import tracemalloc
import weakref

import grpc
import numpy as np
import pytest
from server_repository import (
    IMAGE,
    classifier_config,
    classifier_logits,
    write_broken,
    write_classifier,
    write_int_add,
)

from convzoo.base.device import DeviceRequest
from convzoo.base.errors import ServingError
from convzoo.server import manager as manager_module
from convzoo.server.manager import READY, UNAVAILABLE, ModelManager
from convzoo.server.model import LoadOptions, load
from convzoo.server.statistics import Statistics

BATCH = np.arange(2 * 3 * IMAGE * IMAGE, dtype=np.float32).reshape(2, 3, IMAGE, IMAGE) % 7
RESULT_S = 60  # bound on waiting for something a test expects to happen
OPTIONS = LoadOptions(device=DeviceRequest("cpu"), intra_op_threads=1, warm_up=False)


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
    manager = ModelManager(
        repository, OPTIONS, Statistics(), on_change=lambda name, ready: changes.append((name, ready))
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


# --- races: loads and runs that wait for the test ---


class HeldLoads:
    """A ``load_model`` whose calls wait, once ``hold()`` is called, until the test sets ``go``;
    ``started`` tells that one is waiting. It counts the loads running at once."""

    def __init__(self):
        self.started = threading.Event()
        self.go = threading.Event()
        self.go.set()
        self._lock = threading.Lock()
        self.running = self.most_at_once = 0

    def hold(self) -> None:
        self.started.clear()
        self.go.clear()

    def __call__(self, source, version, options):
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.started.set()
            assert self.go.wait(RESULT_S), "the test never let the load finish"
            return load(source, version, options)
        finally:
            with self._lock:
                self.running -= 1


class Call(threading.Thread):
    """One manager call in its own thread; ``outcome()`` joins it and gives its exception or None."""

    def __init__(self, function, *args):
        super().__init__(daemon=True)
        self.function, self.args, self.error = function, args, None

    def run(self) -> None:
        try:
            self.function(*self.args)
        except BaseException as exc:  # handed to the test
            self.error = exc

    def outcome(self) -> BaseException | None:
        self.join(RESULT_S)
        assert not self.is_alive(), f"{self.function.__name__}{self.args} did not return"
        return self.error


def held_load(manager: ModelManager, loads: HeldLoads, name: str) -> Call:
    """``manager`` loading ``name`` on its own thread, held inside the load until ``loads.go`` is set."""
    loads.hold()
    loading = Call(manager.load, name)
    loading.start()
    assert loads.started.wait(RESULT_S)
    return loading


@pytest.fixture
def held(repository):
    """A manager of ``repository`` (nothing loaded) whose loads the test can hold."""
    loads = HeldLoads()
    manager = ModelManager(repository, OPTIONS, Statistics(), load_model=loads)
    yield manager, loads
    loads.go.set()  # a failing test must not leave a load waiting
    manager.close()


@pytest.fixture(autouse=True)
def threads_before():
    """The threads alive when a test starts (other tests' servers may share model names)."""
    _threads_before.clear()
    _threads_before.update(threading.enumerate())


_threads_before: set[threading.Thread] = set()


def batcher_threads(name: str) -> list[str]:
    """The batcher threads of ``name`` started during this test and still running."""
    return sorted(
        t.name for t in threading.enumerate() if t.name.startswith(f"batcher-{name}-") and t not in _threads_before
    )


def summary(manager: ModelManager, name: str) -> list[tuple[int | None, str, str]]:
    return [(s.version, s.state, s.reason) for s in manager.versions(name)]


@pytest.mark.parametrize("reload", [False, True], ids=["first load", "reload"])
def test_an_unload_sent_during_a_load_leaves_the_model_unloaded(held, reload):
    manager, loads = held
    if reload:
        manager.load("classifier")
        old = manager.get("classifier")
    loading = held_load(manager, loads, "classifier")
    manager.unload("classifier")  # at once: it does not wait for the load
    if reload:
        assert status(lambda: old.batcher.submit({"input": BATCH}))[0] == grpc.StatusCode.UNAVAILABLE
    loads.go.set()
    assert loading.outcome() is None
    assert summary(manager, "classifier") == [(None, UNAVAILABLE, "unloaded")]
    assert status(lambda: manager.get("classifier")) == (
        grpc.StatusCode.UNAVAILABLE,
        "model 'classifier' is not ready (UNAVAILABLE: unloaded)",
    )
    assert batcher_threads("classifier") == []  # the load's versions were retired, not left running


def test_a_load_sent_after_an_unload_wins_over_it(held):
    manager, loads = held
    first = held_load(manager, loads, "classifier")
    manager.unload("classifier")
    last = Call(manager.load, "classifier")  # waits its turn behind the first load
    last.start()
    loads.go.set()
    assert first.outcome() is None and last.outcome() is None
    assert summary(manager, "classifier") == [(1, READY, "")]
    np.testing.assert_array_equal(infer(manager, "classifier"), classifier_logits(BATCH))
    assert batcher_threads("classifier") == ["batcher-classifier-1-0"]


def test_a_load_sent_during_a_load_runs_after_it_and_reads_the_repository_then(held, repository):
    manager, loads = held
    first = held_load(manager, loads, "versioned")
    write_classifier(repository / "versioned", version=3, seed=3)
    second = Call(manager.load, "versioned")
    second.start()
    loads.go.set()
    assert first.outcome() is None and second.outcome() is None
    assert loads.most_at_once == 1
    assert summary(manager, "versioned") == [(3, READY, "")]
    np.testing.assert_array_equal(infer(manager, "versioned"), classifier_logits(BATCH, seed=3))
    assert batcher_threads("versioned") == ["batcher-versioned-3-0"]


def test_a_load_racing_close_leaves_no_batcher_thread(held):
    manager, loads = held
    loading = held_load(manager, loads, "classifier")
    manager.close()
    loads.go.set()
    error = loading.outcome()
    assert isinstance(error, ValueError) and str(error) == "the server is shutting down"
    assert batcher_threads("classifier") == []
    assert summary(manager, "classifier") == [(None, UNAVAILABLE, "server shutting down")]
    with pytest.raises(ValueError, match="^the server is shutting down$"):
        manager.load("classifier")
    assert batcher_threads("classifier") == []


def test_a_load_that_raises_an_unexpected_exception_leaves_no_thread_or_session(repository):
    write_classifier(repository / "multi", version=2, seed=2)
    all_versions = classifier_config("multi", extra="version_policy: { all { } }")
    write_classifier(repository / "multi", version=1, config=all_versions)
    sessions: list[weakref.ref] = []

    def exploding_load(source, version, options):
        model = load(source, version, options)  # a real session, then a failure no one expected
        if version == 2:
            sessions.append(weakref.ref(model.session))
            raise RuntimeError("the session factory exploded")
        return model

    manager = ModelManager(repository, OPTIONS, Statistics(), load_model=exploding_load)
    threads_before = set(threading.enumerate())
    try:
        with pytest.raises(ValueError, match="^version 2: RuntimeError: the session factory exploded$"):
            manager.load("multi")
        assert summary(manager, "multi") == [
            (1, READY, ""),
            (2, UNAVAILABLE, "RuntimeError: the session factory exploded"),
        ]
        assert sorted(t.name for t in set(threading.enumerate()) - threads_before) == ["batcher-multi-1-0"]
        gc.collect()
        assert sessions[0]() is None  # the failed version's ONNX Runtime session is gone
        np.testing.assert_array_equal(infer(manager, "multi", "1"), classifier_logits(BATCH))
        code, message = status(lambda: manager.get("multi", "2"))
        assert code == grpc.StatusCode.UNAVAILABLE
        assert (
            message == "model 'multi' version 2 is not ready (UNAVAILABLE: RuntimeError: the session factory exploded)"
        )
    finally:
        manager.close()
    assert batcher_threads("multi") == []


def test_names_not_in_the_repository_leave_nothing_in_memory(repository):
    manager = ModelManager(repository, OPTIONS, Statistics())

    def ask_for(names: list[str]) -> None:
        for name in names:
            for call in (manager.load, manager.unload, manager.get):
                with pytest.raises((LookupError, ServingError)):
                    call(name)

    ask_for([f"warm-up-{i}" for i in range(10)])  # first-call allocations (caches, code) are not per name
    names = [f"nope-{i}" for i in range(1000)]
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        ask_for(names)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    only_manager = [tracemalloc.Filter(True, manager_module.__file__)]
    kept = sum(
        d.size_diff
        for d in after.filter_traces(only_manager).compare_to(before.filter_traces(only_manager), "filename")
    )
    assert kept < 10_000, f"the manager kept {kept} bytes for 1000 unknown names"
    assert manager.names() == []


class HeldRuns:
    """A ``load_model`` whose models' runs wait until the test sets ``go``; ``running`` tells
    that one waits; ``timed_out`` that the test never set ``go``."""

    def __init__(self):
        self.running = threading.Event()
        self.go = threading.Event()
        self.timed_out = False

    def __call__(self, source, version, options):
        model = load(source, version, options)
        run = model.run

        def held_run(feeds, names):
            self.running.set()
            self.timed_out |= not self.go.wait(RESULT_S)
            return run(feeds, names)

        model.run = held_run
        return model


def test_an_unload_during_inference_lets_queued_requests_finish_and_refuses_new_ones(repository):
    runs = HeldRuns()
    seen = {}

    def changed(name: str, ready: bool) -> None:
        if ready:
            return
        # The unload took effect: new requests are refused while the queued ones wait.
        seen["lookup"] = status(lambda: manager.get("classifier"))
        seen["submit"] = status(lambda: served.batcher.submit({"input": BATCH}))
        seen["unknown"] = status(lambda: manager.get("nope"))[0]
        runs.go.set()

    manager = ModelManager(repository, OPTIONS, Statistics(), on_change=changed, load_model=runs)
    try:
        manager.load("classifier")
        served = manager.get("classifier")
        other = BATCH[::-1].copy()
        running = served.batcher.submit({"input": BATCH})
        assert runs.running.wait(RESULT_S)
        queued = served.batcher.submit({"input": other})  # the only run slot is busy: it waits
        manager.unload("classifier")  # returns once the queue has drained
        assert not runs.timed_out
        np.testing.assert_array_equal(running.result(RESULT_S)["logits"], classifier_logits(BATCH))
        np.testing.assert_array_equal(queued.result(RESULT_S)["logits"], classifier_logits(other))
        assert seen == {
            "lookup": (grpc.StatusCode.UNAVAILABLE, "model 'classifier' is not ready (UNAVAILABLE: unloaded)"),
            "submit": (grpc.StatusCode.UNAVAILABLE, "model 'classifier' version 1 is unloading"),
            "unknown": grpc.StatusCode.NOT_FOUND,
        }
        assert batcher_threads("classifier") == []
    finally:
        runs.go.set()
        manager.close()
