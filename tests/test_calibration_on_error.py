"""int8 calibration skips undecodable images as ``eval`` does (and lists them in the card), or
stops with one line under ``--on-error fail``; the selection does not move either way.

Conversion runs on the tiny synthetic classifier; ``convzoo export --on-error fail`` stops
before the expensive export, so the command line is checked end to end cheaply.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import synthetic
from evalsupport import CLASSES, convzoo

from convzoo.exporters.calibration import SELECTION_SEED, select
from convzoo.exporters.precision import PrecisionOptions, convert, decode

COUNT, HOLDOUT, TOTAL = 8, 4, 14


def draw_set(root):
    """An MLPerf folder whose corrupt files sit at chosen places of the deterministic selection.

    Returns the corrupt ids: two among the calibration images, one held out, and one that
    the selection leaves out (it must not be reported).
    """
    ids = [f"img_{i:02d}.jpg" for i in range(TOTAL)]  # sorted by id = index order
    order = np.random.default_rng(SELECTION_SEED).permutation(TOTAL)
    corrupt = {
        "calibration": [ids[order[0]], ids[order[3]]],
        "holdout": [ids[order[COUNT + 1]]],
        "unselected": [ids[order[COUNT + HOLDOUT]]],
    }
    bad = {i for part in corrupt.values() for i in part}
    for i, name in enumerate(ids):
        synthetic.draw(root / name, i % len(CLASSES), "corrupt" if name in bad else "rgb")
    (root / "val_map.txt").write_text("".join(f"{name} {CLASSES[i % len(CLASSES)]}\n" for i, name in enumerate(ids)))
    return ids, order, corrupt


@pytest.fixture
def calibration(tmp_path):
    root = tmp_path / "calibration"
    return root, *draw_set(root)


def options(root, on_error="skip"):
    return PrecisionOptions("int8", str(root), "auto", COUNT, HOLDOUT, None, on_error)


def test_undecodable_images_are_skipped_listed_and_the_selection_kept(tmp_path, calibration):
    root, ids, order, corrupt = calibration
    fp32 = synthetic.build_model(tmp_path / "fp32.onnx", CLASSES).read_bytes()
    cards = []
    for _ in range(2):
        images = decode(options(root), options(root).select(), synthetic.PREPROCESSING)
        variant = convert(fp32, options(root), images, synthetic.PREPROCESSING.crop_size)
        cards.append(variant.card["calibration"])
    assert cards[0] == cards[1]  # deterministic
    card = cards[0]
    skipped = [f["sample_id"] for f in card["skipped"]]
    assert skipped == corrupt["calibration"] + corrupt["holdout"]  # in selection order; unselected: absent
    assert all("cannot decode image" in f["error"] for f in card["skipped"])
    used = sorted(ids[i] for i in order[:COUNT] if ids[i] not in corrupt["calibration"])
    assert card["count"] == COUNT - 2 and card["holdout"] == HOLDOUT - 1
    assert card["sha256"] == hashlib.sha256("".join(f"{n}\n" for n in used).encode()).hexdigest()
    assert card["method"] == "minmax" and card["layout"] == "mlperf"
    assert variant.report.images == HOLDOUT - 1


def test_on_error_fail_stops_at_the_first_undecodable_image(tmp_path, calibration):
    root, _, _, corrupt = calibration
    with pytest.raises(ValueError, match="calibration image img_") as raised:
        decode(options(root, "fail"), options(root, "fail").select(), synthetic.PREPROCESSING)
    assert "\n" not in str(raised.value) and str(raised.value).split(":")[0].split()[-1] in corrupt["calibration"]
    with pytest.raises(ValueError, match="--on-error must be one of fail, skip"):
        select(str(root), on_error="ignore")


def test_nothing_decodable_is_an_error(tmp_path):
    root = tmp_path / "broken"
    for i in range(4):
        synthetic.draw(root / f"{i}.jpg", 0, "corrupt")
    (root / "val_map.txt").write_text("".join(f"{i}.jpg 1\n" for i in range(4)))
    with pytest.raises(ValueError, match="none of the 2 calibration images could be decoded"):
        select(str(root), count=2, holdout=2).decode(synthetic.PREPROCESSING, calibrate=True)


def test_export_on_error_fail_ends_with_one_line_before_exporting(tmp_path, calibration, capsys):
    root, _, _, corrupt = calibration
    repository = tmp_path / "repository"
    export = ("export", "resnet18", "--num-classes", "10", "--input-size", "32", "--precision", "int8")
    flags = ("--calibration", root, "--calibration-count", COUNT, "--holdout-count", HOLDOUT, "--on-error", "fail")
    assert convzoo(*export, *flags, "--repository", repository) == 1
    err = capsys.readouterr().err
    assert err.startswith("convzoo export: error: calibration image ") and err.count("\n") == 1, err
    assert err.split("calibration image ")[1].split(":")[0] in corrupt["calibration"]
    assert not repository.exists()
