"""Triton's model repository layout, written atomically.

``<repo>/<name>/config.pbtxt``, ``<repo>/<name>/labels.txt``, ``<repo>/<name>/<version>/model.onnx``.
An export is staged in a hidden folder inside the repository (``.convzoo-staging-*``,
same file system) and renamed into place, so a failed or interrupted export never leaves
a half-written model where a server looks. Folders whose names start with ``.`` are not
models.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from convzoo.base.imagenet import NUM_CLASSES, class_names

MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.pbtxt"
LABELS_FILE = "labels.txt"
DEFAULT_MAX_BATCH_SIZE = 64
_VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def config_pbtxt(name: str, input_size: int, num_classes: int, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE) -> str:
    """Triton's ``config.pbtxt`` for an ONNX classifier (dims exclude the batch dim)."""
    return f"""name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: {max_batch_size}
input [
  {{
    name: "input"
    data_type: TYPE_FP32
    format: FORMAT_NCHW
    dims: [ 3, {input_size}, {input_size} ]
  }}
]
output [
  {{
    name: "logits"
    data_type: TYPE_FP32
    dims: [ {num_classes} ]
    label_filename: "{LABELS_FILE}"
  }}
]
"""


def labels_txt(num_classes: int) -> str:
    """ImageNet's class names for a 1000-class head, ``class_<i>`` for any other head."""
    names = class_names() if num_classes == NUM_CLASSES else [f"class_{i}" for i in range(num_classes)]
    return "".join(f"{n}\n" for n in names)


def validate_target(repository: Path, name: str, version: int, force: bool) -> None:
    """Refuse a bad name/version, or an existing version without ``force`` (before any work)."""
    if not _VALID_NAME.match(name):
        raise ValueError(f"invalid model name {name!r}: use letters, digits, '_', '-', '.'; no leading '.'")
    if version < 1:
        raise ValueError(f"--version must be a positive integer, got {version}")
    if repository.exists() and not repository.is_dir():
        raise NotADirectoryError(f"repository {repository} is not a directory")
    if (repository / name / str(version)).exists() and not force:
        raise FileExistsError(f"{repository / name / str(version)} already exists; use --force to replace it")


class Staging:
    """A hidden folder in the repository that becomes ``<repo>/<name>`` (or part of it).

    Use as a context manager: on any exception the staging folder, and a repository
    folder that this export created, are removed.
    """

    def __init__(self, repository: Path, name: str, version: int) -> None:
        self.repository, self.name, self.version = Path(repository), name, version
        self.created_repository = False
        self.path: Path | None = None

    def __enter__(self) -> Staging:
        if not self.repository.exists():
            self.repository.mkdir(parents=True)
            self.created_repository = True
        self.path = Path(tempfile.mkdtemp(prefix=".convzoo-staging-", dir=self.repository))
        # mkdtemp's folder is 0700; once renamed into place it is the model's folder, which a server
        # running as another user (the serving image's uid 1000) must read: give it mkdir's mode.
        umask = os.umask(0o022)
        os.umask(umask)
        self.path.chmod(0o777 & ~umask)
        (self.path / str(self.version)).mkdir()
        return self

    @property
    def model_path(self) -> Path:
        return self.path / str(self.version) / MODEL_FILE

    def write_text(self, file_name: str, text: str) -> None:
        (self.path / file_name).write_text(text, encoding="utf-8")

    def install(self, force: bool) -> Path:
        """Move the staged model into ``<repo>/<name>``; returns the model file's final path."""
        model_dir = self.repository / self.name
        version_dir = model_dir / str(self.version)
        if not model_dir.exists():
            os.rename(self.path, model_dir)
            self.path = None
            return version_dir / MODEL_FILE
        others = [p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit() and p.name != str(self.version)]
        for file_name in (CONFIG_FILE, LABELS_FILE):
            existing = model_dir / file_name
            if (
                others
                and existing.is_file()
                and existing.read_text(encoding="utf-8") != (self.path / file_name).read_text(encoding="utf-8")
            ):
                raise ValueError(
                    f"{existing} differs from this export's and versions {', '.join(sorted(p.name for p in others))} "
                    f"use it; export under another --name"
                )
        if version_dir.exists():
            if not force:
                raise FileExistsError(f"{version_dir} already exists; use --force to replace it")
            os.rename(version_dir, self.path / "replaced")
        os.rename(self.path / str(self.version), version_dir)
        for file_name in (CONFIG_FILE, LABELS_FILE):
            os.replace(self.path / file_name, model_dir / file_name)
        return version_dir / MODEL_FILE

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
        if exc_type is not None and self.created_repository:
            shutil.rmtree(self.repository, ignore_errors=True)
