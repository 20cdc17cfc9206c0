"""Case ``ray`` (only when named): ``convzoo eval --ray`` on a local two-node Ray cluster that shares
this machine's cores, against the in-process job on the same images (the pipeline case's 500x375
JPEGs). Ray adds no cores here, so the figure is what Ray's plumbing costs (target >= 0.8).

Actor start-up is excluded, on both sides alike: throughput counts from the first merged batch to
the last (a fresh actor pool loads its ONNX Runtime sessions first, several seconds per run).
Per-actor throughput and, on paper, the figure expected for N nodes (N x the one-node figure:
each node adds its own actors and decode tasks; the driver's merge is the shared part and is
measured too) go in the figure's extra, with each side's CPU time per image (every process the run
used, the local cluster's included, start-up included): on a shared machine wall time mostly
measures the wait for a core, CPU time what the work costs.
"""

from __future__ import annotations

import os
import time

from benchmarks import process_tree
from benchmarks.cases.pipeline import write_images
from benchmarks.context import Context
from benchmarks.measure import Figure, Target, interleave
from benchmarks.registry import case

TARGET = Target(0.80)
NODES = 2


class SteadyRate:
    """``on_progress`` that times the images after the first batch (start-up excluded)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: tuple[float, int] | None = None
        self.last: tuple[float, int] | None = None

    def __call__(self, progress) -> None:
        point = (time.perf_counter(), progress.evaluated)
        self.first = self.first or point
        self.last = point

    def measurement(self, cpu_seconds: float) -> dict:
        """Throughput after the first batch; end to end and ``cpu_seconds`` per image over the whole run."""
        seconds = self.last[0] - self.first[0]
        return {
            "items_per_s": (self.last[1] - self.first[1]) / seconds,
            "seconds": seconds,
            "end_to_end_items_per_s": self.last[1] / (self.last[0] - self.started),
            "cpu_ms_per_image": 1000.0 * cpu_seconds / self.last[1],
        }


@case("ray", "evaluation on a local Ray cluster vs in process, start-up excluded (images/s)", order=5, default=False)
def run(context: Context) -> list[Figure]:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read when ray is imported: keeps Ray on loopback
    from ray.cluster_utils import Cluster

    from convzoo.base.datasets import open_dataset
    from convzoo.plugins import merge, ray_job, registry
    from convzoo.plugins.backends import OnnxBackend
    from convzoo.plugins.cli import DEFAULT_WORKERS
    from convzoo.plugins.evaluate import Settings
    from convzoo.plugins.evaluate import run as evaluate

    (arch,) = context.archs("resnet18")
    spec = context.models.spec(arch)
    count, batch = (24, 4) if context.quick else (160, 8)
    dataset = open_dataset(write_images(context.work_dir / "images", count, spec.num_classes), "csv")
    model = context.models.path(arch)
    settings = Settings(batch_size=batch, workers=DEFAULT_WORKERS)
    cores = len(os.sched_getaffinity(0))
    actors = max(1, cores)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cores, "node_ip_address": "127.0.0.1"})
    try:
        for _ in range(NODES - 1):
            cluster.add_node(num_cpus=cores, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        options = ray_job.RayOptions(cluster.address, actors, "cpu")
        backend = OnnxBackend(model, device="cpu")
        recipe = backend.preprocessing

        def on_ray() -> dict:
            rate = SteadyRate()
            with process_tree.TreeCpu() as cpu:  # the driver, the nodes, their workers and actors
                ray_job.run(
                    dataset, model, registry.from_spec("top1,top5"), settings, recipe, options, on_progress=rate
                )
                return rate.measurement(cpu.seconds())

        def in_process() -> dict:
            rate = SteadyRate()
            start = time.process_time()  # this process, every thread
            evaluate(dataset, backend, registry.from_spec("top1,top5"), settings, on_progress=rate)
            return rate.measurement(time.process_time() - start)

        in_process()  # warm-up (page cache, session)
        # Warm-up for Ray too: the cluster's first dataset starts Ray Data's own actors (stats, autoscaling
        # coordinator, usage collection, actor location tracker: 6.1-7.3 s of CPU here, docs/ray.md), which
        # overlapped the first round's window.
        on_ray()
        pairs = interleave(on_ray, in_process, min(context.rounds, 3))
    finally:
        cluster.shutdown()
    ray_rate = sorted(a["items_per_s"] for a, _ in pairs)[len(pairs) // 2]
    end_to_end = {
        side: sorted(pair[n]["end_to_end_items_per_s"] for pair in pairs)[len(pairs) // 2]
        for n, side in enumerate(("ray", "in_process"))
    }
    cpu = {
        side: sorted(pair[n]["cpu_ms_per_image"] for pair in pairs)[len(pairs) // 2]
        for n, side in enumerate(("ray", "in_process"))
    }
    merge_rate = _merge_rate(merge, dataset.samples, batch, spec.num_classes)
    return [
        Figure(
            "ray",
            f"{spec.name}, {NODES} local nodes x {cores} logical CPUs, {actors} actors, batch {batch}, {count} images",
            "ray",
            "in process",
            "items_per_s",
            pairs,
            TARGET,
            extra={
                "per_actor_images_per_s": ray_rate / actors,
                "driver_merge_images_per_s": merge_rate,
                "expected_images_per_s_for_nodes": {
                    n: min(n * ray_rate, merge_rate) for n in (1, 2, 4, 8, 16)
                },  # N machines like this one, each with its own actors and decode tasks
                "startup_excluded": True,
                # CPU time per image of every process the run used, start-up included (the cluster's for
                # Ray): the cost that wall time hides on a shared machine (docs/ray.md)
                "cpu_ms_per_image_median": cpu,
                # Start-up included. The steady window starts at the first merged batch, and Ray has often
                # finished more batches by then (decode and actors run ahead of the ordered merge).
                "end_to_end_images_per_s_median": end_to_end,
            },
        )
    ]


def _merge_rate(merge, samples, batch: int, classes: int) -> float:
    """Images per second the driver's exact merge handles (the part N nodes share), from records in reverse."""
    import numpy as np

    logits = np.zeros(classes, np.float32)
    records = [merge.Record(s.sample_id, logits) for s in reversed(samples)]
    tick = time.perf_counter()
    combined = merge.ManifestMerge(samples, batch)
    for record in records:
        combined.add(record)
    chunks = list(combined.ready())
    combined.finish()
    return len(samples) / (time.perf_counter() - tick) if chunks else 0.0
