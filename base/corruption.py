"""ImageNet-C's corruptions applied on the fly (``convzoo eval --corrupt``), through ``corrupt-tta``.

``corrupt-tta`` (MIT; a maintained port of Hendrycks & Dietterich's functions to current NumPy,
SciPy, scikit-image and OpenCV) is an optional extra: ``pip install 'convzoo[corrupt]'``.
Its functions draw from NumPy's global random state, so each image is corrupted under a lock
after ``np.random.seed`` with a seed derived from the run's seed, the sample id, the corruption
and the severity: the same seed gives the same pixels whatever the thread scheduling.
``impulse_noise`` is the exception inside the library (scikit-image's ``random_noise`` takes
its own generator, unseeded there), so it is called here with the library's amounts and a
generator from the same derived seed. The result is truncated to uint8, as ImageNet-C's
generator (``make_imagenet_c.py``) does before saving.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from convzoo.base.datasets.dataset import Dataset, Sample
from convzoo.base.datasets.imagenet_c import CORRUPTIONS, SEVERITIES

EXTRA = "convzoo[corrupt]"
IMPULSE_AMOUNTS = (0.03, 0.06, 0.09, 0.17, 0.27)  # ImageNet-C's salt-and-pepper amounts, severities 1-5
_GLOBAL_RANDOM_STATE = threading.Lock()


def library() -> str:
    """``corrupt-tta VERSION``, or ``LookupError`` saying which extra to install (or why it does not import)."""
    try:
        installed = version("corrupt-tta")
    except PackageNotFoundError:
        raise LookupError(f"--corrupt needs the corrupt-tta library: pip install '{EXTRA}'") from None
    try:
        import corrupt_tta  # noqa: F401  (OpenCV needs system libraries, e.g. libGL, to import)
    except ImportError as exc:
        raise LookupError(f"--corrupt: corrupt-tta {installed} is installed but does not import: {exc}") from None
    return f"corrupt-tta {installed}"


def derived_seed(seed: int, sample_id: str, name: str, severity: int) -> int:
    """A 32-bit seed for one image's corruption."""
    digest = hashlib.sha256(f"{seed}\0{sample_id}\0{name}\0{severity}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def corrupt(pixels: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """``pixels`` (uint8 ``[H, W, 3]``) with corruption ``name`` at ``severity``, seeded by ``seed``."""
    if name not in CORRUPTIONS or severity not in SEVERITIES:
        raise ValueError(f"unknown corruption {name}:{severity}")
    import corrupt_tta  # on_the_fly checked that it is installed and imports

    if name == "impulse_noise":
        from skimage.util import random_noise

        noisy = random_noise(pixels / 255.0, mode="s&p", amount=IMPULSE_AMOUNTS[severity - 1], rng=seed)
        return np.uint8(np.clip(noisy, 0, 1) * 255)
    with _GLOBAL_RANDOM_STATE:
        np.random.seed(seed)
        return np.uint8(corrupt_tta.corrupt(pixels, severity=severity, corruption_name=name))


def on_the_fly(dataset: Dataset, cells: list[tuple[str, int]], seed: int) -> Dataset:
    """``dataset`` once per ``(corruption, severity)`` cell, ids ``<corruption>/<severity>/<clean id>``."""
    generator = library()
    samples = tuple(
        Sample(
            s.path,
            s.label,
            f"{name}/{severity}/{s.sample_id}",
            name,
            severity,
            derived_seed(seed, s.sample_id, name, severity),
        )
        for name, severity in cells
        for s in dataset.samples
    )
    note = f"the model's recipe, with {generator} corruptions after the crop (seed {seed})"
    return replace(dataset, samples=samples, preprocessing_note=note)
