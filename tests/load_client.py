"""One load-test client process, run as a script by test_server_load.py:

    python tests/load_client.py HOST:PORT SECONDS THREADS

Each thread sends classifier requests (1 to 4 rows) back to back on one shared channel for
SECONDS, then stops; prints one JSON line: ok, failed, the first errors, latencies in ms.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import grpc
import numpy as np
from server_repository import IMAGE

from convzoo.client.inference import build_request
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc


def main(url: str, seconds: str, threads: str) -> int:
    stop = time.monotonic() + float(seconds)
    latencies: list[float] = []
    errors: list[str] = []
    with grpc.insecure_channel(url) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)

        def work(seed: int) -> None:
            rng = np.random.default_rng(seed)
            while time.monotonic() < stop:
                rows = int(rng.integers(1, 5))
                request = build_request(
                    "classifier", {"input": rng.standard_normal((rows, 3, IMAGE, IMAGE), np.float32)}
                )
                start = time.perf_counter()
                try:
                    stub.ModelInfer(request, timeout=10)
                    latencies.append((time.perf_counter() - start) * 1000)
                except grpc.RpcError as error:
                    errors.append(f"{error.code().name}: {error.details()}")

        workers = [threading.Thread(target=work, args=(seed,)) for seed in range(int(threads))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    print(json.dumps({"ok": len(latencies), "failed": len(errors), "errors": errors[:3], "latencies_ms": latencies}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
