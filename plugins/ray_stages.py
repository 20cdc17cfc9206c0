"""The two stages of ``convzoo eval --ray`` that run on the cluster's workers.

``decode_chunk`` (a Ray Data task) turns one manifest batch into preprocessed pixels with the
model's recipe; ``InferenceActor`` (a callable class in an actor pool) holds one ONNX Runtime
session and turns a decoded batch into one record per sample. A batch travels as raw float32
bytes so that every ONNX Runtime call sees exactly the batch the in-process job would form.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from convzoo.base.datasets import Sample
from convzoo.base.loader import load_batches
from convzoo.base.preprocessing import Preprocessing


def decode_chunk(row: dict, recipe: dict, draft: bool) -> dict:
    """Decode and preprocess one manifest batch; undecodable files come back as errors."""
    samples = [
        Sample(Path(path), int(label), str(sample_id))
        for sample_id, path, label in zip(row["sample_ids"], row["paths"], row["labels"])
    ]
    (loaded,) = load_batches(
        samples, Preprocessing.from_dict(recipe), batch_size=max(len(samples), 1), workers=0, draft=draft
    )
    return {
        "chunk": row["chunk"],
        "decoded_ids": list(loaded.sample_ids),
        "pixels": np.ascontiguousarray(loaded.images, dtype=np.float32).tobytes(),
        "failed_ids": [f.sample_id for f in loaded.failures],
        "errors": [f.error for f in loaded.failures],
    }


class InferenceActor:
    """One ONNX Runtime session in a Ray actor: decoded batches in, one record per sample out."""

    def __init__(self, model_path: str, device: str, threads: int | None) -> None:
        from convzoo.plugins.backends import OnnxBackend

        self.backend = OnnxBackend(model_path, device=device, threads=threads)
        size = self.backend.preprocessing.crop_size
        probe = self.backend.infer(np.zeros((1, 3, size, size), np.float32))  # warm-up; learns the output width
        self.classes, self.dtype = probe.shape[1], probe.dtype
        self.providers = ",".join(self.backend.runtime["providers"])

    def __call__(self, batch: dict) -> dict:
        ids, logits, errors, seconds = [], [], [], []
        size = self.backend.preprocessing.crop_size
        for decoded, pixels, failed, messages in zip(
            batch["decoded_ids"], batch["pixels"], batch["failed_ids"], batch["errors"]
        ):
            images = np.frombuffer(pixels, np.float32).reshape(len(decoded), 3, size, size)
            tick = time.perf_counter()
            out = self.backend.infer(images) if len(images) else np.zeros((0, self.classes), self.dtype)
            took = time.perf_counter() - tick
            failed_rows = np.full((len(failed), self.classes), np.nan, self.dtype)
            ids += [*decoded, *failed]
            logits += [out, failed_rows]
            errors += [""] * len(decoded) + list(messages)
            seconds += [took] * (len(decoded) + len(failed))
        return {
            "sample_id": np.asarray(ids, dtype=object),
            "logits": np.concatenate(logits) if logits else np.zeros((0, self.classes), self.dtype),
            "error": np.asarray(errors, dtype=object),
            "seconds": np.asarray(seconds, dtype=np.float64),
            "providers": np.asarray([self.providers] * len(ids), dtype=object),
        }
