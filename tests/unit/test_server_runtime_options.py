"""How sessions are set up for serving: thread defaults, no spinning, and IOBinding runs
(the CUDA path's binding logic, exercised on the CPU)."""

from __future__ import annotations

import ctypes
import dataclasses
import os
import sys

import numpy as np
import pytest
from server_repository import CLASSES, IMAGE, classifier_logits, write_classifier

from convzoo.base.device import DeviceRequest
from convzoo.server import binding, threads
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
