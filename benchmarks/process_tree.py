"""CPU time of a process and everything it started, from Linux ``/proc``: what a run costs on a
shared machine, where wall time mostly measures the wait for a core.

Ray's workers and actors exit when a job ends, and their parents do not collect their CPU time
(no ``cutime``), so a before/after difference misses them; ``TreeCpu`` polls the tree and keeps
the last time seen of every process.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
POLL_SECONDS = 0.25  # a process that exits loses at most this much of its CPU time


def _table() -> dict[int, tuple[int, float]]:
    """Every process: pid -> (parent pid, user + system CPU seconds, its threads included)."""
    table = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        table[int(pid)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS)
    return table


def _tree(table: dict[int, tuple[int, float]], root: int) -> dict[int, float]:
    """CPU seconds of ``root`` and its descendants, by pid."""
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _) in table.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    return {pid: table[pid][1] for pid in tree if pid in table}


class TreeCpu:
    """CPU seconds that this process and its descendants spend between ``__enter__`` and ``seconds()``."""

    def __init__(self) -> None:
        self.root = os.getpid()
        self.start: dict[int, float] = {}
        self.seen: dict[int, float] = {}
        self.stopped = threading.Event()
        self.poller = threading.Thread(target=self._poll, name="tree-cpu", daemon=True)

    def __enter__(self) -> TreeCpu:
        self.start = _tree(_table(), self.root)
        self.seen = dict(self.start)
        self.poller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.poller.join()

    def _poll(self) -> None:
        while not self.stopped.wait(POLL_SECONDS):
            self.seen.update(_tree(_table(), self.root))

    def seconds(self) -> float:
        """CPU seconds spent so far (a process counts from when it was first seen, or from the start)."""
        self.seen.update(_tree(_table(), self.root))
        return sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self.seen.items())
