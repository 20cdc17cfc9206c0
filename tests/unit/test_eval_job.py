"""The evaluation job end to end: messy files, report contents, predictions, determinism."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from evalsupport import CLASSES, Item, accuracy, convzoo, draw, flat_items, model, ranked, wnid

from convzoo.base import imagenet
from convzoo.base.preprocessing import TORCHVISION_DEFAULT
from convzoo.plugins.backends import DEFAULT_RECIPE

MESSY = [
    Item(f"{wnid(CLASSES[0])}/cmyk.JPEG", CLASSES[0], 0, "cmyk"),
    Item(f"{wnid(CLASSES[0])}/gray.JPEG", CLASSES[0], 1, "gray"),
    Item(f"{wnid(CLASSES[3])}/png_named.JPEG", CLASSES[3], 3, "png_as_jpeg"),
    Item(f"{wnid(CLASSES[3])}/broken.JPEG", CLASSES[3], 3, "corrupt"),
    Item(f"{wnid(CLASSES[5])}/ok.JPEG", CLASSES[5], 8),
    Item(f"{wnid(CLASSES[7])}/ok.JPEG", CLASSES[7], 7),
]


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    return model(tmp_path_factory.mktemp("model") / "synthetic.onnx")


@pytest.fixture
def messy(tmp_path):
    data = tmp_path / "messy"
    draw(data, MESSY)
    return data


def evaluate(data, onnx_model, out, *extra):
    code = convzoo("eval", "--data", data, "--model", onnx_model, "--output", out, "--no-progress", *extra)
    return code, (json.loads(out.read_text()) if out.exists() else None)


def test_cmyk_gray_png_decode_and_a_corrupt_file_is_reported(messy, onnx_model, tmp_path):
    code, report = evaluate(
        messy, onnx_model, tmp_path / "r.json", "--plugins", "top1,top5,latency", "--batch-size", "4"
    )
    assert code == 0
    assert report["count"] == 5 and report["dataset"]["size"] == 6
    assert report["metrics"]["top1"] == accuracy(MESSY, 1) and report["metrics"]["top5"] == accuracy(MESSY, 5)
    assert report["skipped"]["count"] == 1
    assert report["skipped"]["files"][0]["sample_id"] == MESSY[3].file
    assert "cannot decode" in report["skipped"]["files"][0]["error"]
    summary = (tmp_path / "r.md").read_text()
    assert MESSY[3].file in summary and "| top1 | 60.000 |" in summary


def test_on_error_fail_stops_naming_the_file(messy, onnx_model, tmp_path, capsys):
    code, report = evaluate(messy, onnx_model, tmp_path / "r.json", "--on-error", "fail")
    assert code == 1 and report is None
    assert MESSY[3].file in capsys.readouterr().err


def test_report_carries_card_dataset_preprocessing_runtime_and_timing(messy, onnx_model, tmp_path):
    _, report = evaluate(messy, onnx_model, tmp_path / "r.json")
    assert report["model"]["name"] == "synthetic" and report["model"]["card"]["arch"] == "synthetic"
    assert len(report["model"]["sha256"]) == 64
    assert report["dataset"]["layout"] == "imagefolder" and report["dataset"]["classes"] == 4
    assert report["preprocessing"]["resize_size"] == 32 and report["preprocessing"]["crop_size"] == 28
    assert report["runtime"]["providers"] == ["CPUExecutionProvider"]
    assert report["timing"]["wall_seconds"] > 0 and report["timing"]["resumed"] is False
    assert set(report["metrics"]) == {"top1", "top5", "latency"}
    assert report["metrics"]["latency"]["images"] == 5
    assert not (tmp_path / "r.json.checkpoint.json").exists()


def test_predictions_csv_lists_the_ranked_classes(messy, onnx_model, tmp_path):
    predictions = tmp_path / "p.csv"
    evaluate(messy, onnx_model, tmp_path / "r.json", "--predictions", predictions)
    rows = list(csv.DictReader(predictions.open()))
    good = [item for item in sorted(MESSY, key=lambda i: i.file) if item.kind != "corrupt"]
    assert [r["sample_id"] for r in rows] == [item.file for item in good]
    for row, item in zip(rows, good):
        top5 = [int(row[f"top{k}"]) for k in range(1, 6)]
        assert top5[0] == ranked(item.drawn)[0] and set(top5) == set(ranked(item.drawn)[:5])
        assert int(row["correct"]) == (ranked(item.drawn)[0] == item.label)


def test_workers_and_batch_size_do_not_change_results(tmp_path, onnx_model):
    data = tmp_path / "flat"
    items = flat_items()
    draw(data, items)
    results = []
    for workers, batch in (("0", "1"), ("3", "4"), ("2", "64")):
        out = tmp_path / f"r{workers}.json"
        _, report = evaluate(
            data,
            onnx_model,
            out,
            "--workers",
            workers,
            "--batch-size",
            batch,
            "--plugins",
            "top1,top5,per_class,confusion,calibration,real",
            "--predictions",
            tmp_path / f"p{workers}.csv",
        )
        results.append((report["metrics"], (tmp_path / f"p{workers}.csv").read_text()))
    assert results[0] == results[1] == results[2]
    metrics = results[0][0]
    assert metrics["top1"] == accuracy(items, 1) and metrics["top5"] == accuracy(items, 5)
    real = imagenet.real_labels()
    kept = [(n, item) for n, item in enumerate(items, start=1) if real[n - 1]]
    assert metrics["real_count"] == len(kept)
    assert metrics["real_top1"] == 100.0 * sum(ranked(i.drawn)[0] in real[n - 1] for n, i in kept) / len(kept)


def test_limit_and_foreign_model_without_metadata_gets_default_preprocessing(tmp_path, capsys):
    onnx_model = model(tmp_path / "foreign.onnx", preprocessing=None, card={})
    data = tmp_path / "flat"
    items = flat_items()
    draw(data, items)
    _, report = evaluate(data, onnx_model, tmp_path / "r.json", "--limit", "4", "--plugins", "top1")
    assert report["preprocessing"] == json.loads(json.dumps(TORCHVISION_DEFAULT.to_dict()))
    assert report["count"] == 4 and report["metrics"] == {"top1": accuracy(items[:4], 1)}
    assert report["runtime"]["preprocessing_from"] == DEFAULT_RECIPE
    assert "publishes no preprocessing" in capsys.readouterr().err


def test_preprocessing_flags_override_the_card(messy, onnx_model, tmp_path):
    _, report = evaluate(messy, onnx_model, tmp_path / "r.json", "--resize-size", "30", "--plugins", "top1")
    assert report["preprocessing"]["resize_size"] == 30 and report["preprocessing"]["crop_size"] == 28
    assert report["runtime"]["preprocessing_from"] == "model metadata, overridden by flags"
    assert report["metrics"]["top1"] == accuracy(MESSY, 1)


def test_draft_decoding_is_opt_in_and_recorded(messy, onnx_model, tmp_path):
    _, report = evaluate(messy, onnx_model, tmp_path / "r.json", "--draft", "--plugins", "top1")
    assert report["settings"]["draft"] is True
    assert report["metrics"]["top1"] == accuracy(MESSY, 1)  # solid colours survive DCT scaling


def test_batch_of_fixed_size_model_is_split(tmp_path):
    import onnx

    path = model(tmp_path / "m.onnx")
    proto = onnx.load(path)
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    proto.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(proto, path)
    from convzoo.plugins.backends import OnnxBackend

    backend = OnnxBackend(path)
    images = np.zeros((3, 3, 28, 28), np.float32)
    assert backend.fixed_batch == 1 and backend.infer(images).shape == (3, 1000)


def test_draft_only_changes_jpegs_twice_the_resize_size():
    import io

    from PIL import Image

    from convzoo.base.preprocessing import decode_image

    rng = np.random.default_rng(0)
    for size, changed in (((500, 375), False), ((1024, 768), True)):
        image = Image.fromarray(rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)).resize(size)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG")
        exact = TORCHVISION_DEFAULT(decode_image(buffer.getvalue()))
        draft = decode_image(buffer.getvalue(), draft=TORCHVISION_DEFAULT.resize_size)
        assert min(draft.size) >= TORCHVISION_DEFAULT.resize_size
        assert (not np.array_equal(exact, TORCHVISION_DEFAULT(draft))) == changed


def test_explicit_cuda_without_a_gpu_is_an_error_not_a_silent_cpu_run(messy, onnx_model, tmp_path, capsys):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.InferenceSession(str(onnx_model)).get_providers():
        pytest.skip("this machine runs CUDA")
    assert convzoo("eval", "--data", messy, "--model", onnx_model, "--device", "cuda", "--no-progress") == 1
    assert "--strict-device: ONNX Runtime could not create the CUDA provider" in capsys.readouterr().err
    assert convzoo("eval", "--data", messy, "--model", onnx_model, "--device", "gpu", "--no-progress") == 1
    assert "unknown device 'gpu'" in capsys.readouterr().err
