"""``convzoo compare`` with precision variants: which reports pair with an fp32 report, the
accuracy deltas, and the speed ratio only when measured together."""

from __future__ import annotations

import json

import synthetic
from evalsupport import CLASSES, convzoo

WEIGHTS = {"source": "random", "sha256": "abc"}


def report(tmp_path, name, precision, top1, top5, root="/data/val", weights=WEIGHTS, model_file=None):
    card = {
        "arch": "resnet18",
        "activation": {"name": "relu"},
        "num_classes": 1000,
        "input_size": 224,
        "weights": weights,
        "params": 11_689_512,
        "macs": 1_814_000_000,
    }
    if precision:
        card["precision"] = precision
    data = {
        "model": {"name": name, "source": str(model_file or f"grpc://127.0.0.1:1/{name}"), "card": card},
        "dataset": {"layout": "devkit", "root": root, "size": 100},
        "count": 100,
        "metrics": {"top1": top1, "top5": top5, "latency": {"images_per_second": 50.0, "p50_ms": 20.0}},
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


def precision_rows(printed: str) -> dict[str, list[str]]:
    table = printed.split("| model | precision |")[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in r.strip("|").split("|")] for r in rows)}


def test_deltas_pair_only_the_same_model_on_the_same_data(tmp_path, capsys):
    paths = [
        report(tmp_path, "resnet18", None, 70.0, 89.0),  # cards before precision existed are fp32
        report(tmp_path, "resnet18_int8", "int8", 69.25, 89.5),
        report(tmp_path, "resnet18_fp16", "fp16", 70.0, 89.0),
        report(tmp_path, "other_data_int8", "int8", 60.0, 80.0, root="/data/v2"),
        report(tmp_path, "other_weights_int8", "int8", 60.0, 80.0, weights={"source": "x.pth", "sha256": "def"}),
    ]
    assert convzoo("compare", *paths) == 0
    printed = capsys.readouterr().out
    assert "| resnet18_int8 | resnet18 / relu / int8 | 11.69 | 1.814 | 69.250 |" in printed
    assert "| resnet18 | resnet18 / relu | 11.69 |" in printed
    rows = precision_rows(printed)
    assert rows == {
        "resnet18_int8": ["int8", "resnet18", "-0.750", "0.500", "–", "–", "–"],
        "resnet18_fp16": ["fp16", "resnet18", "0.000", "0.000", "–", "–", "–"],
    }
    assert "Speed vs fp32: not measured (run compare with --measure" in printed


def test_no_precision_table_without_variants(tmp_path, capsys):
    assert convzoo("compare", report(tmp_path, "resnet18", "fp32", 70.0, 89.0)) == 0
    assert "precision" not in capsys.readouterr().out


def test_measure_times_local_files_together(tmp_path, capsys):
    fp32 = synthetic.build_model(tmp_path / "a.onnx", CLASSES)
    int8 = synthetic.build_model(tmp_path / "b.onnx", CLASSES)
    paths = [
        report(tmp_path, "resnet18", "fp32", 70.0, 89.0, model_file=fp32),
        report(tmp_path, "resnet18_int8", "int8", 69.0, 88.0, model_file=int8),
        report(tmp_path, "resnet18_fp16", "fp16", 70.0, 89.0),
    ]  # served, no --repository: not timed
    assert convzoo("compare", *paths, "--measure", "--measure-batch-size", "4", "--measure-rounds", "5") == 0
    printed = capsys.readouterr().out
    rows = precision_rows(printed)
    mine, theirs, ratio = rows["resnet18_int8"][4:]
    assert abs(float(ratio[:-1]) - float(mine.replace(",", "")) / float(theirs.replace(",", ""))) < 0.011
    assert rows["resnet18_fp16"][4:6] == ["–", rows["resnet18_int8"][5]] and rows["resnet18_fp16"][6] == "–"
    assert "measured together: ONNX Runtime CPUExecutionProvider, batch 4, median of 5 interleaved rounds" in printed
