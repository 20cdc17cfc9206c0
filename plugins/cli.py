"""The ``eval``, ``compare`` and ``plugins`` subcommands (registered as ``convzoo.commands``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from convzoo.base import datasets
from convzoo.base.loader import ON_ERROR
from convzoo.client import channel
from convzoo.plugins import registry, robustness

DEFAULT_WORKERS = min(4, os.cpu_count() or 1)


def positive_int(text: str) -> int:
    """An argparse type: a positive integer, or a usage error naming the text."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def register_eval(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a model on an ImageNet copy with plugins",
        description="Evaluate an ONNX classifier (in-process or on a KServe v2 "
        "gRPC server) on a dataset, with metric plugins.",
    )
    parser.add_argument(
        "--data",
        required=True,
        help="dataset folder as downloaded (or, with --remote, a dataset name the server registered)",
    )
    parser.add_argument("--format", default="auto", choices=datasets.formats(), help="dataset layout (default: detect)")
    parser.add_argument("--model", required=True, help="an ONNX file, or with --server the served model's name")
    parser.add_argument(
        "--server",
        metavar="HOST:PORT[,...]",
        help="infer through this KServe v2 gRPC endpoint, or a fleet of replicas (HOST:PORT,HOST:PORT or "
        "dns:///NAME:PORT) balanced round-robin, a call to a failed replica retried on another",
    )
    parser.add_argument(
        "--model-version", default="", help="model version on the server (default: the server's choice)"
    )
    parser.add_argument("--remote", action="store_true", help="run the whole evaluation inside the convzoo server")
    parser.add_argument(
        "--shared-memory",
        action="store_true",
        help="with --server on this machine: send batches through /dev/shm (Triton's system shared memory), "
        "not in the message; a server elsewhere gets them in the message, with one line saying so",
    )
    channel.add_arguments(parser)
    parser.add_argument(
        "--plugins",
        default=registry.DEFAULT_SPEC,
        help=f"comma-separated plugins (default {registry.DEFAULT_SPEC}; see `convzoo plugins`)",
    )
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--limit", type=positive_int, help="evaluate only the first N images")
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="decode/preprocess threads (0: decode inline)"
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="in-process ONNX Runtime device: auto, cpu, cuda or cuda:N (an explicit cuda never falls back to CPU silently)",
    )
    parser.add_argument(
        "--on-error",
        default="skip",
        choices=ON_ERROR,
        help="an undecodable file: skip it (listed in the report) or stop",
    )
    parser.add_argument(
        "--draft",
        action="store_true",
        help="opt-in fast JPEG decoding: large JPEGs are DCT-downscaled before the resize; not bit-exact, so accuracy may differ from the exact transform",
    )
    parser.add_argument("--resize-size", type=positive_int, help="override the model's preprocessing resize")
    parser.add_argument("--crop-size", type=positive_int, help="override the model's preprocessing crop")
    parser.add_argument(
        "--interpolation", choices=("nearest", "bilinear", "bicubic"), help="override the model's resampling filter"
    )
    parser.add_argument("--output", type=Path, help="write the JSON report here (and a .md summary next to it)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint next to --output")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=50,
        metavar="N",
        help="checkpoint every N batches (with --output; 0: never)",
    )
    parser.add_argument("--predictions", type=Path, metavar="CSV", help="write per-image top-5 predictions")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run on a Ray cluster (needs convzoo[ray]): ADDRESS as ray.init takes it (auto, ray://host:10001, "
        "host:port); without one a local Ray starts. Data and model must be at the same paths on every node",
    )
    parser.add_argument(
        "--ray-actors", type=positive_int, default=2, metavar="N", help="ONNX Runtime actors with --ray (default: 2)"
    )
    robustness.add_arguments(parser)
    parser.set_defaults(func=_eval)


def eval_spec(args):
    """The ``JobSpec`` of parsed ``convzoo eval`` arguments."""
    from convzoo.plugins.evaluate import Settings
    from convzoo.plugins.spec import JobSpec, Overrides, RayOptions, Remote

    if args.remote and not args.server:
        raise ValueError("--remote needs --server")
    if args.shared_memory and not args.server:
        raise ValueError("--shared-memory sends batches to a --server on this machine (not with --remote)")
    remote = None
    if args.server:
        security = channel.Security.from_args(args)
        remote = Remote(args.server, args.model_version, security, inside=args.remote, shared_memory=args.shared_memory)
    return JobSpec(
        data=args.data,
        model=args.model,
        format=args.format,
        plugins=args.plugins,
        settings=Settings(args.batch_size, args.limit, args.workers, args.on_error, args.draft),
        device=args.device,
        overrides=Overrides(args.resize_size, args.crop_size, args.interpolation),
        robustness=robustness.RobustnessOptions.from_args(args),
        remote=remote,
        ray=RayOptions(args.ray or None, args.ray_actors, args.device) if args.ray is not None else None,
        output=args.output,
        resume=args.resume,
        checkpoint_every=args.checkpoint_every,
        predictions=args.predictions,
        progress=not args.no_progress,
    )


def _eval(args) -> int:
    from convzoo.plugins import job

    report = job.execute(eval_spec(args))
    metrics = report["metrics"]
    summary = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))
    print(
        f"{report['model']['name']} on {report['dataset']['layout']} ({report['count']} images"
        f"{', %d skipped' % report['skipped']['count'] if report['skipped']['count'] else ''}): {summary}"
    )
    if args.output:
        print(f"report: {args.output} (summary {args.output.with_suffix('.md')})")
    return 0


def register_compare(subparsers) -> None:
    parser = subparsers.add_parser("compare", help="compare evaluation reports side by side")
    parser.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    parser.add_argument("--output", type=Path, help="write the Markdown table here")
    parser.add_argument("--plot", type=Path, help="write a PNG of top-1 against GMACs")
    parser.add_argument(
        "--html",
        type=Path,
        help="write one self-contained HTML page: the table, an interactive plot, per-class accuracy, confused pairs",
    )
    parser.add_argument(
        "--measure",
        action="store_true",
        help="time each fp16/int8 model and its fp32 model together now (CPU, interleaved) for the speed ratio",
    )
    parser.add_argument("--repository", type=Path, help="find served models' ONNX files here (for --measure)")
    parser.add_argument("--measure-batch-size", type=positive_int, default=8)
    parser.add_argument("--measure-rounds", type=positive_int, default=20)
    parser.set_defaults(func=_compare)


def _compare(args) -> int:
    from convzoo.plugins import compare_html
    from convzoo.plugins.compare import compare, load

    sys.stdout.write(
        compare(
            args.reports,
            args.output,
            args.plot,
            args.measure,
            args.repository,
            args.measure_batch_size,
            args.measure_rounds,
        )
    )
    if args.html:
        compare_html.write(load(args.reports), args.reports, args.html)
    return 0


def register_plugins(subparsers) -> None:
    parser = subparsers.add_parser("plugins", help="list installed evaluation plugins")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--server",
        metavar="HOST:PORT[,...]",
        help="list a convzoo server's plugins and datasets instead (a fleet list asks one replica)",
    )
    which.add_argument(
        "--layouts", action="store_true", help="list the installed dataset layouts in auto-detection order instead"
    )
    channel.add_arguments(parser)
    parser.set_defaults(func=_plugins)


def _layouts() -> int:
    rows = datasets.describe()
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        fallback = " (only when no other layout matches)" if r["fallback"] else ""
        print(f"{r['name']:<{width}}  {r['order']:>5}  {r['description']}{fallback}  [{r['distribution']}]")
    return 0


def _plugins(args) -> int:
    if args.layouts:
        return _layouts()
    if args.server:
        from convzoo.plugins.remote import server_catalog

        plugins, datasets = server_catalog(args.server, channel.Security.from_args(args))
        rows = [{"name": p.name, "description": p.description, "distribution": p.distribution} for p in plugins]
        for d in datasets:
            print(f"dataset {d.name}: {d.layout}, {d.size} images, {d.classes} classes")
    else:
        rows = registry.describe()
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['description']}  [{r['distribution']}]")
    print("aliases: topN = topk with k=N (e.g. top1,top5)")
    return 0
