"""A third-party architecture: a throw-away distribution, found by ``importlib.metadata`` through
PYTHONPATH, registers ``pinwheel`` (written only as an ``nn.Module`` builder) in the
``convzoo.architectures`` entry-point group; ``convzoo summary`` and ``convzoo export`` use
it through the CLI, and the exported model serves the module's own logits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
from server_repository import VENV_BIN, start_server

from convzoo.base.card import read_card
from convzoo.client.inference import InferenceClient

MODULE = '''
"""A small residual network, written once."""

import torch
from torch import nn

from convzoo.exporters.activations import DEFAULT_ACTIVATION, get_activation
from convzoo.exporters.registry import register_model


class Pinwheel(nn.Module):
    def __init__(self, num_classes, activation):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1)
        self.act1 = activation.module(8)
        self.conv2 = nn.Conv2d(8, 8, kernel_size=3, padding=1, bias=False)
        self.act2 = activation.module(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.conv1(x)
        x = self.act1(x)
        identity = x
        x = self.conv2(x)
        x = x + identity
        x = self.act2(x)
        x = self.pool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


@register_model
def pinwheel(*, num_classes=1000, activation=DEFAULT_ACTIVATION):
    return Pinwheel(num_classes, get_activation(activation))
'''

# What ``export --weights random`` builds (seed 0), run on the test batch; and its parameter count.
REFERENCE = """
import json, sys
import numpy as np, torch
import pinwheel_zoo
torch.manual_seed(0)
model = pinwheel_zoo.pinwheel(num_classes=10).eval()
with torch.inference_mode():
    logits = model(torch.from_numpy(np.load(sys.argv[1]))).numpy()
np.save(sys.argv[2], logits)
print(json.dumps({"params": sum(p.numel() for p in model.parameters())}))
"""

CLASSES, SIZE = 10, 32


def distribution(root):
    """``pinwheel_zoo`` and its ``.dist-info`` (entry point included) in ``root``: what pip would install."""
    (root / "pinwheel_zoo").mkdir(parents=True)
    (root / "pinwheel_zoo" / "__init__.py").write_text(textwrap.dedent(MODULE))
    info = root / "pinwheel_zoo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pinwheel-zoo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[convzoo.architectures]\npinwheel = pinwheel_zoo\n")
    return dict(os.environ, PYTHONPATH=str(root))


def start(command, env):
    return subprocess.Popen(
        [str(c) for c in command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def finish(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


def test_a_third_party_architecture_summarises_exports_and_serves(tmp_path):
    env = distribution(tmp_path / "site")
    batch = np.random.default_rng(0).standard_normal((3, 3, SIZE, SIZE)).astype(np.float32)
    np.save(tmp_path / "batch.npy", batch)
    repository = tmp_path / "repository"
    sized = ("--num-classes", CLASSES, "--input-size", SIZE)
    # Three independent processes at once: the CLI's summary and export, and the module itself.
    summary = start([VENV_BIN / "convzoo", "summary", "pinwheel", *sized, "--json"], env)
    export = start([VENV_BIN / "convzoo", "export", "pinwheel", *sized, "--repository", repository], env)
    reference = start([sys.executable, "-c", REFERENCE, tmp_path / "batch.npy", tmp_path / "logits.npy"], env)

    own = json.loads(finish(reference))
    data = json.loads(finish(summary))
    assert data["arch"] == "pinwheel" and data["params"] == own["params"] == 224 + 576 + 90
    rows = {row["name"]: row for row in data["layers"]}
    assert list(rows) == ["conv1", "act1", "conv2", "add", "act2", "pool", "flatten", "fc"]
    assert rows["conv2"] == {
        "name": "conv2",
        "kind": "Conv2d 3x3/1",
        "output_shape": [8, 16, 16],
        "params": 576,
        "macs": 576 * 16 * 16,
    }
    assert data["macs"] == (216 + 576) * 16 * 16 + 80

    assert "parity" in finish(export)
    card = read_card(repository / "pinwheel" / "1" / "model.onnx")
    assert card["arch"] == "pinwheel" and card["params"] == own["params"] and card["parity"]["passed"]
    server = start_server(repository)
    try:
        with InferenceClient(server.url) as client:
            served = client.infer("pinwheel", batch)
    finally:
        assert server.stop() == 0
    np.testing.assert_allclose(served, np.load(tmp_path / "logits.npy"), rtol=1e-4, atol=1e-5)
