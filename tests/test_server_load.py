"""A bounded load test: several client processes on 127.0.0.1 send requests for a fixed time
and stop by themselves. Under the queue limit nothing fails; p50/p99 latency is reported;
the server's RSS after the run stays within RSS_BOUND_MB of its RSS after warm-up.

``CONVZOO_LOAD_SECONDS`` sets the duration (default 8 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from server_repository import rss_mb, start_server, write_classifier

CLIENT = Path(__file__).with_name("load_client.py")
SECONDS = float(os.environ.get("CONVZOO_LOAD_SECONDS", "8"))
PROCESSES, THREADS = 3, 2
RSS_BOUND_MB = 64

pytestmark = pytest.mark.slow  # several client processes for SECONDS, plus start-up


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    write_classifier(root / "classifier")
    process = start_server(root, "--max-queue-size", "64")
    yield process
    assert process.stop() == 0


def run_clients(url: str, seconds: float) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(CLIENT.parent)}
    clients = [
        subprocess.Popen(
            [sys.executable, str(CLIENT), url, str(seconds), str(THREADS)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for client in clients:
        out, _ = client.communicate(timeout=seconds + 60)
        assert client.returncode == 0
        results.append(json.loads(out))
    return results


def test_load_without_failures_and_bounded_memory(server):
    run_clients(server.url, 1.0)  # warm-up: connections, buffers, every batch size
    warm = rss_mb(server.process.pid)
    results = run_clients(server.url, SECONDS)
    after = rss_mb(server.process.pid)
    latencies = np.concatenate([r["latencies_ms"] for r in results])
    failed = sum(r["failed"] for r in results)
    p50, p99 = np.percentile(latencies, [50, 99])
    print(
        f"\nload: {PROCESSES} processes x {THREADS} threads for {SECONDS:.0f} s: {len(latencies)} requests "
        f"({len(latencies) / SECONDS:.0f}/s), {failed} failed, p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
        f"RSS {warm:.0f} MB after warm-up, {after:.0f} MB after (bound +{RSS_BOUND_MB} MB)"
    )
    assert failed == 0, [e for r in results for e in r["errors"]]
    assert len(latencies) > 100 * SECONDS  # it was load, not a trickle
    assert after - warm < RSS_BOUND_MB
