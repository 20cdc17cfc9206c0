"""The ``export`` and ``summary`` subcommands (registered through ``convzoo.commands``).

Registering must stay cheap: torch is imported only when a command runs.
"""

from __future__ import annotations

import json

from convzoo.base.loader import ON_ERROR
from convzoo.exporters.calibration import DEFAULT_COUNT, DEFAULT_HOLDOUT


def register_export(subparsers) -> None:
    p = subparsers.add_parser("export", help="export an architecture to verified ONNX in a model repository")
    p.add_argument("arch", help="architecture, e.g. alexnet, vgg16, resnet50")
    p.add_argument("--activation", default="relu", help="activation variant (default: relu)")
    p.add_argument(
        "--weights",
        default="random",
        help="random (seeded), PATH.pth, IMAGENET1K_V1, IMAGENET1K_V2 or DEFAULT (default: random)",
    )
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--input-size", type=int, default=224, help="square input size in pixels (default: 224)")
    p.add_argument("--opset", type=int, default=20)
    p.add_argument("--seed", type=int, default=0, help="seed for random weights (default: 0)")
    p.add_argument("--repository", required=True, help="model repository folder (Triton layout)")
    p.add_argument("--name", help="model name (default: ARCH, or ARCH_ACTIVATION for a non-default variant)")
    p.add_argument("--version", type=int, default=1)
    p.add_argument("--max-batch-size", type=int, default=64)
    p.add_argument("--force", action="store_true", help="replace an existing version")
    p.add_argument("--precision", default="fp32", help="fp32 (default), fp16 or int8 (name gets _fp16/_int8)")
    p.add_argument(
        "--calibration",
        metavar="PATH",
        help="dataset folder whose images calibrate int8 (needed) and judge fp16/int8 against fp32",
    )
    p.add_argument("--calibration-format", default="auto", help="its layout, as for eval --format (default: detect)")
    p.add_argument(
        "--calibration-count",
        type=int,
        default=DEFAULT_COUNT,
        help=f"images that calibrate int8 (default: {DEFAULT_COUNT})",
    )
    p.add_argument(
        "--holdout-count",
        type=int,
        default=DEFAULT_HOLDOUT,
        help=f"further images, never used for calibration, that judge fp16/int8 against fp32 (default: {DEFAULT_HOLDOUT})",
    )
    p.add_argument("--calibration-method", help="int8 calibration: minmax (default), entropy or percentile")
    p.add_argument(
        "--on-error",
        default="skip",
        choices=ON_ERROR,
        help="an undecodable calibration or held-out image: skip it (listed in the card; default) or stop",
    )
    p.set_defaults(func=_export)


def _export(args) -> int:
    from convzoo.exporters.pipeline import export_model
    from convzoo.exporters.precision import PrecisionOptions

    precision = PrecisionOptions(
        args.precision,
        args.calibration,
        args.calibration_format,
        args.calibration_count,
        args.holdout_count,
        args.calibration_method,
        args.on_error,
    )
    result = export_model(
        args.arch,
        args.repository,
        activation=args.activation,
        weights=args.weights,
        num_classes=args.num_classes,
        input_size=args.input_size,
        opset=args.opset,
        seed=args.seed,
        name=args.name,
        version=args.version,
        force=args.force,
        max_batch_size=args.max_batch_size,
        precision=precision,
    )
    print(
        f"{result.summary.arch} ({args.activation}): {result.summary.params:,} params, "
        f"{result.summary.macs / 1e9:.3f} GMACs, weights {result.card['weights']['source']}"
    )
    print(result.parity.format())
    if result.precision is not None:
        print(result.precision.format())
    print(f"wrote {result.path}")
    return 0


def register_summary(subparsers) -> None:
    p = subparsers.add_parser("summary", help="per-layer shapes, parameters and MACs of an architecture")
    p.add_argument("arch")
    p.add_argument("--activation", default="relu")
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_summary)


def _summary(args) -> int:
    from convzoo.exporters.summary import summarize

    summary = summarize(args.arch, args.activation, args.num_classes, args.input_size)
    print(json.dumps(summary.to_dict()) if args.json else summary.format())
    return 0
