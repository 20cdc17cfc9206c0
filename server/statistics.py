"""Per model-version counters: the one source for ModelStatistics and Prometheus metrics.

Durations are kept in nanoseconds. The Prometheus collector reads the same counters at
scrape time, under Triton's metric names, so existing dashboards work.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from convzoo.proto import grpc_service_pb2 as pb


@dataclass
class Duration:
    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns


@dataclass
class BatchDurations:
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass
class ModelCounters:
    """Counters of one model version. Mutate only through ``Statistics``."""

    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    inference_count: int = 0
    execution_count: int = 0
    pending: int = 0
    last_inference_ms: int = 0
    precision: str = ""  # the model card's (fp32, fp16, int8); "" for models without one
    batches: dict[int, BatchDurations] = field(default_factory=lambda: defaultdict(BatchDurations))


class Statistics:
    """Thread-safe counters keyed by (model name, version)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str], ModelCounters] = defaultdict(ModelCounters)

    def set_precision(self, name: str, version: str, precision: str) -> None:
        """Record what a loaded version is (shown as ``convzoo_model_precision``)."""
        with self._lock:
            self._models[(name, version)].precision = precision

    def request(self, name: str, version: str, ok: bool, ns: int) -> None:
        """One request finished (``ok``) after ``ns`` nanoseconds."""
        with self._lock:
            counters = self._models[(name, version)]
            (counters.success if ok else counters.fail).add(ns)
            if ok:
                counters.last_inference_ms = time.time_ns() // 1_000_000

    def queued(self, name: str, version: str, change: int) -> None:
        """Requests entered (+) or left (-) the queue of a model version."""
        with self._lock:
            self._models[(name, version)].pending += change

    def execution(
        self, name: str, version: str, requests: list[tuple[int, int]], input_ns: int, infer_ns: int, output_ns: int
    ) -> None:
        """One session run over ``requests`` given as (batch rows, queue ns) pairs."""
        rows = sum(batch for batch, _ in requests)
        with self._lock:
            counters = self._models[(name, version)]
            counters.execution_count += 1
            counters.inference_count += rows
            for _, queue_ns in requests:
                counters.queue.add(queue_ns)
            share = len(requests)
            counters.compute_input.add(input_ns * share, share)
            counters.compute_infer.add(infer_ns * share, share)
            counters.compute_output.add(output_ns * share, share)
            batch = counters.batches[rows]
            batch.compute_input.add(input_ns)
            batch.compute_infer.add(infer_ns)
            batch.compute_output.add(output_ns)

    def to_proto(
        self, name: str = "", version: str = "", loaded: list[tuple[str, str]] = ()
    ) -> list[pb.ModelStatistics]:
        """ModelStatistics of every (name, version) matching the filters (empty: any);
        ``loaded`` versions are listed even before their first request."""

        def duration(d: Duration) -> pb.StatisticDuration:
            return pb.StatisticDuration(count=d.count, ns=d.ns)

        result = []
        with self._lock:
            for key in loaded:
                self._models.setdefault(key, ModelCounters())
            for (model, ver), c in sorted(self._models.items()):
                if (name and model != name) or (version and ver != version):
                    continue
                result.append(
                    pb.ModelStatistics(
                        name=model,
                        version=ver,
                        last_inference=c.last_inference_ms,
                        inference_count=c.inference_count,
                        execution_count=c.execution_count,
                        inference_stats=pb.InferStatistics(
                            success=duration(c.success),
                            fail=duration(c.fail),
                            queue=duration(c.queue),
                            compute_input=duration(c.compute_input),
                            compute_infer=duration(c.compute_infer),
                            compute_output=duration(c.compute_output),
                        ),
                        batch_stats=[
                            pb.InferBatchStatistics(
                                batch_size=size,
                                compute_input=duration(b.compute_input),
                                compute_infer=duration(b.compute_infer),
                                compute_output=duration(b.compute_output),
                            )
                            for size, b in sorted(c.batches.items())
                        ],
                    )
                )
        return result

    def collect(self):
        """prometheus_client collector protocol: metric families from the counters."""
        labels = ["model", "version"]
        families = {
            "success": CounterMetricFamily(
                "nv_inference_request_success", "Successful inference requests", labels=labels
            ),
            "failure": CounterMetricFamily("nv_inference_request_failure", "Failed inference requests", labels=labels),
            "count": CounterMetricFamily("nv_inference_count", "Inferences performed (batch rows)", labels=labels),
            "exec": CounterMetricFamily("nv_inference_exec_count", "Batch executions", labels=labels),
            "request_us": CounterMetricFamily("nv_inference_request_duration_us", "Request duration", labels=labels),
            "queue_us": CounterMetricFamily(
                "nv_inference_queue_duration_us", "Time requests waited in the queue", labels=labels
            ),
            "input_us": CounterMetricFamily(
                "nv_inference_compute_input_duration_us", "Batch assembly time", labels=labels
            ),
            "infer_us": CounterMetricFamily(
                "nv_inference_compute_infer_duration_us", "Session run time", labels=labels
            ),
            "output_us": CounterMetricFamily(
                "nv_inference_compute_output_duration_us", "Output split time", labels=labels
            ),
            "pending": GaugeMetricFamily(
                "nv_inference_pending_request_count", "Requests waiting in the queue", labels=labels
            ),
            "last": GaugeMetricFamily("convzoo_last_inference_timestamp_ms", "Time of the last success", labels=labels),
            "precision": GaugeMetricFamily(
                "convzoo_model_precision", "Precision of the model version (always 1)", labels=[*labels, "precision"]
            ),
        }
        with self._lock:
            for (model, version), c in sorted(self._models.items()):
                key = [model, version]
                families["success"].add_metric(key, c.success.count)
                families["failure"].add_metric(key, c.fail.count)
                families["count"].add_metric(key, c.inference_count)
                families["exec"].add_metric(key, c.execution_count)
                families["request_us"].add_metric(key, (c.success.ns + c.fail.ns) / 1000)
                families["queue_us"].add_metric(key, c.queue.ns / 1000)
                families["input_us"].add_metric(key, c.compute_input.ns / 1000)
                families["infer_us"].add_metric(key, c.compute_infer.ns / 1000)
                families["output_us"].add_metric(key, c.compute_output.ns / 1000)
                families["pending"].add_metric(key, c.pending)
                families["last"].add_metric(key, c.last_inference_ms)
                if c.precision:
                    families["precision"].add_metric([*key, c.precision], 1)
        yield from families.values()
