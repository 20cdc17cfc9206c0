"""What a server process spends, read from Linux ``/proc``: CPU time and context switches.

A server's CPU time per request is far steadier than its throughput on a shared machine,
where the load generator competes for the same cores. ``Usage.of(pid)`` sums the process and
every live descendant (a server may run workers): user + system CPU seconds from
``/proc/PID/stat``, and the voluntary and involuntary context switches of every thread from
``/proc/PID/task/*/status`` (the process's own ``status`` counts only its main thread; a thread that
exits takes its counts with it, so compare snapshots of long-lived threads such as a server's).
``thread_cpu(pid)`` reads each thread's own CPU time and the name it gave the operating system
(``/proc/PID/task/TID/comm``): where a server's work runs, thread by thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float
    voluntary_switches: int  # a thread blocked: it waits for another (a hand-off) or for I/O
    involuntary_switches: int  # a thread was preempted: the machine's load shows here

    @property
    def context_switches(self) -> int:
        return self.voluntary_switches + self.involuntary_switches

    @classmethod
    def of(cls, pid: int) -> Usage:
        """The usage so far of ``pid`` and its live descendants."""
        cpu, voluntary, involuntary = 0.0, 0, 0
        for member in [pid, *_descendants(pid)]:
            try:
                fields = _stat_fields(member)
                cpu += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
                for task in (PROC / str(member) / "task").iterdir():
                    switches = thread_switches(task)
                    voluntary += switches[0]
                    involuntary += switches[1]
            except (OSError, IndexError, ValueError):  # it exited meanwhile
                continue
        return cls(cpu, voluntary, involuntary)

    def __sub__(self, earlier: Usage) -> Usage:
        return Usage(
            self.cpu_seconds - earlier.cpu_seconds,
            self.voluntary_switches - earlier.voluntary_switches,
            self.involuntary_switches - earlier.involuntary_switches,
        )


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds so far (user + system) of each live thread of ``pid`` itself, not of its
    children: {thread id: (its name for the OS, seconds)}."""
    found = {}
    for task in (PROC / str(pid) / "task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = _fields(task / "stat")
            found[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / TICKS)
        except (OSError, IndexError, ValueError):  # it exited meanwhile
            continue
    return found


def _stat_fields(pid: int) -> list[str]:
    return _fields(PROC / str(pid) / "stat")


def _fields(stat: Path) -> list[str]:
    """A ``stat`` file after the command name (which may hold spaces): field 3 is index 0."""
    text = stat.read_text()
    return text[text.rindex(")") + 2 :].split()


def thread_switches(task: Path) -> tuple[int, int]:
    """Voluntary and involuntary context switches of one thread (``/proc/PID/task/TID``)."""
    counts = {}
    for line in (task / "status").read_text().splitlines():
        if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
            key, value = line.split(":")
            counts[key] = int(value)
    return counts["voluntary_ctxt_switches"], counts["nonvoluntary_ctxt_switches"]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                parent = int(_stat_fields(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, frontier = [], [pid]
    while frontier:
        below = children.get(frontier.pop(), [])
        found += below
        frontier += below
    return found
