"""Case ``peers``: ``convzoo serve`` vs KServe 0.21 and MLServer 1.7 on the same ONNX files.

Every server serves the same file with the same ONNX Runtime threads (``benchmarks.peer_servers``)
and gets the same unmodified tritonclient load: one load-generator process per protocol and
client count (``benchmarks.load_generator``), measuring the servers in a rotating order
round by round. Each sample also reads what the server spent per request from ``/proc``
(``benchmarks.process_cost``: CPU time of its process and children, voluntary context
switches of every thread), steadier than throughput when the load generator shares the
cores. The peers live in their own venvs (``benchmarks.peer_envs``), never in convzoo's. The REST rows run when ``convzoo serve`` offers ``--http-port``; MLServer has no
binary REST extension, so REST is measured against KServe only.

Next to each tiny-model gRPC load's CPU row stands the floor under it: the CPU time of the
ONNX Runtime run alone, in this process with the same session options, per request at the
batch a server could at best form (1 row for 1 client, ``MAX_BATCH`` for more), against
KServe's whole request. No server running that session can spend less than the run, so a
CPU target below the floor's ratio cannot be met by serving code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import peer_envs, peer_servers
from benchmarks.context import Context
from benchmarks.measure import Figure, Target, percentile, rotate
from benchmarks.models import TINY
from benchmarks.process_cost import Usage
from benchmarks.registry import case

REPO = Path(__file__).resolve().parents[2]
CONVZOO, KSERVE, MLSERVER = "convzoo", "KServe", "MLServer"


@dataclass(frozen=True)
class Load:
    protocol: str  # grpc or http
    model: str  # tiny or resnet50
    clients: int
    seconds: float  # sample length in units of the run's --seconds
    targets: dict = field(default_factory=dict)  # measurement key -> Target against KServe

    @property
    def label(self) -> str:
        api = "gRPC" if self.protocol == "grpc" else "REST binary"
        return f"{api}, {self.model} batch 1, {self.clients} client{'s' * (self.clients > 1)}"


# CPU per request: the server's CPU time (its process and children, from /proc) / requests served.
LEAN = Target(0.6, at_least=False)
MAX_BATCH = 8  # every server's model config; convzoo batches concurrent requests up to it
LOADS = [
    Load("grpc", "tiny", 1, 2, {"items_per_s": Target(1.1), "p50": Target(0.9, at_least=False), "cpu": LEAN}),
    Load("grpc", "tiny", 16, 2, {"items_per_s": Target(1.25), "cpu": LEAN}),
    Load("grpc", "resnet50", 4, 8, {"items_per_s": Target(1.0), "p99": Target(1.1, at_least=False)}),
    Load("http", "tiny", 1, 2, {"items_per_s": Target(1.5)}),
    Load("http", "tiny", 16, 2, {"items_per_s": Target(1.5)}),
]


class LoadGenerator:
    """A ``benchmarks.load_generator`` process: ``clients`` tritonclient threads over ``protocol``."""

    def __init__(self, protocol: str, clients: int):
        command = [sys.executable, "-m", "benchmarks.load_generator", protocol, str(clients)]
        self.process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def measure(self, url: str, model: str, shape: list[int], seconds: float, server_pid: int) -> dict:
        """One sample: throughput, latencies, and what the server (``server_pid``) spent per request."""
        job = {"url": url, "model": model, "input": "input", "shape": shape, "seconds": seconds}
        before = Usage.of(server_pid)
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline() or '{"error": "the load generator exited"}')
        spent = Usage.of(server_pid) - before
        if "error" in answer:
            raise RuntimeError(answer["error"])
        latencies = answer["latencies"]
        return {
            "cpu": spent.cpu_seconds / answer["count"],
            "switches": spent.voluntary_switches / answer["count"],
            "all_switches": spent.context_switches / answer["count"],
            "items_per_s": shape[0] * answer["count"] / answer["wall"],
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "seconds": answer["wall"],
            "latencies": latencies,
        }

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(30)


def _say(line: str) -> None:
    print(f"peers: {line}", file=sys.stderr, flush=True)


def _has_rest() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "convzoo.cli.commands", "serve", "--help"], capture_output=True, text=True
    )
    return "--http-port" in done.stdout


@case("peers", "convzoo vs KServe 0.21 and MLServer 1.7, same ONNX file and tritonclient load", order=20, default=False)
def run(context: Context) -> list[Figure]:
    root = peer_envs.peers_dir(context.work_dir)
    _say(f"KServe and MLServer run from their own venvs under {root} (set ${peer_envs.PEERS_DIR_ENV} to move them)")
    pythons = {}
    for label, peer in ((KSERVE, peer_envs.KSERVE), (MLSERVER, peer_envs.MLSERVER)):
        python, note = peer_envs.ensure(peer, root)
        _say(note)
        if python is not None:
            pythons[label] = python
    if KSERVE not in pythons:
        _say("skipped: KServe, the reference of every target, cannot be installed")
        return []
    files = {"tiny": context.models.path(TINY), "resnet50": context.models.path("resnet50")}
    sizes = {"tiny": TINY.input_size, "resnet50": context.models.spec("resnet50").input_size}
    repository = context.work_dir / "peers_repository"
    for name in files:
        arch = TINY if name == "tiny" else "resnet50"
        context.models.serve_copy(arch, repository, name, max_batch_size=MAX_BATCH)
    rest = _has_rest()
    loads = LOADS if rest else [load for load in LOADS if load.protocol == "grpc"]
    if not rest:
        _say("REST rows skipped: this `convzoo serve` has no --http-port")
    figures: list[Figure] = []
    with ExitStack() as stack:
        http_port = peer_servers.free_port()
        convzoo = stack.enter_context(
            context.start_server(repository, *(["--http-port", str(http_port)] if rest else []))
        )
        urls = {CONVZOO: {"grpc": convzoo.url, "http": f"127.0.0.1:{http_port}"}}
        pids = {CONVZOO: convzoo.process.pid}
        starters = {KSERVE: peer_servers.kserve_server, MLSERVER: peer_servers.mlserver_server}
        for label, python in pythons.items():
            folder = context.work_dir / "peers_run" / label.lower()
            try:
                server = stack.enter_context(starters[label](python, files, context.threads, folder))
            except RuntimeError as exc:
                _say(f"{label} left out: {str(exc).splitlines()[0]}")
                continue
            urls[label] = {"grpc": server.grpc_url, "http": server.http_url}
            pids[label] = server.process.pid
        for load in loads:
            figures += _measure(context, load, urls, pids, sizes[load.model], files[load.model])
    return figures


def _measure(context: Context, load: Load, urls: dict, pids: dict, size: int, path: Path) -> list[Figure]:
    shape = [1, 3, size, size]
    servers = [s for s in urls if load.protocol == "grpc" or s != MLSERVER]
    generator = LoadGenerator(load.protocol, load.clients)
    try:
        for server in list(servers):  # warm-up, and drop a server that refuses this load
            try:
                generator.measure(urls[server][load.protocol], load.model, shape, 0.2, pids[server])
            except RuntimeError as exc:
                if server in (CONVZOO, KSERVE):
                    raise RuntimeError(f"{server} failed {load.label}: {exc}") from None
                _say(f"{server} left out of {load.label}: {exc}")
                servers.remove(server)
        seconds = load.seconds * context.seconds
        taken = rotate(
            {
                s: (lambda s=s: generator.measure(urls[s][load.protocol], load.model, shape, seconds, pids[s]))
                for s in servers
            },
            context.rounds,
        )
    finally:
        generator.close()
    figures = []
    for peer in (s for s in servers if s != CONVZOO):
        pairs = list(zip(taken[CONVZOO], taken[peer]))
        latency = "p50" if load.clients == 1 else "p99"
        keys = ["items_per_s", latency, "cpu", "switches"] if peer == KSERVE else ["items_per_s"]
        for key in keys:
            target = load.targets.get(key) if peer == KSERVE else None
            what = {
                "items_per_s": "throughput",
                "p50": "p50 latency",
                "p99": "p99 latency",
                "cpu": "server CPU per request",
                "switches": "server voluntary context switches per request",
            }[key]
            figures.append(Figure("peers", f"{load.label}: {what}", CONVZOO, peer, key, pairs, target))
    if load.protocol == "grpc" and load.model == "tiny" and KSERVE in taken:
        batch = min(load.clients, MAX_BATCH)
        floors = run_alone(path, context.threads, [batch, 3, size, size], len(taken[KSERVE]))
        pairs = list(zip(floors, taken[KSERVE]))
        name = f"{load.label}: ONNX Runtime run alone at batch {batch}, CPU per request (the floor)"
        figures.append(Figure("peers", name, "run alone", KSERVE, "cpu", pairs))
    return figures


def run_alone(path: Path, threads: int, shape: list[int], rounds: int, seconds: float = 0.5) -> list[dict]:
    """``rounds`` samples of the CPU time per request (row) of ``session.run`` alone, in this
    process, with the session options every server here uses; warm, so a lower bound."""
    import numpy as np
    import onnxruntime as ort

    from convzoo.server.threads import session_options

    session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    feeds = {session.get_inputs()[0].name: np.random.default_rng(0).random(shape, dtype=np.float32)}
    for _ in range(20):
        session.run(None, feeds)
    samples = []
    for _ in range(rounds):
        runs, cpu, wall = 0, time.process_time(), time.perf_counter()
        while time.perf_counter() - wall < seconds:
            session.run(None, feeds)
            runs += 1
        samples.append({"cpu": (time.process_time() - cpu) / (runs * shape[0])})
    return samples
