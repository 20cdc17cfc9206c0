"""Tensors through this machine's shared memory instead of the message (Triton's system shared
memory extension), for ``InferenceClient(url, shared_memory=True)``.

Each call in flight takes a slot: a POSIX shared memory object (``/dev/shm``) registered with
the server as one region. The inputs are copied into it, the request names them (and the
fixed-size outputs) by region, offset and size, and the server reads the inputs in place and
writes the outputs straight into the slot. A slot too small for a call is replaced by a larger
one; ``close`` unregisters and removes them all.

Shared memory works only with a server on this machine: ``local_server`` says whether a
``--server`` value can be one.
"""

from __future__ import annotations

import ipaddress
import mmap
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from convzoo.client import fleet

POSIX_SHM = Path("/dev/shm")  # where Linux keeps POSIX shared memory objects (shm_open's names)
# Tensors start on these boundaries in a slot (the server copies misaligned numeric inputs).
ALIGNMENT = 64
MIN_SLOT_BYTES = 1 << 16


def local_server(url: str) -> bool:
    """True when ``url`` is one server on a loopback address (``127.0.0.1``, ``::1``, ``localhost``)."""
    target = fleet.parse(url)
    if target.fleet:
        return False
    host, _ = fleet.split_endpoint(target.uri)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def aligned(size: int) -> int:
    return -(-size // ALIGNMENT) * ALIGNMENT


class Slot:
    """One registered region: ``name`` on the server, ``buffer`` here."""

    def __init__(self, size: int):
        self.name = f"convzoo_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        descriptor = os.open(POSIX_SHM / self.name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(descriptor, size)
            self._mapping = mmap.mmap(descriptor, size)
        finally:
            os.close(descriptor)  # the mapping keeps the object open
        self.buffer = memoryview(self._mapping)
        self.size = size

    @property
    def key(self) -> str:
        return "/" + self.name

    def remove(self) -> None:
        self.buffer.release()
        self._mapping.close()
        (POSIX_SHM / self.name).unlink(missing_ok=True)


class SlotPool:
    """Slots registered with one server through ``register(name, key, byte_size)`` and
    ``unregister(name)``; thread-safe, one slot per call in flight."""

    def __init__(self, register: Callable[[str, str, int], None], unregister: Callable[[str], None]):
        self._register = register
        self._unregister = unregister
        self._lock = threading.Lock()
        self._free: list[Slot] = []
        self._all: set[Slot] = set()

    @contextmanager
    def slot(self, size: int) -> Iterator[Slot]:
        """A slot of at least ``size`` bytes for one call; it goes back to the pool afterwards."""
        small = None
        with self._lock:
            taken = next((slot for slot in self._free if slot.size >= size), None)
            if taken is not None:
                self._free.remove(taken)
            elif self._free:  # every free slot is too small: replace one
                small = self._free.pop()
                self._all.discard(small)
        if small is not None:
            self._drop(small)
        if taken is None:
            taken = self._new(max(size, MIN_SLOT_BYTES))
        try:
            yield taken
        finally:
            with self._lock:
                self._free.append(taken)

    def _new(self, size: int) -> Slot:
        slot = Slot(1 << (size - 1).bit_length())
        try:
            self._register(slot.name, slot.key, slot.size)
        except BaseException:
            slot.remove()
            raise
        with self._lock:
            self._all.add(slot)
        return slot

    def _drop(self, slot: Slot) -> None:
        try:
            self._unregister(slot.name)
        finally:
            slot.remove()

    def close(self) -> None:
        """Unregister and remove every slot (the server may be gone: removal happens anyway)."""
        with self._lock:
            slots, self._all, self._free = list(self._all), set(), []
        for slot in slots:
            try:
                self._drop(slot)
            except OSError:
                pass  # the server is gone or refuses: its mapping goes with it; ours is removed
