"""The eval transform follows torchvision's Resize/CenterCrop arithmetic and decodes by content."""

import io

import numpy as np
import pytest
from PIL import Image

from convzoo.base.preprocessing import (
    TORCHVISION_DEFAULT,
    Preprocessing,
    center_crop_box,
    decode_image,
    preprocess,
    resized_size,
)


def test_resize_keeps_aspect_and_truncates_like_torchvision():
    assert resized_size(500, 375, 256) == (341, 256)  # int(256 * 500 / 375) = 341
    assert resized_size(375, 500, 232) == (232, 309)
    assert resized_size(300, 300, 256) == (256, 256)


def test_center_crop_rounds_half_like_torchvision():
    assert center_crop_box(341, 256, 224) == (58, 16, 282, 240)  # round(58.5) == 58
    assert center_crop_box(225, 225, 224) == (0, 0, 224, 224)


def test_preprocess_matches_manual_pipeline():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8))
    out = preprocess(image)
    expected = image.resize((341, 256), Image.Resampling.BILINEAR).crop((58, 16, 282, 240))
    pixels = np.asarray(expected).astype(np.float32) / 255
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    assert out.dtype == np.float32 and out.shape == (3, 224, 224)
    np.testing.assert_array_equal(out, ((pixels - mean) / std).transpose(2, 0, 1))


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("mode,fmt", [("CMYK", "JPEG"), ("L", "JPEG"), ("RGB", "PNG"), ("RGBA", "PNG")])
def test_decode_by_content_converts_to_rgb(mode, fmt):
    image = decode_image(_encoded(Image.new(mode, (40, 30)), fmt))
    assert image.mode == "RGB" and image.size == (40, 30)


def test_decode_refuses_garbage_truncation_and_bombs():
    with pytest.raises(ValueError, match="cannot decode"):
        decode_image(b"not an image")
    jpeg = _encoded(Image.new("RGB", (64, 64), "red"), "JPEG")
    with pytest.raises(ValueError, match="cannot decode"):
        decode_image(jpeg[: len(jpeg) // 2])
    with pytest.raises(ValueError, match="exceeds the limit"):
        decode_image(jpeg, max_pixels=64 * 63)


def test_recipe_roundtrips_through_metadata():
    recipe = Preprocessing(resize_size=232)
    import json

    assert Preprocessing.from_metadata({"preprocessing": json.dumps(recipe.to_dict())}) == recipe
    assert Preprocessing.from_metadata({}) == TORCHVISION_DEFAULT
    with pytest.raises(ValueError, match="interpolation"):
        Preprocessing(interpolation="lanczos9")
