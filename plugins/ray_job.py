"""``convzoo eval --ray``: the evaluation job on a Ray cluster, with Ray Data (docs/ray.md).

manifest (sample id, path, label) in batches of ``--batch-size`` -> decode + preprocess tasks
(the model's own recipe) -> ``map_batches`` over an actor pool of ONNX Runtime sessions
(``--ray-actors N``; ``--device cuda`` asks one GPU per actor) -> one record per sample ->
``ManifestMerge`` (dedupe by sample id, the id set must equal the manifest, plugins fed in
manifest order). The metrics equal the in-process job's to the last digit for any number of
actors and nodes. A lost actor is restarted and its batch retried (``MAX_RETRIES``).

Every node must see the dataset and the model at the same paths (a shared file system).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from convzoo.base.datasets import Dataset
from convzoo.base.preprocessing import Preprocessing
from convzoo.plugins.api import Metric
from convzoo.plugins.evaluate import Outcome, Settings
from convzoo.plugins.merge import ManifestMerge, Record
from convzoo.plugins.predictions import PredictionsWriter
from convzoo.plugins.ray_stages import InferenceActor, decode_chunk
from convzoo.plugins.spec import RayOptions
from convzoo.plugins.step import BatchStep, Progress

MAX_RETRIES = 3  # actor restarts, and retries of the batch a lost actor was running
DECODE_CPUS = 0.5  # logical CPUs per decode task: leaves room beside the actors (docs/ray.md)
# Logical CPUs per CPU actor, and its ONNX Runtime threads: ORT's default (a thread per core in
# every actor) oversubscribes the cores that several actors share (docs/ray.md, "Where the time goes").
ACTOR_CPUS = 1


@contextmanager
def connected(address: str | None, actors: int) -> Iterator[None]:
    """A Ray connection for the job: reuse the caller's, else connect (or start a local Ray) and close after.

    A local Ray gets a logical CPU more than the actors take, so decode tasks always find room.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    if address is None:
        cpus = max(len(os.sched_getaffinity(0)), actors + 1)
        ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def check_room(resources: dict, options: RayOptions) -> None:
    """Refuse an actor pool that would leave Ray Data's decode tasks no CPU (the job would hang)."""
    gpu = options.device.startswith("cuda")
    if gpu and resources.get("GPU", 0) < options.actors:
        raise ValueError(
            f"--ray-actors {options.actors} with --device cuda needs as many GPUs; the cluster has {resources.get('GPU', 0):g}"
        )
    left = resources.get("CPU", 0) - (0 if gpu else options.actors * ACTOR_CPUS)
    if left < DECODE_CPUS:
        raise ValueError(
            f"the Ray cluster has {resources.get('CPU', 0):g} CPUs: {options.actors} actors would leave none for "
            "decoding; use fewer --ray-actors or give the nodes more logical CPUs (ray start --num-cpus)"
        )


def chunk_rows(samples, batch_size: int) -> list[dict]:
    """The manifest cut into the batches the in-process job forms, one Ray Data row each."""
    return [
        {
            "chunk": n,
            "sample_ids": [s.sample_id for s in part],
            "paths": [str(s.path) for s in part],
            "labels": [int(s.label) for s in part],
        }
        for n, start in enumerate(range(0, len(samples), batch_size))
        for part in [samples[start : start + batch_size]]
    ]


def _pipeline(rows: list[dict], model: Path, recipe: Preprocessing, settings: Settings, options: RayOptions):
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the job shows its own bar, in samples merged
    context.print_on_execution_start = False
    context.enable_auto_log_stats = False
    gpu = options.device.startswith("cuda")
    decoded = ray.data.from_items(rows, override_num_blocks=len(rows)).map(
        decode_chunk, fn_kwargs={"recipe": recipe.to_dict(), "draft": settings.draft}, num_cpus=DECODE_CPUS
    )
    with warnings.catch_warnings():
        # Ray 2.60 deprecates passing max_restarts/max_task_retries this way (no named parameter yet); Ray
        # Data's own default is unbounded retries, which would loop forever on an actor that always dies.
        warnings.simplefilter("ignore", DeprecationWarning)
        return decoded.map_batches(
            InferenceActor,
            fn_constructor_kwargs={
                "model_path": str(model),
                "device": options.device,
                "threads": None if gpu else ACTOR_CPUS,
            },
            batch_size=1,  # one row is one manifest batch of --batch-size samples
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=options.actors),
            num_cpus=0 if gpu else ACTOR_CPUS,
            num_gpus=1 if gpu else 0,
            max_restarts=MAX_RETRIES,
            max_task_retries=MAX_RETRIES,
        )


def run(
    dataset: Dataset,
    model: str | Path,
    plugins: list[Metric],
    settings: Settings,
    recipe: Preprocessing,
    options: RayOptions,
    *,
    predictions: Path | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    classes_checked: bool = False,
) -> tuple[Outcome, dict]:
    """Evaluate ``model`` on ``dataset`` on Ray; returns the outcome and what ran it (for the report's runtime).
    ``classes_checked``: the caller checked every label against the model's class count (else each batch is)."""
    try:
        import ray
    except ImportError as exc:
        raise LookupError("--ray needs Ray: pip install 'convzoo[ray]'") from exc

    if options.actors < 1:
        raise ValueError("--ray-actors must be positive")
    samples = dataset.samples[: settings.limit] if settings.limit is not None else dataset.samples
    merge = ManifestMerge(samples, settings.batch_size)
    writer = PredictionsWriter(predictions) if predictions else None
    step = BatchStep(str(model), plugins, writer, classes_checked=classes_checked)
    skipped, providers = [], set()
    started = time.perf_counter()
    try:
        with connected(options.address, options.actors):
            nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
            check_room(ray.cluster_resources(), options)
            rows = chunk_rows(samples, settings.batch_size)
            records = _pipeline(rows, Path(model).resolve(), recipe, settings, options) if rows else None
            for block in records.iter_batches(batch_size=None, batch_format="numpy") if records else ():
                for sample_id, logits, error, seconds, where in zip(
                    block["sample_id"], block["logits"], block["error"], block["seconds"], block["providers"]
                ):
                    logits = None if error else dataset.restrict(logits[None])[0]  # ImageNet-A/-R subsets
                    merge.add(Record(str(sample_id), logits, str(error), float(seconds)))
                    providers.add(str(where))
                for chunk in merge.ready():
                    if settings.on_error == "fail" and chunk.failures:
                        first = chunk.failures[0]
                        raise ValueError(f"{first.sample_id}: {first.error}")
                    skipped += chunk.failures
                    if chunk.batch is not None:
                        step(chunk.batch)
                if on_progress:
                    on_progress(step.progress(merge.next_start, len(samples), time.perf_counter() - started))
            merge.finish()
    finally:
        if writer:
            writer.close()
    outcome = Outcome(plugins, step.evaluated, len(samples), skipped, time.perf_counter() - started)
    runtime = {
        # the actors' providers in ONNX Runtime's order (one list when all agree; empty without images)
        "providers": next(iter(providers)).split(",") if len(providers) == 1 else sorted(providers),
        "ray": {
            "version": ray.__version__,
            "address": options.address or "local",
            "nodes": nodes,
            "actors": options.actors,
            "device": options.device,
            "duplicates_dropped": merge.duplicates,
        },
    }
    return outcome, runtime
