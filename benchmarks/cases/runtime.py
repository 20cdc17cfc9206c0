"""Case 1: ONNX Runtime (as the server loads it) vs PyTorch eager, same weights, same threads."""

from __future__ import annotations

import numpy as np

from benchmarks.context import Context
from benchmarks.measure import Figure, Target, interleave, load
from benchmarks.registry import case

BATCHES = (1, 8)
TARGET = Target(1.5)  # resnet50; the other models are shown for comparison


@case("runtime", "ONNX Runtime vs PyTorch eager (images/s)", order=1)
def run(context: Context) -> list[Figure]:
    import torch

    torch.set_num_threads(context.threads)
    figures = []
    for arch in context.archs("resnet50", "alexnet", "vgg16"):
        spec = context.models.spec(arch)
        model = context.load_model(context.models.path(arch).parent.parent)
        eager = context.models.torch_model(arch)
        feed, output = model.inputs[0].name, model.outputs[0].name
        for batch in BATCHES:
            images = np.random.default_rng(0).standard_normal((batch, 3, spec.input_size, spec.input_size), np.float32)
            tensor = torch.from_numpy(images)

            def onnxruntime():
                return model.run({feed: images}, [output])

            def pytorch():
                with torch.inference_mode():
                    return eager(tensor)

            onnxruntime(), pytorch()  # warm-up
            pairs = interleave(
                lambda: load(onnxruntime, batch, seconds=context.seconds),
                lambda: load(pytorch, batch, seconds=context.seconds),
                context.rounds,
            )
            figures.append(
                Figure(
                    "runtime",
                    f"{spec.name} batch {batch}",
                    "onnxruntime",
                    "pytorch eager",
                    "items_per_s",
                    pairs,
                    TARGET if arch == "resnet50" else None,
                )
            )
        del model, eager
    return figures
