"""Triton's system shared memory: regions of POSIX shared memory that inputs and outputs name.

A client on the same host creates a POSIX shared memory object (``shm_open``: the file
``/dev/shm/<key>``), registers part of it under a name (``register``: name, key, offset,
byte_size), and then names that region in a request's input or output parameters
(``shared_memory_region``, ``shared_memory_offset``, ``shared_memory_byte_size``) instead of
sending the bytes. The server maps each region once, at registration, after checking offset
and byte_size against the object's real size (``fstat``); inputs are NumPy views of that
mapping (no copy) and outputs are written straight into it.

Unregistering behaves as Triton's does: it succeeds at once, and the name is free to be
registered again, while requests already using the region keep its mapping; the memory is
unmapped when the last of them lets go (every view holds a reference to the mapping, so
Python's reference counting does the bookkeeping). A request that names the region after it
was unregistered is refused. Unlike Triton, unregistering a name that was never registered
is an error (Triton answers success); an empty name unregisters every region, as in Triton.

For the data plane: ``read_inputs`` gives a request's inputs their regions' bytes,
``output_regions`` and ``check_output_room`` hold and check where its outputs go before the run,
and ``write_output`` writes each one there after it.
"""

from __future__ import annotations

import dataclasses
import math
import mmap
import os
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from convzoo.base import codec
from convzoo.base.errors import already_exists, invalid, not_found
from convzoo.server.model import Model
from convzoo.server.operations import InferRequest, OutputTensor

SHM_DIR = "/dev/shm"
REGION, OFFSET, BYTE_SIZE = "shared_memory_region", "shared_memory_offset", "shared_memory_byte_size"
PARAMETERS = (REGION, OFFSET, BYTE_SIZE)


@dataclass(frozen=True)
class Placement:
    """Where a tensor's bytes are: ``byte_size`` bytes at ``offset`` of the region ``region``."""

    region: str
    offset: int
    byte_size: int


def placement(parameters: Mapping[str, object], tensor: str) -> Placement | None:
    """The shared memory placement a tensor's parameters ask for (None: the bytes travel in the
    request or response). ``tensor`` (e.g. ``input 'x'``) starts the messages of bad values."""
    if REGION not in parameters:
        stray = [name for name in (OFFSET, BYTE_SIZE) if name in parameters]
        if stray:
            raise invalid(f"{tensor}: parameter '{stray[0]}' needs '{REGION}'")
        return None
    region = parameters[REGION]
    if not isinstance(region, str) or not region:
        raise invalid(f"{tensor}: parameter '{REGION}' must be a region name (a string), got {region!r}")
    if BYTE_SIZE not in parameters:
        raise invalid(f"{tensor}: parameter '{REGION}' needs '{BYTE_SIZE}'")
    sizes = []
    for name, default in ((OFFSET, 0), (BYTE_SIZE, None)):
        value = parameters.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise invalid(f"{tensor}: parameter '{name}' must be an integer >= 0, got {value!r}")
        sizes.append(value)
    return Placement(region, sizes[0], sizes[1])


@dataclass(frozen=True)
class RegionStatus:
    name: str
    key: str
    offset: int
    byte_size: int


class Region:
    """One registered region: ``view`` is a writable memoryview of its ``byte_size`` bytes."""

    def __init__(self, status: RegionStatus, view: memoryview):
        self.status = status
        self.view = view

    def _span(self, offset: int, byte_size: int, purpose: str) -> memoryview:
        size = self.status.byte_size
        if offset < 0 or byte_size < 0 or offset + byte_size > size:
            raise invalid(
                f"{purpose}: offset {offset} + byte size {byte_size} is outside shared memory region "
                f"'{self.status.name}' of {size} bytes"
            )
        return self.view[offset : offset + byte_size]

    def read(self, offset: int, byte_size: int, purpose: str) -> memoryview:
        """The bytes ``[offset, offset + byte_size)`` of the region, in place (no copy);
        ``purpose`` (e.g. ``input 'x'``) starts the message when they are out of range."""
        return self._span(offset, byte_size, purpose)

    def write(self, offset: int, byte_size: int, data: bytes | memoryview, purpose: str) -> int:
        """Copy ``data`` to ``offset`` of the region, where the client gave ``byte_size`` bytes
        for it; returns the bytes written."""
        span = self._span(offset, byte_size, purpose)
        needed = memoryview(data).nbytes
        if needed > byte_size:
            raise invalid(
                f"{purpose} needs {needed} bytes but shared memory region '{self.status.name}' "
                f"was given {byte_size} for it"
            )
        np.frombuffer(span, dtype=np.uint8, count=needed)[:] = np.frombuffer(data, dtype=np.uint8)
        return needed


def _check_key(key: str) -> str:
    """The file name under /dev/shm of a POSIX shared memory key (``/name`` or ``name``)."""
    file_name = key[1:] if key.startswith("/") else key
    if not file_name or "/" in file_name or file_name in (".", "..") or "\0" in file_name:
        raise invalid(
            f"shared memory key '{key}' is not a POSIX shared memory name: expected '/name' "
            "with no other '/' (an object in /dev/shm)"
        )
    return file_name


def _map(name: str, key: str, offset: int, byte_size: int) -> memoryview:
    path = os.path.join(SHM_DIR, _check_key(key))
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise not_found(f"shared memory key '{key}' does not exist (no {path})") from None
    except OSError as exc:
        raise invalid(f"cannot open shared memory key '{key}': {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise invalid(f"shared memory key '{key}' is not a shared memory object")
        if offset + byte_size > info.st_size:
            raise invalid(
                f"failed to register shared memory region '{name}': offset {offset} + byte size {byte_size} "
                f"is beyond the {info.st_size} bytes of '{key}'"
            )
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        mapping = mmap.mmap(fd, offset + byte_size - start, offset=start)
    finally:
        os.close(fd)
    return memoryview(mapping)[offset - start :]


class SharedMemoryRegistry:
    """The server's registered system shared memory regions, by name; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._regions: dict[str, Region] = {}

    def register(self, name: str, key: str, offset: int, byte_size: int) -> None:
        """Map ``byte_size`` bytes at ``offset`` of the object ``key`` under ``name``."""
        if not name:
            raise invalid("shared memory region name is empty")
        if byte_size <= 0:
            raise invalid(f"failed to register shared memory region '{name}': byte size must be > 0, got {byte_size}")
        if offset < 0:
            raise invalid(f"failed to register shared memory region '{name}': offset must be >= 0, got {offset}")
        with self._lock:
            if name in self._regions:
                raise already_exists(f"shared memory region '{name}' is already registered")
            view = _map(name, key, offset, byte_size)
            self._regions[name] = Region(RegionStatus(name, key, offset, byte_size), view)

    def unregister(self, name: str = "") -> None:
        """Forget ``name`` (every region when empty); requests using it keep their mapping."""
        with self._lock:
            if not name:
                self._regions.clear()
            elif self._regions.pop(name, None) is None:
                raise not_found(f"shared memory region '{name}' is not registered")

    def get(self, name: str, tensor: str = "") -> Region:
        """The region named ``name``; a request holds it (and so its mapping) while it runs.
        ``tensor`` (e.g. ``input 'x'``) starts the message when there is none."""
        with self._lock:
            region = self._regions.get(name)
        if region is None:
            raise not_found(
                f"{tensor}: unknown shared memory region '{name}'"
                if tensor
                else f"unknown shared memory region '{name}'"
            )
        return region

    def read(self, place: Placement, tensor: str) -> memoryview:
        """The bytes of an input placed in shared memory, in place."""
        return self.get(place.region, tensor).read(place.offset, place.byte_size, tensor)

    def status(self, name: str = "") -> list[RegionStatus]:
        """Every region (``name`` empty), or the one named, in name order."""
        with self._lock:
            if not name:
                return [self._regions[n].status for n in sorted(self._regions)]
            region = self._regions.get(name)
        if region is None:
            raise not_found(f"unknown shared memory region '{name}'")
        return [region.status]


# --- a request's tensors in shared memory (what the data plane calls) ---

# Each output written into shared memory: the region (held by the request from its start, so an
# unregister while it runs does not take it away) and where in it.
Placements = dict[str, tuple[Region, Placement]]


def _values(parameters) -> dict[str, object]:
    return {key: parameter.value for key, parameter in parameters.items()}


def read_inputs(registry: SharedMemoryRegistry, request: InferRequest) -> InferRequest:
    """The request with each input placed in shared memory given its region's bytes (a view)."""
    inputs, placed = [], False
    for tensor in request.inputs:
        place = placement(_values(tensor.parameters), f"input '{tensor.name}'") if tensor.parameters else None
        if place is not None:
            if tensor.data is not None or tensor.contents is not None:
                raise invalid(f"input '{tensor.name}' has data and a shared memory region; send one or the other")
            tensor = dataclasses.replace(tensor, data=registry.read(place, f"input '{tensor.name}'"))
            placed = True
        inputs.append(tensor)
    return dataclasses.replace(request, inputs=inputs) if placed else request


def output_regions(registry: SharedMemoryRegistry, request: InferRequest) -> Placements:
    """The regions the request's outputs go into, by output name."""
    places = {}
    for output in request.outputs:
        if not output.parameters:
            continue
        values = _values(output.parameters)
        place = placement(values, f"output '{output.name}'")
        if place is not None:
            if "classification" in values:
                raise invalid(f"output '{output.name}' cannot ask for both a shared memory region and classification")
            places[output.name] = (registry.get(place.region, f"output '{output.name}'"), place)
    return places


def check_output_room(model: Model, batch: int, places: Placements) -> None:
    """Refuse, before the run, an output whose fixed size exceeds the room its request gave it
    (a BYTES output's size is known only after the run: ``Region.write`` checks it then)."""
    for name, (_, place) in places.items():
        spec = model.output_specs.get(name)
        if spec is None or spec.datatype.name == "BYTES" or any(d < 0 for d in spec.dims):
            continue
        rows = [batch] if model.max_batch_size > 0 else []
        needed = math.prod([*rows, *spec.dims]) * spec.datatype.dtype.itemsize
        if needed > place.byte_size:
            raise invalid(
                f"output '{name}' needs {needed} bytes but shared memory region '{place.region}' "
                f"was given {place.byte_size} for it"
            )


def write_output(name: str, array: np.ndarray, places: Placements) -> OutputTensor:
    """The output, written into the client's region when the request placed it there."""
    if name not in places:
        return OutputTensor(name, array)
    region, place = places[name]
    region.write(place.offset, place.byte_size, codec.encode_view(array)[2], f"output '{name}'")
    described = {REGION: place.region, BYTE_SIZE: place.byte_size}
    if place.offset:
        described[OFFSET] = place.offset
    return OutputTensor(name, array, described)
