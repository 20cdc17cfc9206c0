"""Case 6: memory and start-up, vgg16.

Memory: (server RSS with vgg16 loaded - an empty server's RSS) / the ONNX file's size.
Start-up: load-to-ready (``RepositoryModelLoad`` after an unload, timed at the client) vs a
bare ``InferenceSession`` created in this process plus one batch-1 run.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.context import Context
from benchmarks.measure import Figure, Target, interleave
from benchmarks.registry import case


@case("memory", "memory and load-to-ready", order=6)
def run(context: Context) -> list[Figure]:
    import onnxruntime as ort

    from convzoo.client.inference import InferenceClient

    (arch,) = context.archs("vgg16")
    spec = context.models.spec(arch)
    path = context.models.path(arch)
    repository, empty = context.work_dir / "memory", context.work_dir / "empty"
    context.models.serve_copy(arch, repository, spec.name, max_batch_size=64)
    empty.mkdir(parents=True, exist_ok=True)
    image = np.zeros((1, 3, spec.input_size, spec.input_size), np.float32)

    with (
        context.start_server(empty) as empty_server,
        context.start_server(repository) as server,
        InferenceClient(server.url) as client,
    ):
        first = {"rss": server.rss_bytes(), "empty_rss": empty_server.rss_bytes()}  # after start-up

        def served():
            client.unload(spec.name)
            tick = time.perf_counter()
            client.load(spec.name)
            return {
                "seconds": time.perf_counter() - tick,
                "rss": server.rss_bytes(),
                "empty_rss": empty_server.rss_bytes(),
            }

        def bare():
            tick = time.perf_counter()
            options = ort.SessionOptions()
            options.intra_op_num_threads = context.threads
            session = ort.InferenceSession(str(path), options, providers=context.load_options().device.providers())
            session.run(None, {session.get_inputs()[0].name: image})
            return {"seconds": time.perf_counter() - tick}

        pairs = interleave(served, bare, context.rounds)
    size = path.stat().st_size
    memory = [({"bytes": a["rss"] - a["empty_rss"], **a}, {"bytes": size}) for a in [first] + [a for a, _ in pairs]]
    return [
        Figure(
            "memory",
            f"{spec.name}: RSS added to an empty server / file size",
            "RSS added",
            "file size",
            "bytes",
            memory,
            Target(1.5, at_least=False),
            {"samples": "the first is the start-up load, then one per reload"},
        ),
        Figure(
            "memory",
            f"{spec.name}: load-to-ready / bare session + warm-up",
            "load-to-ready",
            "bare session",
            "seconds",
            pairs,
            Target(1.2, at_least=False),
        ),
    ]
