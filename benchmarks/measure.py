"""Timing and ratios: every figure is A/B of two measurements taken in the same run,
interleaved (A B, B A, A B ...) over rounds, and reported as the median of the per-round ratios.

A measurement is a dict of numbers (``items_per_s``, ``p50``, ``p99`` ...) plus its raw
``latencies``; a figure picks one key and divides A's value by B's, round by round.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Measurement = dict


@dataclass(frozen=True)
class Target:
    """``ratio >= value`` (``at_least``) or ``ratio <= value``."""

    value: float
    at_least: bool = True

    def met(self, ratio: float) -> bool:
        return ratio >= self.value if self.at_least else ratio <= self.value

    def __str__(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {self.value:g}"


@dataclass
class Figure:
    """One row of the results: the median over rounds of ``a[key] / b[key]``."""

    case: str
    name: str
    a: str
    b: str
    key: str
    pairs: list[tuple[Measurement, Measurement]]
    target: Target | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ratios(self) -> list[float]:
        return [a[self.key] / b[self.key] for a, b in self.pairs]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def median(self, side: str) -> float:
        """The median of one side's ``key`` over rounds (``side`` is ``a`` or ``b``)."""
        return statistics.median(pair[0 if side == "a" else 1][self.key] for pair in self.pairs)

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.ratio)


def interleave(
    a: Callable[[], Measurement], b: Callable[[], Measurement], rounds: int
) -> list[tuple[Measurement, Measurement]]:
    """``rounds`` (A, B) pairs, measured A B, B A, A B ... so that a load that drifts during
    the run favours neither side; warm both sides up before calling this."""
    pairs = []
    for index in range(rounds):
        if index % 2:
            second = b()
            pairs.append((a(), second))
        else:
            first = a()
            pairs.append((first, b()))
    return pairs


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linear between ranks, as numpy's default."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def load(call: Callable[[], object], items: int, *, clients: int = 1, seconds: float = 1.0) -> Measurement:
    """Run ``call`` (``items`` images per call) from ``clients`` threads until ``seconds`` have
    passed (each client finishes its call in progress); throughput and latency percentiles."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    start_line = threading.Barrier(clients + 1)
    deadline = 0.0

    def client(own: list[float]) -> None:
        start_line.wait()
        try:
            while True:
                tick = time.perf_counter()
                call()
                own.append(time.perf_counter() - tick)
                if time.perf_counter() >= deadline:
                    return
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(own,), daemon=True) for own in latencies]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline = started + seconds
    start_line.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    flat = [latency for own in latencies for latency in own]
    return {
        "items_per_s": items * len(flat) / wall,
        "p50": percentile(flat, 50),
        "p99": percentile(flat, 99),
        "seconds": wall,
        "latencies": flat,
    }


def rotate(measures: dict[str, Callable[[], Measurement]], rounds: int) -> dict[str, list[Measurement]]:
    """``rounds`` measurements of each side, the order rotating every round (A B C, B C A,
    C A B ...), so that no side always runs first or after the same neighbour; with two
    sides this is ``interleave``'s A B, B A order."""
    names = list(measures)
    taken: dict[str, list[Measurement]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            taken[name].append(measures[name]())
    return taken
