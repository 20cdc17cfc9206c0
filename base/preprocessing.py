"""torchvision's ImageNet eval transform on PIL images, bit for bit, without torchvision.

``Resize(resize_size)`` (shorter side, PIL bilinear) -> ``CenterCrop(crop_size)`` ->
``ToTensor`` -> ``Normalize(mean, std)``, giving float32 CHW. The recipe travels in the
ONNX model card under the metadata key ``preprocessing`` (JSON of ``Preprocessing.to_dict``);
a model without one gets ``TORCHVISION_DEFAULT``.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, replace
from os import PathLike

import numpy as np
from PIL import Image, UnidentifiedImageError

METADATA_KEY = "preprocessing"
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}
# Refuse images above this many pixels before decoding them (decompression bombs).
DEFAULT_MAX_PIXELS = 64_000_000


@dataclass(frozen=True)
class Preprocessing:
    """An eval transform: resize the shorter side, center-crop, scale to [0, 1], normalize."""

    resize_size: int = 256
    crop_size: int = 224
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {self.interpolation!r}; expected one of {sorted(INTERPOLATIONS)}")
        if self.resize_size <= 0 or self.crop_size <= 0:
            raise ValueError("resize_size and crop_size must be positive")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("mean", "std"):
            if key in known:
                known[key] = tuple(float(v) for v in known[key])
        return cls(**known)

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> Preprocessing:
        """The recipe recorded in an ONNX model's ``metadata_props``, or the default."""
        text = metadata.get(METADATA_KEY)
        return cls.from_dict(json.loads(text)) if text else TORCHVISION_DEFAULT

    def for_crop(self, crop: int) -> Preprocessing:
        """This recipe for a model whose input is ``crop`` pixels, keeping the resize/crop ratio."""
        if crop == self.crop_size:
            return self
        return replace(self, crop_size=crop, resize_size=round(crop * self.resize_size / self.crop_size))

    def override(self, **changes) -> Preprocessing:
        """A copy with the given (non-None) fields replaced."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def __call__(self, image: Image.Image) -> np.ndarray:
        return preprocess(image, self)


TORCHVISION_DEFAULT = Preprocessing()


def resized_size(width: int, height: int, shorter: int) -> tuple[int, int]:
    """torchvision's ``Resize(int)`` output (width, height): shorter side to ``shorter``."""
    if width <= height:
        return shorter, int(shorter * height / width)
    return int(shorter * width / height), shorter


def center_crop_box(width: int, height: int, crop: int) -> tuple[int, int, int, int]:
    """torchvision's ``CenterCrop`` box (left, top, right, bottom), rounding as it does."""
    left = int(round((width - crop) / 2.0))
    top = int(round((height - crop) / 2.0))
    return left, top, left + crop, top + crop


def resize_and_crop(image: Image.Image, recipe: Preprocessing = TORCHVISION_DEFAULT) -> np.ndarray:
    """The geometric half of ``recipe``: resize, centre crop; returns uint8 ``[crop, crop, 3]`` RGB."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    size = resized_size(image.width, image.height, recipe.resize_size)
    if size != image.size:
        image = image.resize(size, INTERPOLATIONS[recipe.interpolation])
    if min(image.size) < recipe.crop_size:
        raise ValueError(f"image {image.size} is smaller than the crop {recipe.crop_size} after resizing")
    image = image.crop(center_crop_box(image.width, image.height, recipe.crop_size))
    return np.asarray(image, dtype=np.uint8)


def normalize(pixels: np.ndarray, recipe: Preprocessing = TORCHVISION_DEFAULT) -> np.ndarray:
    """The other half: uint8 ``[H, W, 3]`` to [0, 1], normalised; returns float32 ``[3, H, W]``."""
    scaled = pixels.astype(np.float32) / np.float32(255)
    mean = np.asarray(recipe.mean, dtype=np.float32)
    std = np.asarray(recipe.std, dtype=np.float32)
    return np.ascontiguousarray(((scaled - mean) / std).transpose(2, 0, 1))


def preprocess(image: Image.Image, recipe: Preprocessing = TORCHVISION_DEFAULT) -> np.ndarray:
    """Apply ``recipe`` to an RGB PIL image; returns float32 ``[3, crop, crop]``."""
    return normalize(resize_and_crop(image, recipe), recipe)


def decode_image(
    source: bytes | str | PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS, draft: int | None = None
) -> Image.Image:
    """Decode an image by its content (not its file name) and convert it to RGB.

    Raises ``ValueError`` for data that is not a decodable image or whose header declares
    more than ``max_pixels`` pixels (checked before the pixels are decoded). ``draft`` (opt-in)
    lets JPEG decoding downscale by DCT to at least that shorter side: faster, not exact.
    """
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    try:
        with Image.open(stream) as image:
            if image.width * image.height > max_pixels:
                raise ValueError(
                    f"image of {image.width}x{image.height} pixels exceeds the limit of {max_pixels} pixels"
                )
            if draft is not None and image.format == "JPEG":
                image.draft("RGB", (draft, draft))
            image.load()
            return image.convert("RGB")
    except ValueError:
        raise
    except UnidentifiedImageError:
        # Pillow's own message quotes the stream object (``<_io.BytesIO object at 0x...>``).
        raise ValueError("cannot decode image: not in an image format Pillow reads (JPEG, PNG, ...)") from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot decode image: {exc}") from exc
