"""``convzoo eval`` gives the exact expected top-1/top-5 on every dataset layout."""

from __future__ import annotations

import json

import pytest
from evalsupport import accuracy, convzoo, draw, flat_items, meta_mat, model, pair_items, shuffled_ids, val_name, wnid


def imagefolder(root):
    items = pair_items(lambda i, c: f"{wnid(c)}/img_{i}.JPEG")
    draw(root, items)
    return items


def devkit(root):
    ids = shuffled_ids(seed=1)
    wnid_to_id = {w: i for i, w in ids.items()}
    items = pair_items(lambda i, c: f"ILSVRC2012_img_val/{val_name(i + 1)}")
    data = root / "ILSVRC2012_devkit_t12" / "data"
    meta_mat(data / "meta.mat", ids)
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text(
        "".join(f"{wnid_to_id[wnid(item.label)]}\n" for item in items) + "1\n" * 5
    )
    draw(root, items)
    return items


def flat(root):
    items = flat_items("ILSVRC2012_img_val/")
    draw(root, items)
    return items


def kaggle(root):
    items = pair_items(lambda i, c: f"ILSVRC/Data/CLS-LOC/val/{val_name(i + 1)}")
    (root / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        + "".join(f"{val_name(i + 1)[:-5]},{wnid(item.label)} 1 2 3 4\n" for i, item in enumerate(items))
    )
    draw(root, items)
    return items


def imagenetv2(root):
    items = pair_items(lambda i, c: f"{c}/{i}.jpeg")
    draw(root, items)
    return items


def mlperf(root):
    items = pair_items(lambda i, c: f"images/{i}.JPEG")
    (root / "val_map.txt").write_text("".join(f"{item.file} {item.label}\n" for item in items))
    draw(root, items)
    return items


def csvfile(root):
    items = pair_items(lambda i, c: f"pics/{i}.png")
    (root / "labels.csv").write_text(
        "file,label\n"
        + "".join(f"{item.file},{wnid(item.label) if i % 2 else item.label}\n" for i, item in enumerate(items))
    )
    draw(root, items)
    return items


LAYOUTS = {
    "imagefolder": imagefolder,
    "devkit": devkit,
    "flat": flat,
    "kaggle": kaggle,
    "imagenetv2": imagenetv2,
    "mlperf": mlperf,
    "csv": csvfile,
}


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    return model(tmp_path_factory.mktemp("model") / "synthetic.onnx")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_exact_top1_top5_per_layout(layout, tmp_path, onnx_model, capsys):
    data = tmp_path / "data"
    data.mkdir()
    items = LAYOUTS[layout](data)
    assert 0 < accuracy(items, 1) < accuracy(items, 5) < 100
    out = tmp_path / "report.json"
    assert (
        convzoo(
            "eval",
            "--data",
            data,
            "--model",
            onnx_model,
            "--plugins",
            "top1,top5",
            "--batch-size",
            3,
            "--workers",
            2,
            "--output",
            out,
            "--no-progress",
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["dataset"]["layout"] == layout
    assert report["count"] == len(items)
    assert report["metrics"] == {"top1": accuracy(items, 1), "top5": accuracy(items, 5)}
    assert f"on {layout} ({len(items)} images)" in capsys.readouterr().out
