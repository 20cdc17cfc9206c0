"""The models the cases measure, and their PyTorch twins with the same weights.

Models are exported once with ``convzoo``'s own pipeline (seeded random weights) into
``<work>/repository`` and reused by later runs. ``--quick`` measures a tiny ResNet-18
(32x32 input, 10 classes) wherever a case names a model. ``serve_copy`` lays a model out in
another repository (hard links, no copies) under a config of its own.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SEED = 0


@dataclass(frozen=True)
class Spec:
    arch: str
    name: str
    input_size: int = 224
    num_classes: int = 1000


TINY = Spec("resnet18", "tiny", input_size=32, num_classes=10)


class ModelStore:
    def __init__(self, root: Path, quick: bool) -> None:
        self.root = Path(root)
        self.quick = quick

    def spec(self, arch: str | Spec) -> Spec:
        """The model measured for ``arch`` (the tiny model in quick mode); a ``Spec`` is itself."""
        if isinstance(arch, Spec):
            return arch
        return TINY if self.quick else Spec(arch, arch)

    def path(self, arch: str | Spec) -> Path:
        """The exported ``model.onnx`` of ``arch`` (exported now if the repository lacks it)."""
        from convzoo.base.card import read_card

        spec = self.spec(arch)
        path = self.root / spec.name / "1" / "model.onnx"
        if path.is_file():
            card = read_card(path)
            if (card.get("arch"), card.get("input_size"), card.get("num_classes")) == (
                spec.arch,
                spec.input_size,
                spec.num_classes,
            ):
                return path
        from convzoo.exporters.pipeline import export_model

        return export_model(
            spec.arch,
            self.root,
            weights="random",
            seed=SEED,
            name=spec.name,
            force=True,
            input_size=spec.input_size,
            num_classes=spec.num_classes,
            progress=False,
        ).path

    def card(self, arch: str) -> dict:
        from convzoo.base.card import read_card

        return read_card(self.path(arch))

    def torch_model(self, arch: str):
        """``arch`` in PyTorch, eval mode, with the weights the export got (same seed, same builder)."""
        import torch

        from convzoo.exporters.activations import DEFAULT_ACTIVATION, get_activation
        from convzoo.exporters.registry import get_architecture

        spec = self.spec(arch)
        torch.manual_seed(SEED)
        return get_architecture(spec.arch).build(spec.num_classes, get_activation(DEFAULT_ACTIVATION)).eval()

    def serve_copy(
        self, arch: str | Spec, repository: Path, name: str, max_batch_size: int, extra_config: str = ""
    ) -> Path:
        """``arch`` as model ``name`` of ``repository`` with its own config.pbtxt; returns the model folder."""
        from convzoo.exporters.repository import LABELS_FILE, config_pbtxt

        spec = self.spec(arch)
        source = self.path(arch)
        folder = Path(repository) / name
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "1").mkdir(parents=True)
        _link(source, folder / "1" / source.name)
        _link(source.parent.parent / LABELS_FILE, folder / LABELS_FILE)
        config = config_pbtxt(name, spec.input_size, spec.num_classes, max_batch_size) + extra_config
        (folder / "config.pbtxt").write_text(config)
        return folder


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copyfile(source, target)
