"""Bad precision requests end with one clear line and exit 1, and write nothing; an fp16 model
that fails its gate is not written either."""

from __future__ import annotations

import pytest
from evalsupport import convzoo
from PIL import Image

from convzoo.exporters import precision

EXPORT = ("export", "resnet18", "--num-classes", "10", "--input-size", "32")


@pytest.fixture
def images(tmp_path):
    """Four images in an MLPerf layout."""
    root = tmp_path / "images"
    root.mkdir()
    for i in range(4):
        Image.new("RGB", (40, 40), (60 * i, 90, 30)).save(root / f"{i}.png")
    (root / "val_map.txt").write_text("".join(f"{i}.png {i}\n" for i in range(4)))
    return root


def empty_map(tmp_path):
    root = tmp_path / "empty_map"
    root.mkdir()
    (root / "val_map.txt").write_text("")
    return root


def empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


CASES = {
    "int8 without calibration": (
        lambda tmp, imgs: ["--precision", "int8"],
        "--precision int8 needs calibration images: --calibration PATH",
    ),
    "empty calibration set": (
        lambda tmp, imgs: ["--precision", "int8", "--calibration", empty_map(tmp)],
        "(mlperf) has no images",
    ),
    "empty calibration folder": (
        lambda tmp, imgs: ["--precision", "int8", "--calibration", empty_folder(tmp)],
        "no known dataset layout found",
    ),
    "missing calibration folder": (
        lambda tmp, imgs: ["--precision", "int8", "--calibration", tmp / "nowhere"],
        "no such dataset folder",
    ),
    "unknown method": (
        lambda tmp, imgs: ["--precision", "int8", "--calibration", imgs, "--calibration-method", "kl"],
        "unknown calibration method 'kl'; expected one of minmax, entropy, percentile",
    ),
    "unknown precision": (
        lambda tmp, imgs: ["--precision", "int4"],
        "unknown precision 'int4'; expected one of fp32, fp16, int8",
    ),
    "method without int8": (
        lambda tmp, imgs: ["--precision", "fp16", "--calibration-method", "entropy"],
        "--calibration-method applies to --precision int8",
    ),
    "calibration with fp32": (
        lambda tmp, imgs: ["--calibration", imgs],
        "--calibration applies to --precision fp16 or int8",
    ),
    "nothing left to hold out": (
        lambda tmp, imgs: ["--precision", "int8", "--calibration", imgs, "--calibration-count", "4"],
        "has 4 images; it needs more than --calibration-count 4",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_refused_with_one_line_and_nothing_written(case, tmp_path, images, capsys):
    flags, message = CASES[case]
    repository = tmp_path / "repository"
    assert convzoo(*EXPORT, "--repository", repository, *flags(tmp_path, images)) == 1
    err = capsys.readouterr().err
    assert err.startswith("convzoo export: error: ") and err.count("\n") == 1 and message in err, err
    assert not repository.exists()


def test_fp16_below_its_gate_is_not_written(tmp_path, images, capsys, monkeypatch):
    monkeypatch.setattr(precision, "MIN_FP16_TOP1", 1.01)  # no model can pass: the gate must hold
    repository = tmp_path / "repository"
    (repository / "resnet18").mkdir(parents=True)  # an existing repository stays as it was
    assert (
        convzoo(
            *EXPORT,
            "--repository",
            repository,
            "--precision",
            "fp16",
            "--calibration",
            images,
            "--calibration-count",
            "2",
        )
        == 1
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fp16 vs fp32 on 2 held-out images: top-1 agreement" in err
    assert "(needs >= 101%: FAILED)" in err and err.rstrip().endswith("; not written")
    assert sorted(p.name for p in repository.rglob("*")) == ["resnet18"]


def test_binary_step_network_fails_the_fp16_gate_for_real(tmp_path, capsys):
    """FP16 rounding flips step decisions near 0, and every flip moves the logits downstream."""
    repository = tmp_path / "repository"
    assert convzoo(*EXPORT, "--activation", "step", "--repository", repository, "--precision", "fp16") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fp16 vs fp32 on 32 seeded standard-normal inputs" in err and "FAILED" in err
    assert not repository.exists()
