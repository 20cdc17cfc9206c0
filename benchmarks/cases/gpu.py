"""GPU only (``--device cuda``; run by ``benchmarks/gpu.sh``): resnet50 images/s at batch 1,
8 and 64 in process (the server's ``Model.run``, IOBinding on CUDA) and through the server,
and the dynamic batching gain with 16 concurrent batch-1 clients. Fails unless ONNX Runtime
really runs on CUDA, in process and in the server (``--strict-device``)."""

from __future__ import annotations

import numpy as np

from benchmarks.context import Context
from benchmarks.measure import Figure, Target, interleave, load
from benchmarks.registry import case

BATCHES = (1, 8, 64)
CLIENTS = 16


@case("gpu", "CUDA: served vs in-process at batch 1/8/64, batching gain at concurrency 16", order=20, default=False)
def run(context: Context) -> list[Figure]:
    from convzoo.client.inference import InferenceClient

    if not context.device.startswith("cuda"):
        raise ValueError("the gpu case needs --device cuda[:N]")
    (arch,) = context.archs("resnet50")
    spec = context.models.spec(arch)
    repository = context.work_dir / "gpu"
    folder = context.models.serve_copy(arch, repository, spec.name, max_batch_size=max(BATCHES))
    on, off = f"{spec.name}_batching", f"{spec.name}_unbatched"
    context.models.serve_copy(arch, repository, on, max_batch_size=CLIENTS, extra_config="dynamic_batching { }\n")
    context.models.serve_copy(arch, repository, off, max_batch_size=1)
    model = context.load_model(folder)
    if not model.device.startswith("cuda"):
        raise RuntimeError(f"ONNX Runtime fell back to {model.session.get_providers()} in process")
    feed, output = model.inputs[0].name, model.outputs[0].name
    figures = []
    with context.start_server(repository) as server, InferenceClient(server.url) as client:
        for batch in BATCHES:
            images = np.random.default_rng(0).standard_normal((batch, 3, spec.input_size, spec.input_size), np.float32)

            def served():
                return client.infer(spec.name, images)

            def in_process():
                return model.run({feed: images}, [output])

            served(), in_process()  # warm-up (cuDNN picks its algorithms per shape)
            pairs = interleave(
                lambda: load(served, batch, seconds=context.seconds),
                lambda: load(in_process, batch, seconds=context.seconds),
                context.rounds,
            )
            figures.append(
                Figure(
                    "gpu",
                    f"{spec.name} batch {batch}: throughput",
                    "served",
                    "in-process (IOBinding)",
                    "items_per_s",
                    pairs,
                )
            )
        image = np.random.default_rng(0).standard_normal((1, 3, spec.input_size, spec.input_size), np.float32)

        def batched():
            return client.infer(on, image)

        def unbatched():
            return client.infer(off, image)

        load(batched, 1, clients=CLIENTS, seconds=context.seconds)  # warm-up: batch sizes vary
        unbatched()
        pairs = interleave(
            lambda: load(batched, 1, clients=CLIENTS, seconds=context.seconds),
            lambda: load(unbatched, 1, clients=CLIENTS, seconds=context.seconds),
            context.rounds,
        )
        figures.append(
            Figure(
                "gpu",
                f"{spec.name} concurrency {CLIENTS}: throughput",
                "batching on",
                "batching off",
                "items_per_s",
                pairs,
                Target(3.0),
            )
        )
        figures.append(
            Figure(
                "gpu", f"{spec.name} concurrency {CLIENTS}: p99 latency", "batching on", "batching off", "p99", pairs
            )
        )
    return figures
