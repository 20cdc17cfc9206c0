"""Cold start of ``convzoo serve`` from the serving image: process start to ready.

    sudo .venv/bin/python -m benchmarks.image_cold_start --image out/image/convzoo-0.1.0-cpu.oci.tar \\
        --repository out/coldstart/repository

Unpacks the image (``make image``), then over interleaved rounds starts ``convzoo serve`` on the
repository both inside the image (chroot as uid 1000, tests/image_rootfs.py) and from this
checkout's .venv, and times each from the process's start to its "server ready" line (every
model loaded, which it checks in the log; gRPC and REST listening), then stops it with SIGTERM. The image's first start
(a cold page cache for its files) is reported on its own; the medians are over the other rounds.
Needs root (chroot, mount).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the image helpers the smoke test uses

from image_rootfs import MODELS, entrypoint, mounted, unpack  # noqa: E402
from server_repository import VENV_BIN, start_server  # noqa: E402


def time_to_ready(repository: Path, serve: list[str], models: list[str]) -> float:
    """Seconds from starting ``serve`` to its ready line, having loaded every one of ``models``;
    the server is stopped (exit 0) after."""
    start = time.perf_counter()
    server = start_server(repository, "--host", "127.0.0.1", timeout=300, serve=serve)
    elapsed = time.perf_counter() - start
    missing = [name for name in models if not any(f"loaded model '{name}'" in line for line in server.log)]
    if missing:
        server.stop()
        raise RuntimeError(f"not loaded: {', '.join(missing)}:\n" + "\n".join(server.log))
    if server.stop() != 0:
        raise RuntimeError("server did not drain cleanly:\n" + "\n".join(server.log))
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.image_cold_start", description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, required=True, help="OCI archive from make image")
    parser.add_argument("--repository", type=Path, required=True, help="model repository (e.g. resnet50 exported)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cold-start-") as work:
        image = unpack(args.image, Path(work))
        with mounted(image, args.repository.resolve()):
            inside = [*entrypoint(image)]
            venv = [str(VENV_BIN / "convzoo"), "serve"]
            models = sorted(p.name for p in args.repository.iterdir() if (p / "config.pbtxt").is_file())
            first = time_to_ready(Path(MODELS), inside, models)
            rounds = []
            for number in range(args.rounds):
                pair = [("image", Path(MODELS), inside), ("venv", args.repository, venv)]
                times = {
                    name: time_to_ready(repository, serve, models)
                    for name, repository, serve in pair[:: 1 - 2 * (number % 2)]
                }
                rounds.append(times)
                print(f"round {number + 1}: image {times['image']:.2f} s, venv {times['venv']:.2f} s", flush=True)
    image_times, venv_times = [r["image"] for r in rounds], [r["venv"] for r in rounds]
    ratios = [r["image"] / r["venv"] for r in rounds]
    print(f"image, first start after unpacking: {first:.2f} s")
    print(
        f"image: median {statistics.median(image_times):.2f} s (min {min(image_times):.2f}, max {max(image_times):.2f})"
    )
    print(f"venv:  median {statistics.median(venv_times):.2f} s (min {min(venv_times):.2f}, max {max(venv_times):.2f})")
    print(f"image/venv: median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
