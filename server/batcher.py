"""Dynamic batching: concurrent requests to one model version merge into one session run.

A worker takes the oldest queued request and every queued request compatible with it
(same non-batch shapes), up to ``max_batch_size`` rows. With ``max_queue_delay_ns`` of 0
it runs at once, so an idle server adds no delay and merging happens while a run is busy;
with a delay it waits for more rows, but never past the oldest request's arrival plus the
delay, and stops waiting as soon as the largest preferred size (or the maximum) is reached.
Results are split back by rows, in order. Models with max_batch_size 0 run one request at
a time through the same queue. A request whose future is cancelled while queued (its client
went away or its deadline passed) leaves the queue at once and never runs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from convzoo.base.errors import Kind, ServingError, exhausted, unavailable
from convzoo.server.model import Model
from convzoo.server.statistics import Statistics


@dataclass(eq=False)
class Pending:
    inputs: dict[str, np.ndarray]
    rows: int
    key: tuple
    enqueued_ns: int = field(default_factory=time.monotonic_ns)
    future: Future = field(default_factory=Future)


class Batcher:
    """The request queue and batch workers of one model version."""

    def __init__(
        self,
        model: Model,
        statistics: Statistics,
        *,
        max_queue_size: int,
        max_queue_delay_ns: int,
        preferred_batch_sizes: tuple[int, ...] = (),
        workers: int = 1,
    ):
        self.model = model
        self.statistics = statistics
        self.max_queue_size = max_queue_size
        self.max_queue_delay_ns = max_queue_delay_ns
        self.max_rows = model.max_batch_size
        self.target_rows = min(max(preferred_batch_sizes), self.max_rows) if preferred_batch_sizes else self.max_rows
        self._queue: deque[Pending] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batcher-{model.name}-{model.version}-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, inputs: dict[str, np.ndarray]) -> Future:
        """Queue one validated request; the future yields {output name: array} for its rows."""
        first = next(iter(inputs.values()))
        rows = first.shape[0] if self.max_rows > 0 else 1
        key = tuple((name, array.dtype.str, array.shape[1:]) for name, array in sorted(inputs.items()))
        pending = Pending(inputs, rows, key)
        with self._cond:
            if self._closed:
                raise unavailable(f"model '{self.model.name}' version {self.model.version} is unloading")
            if len(self._queue) >= self.max_queue_size:
                raise exhausted(
                    f"model '{self.model.name}' version {self.model.version}: queue is full "
                    f"({self.max_queue_size} requests waiting); retry later"
                )
            self._queue.append(pending)
            self.statistics.queued(self.model.name, str(self.model.version), 1)
            self._cond.notify()
        pending.future.add_done_callback(lambda future: future.cancelled() and self._drop(pending))
        return pending.future

    def _drop(self, pending: Pending) -> None:
        """A request cancelled while queued (client gone, deadline passed) leaves the queue, freeing its slot."""
        with self._cond:
            if pending in self._queue:
                self._queue.remove(pending)
                self.statistics.queued(self.model.name, str(self.model.version), -1)

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting; queued requests still run; wait for the workers."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _take(self) -> list[Pending] | None:
        """The next group to run (those still wanted: cancelled ones are left out), or None once closed."""
        with self._cond:
            while True:
                if not self._queue:
                    if self._closed:
                        return None
                    self._cond.wait()
                    continue
                group = self._compatible()
                rows = sum(p.rows for p in group)
                waited = time.monotonic_ns() - group[0].enqueued_ns
                remaining = self.max_queue_delay_ns - waited
                if self.max_rows == 0 or rows >= self.target_rows or remaining <= 0 or self._closed:
                    break
                self._cond.wait(remaining / 1e9)
            for pending in group:
                self._queue.remove(pending)
            self.statistics.queued(self.model.name, str(self.model.version), -len(group))
        return [p for p in group if p.future.set_running_or_notify_cancel()]

    def _compatible(self) -> list[Pending]:
        first = self._queue[0]
        if self.max_rows == 0:
            return [first]
        group, rows = [], 0
        for pending in self._queue:
            if pending.key == first.key and rows + pending.rows <= self.max_rows:
                group.append(pending)
                rows += pending.rows
        return group

    def _work(self) -> None:
        while (group := self._take()) is not None:
            if group:
                self._execute(group)

    def _execute(self, group: list[Pending]) -> None:
        start = time.monotonic_ns()
        names = [spec.name for spec in self.model.outputs]
        try:
            if len(group) == 1:
                feeds = group[0].inputs
            else:
                feeds = {name: np.concatenate([p.inputs[name] for p in group]) for name in group[0].inputs}
            assembled = time.monotonic_ns()
            results = self.model.run(feeds, names)
            ran = time.monotonic_ns()
            if len(group) == 1:
                parts = [results]
            else:
                bounds = np.cumsum([p.rows for p in group])[:-1]
                split = {name: np.split(results[name], bounds) for name in names}
                parts = [{name: split[name][i] for name in names} for i in range(len(group))]
            done = time.monotonic_ns()
        except Exception as exc:  # a run failure fails its requests, never the worker
            error = ServingError(
                Kind.INTERNAL, f"model '{self.model.name}' version {self.model.version} failed to run: {exc}"
            )
            for pending in group:
                pending.future.set_exception(error)
            return
        self.statistics.execution(
            self.model.name,
            str(self.model.version),
            [(p.rows, start - p.enqueued_ns) for p in group],
            assembled - start,
            ran - assembled,
            done - ran,
        )
        for pending, part in zip(group, parts):
            pending.future.set_result(part)
