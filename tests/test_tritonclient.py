"""``convzoo serve`` driven by tritonclient[grpc], unmodified. Each check of
tritonclient_checks.py runs in its own process (tritonclient's generated ``inference``
package clashes with convzoo's in one process)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

CHECKS_SCRIPT = Path(__file__).with_name("tritonclient_checks.py")
CHECKS = re.findall(r"^def check_(\w+)\(", CHECKS_SCRIPT.read_text(), flags=re.MULTILINE)


@pytest.fixture(scope="module")
def server(repository_server):
    return repository_server


@pytest.mark.parametrize("check", CHECKS)
def test_tritonclient(server, check):
    run = subprocess.run(
        [sys.executable, str(CHECKS_SCRIPT), server.url, check], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == f"ok {check}"
