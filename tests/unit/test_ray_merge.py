"""The exact merge behind ``eval --ray``: any arrival order, duplicates, strangers, missing samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convzoo.base.datasets import Sample
from convzoo.plugins.merge import ManifestMerge, Record

SAMPLES = tuple(Sample(Path(f"/d/{n}.JPEG"), n % 7, f"{n}.JPEG") for n in range(7))


def record(n: int, error: str = "") -> Record:
    return Record(f"{n}.JPEG", None if error else np.full(4, float(n), np.float32), error, seconds=0.5)


def drain(merge: ManifestMerge) -> list:
    return list(merge.ready())


def test_out_of_order_records_come_back_as_manifest_batches():
    merge = ManifestMerge(SAMPLES, 3)
    chunks = []
    for n in (6, 4, 5, 3, 1, 2):
        merge.add(record(n))
        chunks += drain(merge)
    assert chunks == []  # sample 0 is still missing: nothing may be handed out
    merge.add(record(0))
    chunks += drain(merge)
    merge.finish()
    assert [(c.start, c.stop) for c in chunks] == [(0, 3), (3, 6), (6, 7)]
    assert [c.batch.sample_ids for c in chunks] == [
        ("0.JPEG", "1.JPEG", "2.JPEG"),
        ("3.JPEG", "4.JPEG", "5.JPEG"),
        ("6.JPEG",),
    ]
    assert chunks[1].batch.logits[:, 0].tolist() == [3.0, 4.0, 5.0]
    assert chunks[1].batch.labels.tolist() == [3, 4, 5]


def test_a_retried_record_is_dropped_even_after_its_batch_went_out():
    merge = ManifestMerge(SAMPLES, 3)
    for n in (0, 1, 2, 1):
        merge.add(record(n))
    assert len(drain(merge)) == 1
    merge.add(record(2))
    assert merge.duplicates == 2


def test_failures_stay_in_their_batch_in_manifest_order():
    merge = ManifestMerge(SAMPLES[:3], 3)
    merge.add(record(2))
    merge.add(record(1, "cannot decode image"))
    merge.add(record(0))
    (chunk,) = drain(merge)
    assert chunk.batch.sample_ids == ("0.JPEG", "2.JPEG")
    assert [(f.sample_id, f.error) for f in chunk.failures] == [("1.JPEG", "cannot decode image")]


def test_a_sample_outside_the_manifest_is_refused():
    with pytest.raises(ValueError, match="not in the manifest"):
        ManifestMerge(SAMPLES, 3).add(Record("stranger.JPEG", np.zeros(4)))


def test_missing_samples_are_named():
    merge = ManifestMerge(SAMPLES, 3)
    for n in (0, 1, 2, 3, 5):
        merge.add(record(n))
    drain(merge)
    with pytest.raises(ValueError, match=r"2 of 7 samples never came back from the workers \(first: 4.JPEG, 6.JPEG\)"):
        merge.finish()
