"""``convzoo eval`` when its report cannot be written: a read-only folder, or a full disk
(simulated honestly with RLIMIT_FSIZE: the kernel refuses the write with EFBIG, as it refuses
one on a full disk with ENOSPC). The run ends with one clear line and the previous report is
left as it was."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from pathlib import Path

import pytest
from evalsupport import CLASSES, Item, draw, model, wnid
from server_repository import VENV_BIN

# As root, permission bits do not stop writes: drop the capabilities that bypass them.
AS_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []


@pytest.fixture
def previous(tmp_path) -> tuple[list[str], Path]:
    """An eval command and the report an earlier run of it wrote."""
    draw(tmp_path / "data", [Item(f"{wnid(CLASSES[i % 4])}/{i}.JPEG", CLASSES[i % 4], i % 4) for i in range(8)])
    report = tmp_path / "reports" / "report.json"
    command = [
        str(VENV_BIN / "convzoo"),
        "eval",
        "--data",
        str(tmp_path / "data"),
        "--model",
        str(model(tmp_path / "m.onnx")),
        "--device",
        "cpu",
        "--plugins",
        "top1",
        "--batch-size",
        "4",
        "--workers",
        "0",
        "--checkpoint-every",
        "0",
        "--no-progress",
        "--output",
        str(report),
    ]
    assert subprocess.run(command, capture_output=True, timeout=120).returncode == 0
    report.write_text('{"previous": true}\n')
    return command, report


def assert_one_line_and_intact(run: subprocess.CompletedProcess, report: Path, reason: str) -> None:
    assert run.returncode == 1
    assert run.stderr == f"convzoo eval: error: cannot write {report}: {reason}\n"
    assert report.read_text() == '{"previous": true}\n'
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.json", "report.md"]  # no temporary left


@pytest.mark.skipif(
    bool(AS_USER) and not shutil.which("setpriv"), reason="as root, needs setpriv to drop CAP_DAC_OVERRIDE"
)
def test_read_only_folder(previous):
    command, report = previous
    report.parent.chmod(0o555)
    try:
        run = subprocess.run(AS_USER + command, capture_output=True, text=True, timeout=120)
    finally:
        report.parent.chmod(0o755)
    assert_one_line_and_intact(run, report, "Permission denied")


def test_disk_full(previous):
    command, report = previous

    def small_files() -> None:  # in the child, before exec; Python ignores SIGXFSZ, so writes fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))

    run = subprocess.run(command, capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    assert_one_line_and_intact(run, report, "File too large")
