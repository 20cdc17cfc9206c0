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


def evaluate_sets(plan, name: str, model: Path, say: Callable[[str], None]) -> list[Path]:
    """Evaluate (or keep) the model's report on each robustness set of ``plan``; their paths."""
    from convzoo.plugins import job
    from convzoo.plugins.backends import file_sha256
    from convzoo.sweep.run import cell_spec, report_is_current

    paths = []
    for robust in plan.robustness:
        report = report_path(plan.reports, name, robust)
        dataset = open_dataset(robust.path, robust.layout)
        used = dataset.samples[: plan.limit] if plan.limit is not None else dataset.samples
        paths.append(report)
        if report_is_current(report, file_sha256(model), manifest.sha256(used)):
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
