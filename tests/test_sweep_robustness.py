"""``convzoo sweep --robustness LAYOUT=PATH``: the robustness sets as another axis of the grid, kept on a rerun."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import evalsupport
import pytest
import synthetic
from evalsupport import CLASSES, convzoo, draw, pair_items, wnid

from convzoo.base import imagenet
from convzoo.base.datasets import open_dataset
from convzoo.plugins import job
from convzoo.sweep import robustness as sweep_robustness
from convzoo.sweep import run as sweep_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    draw(root / "val", pair_items(lambda i, label: f"{wnid(label)}/img_{i}.JPEG")[:4])
    cells = [("fog", 1, 0, 0), ("snow", 2, 1, 2)]
    for n, (corruption, severity, label, drawn) in enumerate(cells):  # 32 px: the sweep's input size
        synthetic.draw(
            root / "c" / corruption / str(severity) / wnid(CLASSES[label]) / f"{n}.JPEG", drawn, size=(32, 32)
        )
    a_class = sorted(imagenet.subset("imagenet_a"))[0]
    synthetic.draw(root / "imagenet-a" / imagenet.classes()[a_class].wnid / "0.JPEG", 0)
    return root


MODELS = ("resnet18", "resnet18_elu")


def sweep(root, capsys):
    c, a = f"imagenet-c={root / 'c'}", f"imagenet-a={root / 'imagenet-a'}"
    return evalsupport.sweep(root, capsys, "--activations", "relu,elu", "--robustness", c, "--robustness", a)


@pytest.fixture
def opens(monkeypatch):
    """How many times each dataset folder is opened, wherever the sweep and its jobs open one."""
    counted = collections.Counter()

    def counting(path, layout="auto"):
        counted[Path(path).name] += 1
        return open_dataset(path, layout)

    for module in (sweep_robustness, sweep_run, job):
        monkeypatch.setattr(module, "open_dataset", counting)
    return counted


def test_each_model_is_evaluated_on_each_set_and_kept_on_a_rerun(sets, capsys, opens):
    code, out = sweep(sets, capsys)
    assert code == 0, out
    for name in MODELS:
        c = json.loads((sets / "reports" / f"{name}.imagenet-c.json").read_text())
        a = json.loads((sets / "reports" / f"{name}.imagenet-a.json").read_text())
        assert c["count"] == 2 and c["metrics"]["corruption"]["errors"].keys() == {"fog", "snow"}
        assert c["metrics"]["mce"] is None and len(c["metrics"]["corruption"]["missing"]) == 15
        assert a["dataset"]["class_subset"] == {"name": "imagenet-a", "classes": 200}
    assert "## Robustness" in (sets / "reports" / "compare.md").read_text()
    # each set is hashed once for both models, then each evaluation opens it to run
    assert opens == {"val": 1 + len(MODELS), "c": 1 + len(MODELS), "imagenet-a": 1 + len(MODELS)}
    opens.clear()
    code, out = sweep(sets, capsys)
    assert code == 0 and "evaluating" not in out
    for name in MODELS:
        assert f"{name}: imagenet-c report kept" in out and f"{name}: imagenet-a report kept" in out
    assert opens == {"val": 1, "c": 1, "imagenet-a": 1}  # kept: each set opened and hashed once per sweep


def test_a_bad_robustness_flag_is_one_line(sets, capsys):
    code = convzoo(
        "sweep",
        "--archs",
        "resnet18",
        "--data",
        sets / "val",
        "--repository",
        sets / "r",
        "--reports",
        sets / "x",
        "--robustness",
        "imagenet-q=/x",
    )
    assert code == 1 and "unknown layout 'imagenet-q'" in capsys.readouterr().err
