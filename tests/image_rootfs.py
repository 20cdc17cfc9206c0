"""The serving image (``make image``) unpacked and run the way a container runtime runs it, without one.

:func:`unpack` extracts an OCI archive's layers into a root filesystem and reads the image's
config; :func:`mounted` gives it ``/proc`` and a model repository bound read-only at
``/mnt/models``; :func:`entrypoint` is the command that runs the image's entrypoint inside it:
``chroot`` as the image's user, in its working directory, with only its environment. Needs root.
Used by tests/test_image.py and benchmarks/image_cold_start.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MODELS = "/mnt/models"


@dataclass(frozen=True)
class Image:
    """An unpacked image: its root filesystem and its OCI config (Entrypoint, Cmd, Env, User, ...)."""

    root: Path
    config: dict


def unpack(archive: Path, into: Path) -> Image:
    """Extract the one image of an OCI archive (``podman save --format oci-archive``) under ``into``."""
    layout = into / "oci"
    with tarfile.open(archive) as oci:
        oci.extractall(layout, filter="data")
    blob = lambda digest: layout / "blobs" / Path(*digest.split(":"))  # noqa: E731
    (entry,) = json.loads((layout / "index.json").read_text())["manifests"]
    manifest = json.loads(blob(entry["digest"]).read_text())
    config = json.loads(blob(manifest["config"]["digest"]).read_text())["config"]
    root = into / "rootfs"
    root.mkdir()
    for layer in manifest["layers"]:  # GNU tar as root keeps owners, modes and device files
        subprocess.run(["tar", "--extract", "--file", str(blob(layer["digest"])), "-C", str(root)], check=True)
    shutil.rmtree(layout)
    return Image(root, config)


@contextmanager
def mounted(image: Image, repository: Path) -> Iterator[None]:
    """``/proc`` and ``repository`` (read-only at ``/mnt/models``) mounted in the image while inside."""
    proc, models = image.root / "proc", image.root / MODELS.lstrip("/")
    models.mkdir(parents=True, exist_ok=True)
    mounts = []
    try:
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
        mounts.append(proc)
        subprocess.run(["mount", "--bind", "-o", "ro", str(repository), str(models)], check=True)
        mounts.append(models)
        yield
    finally:
        for path in reversed(mounts):
            subprocess.run(["umount", str(path)], check=True)


def entrypoint(image: Image) -> list[str]:
    """The command that runs the image's entrypoint in its root filesystem (append the arguments)."""
    config = image.config
    return [
        "chroot",
        f"--userspec={config['User']}",
        str(image.root),
        "/usr/bin/env",
        "-i",
        f"--chdir={config['WorkingDir']}",
        *config["Env"],
        *config["Entrypoint"],
    ]
