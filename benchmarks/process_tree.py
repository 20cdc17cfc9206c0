"""CPU time of a process and everything it started, from Linux ``/proc``: what a run costs on a
shared machine, where wall time mostly measures the wait for a core."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and of its reaped children), or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), sum(int(value) for value in fields[11:15]) / TICKS  # utime stime cutime cstime


def cpu_seconds(root: int | None = None) -> float:
    """User + system CPU seconds of ``root`` (default: this process) and its live descendants.

    A descendant that exited and was reaped counts through its parent's ``cutime``/``cstime``;
    one that was never reaped, or whose parent exited, is missed.
    """
    table = {int(pid): entry for pid in os.listdir("/proc") if pid.isdigit() and (entry := _stat(pid))}
    root = os.getpid() if root is None else root
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _) in table.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    return sum(table[pid][1] for pid in tree if pid in table)
