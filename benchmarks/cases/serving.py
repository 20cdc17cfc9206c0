"""Case 2: ``convzoo serve`` + convzoo's client vs the same session in process (resnet50),
and where REST image requests spend the server's CPU.

The REST row sends JPEGs from 16 keep-alive clients (``benchmarks.rest_images``) to the tiny
model, top-3 classification asked for: decoding and preprocessing outweigh the model, so the
row shows whether that work spreads over the cores. It reads each server thread's CPU time from
``/proc`` (``process_cost.thread_cpu``) around every sample, prints it by thread name (the
server names its REST loop, REST pool and batcher threads; ONNX Runtime's pool threads carry the
name of the thread that loaded the model), and counts the threads that did at least a fifth of
the busiest one's work: the target is as many as the server's usable cores. Two counts: every
server thread (the model's run on the batcher and ONNX Runtime's threads count too), and the
threads that serve REST alone (the event loop and its pool, which decode the images): while the
event loop decoded every image itself, that second count could not pass 1.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import defaultdict

import numpy as np

from benchmarks import rest_images, rest_stack
from benchmarks.context import Context
from benchmarks.measure import Figure, Target, interleave, load
from benchmarks.models import TINY
from benchmarks.peer_servers import free_port
from benchmarks.process_cost import thread_cpu
from benchmarks.registry import case

# (batch, concurrency) -> throughput target; latency ratios are reported without one.
SETTINGS = {(1, 1): Target(0.85), (8, 1): Target(0.90), (1, 4): None, (8, 4): None}
REST_CLIENTS = 16
BUSY_SHARE = 0.2  # a thread is busy when it did at least this share of the busiest one's work
SAMPLE_SECONDS = 3  # one sample of the REST row, in units of the run's --seconds
REST_THREADS = "rest"  # the prefix of the REST loop's and REST pool's thread names (server/http/listener.py)


@case("serving", "served vs in-process (throughput, latency)", order=2)
def run(context: Context) -> list[Figure]:
    from convzoo.client.inference import InferenceClient

    (arch,) = context.archs("resnet50")
    spec = context.models.spec(arch)
    repository = context.work_dir / "serving"
    folder = context.models.serve_copy(arch, repository, spec.name, max_batch_size=64)
    model = context.load_model(folder)
    feed, output = model.inputs[0].name, model.outputs[0].name
    figures = []
    with context.start_server(repository) as server, InferenceClient(server.url) as client:
        for (batch, clients), target in SETTINGS.items():
            images = np.random.default_rng(0).standard_normal((batch, 3, spec.input_size, spec.input_size), np.float32)

            def served():
                return client.infer(spec.name, images)

            def in_process():
                return model.run({feed: images}, [output])

            served(), in_process()  # warm-up
            pairs = interleave(
                lambda: load(served, batch, clients=clients, seconds=context.seconds),
                lambda: load(in_process, batch, clients=clients, seconds=context.seconds),
                context.rounds,
            )
            label = f"{spec.name} batch {batch}, concurrency {clients}"
            figures.append(
                Figure("serving", f"{label}: throughput", "served", "in-process", "items_per_s", pairs, target)
            )
            figures.append(Figure("serving", f"{label}: p50 latency", "served", "in-process", "p50", pairs))
            figures.append(Figure("serving", f"{label}: p99 latency", "served", "in-process", "p99", pairs))
    figures += rest_image_threads(context)
    return figures


def rest_image_threads(context: Context) -> list[Figure]:
    """16 REST clients send JPEGs: how many server threads, and how many REST threads, share the
    work, each against the usable cores."""
    from convzoo.server.threads import usable_cpus

    repository = context.work_dir / "serving_images"
    context.models.serve_copy(TINY, repository, TINY.name, max_batch_size=8)
    body, headers = rest_images.classification_request(rest_images.jpeg(), "input", "logits", top=3)
    path, port, cores = f"/v2/models/{TINY.name}/infer", free_port(), usable_cpus()
    pairs, spent = [], defaultdict(float)  # spent: (thread id, name) -> CPU seconds over every sample
    with context.start_server(repository, "--http-port", str(port)) as server:
        rest_stack.load(port, path, body, REST_CLIENTS, 0.2, headers)  # warm-up: every pool thread starts
        for _ in range(context.rounds):
            before, started = thread_cpu(server.process.pid), time.perf_counter()
            rate, p50_ms = rest_stack.load(port, path, body, REST_CLIENTS, SAMPLE_SECONDS * context.seconds, headers)
            wall = time.perf_counter() - started
            sample = {
                (tid, name): seconds - before.get(tid, (name, 0.0))[1]
                for tid, (name, seconds) in thread_cpu(server.process.pid).items()
            }
            for thread, seconds in sample.items():
                spent[thread] += seconds
            measured = {
                "threads": busy_threads(sample.values()),
                "rest_threads": busy_threads(s for (_, name), s in sample.items() if name.startswith(REST_THREADS)),
                "cores_busy": sum(sample.values()) / wall,  # the server's CPU seconds per second
                "items_per_s": rate,
                "p50": p50_ms / 1e3,
            }
            pairs.append((measured, {"threads": cores, "rest_threads": cores}))
    by_name = thread_groups(spent)
    print(thread_table(by_name, cores, statistics.median(a["cores_busy"] for a, _ in pairs)))
    label = f"REST JPEG top-3 classification, {TINY.name}, {REST_CLIENTS} clients"
    busy = f"≥ {BUSY_SHARE:.0%} of the busiest"
    extra = {"cpu_seconds_by_thread_name": by_name}
    return [
        Figure(
            "serving",
            f"{label}: server threads busy ({busy}) / usable cores",
            "busy threads",
            "usable cores",
            "threads",
            pairs,
            Target(1.0),
            extra,
        ),
        Figure(
            "serving",
            f"{label}: REST loop and pool threads busy ({busy} of them) / usable cores",
            "busy REST threads",
            "usable cores",
            "rest_threads",
            pairs,
            Target(1.0),
        ),
    ]


def busy_threads(cpu_seconds, share: float = BUSY_SHARE) -> int:
    """How many threads did at least ``share`` of the busiest one's CPU time (0 if none ran)."""
    seconds = list(cpu_seconds)
    busiest = max(seconds, default=0.0)
    return sum(s >= share * busiest for s in seconds) if busiest > 0 else 0


def thread_groups(spent: dict[tuple[int, str], float]) -> dict[str, list[float]]:
    """CPU seconds of each thread, grouped by its name without a trailing index (``rest-work_0``
    and ``rest-work_1`` are ``rest-work``), busiest group first, busiest thread first."""
    groups: dict[str, list[float]] = defaultdict(list)
    for (_, name), seconds in spent.items():
        groups[re.sub(r"[-_]\d+$", "", name)].append(round(seconds, 3))
    ordered = sorted(groups.items(), key=lambda item: -sum(item[1]))
    return {name: sorted(seconds, reverse=True) for name, seconds in ordered}


def thread_table(by_name: dict[str, list[float]], cores: int, cores_busy: float) -> str:
    """The server's CPU time by thread name, as Markdown, with the busy count and its target."""
    every = [s for seconds in by_name.values() for s in seconds]
    rows = [
        f"REST JPEGs from {REST_CLIENTS} clients: the server's CPU seconds by thread, every sample together "
        f"(Linux keeps 15 bytes of a name); the server kept {cores_busy:.2f} cores busy (median of samples)",
        "",
        "| thread name | threads | CPU s of each (busiest first) | total CPU s |",
        "| --- | ---: | --- | ---: |",
    ]
    for name, seconds in by_name.items():
        shown = " ".join(f"{s:.2f}" for s in seconds if s > 0) or "0"
        rows.append(f"| {name} | {len(seconds)} | {shown} | {sum(seconds):.2f} |")
    rest = [s for name, seconds in by_name.items() if name.startswith(REST_THREADS) for s in seconds]
    rows.append("")
    for what, count in (("server threads", busy_threads(every)), ("REST loop and pool threads", busy_threads(rest))):
        met = "yes" if count >= cores else "**no**"
        rows.append(f"{what} busy (≥ {BUSY_SHARE:.0%} of the busiest): {count}; target ≥ {cores} (usable cores): {met}")
    return "\n".join(rows) + "\n"
