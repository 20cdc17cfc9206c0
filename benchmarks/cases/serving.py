"""Case 2: ``convzoo serve`` + convzoo's client vs the same session in process (resnet50)."""

from __future__ import annotations

import numpy as np

from benchmarks.context import Context
from benchmarks.measure import Figure, Target, interleave, load
from benchmarks.registry import case

# (batch, concurrency) -> throughput target; latency ratios are reported without one.
SETTINGS = {(1, 1): Target(0.85), (8, 1): Target(0.90), (1, 4): None, (8, 4): None}


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
    return figures
