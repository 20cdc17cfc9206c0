"""The ``sweep`` subcommand (registered as ``convzoo.commands``); torch loads only when it runs."""

from __future__ import annotations

from pathlib import Path

from convzoo.plugins import registry
from convzoo.plugins.cli import positive_int


def register_sweep(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="export and evaluate a grid of architectures x activations x precisions, then compare",
        description="Export each (arch, activation, precision) into --repository (keeping a model whose card "
        "already matches), evaluate each on --data into --reports (keeping a report whose model sha256 and data "
        "manifest hash match), and end with compare's table and plot. Run the same command again to continue.",
    )
    p.add_argument("--archs", required=True, help="comma-separated architectures, e.g. alexnet,vgg16,resnet50")
    p.add_argument("--activations", default="relu", help="comma-separated activation variants (default: relu)")
    p.add_argument("--precisions", default="fp32", help="comma-separated fp32, fp16, int8 (default: fp32)")
    p.add_argument(
        "--weights", default="random", help="as for export: random, PATH.pth, IMAGENET1K_V1, ... (default: random)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for random weights (default: 0)")
    p.add_argument("--input-size", type=positive_int, default=224, help="square input size in pixels (default: 224)")
    p.add_argument("--data", required=True, help="dataset folder as downloaded (also calibrates fp16/int8)")
    p.add_argument("--format", default="auto", help="dataset layout, as for eval --format (default: detect)")
    p.add_argument("--repository", type=Path, required=True, help="model repository folder (Triton layout)")
    p.add_argument("--reports", type=Path, required=True, help="folder for one report per model, compare.md and .png")
    p.add_argument("--plugins", default=registry.DEFAULT_SPEC, help="as for eval --plugins")
    p.add_argument("--batch-size", type=positive_int, default=32, help="as for eval --batch-size")
    p.add_argument("--limit", type=positive_int, help="evaluate only the first N images")
    p.add_argument("--device", default="auto", help="as for eval --device")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="evaluate each cell on a Ray cluster (as for eval --ray; exports stay on this machine)",
    )
    p.add_argument("--ray-actors", type=positive_int, default=2, metavar="N", help="ONNX Runtime actors with --ray")
    p.add_argument(
        "--robustness",
        action="append",
        default=[],
        metavar="LAYOUT=PATH",
        help="also evaluate every model on this robustness set (imagenet-c, imagenet-a, imagenet-r, imagenet-sketch, "
        "or any layout) into <model>.<layout>.json; repeatable; compare adds the robustness table",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_sweep)


def _sweep(args) -> int:
    from convzoo.sweep.grid import cells
    from convzoo.sweep.robustness import parse
    from convzoo.sweep.run import Plan, sweep

    grid = cells(args.archs, args.activations, args.precisions)
    robust = tuple(parse(text) for text in args.robustness)
    plan = Plan(
        weights=args.weights,
        data=args.data,
        format=args.format,
        repository=args.repository,
        reports=args.reports,
        input_size=args.input_size,
        seed=args.seed,
        plugins=args.plugins,
        batch_size=args.batch_size,
        limit=args.limit,
        device=args.device,
        ray=args.ray,
        ray_actors=args.ray_actors,
        progress=not args.no_progress,
        robustness=robust,
    )
    print(f"sweep: {len(grid)} models: {', '.join(cell.name for cell in grid)}", flush=True)
    print(sweep(plan, grid, lambda line: print(f"sweep: {line}", flush=True)), end="")
    print(f"sweep: table {args.reports / 'compare.md'}, plot {args.reports / 'compare.png'}")
    return 0
