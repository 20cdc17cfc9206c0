"""``convzoo export``: architecture + variant + weights -> verified ONNX in a model repository.

Order matters: every cheap check (arch, activation, name, version, existing version,
weights, precision options, calibration file list, decoding the calibration images) runs
before the expensive export, and
nothing reaches the repository unless the ONNX model passed ``onnx.checker`` and parity
with PyTorch (an fp16 variant also its top-1 gate against the fp32 model).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from convzoo.base.card import versions, with_metadata
from convzoo.base.preprocessing import TORCHVISION_DEFAULT
from convzoo.exporters.activations import DEFAULT_ACTIVATION, get_activation
from convzoo.exporters.onnx_export import DEFAULT_OPSET, check_onnx, export_onnx
from convzoo.exporters.parity import ParityReport, compare, onnxruntime_logits, parity_inputs, torch_logits
from convzoo.exporters.precision import PrecisionOptions, PrecisionReport, convert, decode
from convzoo.exporters.registry import get_architecture
from convzoo.exporters.repository import (
    CONFIG_FILE,
    DEFAULT_MAX_BATCH_SIZE,
    LABELS_FILE,
    Staging,
    config_pbtxt,
    labels_txt,
    validate_target,
)
from convzoo.exporters.step_parity import has_steps, step_parity
from convzoo.exporters.summary import Summary, summarize
from convzoo.exporters.weights import apply_weights, resolve_weights


@dataclass
class ExportResult:
    path: Path
    card: dict
    summary: Summary
    parity: ParityReport
    preprocessing: dict
    precision: PrecisionReport | None = None  # fp16/int8: agreement with the fp32 model


class ParityError(ValueError):
    """The ONNX model disagrees with PyTorch beyond the tolerance; nothing was written."""


class PrecisionError(ValueError):
    """The fp16 model disagrees with the fp32 model too often; nothing was written."""


def default_name(arch: str, activation: str, precision: str = "fp32") -> str:
    """``resnet50`` for the default variant in fp32, ``resnet50_elu`` for another, ``resnet50_int8``."""
    name = arch if activation == DEFAULT_ACTIVATION else f"{arch}_{activation}"
    return name if precision == "fp32" else f"{name}_{precision}"


def export_model(
    arch: str,
    repository: str | Path,
    *,
    activation: str = DEFAULT_ACTIVATION,
    weights: str = "random",
    num_classes: int = 1000,
    input_size: int = 224,
    opset: int = DEFAULT_OPSET,
    seed: int = 0,
    name: str | None = None,
    version: int = 1,
    force: bool = False,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    progress: bool = True,
    precision: PrecisionOptions = PrecisionOptions(),
) -> ExportResult:
    """Export one model into ``repository`` and return where it went, its card and parity."""
    spec = get_architecture(arch)
    variant = get_activation(activation)
    summary = summarize(arch, activation, num_classes, input_size)  # also validates sizes
    if max_batch_size < 1:
        raise ValueError(f"--max-batch-size must be positive, got {max_batch_size}")
    repository = Path(repository)
    precision.check()
    name = name or default_name(arch, activation, precision.precision)
    validate_target(repository, name, version, force)
    selection = precision.select()
    source = resolve_weights(weights, spec, seed, progress)
    if source.pretrained is not None and num_classes != 1000:
        raise ValueError(f"{source.source} weights have a 1000-class head; drop --num-classes or use a .pth")
    resize = source.pretrained.resize_size if source.pretrained else TORCHVISION_DEFAULT.resize_size
    recipe = TORCHVISION_DEFAULT.override(crop_size=input_size, resize_size=round(input_size * resize / 224))
    images = decode(precision, selection, recipe)

    torch.manual_seed(seed)
    model = spec.build(num_classes, variant)
    if source.state_dict is not None:
        apply_weights(model, source.state_dict, f"{arch} ({activation}, {num_classes} classes)")
    model.eval()

    with Staging(repository, name, version) as staging:
        exported = export_onnx(model, input_size, opset)
        inputs = parity_inputs(input_size)
        if has_steps(model):
            parity = step_parity(model, exported, inputs)
        else:
            parity = compare(torch_logits(model, inputs), onnxruntime_logits(exported, inputs))
        if not parity.passed:
            raise ParityError(f"ONNX Runtime disagrees with PyTorch, not written: {parity.reason}")
        preprocessing = recipe.to_dict()
        lower = None
        if precision.precision != "fp32":
            lower = convert(exported, precision, images, input_size)
            if not lower.report.passed:
                raise PrecisionError(f"{lower.report.format()}; not written")
            exported = lower.model
        card = {
            "arch": arch,
            "activation": variant.describe(),
            "num_classes": num_classes,
            "input_size": input_size,
            "weights": source.describe(),
            "params": summary.params,
            "macs": summary.macs,
            "layers": summary.card_layers(),
            "parity": parity.to_dict(),
            "versions": versions(),
            "precision": "fp32",
            "opset": opset,
        } | (lower.card if lower else {})
        final = with_metadata(exported, card, preprocessing)
        del exported
        check_onnx(final)
        staging.model_path.write_bytes(final)
        staging.write_text(CONFIG_FILE, config_pbtxt(name, input_size, num_classes, max_batch_size))
        staging.write_text(LABELS_FILE, labels_txt(num_classes))
        path = staging.install(force)
    return ExportResult(path, card, summary, parity, preprocessing, lower.report if lower else None)
