"""A load-generator process for the ``peers`` case: N client threads of unmodified tritonclient.

    python -m benchmarks.load_generator grpc|http CLIENTS

Each line on stdin is one JSON job ``{"url", "model", "input", "shape", "seconds"}``: every
client (its own tritonclient connection, made once per url) sends the same FP32 tensor back to
back for ``seconds``; one JSON line answers ``{"count", "wall", "latencies"}`` (seconds), or
``{"error"}``. The process lives for a whole case, so its start-up is never timed, and it is
the same for every server it measures.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time

import numpy as np


def _client(protocol: str, url: str):
    if protocol == "grpc":
        import tritonclient.grpc as triton

        return triton, triton.InferenceServerClient(url)
    import tritonclient.http as triton

    return triton, triton.InferenceServerClient(url, connection_timeout=120, network_timeout=120)


class Client:
    """One client: its connection and a request built once (the tensor never changes)."""

    def __init__(self, protocol: str, url: str, model: str, name: str, shape: list[int]):
        self.triton, self.connection = _client(protocol, url)
        self.model = model
        tensor = self.triton.InferInput(name, shape, "FP32")
        data = np.random.default_rng(0).standard_normal(shape, np.float32)
        if protocol == "http":
            tensor.set_data_from_numpy(data, binary_data=True)
        else:
            tensor.set_data_from_numpy(data)
        self.inputs = [tensor]

    def infer(self) -> None:
        self.connection.infer(self.model, self.inputs)


class Worker(threading.Thread):
    """One client thread for the process's life: tritonclient.http's connections are bound to
    the thread (gevent) that made them, so each thread makes and keeps its own."""

    def __init__(self, protocol: str):
        super().__init__(daemon=True)
        self.protocol = protocol
        self.jobs: queue.Queue = queue.Queue()
        self.clients: dict[tuple, Client] = {}

    def run(self) -> None:
        while (job := self.jobs.get()) is not None:
            key, start_line, deadline, own, errors, finished = job
            try:
                if key not in self.clients:
                    self.clients[key] = Client(self.protocol, *key[:3], list(key[3]))
                client = self.clients[key]
            except Exception as exc:  # reported to the case
                errors.append(f"{type(exc).__name__}: {exc}")
                client = None
            start_line.wait()
            try:
                while client is not None and not errors:
                    tick = time.perf_counter()
                    client.infer()
                    own.append(time.perf_counter() - tick)
                    if time.perf_counter() >= deadline[0]:
                        break
            except Exception as exc:  # reported to the case, which stops
                errors.append(f"{type(exc).__name__}: {exc}")
            finished.put(None)


def run(workers: list[Worker], key: tuple, seconds: float) -> dict:
    latencies: list[list[float]] = [[] for _ in workers]
    errors: list[str] = []
    start_line = threading.Barrier(len(workers) + 1)
    deadline = [float("inf")]
    finished: queue.Queue = queue.Queue()
    for worker, own in zip(workers, latencies):
        worker.jobs.put((key, start_line, deadline, own, errors, finished))
    start_line.wait()
    started = time.perf_counter()
    deadline[0] = started + seconds
    for _ in workers:
        finished.get()
    wall = time.perf_counter() - started
    if errors:
        return {"error": errors[0]}
    flat = [latency for own in latencies for latency in own]
    return {"count": len(flat), "wall": wall, "latencies": flat}


def main(protocol: str, count: str) -> int:
    workers = [Worker(protocol) for _ in range(int(count))]
    for worker in workers:
        worker.start()
    for line in sys.stdin:
        job = json.loads(line)
        key = (job["url"], job["model"], job["input"], tuple(job["shape"]))
        print(json.dumps(run(workers, key, job["seconds"])), flush=True)
    for worker in workers:
        worker.jobs.put(None)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
