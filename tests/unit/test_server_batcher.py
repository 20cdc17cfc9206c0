"""The dynamic batcher in-process (no gRPC, no subprocess): merging, order, the queue limit,
cancellation, a failing run, closing. Every wait is on a future, none on the clock."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from server_repository import IMAGE, classifier_config, classifier_logits, write_classifier, write_scaler

from convzoo.base.device import DeviceRequest
from convzoo.base.errors import ServingError
from convzoo.server import batcher as batcher_module
from convzoo.server.batcher import Batcher
from convzoo.server.model import LoadOptions, load
from convzoo.server.repository import read_model
from convzoo.server.statistics import Statistics

LONG_NS = 600 * 10**9  # a queue delay no test waits out: batches form by rows, by closing, or not at all
RESULT_S = 60  # bound on waiting for a future a test expects to complete


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    write_classifier(root / "classifier", config=classifier_config("classifier", 8))
    write_scaler(root / "scaler")
    options = LoadOptions(device=DeviceRequest("cpu"), intra_op_threads=1, warm_up=False)
    return {name: load(read_model(root, name), 1, options) for name in ("classifier", "scaler")}


@pytest.fixture
def statistics():
    return Statistics()


def batcher(model, statistics, **settings) -> Batcher:
    settings = {"max_queue_size": 16, "max_queue_delay_ns": LONG_NS, **settings}
    return Batcher(model, statistics, **settings)


def rows(count: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"input": rng.integers(-4, 5, size=(count, 3, IMAGE, IMAGE)).astype(np.float32)}


def counters(statistics: Statistics, model) -> tuple[int, int, list[int]]:
    """(executions, inferences, batch sizes run) of the model."""
    (stats,) = statistics.snapshot(model.name, str(model.version))
    return stats.execution_count, stats.inference_count, [b.batch_size for b in stats.batch_stats]


def test_requests_merge_into_one_run_and_split_back_in_order(models, statistics):
    model = models["classifier"]
    queue = batcher(model, statistics, preferred_batch_sizes=(6,))
    requests = [rows(1, 0), rows(2, 1), rows(3, 2)]  # 6 rows: the preferred size, so no waiting
    futures = [queue.submit(request) for request in requests]
    for request, future in zip(requests, futures):
        np.testing.assert_array_equal(future.result(RESULT_S)["logits"], classifier_logits(request["input"]))
    assert counters(statistics, model) == (1, 6, [6])
    queue.close()


def test_a_merged_run_counts_each_request_s_queue_time_and_the_run_s_durations(models, statistics):
    model = models["classifier"]
    queue = batcher(model, statistics, preferred_batch_sizes=(6,))
    before = time.monotonic_ns()
    futures = [queue.submit(rows(count, seed)) for seed, count in enumerate((1, 2, 3))]
    for future in futures:
        future.result(RESULT_S)
    elapsed = time.monotonic_ns() - before
    (stats,) = statistics.snapshot(model.name, str(model.version))
    inference = stats.inference_stats
    assert inference.queue.count == 3 and 0 < inference.queue.ns <= 3 * elapsed
    for duration in (inference.compute_input, inference.compute_infer, inference.compute_output):
        assert duration.count == 3 and 0 <= duration.ns <= 3 * elapsed
    queue.close()


def test_a_batch_never_exceeds_the_maximum(models, statistics):
    model = models["classifier"]  # max_batch_size 8
    queue = batcher(model, statistics)
    requests = [rows(5, 3), rows(5, 4)]  # 10 rows: two runs of 5
    futures = [queue.submit(request) for request in requests]
    queue.close()  # closing runs what is queued without waiting out the delay
    for request, future in zip(requests, futures):
        np.testing.assert_array_equal(future.result(RESULT_S)["logits"], classifier_logits(request["input"]))
    assert counters(statistics, model) == (2, 10, [5])


def test_without_a_delay_a_lone_request_runs_at_once(models, statistics):
    model = models["classifier"]
    queue = batcher(model, statistics, max_queue_delay_ns=0)
    request = rows(1, 5)
    np.testing.assert_array_equal(queue.submit(request).result(RESULT_S)["logits"], classifier_logits(request["input"]))
    queue.close()


def test_a_full_queue_refuses_and_a_cancelled_request_frees_its_slot(models, statistics):
    model = models["classifier"]
    queue = batcher(model, statistics, max_queue_size=1)
    waiting = queue.submit(rows(1, 6))  # 1 of 8 rows: waits for more
    with pytest.raises(ServingError) as error:
        queue.submit(rows(1, 7))
    assert error.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "queue is full (1 requests waiting)" in error.value.message
    assert waiting.cancel()
    request = rows(1, 8)
    admitted = queue.submit(request)
    queue.close()
    np.testing.assert_array_equal(admitted.result(RESULT_S)["logits"], classifier_logits(request["input"]))
    assert counters(statistics, model) == (1, 1, [1])  # the cancelled request never ran


def test_a_closed_queue_refuses_new_requests(models, statistics):
    queue = batcher(models["classifier"], statistics)
    queue.close()
    with pytest.raises(ServingError) as error:
        queue.submit(rows(1, 9))
    assert error.value.code == grpc.StatusCode.UNAVAILABLE and "is unloading" in error.value.message


def test_a_failing_run_fails_its_requests_and_the_worker_goes_on(models, statistics):
    model = models["classifier"]
    queue = batcher(model, statistics, max_queue_delay_ns=0)
    wrong = {"input": np.zeros((1, 3, IMAGE + 1, IMAGE + 1), np.float32)}  # validation would refuse this
    with pytest.raises(ServingError) as error:
        queue.submit(wrong).result(RESULT_S)
    assert error.value.code == grpc.StatusCode.INTERNAL
    assert error.value.message.startswith("model 'classifier' version 1 failed to run: ")
    request = rows(2, 10)
    np.testing.assert_array_equal(queue.submit(request).result(RESULT_S)["logits"], classifier_logits(request["input"]))
    queue.close()


def test_requests_of_different_shapes_do_not_merge(models, statistics):
    model = models["classifier"]
    queue = batcher(model, statistics)
    good, odd = rows(1, 11), {"input": np.zeros((1, 3, IMAGE + 1, IMAGE + 1), np.float32)}
    futures = [queue.submit(good), queue.submit(odd)]
    queue.close()
    np.testing.assert_array_equal(futures[0].result(RESULT_S)["logits"], classifier_logits(good["input"]))
    with pytest.raises(ServingError):
        futures[1].result(RESULT_S)  # ran alone, and failed alone
    assert counters(statistics, model)[:2] == (1, 1)  # only the good one counts as an execution


def test_a_model_without_batching_runs_one_request_at_a_time(models, statistics):
    model = models["scaler"]  # max_batch_size 0: Y [2,3] = X * 2
    queue = batcher(model, statistics)
    inputs = [{"X": np.full((2, 3), float(i))} for i in range(3)]
    futures = [queue.submit(request) for request in inputs]
    for request, future in zip(inputs, futures):
        np.testing.assert_array_equal(future.result(RESULT_S)["Y"], request["X"] * 2)
    queue.close()
    assert counters(statistics, model)[:2] == (3, 3)


def test_a_worker_that_cannot_start_stops_the_others_and_the_error_is_raised(models, statistics, monkeypatch):
    started: list[threading.Thread] = []

    class ScarceThread(threading.Thread):
        """The second thread cannot start, as when the process has no threads left."""

        def start(self):
            if started:
                raise RuntimeError("can't start new thread")
            super().start()
            started.append(self)

    monkeypatch.setattr(batcher_module.threading, "Thread", ScarceThread)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        batcher(models["classifier"], statistics, workers=2)
    monkeypatch.undo()
    assert len(started) == 1 and not started[0].is_alive()  # the first worker was stopped and joined
