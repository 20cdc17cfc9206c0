"""The headline exports at full size: AlexNet, VGG-16, ResNet-50 (what ``make demo`` runs),
and the binary-step ResNet-18 at full size, where float rounding flips steps."""

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from convzoo.base.card import read_card
from convzoo.demo.export import main
from convzoo.exporters.activations import get_activation
from convzoo.exporters.onnx_export import export_onnx
from convzoo.exporters.parity import parity_inputs
from convzoo.exporters.pipeline import export_model
from convzoo.exporters.registry import get_architecture
from convzoo.exporters.step_parity import step_parity

pytestmark = pytest.mark.slow  # full-size networks: AlexNet, VGG-16, ResNet-50, ResNet-18


def test_demo_exports_the_three_headline_models(tmp_path, capsys):
    repo = tmp_path / "repository"
    assert main(["--repository", str(repo)]) == 0
    out = capsys.readouterr().out
    assert out.count("parity (batch 1, 4)") == 3 and "FAILED" not in out
    assert "vgg16 (relu, 1000 classes, 224x224): 138,357,544 params, 15.470 GMACs" in out
    assert sorted(p.name for p in repo.iterdir()) == ["alexnet", "resnet50", "vgg16"]
    x = np.random.default_rng(9).standard_normal((2, 3, 224, 224), dtype=np.float32)
    for arch in ("alexnet", "vgg16", "resnet50"):
        path = repo / arch / "1" / "model.onnx"
        onnx.checker.check_model(str(path), full_check=True)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(["logits"], {"input": x})[0]
        torch.manual_seed(0)
        model = get_architecture(arch).build(1000, get_activation("relu")).eval()
        assert read_card(path)["params"] == sum(p.numel() for p in model.parameters())
        with torch.inference_mode():
            want = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, want, atol=1e-4 + 1e-3 * np.abs(want).max(), rtol=0)
        del model, session


def test_full_size_step_network_matches_under_guided_parity(tmp_path):
    result = export_model("resnet18", tmp_path, activation="step")
    assert result.parity.passed and result.parity.step_flips is not None
    assert result.parity.max_abs_diff <= 1e-4 + 1e-3 * 1.0


def test_step_parity_catches_a_real_mismatch():
    torch.manual_seed(0)
    model = get_architecture("resnet18").build(10, get_activation("step")).eval()
    exported = export_onnx(model, 32)
    with torch.no_grad():
        model.layer1[0].conv1.weight.mul_(-1)  # PyTorch now computes something else
    report = step_parity(model, exported, parity_inputs(32))
    assert not report.passed and "step decision differs" in report.reason
