"""Triton's ``perf_analyzer``, from its own venv, and what it reports.

The C++ binary ships in the ``tritonclient`` 2.41.0 wheel (later wheels dropped it, and the
``perf-analyzer`` package on the index is an empty placeholder). Even on a CPU machine it needs
``libb64.so.0d`` (Debian's ``libb64-0d``) and ``libcudart.so.12`` (the
``nvidia-cuda-runtime-cu12`` wheel, put on ``LD_LIBRARY_PATH``). It is installed into a venv
of its own beside the peers' (``benchmarks.peer_envs``), never as convzoo's dependency.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks import venv_install

PACKAGES = ["tritonclient==2.41.0", "nvidia-cuda-runtime-cu12"]
VENV = "perf_analyzer"


@dataclass(frozen=True)
class PerfAnalyzer:
    binary: Path
    library_path: Path  # the folder holding libcudart.so.12

    @property
    def env(self) -> dict:
        paths = [str(self.library_path), os.environ.get("LD_LIBRARY_PATH", "")]
        return {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(p for p in paths if p)}

    def version(self) -> str:
        """``Perf Analyzer Version ...``; raises OSError naming the missing library when it cannot run."""
        done = subprocess.run([str(self.binary), "--version"], capture_output=True, text=True, env=self.env)
        output = (done.stdout + done.stderr).strip()
        if done.returncode != 0 or "Perf Analyzer" not in output:
            raise OSError(output.splitlines()[-1] if output else f"exit status {done.returncode}")
        return output.splitlines()[-1]

    def measure(
        self,
        url: str,
        protocol: str,
        model: str,
        concurrency: int,
        window_ms: int,
        *,
        shared_memory: bool = False,
        batch: int = 1,
        window_requests: int | None = None,
    ) -> dict:
        """One stable measurement at ``concurrency`` requests of ``batch`` (seconds): client ``p50``/``p99`` and
        ``items_per_s``; the server's ``request``, ``overhead``, ``queue`` and ``compute`` (input +
        infer + output) averages, read from the statistics extension. With ``window_requests`` a
        window holds that many requests rather than lasting ``window_ms`` (for slow requests).
        RuntimeError if it fails."""
        command = [
            str(self.binary),
            *("-m", model, "-u", url, "-i", protocol, "-b", str(batch)),
            *("--concurrency-range", str(concurrency)),
            *("--measurement-interval", str(window_ms), "--stability-percentage", "50", "--max-trials", "10"),
            *(["--shared-memory", "system"] if shared_memory else []),
            *(
                ["--measurement-mode", "count_windows", "--measurement-request-count", str(window_requests)]
                if window_requests
                else []
            ),
        ]
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=600)
        try:
            return parse(done.stdout)
        except ValueError:
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            raise RuntimeError(f"perf_analyzer failed (exit status {done.returncode}): {' / '.join(tail)}") from None


_CLIENT = {
    "items_per_s": r"Throughput: ([\d.]+) infer/sec",
    "p50": r"p50 latency: (\d+) usec",
    "p99": r"p99 latency: (\d+) usec",
}
_SERVER = re.compile(
    r"Avg request latency: (?P<request>\d+) usec \(overhead (?P<overhead>\d+) usec \+ queue (?P<queue>\d+) usec"
    r" \+ compute input (?P<input>\d+) usec \+ compute infer (?P<infer>\d+) usec"
    r" \+ compute output (?P<output>\d+) usec\)"
)


def parse(report: str) -> dict:
    """perf_analyzer's text report of one concurrency as numbers (times in seconds)."""
    found = {}
    for key, pattern in _CLIENT.items():
        match = re.search(pattern, report)
        if match is None:
            raise ValueError(f"no {key} in perf_analyzer's report")
        found[key] = float(match.group(1)) * (1 if key == "items_per_s" else 1e-6)
    server = _SERVER.search(report)
    if server is None:
        raise ValueError("no server-side breakdown in perf_analyzer's report")
    micros = {key: int(value) for key, value in server.groupdict().items()}
    compute = micros["input"] + micros["infer"] + micros["output"]
    found.update(
        request=micros["request"] * 1e-6,
        overhead=micros["overhead"] * 1e-6,
        queue=micros["queue"] * 1e-6,
        compute=compute * 1e-6,
    )
    return found


def ensure(root: Path) -> tuple[PerfAnalyzer | None, str]:
    """perf_analyzer from its venv under ``root`` (created and installed if missing), or None and why."""
    venv = root / VENV
    found = _find(venv)
    if found is None:
        failed = venv_install.install(venv, PACKAGES)
        if failed is not None:
            return None, failed
        found = _find(venv)
        if found is None:
            return None, f"installed {' '.join(PACKAGES)} into {venv}, but found no perf_analyzer or libcudart.so.12"
    try:
        return found, f"{found.version()} from {venv}"
    except OSError as exc:
        hint = " (apt-get install libb64-0d)" if "libb64" in str(exc) else ""
        return None, f"{found.binary} cannot run: {exc}{hint}"


def _find(venv: Path) -> PerfAnalyzer | None:
    binary = venv / "bin" / "perf_analyzer"
    libraries = sorted(venv.glob("lib/python3*/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12"))
    if not binary.is_file() or not libraries:
        return None
    return PerfAnalyzer(binary, libraries[0].parent)
