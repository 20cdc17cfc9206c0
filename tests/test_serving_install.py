"""A serving install has no torch: the wheel installed without extras into a clean venv imports
every module serving can reach, serves a model and evaluates it; export-only commands say, in one
line, which extra they need."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from evalsupport import CLASSES, Item, accuracy, draw, model, pair_items, wnid
from server_repository import start_server

ROOT = Path(__file__).resolve().parents[1]
# Every package `serve`, `infer`, `eval`, `compare` and `plugins` import from.
SERVING_PACKAGES = (
    "convzoo.proto",
    "convzoo.base",
    "convzoo.client",
    "convzoo.plugins",
    "convzoo.server",
    "convzoo.cli",
)
IMPORT_ALL = """
import importlib, importlib.util, json, pkgutil, sys
imported = []
for name in sys.argv[1:]:
    package = importlib.import_module(name)
    imported.append(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        if module.name.endswith(".__main__"):
            continue  # running it is the console command itself
        importlib.import_module(module.name)
        imported.append(module.name)
heavy = sorted(m for m in ("torch", "onnxscript", "onnxconverter_common") if m in sys.modules)
installed = sorted(m for m in ("torch", "onnxscript", "onnxconverter_common") if importlib.util.find_spec(m))
print(json.dumps({"imported": imported, "loaded": heavy, "installed": installed}))
"""
ITEMS = pair_items(lambda i, c: f"{wnid(c)}/{i}.JPEG") + [Item(f"{wnid(CLASSES[2])}/cmyk.JPEG", CLASSES[2], 2, "cmyk")]


@pytest.fixture(scope="module")
def serving_venv(tmp_path_factory) -> Path:
    """A clean venv holding the wheel built from this tree and its dependencies, no extras."""
    work = tmp_path_factory.mktemp("serving")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    done = subprocess.run(
        [*pip, "wheel", "--no-deps", "--wheel-dir", str(work), str(ROOT)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = work.glob("convzoo-*.whl")
    done = subprocess.run(
        [*pip, "--python", str(venv / "bin" / "python"), "install", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def run(venv: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_serving_install_imports_every_serving_module_without_torch(serving_venv):
    result = run(serving_venv, "python", "-c", IMPORT_ALL, *SERVING_PACKAGES)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found == {"imported": found["imported"], "loaded": [], "installed": []}
    assert {"convzoo.server.app", "convzoo.client.inference", "convzoo.plugins.job", "convzoo.cli.commands"} <= set(
        found["imported"]
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        ("export", "resnet18", "--repository", "repo"),
        ("summary", "resnet18"),
        ("sweep", "--archs", "resnet18", "--data", "data", "--repository", "repo", "--reports", "reports"),
    ],
    ids=["export", "summary", "sweep"],
)
def test_export_commands_name_the_extra_they_need_in_one_line(serving_venv, tmp_path, argv):
    result = subprocess.run(
        [str(serving_venv / "bin" / "convzoo"), *argv], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"convzoo {argv[0]}: error: needs torch, ")
    assert "pip install 'convzoo[export]'" in result.stderr
    assert "--index-url https://download.pytorch.org/whl/cpu" in result.stderr
    assert not (tmp_path / "repo").exists()


@pytest.mark.slow
def test_a_serving_install_serves_and_evaluates_a_model(serving_venv, tmp_path):
    draw(tmp_path / "data", ITEMS)
    model(tmp_path / "repo" / "synthetic" / "1" / "model.onnx")
    server = start_server(tmp_path / "repo", serve=(str(serving_venv / "bin" / "convzoo"), "serve"))
    try:
        out = tmp_path / "report.json"
        result = run(
            serving_venv,
            *("convzoo", "eval", "--server", server.url, "--model", "synthetic", "--data", str(tmp_path / "data")),
            *("--output", str(out), "--no-progress"),
        )
        assert result.returncode == 0, result.stderr
    finally:
        assert server.stop() == 0, "\n".join(server.log)
    report = json.loads(out.read_text())
    assert report["runtime"]["backend"] == "kserve-grpc"
    assert report["count"] == len(ITEMS)
    assert report["metrics"]["top1"] == accuracy(ITEMS, 1) and report["metrics"]["top5"] == accuracy(ITEMS, 5)
