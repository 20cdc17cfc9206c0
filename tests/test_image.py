"""The serving image (``make image``), smoke-tested without a container runtime: its root
filesystem unpacked from the OCI archive, ``convzoo serve`` started in it by chroot as uid 1000
on a repository bound read-only at /mnt/models, checked from outside with tritonclient (gRPC and
REST, each in its own process as in test_tritonclient.py) and Prometheus, then drained by SIGTERM.

``make image-test`` builds the image and runs this with ``CONVZOO_IMAGE`` naming the archive;
without it the test builds one itself (deploy/image/build.sh, a few minutes). ``make test``
leaves the ``image`` marker out (see README.md, "The serving image").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from image_rootfs import MODELS, entrypoint, mounted, unpack
from server_repository import build_repository, start_server

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).parent
pytestmark = [pytest.mark.slow, pytest.mark.image]
CHECKS = ("live_and_ready", "server_metadata", "model_metadata", "classification_with_labels", "image_bytes_input")


def missing() -> str | None:
    """Why the image cannot be built or run here, or ``None``."""
    if os.geteuid() != 0:
        return "the image test needs root (mmdebstrap, chroot, mount)"
    if not os.environ.get("CONVZOO_IMAGE"):
        for tool in ("mmdebstrap", "podman"):
            if shutil.which(tool) is None:
                return f"the image test needs {tool} (apt-get install {tool}) or CONVZOO_IMAGE=ARCHIVE"
    return None


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    if reason := missing():
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("image")
    archive = os.environ.get("CONVZOO_IMAGE")
    if not archive:
        subprocess.run([str(ROOT / "deploy" / "image" / "build.sh"), str(work), sys.executable], check=True)
        (archive,) = work.glob("convzoo-*-cpu.oci.tar")
    yield unpack(Path(archive), work)
    shutil.rmtree(work)  # the root filesystem, and a built image: close to 2 GB


def inside(image, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([*entrypoint(image)[:-2], *argv], capture_output=True, text=True, timeout=120)


def test_the_image_runs_convzoo_serve_as_uid_1000_on_mnt_models(image):
    config = image.config
    assert config["Entrypoint"] == ["convzoo", "serve"]
    assert config["Cmd"][:2] == ["--repository", MODELS]
    assert config["User"] == "1000:1000" and config["WorkingDir"] == "/home/convzoo"
    assert set(config["ExposedPorts"]) == {"8000/tcp", "8001/tcp", "8002/tcp"}
    assert (image.root / "home" / "convzoo").stat().st_uid == 1000


def test_the_image_has_no_torch_and_runs_onnxruntime_on_cpu(image):
    probe = (
        "import importlib.util, onnxruntime; "
        "print(importlib.util.find_spec('torch'), onnxruntime.get_available_providers())"
    )
    result = inside(image, "python3", "-c", probe)
    assert result.returncode == 0, result.stderr
    spec, providers = result.stdout.split(" ", 1)
    assert spec == "None" and "CPUExecutionProvider" in providers and "CUDA" not in providers
    assert inside(image, "id", "-u").stdout.strip() == "1000"


def check(script: str, url: str, name: str) -> None:
    run = subprocess.run(
        [sys.executable, str(TESTS / script), url, name], capture_output=True, text=True, timeout=120, cwd=TESTS
    )
    assert run.returncode == 0, f"{script} {name}:\n{run.stdout}{run.stderr}"


def test_serve_in_the_image_answers_grpc_rest_and_metrics_then_drains(image, tmp_path):
    repository = build_repository(tmp_path / "repository")
    with mounted(image, repository):
        server = start_server(Path(MODELS), "--host", "127.0.0.1", serve=entrypoint(image))
        try:
            status = Path(f"/proc/{server.process.pid}/status").read_text()
            assert re.search(r"^Uid:\s+1000\s", status, re.MULTILINE), status
            for name in CHECKS:
                check("tritonclient_checks.py", server.url, name)
                check("tritonclient_http_checks.py", server.http_url, name)
            with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=30) as response:
                metrics = response.read().decode()
            match = re.search(r'^nv_inference_request_success\{model="classifier",version="1"\} (\S+)$', metrics, re.M)
            assert match and float(match.group(1)) >= 4, metrics
        finally:
            code = server.stop()
    assert code == 0, "\n".join(server.log)
    assert any("draining" in line for line in server.log), "\n".join(server.log)
