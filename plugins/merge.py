"""The exact merge of a distributed evaluation: per-sample records, arriving in any order, back to batches.

A distributed job (``convzoo eval --ray``) returns one record per sample, in no particular
order, and a retried task may return some twice. ``ManifestMerge`` keeps the first record of
each sample id, refuses ids the manifest does not hold, and hands back the manifest's batches
(``batch_size`` consecutive samples, exactly those the in-process job forms) in manifest order
as soon as each is complete, so plugins see the same batches in the same order and the metrics
equal the single-process run's to the last digit. ``finish`` checks that no sample is missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from convzoo.base.datasets import Sample
from convzoo.base.loader import Failure
from convzoo.plugins.api import Batch


@dataclass(frozen=True)
class Record:
    """One sample's outcome: its logits, or the error that kept it from being decoded."""

    sample_id: str
    logits: np.ndarray | None  # [classes]; None when ``error`` is set
    error: str = ""
    seconds: float = 0.0  # inference time of the batch the sample was part of


@dataclass(frozen=True)
class Chunk:
    """Manifest samples ``start..stop``: the decoded ones as a plugin ``Batch`` (or None), the rest as failures."""

    start: int
    stop: int
    batch: Batch | None
    failures: tuple[Failure, ...]


class ManifestMerge:
    """Collect records; yield complete manifest batches in order (see the module docstring)."""

    def __init__(self, samples: Sequence[Sample], batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError("batch size must be positive")
        self.samples = samples
        self.batch_size = batch_size
        self.position = {s.sample_id: n for n, s in enumerate(samples)}
        if len(self.position) != len(samples):
            raise ValueError("the manifest repeats a sample id")
        self.records: dict[str, Record] = {}
        self.duplicates = 0
        self.next_start = 0

    def add(self, record: Record) -> None:
        """Take one record; a second record for the same sample (a retried task) is dropped."""
        if record.sample_id not in self.position:
            raise ValueError(f"a worker returned sample {record.sample_id!r}, which is not in the manifest")
        if record.sample_id in self.records or self.position[record.sample_id] < self.next_start:
            self.duplicates += 1
            return
        if record.logits is None and not record.error:
            raise ValueError(f"sample {record.sample_id!r} came back with neither logits nor an error")
        self.records[record.sample_id] = record

    def ready(self) -> Iterator[Chunk]:
        """The complete batches that follow the last one handed out, in manifest order."""
        while self.next_start < len(self.samples):
            stop = min(self.next_start + self.batch_size, len(self.samples))
            part = self.samples[self.next_start : stop]
            if any(s.sample_id not in self.records for s in part):
                return
            records = [self.records.pop(s.sample_id) for s in part]
            yield _chunk(self.next_start, stop, part, records)
            self.next_start = stop

    def finish(self) -> None:
        """Raise unless every manifest sample has been handed out."""
        if self.next_start < len(self.samples):
            missing = [s.sample_id for s in self.samples[self.next_start :] if s.sample_id not in self.records]
            raise ValueError(
                f"{len(missing)} of {len(self.samples)} samples never came back from the workers "
                f"(first: {', '.join(missing[:3])})"
            )


def _chunk(start: int, stop: int, samples: Sequence[Sample], records: list[Record]) -> Chunk:
    good = [(s, r) for s, r in zip(samples, records) if r.logits is not None]
    failures = tuple(Failure(r.sample_id, r.error) for r in records if r.logits is None)
    batch = None
    if good:
        batch = Batch(
            np.stack([r.logits for _, r in good]),
            np.asarray([s.label for s, _ in good], dtype=np.int64),
            tuple(s.sample_id for s, _ in good),
            good[0][1].seconds,
        )
    return Chunk(start, stop, batch, failures)
