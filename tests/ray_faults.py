"""Fault injection for the Ray tests, kept out of the product: a ``worker_process_setup_hook``.

A test connects to its cluster with ``runtime_env(marker)`` (``ray.init(address, runtime_env=...)``)
before running the job; every Ray worker then runs ``crash_inference_once`` at start-up, which wraps
``InferenceActor.__call__``: the first actor that finds ``marker`` absent on its second call creates
it and exits at once (as if killed), so the run must survive a lost worker.
"""

from __future__ import annotations

import os
from pathlib import Path

MARKER_ENV = "CONVZOO_TEST_RAY_CRASH_MARKER"


def runtime_env(marker: Path) -> dict:
    """The job's runtime_env: this module importable on the workers, the hook, and the marker's path."""
    return {
        "worker_process_setup_hook": f"{__name__}.crash_inference_once",
        "env_vars": {"PYTHONPATH": str(Path(__file__).parent), MARKER_ENV: str(marker)},
    }


def crash_inference_once() -> None:
    """Make this worker's inference actor exit on its second batch unless another already did."""
    from convzoo.plugins.ray_stages import InferenceActor

    marker = os.environ[MARKER_ENV]
    infer = InferenceActor.__call__
    calls = 0

    def crashing(self, batch: dict) -> dict:
        nonlocal calls
        calls += 1
        if calls >= 2:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                os._exit(1)
        return infer(self, batch)

    InferenceActor.__call__ = crashing
