"""The ``convzoo eval`` flags of the robustness sets, and what they do to a run.

``--corruptions a,b`` / ``--severities 1,3`` choose ImageNet-C cells; ``--baseline REPORT.json``
normalises corruption errors by that model's instead of AlexNet's published ones;
``--clean-report REPORT.json`` gives the model's clean error for relative mCE;
``--corrupt NAME:SEVERITY`` (repeatable; ``NAME`` alone: severities 1-5; ``all``: the 19 x 5
cells) corrupts any clean layout on the fly, seeded by ``--corrupt-seed``. A run over
corrupted images gets the ``corruption`` plugin whether or not ``--plugins`` names it.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from convzoo.base.datasets import Dataset
from convzoo.base.datasets.imagenet_c import CORRUPTIONS, SEVERITIES, corruption_of, select
from convzoo.plugins import registry
from convzoo.plugins.api import Metric
from convzoo.plugins.corruption_error import baseline_from_report

PLUGIN = "corruption"


def comma_list(text: str) -> list[str]:
    """An argparse type: ``a,b`` as a list of non-empty names."""
    return [part.strip() for part in text.split(",") if part.strip()]


def severity_list(text: str) -> list[int]:
    """An argparse type: ``1,3`` as a list of severities."""
    parts = comma_list(text)
    if not parts or not all(p.isdigit() and 1 <= int(p) <= 5 for p in parts):
        raise argparse.ArgumentTypeError(f"expected severities 1 to 5 separated by commas, got {text}")
    return [int(p) for p in parts]


def corruption_cells(text: str) -> list[tuple[str, int]]:
    """An argparse type: ``NAME:SEVERITY``, ``NAME`` (all five severities) or ``all``, as cells."""
    if text == "all":
        return [(name, severity) for name in CORRUPTIONS for severity in SEVERITIES]
    name, _, severity = text.partition(":")
    if name not in CORRUPTIONS:
        raise argparse.ArgumentTypeError(
            f"unknown corruption {name!r}; expected all or one of {', '.join(CORRUPTIONS)}"
        )
    if not severity:
        return [(name, s) for s in SEVERITIES]
    if not (severity.isdigit() and int(severity) in SEVERITIES):
        raise argparse.ArgumentTypeError(f"{text}: the severity is 1 to 5")
    return [(name, int(severity))]


def add_arguments(parser) -> None:
    """The robustness flags of ``convzoo eval``."""
    group = parser.add_argument_group("robustness (ImageNet-C, -A, -R, -Sketch)")
    group.add_argument("--corruptions", type=comma_list, metavar="A,B", help="ImageNet-C: only these corruptions")
    group.add_argument("--severities", type=severity_list, metavar="1,3", help="ImageNet-C: only these severities")
    group.add_argument(
        "--baseline",
        type=Path,
        metavar="REPORT.json",
        help="normalise corruption errors by this model's ImageNet-C report instead of AlexNet's published errors",
    )
    group.add_argument(
        "--clean-report",
        type=Path,
        metavar="REPORT.json",
        help="the model's report on clean images: its top-1 error gives relative mCE",
    )
    group.add_argument(
        "--corrupt",
        type=corruption_cells,
        action="append",
        metavar="NAME:SEVERITY",
        help="corrupt a clean dataset on the fly as ImageNet-C does (resize, crop, corrupt); repeatable; "
        "NAME alone: severities 1-5; all: every corruption and severity (needs convzoo[corrupt])",
    )
    group.add_argument("--corrupt-seed", type=int, default=0, metavar="N", help="seed of --corrupt (default 0)")


def _read_report(path: Path, flag: str) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{flag} {path}: cannot read the report ({exc})") from None


@dataclass(frozen=True)
class RobustnessOptions:
    """The robustness flags of one evaluation (None or empty: not given)."""

    corruptions: list[str] | None = None
    severities: list[int] | None = None
    baseline: Path | None = None
    clean_report: Path | None = None
    corrupt: list[list[tuple[str, int]]] | None = None  # one list of cells per --corrupt flag
    corrupt_seed: int = 0

    @classmethod
    def from_args(cls, args) -> RobustnessOptions:
        """The options of parsed ``convzoo eval`` arguments."""
        return cls(args.corruptions, args.severities, args.baseline, args.clean_report, args.corrupt, args.corrupt_seed)

    def requested(self) -> list[str]:
        """The robustness flags given, as the user typed them."""
        names = ("corruptions", "severities", "baseline", "clean_report", "corrupt")
        return ["--" + n.replace("_", "-") for n in names if getattr(self, n) is not None]


def apply(
    args: RobustnessOptions, dataset: Dataset, plugins: list[Metric], *, ray: bool = False
) -> tuple[Dataset, list[Metric]]:
    """The dataset's chosen cells and the plugins with ``corruption`` configured by the flags
    (``ray``: the run goes to a Ray cluster, where ``--corrupt`` cannot follow)."""
    generated = None
    if args.corrupt:
        from convzoo.base import corruption

        if ray:
            raise ValueError("--corrupt runs in-process, not with --ray")
        if any(corruption_of(s.sample_id) for s in dataset.samples):
            raise ValueError(f"{dataset.root}: --corrupt takes a clean dataset; this one is corrupted already")
        cells = list(dict.fromkeys(cell for group in args.corrupt for cell in group))
        dataset = corruption.on_the_fly(dataset, cells, args.corrupt_seed)
        generated = {"library": corruption.library(), "seed": args.corrupt_seed}
    if args.corruptions is not None or args.severities is not None:
        dataset = select(dataset, args.corruptions, args.severities)
    corrupted = any(corruption_of(s.sample_id) for s in dataset.samples)
    wanted = any(registry.entry_name(p) == PLUGIN for p in plugins)
    if not corrupted:
        if args.baseline or args.clean_report or wanted:
            raise ValueError(f"{dataset.root}: no ImageNet-C corruptions to score (corruption error needs them)")
        return dataset, plugins
    options = {"generated": generated} if generated else {}
    if args.baseline:
        options["baseline"] = baseline_from_report(_read_report(args.baseline, "--baseline"), str(args.baseline))
    if args.clean_report:
        top1 = (_read_report(args.clean_report, "--clean-report").get("metrics") or {}).get("top1")
        if not isinstance(top1, (int, float)):
            raise ValueError(f"--clean-report {args.clean_report}: the report has no top1")
        options["clean_error"] = 100.0 - float(top1)
    scored = registry.create(PLUGIN, **options)
    kept = [p for p in plugins if registry.entry_name(p) != PLUGIN]
    return dataset, [*kept, scored]
