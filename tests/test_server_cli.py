"""``convzoo serve`` as a process: device selection and its honesty, graceful drain on
SIGTERM, and ``convzoo infer`` printing top-k labels."""

from __future__ import annotations

import io
import signal
import subprocess
import threading
import time
import urllib.request

import grpc
import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from server_repository import IMAGE, VENV_BIN, classifier_config, classifier_logits, start_server, write_classifier

from convzoo.client.inference import InferenceClient, InferenceServerError
from convzoo.proto import model_config_pb2 as mc

SLOW_DELAY_US = 10_000_000  # long enough that a loaded machine still drains while the request waits


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    write_classifier(root / "classifier")
    write_classifier(
        root / "slow",
        config=classifier_config("slow", 4, f"dynamic_batching {{ max_queue_delay_microseconds: {SLOW_DELAY_US} }}\n"),
    )
    return root


@pytest.fixture(scope="module")
def server(repository):
    process = start_server(
        repository, "--device", "auto", "--max-queue-delay-us", "2000", "--preferred-batch-size", "2", "4", "64"
    )
    yield process
    assert process.stop() == 0


def png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.skipif("CUDAExecutionProvider" not in ort.get_available_providers(), reason="needs onnxruntime-gpu")
def test_strict_cuda_fails_the_load_with_the_reason(repository):
    process = start_server(repository, "--device", "cuda", "--strict-device")
    try:
        with InferenceClient(process.url) as client:
            assert client.live()
            states = {m.name: m for m in client.repository_index()}
            assert not client.model_ready("classifier")
            with pytest.raises(InferenceServerError) as error:
                client.infer("classifier", np.zeros((1, 3, IMAGE, IMAGE), np.float32))
    finally:
        assert process.stop() == 0
    reason = states["classifier"].reason
    assert states["classifier"].state == "UNAVAILABLE"
    assert "--device cuda:0 --strict-device" in reason and "fell back to CPUExecutionProvider" in reason
    assert error.value.code == grpc.StatusCode.UNAVAILABLE and "--strict-device" in error.value.message
    assert any("is UNAVAILABLE" in line and "--strict-device" in line for line in process.log)


def test_auto_serves_on_cpu_and_says_so(server):
    assert any("--device auto: serving on CPU" in line for line in server.log)
    assert any(
        "loaded model 'classifier' version 1 on cpu (providers: CPUExecutionProvider)" in line for line in server.log
    )
    with InferenceClient(server.url) as client:
        (group,) = client.model_config("classifier").instance_group
        assert group.kind == mc.ModelInstanceGroup.KIND_CPU and not group.gpus


def test_batching_flags_apply_to_models_whose_config_sets_none(server):
    with InferenceClient(server.url) as client:
        flags = client.model_config("classifier").dynamic_batching
        configured = client.model_config("slow").dynamic_batching
    assert (flags.max_queue_delay_microseconds, list(flags.preferred_batch_size)) == (2000, [2, 4])
    assert (configured.max_queue_delay_microseconds, list(configured.preferred_batch_size)) == (SLOW_DELAY_US, [])


def test_unknown_device_is_a_usage_error(repository):
    run = subprocess.run(
        [str(VENV_BIN / "convzoo"), "serve", "--repository", str(repository), "--device", "tpu"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert (
        run.stderr.strip().splitlines()[-1]
        == "convzoo serve: error: unknown device 'tpu'; expected auto, cpu, cuda or cuda:N"
    )


def test_infer_command_prints_top_k_labels(server, tmp_path):
    paths = []
    for index, color in enumerate([(250, 10, 10), (10, 10, 250)]):
        path = tmp_path / f"image{index}.png"
        path.write_bytes(png(color))
        paths.append(path)
    run = subprocess.run(
        [
            str(VENV_BIN / "convzoo"),
            "infer",
            "--server",
            server.url,
            "--model",
            "classifier",
            "--top-k",
            "3",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == str(paths[0]) and lines[4] == str(paths[1]) and len(lines) == 8
    with InferenceClient(server.url) as client:
        expected = client.infer_images("classifier", [p.read_bytes() for p in paths], top_k=3)
    for block, classes in zip((lines[1:4], lines[5:8]), expected):
        assert [line.split() for line in block] == [
            [str(rank), f"{c.score:.6f}", str(c.index), c.label] for rank, c in enumerate(classes, 1)
        ]


def test_infer_command_reports_server_errors_in_one_line(server, tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(png((0, 0, 0)))
    run = subprocess.run(
        [str(VENV_BIN / "convzoo"), "infer", "--server", server.url, "--model", "nope", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert (
        run.stderr.startswith("convzoo infer: error: NOT_FOUND: unknown model 'nope'") and run.stderr.count("\n") == 1
    )


def test_sigterm_drains_in_flight_requests_and_exits_0(repository):
    process = start_server(repository)
    batch = np.ones((1, 3, IMAGE, IMAGE), np.float32)
    outcome: dict = {}

    def in_flight() -> None:
        with InferenceClient(process.url) as client:
            outcome["logits"] = client.infer("slow", batch)  # waits SLOW_DELAY_US in the batching queue

    thread = threading.Thread(target=in_flight)
    thread.start()
    pending = 'nv_inference_pending_request_count{model="slow",version="1"} 1.0'
    deadline = time.monotonic() + 10
    while (
        pending
        not in urllib.request.urlopen(f"http://127.0.0.1:{process.metrics_port}/metrics", timeout=5).read().decode()
    ):
        assert time.monotonic() < deadline, "the request never reached the queue"
        time.sleep(0.05)
    process.process.send_signal(signal.SIGTERM)
    refused = False
    while thread.is_alive() and not refused:  # new connections are refused while the in-flight request waits
        try:
            with InferenceClient(process.url, timeout=1) as client:
                client.live()
        except InferenceServerError as error:
            # CANCELLED: a call that raced the shutdown; DEADLINE_EXCEEDED: a loaded machine, try again
            assert error.code in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.CANCELLED,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            )
            refused = error.code == grpc.StatusCode.UNAVAILABLE
    assert refused and thread.is_alive(), "new connections were still accepted while draining"
    thread.join(30)
    assert process.wait(30) == 0
    np.testing.assert_array_equal(outcome["logits"], classifier_logits(batch))
    assert any("draining" in line for line in process.log) and process.log[-1].endswith("stopped")
    with pytest.raises(InferenceServerError) as error:
        with InferenceClient(process.url, timeout=5) as client:
            client.live()
    assert error.value.code == grpc.StatusCode.UNAVAILABLE
