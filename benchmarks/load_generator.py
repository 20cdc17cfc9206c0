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


def run(clients: list[Client], seconds: float) -> dict:
    latencies: list[list[float]] = [[] for _ in clients]
    errors: list[str] = []
    start_line = threading.Barrier(len(clients) + 1)
    deadline = [0.0]

    def work(client: Client, own: list[float]) -> None:
        start_line.wait()
        try:
            while True:
                tick = time.perf_counter()
                client.infer()
                own.append(time.perf_counter() - tick)
                if time.perf_counter() >= deadline[0]:
                    return
        except Exception as exc:  # reported to the case, which stops
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=pair, daemon=True) for pair in zip(clients, latencies)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + seconds
    start_line.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        return {"error": errors[0]}
    flat = [latency for own in latencies for latency in own]
    return {"count": len(flat), "wall": wall, "latencies": flat}


def main(protocol: str, count: str) -> int:
    connected: dict[tuple, list[Client]] = {}
    for line in sys.stdin:
        job = json.loads(line)
        key = (job["url"], job["model"], job["input"], tuple(job["shape"]))
        try:
            if key not in connected:
                connected[key] = [Client(protocol, *key[:3], list(key[3])) for _ in range(int(count))]
            answer = run(connected[key], job["seconds"])
        except Exception as exc:  # a server that refuses: say so, keep serving jobs
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
