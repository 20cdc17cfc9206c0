"""Every dataset layout of docs/datasets.md reads the true labels, and auto-detection says which."""

from __future__ import annotations

import pytest
from evalsupport import CLASSES, convzoo, meta_mat, shuffled_ids, val_name, wnid

from convzoo.base import imagenet
from convzoo.base.datasets import detect, formats, layouts, open_dataset


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def labels_by_id(dataset):
    return {s.sample_id: s.label for s in dataset.samples}


def test_imagefolder_subset_keeps_canonical_indices(tmp_path):
    chosen = [CLASSES[3], CLASSES[0]]  # two classes out of 1000: folder position would say 0 and 1
    for c in chosen:
        touch(tmp_path / wnid(c) / "a.JPEG")
        touch(tmp_path / wnid(c) / "b.png")
    touch(tmp_path / wnid(chosen[0]) / "notes.txt")
    assert detect(tmp_path) == "imagefolder"
    dataset = open_dataset(tmp_path)
    expected = {f"{wnid(c)}/{f}": c for c in chosen for f in ("a.JPEG", "b.png")}
    assert labels_by_id(dataset) == expected
    assert dataset.describe()["classes"] == 2


def test_devkit_uses_ilsvrc_ids_not_sorted_wnid_order(tmp_path):
    ids = shuffled_ids()
    wnid_to_id = {w: i for i, w in ids.items()}
    truth = [CLASSES[(n * 5) % len(CLASSES)] for n in range(8)]  # deliberately not the shipped labels
    data = tmp_path / "ILSVRC2012_devkit_t12" / "data"
    meta_mat(data / "meta.mat", ids)
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{wnid_to_id[wnid(c)]}\n" for c in truth))
    for n in (1, 3, 8):
        touch(tmp_path / "ILSVRC2012_img_val" / val_name(n))
    assert any(wnid_to_id[wnid(c)] != c + 1 for c in truth)  # the IDs differ from sorted index + 1
    assert detect(tmp_path) == "devkit"
    dataset = open_dataset(tmp_path)
    assert labels_by_id(dataset) == {f"ILSVRC2012_img_val/{val_name(n)}": truth[n - 1] for n in (1, 3, 8)}


def test_flat_files_without_ground_truth_use_shipped_labels(tmp_path):
    for n in (2, 10, 49_999):
        touch(tmp_path / val_name(n))
    assert detect(tmp_path) == "flat"
    dataset = open_dataset(tmp_path)
    shipped = imagenet.val_labels()
    assert [s.sample_id for s in dataset.samples] == [val_name(n) for n in (2, 10, 49_999)]
    assert [s.label for s in dataset.samples] == [shipped[n - 1] for n in (2, 10, 49_999)]


def test_kaggle_solution_csv_first_token_is_the_label(tmp_path):
    (tmp_path / "LOC_synset_mapping.txt").write_text("".join(f"{c.wnid} {c.name}\n" for c in imagenet.classes()))
    rows = [(val_name(7)[:-5], CLASSES[2]), (val_name(3)[:-5], CLASSES[5])]
    (tmp_path / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        + "".join(f"{i},{wnid(c)} 10 20 30 40 {wnid(CLASSES[0])} 1 2 3 4\n" for i, c in rows)
    )
    for image_id, _ in rows:
        touch(tmp_path / "ILSVRC" / "Data" / "CLS-LOC" / "val" / f"{image_id}.JPEG")
    assert detect(tmp_path) == "kaggle"
    dataset = open_dataset(tmp_path)
    assert labels_by_id(dataset) == {f"ILSVRC/Data/CLS-LOC/val/{i}.JPEG": c for i, c in rows}


def test_kaggle_mapping_in_another_order_is_refused(tmp_path):
    wnids = [c.wnid for c in imagenet.classes()][::-1]
    (tmp_path / "LOC_synset_mapping.txt").write_text("".join(f"{w} x\n" for w in wnids))
    (tmp_path / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n")
    with pytest.raises(ValueError, match="order"):
        open_dataset(tmp_path)


def test_imagenetv2_folders_sort_numerically(tmp_path):
    for folder in ("970", "65", "109", "230"):
        touch(tmp_path / folder / "b.jpeg")
        touch(tmp_path / folder / "a10.jpeg")
        touch(tmp_path / folder / "a9.jpeg")
    assert sorted(["970", "65", "109", "230"]) == ["109", "230", "65", "970"]  # string order is wrong
    assert detect(tmp_path) == "imagenetv2"
    dataset = open_dataset(tmp_path)
    assert [s.sample_id for s in dataset.samples[:3]] == ["65/a9.jpeg", "65/a10.jpeg", "65/b.jpeg"]
    assert [s.label for s in dataset.samples] == [65] * 3 + [109] * 3 + [230] * 3 + [970] * 3


def test_mlperf_val_map(tmp_path):
    (tmp_path / "val_map.txt").write_text(f"{val_name(1)} 65\n{val_name(2)} 970\n\n")
    assert detect(tmp_path) == "mlperf"
    assert labels_by_id(open_dataset(tmp_path)) == {val_name(1): 65, val_name(2): 970}


def test_generic_csv_by_file_or_folder_with_index_or_wnid(tmp_path):
    (tmp_path / "labels.csv").write_text(f"file,label\nimgs/x.png,{CLASSES[1]}\nimgs/y.jpg,{wnid(CLASSES[4])}\n")
    expected = {"imgs/x.png": CLASSES[1], "imgs/y.jpg": CLASSES[4]}
    assert detect(tmp_path) == "csv"
    assert labels_by_id(open_dataset(tmp_path)) == expected
    assert labels_by_id(open_dataset(tmp_path / "labels.csv")) == expected


def test_explicit_label_file_beats_flat_fallback_and_ambiguity_names_candidates(tmp_path):
    touch(tmp_path / val_name(1))
    (tmp_path / "val_map.txt").write_text(f"{val_name(1)} 3\n")
    assert detect(tmp_path) == "mlperf"  # MLPerf's own copy is flat files + val_map.txt
    (tmp_path / "labels.csv").write_text(f"file,label\n{val_name(1)},4\n")
    with pytest.raises(ValueError, match="candidates: mlperf, csv"):
        open_dataset(tmp_path)
    assert open_dataset(tmp_path, "csv").samples[0].label == 4


def test_unknown_layout_and_bad_labels_are_errors(tmp_path):
    (tmp_path / "stray").mkdir()
    with pytest.raises(ValueError, match="no known dataset layout"):
        open_dataset(tmp_path)
    with pytest.raises(ValueError, match="not an ImageNet-1k WNID"):
        open_dataset(tmp_path, "imagefolder")
    (tmp_path / "val_map.txt").write_text("a.JPEG 1000\n")
    with pytest.raises(ValueError, match="outside"):
        open_dataset(tmp_path, "mlperf")


def test_builtin_layouts_are_entry_points_tried_in_their_order(capsys):
    installed = layouts()
    builtin = ["imagefolder", "devkit", "flat", "kaggle", "imagenetv2", "mlperf", "csv"]
    assert [name for name in installed if name in builtin] == builtin
    assert [installed[name].order for name in builtin] == sorted(installed[name].order for name in builtin)
    assert [name for name, layout in installed.items() if layout.fallback] == ["flat"]
    assert formats()[0] == "auto" and set(builtin) <= set(formats())
    assert convzoo("plugins", "--layouts") == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == list(installed)
