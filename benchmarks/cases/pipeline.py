"""Case 4: the evaluation loop end to end (decode + preprocess + infer + plugins, the exact
decode path) vs model-only throughput on the same images as pre-made tensors, in process
and through the server. Images are generated JPEGs of ImageNet's typical size, 500x375."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from benchmarks.context import Context
from benchmarks.measure import Figure, Target, interleave, load
from benchmarks.registry import case

SIZE = (500, 375)
TARGET = Target(0.80)


def write_images(folder: Path, count: int, classes: int) -> Path:
    """``count`` photo-like JPEGs (smooth colour fields plus grain) and a ``file,label`` CSV."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for index in range(count):
        name = f"image_{index:04d}.jpg"
        path = folder / name
        if not path.is_file():
            coarse = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize(
                SIZE, Image.Resampling.BICUBIC
            )
            grain = rng.normal(0, 6, (SIZE[1], SIZE[0], 3))
            pixels = np.clip(np.asarray(coarse, np.float32) + grain, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(path, "JPEG", quality=90)
        rows.append((name, index % classes))
    table = folder / "labels.csv"
    with open(table, "w", newline="") as handle:
        csv.writer(handle).writerows([("file", "label"), *rows])
    return table


@case("pipeline", "evaluation end to end vs model only (images/s)", order=4)
def run(context: Context) -> list[Figure]:
    from convzoo.base.datasets import open_dataset
    from convzoo.base.loader import load_batches
    from convzoo.plugins import registry
    from convzoo.plugins.backends import GrpcBackend, OnnxBackend
    from convzoo.plugins.cli import DEFAULT_WORKERS
    from convzoo.plugins.evaluate import Settings
    from convzoo.plugins.evaluate import run as evaluate

    (arch,) = context.archs("resnet50")
    spec = context.models.spec(arch)
    count, batch = (8, 4) if context.quick else (16, 8)
    dataset = open_dataset(write_images(context.work_dir / "images", count, spec.num_classes), "csv")
    settings = Settings(batch_size=batch, workers=DEFAULT_WORKERS)
    repository = context.work_dir / "pipeline"
    context.models.serve_copy(arch, repository, spec.name, max_batch_size=64)
    figures = []
    with context.start_server(repository) as server:
        backends = {
            "in process": OnnxBackend(context.models.path(arch), device=context.device),
            "through the server": GrpcBackend(server.url, spec.name),
        }
        for where, backend in backends.items():
            tensors = [
                b.images for b in load_batches(dataset.samples, backend.preprocessing, batch_size=batch, workers=0)
            ]

            def end_to_end():
                return evaluate(dataset, backend, registry.from_spec(registry.DEFAULT_SPEC), settings)

            def model_only():
                return [backend.infer(images) for images in tensors]

            model_only()  # warm-up
            pairs = interleave(
                lambda: load(end_to_end, count, seconds=0), lambda: load(model_only, count, seconds=0), context.rounds
            )
            figures.append(
                Figure(
                    "pipeline",
                    f"{spec.name} {where}, batch {batch}",
                    "end to end",
                    "model only",
                    "items_per_s",
                    pairs,
                    TARGET,
                )
            )
        backends["through the server"].close()
    return figures
