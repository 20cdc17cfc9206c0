"""A dataset's manifest: the ordered (sample id, path, label) rows an evaluation covers.

Its sha256 names exactly which files with which labels were evaluated, so a report can be
matched to a dataset without re-reading it (``convzoo sweep`` keeps a report whose model and
manifest hashes match), and a distributed job can check that it got back every sample.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from convzoo.base.datasets.dataset import Sample


def rows(samples: Sequence[Sample]) -> list[dict]:
    """The manifest rows, in dataset order: ``{"sample_id", "path", "label"}``."""
    return [{"sample_id": s.sample_id, "path": str(s.path), "label": int(s.label)} for s in samples]


def sha256(samples: Sequence[Sample]) -> str:
    """The hash of the manifest: sample ids and labels in order (not the absolute paths).

    Paths are left out so the same dataset copied to another folder or machine hashes the same.
    """
    digest = hashlib.sha256()
    for s in samples:
        digest.update(json.dumps([s.sample_id, int(s.label)]).encode() + b"\n")
    return digest.hexdigest()
