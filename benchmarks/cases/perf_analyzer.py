"""Case ``perf_analyzer``: Triton's own load generator against ``convzoo serve``, tiny model and a large batch.

perf_analyzer (``benchmarks.perf_analyzer_tool``, in its own venv) reads the model's metadata
and configuration, sends batch-1 requests at 1 and 8 concurrent requests over gRPC and HTTP,
and reads the server's own breakdown from the statistics extension: overhead (the request's
time in the server minus queue and compute), queue and compute. The rows run in a rotating
order round by round; the case prints client p50/p99 beside that breakdown (medians over
rounds), and one figure per row: the server's overhead against a budget of 100 µs, the target
for gRPC with one request at a time.

With ``--shared-memory system`` the tensors travel through ``/dev/shm``; those rows run when
the server lists the ``system_shared_memory`` extension (convzoo does), and are reported as not
run against a server that does not.

Two more rows send a batch of 64 images at 224 (38.5 MB) over gRPC, one request at a time,
without and with system shared memory, into a cheap model (global average pooling): the
figure is the client's p50 minus the server's compute, without shared memory over with it,
against a target of at least 5.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass

from benchmarks import peer_envs, peer_servers, perf_analyzer_tool
from benchmarks.context import Context
from benchmarks.measure import Figure, Target, rotate
from benchmarks.models import TINY, write_pooling
from benchmarks.registry import case

OVERHEAD_BUDGET = 100e-6  # seconds of server overhead per request: the target for gRPC, 1 at a time
SHARED_MEMORY = "system_shared_memory"
LARGE_BATCH = 64  # images at 224 per request: 64 * 3 * 224 * 224 * 4 bytes = 38.5 MB
POOLING = "pool224"  # the cheap model the large batch goes into
TRANSFER_TARGET = Target(5.0)  # (client p50 - compute) without shared memory / with it


@dataclass(frozen=True)
class Row:
    protocol: str  # grpc or http
    concurrency: int
    shared_memory: bool = False
    batch: int = 1  # batch 1 goes into the tiny model, a larger batch into the pooling model

    @property
    def model(self) -> str:
        return TINY.name if self.batch == 1 else POOLING

    @property
    def label(self) -> str:
        api = "gRPC" if self.protocol == "grpc" else "HTTP"
        memory = ", system shared memory" if self.shared_memory else ""
        return f"{api}, {self.model} batch {self.batch}, {self.concurrency} concurrent{memory}"

    @property
    def target(self) -> Target | None:
        wanted = self.protocol == "grpc" and self.concurrency == 1 and not self.shared_memory
        return Target(1.0, at_least=False) if wanted else None


ROWS = [Row(p, c, m) for m in (False, True) for p in ("grpc", "http") for c in (1, 8)]
LARGE_ROWS = [Row("grpc", 1, m, LARGE_BATCH) for m in (False, True)]  # copied through gRPC, then through /dev/shm


def _say(line: str) -> None:
    print(f"perf_analyzer: {line}", file=sys.stderr, flush=True)


@case("perf_analyzer", "Triton's perf_analyzer: client latency and the server's own breakdown", default=False)
def run(context: Context) -> list[Figure]:
    tool, note = perf_analyzer_tool.ensure(peer_envs.peers_dir(context.work_dir))
    if tool is None:
        _say(f"skipped: {note}")
        return []
    _say(note)
    repository = context.work_dir / "perf_analyzer_repository"
    context.models.serve_copy(TINY, repository, TINY.name, max_batch_size=8)
    write_pooling(repository, POOLING, input_size=224, max_batch_size=LARGE_BATCH)
    window_ms = max(200, int(2000 * context.seconds))
    http_port = peer_servers.free_port()
    with context.start_server(repository, "--http-port", str(http_port)) as server:
        urls = {"grpc": server.url, "http": f"127.0.0.1:{http_port}"}
        offered = _extensions(server.url)
        rows = [row for row in ROWS + LARGE_ROWS if not row.shared_memory or SHARED_MEMORY in offered]

        def measure(row: Row, window: int = window_ms) -> dict:
            measured = tool.measure(
                urls[row.protocol],
                row.protocol,
                row.model,
                row.concurrency,
                window,
                shared_memory=row.shared_memory,
                batch=row.batch,
                window_requests=None if row.batch == 1 else max(10, int(40 * context.seconds)),
            )
            return {**measured, "transfer": measured["p50"] - measured["compute"]}

        for row in rows:  # warm-up
            measure(row, 200)  # the large batch counts requests per window instead
        taken = rotate({row: (lambda row=row: measure(row)) for row in rows}, context.rounds)
    print(breakdown(ROWS + LARGE_ROWS, taken))
    return _overhead_figures(rows, taken) + _transfer_figures(taken)


def _overhead_figures(rows: list[Row], taken: dict) -> list[Figure]:
    budget = {"overhead": OVERHEAD_BUDGET}
    return [
        Figure(
            "perf_analyzer",
            f"{row.label}: server overhead / 100 µs",
            "convzoo",
            "budget",
            "overhead",
            [(measured, budget) for measured in taken[row]],
            row.target,
        )
        for row in rows
        if row in ROWS
    ]


def _transfer_figures(taken: dict) -> list[Figure]:
    """(client p50 - server compute) without shared memory / with it, for the large batch; none
    when the server does not offer shared memory."""
    copied, shared = LARGE_ROWS
    if shared not in taken:
        return []
    return [
        Figure(
            "perf_analyzer",
            f"gRPC, {POOLING} batch {LARGE_BATCH} (38.5 MB), 1 concurrent: client p50 - server compute,"
            " without / with system shared memory",
            "without shared memory",
            "system shared memory",
            "transfer",
            list(zip(taken[copied], taken[shared], strict=True)),
            TRANSFER_TARGET,
        )
    ]


def _extensions(url: str) -> set[str]:
    import tritonclient.grpc as triton

    with triton.InferenceServerClient(url) as client:
        return set(client.get_server_metadata().extensions)


def breakdown(rows: list[Row], taken: dict) -> str:
    """A Markdown table: per row, medians over rounds of the client's and the server's figures."""
    lines = [
        "| perf_analyzer row | infer/s | client p50 | client p99 | server request | overhead | queue | compute |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if row not in taken:
            reason = f"not run: the server does not offer {SHARED_MEMORY} (TODO: not implemented yet)"
            lines.append(f"| {row.label} | {reason} | | | | | | |")
            continue

        def median(key: str) -> float:
            return statistics.median(m[key] for m in taken[row])

        times = " | ".join(
            f"{median(k) * 1e6:.0f} µs" for k in ("p50", "p99", "request", "overhead", "queue", "compute")
        )
        lines.append(f"| {row.label} | {median('items_per_s'):.0f} | {times} |")
    return "\n".join(lines) + "\n"
