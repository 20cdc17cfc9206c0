"""``convzoo eval --corrupt``: ImageNet-C's corruptions on a clean layout, in its order, reproducibly."""

from __future__ import annotations

import json
import re
from importlib.metadata import PackageNotFoundError

import numpy as np
import pytest
import synthetic
from evalsupport import CLASSES, convzoo, model, wnid

from convzoo.base import corruption
from convzoo.base.datasets import open_dataset
from convzoo.base.loader import load_batches
from convzoo.base.preprocessing import Preprocessing, decode_image, resize_and_crop

pytest.importorskip("corrupt_tta", reason="the corrupt extra (pip install 'convzoo[corrupt]') is not installed")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean") / "data"
    for n in range(6):
        synthetic.draw(root / wnid(CLASSES[n]) / f"{n}.JPEG", n, size=(40, 36))
    return root, model(tmp_path_factory.mktemp("m") / "synthetic.onnx")


def run(root, onnx_model, out, *extra):
    argv = ["eval", "--data", root, "--model", onnx_model, "--plugins", "top1,top5", "--batch-size", 4, "--workers", 2]
    argv.append("--no-progress")
    assert convzoo(*argv, "--output", out, "--predictions", out.with_suffix(".csv"), *extra) == 0
    return json.loads(out.read_text())


CELLS = ("--corrupt", "gaussian_noise:5", "--corrupt", "impulse_noise:3", "--corrupt", "contrast:4")


def test_same_seed_same_report(clean, tmp_path):
    root, onnx_model = clean
    first = run(root, onnx_model, tmp_path / "a.json", *CELLS, "--corrupt-seed", 7)
    second = run(root, onnx_model, tmp_path / "b.json", *CELLS, "--corrupt-seed", 7)
    assert first["count"] == 18 and first["metrics"]["corruption"]["errors"].keys() == {
        "gaussian_noise",
        "impulse_noise",
        "contrast",
    }
    assert first["metrics"] == second["metrics"]
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert first["metrics"]["corruption"]["generated"]["seed"] == 7
    assert "seed 7" in first["dataset"]["preprocessing"]


def test_seed_changes_the_noise_and_repeats_it():
    pixels = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    for name in ("gaussian_noise", "impulse_noise", "glass_blur"):
        a, b, c = (corruption.corrupt(pixels, name, 2, seed) for seed in (1, 1, 2))
        assert np.array_equal(a, b) and not np.array_equal(a, c), name


def test_corruption_comes_after_the_crop_with_no_further_resize(clean):
    root, _ = clean
    recipe = Preprocessing(resize_size=32, crop_size=28)
    dataset = corruption.on_the_fly(open_dataset(root), [("contrast", 2)], seed=0)
    batch = next(load_batches(dataset.samples[:1], recipe, batch_size=1, workers=0))
    # ImageNet-C's contrast by its definition: pull every pixel towards the image mean by factor 0.3.
    crop = resize_and_crop(decode_image(dataset.samples[0].path), recipe) / 255.0
    means = crop.mean(axis=(0, 1), keepdims=True)
    expected = np.uint8(np.clip((crop - means) * 0.3 + means, 0, 1) * 255)
    got = batch.images[0].transpose(1, 2, 0) * np.asarray(recipe.std) + np.asarray(recipe.mean)
    assert batch.images.shape == (1, 3, 28, 28)
    assert np.abs(got * 255 - expected).max() < 1.01  # uint8 truncation either side


def test_refusals_name_the_problem(clean, tmp_path, capsys, monkeypatch):
    root, onnx_model = clean
    argv = ["eval", "--data", root, "--model", onnx_model, "--device", "cpu", "--no-progress"]
    with pytest.raises(SystemExit):  # an argparse usage error
        convzoo(*argv, "--corrupt", "rain:2")
    assert "unknown corruption 'rain'" in capsys.readouterr().err

    def missing(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(corruption, "version", missing)
    assert convzoo(*argv, "--corrupt", "fog:1") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'convzoo[corrupt]'" in err[0]


def test_the_progress_bar_counts_each_image_once_per_cell(clean, tmp_path, capsys):
    root, onnx_model = clean
    out = tmp_path / "r.json"
    argv = ["eval", "--data", root, "--model", onnx_model, "--device", "cpu", "--output", out]
    assert convzoo(*argv, "--corrupt", "contrast:4", "--corrupt", "fog:1", "--workers", 0) == 0
    shown = re.findall(r"(\d+)/(\d+) \[", capsys.readouterr().err)  # tqdm's "done/total [elapsed..."
    assert json.loads(out.read_text())["count"] == 12  # 6 clean images x 2 cells
    assert shown and {int(total) for _, total in shown} == {12} and shown[-1][0] == "12"
