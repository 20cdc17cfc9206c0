"""``InferenceClient(url, shared_memory=True)`` against a real ``convzoo serve``: tensors go
through /dev/shm, and the client falls back with one line when the server is not on this
machine or cannot map its shared memory (a server in its own mount namespace, as in a container)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import grpc
import numpy as np
import pytest
import server_repository
from evalsupport import Item, convzoo, draw
from server_repository import IMAGE, classifier_logits, start_server

from convzoo.client.inference import InferenceClient
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc

PREFIX = f"convzoo_{os.getpid()}_"


def batch(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-4, 5, size=(rows, 3, IMAGE, IMAGE)).astype(np.float32)


def our_regions(url: str) -> list[str]:
    with grpc.insecure_channel(url) as channel:
        status = pb_grpc.GRPCInferenceServiceStub(channel).SystemSharedMemoryStatus(
            pb.SystemSharedMemoryStatusRequest()
        )
    return sorted(region.key for region in status.regions.values() if region.key.startswith("/" + PREFIX))


def our_objects() -> list[str]:
    return sorted(name for name in os.listdir("/dev/shm") if name.startswith(PREFIX))


def test_tensors_go_through_shared_memory_and_are_removed_on_close(repository_server):
    fallbacks: list[str] = []
    with InferenceClient(repository_server.url, shared_memory=True, on_fallback=fallbacks.append) as client:
        np.testing.assert_allclose(
            client.infer("classifier", batch(2)), classifier_logits(batch(2)), rtol=1e-5, atol=1e-5
        )
        (key,) = our_regions(repository_server.url)  # one slot, registered with the server
        assert our_objects() == [key[1:]]
        a, b = np.arange(8, dtype=np.int32).reshape(2, 4), np.full((2, 4), 3, np.int32)
        summed = client.infer_tensors("int_add", {"INPUT0": a, "INPUT1": b})
        np.testing.assert_array_equal(summed["OUTPUT0"], a + b)
        np.testing.assert_array_equal(summed["OUTPUT1"], a - b)
        big = batch(8, seed=1)  # larger than the first slot: it is replaced by a larger one
        np.testing.assert_allclose(client.infer("classifier", big), classifier_logits(big), rtol=1e-5, atol=1e-5)
        (top,) = client.infer_tensors("classifier", {"input": batch(1)}, classification_k=2).values()
        assert top.shape == (1, 2)  # top-k strings come back in the message
        assert len(our_regions(repository_server.url)) == 1
    assert our_regions(repository_server.url) == [] and our_objects() == []
    assert fallbacks == []


def test_a_server_elsewhere_means_tensors_in_the_request_and_one_line():
    fallbacks: list[str] = []
    InferenceClient("192.0.2.1:8001", shared_memory=True, on_fallback=fallbacks.append).close()
    assert fallbacks == [
        "shared memory needs the server on this machine; 192.0.2.1:8001 is not, so tensors go in the request"
    ]


@pytest.fixture
def server_with_its_own_shm(served_repository, tmp_path):
    """``convzoo serve`` in its own mount namespace with an empty /dev/shm, as in a container."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("unshare -m is not available here (needs root or user namespaces)")
    wrapper = tmp_path / "convzoo"
    real = server_repository.VENV_BIN / "convzoo"
    wrapper.write_text(
        f'#!/bin/sh\nexec unshare -m sh -c \'mount -t tmpfs tmpfs /dev/shm && exec {real} "$@"\' sh "$@"\n'
    )
    wrapper.chmod(0o755)
    process = start_server(served_repository, serve=(str(wrapper), "serve"))
    yield process
    assert process.stop() == 0


def test_a_server_that_cannot_map_our_shared_memory_means_one_line(server_with_its_own_shm):
    fallbacks: list[str] = []
    with InferenceClient(server_with_its_own_shm.url, shared_memory=True, on_fallback=fallbacks.append) as client:
        np.testing.assert_allclose(
            client.infer("classifier", batch(2)), classifier_logits(batch(2)), rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(
            client.infer("classifier", batch(2)), classifier_logits(batch(2)), rtol=1e-5, atol=1e-5
        )
    (line,) = fallbacks
    assert line.startswith(f"the server cannot map this machine's shared memory (shared memory key '/{PREFIX}")
    assert line.endswith("; tensors go in the request") and our_objects() == []


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    draw(root, [Item(f"{i % 3}/{i}.jpeg", i % 3, i % 3) for i in range(6)])  # ImageNetV2 layout: classes 0-2
    return root


def _eval_flags(url: str, dataset) -> list:
    return ["--server", url, "--model", "classifier", "--plugins", "top1,top5", "--no-progress", "--data", dataset]


def test_eval_through_shared_memory_gives_the_reports_of_the_message(repository_server, dataset, tmp_path, capsys):
    flags = _eval_flags(repository_server.url, dataset)
    assert convzoo("eval", *flags, "--batch-size", "4", "--output", tmp_path / "message.json") == 0
    assert convzoo("eval", *flags, "--batch-size", "4", "--shared-memory", "--output", tmp_path / "shm.json") == 0
    message, shm = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("message", "shm"))
    assert message["count"] == shm["count"] == 6 and message["metrics"] == shm["metrics"]
    assert "note" not in capsys.readouterr().err and our_objects() == []


def test_eval_says_in_one_line_when_the_server_cannot_map_its_shared_memory(
    server_with_its_own_shm, dataset, tmp_path, capsys
):
    flags = _eval_flags(server_with_its_own_shm.url, dataset)
    assert convzoo("eval", *flags, "--shared-memory", "--output", tmp_path / "report.json") == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "note" in line]
    assert len(notes) == 1 and notes[0].startswith(
        "convzoo eval: note: the server cannot map this machine's shared memory"
    )
    assert json.loads((tmp_path / "report.json").read_text())["count"] == 6
