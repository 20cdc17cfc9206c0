"""``--device auto`` probes CUDA quietly and says once where the model runs; ``gpu`` tests check
that an explicit CUDA device really runs on CUDA."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from evalsupport import CLASSES, Item, draw, model, wnid
from server_repository import VENV_BIN

# ONNX Runtime's own log lines look like "2026-... [E:onnxruntime:Default, file.cc:123 ...] ...".
ORT_LOG_LINE = re.compile(r"\[[VIWEF]:onnxruntime:")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("device")
    draw(root / "data", [Item(f"{wnid(CLASSES[i])}/{i}.JPEG", CLASSES[i], i) for i in range(4)])
    return root / "data", model(root / "model.onnx")


def evaluate(setup, device: str, report) -> subprocess.CompletedProcess:
    data, onnx_file = setup
    command = [VENV_BIN / "convzoo", "eval", "--data", data, "--model", onnx_file, "--device", device]
    command += ["--no-progress", "--plugins", "top1", "--output", report]
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=300)


def test_auto_says_once_where_it_runs_and_onnx_runtime_stays_quiet(setup, tmp_path):
    run = evaluate(setup, "auto", tmp_path / "report.json")
    assert run.returncode == 0, run.stderr
    assert not [line for line in run.stderr.splitlines() if ORT_LOG_LINE.search(line)], run.stderr
    lines = [line for line in run.stderr.splitlines() if "--device auto" in line]
    assert len(lines) == 1, run.stderr
    assert re.fullmatch(
        r"convzoo eval: --device auto: running on (cuda:\d+|CPU \(CPUExecutionProvider; no usable CUDA provider\))",
        lines[0],
    )
    providers = json.loads((tmp_path / "report.json").read_text())["runtime"]["providers"]
    assert ("CUDAExecutionProvider" in providers) == ("running on cuda" in lines[0])


def test_the_server_probes_quietly_too(repository_server):
    assert not [line for line in repository_server.log if ORT_LOG_LINE.search(line)], repository_server.log
    assert sum("--device auto: serving on" in line for line in repository_server.log) == 1


def test_an_explicit_device_prints_no_device_line(setup, tmp_path):
    run = evaluate(setup, "cpu", tmp_path / "report.json")
    assert run.returncode == 0 and "--device" not in run.stderr, run.stderr


@pytest.mark.gpu
def test_explicit_cuda_runs_on_cuda_with_the_same_results_as_cpu(setup, tmp_path):
    on_cuda = evaluate(setup, "cuda", tmp_path / "cuda.json")
    on_cpu = evaluate(setup, "cpu", tmp_path / "cpu.json")
    assert on_cuda.returncode == 0 and on_cpu.returncode == 0, on_cuda.stderr + on_cpu.stderr
    cuda, cpu = (json.loads((tmp_path / name).read_text()) for name in ("cuda.json", "cpu.json"))
    assert cuda["runtime"]["providers"][0] == "CUDAExecutionProvider"
    assert cuda["metrics"] == cpu["metrics"]
