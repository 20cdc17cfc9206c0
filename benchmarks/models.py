"""The models the cases measure, and their PyTorch twins with the same weights.

Models are exported once with ``convzoo``'s own pipeline (seeded random weights) into
``<work>/repository`` and reused by later runs. ``--quick`` measures a tiny ResNet-18
(32x32 input, 10 classes) wherever a case names a model. ``serve_copy`` lays a model out in
another repository (hard links, no copies) under a config of its own. ``write_pooling`` builds
a cheap model with ``onnx.helper`` (no export) for cases that measure the transport.
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


def write_pooling(repository: Path, name: str, input_size: int, max_batch_size: int) -> Path:
    """A cheap model ``name`` in ``repository``: FP32 ``[N, 3, input_size, input_size]`` ->
    GlobalAveragePool -> Flatten -> ``[N, 3]``, built with ``onnx.helper``; returns the model folder.
    Its compute is one pass over the input, so a large batch measures the transport, not the model."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["means"], axis=1),
        ],
        "pooling",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, input_size, input_size])],
        [helper.make_tensor_value_info("means", TensorProto.FLOAT, ["batch", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    folder = Path(repository) / name
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "1").mkdir(parents=True)
    onnx.save(model, folder / "1" / "model.onnx")
    (folder / "config.pbtxt").write_text(
        f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: {max_batch_size}\n'
        f'input [ {{ name: "input" data_type: TYPE_FP32 dims: [ 3, {input_size}, {input_size} ] }} ]\n'
        'output [ { name: "means" data_type: TYPE_FP32 dims: [ 3 ] } ]\n'
    )
    return folder
