"""System shared memory and the response cache in the data cached_dataplane, called directly: inputs read
from a region, outputs written into one, a region unregistered while its request is queued,
and a repeated request answered from the cache without queueing."""

from __future__ import annotations

import uuid
from multiprocessing import shared_memory

import numpy as np
import pytest
from server_repository import CLASSES, IMAGE, classifier_logits

from convzoo.base.codec import encode_view
from convzoo.base.errors import Kind, ServingError
from convzoo.server.operations import (
    INT64,
    STRING,
    InferRequest,
    InputTensor,
    OutputRequest,
    Parameter,
    RegionsRequest,
    RegisterRegionRequest,
    StatisticsRequest,
    UnregisterRegionRequest,
)

BATCH = (np.arange(2 * 3 * IMAGE * IMAGE, dtype=np.float32).reshape(2, 3, IMAGE, IMAGE) % 7) / 7
LOGITS_BYTES = 2 * CLASSES * 4


@pytest.fixture
def block():
    """A POSIX shared memory object as a client makes it, holding BATCH at offset 0."""
    memory = shared_memory.SharedMemory(name=f"convzoo_unit_{uuid.uuid4().hex[:12]}", create=True, size=8192)
    memory.buf[: BATCH.nbytes] = BATCH.tobytes()
    yield memory
    memory.close()
    memory.unlink()


def placed(region: str, byte_size: int, offset: int = 0) -> dict[str, Parameter]:
    return {
        "shared_memory_region": Parameter(STRING, region),
        "shared_memory_byte_size": Parameter(INT64, byte_size),
        "shared_memory_offset": Parameter(INT64, offset),
    }


def in_region(model: str, region: str, out_region: str) -> InferRequest:
    return InferRequest(
        model,
        inputs=[InputTensor("input", "FP32", list(BATCH.shape), parameters=placed(region, BATCH.nbytes))],
        outputs=[OutputRequest("logits", placed(out_region, LOGITS_BYTES, offset=4096))],
    )


def logits_in(memory) -> np.ndarray:
    return np.frombuffer(bytes(memory.buf[4096 : 4096 + LOGITS_BYTES]), np.float32).reshape(2, CLASSES)


def test_an_input_is_read_from_its_region_and_the_output_written_into_one(cached_dataplane, block):
    key = "/" + block.name
    cached_dataplane.shared_memory_register(RegisterRegionRequest("in", key, 0, BATCH.nbytes))
    cached_dataplane.shared_memory_register(RegisterRegionRequest("out", key, 0, 8192))
    try:
        assert [r.name for r in cached_dataplane.shared_memory_status(RegionsRequest())] == ["in", "out"]
        (output,) = cached_dataplane.infer(in_region("classifier", "in", "out"), lead=True).wait().outputs
        assert output.shared_memory == {
            "shared_memory_region": "out",
            "shared_memory_byte_size": LOGITS_BYTES,
            "shared_memory_offset": 4096,
        }
        np.testing.assert_allclose(logits_in(block), classifier_logits(BATCH), rtol=1e-5, atol=1e-5)
    finally:
        cached_dataplane.shared_memory_unregister(UnregisterRegionRequest())


def test_unregistering_while_a_request_is_queued_leaves_it_its_regions(cached_dataplane, block):
    key = "/" + block.name
    cached_dataplane.shared_memory_register(RegisterRegionRequest("in", key, 0, BATCH.nbytes))
    cached_dataplane.shared_memory_register(RegisterRegionRequest("out", key, 0, 8192))
    queued = cached_dataplane.infer(in_region("held", "in", "out"))  # 2 of 8 rows: waits for more
    cached_dataplane.shared_memory_unregister(UnregisterRegionRequest("in"))
    cached_dataplane.shared_memory_unregister(UnregisterRegionRequest("out"))
    with pytest.raises(ServingError) as refused:  # a new request no longer finds the region
        cached_dataplane.infer(in_region("held", "in", "out"))
    assert (refused.value.kind, refused.value.message) == (
        Kind.NOT_FOUND,
        "input 'input': unknown shared memory region 'in'",
    )
    rest = np.zeros((6, 3, IMAGE, IMAGE), np.float32)
    datatype, shape, raw = encode_view(rest)
    filler = cached_dataplane.infer(InferRequest("held", inputs=[InputTensor("input", datatype, shape, data=raw)]))
    assert not queued.done()
    filler.wait(timeout=30)
    (output,) = queued.wait(timeout=30).outputs  # its batch ran with the input it read in place
    assert output.shared_memory["shared_memory_region"] == "out"
    np.testing.assert_allclose(logits_in(block), classifier_logits(BATCH), rtol=1e-5, atol=1e-5)


def _cache_counts(dataplane, model: str) -> tuple[int, int, int]:
    (stats,) = dataplane.model_statistics(StatisticsRequest(model))
    return stats.inference_stats.cache_hit.count, stats.inference_stats.cache_miss.count, stats.execution_count


def test_a_repeated_request_is_answered_from_the_cache_without_queueing(cached_dataplane, block):
    datatype, shape, raw = encode_view(BATCH)
    request = InferRequest("cached", inputs=[InputTensor("input", datatype, shape, data=raw)])
    before = _cache_counts(cached_dataplane, "cached")
    first = cached_dataplane.infer(request, lead=True).wait()
    second = cached_dataplane.infer(request)
    assert second.done()  # answered at once: nothing was queued
    (hit,) = second.wait().outputs
    assert hit.data.tobytes() == first.outputs[0].data.tobytes()
    assert _cache_counts(cached_dataplane, "cached") == (before[0] + 1, before[1] + 1, before[2] + 1)
    # a hit whose output goes to shared memory is written there like any other
    cached_dataplane.shared_memory_register(RegisterRegionRequest("out", "/" + block.name, 0, 8192))
    try:
        placed_request = InferRequest(
            "cached",
            inputs=request.inputs,
            outputs=[OutputRequest("logits", placed("out", LOGITS_BYTES, offset=4096))],
        )
        cached_dataplane.infer(placed_request, lead=True).wait()  # a miss: other requested outputs
        (output,) = cached_dataplane.infer(placed_request).wait().outputs  # a hit
        assert output.shared_memory and _cache_counts(cached_dataplane, "cached")[0] == before[0] + 2
        np.testing.assert_allclose(logits_in(block), classifier_logits(BATCH), rtol=1e-5, atol=1e-5)
    finally:
        cached_dataplane.shared_memory_unregister(UnregisterRegionRequest())


def test_an_output_region_too_small_is_refused_before_the_run(cached_dataplane, block):
    cached_dataplane.shared_memory_register(RegisterRegionRequest("out", "/" + block.name, 0, 8192))
    try:
        datatype, shape, raw = encode_view(BATCH)
        request = InferRequest(
            "classifier",
            inputs=[InputTensor("input", datatype, shape, data=raw)],
            outputs=[OutputRequest("logits", placed("out", LOGITS_BYTES - 1))],
        )
        (before,) = cached_dataplane.model_statistics(StatisticsRequest("classifier"))
        with pytest.raises(ServingError) as refused:
            cached_dataplane.infer(request)  # refused here, not when the result is awaited
        assert refused.value.message == (
            f"output 'logits' needs {LOGITS_BYTES} bytes but shared memory region 'out' was given {LOGITS_BYTES - 1} for it"
        )
        (after,) = cached_dataplane.model_statistics(StatisticsRequest("classifier"))
        assert after.execution_count == before.execution_count
    finally:
        cached_dataplane.shared_memory_unregister(UnregisterRegionRequest())
