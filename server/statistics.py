"""Per model-version counters: the one source for ModelStatistics and Prometheus metrics.

Durations are kept in nanoseconds. Prometheus reads the same counters at scrape time:
Triton's counters under Triton's exact names, without the ``_total`` suffix prometheus-client
would add to a Counter (``triton_counters_text``), so Triton's dashboards work unchanged; the
gauges and convzoo's latency histograms (which Triton lacks) through ``collect``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily


@dataclass
class Duration:
    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns


# Histogram bucket upper bounds (seconds) of the latency histograms.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BUCKETS_NS = tuple(int(b * 1e9) for b in BUCKETS)


@dataclass
class Histogram:
    """Counts per bucket (the last one: above every bound) and the sum of observations."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    sum_ns: int = 0

    def observe(self, ns: int) -> None:
        self.counts[bisect.bisect_left(_BUCKETS_NS, ns)] += 1
        self.sum_ns += ns

    def buckets(self) -> list[tuple[str, int]]:
        """Cumulative (le, count) pairs as Prometheus writes them."""
        total, result = 0, []
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], self.counts):
            total += count
            result.append((bound, total))
        return result


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
    cache_hit: Duration = field(default_factory=Duration)
    cache_miss: Duration = field(default_factory=Duration)
    inference_count: int = 0
    execution_count: int = 0
    pending: int = 0
    last_inference_ms: int = 0
    precision: str = ""  # the model card's (fp32, fp16, int8); "" for models without one
    request_latency: Histogram = field(default_factory=Histogram)
    queue_latency: Histogram = field(default_factory=Histogram)
    infer_latency: Histogram = field(default_factory=Histogram)
    batches: dict[int, BatchDurations] = field(default_factory=lambda: defaultdict(BatchDurations))


@dataclass(frozen=True)
class InferStatistics:
    """Cumulative request durations of one model version (cache_*: response cache lookups, see ``Statistics.cache``)."""

    success: Duration
    fail: Duration
    queue: Duration
    compute_input: Duration
    compute_infer: Duration
    compute_output: Duration
    cache_hit: Duration = field(default_factory=Duration)
    cache_miss: Duration = field(default_factory=Duration)


@dataclass(frozen=True)
class BatchStatistics:
    """Durations of the session runs of one batch size."""

    batch_size: int
    compute_input: Duration
    compute_infer: Duration
    compute_output: Duration


@dataclass(frozen=True)
class ModelStatistics:
    """What the v2 statistics extension reports for one model version (``last_inference``: ms since the epoch)."""

    name: str
    version: str
    last_inference: int
    inference_count: int
    execution_count: int
    inference_stats: InferStatistics
    batch_stats: list[BatchStatistics]


class Statistics:
    """Thread-safe counters keyed by (model name, version). ``cache_metrics``: Prometheus shows
    Triton's response cache counters (as Triton does, only when the server has a cache)."""

    def __init__(self, *, cache_metrics: bool = False) -> None:
        self.cache_metrics = cache_metrics
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
            counters.request_latency.observe(ns)
            if ok:
                counters.last_inference_ms = time.time_ns() // 1_000_000

    def cache(self, name: str, version: str, hit: bool, ns: int) -> None:
        """One response cache lookup: a hit took ``ns`` to look up and read the response; a miss
        took ``ns`` to look up and to store the computed response (Triton's two durations)."""
        with self._lock:
            counters = self._models[(name, version)]
            (counters.cache_hit if hit else counters.cache_miss).add(ns)

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
                counters.queue_latency.observe(queue_ns)
            counters.infer_latency.observe(infer_ns)
            share = len(requests)
            counters.compute_input.add(input_ns * share, share)
            counters.compute_infer.add(infer_ns * share, share)
            counters.compute_output.add(output_ns * share, share)
            batch = counters.batches[rows]
            batch.compute_input.add(input_ns)
            batch.compute_infer.add(infer_ns)
            batch.compute_output.add(output_ns)

    def snapshot(self, name: str = "", version: str = "", loaded: list[tuple[str, str]] = ()) -> list[ModelStatistics]:
        """The statistics of every (name, version) matching the filters (empty: any);
        ``loaded`` versions are listed even before their first request."""

        def copy(d: Duration) -> Duration:
            return Duration(d.count, d.ns)

        result = []
        with self._lock:
            for key in loaded:
                self._models.setdefault(key, ModelCounters())
            for (model, ver), c in sorted(self._models.items()):
                if (name and model != name) or (version and ver != version):
                    continue
                result.append(
                    ModelStatistics(
                        name=model,
                        version=ver,
                        last_inference=c.last_inference_ms,
                        inference_count=c.inference_count,
                        execution_count=c.execution_count,
                        inference_stats=InferStatistics(
                            success=copy(c.success),
                            fail=copy(c.fail),
                            queue=copy(c.queue),
                            compute_input=copy(c.compute_input),
                            compute_infer=copy(c.compute_infer),
                            compute_output=copy(c.compute_output),
                            cache_hit=copy(c.cache_hit),
                            cache_miss=copy(c.cache_miss),
                        ),
                        batch_stats=[
                            BatchStatistics(
                                batch_size=size,
                                compute_input=copy(b.compute_input),
                                compute_infer=copy(b.compute_infer),
                                compute_output=copy(b.compute_output),
                            )
                            for size, b in sorted(c.batches.items())
                        ],
                    )
                )
        return result

    def triton_counters_text(self) -> str:
        """Triton's counters in the Prometheus text format, under Triton's exact names."""
        lines = []
        with self._lock:
            rows = [((model, version), _triton_values(c)) for (model, version), c in sorted(self._models.items())]
        counters = TRITON_COUNTERS + (TRITON_CACHE_COUNTERS if self.cache_metrics else ())
        for index, (name, help_text) in enumerate(counters):
            lines.append(f"# HELP {name} {help_text}\n# TYPE {name} counter\n")
            for (model, version), values in rows:
                lines.append(f'{name}{{model="{_escape(model)}",version="{_escape(version)}"}} {values[index]}\n')
        return "".join(lines)

    def collect(self):
        """prometheus_client collector protocol: the gauges and the latency histograms."""
        labels = ["model", "version"]
        families = {
            "pending": GaugeMetricFamily(
                "nv_inference_pending_request_count", "Requests waiting in the queue", labels=labels
            ),
            "last": GaugeMetricFamily("convzoo_last_inference_timestamp_ms", "Time of the last success", labels=labels),
            "precision": GaugeMetricFamily(
                "convzoo_model_precision", "Precision of the model version (always 1)", labels=[*labels, "precision"]
            ),
            "request": HistogramMetricFamily(
                "convzoo_request_duration_seconds",
                "Inference request latency in the server, arrival to response (successes and failures)",
                labels=labels,
            ),
            "queue": HistogramMetricFamily(
                "convzoo_queue_duration_seconds", "Time a request waited in its model's queue", labels=labels
            ),
            "infer": HistogramMetricFamily(
                "convzoo_compute_infer_duration_seconds", "Session run time of one batch", labels=labels
            ),
        }
        with self._lock:
            for (model, version), c in sorted(self._models.items()):
                key = [model, version]
                families["pending"].add_metric(key, c.pending)
                families["last"].add_metric(key, c.last_inference_ms)
                if c.precision:
                    families["precision"].add_metric([*key, c.precision], 1)
                for family, histogram in (
                    ("request", c.request_latency),
                    ("queue", c.queue_latency),
                    ("infer", c.infer_latency),
                ):
                    families[family].add_metric(key, histogram.buckets(), histogram.sum_ns / 1e9)
        yield from families.values()


# Triton's counter names and help texts, in the order ``_triton_values`` gives their values.
TRITON_COUNTERS = (
    ("nv_inference_request_success", "Number of successful inference requests, all batch sizes"),
    ("nv_inference_request_failure", "Number of failed inference requests, all batch sizes"),
    ("nv_inference_count", "Number of inferences performed (does not include cached requests)"),
    ("nv_inference_exec_count", "Number of model executions performed (does not include cached requests)"),
    ("nv_inference_request_duration_us", "Cumulative inference request duration in microseconds"),
    ("nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds"),
    ("nv_inference_compute_input_duration_us", "Cumulative compute input duration in microseconds"),
    ("nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds"),
    ("nv_inference_compute_output_duration_us", "Cumulative inference compute output duration in microseconds"),
)
# Shown after those when the server has a response cache.
TRITON_CACHE_COUNTERS = (
    ("nv_cache_num_hits_per_model", "Number of cache hits per model"),
    ("nv_cache_num_misses_per_model", "Number of cache misses per model"),
    ("nv_cache_hit_duration_per_model", "Total cache hit duration per model, in microseconds"),
    ("nv_cache_miss_duration_per_model", "Total cache miss duration per model, in microseconds"),
)


def _triton_values(c: ModelCounters) -> tuple[int, ...]:
    return (
        c.success.count,
        c.fail.count,
        c.inference_count,
        c.execution_count,
        (c.success.ns + c.fail.ns) // 1000,
        c.queue.ns // 1000,
        c.compute_input.ns // 1000,
        c.compute_infer.ns // 1000,
        c.compute_output.ns // 1000,
        c.cache_hit.count,
        c.cache_miss.count,
        c.cache_hit.ns // 1000,
        c.cache_miss.ns // 1000,
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
