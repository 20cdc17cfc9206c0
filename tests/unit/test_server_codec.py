"""Tensor encoding on the wire, BYTES framing, and the classification extension."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from convzoo.base import classification, codec
from convzoo.base.datatypes import DATATYPES, from_numpy
from convzoo.base.errors import ServingError
from convzoo.proto import grpc_service_pb2 as pb

NUMERIC = [d for d in DATATYPES.values() if d.dtype is not None and d.name != "BYTES"]


@pytest.mark.parametrize("datatype", NUMERIC, ids=lambda d: d.name)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_raw_round_trip_every_numeric_datatype(datatype, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    array = data.draw(hnp.arrays(datatype.dtype, shape))
    name, wire_shape, raw = codec.encode(array)
    assert (name, wire_shape) == (datatype.name, list(shape))
    assert raw == array.astype(datatype.dtype.newbyteorder("<")).tobytes()
    np.testing.assert_array_equal(codec.decode_raw(raw, datatype, list(shape), "t"), array)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=12))
def test_bytes_round_trip(items):
    array = np.empty(len(items), dtype=object)
    array[:] = items
    raw = codec.serialize_bytes(array)
    assert len(raw) == sum(4 + len(item) for item in items)
    assert codec.deserialize_bytes(raw, [len(items)], "t").tolist() == items


@pytest.mark.parametrize("datatype", [d for d in DATATYPES.values() if d.contents], ids=lambda d: d.name)
def test_typed_contents_decode_every_datatype_that_has_them(datatype):
    values = (
        [b"a", b"bc", b"", b"d"]
        if datatype.name == "BYTES"
        else [True, False, True, True]
        if datatype.name == "BOOL"
        else [0, 1, 7, 100]
    )
    contents = pb.InferTensorContents()
    getattr(contents, datatype.contents).extend(values)
    array = codec.decode_contents(contents, datatype, [2, 2], "t")
    assert array.shape == (2, 2) and array.ravel().tolist() == values
    if datatype.dtype.kind != "O":
        assert array.dtype == datatype.dtype


def test_typed_contents_out_of_range_are_refused():
    with pytest.raises(ServingError, match="input 't': contents values do not fit UINT8"):
        codec.decode_contents(pb.InferTensorContents(uint_contents=[300]), DATATYPES["UINT8"], [1], "t")


def test_str_elements_are_sent_as_utf8():
    assert codec.serialize_bytes(np.array(["\u00e9"], dtype=object)) == b"\x02\x00\x00\x00\xc3\xa9"


@pytest.mark.parametrize("datatype", ["FP16", "BF16"])
def test_datatypes_without_typed_contents_must_be_raw(datatype):
    with pytest.raises(ServingError, match=f"datatype {datatype} has no typed contents; send it in raw_input_contents"):
        codec.decode_contents(pb.InferTensorContents(), DATATYPES[datatype], [1], "t")


def test_numpy_datatypes():
    assert from_numpy(np.dtype(np.float32)).name == "FP32"
    assert from_numpy(np.array(["a"]).dtype).name == "BYTES"
    with pytest.raises(ValueError, match="complex64"):
        from_numpy(np.dtype(np.complex64))


def test_classification_sorts_by_score_and_breaks_ties_toward_the_lower_index():
    scores = np.array([[0.1, 0.7, 0.7, 0.2], [1.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    top = classification.classify(scores, 3, ["a", "b", "c", "d"], batched=True)
    assert top.tolist() == [
        [b"0.700000:1:b", b"0.700000:2:c", b"0.200000:3:d"],
        [b"1.000000:0:a", b"0.000000:1:b", b"0.000000:2:c"],
    ]


def test_classification_without_labels_or_batch_and_k_beyond_classes():
    top = classification.classify(np.array([3.0, -1.0]), 5, None, batched=False)
    assert top.tolist() == [b"3.000000:0", b"-1.000000:1"]
    assert classification.parse(top[1]) == (-1.0, 1, "")
    assert classification.parse("0.5:7:tabby, tabby cat") == (0.5, 7, "tabby, tabby cat")
