"""``convzoo compare`` puts reports side by side: table columns from card and metrics, and a plot."""

from __future__ import annotations

import json

from evalsupport import convzoo
from PIL import Image


def report(name, arch, activation, params, macs, top1, top5, ips, p50, provider="CPUExecutionProvider"):
    return {
        "model": {"name": name, "card": {"arch": arch, "activation": activation, "params": params, "macs": macs}},
        "dataset": {"layout": "devkit", "size": 50000},
        "count": 50000,
        "metrics": {"top1": top1, "top5": top5, "latency": {"images_per_second": ips, "p50_ms": p50}},
        "runtime": {"providers": [provider, "CPUExecutionProvider"]},
    }


REPORTS = [
    report("alexnet", "alexnet", "relu", 61_100_840, 714_000_000, 56.522, 79.066, 900.0, 35.5),
    report(
        "resnet50", "resnet50", "relu", 25_557_032, 4_089_000_000, 76.13, 92.862, 300.0, 106.25, "CUDAExecutionProvider"
    ),
    report(
        "vgg16-leaky", "vgg16", {"name": "leaky_relu", "slope": 0.1}, 138_357_544, 15_470_000_000, 0.1, 0.5, 80.0, 400.0
    ),
]


def write(tmp_path):
    paths = []
    for r in REPORTS:
        paths.append(tmp_path / f"{r['model']['name']}.json")
        paths[-1].write_text(json.dumps(r))
    return paths


def test_table_and_plot(tmp_path, capsys):
    paths = write(tmp_path)
    assert convzoo("compare", *paths, "--output", tmp_path / "c.md", "--plot", tmp_path / "c.png") == 0
    printed = capsys.readouterr().out
    table = (tmp_path / "c.md").read_text()
    assert printed in table
    rows = [line for line in printed.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0].strip("| ") for r in rows] == ["resnet50", "alexnet", "vgg16-leaky"]  # best top-1 first
    assert (
        "| resnet50 | resnet50 / relu | 25.56 | 4.089 | 76.130 | 92.862 | 300.0 | 106.25 | CUDAExecutionProvider |"
        in printed
    )
    assert "| vgg16-leaky | vgg16 / leaky_relu(slope=0.1) | 138.36 | 15.470 |" in printed
    with Image.open(tmp_path / "c.png") as image:
        assert image.format == "PNG" and image.width > 300


def test_reports_without_card_or_latency_show_dashes(tmp_path, capsys):
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps({"model": {"name": "foreign", "card": {}}, "metrics": {"top1": 50.0}}))
    assert convzoo("compare", path, "--plot", tmp_path / "p.png") == 0
    assert "| foreign | – | – | – | 50.000 | – | – | – | – |" in capsys.readouterr().out


def test_not_a_report_is_a_user_error(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    assert convzoo("compare", path) == 1
    assert "not a convzoo evaluation report" in capsys.readouterr().err
