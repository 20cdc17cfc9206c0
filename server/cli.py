"""``convzoo serve``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path

from convzoo.base.codec import DEFAULT_MAX_MESSAGE_BYTES
from convzoo.base.device import CONV_ALGO_SEARCH, DeviceRequest
from convzoo.base.tokens import read_token
from convzoo.server import repository
from convzoo.server.app import ServerSettings, build
from convzoo.server.grpc import services
from convzoo.server.model import LoadOptions
from convzoo.server.tracing.config import TraceConfig

log = logging.getLogger("convzoo.server")


def register_serve(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a model repository over the KServe v2 / Triton protocol (gRPC and HTTP/REST)",
        description="Serve every model of a Triton-layout repository on ONNX Runtime (CUDA or CPU).",
    )
    parser.add_argument("--repository", type=Path, required=True, help="model repository folder")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind gRPC, HTTP and metrics to (default: %(default)s, this machine only)",
    )
    parser.add_argument(
        "--tls-cert", type=Path, metavar="PEM", help="serve gRPC and HTTP over TLS with this certificate chain"
    )
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="the private key of --tls-cert")
    parser.add_argument(
        "--auth-token-file",
        type=Path,
        metavar="FILE",
        help="require 'authorization: Bearer <token>' (gRPC metadata, HTTP header) with the token in FILE (health checks excepted)",
    )
    parser.add_argument("--port", type=int, default=8001, help="gRPC port; 0 picks a free one (default: %(default)s)")
    parser.add_argument(
        "--http-port",
        type=int,
        default=8000,
        help="v2 HTTP/REST port; 0 picks a free one, -1 disables (default: %(default)s)",
    )
    parser.add_argument(
        "--reports",
        type=Path,
        metavar="DIR",
        help="evaluation reports (*.json) the web page at http://HOST:HTTP_PORT/ compares",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=8002,
        help="Prometheus port; 0 picks a free one, -1 disables (default: %(default)s)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument(
        "--strict-device", action="store_true", help="fail a model's load instead of falling back from CUDA to CPU"
    )
    parser.add_argument(
        "--cudnn-conv-algo-search", choices=CONV_ALGO_SEARCH, default="EXHAUSTIVE", help="CUDA provider option"
    )
    parser.add_argument(
        "--intra-op-threads",
        type=int,
        default=0,
        help="ONNX Runtime threads per session; 0 (default): one per CPU this process may use (affinity, cgroup quota)",
    )
    parser.add_argument(
        "--grpc-workers",
        type=int,
        default=max(8, 4 * (os.cpu_count() or 1)),
        help="gRPC handler threads (default: %(default)s)",
    )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=4,
        help="max_batch_size of batchable models whose config sets none (default: %(default)s)",
    )
    parser.add_argument(
        "--max-queue-delay-us",
        type=int,
        default=0,
        help="dynamic batching delay for models whose config sets none (default: %(default)s)",
    )
    parser.add_argument(
        "--preferred-batch-size",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="dynamic batching preferred sizes for models whose config sets none",
    )
    parser.add_argument(
        "--max-queue-size", type=int, default=1024, help="queued requests per model before RESOURCE_EXHAUSTED"
    )
    parser.add_argument(
        "--max-message-bytes",
        type=int,
        default=DEFAULT_MAX_MESSAGE_BYTES,
        help="gRPC message and HTTP body size limit (default: %(default)s)",
    )
    parser.add_argument(
        "--grace-period",
        type=float,
        default=30.0,
        help="seconds in-flight requests get on SIGTERM (default: %(default)s)",
    )
    parser.add_argument(
        "--cache-size",
        type=int,
        default=0,
        metavar="BYTES",
        help="response cache size in bytes, shared by the models whose config.pbtxt says "
        "response_cache { enable: true } (default: no cache)",
    )
    parser.add_argument(
        "--trace-config",
        action="append",
        default=[],
        metavar="[opentelemetry,]SETTING=VALUE",
        help="tracing as Triton's flag: mode=opentelemetry, level=TIMESTAMPS, rate=N, count=N, "
        "opentelemetry,url=URL, opentelemetry,resource=KEY=VALUE, opentelemetry,protocol=grpc "
        "(repeatable; needs pip install 'convzoo[tracing]'; default: off; docs/tracing.md)",
    )
    parser.add_argument("--no-warm-up", action="store_true", help="skip running each model once at load time")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    services.add_arguments(parser)
    parser.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM/SIGINT, then drain and return 0."""
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    repository.model_names(args.repository)  # fail now, before binding, if it is not a folder
    if args.reports is not None and not args.reports.is_dir():
        raise ValueError(f"--reports {args.reports}: not a folder")
    if args.reports is not None and args.http_port < 0:
        raise ValueError("--reports shows on the HTTP port's web page; drop --http-port -1")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    if args.cache_size < 0:
        raise ValueError(f"--cache-size must be >= 0 bytes, got {args.cache_size}")
    trace = TraceConfig.parse(args.trace_config)
    requested = DeviceRequest.parse(
        args.device, strict=args.strict_device, conv_algo_search=args.cudnn_conv_algo_search
    )
    device = requested.resolve_auto()
    if requested.kind == "auto":
        log.info("--device auto: serving on %s", device.description())
    options = LoadOptions(
        device=device,
        intra_op_threads=args.intra_op_threads,
        default_max_batch_size=args.max_batch_size,
        max_queue_delay_us=args.max_queue_delay_us,
        preferred_batch_sizes=tuple(args.preferred_batch_size),
        warm_up=not args.no_warm_up,
    )
    settings = ServerSettings(
        host=args.host,
        port=args.port,
        metrics_port=None if args.metrics_port < 0 else args.metrics_port,
        http_port=None if args.http_port < 0 else args.http_port,
        reports=args.reports,
        max_message_bytes=args.max_message_bytes,
        workers=args.grpc_workers,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        auth_token=read_token(args.auth_token_file) if args.auth_token_file else None,
        max_queue_size=args.max_queue_size,
        cache_bytes=args.cache_size,
        trace=trace,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, frame: stop.set())
    server = build(args.repository, options, settings, lambda dataplane: services.create(args, dataplane))
    server.start()
    stop.wait()
    log.info("draining: finishing in-flight requests (grace %.0fs)", args.grace_period)
    server.stop(args.grace_period)
    log.info("stopped")
    return 0
