"""The peers' own virtual environments: KServe and MLServer are never convzoo's dependencies.

Each peer gets a venv under the peers folder (``$CONVZOO_PEERS_DIR``, else ``WORK_DIR/peers``)
with the pinned release and plain ``onnxruntime`` of the version convzoo runs on (the CPU
package of the same release); a venv that already has both is reused. ``ensure`` returns the
venv's python, or None and the reason it cannot be had.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchmarks import venv_install

PEERS_DIR_ENV = "CONVZOO_PEERS_DIR"


@dataclass(frozen=True)
class Peer:
    name: str  # the venv folder and the label in the table
    requirement: str
    module: str  # imported to check the venv

    @property
    def packages(self) -> list[str]:
        return [self.requirement, f"onnxruntime=={onnxruntime_version()}"]


def onnxruntime_version() -> str:
    """The ONNX Runtime release convzoo runs on here (either package)."""
    for package in ("onnxruntime-gpu", "onnxruntime"):
        try:
            return version(package)
        except PackageNotFoundError:
            continue
    raise RuntimeError("no onnxruntime package in convzoo's environment")


KSERVE = Peer("kserve", "kserve==0.21.*", "kserve")
MLSERVER = Peer("mlserver", "mlserver==1.7.*", "mlserver")


def peers_dir(work_dir: Path) -> Path:
    return Path(os.environ.get(PEERS_DIR_ENV) or Path(work_dir) / "peers").resolve()


def _imports(python: Path, module: str) -> bool:
    """``python`` imports ``module`` and numpy, and its onnxruntime is convzoo's release."""
    wanted = onnxruntime_version()
    check = [str(python), "-c", f"import {module}, numpy, onnxruntime as o; assert o.__version__ == {wanted!r}"]
    return python.is_file() and subprocess.run(check, capture_output=True).returncode == 0


def ensure(peer: Peer, root: Path) -> tuple[Path | None, str]:
    """The python of ``peer``'s venv under ``root`` (created and installed if missing), or None and why."""
    venv = root / peer.name
    python = venv / "bin" / "python"
    if _imports(python, peer.module):
        return python, f"{peer.name}: reusing {venv}"
    failed = venv_install.install(venv, peer.packages)
    if failed is not None:
        return None, f"{peer.name}: {failed}"
    if not _imports(python, peer.module):
        return None, f"{peer.name}: installed into {venv}, but `import {peer.module}` fails there"
    return python, f"{peer.name}: installed {' '.join(peer.packages)} into {venv}"
