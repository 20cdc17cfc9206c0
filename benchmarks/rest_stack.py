"""Which HTTP stack serves the REST endpoint: the same ``Routes`` (server/http/routes.py) under
uvicorn + httptools + uvloop (a thin ASGI app, what convzoo ships) or under aiohttp's server,
JSON infer requests from keep-alive clients, rounds interleaved, medians reported::

    python -m benchmarks.rest_stack --repository REPO --model classifier [--seconds 10] [--rounds 3]

aiohttp is not a convzoo dependency: install it to run this comparison.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

STACKS = ("uvicorn", "aiohttp")


def _dataplane(repository: Path):
    from convzoo.base.device import DeviceRequest
    from convzoo.server.dataplane import DataPlane
    from convzoo.server.manager import ModelManager
    from convzoo.server.model import LoadOptions
    from convzoo.server.statistics import Statistics

    statistics_ = Statistics()
    manager = ModelManager(repository, LoadOptions(device=DeviceRequest("cpu"), intra_op_threads=1), statistics_)
    manager.load_all()
    dataplane = DataPlane(manager, statistics_)
    dataplane.ready.set()
    return dataplane


def serve(stack: str, repository: Path, port: int) -> None:
    """Serve the REST routes on ``port`` with ``stack`` until killed."""
    dataplane = _dataplane(repository)
    if stack == "uvicorn":
        from convzoo.server.http.listener import HttpServer

        server = HttpServer(dataplane, "127.0.0.1", port, max_body_bytes=1 << 26)
        server.start()
        print("ready", flush=True)
        threading.Event().wait()
    from concurrent.futures import ThreadPoolExecutor

    from aiohttp import web

    from convzoo.server import threads
    from convzoo.server.http.routes import Routes

    routes = Routes(dataplane, ThreadPoolExecutor(threads.usable_cpus()))

    async def handle(request: web.Request) -> web.Response:
        headers = {key.lower(): value for key, value in request.headers.items()}
        reply = await routes.handle(request.method, request.path, headers, await request.read())
        return web.Response(status=reply.status, headers=reply.headers, body=b"".join(reply.chunks))

    app = web.Application(client_max_size=1 << 26)
    app.router.add_route("*", "/{tail:.*}", handle)
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _body(repository: Path, model: str) -> bytes:
    from convzoo.server.operations import MetadataRequest

    tensor = _dataplane(repository).model_metadata(MetadataRequest(model)).inputs[0]
    shape = [1] + tensor.shape[1:]
    data = np.random.default_rng(0).random(int(np.prod(shape))).round(3).tolist()
    return json.dumps({"inputs": [{"name": tensor.name, "shape": shape, "datatype": "FP32", "data": data}]}).encode()


JSON = {"Content-Type": "application/json"}


def load(
    port: int, path: str, body: bytes, clients: int, seconds: float, headers: dict[str, str] = JSON
) -> tuple[float, float]:
    """(requests per second, p50 ms) of ``clients`` keep-alive clients POSTing ``body`` for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        while time.monotonic() < stop and not failures:
            start = time.perf_counter()
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200:
                failures.append(f"HTTP {response.status}: {answer[:200]!r}")
            latencies[index].append(time.perf_counter() - start)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"POST {path} failed: {failures[0]}")
    every = [x for per in latencies for x in per]
    return len(every) / seconds, 1000 * statistics.median(every)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--model", default="classifier")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--serve", choices=STACKS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.repository, args.port)
        return 0
    body = _body(args.repository, args.model)
    path = f"/v2/models/{args.model}/infer"
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    servers = {}
    for stack in STACKS:
        port = _free_port()
        command = [sys.executable, "-m", "benchmarks.rest_stack", "--repository", str(args.repository)]
        process = subprocess.Popen([*command, "--serve", stack, "--port", str(port)], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "ready"
        time.sleep(1)
        servers[stack] = (process, port)
    try:
        for _ in range(args.rounds):
            for clients in args.clients:
                for stack, (_, port) in servers.items():
                    results.setdefault((stack, clients), []).append(load(port, path, body, clients, args.seconds))
    finally:
        for process, _ in servers.values():
            process.kill()
    print(f"JSON infer on '{args.model}', {args.rounds} interleaved rounds of {args.seconds:.0f} s, medians")
    print("| stack | clients | req/s | p50 ms |\n| --- | --- | --- | --- |")
    for (stack, clients), rows in sorted(results.items(), key=lambda item: (item[0][1], item[0][0])):
        rate = statistics.median(r for r, _ in rows)
        p50 = statistics.median(p for _, p in rows)
        print(f"| {stack} | {clients} | {rate:.0f} | {p50:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
