"""The batcher on a real ONNX Runtime session: requests whose waiters run the model themselves
(``lead=True``, gRPC ModelInfer) and requests run by batcher threads (``lead=False``: streams,
REST, evaluation) mix freely; every request gets exactly its own rows; a cancelled request
never strands the ones behind it; a drain runs what is queued even if no one waits for it."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import CancelledError, wait

import numpy as np
import pytest
from server_repository import IMAGE, classifier_logits, write_classifier

from convzoo.base.device import DeviceRequest
from convzoo.base.errors import ServingError
from convzoo.server.batcher import Batcher
from convzoo.server.model import LoadOptions, load
from convzoo.server.repository import read_model
from convzoo.server.statistics import Statistics


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    write_classifier(root / "classifier")  # max_batch_size 8
    return load(read_model(root, "classifier"), 1, LoadOptions(device=DeviceRequest("cpu"), intra_op_threads=1))


def images(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-2, 3, (rows, 3, IMAGE, IMAGE)).astype(np.float32)


def holding(model):
    """A copy of ``model`` whose runs set ``running``, then wait for ``go``: (copy, running, go)."""
    running, go = threading.Event(), threading.Event()
    held = dataclasses.replace(model)

    def held_run(feeds, names):
        running.set()
        assert go.wait(60), "the test never let the run finish"
        return model.run(feeds, names)

    held.run = held_run
    return held, running, go


@pytest.mark.parametrize("workers", [1, 2])
def test_leading_and_queued_requests_each_get_their_own_rows(model, workers):
    batcher = Batcher(model, Statistics(), max_queue_size=1024, max_queue_delay_ns=0, workers=workers)
    failures: list[str] = []

    def client(index: int) -> None:
        for step in range(25):
            seed = index * 1000 + step
            batch = images(1 + seed % 4, seed)
            result = batcher.submit({"input": batch}, lead=(index + step) % 3 != 0).result(timeout=60)
            if not np.array_equal(result["logits"], classifier_logits(batch)):
                failures.append(f"client {index} step {step}: wrong rows")

    threads = [threading.Thread(target=client, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close(timeout=30)
    assert failures == []


def test_a_cancelled_request_leaves_the_queue_and_the_rest_still_run(model):
    batcher = Batcher(model, Statistics(), max_queue_size=16, max_queue_delay_ns=0)
    batches = [images(2, seed) for seed in range(4)]
    futures = [batcher.submit({"input": batch}, lead=True) for batch in batches]
    assert futures[0].cancel()
    assert futures[2].cancel()
    for index in (3, 1):  # the youngest first: its waiter runs the group of the older ones too
        assert np.array_equal(futures[index].result(timeout=60)["logits"], classifier_logits(batches[index]))
    with pytest.raises(CancelledError):
        futures[0].result()
    batcher.close(timeout=30)


def test_a_drain_runs_queued_leading_requests_no_one_waits_for(model):
    batcher = Batcher(model, Statistics(), max_queue_size=16, max_queue_delay_ns=0)
    batches = [images(1, seed) for seed in range(5)]
    futures = [batcher.submit({"input": batch}, lead=True) for batch in batches]
    batcher.close(timeout=60)
    for future, batch in zip(futures, batches):
        assert future.done()
        assert np.array_equal(future.result()["logits"], classifier_logits(batch))


def test_a_waiter_that_times_out_raises_and_a_batcher_thread_runs_its_request(model):
    held, running, go = holding(model)
    batcher = Batcher(held, Statistics(), max_queue_size=16, max_queue_delay_ns=0)
    first, second = images(1, 0), images(2, 1)
    try:
        running_future = batcher.submit({"input": first})  # a batcher thread runs it and holds the only slot
        assert running.wait(60)
        waiting = batcher.submit({"input": second}, lead=True)
        outcome, answered = {}, threading.Event()

        def wait_briefly() -> None:
            try:
                waiting.result(timeout=0.01)
            except TimeoutError as exc:
                outcome["error"] = exc
            finally:
                answered.set()

        threading.Thread(target=wait_briefly, daemon=True).start()
        assert answered.wait(60), "result(timeout) waited on while the run slot stayed busy"
        assert isinstance(outcome.get("error"), TimeoutError)
        assert not waiting.done()  # still queued: a timeout does not cancel, as with any Future
    finally:
        go.set()
    assert np.array_equal(running_future.result(timeout=60)["logits"], classifier_logits(first))
    done, _ = wait([waiting], timeout=60)  # no one waits in result() now: a batcher thread must run it
    assert done == {waiting}
    assert np.array_equal(waiting.result()["logits"], classifier_logits(second))
    batcher.close(timeout=30)


def pending_requests(statistics: Statistics) -> float:
    """The queue gauge as Prometheus reads it (``nv_inference_pending_request_count``)."""
    families = {family.name: family for family in statistics.collect()}
    return sum(sample.value for sample in families["nv_inference_pending_request_count"].samples)


def test_a_lone_leading_request_runs_in_its_waiter_without_queueing(model):
    ran_in: list[threading.Thread] = []
    recording = dataclasses.replace(model)

    def recorded_run(feeds, names):
        ran_in.append(threading.current_thread())
        return model.run(feeds, names)

    recording.run = recorded_run
    statistics = Statistics()
    batcher = Batcher(recording, statistics, max_queue_size=16, max_queue_delay_ns=0)
    batch = images(3, 0)
    future = batcher.submit({"input": batch}, lead=True)
    assert pending_requests(statistics) == 0  # it holds the free run slot, not a place in the queue
    assert np.array_equal(future.result(timeout=60)["logits"], classifier_logits(batch))
    assert ran_in == [threading.current_thread()]
    stats = statistics.snapshot("classifier", "1", [])[0].inference_stats
    # its queue time is counted once; requests are counted by the data plane, not here
    assert (stats.queue.count, stats.success.count) == (1, 0)
    batcher.close(timeout=30)


def test_a_lone_leading_request_cancelled_before_its_wait_frees_the_run_slot(model):
    batcher = Batcher(model, Statistics(), max_queue_size=16, max_queue_delay_ns=0)
    claimed = batcher.submit({"input": images(1, 0)}, lead=True)  # took the only slot
    assert claimed.cancel()
    batch = images(2, 1)
    behind = batcher.submit({"input": batch})  # a batcher thread runs it once the slot is free
    assert np.array_equal(behind.result(timeout=60)["logits"], classifier_logits(batch))
    with pytest.raises(CancelledError):
        claimed.result()
    batcher.close(timeout=30)


def test_cancelling_twice_gives_the_slot_back_once(model):
    statistics = Statistics()
    batcher = Batcher(model, statistics, max_queue_size=16, max_queue_delay_ns=0)
    claimed = batcher.submit({"input": images(1, 0)}, lead=True)
    assert claimed.cancel() and claimed.cancel()
    first, second = images(1, 1), images(2, 2)
    running = batcher.submit({"input": first}, lead=True)  # takes the one slot
    behind = batcher.submit({"input": second}, lead=True)  # no slot is left: it queues
    assert pending_requests(statistics) == 1
    assert np.array_equal(running.result(timeout=60)["logits"], classifier_logits(first))
    assert np.array_equal(behind.result(timeout=60)["logits"], classifier_logits(second))
    batcher.close(timeout=30)


def test_the_waiter_of_a_lone_request_a_drain_runs_waits_for_the_drain(model):
    held, running, go = holding(model)
    batcher = Batcher(held, Statistics(), max_queue_size=16, max_queue_delay_ns=0)
    batch = images(2, 0)
    claimed = batcher.submit({"input": batch}, lead=True)  # took the free slot; no one waits yet
    closing = threading.Thread(target=batcher.close, kwargs={"timeout": 60})
    closing.start()  # the drain runs it in a batcher thread
    try:
        assert running.wait(60)
        with pytest.raises(TimeoutError):
            claimed.result(timeout=0.01)  # the drain runs it: its waiter waits, here briefly
        assert not claimed.done() and not claimed.cancel()
    finally:
        go.set()
    assert np.array_equal(claimed.result(timeout=60)["logits"], classifier_logits(batch))
    closing.join(60)
    assert not closing.is_alive()


def test_a_lone_request_whose_run_fails_raises_in_its_waiter_and_frees_the_slot(model):
    runs: list[int] = []
    failing_once = dataclasses.replace(model)

    def run(feeds, names):
        runs.append(len(feeds["input"]))
        if len(runs) == 1:
            raise RuntimeError("injected fault")
        return model.run(feeds, names)

    failing_once.run = run
    batcher = Batcher(failing_once, Statistics(), max_queue_size=16, max_queue_delay_ns=0)
    claimed = batcher.submit({"input": images(1, 0)}, lead=True)
    with pytest.raises(ServingError, match="failed to run: injected fault"):
        claimed.result()
    assert claimed.done()
    batch = images(2, 1)  # the slot is free again: the next lone request takes it and runs
    assert np.array_equal(batcher.submit({"input": batch}, lead=True).result()["logits"], classifier_logits(batch))
    assert runs == [1, 2]
    batcher.close(timeout=30)
