"""Case: the cost of ``eval --corrupt`` per image, corruption by corruption (images/s, one thread).

One 500x375 JPEG decoded and preprocessed with torchvision's recipe (resize 256, crop 224) as
the loader does, with ImageNet-C's corruption at severity 3 after the crop against without
it. The ratio is the share of a decode thread's throughput left; 1 / images_per_s is the
cost per image. Not a default case (about 19 x rounds x 2 seconds); ``--cases corruption``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmarks.context import Context
from benchmarks.measure import Figure, interleave, load
from benchmarks.registry import case

SEVERITY = 3


@case(
    "corruption",
    "--corrupt: decode + preprocess + corruption vs decode + preprocess (images/s)",
    order=20,
    default=False,
)
def run(context: Context) -> list[Figure]:
    from convzoo.base.corruption import corrupt, library
    from convzoo.base.datasets.imagenet_c import CORRUPTIONS
    from convzoo.base.preprocessing import TORCHVISION_DEFAULT, decode_image, normalize, resize_and_crop

    path = context.work_dir / "corruption_input.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    texture = (np.random.default_rng(0).random((47, 63, 3)) * 255).astype(np.uint8)
    Image.fromarray(texture).resize((500, 375), Image.Resampling.BICUBIC).save(path, quality=90)

    def clean():
        return normalize(resize_and_crop(decode_image(path), TORCHVISION_DEFAULT), TORCHVISION_DEFAULT)

    figures = []
    for name in CORRUPTIONS:

        def corrupted(name=name):
            pixels = resize_and_crop(decode_image(path), TORCHVISION_DEFAULT)
            return normalize(corrupt(pixels, name, SEVERITY, 0), TORCHVISION_DEFAULT)

        corrupted(), clean()  # warm-up (frost reads its texture files once)
        pairs = interleave(
            lambda: load(corrupted, 1, seconds=context.seconds),
            lambda: load(clean, 1, seconds=context.seconds),
            context.rounds,
        )
        figures.append(
            Figure(
                "corruption",
                f"{name} severity {SEVERITY}",
                name,
                "clean",
                "items_per_s",
                pairs,
                None,
                {"library": library()},
            )
        )
    return figures
