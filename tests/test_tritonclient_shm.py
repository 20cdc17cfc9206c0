"""``convzoo serve``'s system shared memory driven by tritonclient (gRPC and HTTP clients) and
``tritonclient.utils.shared_memory``, unmodified. Each check of tritonclient_shm_checks.py runs
in its own process (see test_tritonclient.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

CHECKS_SCRIPT = Path(__file__).with_name("tritonclient_shm_checks.py")
CHECKS = re.findall(r"^def check_(\w+)\(", CHECKS_SCRIPT.read_text(), flags=re.MULTILINE)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_tritonclient_shared_memory(repository_server, transport, check):
    url = repository_server.url if transport == "grpc" else repository_server.http_url
    run = subprocess.run(
        [sys.executable, str(CHECKS_SCRIPT), transport, url, check], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == f"ok {check}"
