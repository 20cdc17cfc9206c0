"""How a server's ONNX Runtime sessions use CPU threads.

Requests arrive on gRPC (or REST) threads and run on the gRPC thread that waits for them or
on batcher threads (``batcher``). ONNX Runtime's intra-op pool
threads spin between parallel sections by default: in a server they take the cores that
gRPC, the batchers and any neighbour need, so spinning is off. The default thread count is
what this process may really use (CPU affinity and a cgroup CPU quota), not the host's cores,
which ONNX Runtime's own default counts. Server threads carry their names down to the
operating system (``name_os_thread``), so per-thread tools tell them apart.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import sys
import threading
from pathlib import Path

import onnxruntime as ort

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
PR_SET_NAME = 15  # prctl(2): name the calling thread
OS_NAME_BYTES = 15  # what Linux keeps of a thread's name


def usable_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return count


def session_options(intra_op_threads: int = 0) -> ort.SessionOptions:
    """Session options for serving: ``intra_op_threads`` (0: ``usable_cpus()``), no spinning."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads or usable_cpus()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def name_os_thread() -> None:
    """Give the calling thread's Python name to the operating system (Linux only; its first 15
    bytes), where ``top -H``, ``py-spy`` and ``/proc/PID/task/TID/comm`` show it. Python names
    no OS thread before 3.14, and a thread otherwise inherits the name of the one that started it."""
    if sys.platform == "linux":
        name = threading.current_thread().name.encode()[:OS_NAME_BYTES]
        _libc().prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None)
