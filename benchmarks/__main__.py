"""``python -m benchmarks``: run the cases, print the Markdown table, write the JSON.

python -m benchmarks                          # every default case, about 6-9 minutes on 2 cores
python -m benchmarks --cases runtime,serving  # some of them
python -m benchmarks --quick                  # a tiny model and short samples (smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import registry, report
from benchmarks.context import Context


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", help="comma-separated cases (default: every default case); see --list")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--quick", action="store_true", help="tiny model, 2 rounds of short samples")
    parser.add_argument("--rounds", type=int, help="A/B rounds per figure (default: 5; quick: 2)")
    parser.add_argument("--seconds", type=float, help="length of one timed sample (default: 1.0; quick: 0.05)")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="ONNX Runtime intra-op and PyTorch threads (default: the CPU count, %(default)s)",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    parser.add_argument(
        "--work-dir", type=Path, default=Path("out/bench"), help="exported models, images, repositories"
    )
    parser.add_argument("--output", type=Path, help="JSON results (default: WORK_DIR/results.json)")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = registry.select(args.cases)
    if args.list:
        for c in registry.discover():
            print(f"{c.name:<12} {c.title}{'' if c.default else '  (only when named)'}")
        return 0
    context = Context(
        args.work_dir,
        rounds=args.rounds or (2 if args.quick else 5),
        seconds=args.seconds if args.seconds is not None else (0.05 if args.quick else 1.0),
        threads=args.threads,
        device=args.device,
        quick=args.quick,
    )
    started = datetime.now(timezone.utc)
    figures, timings = [], {}
    for c in cases:
        tick = time.perf_counter()
        print(f"case {c.name}: {c.title} ...", file=sys.stderr, flush=True)
        figures += c.run(context)
        timings[c.name] = time.perf_counter() - tick
    table = report.markdown(figures)
    print(table)
    results = {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
        "settings": {
            "cases": [c.name for c in cases],
            "rounds": context.rounds,
            "seconds": context.seconds,
            "threads": context.threads,
            "device": context.device,
            "quick": context.quick,
        },
        "machine": report.machine(),
        "versions": report.versions(),
        "providers": sorted(context.providers),
        "case_seconds": timings,
        "figures": [report.figure_json(f) for f in figures],
    }
    output = args.output or args.work_dir / "results.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(table)
    print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
