"""Parity between PyTorch and ONNX Runtime on the same inputs.

Tolerance (documented in the README): on every batch, the largest absolute logit
difference must stay within ``ATOL + RTOL * max|torch logits|``, and every row's top-1
must agree unless the PyTorch logits of the two classes lie within that same bound (a
near-tie, which float rounding may break either way). The report also gives the max
relative difference (max abs difference / max |torch logit|) and top-1/top-5 agreement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

ATOL = 1e-4
RTOL = 1e-3
BATCH_SIZES = (1, 4)


@dataclass(frozen=True)
class ParityReport:
    batch_sizes: tuple[int, ...]
    max_abs_diff: float
    max_rel_diff: float
    top1_agreement: float
    top5_agreement: float
    atol: float
    rtol: float
    passed: bool
    reason: str = ""
    step_flips: int | None = None  # binary-step networks only: near-zero decisions ORT took the other way

    def to_dict(self) -> dict:
        return asdict(self) | {"batch_sizes": list(self.batch_sizes)}

    def format(self) -> str:
        verdict = "ok" if self.passed else f"FAILED: {self.reason}"
        flips = "" if self.step_flips is None else f", {self.step_flips} near-zero step flips"
        return (
            f"parity (batch {', '.join(map(str, self.batch_sizes))}): max abs diff {self.max_abs_diff:.3g}, "
            f"max rel diff {self.max_rel_diff:.3g}, top-1 agreement {self.top1_agreement:.1%}, "
            f"top-5 agreement {self.top5_agreement:.1%}{flips} (tolerance {self.atol:g} + {self.rtol:g}*max|logit|): {verdict}"
        )


def parity_inputs(input_size: int, batch_sizes=BATCH_SIZES, seed: int = 0) -> list[np.ndarray]:
    """Seeded standard-normal batches (the scale of normalized images)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, 3, input_size, input_size), dtype=np.float32) for n in batch_sizes]


def compare(
    references: list[np.ndarray],
    candidates: list[np.ndarray],
    reasons: list[str] | None = None,
    step_flips: int | None = None,
) -> ParityReport:
    """Compare PyTorch logits (``references``) with ONNX Runtime's, batch by batch.

    ``reasons`` are failures found before comparing logits (they fail the report too).
    """
    max_abs = max_rel = 0.0
    top1 = top5 = rows = 0
    reasons = list(reasons or [])
    for ref, out in zip(references, candidates):
        if ref.shape != out.shape:
            reasons.append(f"shape {list(out.shape)} != {list(ref.shape)}")
            continue
        diff = float(np.max(np.abs(ref.astype(np.float64) - out)))
        scale = float(np.max(np.abs(ref)))
        bound = ATOL + RTOL * scale
        max_abs = max(max_abs, diff)
        max_rel = max(max_rel, diff / scale if scale else diff)
        if not diff <= bound:  # also catches NaN
            reasons.append(f"max abs diff {diff:.3g} > {bound:.3g} at batch {len(ref)}")
        k = min(5, ref.shape[1])
        ref_top1, out_top1 = ref.argmax(1), out.argmax(1)
        for row, (a, b) in enumerate(zip(ref_top1, out_top1)):
            if a != b and ref[row, a] - ref[row, b] > bound:
                reasons.append(f"top-1 differs at batch {len(ref)} row {row}: {a} vs {b}")
        top1 += int(np.sum(ref_top1 == out_top1))
        ref_top5, out_top5 = np.argsort(-ref, 1)[:, :k], np.argsort(-out, 1)[:, :k]
        top5 += sum(set(a) == set(b) for a, b in zip(ref_top5, out_top5))
        rows += len(ref)
    return ParityReport(
        tuple(len(r) for r in references),
        max_abs,
        max_rel,
        top1 / rows if rows else 0.0,
        top5 / rows if rows else 0.0,
        ATOL,
        RTOL,
        not reasons,
        "; ".join(reasons),
        step_flips,
    )


def torch_logits(model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run ``model`` (in eval mode) on each batch."""
    import torch

    with torch.inference_mode():
        return [model(torch.from_numpy(x)).numpy() for x in inputs]


def onnxruntime_logits(model: bytes | str, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run an ONNX model (serialized bytes or a path) on ONNX Runtime's CPU provider."""
    return [outputs[0] for outputs in onnxruntime_outputs(model, inputs, ["logits"])]


def onnxruntime_outputs(model: bytes | str, inputs: list[np.ndarray], names: list[str]) -> list[list[np.ndarray]]:
    """The named outputs of an ONNX model for each batch, on ONNX Runtime's CPU provider."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    return [session.run(names, {"input": x}) for x in inputs]
