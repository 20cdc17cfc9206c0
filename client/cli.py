"""``convzoo infer``: classify images with a served model."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import grpc

from convzoo.client import channel
from convzoo.client.inference import InferenceClient, InferenceServerError

IMAGE_INDEX = re.compile(r"\bimage (\d+): ")


def register_infer(subparsers) -> None:
    parser = subparsers.add_parser(
        "infer",
        help="classify images with a served model",
        description="Send encoded images to a server; print each image's top-k classes.",
    )
    parser.add_argument(
        "--server",
        required=True,
        metavar="HOST:PORT[,...]",
        help="the gRPC server, or a fleet of replicas (HOST:PORT,HOST:PORT or dns:///NAME:PORT), balanced round-robin",
    )
    parser.add_argument("--model", required=True, help="model name")
    parser.add_argument("--version", default="", help="model version (default: the latest ready one)")
    parser.add_argument("--top-k", type=int, default=5, help="classes per image (default: %(default)s)")
    channel.add_arguments(parser)
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    parser.set_defaults(func=infer)


def _naming_the_file(error: InferenceServerError, paths: list[Path]) -> Exception:
    """The server numbers the images of a request (``image 2: ...``); put the file's path in front."""
    match = IMAGE_INDEX.search(error.message)
    if error.code != grpc.StatusCode.INVALID_ARGUMENT or not match or int(match.group(1)) >= len(paths):
        return error
    return ValueError(f"{paths[int(match.group(1))]}: {error.message}")


def infer(args: argparse.Namespace) -> int:
    """Print ``rank score index label`` lines under each image path."""
    if args.top_k <= 0:
        raise ValueError(f"--top-k must be positive, got {args.top_k}")
    images = [path.read_bytes() for path in args.images]
    with InferenceClient(args.server, security=channel.Security.from_args(args)) as client:
        try:
            results = client.infer_images(args.model, images, top_k=args.top_k, version=args.version)
        except InferenceServerError as error:
            raise _naming_the_file(error, args.images) from None
    for path, classes in zip(args.images, results):
        print(path)
        for rank, item in enumerate(classes, 1):
            print(f"  {rank}  {item.score:.6f}  {item.index:>4}  {item.label}")
    return 0
