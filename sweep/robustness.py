"""The sweep's robustness axis: every cell evaluated again on each ``--robustness LAYOUT=PATH`` set.

The clean report stays ``<model>.json``; each set adds ``<model>.<layout>.json`` (evaluated with
``--format LAYOUT``: ImageNet-A/-R restrict to their 200 classes, ImageNet-C gets the corruption
plugin and mCE), kept on a rerun when its model sha256 and the set's manifest hash still match.
``compare`` then prints the robustness table beside the reports' table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from convzoo.base.datasets import formats, manifest, open_dataset


@dataclass(frozen=True)
class RobustSet:
    layout: str
    path: str


def parse(text: str) -> RobustSet:
    """``LAYOUT=PATH`` of a ``--robustness`` flag (LAYOUT: a dataset layout, e.g. imagenet-c)."""
    layout, sep, path = text.partition("=")
    if not sep or not path:
        raise ValueError(f"--robustness takes LAYOUT=PATH (e.g. imagenet-c=/data/imagenet-c), got {text!r}")
    if layout not in formats() or layout == "auto":
        raise ValueError(f"--robustness {text}: unknown layout {layout!r}; expected one of {', '.join(formats()[1:])}")
    return RobustSet(layout, path)


def report_path(reports: Path, name: str, robust: RobustSet) -> Path:
    return reports / f"{name}.{robust.layout}.json"


def manifest_hashes(plan) -> dict[RobustSet, str]:
    """The manifest hash of the samples the sweep uses from each robustness set of ``plan``: each
    set is opened and hashed once per sweep, and every model's report is checked against it."""
    hashes = {}
    for robust in plan.robustness:
        dataset = open_dataset(robust.path, robust.layout)
        used = dataset.samples[: plan.limit] if plan.limit is not None else dataset.samples
        hashes[robust] = manifest.sha256(used)
    return hashes


def evaluate_sets(
    plan, hashes: dict[RobustSet, str], name: str, model: Path, model_sha256: str, say: Callable[[str], None]
) -> list[Path]:
    """Evaluate (or keep) the model's report on each robustness set of ``plan`` (``hashes``: from
    ``manifest_hashes``); their paths."""
    from convzoo.plugins import job
    from convzoo.sweep.run import cell_spec, report_is_current

    paths = []
    for robust in plan.robustness:
        report = report_path(plan.reports, name, robust)
        paths.append(report)
        if report_is_current(report, model_sha256, hashes[robust]):
            say(f"{name}: {robust.layout} report kept ({report})")
            continue
        say(f"{name}: evaluating on {robust.layout}")
        on_set = replace(plan, data=robust.path, format=robust.layout)
        result = job.execute(cell_spec(on_set, model, report))
        figure = result["metrics"].get("mce")
        summary = (
            f"mCE {figure:.2f}%"
            if isinstance(figure, float)
            else f"top-1 {result['metrics'].get('top1', float('nan')):.3f}%"
        )
        say(f"{name}: {robust.layout} {summary} -> {report}")
    return paths
