"""Give freed heap memory back to the operating system after models load or unload.

A load parses the whole ONNX file (half a gigabyte for VGG) into buffers that are freed once
the session holds its weights, and an unload frees a session. glibc keeps such memory in its
heaps, so without a trim a server's RSS carries that garbage, and grows with every reload.
"""

from __future__ import annotations

import ctypes
import functools
import sys


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    return getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc has it; musl does not


def release() -> None:
    """``malloc_trim(0)`` where the C library offers it; otherwise nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
