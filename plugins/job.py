"""One evaluation job (a ``JobSpec``): pick the backend, open the dataset, run, report, clean up."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from convzoo.base.datasets import Dataset, open_dataset
from convzoo.base.preprocessing import Preprocessing
from convzoo.plugins import registry, report, robustness
from convzoo.plugins.backends import DEFAULT_RECIPE
from convzoo.plugins.evaluate import Backend, run
from convzoo.plugins.spec import JobSpec
from convzoo.plugins.step import Progress, check_classes


def checkpoint_path(output: Path) -> Path:
    """Where the checkpoint of a run writing ``output`` lives."""
    return output.with_name(output.name + ".checkpoint.json")


def open_backend(spec: JobSpec):
    """The backend ``spec`` names: in-process ONNX Runtime, or a KServe v2 gRPC endpoint."""
    from convzoo.plugins.backends import OnnxBackend

    if spec.ray is not None:
        return OnnxBackend(spec.model, device="cpu")  # reads the model here; the actors run it on spec.ray.device
    if spec.remote:
        from convzoo.plugins.backends import GrpcBackend

        return GrpcBackend(
            spec.remote.url,
            spec.model,
            spec.remote.model_version,
            spec.remote.security,
            shared_memory=spec.remote.shared_memory,
        )
    backend = OnnxBackend(spec.model, device=spec.device)
    if spec.device == "auto":
        print(f"convzoo eval: --device auto: running on {backend.device}", file=sys.stderr)
    return backend


def _progress_bar(total: int | None, enabled: bool):
    """A tqdm bar fed from ``Progress`` updates (images/s and running top-1)."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit="img", disable=not enabled, dynamic_ncols=True)

    def update(progress: Progress) -> None:
        bar.total = progress.total
        bar.update(progress.done - bar.n)
        bar.set_postfix(top1=f"{progress.running_top1:.2f}%", refresh=False)

    return bar, update


def recipe(spec: JobSpec, dataset: Dataset, backend: Backend) -> Preprocessing:
    """The model's preprocessing as the dataset applies it (ImageNet-C: centre crop only), with the
    spec's overrides (recorded in the backend's runtime)."""
    if spec.overrides.any():
        backend.runtime["preprocessing_from"] += ", overridden by flags"
    return dataset.recipe(backend.preprocessing).override(**vars(spec.overrides))


@dataclass(frozen=True)
class PreparedJob:
    """A checked job: the ``total`` samples it evaluates (the chosen robustness cells, within the
    limit); calling it (``on_progress=None, cancel=None``) runs it and returns the report."""

    total: int
    run: Callable[..., dict]

    def __call__(
        self, *, on_progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None
    ) -> dict:
        return self.run(on_progress=on_progress, cancel=cancel)


def prepare(spec: JobSpec, dataset: Dataset, backend: Backend) -> PreparedJob:
    """Check ``spec`` against an open dataset and backend (plugins, robustness cells, recipe, and a
    model whose class count cannot hold the dataset's labels) and return the job that runs it
    (in process or on Ray)."""
    settings = spec.settings
    plugins = registry.from_spec(spec.plugins)
    dataset, plugins = robustness.apply(spec.robustness, dataset, plugins, ray=spec.ray is not None)
    preprocessing = recipe(spec, dataset, backend)
    samples = dataset.samples[: settings.limit] if settings.limit is not None else dataset.samples
    check_classes(backend.model["name"], backend.classes, (s.label for s in samples))
    checked = backend.classes is not None  # else the width is known from the first batch: each batch is checked

    def run_job(
        *, on_progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None
    ) -> dict:
        runtime = backend.runtime
        if spec.ray is not None:
            from convzoo.plugins import ray_job

            outcome, on_ray = ray_job.run(
                dataset,
                spec.model,
                plugins,
                settings,
                preprocessing,
                spec.ray,
                predictions=spec.predictions,
                on_progress=on_progress,
                classes_checked=checked,
            )
            runtime = {**runtime, "backend": "onnxruntime on ray", **on_ray}
        else:
            outcome = run(
                dataset,
                backend,
                plugins,
                settings,
                preprocessing=preprocessing,
                checkpoint=checkpoint_path(spec.output) if spec.output else None,
                checkpoint_every=spec.checkpoint_every,
                resume=spec.resume,
                predictions=spec.predictions,
                on_progress=on_progress,
                cancel=cancel,
                classes_checked=checked,
            )
        entry = report.dataset_entry(dataset, outcome)
        return report.build(backend.model, runtime, entry, preprocessing, settings, outcome)

    return PreparedJob(len(samples), run_job)


def execute(spec: JobSpec) -> dict:
    """Run the evaluation ``spec`` describes, wherever it says; write and return its report."""
    spec.check()
    if spec.remote and spec.remote.inside:
        from convzoo.plugins.remote import evaluate_remote

        bar, update = _progress_bar(None, spec.progress)
        with bar:
            result = evaluate_remote(spec, update)
    else:
        with contextlib.closing(open_backend(spec)) as backend:  # its channel and shared memory slots go after
            dataset = open_dataset(spec.data, spec.format)
            if not spec.overrides.any() and backend.runtime["preprocessing_from"] == DEFAULT_RECIPE:
                print(
                    f"convzoo eval: warning: {backend.model['name']} publishes no preprocessing; using torchvision's "
                    "(resize 256, crop 224 scaled to its input); set --resize-size/--crop-size if it differs",
                    file=sys.stderr,
                )
            prepared = prepare(spec, dataset, backend)  # its total counts the robustness cells it chose
            bar, update = _progress_bar(prepared.total, spec.progress)
            with bar:
                result = prepared(on_progress=update)
    if spec.output:
        report.write(result, spec.output)
        checkpoint_path(spec.output).unlink(missing_ok=True)
    return result
