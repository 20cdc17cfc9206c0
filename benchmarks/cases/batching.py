"""Case 3: dynamic batching on vs off, eight concurrent clients sending batch-1 requests.

Both models are the same file in one server: "on" has ``max_batch_size: 8`` and
``dynamic_batching {}``, "off" has ``max_batch_size: 1`` (every request runs alone). The
clients are threads sharing one channel.
"""

from __future__ import annotations

import numpy as np

from benchmarks.context import Context
from benchmarks.measure import Figure, Target, interleave, load
from benchmarks.registry import case

CLIENTS = 8


@case("batching", "dynamic batching on vs off, 8 clients of batch 1", order=3)
def run(context: Context) -> list[Figure]:
    from convzoo.client.inference import InferenceClient

    (arch,) = context.archs("resnet50")
    spec = context.models.spec(arch)
    repository = context.work_dir / "batching"
    on, off = f"{spec.name}_batching", f"{spec.name}_unbatched"
    context.models.serve_copy(arch, repository, on, max_batch_size=CLIENTS, extra_config="dynamic_batching { }\n")
    context.models.serve_copy(arch, repository, off, max_batch_size=1)
    image = np.random.default_rng(0).standard_normal((1, 3, spec.input_size, spec.input_size), np.float32)
    with context.start_server(repository) as server, InferenceClient(server.url) as client:

        def batched():
            return client.infer(on, image)

        def unbatched():
            return client.infer(off, image)

        batched(), unbatched()  # warm-up
        seconds = 2 * context.seconds  # eight clients run in bursts: longer samples
        pairs = interleave(
            lambda: load(batched, 1, clients=CLIENTS, seconds=seconds),
            lambda: load(unbatched, 1, clients=CLIENTS, seconds=seconds),
            context.rounds,
        )
    return [
        Figure(
            "batching", f"{spec.name}: throughput", "batching on", "batching off", "items_per_s", pairs, Target(1.0)
        ),
        Figure("batching", f"{spec.name}: p99 latency", "batching on", "batching off", "p99", pairs),
    ]
