"""Throughput of ONNX files measured together, so that their ratios mean something.

Timings taken at different moments on a shared machine differ by more than fp16 or int8
change them. Here every session is created first, then each round runs every model once
on the same seeded batch, in an order that rotates from round to round; a model's figure
is its median over the rounds. Ratios of these figures are "measured in the same run".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROVIDER = "CPUExecutionProvider"
WARM_UP_RUNS = 2


@dataclass(frozen=True)
class Measurement:
    batch_size: int
    rounds: int
    images_per_second: dict[str, float]  # by the name each file was given
    provider: str = PROVIDER

    def describe(self) -> str:
        return (
            f"measured together: ONNX Runtime {self.provider}, batch {self.batch_size}, "
            f"median of {self.rounds} interleaved rounds"
        )


def interleaved(files: dict[str, Path], batch_size: int = 8, rounds: int = 20, threads: int = 0) -> Measurement:
    """Images/s of each named ONNX classifier (input ``[N, 3, H, W]``), timed round-robin."""
    import onnxruntime as ort

    from convzoo.base.sessions import open_session

    if batch_size < 1 or rounds < 1:
        raise ValueError("batch size and rounds must be positive")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    sessions, feeds = {}, {}
    rng = np.random.default_rng(0)
    for name, path in files.items():
        session = open_session(path, [PROVIDER], options)
        model_input = session.get_inputs()[0]
        shape = [batch_size, *(d if isinstance(d, int) and d > 0 else 1 for d in model_input.shape[1:])]
        sessions[name], feeds[name] = session, {model_input.name: rng.standard_normal(shape, dtype=np.float32)}
    names = list(sessions)
    for _ in range(WARM_UP_RUNS):
        for name in names:
            sessions[name].run(None, feeds[name])
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            start = time.perf_counter()
            sessions[name].run(None, feeds[name])
            seconds[name].append(time.perf_counter() - start)
    return Measurement(batch_size, rounds, {name: batch_size / float(np.median(s)) for name, s in seconds.items()})
