"""How sessions are set up for serving: thread defaults, no spinning, IOBinding runs (the CUDA
path's binding logic, exercised on the CPU), and server threads named for the operating system."""

from __future__ import annotations

import ctypes
import dataclasses
import http.client
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from server_repository import CLASSES, IMAGE, classifier_logits, write_classifier

from convzoo.base.device import DeviceRequest
from convzoo.server import binding, threads
from convzoo.server.http.listener import HttpServer
from convzoo.server.model import LoadOptions, load
from convzoo.server.repository import read_model


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    write_classifier(root / "classifier")
    return load(read_model(root, "classifier"), 1, LoadOptions(device=DeviceRequest("cpu")))


def test_usable_cpus_respects_affinity_and_quota(tmp_path, monkeypatch):
    assert 1 <= threads.usable_cpus() <= len(os.sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")
    monkeypatch.setattr(threads, "CGROUP_CPU_MAX", quota)
    assert threads.usable_cpus() == min(2, len(os.sched_getaffinity(0)))
    quota.write_text("max 100000\n")
    assert threads.usable_cpus() == len(os.sched_getaffinity(0))


def test_serving_sessions_do_not_spin_and_default_to_usable_cpus():
    options = threads.session_options()
    assert options.intra_op_num_threads == threads.usable_cpus()
    assert options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert threads.session_options(3).intra_op_num_threads == 3


def test_bound_run_matches_a_plain_run_on_cpu(model):
    batch = np.random.default_rng(0).integers(0, 4, (5, 3, IMAGE, IMAGE)).astype(np.float32)
    bound = binding.run(model.session, {"input": batch}, ["logits"], "cpu")
    assert bound["logits"].shape == (5, CLASSES)
    np.testing.assert_array_equal(bound["logits"], classifier_logits(batch))
    plain = model.session.run(["logits"], {"input": batch})[0]
    np.testing.assert_array_equal(bound["logits"], plain)


def test_binding_is_used_on_cuda_for_numeric_inputs_only():
    numbers, text = {"x": np.zeros(2, np.float32)}, {"x": np.array(["a"], dtype=object)}
    assert binding.uses_binding("cuda:1", numbers)
    assert not binding.uses_binding("cuda:0", text)
    assert not binding.uses_binding("cpu", numbers)


def test_a_cuda_model_runs_through_the_binding_on_its_device(model, monkeypatch):
    calls, original = [], binding.run

    def bound(session, feeds, output_names, device):
        calls.append(device)
        return original(session, feeds, output_names, "cpu")  # this machine's session is a CPU one

    monkeypatch.setattr(binding, "run", bound)
    batch = np.ones((2, 3, IMAGE, IMAGE), np.float32)
    on_cuda = dataclasses.replace(model, device="cuda:1")
    np.testing.assert_array_equal(on_cuda.run({"input": batch}, ["logits"])["logits"], classifier_logits(batch))
    assert calls == ["cuda:1"]
    model.run({"input": batch}, ["logits"])
    assert calls == ["cuda:1"]


def test_memory_release_trims_the_heap_where_glibc_offers_it():
    from convzoo.server import memory

    memory.release()
    assert (memory._malloc_trim() is not None) == (
        sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "malloc_trim")
    )


def os_thread_names() -> list[str]:
    """The names Linux shows for this process's live threads (``/proc/self/task/*/comm``)."""
    return [(task / "comm").read_text().strip() for task in Path("/proc/self/task").iterdir()]


@pytest.mark.skipif(sys.platform != "linux", reason="thread names are read from Linux /proc")
def test_server_threads_carry_their_names_to_the_os(dataplane):
    named = []

    def own_name() -> None:
        threads.name_os_thread()
        named.append(Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip())

    worker = threading.Thread(target=own_name, name="a-thread-with-a-long-name")
    worker.start()
    worker.join()
    assert named == ["a-thread-with-a"]  # Linux keeps 15 bytes
    assert "batcher-classif" in os_thread_names()  # batcher-classifier-1-0, cut to 15 bytes
    server = HttpServer(dataplane, "127.0.0.1", 0, max_body_bytes=1 << 20)
    server.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/v2/health/live")  # answered on the loop: its thread has named itself
        assert connection.getresponse().status == 200
        connection.close()
        assert server.pool.submit(threading.get_native_id).result(10) != threading.get_native_id()
        assert {"rest", "rest-work_0"} <= set(os_thread_names())
    finally:
        server.stop(1)
