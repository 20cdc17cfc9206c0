"""A third-party distribution adds a metric and a dataset layout, and the CLI uses both.

The distribution is written into ``tmp_path`` as an installed one looks to importlib.metadata
(a ``*.dist-info`` folder with METADATA and entry_points.txt beside its module) and put on the
``PYTHONPATH`` of ``convzoo`` subprocesses only. Its metric's entry-point name (``misses``)
differs from its class's ``name`` (``top1_misses``), so resuming proves checkpoints are keyed
by the entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from evalsupport import CLASSES, Item, accuracy, draw, model, ranked, wnid

MODULE = '''
"""Extras for convzoo: a metric and a dataset layout, as a third party would write them."""

from pathlib import Path

from convzoo.base.datasets import Dataset, Layout
from convzoo.base.datasets.dataset import class_index, sample
from convzoo.plugins.api import Batch, Metric, top_classes


class Top1Misses(Metric):
    """The files whose top-1 prediction is wrong."""

    name = "top1_misses"

    def __init__(self):
        self.add_state("files", [], "cat")
        self.add_state("images", 0, "sum")
        self.add_state("largest_batch", 0, "max")

    def update(self, batch: Batch) -> None:
        predicted = top_classes(batch.logits, 1)[:, 0]
        self.files += [i for i, p, t in zip(batch.sample_ids, predicted.tolist(), batch.labels.tolist()) if p != t]
        self.images += len(batch.labels)
        self.largest_batch = max(self.largest_batch, len(batch.labels))

    def compute(self) -> dict:
        return {"misses": {"files": sorted(self.files), "of": self.images, "largest_batch": self.largest_batch}}


class TsvList(Layout):
    """labels.tsv: one <file> TAB <class index or WNID> per line."""

    order = 650  # after mlperf (600), before csv (700)

    def detect(self, root: Path) -> bool:
        return (root / "labels.tsv").is_file()

    def read(self, root: Path) -> Dataset:
        rows = [line.split("\\t") for line in (root / "labels.tsv").read_text().splitlines() if line]
        samples = [sample(root, root / f, class_index(label, f"labels.tsv:{f}")) for f, label in rows]
        return Dataset("tab-separated", root, tuple(samples), "labels.tsv")
'''

ENTRY_POINTS = """
[convzoo.plugins]
misses = zoo_extras:Top1Misses

[convzoo.datasets]
tsvlist = zoo_extras:TsvList
"""

# The interrupted run: a backend slowed to 50 ms a batch, so the kill lands mid-run.
SLOW_RUN = """
import sys, time
from convzoo.plugins import backends
infer = backends.OnnxBackend.infer
backends.OnnxBackend.infer = lambda self, images: (time.sleep(0.05), infer(self, images))[1]
from convzoo.cli.commands import main
sys.exit(main(sys.argv[1:]))
"""

ITEMS = [Item(f"imgs/{i}.JPEG", CLASSES[i % 12], (i * 5) % 12) for i in range(40)]


@pytest.fixture
def extras(tmp_path):
    """The installed-looking distribution, a drawn tsvlist dataset and the synthetic model."""
    site = tmp_path / "site"
    info = site / "zoo_extras-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-extras\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "zoo_extras.py").write_text(textwrap.dedent(MODULE))
    data = tmp_path / "data"
    draw(data, ITEMS)
    (data / "labels.tsv").write_text(
        "".join(f"{item.file}\t{wnid(item.label) if i % 2 else item.label}\n" for i, item in enumerate(ITEMS))
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return tmp_path, data, model(tmp_path / "synthetic.onnx"), env


def convzoo_command() -> list[str]:
    found = shutil.which("convzoo", path=str(Path(sys.executable).parent)) or shutil.which("convzoo")
    assert found, "the convzoo console script is not installed"
    return [found]


def run(env, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([*convzoo_command(), *map(str, argv)], env=env, capture_output=True, text=True)


def eval_args(tmp_path, data, onnx_model, name, *extra):
    return [
        "eval",
        "--data",
        data,
        "--model",
        onnx_model,
        "--plugins",
        "misses,top1",
        "--batch-size",
        2,
        "--checkpoint-every",
        1,
        "--workers",
        1,
        "--no-progress",
        "--output",
        tmp_path / f"{name}.json",
        *extra,
    ]


def test_listed_by_the_cli(extras):
    _, _, _, env = extras
    listed = run(env, "plugins")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("misses "))
    assert "The files whose top-1 prediction is wrong." in row and row.endswith("[zoo-extras 0.1]")
    layouts = run(env, "plugins", "--layouts")
    assert layouts.returncode == 0, layouts.stderr
    names = [line.split()[0] for line in layouts.stdout.splitlines()]
    assert names.index("mlperf") + 1 == names.index("tsvlist") == names.index("csv") - 1
    choices = "{auto,imagefolder,imagenet-a,imagenet-r,imagenet-sketch,imagenet-c,devkit,flat,kaggle,imagenetv2,mlperf,tsvlist,csv}"
    assert choices in run(env, "eval", "--help").stdout.replace("\n", "").replace(" ", "")


def test_used_by_eval_and_resumed_after_a_kill(extras):
    tmp_path, data, onnx_model, env = extras
    whole = run(env, *eval_args(tmp_path, data, onnx_model, "whole", "--format", "tsvlist"))
    assert whole.returncode == 0, whole.stderr
    report = json.loads((tmp_path / "whole.json").read_text())
    wrong = sorted(item.file for item in ITEMS if ranked(item.drawn)[0] != item.label)
    assert 0 < len(wrong) < len(ITEMS)
    assert report["metrics"] == {
        "misses": {"files": wrong, "of": len(ITEMS), "largest_batch": 2},
        "top1": accuracy(ITEMS, 1),
    }
    assert report["dataset"]["layout"] == "tsvlist" and report["dataset"]["labels_from"] == "labels.tsv"
    assert [p["name"] for p in report["plugins"]] == ["misses", "topk"]

    # Killed mid-run with --format auto (the new layout is detected), then resumed.
    checkpoint = tmp_path / "killed.json.checkpoint.json"
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUN, *map(str, eval_args(tmp_path, data, onnx_model, "killed"))], env=env
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        checkpoint.exists() and json.loads(checkpoint.read_text())["position"] >= 10
    ):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    saved = json.loads(checkpoint.read_text())
    assert 10 <= saved["position"] < len(ITEMS) and not (tmp_path / "killed.json").exists()
    assert [p["name"] for p in saved["plugins"]] == ["misses", "topk"]  # entry points, not class names

    resumed = run(env, *eval_args(tmp_path, data, onnx_model, "killed", "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    again = json.loads((tmp_path / "killed.json").read_text())
    assert again["timing"]["resumed"] is True and again["dataset"]["layout"] == "tsvlist"
    assert again["metrics"] == report["metrics"] and again["count"] == report["count"] == len(ITEMS)
    assert not checkpoint.exists()
