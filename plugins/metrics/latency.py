"""``latency``: per-batch inference time as the backend reports it, images/s, p50/p99.

Only the backend call is timed (not decoding or preprocessing); for a remote backend it
includes the network round trip. The first batch includes any warm-up.
"""

from __future__ import annotations

import numpy as np

from convzoo.plugins.api import Batch, Metric


class Latency(Metric):
    """Per-batch inference latency (p50/p99/mean ms) and images per second."""

    name = "latency"

    def __init__(self) -> None:
        self.add_state("seconds", [], "cat")  # one entry per batch
        self.add_state("sizes", [], "cat")

    def update(self, batch: Batch) -> None:
        if batch.seconds is None:
            raise ValueError("the latency plugin needs a backend that reports batch timings")
        self.seconds.append(float(batch.seconds))
        self.sizes.append(len(batch.labels))

    def compute(self) -> dict:
        if not self.seconds:
            return {"latency": {"batches": 0}}
        ms = np.asarray(self.seconds) * 1000.0
        total = float(sum(self.seconds))
        return {
            "latency": {
                "batches": len(ms),
                "images": sum(self.sizes),
                "seconds": total,
                "images_per_second": sum(self.sizes) / total if total > 0 else float("inf"),
                "p50_ms": float(np.percentile(ms, 50)),
                "p99_ms": float(np.percentile(ms, 99)),
                "mean_ms": float(ms.mean()),
            }
        }
