"""resnet18 (10 classes, 64 px) exported in fp32, fp16 and int8 on a small drawn calibration
set, served together, evaluated through the server on a set whose answers are known, and
compared.

Seeded random weights rank one class first for every image (the features' common mode
dominates), which would make every agreement trivially 100%. So the test's weights file
keeps the random backbone and gives it a head that centres and scales the features of the
drawn images: predictions spread over the classes.

The known answers: the evaluation set is labelled with the fp32 model's own top-1 (computed
here with ONNX Runtime on the card's preprocessing), so fp32 scores exactly 100% and fp16/int8
score exactly their top-1 agreement with fp32, which this test computes from the files.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from evalsupport import convzoo
from PIL import Image
from server_repository import start_server

from convzoo.base.datasets import open_dataset
from convzoo.base.loader import load_batches
from convzoo.base.preprocessing import Preprocessing
from convzoo.client.inference import InferenceClient
from convzoo.exporters.activations import get_activation
from convzoo.exporters.calibration import SELECTION_SEED
from convzoo.exporters.registry import get_architecture

ARGS = ("resnet18", "--num-classes", "10", "--input-size", "64", "--max-batch-size", "8")
RECIPE = Preprocessing(resize_size=73, crop_size=64)  # 256/224 of 64, as the export's card says
CALIBRATION, HOLDOUT = 16, 8
NAMES = {"fp32": "resnet18", "fp16": "resnet18_fp16", "int8": "resnet18_int8"}
pytestmark = pytest.mark.slow  # three ResNet-18 exports (fp32, fp16, int8 with calibration) first


def draw_set(root, count: int, seed: int, labels=None) -> None:
    """Smooth random-colour JPEGs (a 6x6 field, upscaled) listed in an MLPerf ``val_map.txt``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    lines = []
    for i in range(count):
        field = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        Image.fromarray(field).resize((96, 80), Image.Resampling.BILINEAR).save(root / f"img_{i:03d}.jpg", quality=90)
        lines.append(f"img_{i:03d}.jpg {labels[i] if labels is not None else i % 10}")
    (root / "val_map.txt").write_text("\n".join(lines) + "\n")


def model_path(repository, precision: str):
    return repository / NAMES[precision] / "1" / "model.onnx"


def logits(path, images: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": images})[0]


def images_of(samples) -> np.ndarray:
    return np.concatenate([b.images for b in load_batches(samples, RECIPE, batch_size=8)])


def centred_weights(path, images: np.ndarray) -> None:
    """resnet18's seeded random backbone with a random head over its standardized features."""
    torch.manual_seed(0)
    model = get_architecture("resnet18").build(10, get_activation("relu")).eval()
    features = []
    model.fc.register_forward_hook(lambda module, args, output: features.append(args[0]))
    with torch.inference_mode():
        model(torch.from_numpy(images))
    mean, std = features[0].mean(0), features[0].std(0) + 1e-6
    weight = torch.randn(10, 512, generator=torch.Generator().manual_seed(1)) / std / 512**0.5
    state = model.state_dict() | {"fc.weight": weight, "fc.bias": -weight @ mean}
    torch.save(state, path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The repository with the three exports, and the calibration folder."""
    root = tmp_path_factory.mktemp("precision")
    calibration, repository = root / "calibration", root / "repository"
    draw_set(calibration, CALIBRATION + HOLDOUT + 4, seed=1)  # 4 images neither calibrate nor judge
    centred_weights(root / "weights.pth", images_of(open_dataset(calibration).samples))
    for precision in NAMES:
        extra = (
            ()
            if precision == "fp32"
            else (
                "--precision",
                precision,
                "--calibration",
                calibration,
                "--calibration-count",
                CALIBRATION,
                "--holdout-count",
                HOLDOUT,
            )
        )
        assert convzoo("export", *ARGS, "--weights", root / "weights.pth", "--repository", repository, *extra) == 0
    return repository, calibration


def test_names_cards_and_sizes(exported):
    repository, calibration = exported
    cards = {}
    for precision in NAMES:
        model = onnx.load(str(model_path(repository, precision)))
        cards[precision] = json.loads({p.key: p.value for p in model.metadata_props}["card"])
        assert cards[precision]["precision"] == precision
        elem = {t.name: t.type.tensor_type.elem_type for t in [*model.graph.input, *model.graph.output]}
        assert elem == {"input": onnx.TensorProto.FLOAT, "logits": onnx.TensorProto.FLOAT}  # clients do not change
        assert (repository / NAMES[precision] / "config.pbtxt").read_text() == (
            (repository / "resnet18" / "config.pbtxt").read_text().replace('"resnet18"', f'"{NAMES[precision]}"')
        )
    size = {p: model_path(repository, p).stat().st_size for p in NAMES}
    assert size["fp16"] < 0.6 * size["fp32"] and size["int8"] < 0.35 * size["fp32"]
    assert "calibration" not in cards["fp32"] and "precision_report" not in cards["fp32"]

    samples = sorted(open_dataset(calibration).samples, key=lambda s: s.sample_id)
    order = np.random.default_rng(SELECTION_SEED).permutation(len(samples))
    listing = "".join(f"{name}\n" for name in sorted(samples[i].sample_id for i in order[:CALIBRATION]))
    int8 = cards["int8"]
    assert int8["calibration"] == {
        "layout": "mlperf",
        "count": CALIBRATION,
        "holdout": HOLDOUT,
        "method": "minmax",
        "sha256": hashlib.sha256(listing.encode()).hexdigest(),
        "selection": int8["calibration"]["selection"],
    }
    assert int8["conversion"]["format"] == "QDQ" and int8["conversion"]["weights"] == "int8 per-channel"
    assert cards["fp16"]["calibration"]["used"] is False
    for precision in ("fp16", "int8"):
        report = cards[precision]["precision_report"]
        assert report["images"] == HOLDOUT and report["inputs"] == "held-out images" and report["passed"]
        assert report["min_top1"] == (0.99 if precision == "fp16" else None)

    # the recorded agreement is the agreement on exactly the held-out images
    held_out = [samples[i] for i in order[CALIBRATION : CALIBRATION + HOLDOUT]]
    images = images_of(held_out)
    reference = logits(model_path(repository, "fp32"), images).argmax(1)
    for precision in ("fp16", "int8"):
        agreement = float(np.mean(logits(model_path(repository, precision), images).argmax(1) == reference))
        assert cards[precision]["precision_report"]["top1_agreement"] == pytest.approx(agreement)


def test_int8_graph_is_quantized_with_fp32_logits(exported):
    repository, _ = exported
    graph = onnx.load(str(model_path(repository, "int8"))).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 20
    gemm = next(n for n in graph.node if n.op_type == "Gemm")
    assert gemm.output[0] == "logits"  # the classifier's output is not re-quantized


def test_served_together_evaluated_and_compared(exported, tmp_path, capsys):
    repository, _ = exported
    evaluation = tmp_path / "evaluation"
    draw_set(evaluation, 24, seed=2, labels=[0] * 24)
    images = images_of(open_dataset(evaluation).samples)
    reference = logits(model_path(repository, "fp32"), images)
    (evaluation / "val_map.txt").write_text(
        "".join(f"img_{i:03d}.jpg {c}\n" for i, c in enumerate(reference.argmax(1)))
    )
    top5 = np.argsort(-reference, 1)[:, :5]
    expected = {}
    for precision in NAMES:
        mine = logits(model_path(repository, precision), images)
        expected[precision] = (
            100 * np.mean(mine.argmax(1) == reference.argmax(1)),
            100 * np.mean([a in set(row) for a, row in zip(reference.argmax(1), np.argsort(-mine, 1)[:, :5])]),
        )
    assert expected["fp32"] == (100.0, 100.0) and len(set(reference.argmax(1))) > 1 and top5.shape == (24, 5)

    server = start_server(repository)
    try:
        with InferenceClient(server.url) as client:
            assert {m.name: m.state for m in client.repository_index()} == {n: "READY" for n in NAMES.values()}
            for precision, name in NAMES.items():
                parameters = client.model_config(name).parameters
                assert parameters["precision"].string_value == precision
                assert json.loads(parameters["card"].string_value)["precision"] == precision
        reports = []
        for precision, name in NAMES.items():
            reports.append(tmp_path / f"{name}.json")
            assert (
                convzoo(
                    "eval",
                    "--data",
                    evaluation,
                    "--server",
                    server.url,
                    "--model",
                    name,
                    "--batch-size",
                    "8",
                    "--output",
                    reports[-1],
                    "--no-progress",
                )
                == 0
            )
            metrics = json.loads(reports[-1].read_text())["metrics"]
            assert (metrics["top1"], metrics["top5"]) == pytest.approx(expected[precision])
        metrics_text = (
            urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
        )
    finally:
        assert server.stop() == 0
    for precision, name in NAMES.items():
        assert f'convzoo_model_precision{{model="{name}",precision="{precision}",version="1"}} 1.0' in metrics_text

    capsys.readouterr()
    assert convzoo("compare", *reports, "--measure", "--repository", repository, "--measure-rounds", "3") == 0
    printed = capsys.readouterr().out
    assert "| resnet18_int8 | resnet18 / relu / int8 |" in printed and "| resnet18 | resnet18 / relu |" in printed
    for precision in ("fp16", "int8"):
        row = next(line for line in printed.splitlines() if line.startswith(f"| {NAMES[precision]} | {precision} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == "resnet18"
        assert float(cells[3]) == pytest.approx(expected[precision][0] - 100, abs=1e-3)
        assert float(cells[4]) == pytest.approx(expected[precision][1] - 100, abs=1e-3)
        mine, theirs = (float(c.replace(",", "")) for c in cells[5:7])
        assert cells[7].endswith("x") and abs(float(cells[7][:-1]) - mine / theirs) < 0.011
    assert "measured together: ONNX Runtime CPUExecutionProvider, batch 8, median of 3 interleaved rounds" in printed

    assert convzoo("compare", *reports) == 0
    assert "Speed vs fp32: not measured" in capsys.readouterr().out
