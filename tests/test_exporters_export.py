"""Real exports: ONNX Runtime runs them with a dynamic batch and agrees with PyTorch."""

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from convzoo.base.card import read_card, read_metadata
from convzoo.base.imagenet import class_names
from convzoo.base.preprocessing import Preprocessing
from convzoo.exporters.activations import ACTIVATIONS, get_activation
from convzoo.exporters.pipeline import export_model
from convzoo.exporters.registry import get_architecture


def snapshot(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*")) if root.exists() else None


def ort_logits(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x})[0]


def torch_reference(arch, activation, num_classes, seed, x):
    torch.manual_seed(seed)
    model = get_architecture(arch).build(num_classes, get_activation(activation)).eval()
    with torch.inference_mode():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.slow  # one ResNet-18 export per activation
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_every_resnet18_variant_exports_and_matches_pytorch(tmp_path, activation):
    result = export_model("resnet18", tmp_path, activation=activation, num_classes=10, input_size=32, seed=3)
    name = "resnet18" if activation == "relu" else f"resnet18_{activation}"
    assert result.path == tmp_path / name / "1" / "model.onnx"
    model = onnx.load(str(result.path))
    onnx.checker.check_model(model, full_check=True)
    ops = {node.op_type for node in model.graph.node}
    expected_ops = {"linear": set(), "step": {"Greater", "Cast"}}.get(activation, {ACTIVATIONS[activation].onnx_op})
    assert expected_ops <= ops
    # A batch size the exporter never saw, against a model built independently with the same seed.
    x = np.random.default_rng(1).standard_normal((3, 3, 32, 32), dtype=np.float32)
    got, want = ort_logits(result.path, x), torch_reference("resnet18", activation, 10, 3, x)
    assert got.shape == (3, 10)
    np.testing.assert_allclose(got, want, atol=1e-4 + 1e-3 * np.abs(want).max(), rtol=0)
    assert result.parity.passed and result.parity.batch_sizes == (1, 4)


@pytest.mark.slow  # a full-size AlexNet
def test_export_writes_tritons_layout_and_card(tmp_path, cli):
    code, out, err = cli("export", "alexnet", "--repository", tmp_path, "--seed", "5")
    assert code == 0, err
    assert "parity" in out and "ok" in out
    model_dir = tmp_path / "alexnet"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alexnet"]  # no staging left behind
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "config.pbtxt", "labels.txt"]
    config = (model_dir / "config.pbtxt").read_text()
    for line in [
        'name: "alexnet"',
        'platform: "onnxruntime_onnx"',
        "max_batch_size: 64",
        'name: "input"',
        "data_type: TYPE_FP32",
        "format: FORMAT_NCHW",
        "dims: [ 3, 224, 224 ]",
        'name: "logits"',
        "dims: [ 1000 ]",
        'label_filename: "labels.txt"',
    ]:
        assert line in config
    assert (model_dir / "labels.txt").read_text().splitlines() == class_names()

    path = model_dir / "1" / "model.onnx"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (outp,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, inp.shape[1:]) == ("input", "tensor(float)", [3, 224, 224])
    assert isinstance(inp.shape[0], str) and outp.name == "logits" and outp.shape[1] == 1000
    assert onnx.load(str(path), load_external_data=False).opset_import[0].version == 20

    card = read_card(path)
    assert card["arch"] == "alexnet" and card["activation"] == {"name": "relu"}
    assert (card["num_classes"], card["input_size"], card["params"]) == (1000, 224, 61_100_840)
    assert card["macs"] == 714_188_480 and card["precision"] == "fp32"
    assert card["weights"] == {"source": "random", "sha256": None, "seed": 5}
    assert card["parity"]["passed"] and card["parity"]["top1_agreement"] == 1.0
    # The per-layer table travels in the card; a conv row carries what its formulas need.
    assert sum(row["params"] for row in card["layers"]) == card["params"]
    first = card["layers"][0]
    assert first["conv"] == {"input_shape": [3, 224, 224], "kernel": 11, "stride": 4, "padding": 2, "bias": True}
    assert first["output_shape"][1] == (224 - 11 + 2 * 2) // 4 + 1 and first["params"] == (11 * 11 * 3 + 1) * 64
    assert set(card["versions"]) == {"torch", "onnx", "onnxruntime", "convzoo"}
    recipe = Preprocessing.from_metadata(read_metadata(path))
    assert (recipe.resize_size, recipe.crop_size) == (256, 224)
    assert session.get_modelmeta().custom_metadata_map["card"] == read_metadata(path)["card"]


def test_existing_version_needs_force_and_other_versions_stay(tmp_path, cli):
    common = ["export", "resnet18", "--repository", tmp_path, "--num-classes", "10", "--input-size", "32"]
    assert cli(*common)[0] == 0
    first = (tmp_path / "resnet18" / "1" / "model.onnx").read_bytes()
    before = snapshot(tmp_path)
    code, _, err = cli(*common, "--seed", "1")
    assert code == 1 and "already exists; use --force" in err and len(err.splitlines()) == 1
    assert snapshot(tmp_path) == before
    assert cli(*common, "--seed", "1", "--force")[0] == 0
    assert (tmp_path / "resnet18" / "1" / "model.onnx").read_bytes() != first
    assert cli(*common, "--version", "2")[0] == 0
    assert sorted(p.name for p in (tmp_path / "resnet18").iterdir()) == ["1", "2", "config.pbtxt", "labels.txt"]
    # A version whose config differs from the model's other versions is refused.
    code, _, err = cli(*common[:-1], "64", "--version", "3")
    assert code == 1 and "differs" in err
    assert not (tmp_path / "resnet18" / "3").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["resnet18"]


def test_a_failed_parity_check_writes_nothing(tmp_path, monkeypatch):
    from convzoo.exporters import pipeline

    real = pipeline.onnxruntime_logits
    monkeypatch.setattr(pipeline, "onnxruntime_logits", lambda model, xs: [y + 1.0 for y in real(model, xs)])
    repo = tmp_path / "repo"
    with pytest.raises(pipeline.ParityError, match="max abs diff"):
        export_model("resnet18", repo, num_classes=10, input_size=32)
    assert not repo.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["resnet51"], "unknown architecture 'resnet51'"),
        (["resnet18", "--activation", "swish"], "unknown activation 'swish'"),
        (["resnet18", "--weights", "missing.pth"], "checkpoint not found: missing.pth"),
        (["alexnet", "--input-size", "16"], "too small"),
        (["resnet18", "--name", "../x"], "invalid model name"),
        (["resnet18", "--version", "0"], "--version must be a positive integer"),
        (["resnet18", "--opset", "9"], "--opset must be at least 18"),
    ],
)
def test_bad_input_is_one_line_and_leaves_the_repository_alone(tmp_path, argv, message, cli):
    (tmp_path / "keep").mkdir()
    before = snapshot(tmp_path)
    code, out, err = cli(
        "export", *argv, "--repository", tmp_path, *([] if "--input-size" in argv else ["--input-size", "32"])
    )
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before


def test_unwritable_repository_is_one_line(tmp_path, cli):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = cli("export", "resnet18", "--input-size", "32", "--repository", blocker / "repo")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Not a directory" in err
    code, _, err = cli("export", "resnet18", "--input-size", "32", "--repository", blocker)
    assert code == 1 and "is not a directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_card_reader_does_not_import_torch(tmp_path):
    result = export_model("alexnet", tmp_path, num_classes=10, input_size=64)
    code = (
        "import sys, json; from convzoo.base.card import read_card; "
        f"c = read_card({str(result.path)!r}); print(json.dumps([c['arch'], 'torch' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == ["alexnet", False]
    import_pkg = "import sys, convzoo.exporters, convzoo.exporters.cli; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", import_pkg], check=True, capture_output=True, text=True).stdout.strip()
        == "False"
    )


def test_an_interrupted_export_leaves_the_repository_as_it_was(tmp_path, monkeypatch):
    from convzoo.exporters import pipeline

    export_model("resnet18", tmp_path, num_classes=10, input_size=32)
    before = snapshot(tmp_path)

    def interrupt(data):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "check_onnx", interrupt)
    with pytest.raises(KeyboardInterrupt):
        export_model("resnet18", tmp_path, num_classes=10, input_size=32, version=2)
    with pytest.raises(KeyboardInterrupt):
        export_model("resnet18", tmp_path, num_classes=10, input_size=32, seed=4, force=True)
    assert snapshot(tmp_path) == before
