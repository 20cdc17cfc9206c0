"""A second ``convzoo serve`` on a port the first one holds refuses with one line and exit code 1,
for every port a server opens (gRPC, HTTP/REST, metrics), instead of sharing it (gRPC's SO_REUSEPORT)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from server_repository import IMAGE, classifier_logits, run_serve

from convzoo.client.inference import InferenceClient


def second_server(repository, *ports: str) -> subprocess.CompletedProcess:
    return run_serve(repository, "--no-warm-up", *ports)


@pytest.mark.parametrize("port", ["grpc", "http", "metrics"])
def test_a_second_server_on_a_busy_port_refuses(repository_server, served_repository, port):
    first = repository_server
    ports = {"grpc": ("--port", "0"), "http": ("--http-port", "0"), "metrics": ("--metrics-port", "0")}
    busy = {"grpc": first.port, "http": first.http_port, "metrics": first.metrics_port}[port]
    ports[port] = (ports[port][0], str(busy))
    run = second_server(served_repository, *(arg for pair in ports.values() for arg in pair))
    expected = {
        "grpc": f"cannot bind gRPC to 127.0.0.1:{busy} (address in use?)",
        "http": f"cannot bind HTTP to 127.0.0.1:{busy} (Address already in use)",
        "metrics": f"cannot bind metrics to 127.0.0.1:{busy} (Address already in use)",
    }[port]
    expected = f"convzoo serve: error: {expected}"
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    assert lines[-1] == expected, run.stderr
    assert "Traceback" not in run.stderr and sum("error:" in line for line in lines) == 1, run.stderr
    assert not any("server ready" in line for line in lines)
    # The first server still answers every request itself.
    batch = np.ones((1, 3, IMAGE, IMAGE), np.float32)
    with InferenceClient(first.url) as client:
        for _ in range(8):
            np.testing.assert_array_equal(client.infer("classifier", batch), classifier_logits(batch))
    assert first.process.poll() is None
