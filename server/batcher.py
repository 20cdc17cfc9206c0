"""Dynamic batching: concurrent requests to one model version merge into one session run.

A worker takes the oldest queued request and every queued request compatible with it
(same non-batch shapes), up to ``max_batch_size`` rows. With ``max_queue_delay_ns`` of 0
it runs at once, so an idle server adds no delay and merging happens while a run is busy;
with a delay it waits for more rows, but never past the oldest request's arrival plus the
delay, and stops waiting as soon as the largest preferred size (or the maximum) is reached.
Results are split back by rows, in order. Models with max_batch_size 0 run one request at
a time through the same queue. A request whose future is cancelled while queued (its client
went away or its deadline passed) leaves the queue at once and never runs.

Who runs a group: up to ``workers`` groups run at once (the instance count). With no queue
delay, a request submitted with ``lead=True`` is run by the thread that waits for it (in
``result()``), not by a batcher thread: a lone one (nothing queued, a slot free) takes the
slot when submitted and never enters the queue (its future, a ``ClaimedRun``, has no lock or
condition of its own); otherwise, when a run slot is free, the waiter takes the oldest queued
group (its own or one that came before it) and runs it. So a lone request costs no thread
hand-off at all, and no queue bookkeeping. When a run ends and requests still wait, the slot
goes to the waiter of the oldest one (first in, first out, which bounds the p99), or to a
batcher thread when that request's submitter does not wait in ``result()`` (``lead=False``:
callbacks, asyncio).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from convzoo.base.errors import Kind, ServingError, exhausted, unavailable
from convzoo.server import threads
from convzoo.server.model import Model
from convzoo.server.statistics import Statistics


class QueuedFuture(Future):
    """A queued request's future: cancelling it takes the request off its batcher's queue
    (``Batcher._drop``)."""

    def __init__(self, batcher: Batcher, pending: Pending):
        super().__init__()
        self.batcher = batcher
        self.pending = pending

    def cancel(self) -> bool:
        if not super().cancel():
            return False
        self.batcher._drop(self.pending)
        return True


class LeadingFuture(QueuedFuture):
    """A request's future whose ``result()`` first runs queued groups in the calling thread
    while the request waits and a run slot is free (see the module docstring)."""

    def __init__(self, batcher: Batcher, pending: Pending):
        super().__init__(batcher, pending)
        self.promoted = False  # a run slot was handed to this request's waiter

    def result(self, timeout: float | None = None):
        """The rows' outputs, running queued groups here meanwhile; ``TimeoutError`` after
        ``timeout`` seconds as ``Future.result`` (a group this thread runs is not cut short).
        A request whose waiter timed out stays queued, and a batcher thread runs it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.pending.leading:
            self.batcher._lead(self.pending, deadline)
        return super().result(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def promote(self) -> None:
        with self._condition:  # Future's own lock: set_result and cancel notify the same condition
            self.promoted = True
            self._condition.notify_all()

    def wait_for_turn(self, deadline: float | None = None) -> bool:
        """Sleep until this request is done (or cancelled) or a run slot is handed to it: True;
        or until ``deadline`` (``time.monotonic()``) passes: False."""
        with self._condition:
            while not self.promoted and not self.done():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._condition.wait(remaining)
            return True


CLAIMED, RUNNING, FINISHED, CANCELLED = range(4)  # a ClaimedRun's states, in order


class ClaimedRun:
    """The future of a lone request that took a free run slot when it was submitted: its waiter
    runs it in ``result()``, so nothing else waits for it (see the module docstring). Its state
    lives under the batcher's lock rather than in a Condition of its own: only a drain, which
    runs it when no one came to wait yet, makes a waiter wait. It offers what the batcher and
    a waiter use of a Future: ``result``, ``cancel``, ``done``, ``set_result``, ``set_exception``."""

    def __init__(self, batcher: Batcher, pending: Pending):
        self.batcher = batcher
        self.pending = pending
        self.state = CLAIMED
        self.by_drain = False  # a drain runs it: its waiter, if any comes, waits for the drain
        self._outputs: dict[str, np.ndarray] | None = None
        self._error: BaseException | None = None

    def result(self, timeout: float | None = None) -> dict[str, np.ndarray]:
        """Run the request here and return its outputs; once a drain took it, wait (``timeout``
        seconds at most, then ``TimeoutError``); ``CancelledError`` once cancelled."""
        batcher = self.batcher
        with batcher._cond:
            runs_here = self.state == CLAIMED
            if runs_here:
                batcher._start_claimed(self.pending)
            elif not batcher._cond.wait_for(self.done, timeout):
                raise TimeoutError
        if runs_here:
            batcher._run([self.pending])
        if self.state == CANCELLED:
            raise CancelledError
        if self._error is not None:
            raise self._error
        return self._outputs

    def cancel(self) -> bool:
        """Give the run slot back unless the request runs or ran: True (again once cancelled)."""
        with self.batcher._cond:
            if self.state == CLAIMED:
                self.state = CANCELLED
                self.batcher._claimed.discard(self.pending)
                self.batcher._release_slot()
            return self.state == CANCELLED

    def done(self) -> bool:
        return self.state >= FINISHED

    def set_result(self, outputs: dict[str, np.ndarray]) -> None:
        self._outputs = outputs
        self._finish()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._finish()

    def _finish(self) -> None:
        if not self.by_drain:  # its own waiter ran it: no one else looks
            self.state = FINISHED
            return
        with self.batcher._cond:
            self.state = FINISHED
            self.batcher._cond.notify_all()


@dataclass(eq=False)
class Pending:
    inputs: dict[str, np.ndarray]
    rows: int
    future: QueuedFuture | ClaimedRun | None = None  # set once it is queued or claims a slot
    enqueued_ns: int = field(default_factory=time.monotonic_ns)
    taken: bool = False
    leading: bool = False  # its waiter runs it (until that waiter times out)
    # a traced request's timestamps (server/tracing/spans.py): queue start, then compute start,
    # input end, output start and compute end are appended; None (not traced): nothing is
    timestamps: list[int] | None = None

    @cached_property
    def key(self) -> tuple:
        """What requests must share to run in one batch: input names, dtypes and non-batch shapes
        (computed only for requests that queue: a lone one never needs it)."""
        return tuple((name, array.dtype.str, array.shape[1:]) for name, array in sorted(self.inputs.items()))


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
        self.leading = max_queue_delay_ns <= 0
        self.slots = max(1, workers)
        self._running = 0  # groups running now, at most ``slots``
        self._queue: deque[Pending] = deque()
        # lone requests that took a free slot at submit and wait for their waiter to run them
        # (ClaimedRun); whoever takes one out (its waiter, a drain, its cancellation) runs it or frees its slot
        self._claimed: set[Pending] = set()
        self._cond = threading.Condition()
        self._closed = False
        self._threads: list[threading.Thread] = []
        try:
            for i in range(max(1, workers)):
                thread = threading.Thread(
                    target=self._work, name=f"batcher-{model.name}-{model.version}-{i}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        except BaseException:  # e.g. no thread to be had: the ones started stop, none is left behind
            self.close()
            raise

    def submit(
        self, inputs: dict[str, np.ndarray], *, lead: bool = False, timestamps: list[int] | None = None
    ) -> Future | ClaimedRun:
        """Queue one validated request; the future yields {output name: array} for its rows.
        ``lead``: the submitter will wait in ``future.result()`` and may run groups there; a lone
        one gets a ``ClaimedRun``. ``timestamps``: a traced request's list, which gets its queue
        and compute timestamps."""
        first = next(iter(inputs.values()))
        rows = first.shape[0] if self.max_rows > 0 else 1
        leading = lead and self.leading
        pending = Pending(inputs, rows, leading=leading, timestamps=timestamps)
        if timestamps is not None:
            timestamps.append(pending.enqueued_ns)
        with self._cond:
            if self._closed:
                raise unavailable(f"model '{self.model.name}' version {self.model.version} is unloading")
            if len(self._queue) >= self.max_queue_size:
                raise exhausted(
                    f"model '{self.model.name}' version {self.model.version}: queue is full "
                    f"({self.max_queue_size} requests waiting); retry later"
                )
            if leading and not self._queue and self._running < self.slots:
                self._running += 1  # nothing waits before it: it runs in its waiter, never queued
                pending.taken = True
                pending.future = ClaimedRun(self, pending)
                self._claimed.add(pending)
            else:
                pending.future = (LeadingFuture if leading else QueuedFuture)(self, pending)
                self._queue.append(pending)
                self.statistics.queued(self.model.name, str(self.model.version), 1)
                if not pending.leading:
                    self._cond.notify()
        return pending.future

    def _drop(self, pending: Pending) -> None:
        """A request cancelled while queued (client gone, deadline passed) leaves the queue;
        again for the same request: nothing."""
        with self._cond:
            if pending in self._queue:
                self._queue.remove(pending)
                self.statistics.queued(self.model.name, str(self.model.version), -1)
                self._hand_over()  # it may have been handed the free run slot

    def _hand_over(self) -> None:
        """With a run slot free and requests queued, wake whoever runs the oldest: its waiting
        submitter, or a batcher thread. Called with the lock held."""
        if self._queue and self._running < self.slots:
            oldest = self._queue[0]
            if oldest.leading:
                oldest.future.promote()
            else:
                self._cond.notify()

    def _start_claimed(self, pending: Pending) -> None:
        """Take a claimed request out to run now in the slot it holds; the lock is held."""
        self._claimed.discard(pending)
        pending.future.state = RUNNING

    def _release_slot(self) -> None:
        """A run ended or a claimed request was cancelled: its slot goes to the oldest waiting
        request. The lock is held."""
        self._running -= 1
        self._hand_over()

    def _lead(self, pending: Pending, deadline: float | None = None) -> None:
        """Run groups in this thread while ``pending`` is queued and a slot is free; return once
        it is taken, or at ``deadline``: then its waiter is gone and batcher threads run it."""
        while True:
            with self._cond:
                if pending.taken or pending.future.done():
                    return
                group = None
                if self._running < self.slots:
                    group = self._take_now()
                else:
                    pending.future.promoted = False
            if group is not None:
                self._run(group)
            elif not pending.future.wait_for_turn(deadline):
                with self._cond:
                    pending.leading = False
                    self._hand_over()  # a slot handed to this waiter goes to a batcher thread
                return

    def stop_accepting(self) -> None:
        """Refuse new requests from now on (UNAVAILABLE); queued requests still run."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting; queued requests still run; wait for the workers."""
        self.stop_accepting()
        for thread in self._threads:
            thread.join(timeout)

    def _take(self) -> list[Pending] | None:
        """The next group for a batcher thread (those still wanted: cancelled ones are left
        out), or None once closed; it holds a run slot until ``_run`` ends."""
        with self._cond:
            while True:
                if self._closed and self._claimed:  # draining: no one may come to run them
                    pending = next(iter(self._claimed))
                    self._start_claimed(pending)
                    pending.future.by_drain = True
                    return [pending]
                if not self._queue or self._running >= self.slots:
                    if self._closed and not self._queue:
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
            return self._claim(group)

    def _take_now(self) -> list[Pending]:
        """The oldest compatible group, at once (no queue delay); the lock is held."""
        return self._claim(self._compatible())

    def _claim(self, group: list[Pending]) -> list[Pending]:
        """Take ``group`` off the queue into a run slot; those still wanted. The lock is held."""
        for pending in group:
            self._queue.remove(pending)
            pending.taken = True
        self._running += 1
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
        threads.name_os_thread()
        while (group := self._take()) is not None:
            self._run(group)

    def _run(self, group: list[Pending]) -> None:
        """Execute a claimed group, then free its slot for the oldest waiting request."""
        try:
            if group:
                self._execute(group)
        finally:
            with self._cond:
                self._release_slot()
                if self._closed:
                    self._cond.notify_all()

    def _execute(self, group: list[Pending]) -> None:
        start = time.monotonic_ns()
        names = self.model.output_names
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
                parts, first = [], 0
                for pending in group:  # each request's rows: views of the batch's outputs
                    last = first + pending.rows
                    parts.append({name: results[name][first:last] for name in names})
                    first = last
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
            if pending.timestamps is not None:
                pending.timestamps += (start, assembled, ran, done)
            pending.future.set_result(part)
