"""Case 7: fp16 and int8 vs fp32 of the same model and weights, loaded as the server loads
them, at batch 1 and 8 (images/s).

The variants come from ``convzoo export --precision`` (the fp32 model's seeded random
weights), int8 calibrated on drawn images: throughput does not depend on which images
calibrated, and random weights say nothing about accuracy anyway. On CPU, ONNX Runtime's x86
provider has no FP16 Conv/Gemm kernels and computes fp16 models in FP32 behind casts (no
target); int8 (QDQ, U8S8) is the CPU's figure. With ``--device cuda`` only fp16 is measured.
"""

from __future__ import annotations

import numpy as np

from benchmarks.context import Context
from benchmarks.measure import Figure, Target, interleave, load
from benchmarks.models import SEED
from benchmarks.registry import case

BATCHES = (1, 8)
TARGETS = {"int8": Target(1.2)}  # CPU (AVX-512 VNNI)
CALIBRATION, HOLDOUT = 32, 16


@case("precision", "fp16 and int8 vs fp32, same model and weights (images/s)", order=7)
def run(context: Context) -> list[Figure]:
    (arch,) = context.archs("resnet50")
    spec = context.models.spec(arch)
    fp32 = context.load_model(context.models.path(arch).parent.parent)
    cpu = context.device == "cpu"
    figures = []
    for precision in ("int8", "fp16") if cpu else ("fp16",):
        lower = context.load_model(variant(context, arch, precision))
        for batch in BATCHES:
            images = np.random.default_rng(0).standard_normal((batch, 3, spec.input_size, spec.input_size), np.float32)

            def run_lower():
                return lower.run({lower.inputs[0].name: images}, [lower.outputs[0].name])

            def run_fp32():
                return fp32.run({fp32.inputs[0].name: images}, [fp32.outputs[0].name])

            run_lower(), run_fp32()  # warm-up
            pairs = interleave(
                lambda: load(run_lower, batch, seconds=context.seconds),
                lambda: load(run_fp32, batch, seconds=context.seconds),
                context.rounds,
            )
            figures.append(
                Figure(
                    "precision",
                    f"{spec.name} {precision} batch {batch}",
                    precision,
                    "fp32",
                    "items_per_s",
                    pairs,
                    TARGETS.get(precision) if cpu else None,
                    {"device": lower.device, "report_vs_fp32": lower.card.get("precision_report")},
                )
            )
        del lower
    return figures


def variant(context: Context, arch: str, precision: str):
    """The model folder of ``arch`` in ``precision``, exported now unless it is already there."""
    from convzoo.base.card import read_card
    from convzoo.exporters.pipeline import export_model
    from convzoo.exporters.precision import PrecisionOptions

    spec = context.models.spec(arch)
    folder = context.models.root / f"{spec.name}_{precision}"
    path = folder / "1" / "model.onnx"
    wanted = {key: context.models.card(arch).get(key) for key in ("arch", "input_size", "num_classes", "weights")}
    wanted["precision"] = precision
    if path.is_file() and {key: read_card(path).get(key) for key in wanted} == wanted:
        return folder
    options = PrecisionOptions(
        precision, calibration=str(calibration_images(context)), calibration_count=CALIBRATION, holdout_count=HOLDOUT
    )
    export_model(
        spec.arch,
        context.models.root,
        weights="random",
        seed=SEED,
        name=folder.name,
        force=True,
        input_size=spec.input_size,
        num_classes=spec.num_classes,
        progress=False,
        precision=options,
    )
    return folder


def calibration_images(context: Context):
    """Smooth random-colour JPEGs in an MLPerf layout, drawn once into the work folder."""
    from PIL import Image

    root = context.work_dir / "calibration"
    if (root / "val_map.txt").is_file():
        return root
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for i in range(CALIBRATION + HOLDOUT):
        field = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        Image.fromarray(field).resize((320, 280), Image.Resampling.BILINEAR).save(root / f"{i:03d}.jpg", quality=90)
    (root / "val_map.txt").write_text("".join(f"{i:03d}.jpg {i % 10}\n" for i in range(CALIBRATION + HOLDOUT)))
    return root
