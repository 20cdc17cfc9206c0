"""A stand-in for the ImageNet validation set, for the demo and benchmarks.

``python -m convzoo.demo.sample_data DIR --images N`` writes ``ILSVRC2012_img_val/``
with the first N official validation file names (``ILSVRC2012_val_00000001.JPEG`` ...),
so the ``flat`` layout labels them from the shipped ground truth. The pixels are smooth
seeded noise at ImageNet-like size (500x375 or 375x500), not photographs: accuracy on them
measures nothing, but every step of the pipeline (decode, resize, crop, infer, metrics)
does the work it does on the real set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from convzoo.base.datasets.flat import IMAGE_DIR

SIZES = ((500, 375), (375, 500))


def sample_image(number: int) -> Image.Image:
    """Validation image ``number``'s stand-in: low-frequency noise upsampled bicubically."""
    rng = np.random.default_rng(number)
    width, height = SIZES[number % 2]
    coarse = rng.integers(0, 256, (height // 25, width // 25, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)


def write_sample_dataset(root: str | Path, images: int) -> Path:
    """Write ``images`` stand-in validation JPEGs under ``root/ILSVRC2012_img_val``; returns that folder."""
    if images <= 0:
        raise ValueError("--images must be positive")
    folder = Path(root) / IMAGE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(1, images + 1):
        path = folder / f"ILSVRC2012_val_{number:08d}.JPEG"
        if not path.exists():
            sample_image(number).save(path, "JPEG", quality=90)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--images", type=int, default=64)
    args = parser.parse_args(argv)
    print(f"wrote {args.images} stand-in validation images to {write_sample_dataset(args.root, args.images)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
