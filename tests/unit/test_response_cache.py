"""The response cache on its own: keys, LRU eviction within the byte bound, invalidation, and
the cache figures in the statistics (ModelStatistics and Prometheus)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convzoo.server.repository import parse_config
from convzoo.server.response_cache import CacheKey, KeyedInput, ResponseCache, outputs_nbytes, request_digest
from convzoo.server.statistics import Statistics

IMAGE = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)


def _inputs(array=IMAGE, name="input", datatype="FP32"):
    return [KeyedInput(name, datatype, array.shape, array)]


def _key(cache: ResponseCache, *, version="1", inputs=None, outputs=(("logits", {}),), model="classifier"):
    return cache.key(model, version, inputs if inputs is not None else _inputs(), outputs)


def _logits(rows: int = 2) -> list[tuple[str, np.ndarray]]:
    return [("logits", np.linspace(-1, 1, rows * 10, dtype=np.float32).reshape(rows, 10))]


def test_a_hit_returns_the_bytes_the_miss_stored_frozen_and_independent_of_the_result():
    cache = ResponseCache(1 << 20)
    key = _key(cache)
    assert cache.lookup(key) is None
    computed = _logits()
    labels = np.array([[b"0.9:1:cat", b"0.1:0:dog"]] * 2, dtype=object)
    assert cache.insert(key, [*computed, ("labels", labels)])
    expected = computed[0][1].tobytes()
    computed[0][1][:] = 0  # the computed result is the server's to reuse; the cache kept its own copy
    hit = cache.lookup(_key(cache))
    assert [name for name, _ in hit] == ["logits", "labels"]
    assert hit[0][1].tobytes() == expected and hit[0][1].dtype == np.float32 and hit[0][1].shape == (2, 10)
    assert hit[1][1].tolist() == labels.tolist()
    with pytest.raises(ValueError):
        hit[0][1][0, 0] = 1.0  # read-only: no reader can change a cached response


def test_a_view_of_a_larger_batch_is_stored_and_counted_as_its_own_bytes():
    cache = ResponseCache(1 << 20)
    batch = np.ones((64, 1000), dtype=np.float32)
    key = _key(cache)
    cache.insert(key, [("logits", batch[3:5])])
    ((name, stored),) = cache.lookup(key)
    assert stored.base is None and stored.nbytes == 2 * 1000 * 4
    assert cache.used == key.nbytes + outputs_nbytes(((name, stored),))


def _digest(**changes):
    request = {
        "model": "classifier",
        "version": "1",
        "inputs": _inputs(),
        "outputs": [("logits", {"classification": 3})],
    }
    request.update(changes)
    return request_digest(request["model"], request["version"], request["inputs"], request["outputs"])


def _one_byte_changed() -> np.ndarray:
    raw = bytearray(IMAGE.tobytes())
    raw[17] ^= 1
    return np.frombuffer(bytes(raw), dtype=np.float32).reshape(IMAGE.shape)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"inputs": _inputs(_one_byte_changed())}, id="one input byte"),
        pytest.param({"version": "2"}, id="version"),
        pytest.param({"model": "classifier2"}, id="model"),
        pytest.param({"inputs": _inputs(IMAGE.reshape(2, 3, 2, 8))}, id="shape"),
        pytest.param({"inputs": _inputs(IMAGE.view(np.int32), datatype="INT32")}, id="datatype"),
        pytest.param({"inputs": _inputs(name="image")}, id="input name"),
        pytest.param({"outputs": [("logits", {"classification": 5})]}, id="classification k"),
        pytest.param({"outputs": [("logits", {"classification": "3"})]}, id="parameter type"),
        pytest.param({"outputs": [("logits", {})]}, id="no classification"),
        pytest.param({"outputs": []}, id="all outputs"),
        pytest.param({"outputs": [("logits", {"classification": 3}), ("probs", {})]}, id="another output"),
    ],
)
def test_requests_that_differ_in_one_thing_have_different_keys(changes):
    assert _digest(**changes) != _digest()


def test_the_same_request_has_the_same_key_whatever_carries_its_bytes():
    raw = IMAGE.tobytes()
    assert _digest(inputs=[KeyedInput("input", "FP32", IMAGE.shape, memoryview(raw))]) == _digest()
    assert _digest(inputs=[KeyedInput("input", "FP32", IMAGE.shape, raw)]) == _digest()
    assert _digest(inputs=[KeyedInput("input", "FP32", (2, 3, 4, 4), np.asfortranarray(IMAGE))]) == _digest()


def test_input_order_and_output_placement_do_not_change_the_key():
    a = KeyedInput("INPUT0", "INT32", (1, 4), np.arange(4, dtype=np.int32))
    b = KeyedInput("INPUT1", "INT32", (1, 4), np.arange(4, 8, dtype=np.int32))
    assert request_digest("m", "1", [a, b], []) == request_digest("m", "1", [b, a], [])
    placed = {"classification": 3, "shared_memory_region": "out", "shared_memory_byte_size": 64, "binary_data": True}
    assert _digest(outputs=[("logits", placed)]) == _digest()


def test_bytes_inputs_are_keyed_by_their_elements_not_their_concatenation():
    one = KeyedInput("TEXT", "BYTES", (1, 2), np.array([[b"ab", b"c"]], dtype=object))
    other = KeyedInput("TEXT", "BYTES", (1, 2), np.array([[b"a", b"bc"]], dtype=object))
    assert request_digest("strings", "1", [one], []) != request_digest("strings", "1", [other], [])


def test_the_least_recently_used_entry_goes_first():
    probe = ResponseCache(1 << 20)
    entry = _key(probe).nbytes + outputs_nbytes(tuple(_logits()))
    cache = ResponseCache(3 * entry)
    keys = [_key(cache, version=str(v)) for v in range(4)]
    for key in keys[:3]:
        assert cache.insert(key, _logits())
    assert cache.lookup(keys[0]) is not None  # 0 is now newer than 1 and 2
    cache.insert(keys[3], _logits())
    assert cache.lookup(keys[1]) is None
    assert all(cache.lookup(k) is not None for k in (keys[0], keys[2], keys[3]))
    assert cache.used == 3 * entry and len(cache) == 3


def test_a_response_larger_than_the_cache_is_not_stored_and_evicts_nothing():
    cache = ResponseCache(4096)
    small = _key(cache, version="1")
    cache.insert(small, _logits())
    big = _key(cache, version="2")
    assert not cache.insert(big, [("logits", np.zeros(2048, dtype=np.float32))])
    assert cache.lookup(big) is None and cache.lookup(small) is not None


def test_invalidate_drops_one_models_entries_and_refuses_responses_keyed_before_it():
    cache = ResponseCache(1 << 20)
    v1, v2, other = _key(cache, version="1"), _key(cache, version="2"), _key(cache, model="strings")
    for key in (v1, v2, other):
        cache.insert(key, _logits())
    in_flight = _key(cache, version="3")  # a request still running on the old model
    assert cache.invalidate("classifier") == 2
    assert cache.lookup(v1) is None and cache.lookup(v2) is None and cache.lookup(other) is not None
    assert not cache.insert(in_flight, _logits())
    assert cache.lookup(in_flight) is None
    assert cache.insert(_key(cache, version="3"), _logits())  # a key made after the reload is stored
    assert cache.used == sum(k.nbytes for k in (other, in_flight)) + 2 * outputs_nbytes(tuple(_logits()))


def test_the_cache_size_must_be_positive():
    with pytest.raises(ValueError, match="cache size must be > 0 bytes, got 0"):
        ResponseCache(0)


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=20_000),
    operations=st.lists(
        st.tuples(st.sampled_from(["insert", "lookup", "invalidate"]), st.integers(0, 7), st.integers(0, 3000)),
        max_size=60,
    ),
)
def test_the_bytes_held_stay_within_the_size_under_any_sequence(capacity, operations):
    cache = ResponseCache(capacity)
    reference: dict[tuple, int] = {}  # an independent model of what should be stored
    for operation, model_index, size in operations:
        model = f"m{model_index % 3}"
        key = cache.key(model, str(model_index), [KeyedInput("x", "UINT8", (size,), np.zeros(size, np.uint8))], [])
        if operation == "insert":
            outputs = [("y", np.full(size, model_index, dtype=np.uint8))]
            entry_size = key.nbytes + outputs_nbytes(tuple(outputs))
            stored = cache.insert(key, outputs)
            assert stored == (entry_size <= capacity)
            if stored:
                reference[key.entry] = entry_size
                assert cache.lookup(key)[0][1].tobytes() == outputs[0][1].tobytes()
        elif operation == "lookup":
            found = cache.lookup(key)
            assert found is None or found[0][1].nbytes == size
        else:
            cache.invalidate(model)
            reference = {k: v for k, v in reference.items() if k[0] != model}
        assert cache.used <= capacity
        held = [k for k in reference if cache.lookup(CacheKey(*k, generation=0)) is not None]
        assert cache.used == sum(reference[k] for k in held) and len(cache) == len(held)


def test_statistics_count_hits_and_misses_for_model_statistics_and_prometheus():
    statistics = Statistics(cache_metrics=True)
    statistics.cache("classifier", "1", hit=False, ns=5_000)
    statistics.cache("classifier", "1", hit=True, ns=2_000)
    statistics.cache("classifier", "1", hit=True, ns=1_000)
    (stats,) = statistics.snapshot("classifier")
    assert (stats.inference_stats.cache_hit.count, stats.inference_stats.cache_hit.ns) == (2, 3_000)
    assert (stats.inference_stats.cache_miss.count, stats.inference_stats.cache_miss.ns) == (1, 5_000)
    text = statistics.triton_counters_text()
    labels = '{model="classifier",version="1"}'
    for line in (
        f"nv_cache_num_hits_per_model{labels} 2",
        f"nv_cache_num_misses_per_model{labels} 1",
        f"nv_cache_hit_duration_per_model{labels} 3",
        f"nv_cache_miss_duration_per_model{labels} 5",
        "# TYPE nv_cache_num_hits_per_model counter",
    ):
        assert line in text.splitlines()


def test_prometheus_shows_no_cache_counters_without_a_cache():
    statistics = Statistics()
    statistics.request("classifier", "1", ok=True, ns=1000)
    assert "nv_cache" not in statistics.triton_counters_text()


def test_config_pbtxt_enables_the_cache_per_model_with_tritons_field():
    assert parse_config('name: "m"\nresponse_cache { enable: true }').response_cache.enable
    assert not parse_config('name: "m"').response_cache.enable


def test_a_generation_taken_before_a_reload_keeps_the_old_models_response_out():
    cache = ResponseCache(1 << 20)
    before = cache.generation("classifier")  # taken, then the served version looked up
    cache.invalidate("classifier")  # a reload lands in between
    key = cache.key("classifier", "1", _inputs(), [("logits", {})], generation=before)
    assert not cache.insert(key, _logits())
    assert cache.generation("classifier") == before + 1
