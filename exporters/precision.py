"""Precision variants of a verified fp32 export: fp16, calibrated int8, and their report.

The fp32 graph passes parity with PyTorch first; a variant is then judged against that
fp32 ONNX model on held-out images (never the calibration images): top-1/top-5 agreement
and the max logit difference. fp16 must agree on top-1 for at least ``MIN_FP16_TOP1`` of
them or the export fails; for int8 the figures are a report. Without ``--calibration``
(fp16 only) the judge inputs are seeded standard-normal batches, and the card says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from convzoo.base.preprocessing import Preprocessing
from convzoo.exporters import calibration as calibration_data
from convzoo.exporters.fp16 import to_fp16
from convzoo.exporters.int8 import check_method, quantize
from convzoo.exporters.parity import compare, onnxruntime_logits, parity_inputs

PRECISIONS = ("fp32", "fp16", "int8")
MIN_FP16_TOP1 = 0.99
RANDOM_HOLDOUT_BATCHES = (8, 8, 8, 8)
DEFAULT_METHOD = "minmax"


@dataclass(frozen=True)
class PrecisionOptions:
    """What ``--precision`` and the ``--calibration*`` flags ask for."""

    precision: str = "fp32"
    calibration: str | None = None
    calibration_format: str = "auto"
    calibration_count: int = calibration_data.DEFAULT_COUNT
    holdout_count: int = calibration_data.DEFAULT_HOLDOUT
    method: str | None = None
    on_error: str = "skip"  # an undecodable calibration/held-out image: skip it (listed in the card) or fail

    def check(self) -> None:
        """Refuse contradictory or missing options (before any work)."""
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; expected one of {', '.join(PRECISIONS)}")
        if self.precision == "int8" and not self.calibration:
            raise ValueError("--precision int8 needs calibration images: --calibration PATH (a dataset folder)")
        if self.precision == "fp32" and self.calibration:
            raise ValueError("--calibration applies to --precision fp16 or int8")
        if self.method is not None:
            if self.precision != "int8":
                raise ValueError("--calibration-method applies to --precision int8")
            check_method(self.method)

    def select(self) -> calibration_data.CalibrationSet | None:
        """The calibration and held-out samples (cheap: reads the file list only)."""
        if not self.calibration:
            return None
        return calibration_data.select(
            self.calibration, self.calibration_format, self.calibration_count, self.holdout_count, self.on_error
        )


@dataclass(frozen=True)
class PrecisionReport:
    precision: str
    inputs: str  # where the judge images came from
    images: int
    top1_agreement: float
    top5_agreement: float
    max_abs_diff: float
    max_rel_diff: float
    min_top1: float | None  # the gate (fp16), None for a report only
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)

    def format(self) -> str:
        gate = "" if self.min_top1 is None else f" (needs >= {self.min_top1:.0%}: {'ok' if self.passed else 'FAILED'})"
        return (
            f"{self.precision} vs fp32 on {self.images} {self.inputs}: top-1 agreement {self.top1_agreement:.1%}"
            f"{gate}, top-5 agreement {self.top5_agreement:.1%}, max abs logit diff {self.max_abs_diff:.3g} "
            f"(rel {self.max_rel_diff:.3g})"
        )


@dataclass(frozen=True)
class Variant:
    model: bytes
    card: dict  # the card's precision entries: precision, conversion, calibration, precision_report
    report: PrecisionReport


def decode(
    options: PrecisionOptions, selection: calibration_data.CalibrationSet | None, recipe: Preprocessing
) -> calibration_data.CalibrationImages | None:
    """The selection's images, decoded before the expensive export (so ``--on-error fail`` stops early)."""
    return selection.decode(recipe, calibrate=options.precision == "int8") if selection is not None else None


def convert(
    fp32: bytes,
    options: PrecisionOptions,
    images: calibration_data.CalibrationImages | None,
    input_size: int,
) -> Variant:
    """Convert the fp32 model as ``options`` ask and judge it against fp32."""
    card: dict = {"precision": options.precision}
    if options.precision == "fp16":
        model, card["conversion"] = to_fp16(fp32)
    else:
        method = options.method or DEFAULT_METHOD
        model, card["conversion"] = quantize(fp32, images.calibrated.batches, method)
    if images is not None:
        card["calibration"] = images.describe() | (
            {"method": card["conversion"]["method"]} if options.precision == "int8" else {"used": False}
        )
        inputs, batches = "held-out images", images.held_out.batches
    else:
        inputs, batches = "seeded standard-normal inputs", parity_inputs(input_size, RANDOM_HOLDOUT_BATCHES, seed=1)
    report = judge(fp32, model, batches, options.precision, inputs)
    card["precision_report"] = report.to_dict()
    return Variant(model, card, report)


def judge(fp32: bytes, candidate: bytes, batches: list[np.ndarray], precision: str, inputs: str) -> PrecisionReport:
    """Agreement of ``candidate`` with the fp32 model on ``batches``; fp16 is gated."""
    figures = compare(onnxruntime_logits(fp32, batches), onnxruntime_logits(candidate, batches))
    gate = MIN_FP16_TOP1 if precision == "fp16" else None
    return PrecisionReport(
        precision,
        inputs,
        sum(len(b) for b in batches),
        figures.top1_agreement,
        figures.top5_agreement,
        figures.max_abs_diff,
        figures.max_rel_diff,
        gate,
        gate is None or figures.top1_agreement >= gate,
    )
