"""Triton's response cache: a repeated request is answered without running the model.

One cache serves the whole server (``convzoo serve --cache-size BYTES``; off by default) and a
model uses it when its config.pbtxt says ``response_cache { enable: true }``. Entries are
least-recently-used first out, and the cache holds at most ``capacity`` bytes, counting each
entry's key and its outputs' data.

The key is a BLAKE2b digest of a canonical, length-prefixed encoding of everything that decides
a response: the model name and version, every input's name, datatype, shape and bytes (inputs
in name order, as their order does not change the response), and the requested outputs in
order with their parameters (``classification`` included). Parameters that only say where or
how an output travels (``OUTPUT_PLACEMENT_PARAMETERS``) are left out: the values are the same.

A reload or unload of a model calls ``invalidate``: its entries go, and a response computed by
the old version while the reload ran is not stored afterwards (each key carries the model's
generation when it was made).
"""

from __future__ import annotations

import hashlib
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from convzoo.base import codec
from convzoo.base.datatypes import DATATYPES
from convzoo.server import shared_memory
from convzoo.server.operations import InferRequest

# Output parameters that place an output (in a shared memory region, or as binary data after a
# REST body) without changing its values.
OUTPUT_PLACEMENT_PARAMETERS = frozenset(shared_memory.PARAMETERS) | {"binary_data"}
# Bytes an entry costs beyond its outputs' data: the digest, and the bookkeeping per output.
ENTRY_OVERHEAD = 64
OUTPUT_OVERHEAD = 64

_LENGTH = struct.Struct("<Q")
_DIGEST_BYTES = 32


@dataclass(frozen=True)
class KeyedInput:
    """What the key reads of one input: ``data`` is its raw bytes (any buffer) or an array."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: object


@dataclass(frozen=True)
class CacheKey:
    model: str
    version: str
    digest: bytes
    generation: int

    @property
    def entry(self) -> tuple[str, str, bytes]:
        """What entries are found by; the generation only guards insertion."""
        return (self.model, self.version, self.digest)

    @property
    def nbytes(self) -> int:
        return len(self.digest) + len(self.model.encode()) + len(self.version.encode()) + ENTRY_OVERHEAD


Outputs = tuple[tuple[str, np.ndarray], ...]


class _Encoder:
    """Feeds a hash with length-prefixed fields, so no two different requests encode alike."""

    def __init__(self) -> None:
        self.hash = hashlib.blake2b(digest_size=_DIGEST_BYTES)

    def field(self, data: bytes | memoryview) -> None:
        self.hash.update(_LENGTH.pack(memoryview(data).nbytes))
        self.hash.update(data)

    def text(self, value: str) -> None:
        self.field(value.encode())

    def count(self, value: int) -> None:
        self.hash.update(_LENGTH.pack(value))

    def tensor(self, data: object) -> None:
        if isinstance(data, np.ndarray) and data.dtype == object:
            self.count(data.size)
            for item in data.flat:
                self.field(item.encode() if isinstance(item, str) else bytes(item))
        elif isinstance(data, np.ndarray):
            self.field(memoryview(np.ascontiguousarray(data)).cast("B"))
        else:
            self.field(memoryview(data).cast("B"))

    def parameter(self, value: object) -> None:
        # The type is part of the value: int64_param 5 and string_param "5" are different requests.
        if isinstance(value, bool):
            self.text("bool")
            self.count(int(value))
        elif isinstance(value, int):
            self.text("int")
            self.text(str(value))
        elif isinstance(value, float):
            self.text("float")
            self.field(struct.pack("<d", value))
        elif isinstance(value, str):
            self.text("str")
            self.text(value)
        elif isinstance(value, bytes):
            self.text("bytes")
            self.field(value)
        else:
            raise TypeError(f"parameter value {value!r} of type {type(value).__name__} has no cache encoding")


def request_digest(
    model: str,
    version: str,
    inputs: Iterable[KeyedInput],
    outputs: Iterable[tuple[str, Mapping[str, object]]],
) -> bytes:
    """The BLAKE2b digest of a request: model, version, inputs (sorted by name) and requested
    outputs (in order, with their parameters except ``OUTPUT_PLACEMENT_PARAMETERS``)."""
    encoder = _Encoder()
    encoder.text(model)
    encoder.text(version)
    ordered = sorted(inputs, key=lambda tensor: tensor.name)
    encoder.count(len(ordered))
    for tensor in ordered:
        encoder.text(tensor.name)
        encoder.text(tensor.datatype)
        encoder.count(len(tensor.shape))
        for dim in tensor.shape:
            encoder.text(str(int(dim)))
        encoder.tensor(tensor.data)
    requested = list(outputs)
    encoder.count(len(requested))
    for name, parameters in requested:
        encoder.text(name)
        kept = sorted((key, value) for key, value in parameters.items() if key not in OUTPUT_PLACEMENT_PARAMETERS)
        encoder.count(len(kept))
        for key, value in kept:
            encoder.text(key)
            encoder.parameter(value)
    return encoder.hash.digest()


def outputs_nbytes(outputs: Outputs) -> int:
    """Bytes the cache counts for a response's outputs: their data and names."""
    total = 0
    for name, array in outputs:
        total += OUTPUT_OVERHEAD + len(name.encode())
        if array.dtype == object:
            total += sum(len(item.encode() if isinstance(item, str) else item) + 8 for item in array.flat)
        else:
            total += array.nbytes
    return total


def _frozen_copy(array: np.ndarray) -> np.ndarray:
    # Results may be views of a whole batch's output: copy so the cache holds (and counts) only
    # this response's bytes, and freeze it so no reader can change a cached response.
    copy = np.array(array, copy=True, order="C")
    copy.flags.writeable = False
    return copy


class ResponseCache:
    """A thread-safe LRU map from request keys to outputs, bounded by ``capacity`` bytes."""

    def __init__(self, capacity: int):
        if capacity <= 0:
            raise ValueError(f"cache size must be > 0 bytes, got {capacity}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str, bytes], tuple[Outputs, int]] = OrderedDict()
        self._by_model: dict[str, set[tuple[str, str, bytes]]] = {}
        self._generations: dict[str, int] = {}
        self._used = 0

    @property
    def used(self) -> int:
        """Bytes held now (keys and outputs)."""
        with self._lock:
            return self._used

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def key(
        self,
        model: str,
        version: str,
        inputs: Iterable[KeyedInput],
        outputs: Iterable[tuple[str, Mapping[str, object]]],
        generation: int | None = None,
    ) -> CacheKey:
        """The key of a request (see ``request_digest``), tied to ``generation`` of the model
        (default: the current one). Take ``generation()`` before looking the model up, so that
        a reload between the two cannot store the old model's response."""
        digest = request_digest(model, version, inputs, outputs)
        return CacheKey(model, version, digest, self.generation(model) if generation is None else generation)

    def request_key(self, request: InferRequest, model: str, version: str, generation: int) -> CacheKey:
        """The key of a validated request to ``model`` ``version``: raw inputs as sent, typed
        contents as the array they hold (the same values key alike however they came)."""
        inputs = []
        for tensor in request.inputs:
            data = tensor.data
            if data is None:
                data = codec.decode_typed(tensor.contents, DATATYPES[tensor.datatype], list(tensor.shape), tensor.name)
            inputs.append(KeyedInput(tensor.name, tensor.datatype, tuple(tensor.shape), data))
        outputs = [
            (output.name, {key: parameter.value for key, parameter in output.parameters.items()})
            for output in request.outputs
        ]
        return self.key(model, version, inputs, outputs, generation)

    def generation(self, model: str) -> int:
        """How many times ``model``'s entries were invalidated."""
        with self._lock:
            return self._generations.get(model, 0)

    def lookup(self, key: CacheKey) -> Outputs | None:
        """The cached outputs of ``key`` (read-only arrays), now the most recently used; or None."""
        with self._lock:
            entry = self._entries.get(key.entry)
            if entry is None:
                return None
            self._entries.move_to_end(key.entry)
            return entry[0]

    def insert(self, key: CacheKey, outputs: Iterable[tuple[str, np.ndarray]]) -> bool:
        """Store a response, evicting the least recently used ones to make room. Returns False
        when it is not stored: larger than the whole cache, or the model changed since ``key``."""
        frozen: Outputs = tuple((name, _frozen_copy(array)) for name, array in outputs)
        size = key.nbytes + outputs_nbytes(frozen)
        stored = key.entry
        with self._lock:
            if size > self.capacity or self._generations.get(key.model, 0) != key.generation:
                return False
            if stored in self._entries:
                self._remove(stored)
            while self._used + size > self.capacity:
                self._remove(next(iter(self._entries)))
            self._entries[stored] = (frozen, size)
            self._by_model.setdefault(key.model, set()).add(stored)
            self._used += size
            return True

    def invalidate(self, model: str) -> int:
        """Forget every entry of ``model`` (all versions), and refuse responses keyed before now;
        returns how many entries went. The model manager calls it on each load and unload."""
        with self._lock:
            self._generations[model] = self._generations.get(model, 0) + 1
            keys = self._by_model.pop(model, set())
            for stored in keys:
                _, size = self._entries.pop(stored)
                self._used -= size
            return len(keys)

    def _remove(self, stored: tuple[str, str, bytes]) -> None:
        _, size = self._entries.pop(stored)
        self._used -= size
        keys = self._by_model[stored[0]]
        keys.discard(stored)
        if not keys:
            del self._by_model[stored[0]]
