"""The robustness sets are read from their published folder shapes, and A/R restrict to their classes."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest
import synthetic
from evalsupport import CLASSES, convzoo, wnid
from robustsupport import c_cells, draw_imagenet_c, subset_wnids

from convzoo.base import imagenet
from convzoo.base.datasets import detect, open_dataset
from convzoo.base.datasets.imagenet_c import BENCHMARK, EXTRA


def test_shipped_class_subsets_are_the_published_200():
    for name in ("imagenet_a", "imagenet_r"):
        indices = imagenet.subset(name)
        assert len(indices) == len(set(indices)) == 200
    assert imagenet.subset("imagenet_a") != imagenet.subset("imagenet_r")
    # Spot checks against the authors' lists: ImageNet-A starts with the stingray, R with the goldfish.
    assert subset_wnids("imagenet_a")[0] == "n01498041" and subset_wnids("imagenet_r")[0] == "n01443537"


def test_imagenet_c_both_shapes_counts_and_labels(tmp_path):
    cells = c_cells(["gaussian_noise", "saturate"], (1, 3))
    flat, families = tmp_path / "flat", tmp_path / "families"
    draw_imagenet_c(flat, cells)
    draw_imagenet_c(families, cells[:2], family="noise")
    draw_imagenet_c(families, cells[2:], family="extra")
    for root in (flat, families):
        assert detect(root) == "imagenet-c"
        dataset = open_dataset(root)
        assert len(dataset.samples) == len(cells) == 4
        assert sorted(s.label for s in dataset.samples) == sorted(CLASSES[c[2]] for c in cells)
        assert [s.sample_id.split("/")[-4:-2] for s in dataset.samples] == [
            ["gaussian_noise", "1"],
            ["gaussian_noise", "3"],
            ["saturate", "1"],
            ["saturate", "3"],
        ]
        assert not dataset.resize and "centre crop" in dataset.describe()["preprocessing"]
    assert len(BENCHMARK) == 15 and len(EXTRA) == 4


def test_imagenet_c_lists_each_folder_once(tmp_path, monkeypatch):
    cells = c_cells(["fog", "snow"], (1, 3))
    draw_imagenet_c(tmp_path, cells)
    listed = collections.Counter()
    iterdir = Path.iterdir

    def counting(folder):
        listed[folder.relative_to(tmp_path).as_posix()] += 1
        return iterdir(folder)

    monkeypatch.setattr(Path, "iterdir", counting)
    assert len(open_dataset(tmp_path, "imagenet-c").samples) == len(cells)
    assert listed["."] == listed["fog"] == listed["snow"] == 1 and max(listed.values()) == 1, listed


def test_imagenet_c_refuses_a_severity_outside_1_to_5(tmp_path):
    draw_imagenet_c(tmp_path, [("fog", 1, 0, 0)])
    (tmp_path / "fog" / "6").mkdir()
    with pytest.raises(ValueError, match="severities are folders 1 to 5"):
        open_dataset(tmp_path, "imagenet-c")


def _touch_classes(root, wnids):
    for w in wnids:
        (root / w).mkdir(parents=True)
        (root / w / "a.jpg").write_bytes(b"")


@pytest.mark.parametrize("name", ["imagenet-a", "imagenet-r"])
def test_a_and_r_detected_by_folder_name_or_full_class_set(tmp_path, name):
    wnids = subset_wnids(name.replace("-", "_"))
    _touch_classes(tmp_path / name, wnids[:3])
    assert detect(tmp_path / name) == name
    _touch_classes(tmp_path / "copy", wnids[:3])
    assert detect(tmp_path / "copy") == "imagefolder"  # a plain ImageFolder of those classes stays one
    _touch_classes(tmp_path / "whole", wnids)
    assert detect(tmp_path / "whole") == name
    dataset = open_dataset(tmp_path / "whole")
    assert len(dataset.samples) == 200 and dataset.describe()["class_subset"] == {"name": name, "classes": 200}
    assert dataset.classes == imagenet.subset(name.replace("-", "_"))


def test_a_refuses_a_class_outside_its_200(tmp_path):
    outside = next(c.wnid for c in imagenet.classes() if c.index not in imagenet.subset("imagenet_a"))
    _touch_classes(tmp_path, [subset_wnids("imagenet_a")[0], outside])
    with pytest.raises(ValueError, match="not one of the 200 imagenet-a WNIDs"):
        open_dataset(tmp_path, "imagenet-a")


def test_sketch_is_detected_by_its_folder_name_with_all_classes(tmp_path):
    _touch_classes(tmp_path / "sketch", [wnid(c) for c in CLASSES[:4]])
    assert detect(tmp_path / "sketch") == "imagenet-sketch"
    dataset = open_dataset(tmp_path / "sketch")
    assert sorted(s.label for s in dataset.samples) == sorted(CLASSES[:4]) and not dataset.classes


def _eval(data, onnx_model, out, *extra):
    argv = ["eval", "--data", data, "--model", onnx_model, "--plugins", "top1,top5", "--batch-size", 2]
    assert convzoo(*argv, "--workers", 0, "--no-progress", "--output", out, *extra) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("name", ["imagenet-a", "imagenet-r"])
def test_logits_restricted_to_the_subset_before_top_k(tmp_path, name):
    subset = set(imagenet.subset(name.replace("-", "_")))
    allowed = sorted(subset)[:7]
    outside = [i for i in range(1000) if i not in subset][:2]
    # positions: a0, x, y, a1 .. a6 (x, y outside the subset: they win wherever drawn)
    classes = (allowed[0], *outside, *allowed[1:])
    onnx_model = synthetic.build_model(tmp_path / "m.onnx", classes)
    root = tmp_path / name
    draws = [(allowed[0], 1), (allowed[2], 4), (allowed[4], 2)]  # (label, drawn position)
    for n, (label, drawn) in enumerate(draws):
        synthetic.draw(root / imagenet.classes()[label].wnid / f"{n}.JPEG", drawn)
    # Restricted: image 0 -> a0 (x is gone), image 1 right, image 2 -> a1 with a4 fifth.
    restricted = _eval(root, onnx_model, tmp_path / "r.json")
    assert restricted["dataset"]["layout"] == name
    assert restricted["dataset"]["class_subset"] == {"name": name, "classes": 200}
    assert restricted["metrics"] == {"top1": pytest.approx(200 / 3), "top5": 100.0}
    # The same files as a plain 1000-way ImageFolder: x and y win, a4 falls out of the top five.
    plain = _eval(root, onnx_model, tmp_path / "p.json", "--format", "imagefolder")
    assert plain["metrics"] == {"top1": pytest.approx(100 / 3), "top5": pytest.approx(200 / 3)}


def test_sketch_eval_is_plain_1000_way(tmp_path):
    onnx_model = synthetic.build_model(tmp_path / "m.onnx", CLASSES)
    root = tmp_path / "imagenet-sketch"
    for n, (label, drawn) in enumerate([(0, 0), (1, 2), (3, 3)]):
        synthetic.draw(root / wnid(CLASSES[label]) / f"{n}.png", drawn)
    report = _eval(root, onnx_model, tmp_path / "s.json")
    assert report["dataset"]["layout"] == "imagenet-sketch" and "class_subset" not in report["dataset"]
    assert report["metrics"] == {"top1": pytest.approx(200 / 3), "top5": 100.0}
