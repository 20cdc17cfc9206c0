"""One sweep: for each cell export (or keep) the model, evaluate (or keep) its report; then compare.

Resumable by design: the same command run again keeps every model whose card matches its cell
and every report whose model sha256 and data manifest hash match the model file and the data
now, so an interrupted sweep continues where it stopped (reports and models are written
atomically: a cell is either finished or redone).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from convzoo.base.card import read_card
from convzoo.base.datasets import manifest, open_dataset
from convzoo.exporters.pipeline import export_model
from convzoo.exporters.precision import PrecisionOptions
from convzoo.exporters.repository import MODEL_FILE
from convzoo.plugins import job, registry
from convzoo.plugins.backends import file_sha256
from convzoo.plugins.cli import DEFAULT_WORKERS
from convzoo.plugins.compare import compare
from convzoo.plugins.evaluate import Settings
from convzoo.plugins.spec import JobSpec, RayOptions
from convzoo.sweep import robustness
from convzoo.sweep.grid import NUM_CLASSES, Cell, card_matches, wanted_weights

VERSION = 1  # the sweep's models live in version 1 of their repository folder


@dataclass(frozen=True)
class Plan:
    """Everything a sweep needs besides its cells."""

    weights: str
    data: str
    format: str
    repository: Path
    reports: Path
    input_size: int = 224
    seed: int = 0
    plugins: str = registry.DEFAULT_SPEC
    batch_size: int = Settings.batch_size
    limit: int | None = None
    device: str = "auto"
    ray: str | None = None  # None: in-process; "": a local Ray; else a ray.init address
    ray_actors: int = 2
    progress: bool = True
    robustness: tuple = ()  # RobustSet(layout, path) of each --robustness set (sweep/robustness.py)


def model_path(plan: Plan, cell: Cell) -> Path:
    return plan.repository / cell.name / str(VERSION) / MODEL_FILE


def report_path(plan: Plan, cell: Cell) -> Path:
    return plan.reports / f"{cell.name}.json"


def ensure_model(plan: Plan, cell: Cell, say: Callable[[str], None]) -> Path:
    """The cell's model file: the existing one when its card matches, else a fresh export."""
    path = model_path(plan, cell)
    exists = path.is_file()
    if exists and card_matches(
        read_card(path), cell, wanted_weights(plan.weights, cell.arch, plan.seed), plan.input_size
    ):
        say(f"{cell.name}: model kept ({path}: its card matches)")
        return path
    say(f"{cell.name}: {'re-exporting (its card differs)' if exists else 'exporting'}")
    calibration = plan.data if cell.precision != "fp32" else None
    export_model(
        cell.arch,
        plan.repository,
        activation=cell.activation,
        weights=plan.weights,
        num_classes=NUM_CLASSES,
        input_size=plan.input_size,
        seed=plan.seed,
        name=cell.name,
        version=VERSION,
        force=exists,
        progress=plan.progress,
        precision=PrecisionOptions(cell.precision, calibration, plan.format),
    )
    return path


def report_is_current(report: Path, model_sha256: str, manifest_sha256: str) -> bool:
    """Whether ``report`` evaluated this very model file on this very data manifest."""
    try:
        saved = json.loads(report.read_text())
        return saved["model"]["sha256"] == model_sha256 and saved["dataset"]["manifest_sha256"] == manifest_sha256
    except (OSError, ValueError, KeyError, TypeError):
        return False


def cell_spec(plan: Plan, model: Path, output: Path) -> JobSpec:
    """The evaluation of one cell's model, as ``convzoo eval`` would run it with the plan's options."""
    return JobSpec(
        data=plan.data,
        model=str(model),
        format=plan.format,
        plugins=plan.plugins,
        settings=Settings(batch_size=plan.batch_size, limit=plan.limit, workers=DEFAULT_WORKERS),
        device=plan.device,
        ray=RayOptions(plan.ray or None, plan.ray_actors, plan.device) if plan.ray is not None else None,
        output=output,
        progress=plan.progress,
    )


def sweep(plan: Plan, cells: list[Cell], say: Callable[[str], None] = print) -> str:
    """Run the sweep; returns compare's table (also written to ``reports/compare.md``, plot ``compare.png``)."""
    dataset = open_dataset(plan.data, plan.format)
    used = dataset.samples[: plan.limit] if plan.limit is not None else dataset.samples
    data_hash = manifest.sha256(used)
    robust_hashes = robustness.manifest_hashes(plan)
    plan.reports.mkdir(parents=True, exist_ok=True)
    robust_reports = []
    for cell in cells:
        model = ensure_model(plan, cell, say)
        model_hash = file_sha256(model)
        report = report_path(plan, cell)
        if report_is_current(report, model_hash, data_hash):
            say(f"{cell.name}: report kept ({report}: same model sha256 and data manifest)")
        else:
            say(f"{cell.name}: evaluating")
            result = job.execute(cell_spec(plan, model, report))
            say(f"{cell.name}: top-1 {result['metrics'].get('top1', float('nan')):.3f}% -> {report}")
        robust_reports += robustness.evaluate_sets(plan, robust_hashes, cell.name, model, model_hash, say)
    return compare(
        [report_path(plan, cell) for cell in cells] + robust_reports,
        plan.reports / "compare.md",
        plan.reports / "compare.png",
    )
