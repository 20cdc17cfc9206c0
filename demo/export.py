"""The main job's export step: AlexNet, VGG-16 and ResNet-50 into a model repository.

``python -m convzoo.demo.export --repository out/repository`` exports the three
headline models (seeded random weights: no download), printing each one's summary and
parity, then a side-by-side table.
"""

from __future__ import annotations

import argparse
import sys

from convzoo.exporters.pipeline import ExportResult, export_model

HEADLINE = ("alexnet", "vgg16", "resnet50")


def export_headline(repository: str, archs=HEADLINE, weights: str = "random") -> list[ExportResult]:
    """Export ``archs`` (replacing earlier demo exports) and print what was done."""
    results = []
    for arch in archs:
        result = export_model(arch, repository, weights=weights, force=True)
        print(result.summary.format().splitlines()[-1])
        print(f"  {result.parity.format()}")
        print(f"  -> {result.path}")
        results.append(result)
    print()
    print(f"{'model':<10} {'params':>12} {'GMACs':>7} {'ONNX MB':>8} {'max abs diff':>13} {'top-1 agree':>12}")
    for r in results:
        print(
            f"{r.summary.arch:<10} {r.summary.params:>12,} {r.summary.macs / 1e9:>7.3f} "
            f"{r.path.stat().st_size / 1e6:>8.1f} {r.parity.max_abs_diff:>13.3g} {r.parity.top1_agreement:>12.0%}"
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", required=True)
    parser.add_argument("--weights", default="random", help="random (default) or DEFAULT to download official weights")
    args = parser.parse_args(argv)
    export_headline(args.repository, weights=args.weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
