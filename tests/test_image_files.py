"""The image's build files agree with each other: the Containerfile (podman, no container runtime)
and the Dockerfiles describe the same image, and all install through deploy/image/install.sh,
whose in-image mode (the Dockerfile's) is run here into a clean venv."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "deploy" / "image"
DOCKERFILES = ("Dockerfile", "Dockerfile.gpu")


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (IMAGE / name).read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    last = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    return [tuple(line.split(" ", 1)) for line in lines[last:]]


def runtime_settings(name: str) -> dict[str, str]:
    return {op: args for op, args in instructions(name) if op in {"USER", "WORKDIR", "EXPOSE", "ENTRYPOINT", "CMD"}}


def test_the_containerfile_has_no_run_step_and_starts_from_the_root_filesystem():
    steps = instructions("Containerfile")
    assert steps[:2] == [("FROM", "scratch"), ("ADD", "rootfs.tar /")]
    assert {op for op, _ in steps} <= {"FROM", "ADD", "COPY", "ENV", "USER", "WORKDIR", "EXPOSE", "ENTRYPOINT", "CMD"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_the_dockerfiles_run_install_sh_and_describe_the_same_image(dockerfile):
    assert runtime_settings(dockerfile) == runtime_settings("Containerfile")
    (run,) = [args for op, args in instructions(dockerfile) if op == "RUN"]
    assert "/tmp/install.sh" in run and "useradd --uid 1000" in run


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_the_dockerignore_lets_every_package_folder_through(dockerfile):
    folders = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values())
    allowed = {line[1:] for line in (IMAGE / f"{dockerfile}.dockerignore").read_text().splitlines() if line[:1] == "!"}
    assert folders | {"pyproject.toml", "README.md", "MANIFEST.in", "tools", "deploy/image/install.sh"} <= allowed


@pytest.mark.slow
def test_install_sh_installs_the_wheel_with_the_cpu_runtime_into_a_python(tmp_path):
    """What the Dockerfile's RUN does, into a clean venv instead of python:3.11-slim."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--wheel-dir", str(tmp_path), str(ROOT)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("convzoo-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=300)
    python = tmp_path / "venv" / "bin" / "python"
    install = subprocess.run(
        ["sh", str(IMAGE / "install.sh"), "onnxruntime", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, PYTHON=str(python)),
    )
    assert install.returncode == 0, install.stdout + install.stderr
    probe = (
        "import importlib.metadata as m, importlib.util as u; "
        "print(sorted(d.metadata['Name'] for d in m.distributions() if d.metadata['Name'].startswith('onnxruntime')), "
        "u.find_spec('torch'))"
    )
    found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout
    assert found.strip() == "['onnxruntime'] None"
    served = subprocess.run([str(tmp_path / "venv" / "bin" / "convzoo"), "serve", "--help"], capture_output=True)
    assert served.returncode == 0
