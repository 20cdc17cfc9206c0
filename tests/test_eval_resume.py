"""A run killed with SIGKILL at a random batch and resumed ends with exactly the metrics of an
uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from evalsupport import CLASSES, Item, convzoo, draw, model, wnid

PLUGINS = "top1,top3,top5,per_class,confusion,calibration"
# A backend slowed to 50 ms a batch, so the kill lands mid-run.
SLOW_RUN = """
import sys, time
from convzoo.plugins import backends
infer = backends.OnnxBackend.infer
backends.OnnxBackend.infer = lambda self, images: (time.sleep(0.05), infer(self, images))[1]
from evalsupport import convzoo
sys.exit(convzoo(*sys.argv[1:]))
"""


@pytest.fixture
def setup(tmp_path):
    items = [Item(f"{wnid(CLASSES[i % 12])}/{i}.JPEG", CLASSES[i % 12], (i * 7) % 12) for i in range(60)]
    draw(tmp_path / "data", items)
    onnx_model = model(tmp_path / "synthetic.onnx")
    return tmp_path, onnx_model


def args(tmp_path, onnx_model, name, *extra):
    return [
        "eval",
        "--data",
        tmp_path / "data",
        "--model",
        onnx_model,
        "--plugins",
        PLUGINS,
        "--batch-size",
        "2",
        "--checkpoint-every",
        "1",
        "--workers",
        "2",
        "--no-progress",
        "--output",
        tmp_path / f"{name}.json",
        "--predictions",
        tmp_path / f"{name}.csv",
        *extra,
    ]


def test_kill_and_resume_gives_identical_metrics(setup):
    tmp_path, onnx_model = setup
    assert convzoo(*args(tmp_path, onnx_model, "whole")) == 0
    whole = json.loads((tmp_path / "whole.json").read_text())

    checkpoint = tmp_path / "killed.json.checkpoint.json"
    kill_at = random.randrange(2, 50, 2)  # images done (batches of 2) when the kill comes
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUN, *map(str, args(tmp_path, onnx_model, "killed"))],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        checkpoint.exists() and json.loads(checkpoint.read_text())["position"] >= kill_at
    ):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    position = json.loads(checkpoint.read_text())["position"]
    assert kill_at <= position < 60 and not (tmp_path / "killed.json").exists(), (kill_at, position)

    assert convzoo(*args(tmp_path, onnx_model, "killed", "--resume")) == 0
    resumed = json.loads((tmp_path / "killed.json").read_text())
    assert resumed["timing"]["resumed"] is True and resumed["count"] == whole["count"] == 60
    assert resumed["metrics"] == whole["metrics"]
    assert (tmp_path / "killed.csv").read_text() == (tmp_path / "whole.csv").read_text()
    assert not checkpoint.exists()


def test_resume_refuses_a_checkpoint_of_another_evaluation(setup, capsys):
    tmp_path, onnx_model = setup
    checkpoint = tmp_path / "r.json.checkpoint.json"
    checkpoint.write_text(json.dumps({"version": 1, "identity": {"model": "other"}}))
    assert convzoo(*args(tmp_path, onnx_model, "r", "--resume")) == 1
    assert "different evaluation" in capsys.readouterr().err


def test_resume_without_checkpoint_runs_from_the_start(setup):
    tmp_path, onnx_model = setup
    assert convzoo(*args(tmp_path, onnx_model, "fresh", "--resume")) == 0
    assert json.loads((tmp_path / "fresh.json").read_text())["count"] == 60
