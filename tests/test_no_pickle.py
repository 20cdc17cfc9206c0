"""No pickle anywhere but ``torch.load(weights_only=True)``: the sources say so, and a
malicious checkpoint given to ``convzoo export`` is refused without running its payload."""

from __future__ import annotations

import pickle
import re
import subprocess
from pathlib import Path

import pytest
import torch
from server_repository import VENV_BIN

ROOT = Path(__file__).parents[1]
PACKAGES = ("base", "client", "cli", "demo", "server", "plugins", "exporters", "proto", "benchmarks")
UNSAFE = re.compile(
    r"\b(import pickle|from pickle|cPickle|cloudpickle|dill|joblib|shelve|marshal\.loads?|allow_pickle\s*=\s*True"
    r"|multiprocessing|ProcessPoolExecutor|pd\.read_pickle)\b"
)


class Payload:
    """Unpickling this creates ``marker``: what an attacker's checkpoint would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_sources_use_no_pickle_but_weights_only_torch_load():
    sources = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    assert len(sources) > 50
    for path in sources:
        text = path.read_text()
        assert not UNSAFE.search(text), f"{path}: {UNSAFE.search(text).group(0)}"
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path}: {call}"


@pytest.mark.parametrize("kind", ["torch.save", "plain pickle"])
def test_a_malicious_checkpoint_is_refused_without_running(tmp_path, kind):
    marker, checkpoint = tmp_path / "pwned", tmp_path / "evil.pth"
    payload = {"fc.weight": Payload(marker)}
    if kind == "torch.save":
        torch.save(payload, checkpoint)
    else:
        checkpoint.write_bytes(pickle.dumps(payload, protocol=2))
    run = subprocess.run(
        [
            str(VENV_BIN / "convzoo"),
            "export",
            "resnet18",
            "--weights",
            str(checkpoint),
            "--input-size",
            "32",
            "--repository",
            str(tmp_path / "repo"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1
    assert (
        run.stderr.startswith(f"convzoo export: error: cannot read checkpoint {checkpoint}: ")
        and run.stderr.count("\n") == 1
    )
    assert not marker.exists() and not (tmp_path / "repo").exists()
    if kind == "torch.save":
        torch.load(checkpoint, weights_only=False)
    else:
        pickle.loads(checkpoint.read_bytes())
    assert marker.exists()  # the payload is real: loading it without weights_only runs it
