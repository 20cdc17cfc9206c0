"""The system shared memory registry on its own: registration checks, zero-copy reads, writes
with their size check, status, and unregistering while a request still uses a region."""

from __future__ import annotations

import gc
import os
import uuid
from multiprocessing import shared_memory

import numpy as np
import pytest

from convzoo.base.errors import Kind, ServingError
from convzoo.server.operations import INT64, STRING, InferRequest, OutputRequest, Parameter
from convzoo.server.shared_memory import (
    BYTE_SIZE,
    OFFSET,
    REGION,
    Placement,
    RegionStatus,
    SharedMemoryRegistry,
    output_regions,
    placement,
    write_output,
)

SIZE = 3 * 4096 + 100


@pytest.fixture
def shm():
    """A POSIX shared memory object as a client creates it; its key is '/<name>'."""
    block = shared_memory.SharedMemory(name=f"convzoo_test_{uuid.uuid4().hex[:12]}", create=True, size=SIZE)
    block.buf[:] = bytes(range(256)) * (SIZE // 256) + bytes(range(SIZE % 256))
    yield block
    block.close()
    block.unlink()


def _key(block) -> str:
    return "/" + block.name


def _mappings(block) -> int:
    """How many mappings of the object this process has (the fixture's own is one)."""
    with open("/proc/self/maps") as maps:
        return sum(line.rstrip().endswith(f"/dev/shm/{block.name}") for line in maps)


def _refused(kind: Kind, text: str, call, *args):
    with pytest.raises(ServingError) as caught:
        call(*args)
    assert caught.value.kind is kind
    assert caught.value.message.startswith(text), caught.value.message
    return caught.value


def test_a_region_reads_in_place_and_outputs_are_written_into_the_clients_memory(shm):
    registry = SharedMemoryRegistry()
    offset = 4096 + 8  # not a multiple of the page size: the mapping starts on the page below
    registry.register("inputs", _key(shm), offset, 2 * 4096)
    region = registry.get("inputs")
    view = region.read(16, 64, "input 'x'")
    array = np.frombuffer(view, dtype=np.float32)
    assert array.tobytes() == bytes(shm.buf[offset + 16 : offset + 80])
    shm.buf[offset + 16 : offset + 20] = np.float32(2.5).tobytes()
    assert array[0] == 2.5  # a view of the client's memory, not a copy
    written = region.write(128, 40, np.arange(8, dtype=np.float32).view(np.uint8).data, "output 'y'")
    assert written == 32
    assert np.frombuffer(bytes(shm.buf[offset + 128 : offset + 160]), dtype=np.float32).tolist() == list(range(8))
    assert shm.buf[offset + 160] == (offset + 160) % 256  # nothing past the output's bytes changed


def test_status_lists_name_key_offset_and_size(shm):
    registry = SharedMemoryRegistry()
    registry.register("b", _key(shm), 0, 100)
    registry.register("a", _key(shm), 100, 4096)
    assert registry.status() == [RegionStatus("a", _key(shm), 100, 4096), RegionStatus("b", _key(shm), 0, 100)]
    assert registry.status("b") == [RegionStatus("b", _key(shm), 0, 100)]
    _refused(Kind.NOT_FOUND, "unknown shared memory region 'c'", registry.status, "c")


def test_a_key_without_the_leading_slash_names_the_same_object(shm):
    registry = SharedMemoryRegistry()
    registry.register("r", shm.name, 0, 16)
    assert bytes(registry.get("r").read(0, 16, "input 'x'")) == bytes(shm.buf[:16])


@pytest.mark.parametrize(
    ("offset", "byte_size", "text"),
    [
        (
            0,
            SIZE + 1,
            "failed to register shared memory region 'r': offset 0 + byte size 12389 is beyond the 12388 bytes",
        ),
        (SIZE, 1, f"failed to register shared memory region 'r': offset {SIZE} + byte size 1 is beyond"),
        (2**63, 2**63, "failed to register shared memory region 'r': offset 9223372036854775808 + byte size"),
        (0, 0, "failed to register shared memory region 'r': byte size must be > 0, got 0"),
    ],
)
def test_offset_and_size_beyond_the_object_are_refused(shm, offset, byte_size, text):
    registry = SharedMemoryRegistry()
    _refused(Kind.INVALID, text, registry.register, "r", _key(shm), offset, byte_size)
    assert registry.status() == []


@pytest.mark.parametrize("key", ["/etc/passwd", "/../etc/passwd", "..", "/", "", "a/b", "/a\0b"])
def test_a_key_outside_posix_shared_memory_is_refused(key):
    _refused(
        Kind.INVALID,
        f"shared memory key '{key}' is not a POSIX shared memory name",
        SharedMemoryRegistry().register,
        "r",
        key,
        0,
        16,
    )


def test_a_key_that_does_not_exist_is_refused():
    _refused(
        Kind.NOT_FOUND,
        "shared memory key '/convzoo_no_such_key' does not exist (no /dev/shm/convzoo_no_such_key)",
        SharedMemoryRegistry().register,
        "r",
        "/convzoo_no_such_key",
        0,
        16,
    )


def test_a_symlink_in_dev_shm_is_not_followed(shm):
    link = f"/dev/shm/convzoo_link_{uuid.uuid4().hex[:12]}"
    os.symlink(f"/dev/shm/{shm.name}", link)
    try:
        _refused(Kind.INVALID, "cannot open shared memory key", SharedMemoryRegistry().register, "r", link[8:], 0, 16)
    finally:
        os.unlink(link)


def test_a_name_registered_twice_is_refused_and_the_first_region_stays(shm):
    registry = SharedMemoryRegistry()
    registry.register("r", _key(shm), 0, 16)
    _refused(
        Kind.ALREADY_EXISTS, "shared memory region 'r' is already registered", registry.register, "r", _key(shm), 16, 16
    )
    assert registry.status() == [RegionStatus("r", _key(shm), 0, 16)]


def test_unregistering_an_unknown_name_is_refused_and_an_empty_name_clears_all(shm):
    registry = SharedMemoryRegistry()
    _refused(Kind.NOT_FOUND, "shared memory region 'r' is not registered", registry.unregister, "r")
    registry.register("r", _key(shm), 0, 16)
    registry.register("s", _key(shm), 16, 16)
    registry.unregister()
    assert registry.status() == []


def test_reads_and_writes_outside_the_region_are_refused(shm):
    registry = SharedMemoryRegistry()
    registry.register("r", _key(shm), 0, 100)
    region = registry.get("r")
    _refused(
        Kind.INVALID,
        "input 'x': offset 96 + byte size 8 is outside shared memory region 'r' of 100 bytes",
        region.read,
        96,
        8,
        "input 'x'",
    )
    _refused(
        Kind.INVALID,
        "output 'y' needs 16 bytes but shared memory region 'r' was given 8 for it",
        region.write,
        0,
        8,
        bytes(16),
        "output 'y'",
    )
    assert bytes(shm.buf[:16]) == bytes(range(16))  # a refused write writes nothing


def test_unregister_while_in_use_keeps_the_requests_mapping_until_it_lets_go(shm):
    registry = SharedMemoryRegistry()
    own = _mappings(shm)
    registry.register("r", _key(shm), 0, SIZE)
    assert _mappings(shm) == own + 1
    in_flight = registry.get("r")  # a request that started before the unregister
    tensor = np.frombuffer(in_flight.read(0, 256, "input 'x'"), dtype=np.uint8)
    registry.unregister("r")
    _refused(Kind.NOT_FOUND, "unknown shared memory region 'r'", registry.get, "r")  # a new request is refused
    registry.register("r", _key(shm), 0, 64)  # and the name is free again
    assert tensor.tolist() == list(range(256))  # the running request still reads its input
    assert in_flight.write(0, 4, b"\x07\x07\x07\x07", "output 'y'") == 4
    assert bytes(shm.buf[:4]) == b"\x07" * 4
    registry.unregister("r")
    assert _mappings(shm) == own + 1  # the second registration's mapping went; the first is in use
    del tensor, in_flight
    gc.collect()
    assert _mappings(shm) == own  # the last user let go: the memory is unmapped


def test_placement_reads_tritons_three_parameters():
    assert placement({}, "input 'x'") is None
    assert placement({"classification": 3}, "output 'y'") is None
    assert placement({REGION: "r", BYTE_SIZE: 64}, "input 'x'") == Placement("r", 0, 64)
    assert placement({REGION: "r", BYTE_SIZE: 64, OFFSET: 128}, "input 'x'") == Placement("r", 128, 64)


@pytest.mark.parametrize(
    ("parameters", "text"),
    [
        ({OFFSET: 0}, "input 'x': parameter 'shared_memory_offset' needs 'shared_memory_region'"),
        ({BYTE_SIZE: 4}, "input 'x': parameter 'shared_memory_byte_size' needs 'shared_memory_region'"),
        ({REGION: "r"}, "input 'x': parameter 'shared_memory_region' needs 'shared_memory_byte_size'"),
        (
            {REGION: 5, BYTE_SIZE: 4},
            "input 'x': parameter 'shared_memory_region' must be a region name (a string), got 5",
        ),
        (
            {REGION: "r", BYTE_SIZE: "4"},
            "input 'x': parameter 'shared_memory_byte_size' must be an integer >= 0, got '4'",
        ),
        (
            {REGION: "r", BYTE_SIZE: 4, OFFSET: -1},
            "input 'x': parameter 'shared_memory_offset' must be an integer >= 0, got -1",
        ),
        (
            {REGION: "r", BYTE_SIZE: True},
            "input 'x': parameter 'shared_memory_byte_size' must be an integer >= 0, got True",
        ),
    ],
)
def test_placement_parameters_of_the_wrong_kind_are_refused(parameters, text):
    _refused(Kind.INVALID, text, placement, parameters, "input 'x'")


def _asked_in(region: str, byte_size: int, offset: int = 0) -> InferRequest:
    """A request whose output 'y' goes to ``byte_size`` bytes at ``offset`` of ``region``."""
    parameters = {REGION: Parameter(STRING, region), BYTE_SIZE: Parameter(INT64, byte_size)}
    if offset:
        parameters[OFFSET] = Parameter(INT64, offset)
    return InferRequest("m", outputs=[OutputRequest("y", parameters)])


def test_a_request_reads_and_writes_through_its_placement(shm):
    registry = SharedMemoryRegistry()
    registry.register("r", _key(shm), 0, 256)
    assert bytes(registry.read(Placement("r", 8, 4), "input 'x'")) == bytes([8, 9, 10, 11])
    places = output_regions(registry, _asked_in("r", 4))
    written = write_output("y", np.array([255, 255], dtype=np.uint8), places)
    assert written.shared_memory == {REGION: "r", BYTE_SIZE: 4}  # what the response tells the client
    assert bytes(shm.buf[:3]) == b"\xff\xff\x02"  # two bytes of the four given: the rest untouched
    places = output_regions(registry, _asked_in("r", 4, offset=16))
    _refused(
        Kind.INVALID,
        "output 'y' needs 8 bytes but shared memory region 'r' was given 4 for it",
        write_output,
        "y",
        np.arange(8, dtype=np.uint8),
        places,
    )
    assert bytes(shm.buf[16:24]) == bytes(range(16, 24))  # a refused output writes nothing
    _refused(
        Kind.NOT_FOUND, "input 'x': unknown shared memory region 'q'", registry.read, Placement("q", 0, 4), "input 'x'"
    )
