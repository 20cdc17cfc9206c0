"""A Triton-layout model repository on disk.

``<repo>/<name>/config.pbtxt`` (protobuf text format, optional), ``<repo>/<name>/<version>/model.onnx``
(positive integer version folders), and any label files the config names. Unknown config
fields (Triton features convzoo does not implement) are ignored, as a warning. Every file
read stays inside the model's folder, symlinks resolved (``paths``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format

from convzoo.proto import model_config_pb2
from convzoo.server import paths

log = logging.getLogger(__name__)
CONFIG_FILE = "config.pbtxt"
DEFAULT_MODEL_FILE = "model.onnx"


@dataclass
class ModelSource:
    """What the repository holds for one model: its folder, config and version files."""

    name: str
    path: Path
    config: model_config_pb2.ModelConfig
    versions: dict[int, Path]

    def selected_versions(self) -> list[int]:
        """The versions the config's version policy serves (default: the latest one)."""
        available = sorted(self.versions)
        policy = self.config.version_policy
        choice = policy.WhichOneof("policy_choice")
        if choice == "all":
            return available
        if choice == "specific":
            missing = sorted(set(policy.specific.versions) - set(available))
            if missing:
                raise ValueError(
                    f"version_policy names versions {missing} that have no {self.model_file} in {self.path}"
                )
            return sorted(set(policy.specific.versions))
        count = policy.latest.num_versions if choice == "latest" else 1
        return available[-max(count, 1) :]

    @property
    def model_file(self) -> str:
        return self.config.default_model_filename or DEFAULT_MODEL_FILE

    def file(self, relative: str | Path) -> Path:
        """A file of this model's folder; ValueError if it leads outside (``..``, absolute, symlink)."""
        return paths.inside(self.path, self.path / relative, f"model '{self.name}': file")


def model_names(root: Path) -> list[str]:
    """The model folders in a repository, sorted."""
    if not root.is_dir():
        raise OSError(f"model repository {root} is not a directory")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def parse_config(text: str, origin: str = CONFIG_FILE) -> model_config_pb2.ModelConfig:
    """Parse config.pbtxt text; raises ValueError naming the file and the problem."""
    config = model_config_pb2.ModelConfig()
    try:
        text_format.Parse(text, config, allow_unknown_field=True)
    except text_format.ParseError as exc:
        raise ValueError(f"{origin}: {exc}") from None
    return config


def read_model(root: Path, name: str) -> ModelSource:
    """Read one model folder; raises ValueError/OSError with the reason it cannot serve."""
    path = root / paths.check_name(name)
    if not path.is_dir():
        raise LookupError(f"model '{name}' is not in the repository {root}")
    paths.inside(root, path, f"model '{name}': folder")
    config_path = paths.inside(path, path / CONFIG_FILE, f"model '{name}': file")
    config = (
        parse_config(config_path.read_text(), str(config_path))
        if config_path.exists()
        else model_config_pb2.ModelConfig()
    )
    if config.name and config.name != name:
        raise ValueError(f"{config_path}: name '{config.name}' does not match the folder name '{name}'")
    config.name = name
    source = ModelSource(name=name, path=path, config=config, versions={})
    for folder in path.iterdir():
        if folder.is_dir() and folder.name.isdigit() and int(folder.name) > 0:
            file = source.file(Path(folder.name) / source.model_file)
            if file.is_file():
                source.versions[int(folder.name)] = file
    if not source.versions:
        raise ValueError(f"model '{name}' has no version folder with {source.model_file} in {path}")
    return source


def read_labels(path: Path) -> list[str]:
    """One label per line (trailing newline and blank final lines ignored)."""
    return path.read_text(encoding="utf-8").rstrip("\n").split("\n")
