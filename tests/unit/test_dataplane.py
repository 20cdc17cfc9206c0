"""The data plane called directly: typed requests in, typed results out, inference as a handle."""

from __future__ import annotations

from concurrent.futures import CancelledError

import numpy as np
import pytest
from server_repository import CLASSES, IMAGE, classifier_logits

from convzoo.base.codec import encode_view
from convzoo.base.errors import Kind, ServingError
from convzoo.server.operations import (
    INT64,
    ConfigRequest,
    IndexEntry,
    IndexRequest,
    InferRequest,
    InputTensor,
    LoadRequest,
    MetadataRequest,
    OutputRequest,
    Parameter,
    ReadyRequest,
    StatisticsRequest,
    TensorMetadata,
    UnloadRequest,
)

BATCH = (np.arange(2 * 3 * IMAGE * IMAGE, dtype=np.float32).reshape(2, 3, IMAGE, IMAGE) % 7) / 7


def request(model: str = "classifier", array: np.ndarray = BATCH, **kwargs) -> InferRequest:
    datatype, shape, raw = encode_view(array)
    return InferRequest(model, inputs=[InputTensor("input", datatype, shape, data=raw)], **kwargs)


def test_metadata_and_config_are_typed(dataplane):
    metadata = dataplane.model_metadata(MetadataRequest("classifier"))
    assert metadata.name == "classifier" and metadata.versions == ["1"]
    assert metadata.inputs == [TensorMetadata("input", "FP32", [-1, 3, IMAGE, IMAGE])]
    assert metadata.outputs == [TensorMetadata("logits", "FP32", [-1, CLASSES])]
    assert dataplane.model_config(ConfigRequest("classifier")).max_batch_size == 8
    assert dataplane.model_ready(ReadyRequest("classifier"))
    assert dataplane.server_metadata().name == "convzoo"


def test_an_inference_waits_for_its_outputs(dataplane):
    result = dataplane.infer(request(id="r1"), lead=True).wait()
    assert (result.model_name, result.model_version, result.id) == ("classifier", "1", "r1")
    (output,) = result.outputs
    assert output.name == "logits"
    np.testing.assert_allclose(output.data, classifier_logits(BATCH), rtol=1e-5, atol=1e-5)


def test_classification_gives_top_k_labels(dataplane):
    asked = [OutputRequest("logits", {"classification": Parameter(INT64, 2)})]
    (output,) = dataplane.infer(request(outputs=asked)).wait().outputs
    ranked = np.argsort(-classifier_logits(BATCH), axis=1)[:, :2]
    labels = [[item.decode().split(":", 2)[1:] for item in row] for row in output.data]
    assert labels == [[[str(i), f"class_{i}"] for i in row] for row in ranked]


def test_a_queued_inference_times_out_then_cancels_and_is_counted_as_failed(dataplane):
    before = dataplane.model_statistics(StatisticsRequest("held"))[0].inference_stats.fail.count
    inference = dataplane.infer(request("held", BATCH[:1]))  # 1 of the 8 rows "held" waits for
    with pytest.raises(TimeoutError):
        inference.wait(0.05)
    assert not inference.done()
    assert inference.cancel()
    with pytest.raises(CancelledError):
        inference.wait()
    assert dataplane.model_statistics(StatisticsRequest("held"))[0].inference_stats.fail.count == before + 1


def test_refusals_are_serving_errors_with_kinds(dataplane):
    with pytest.raises(ServingError) as unknown:
        dataplane.infer(request("nope"))
    assert unknown.value.kind is Kind.NOT_FOUND
    with pytest.raises(ServingError) as wrong:
        dataplane.infer(request(array=BATCH[:, :2]))
    assert wrong.value.kind is Kind.INVALID and "input 'input' has shape [2,2,8,8]" in wrong.value.message
    with pytest.raises(ServingError) as parameter:
        dataplane.infer(request(parameters={"priority": Parameter("string_param", "high")}))
    assert (
        parameter.value.message == "request parameter 'priority' must be int64_param or uint64_param, got string_param"
    )


def test_repository_index_unload_and_load(dataplane):
    assert IndexEntry("int_add", "1", "READY", "") in dataplane.repository_index(IndexRequest(ready=True))
    dataplane.unload(UnloadRequest("int_add", parameters=frozenset({"unload_dependents"})))
    assert not dataplane.model_ready(ReadyRequest("int_add"))
    assert IndexEntry("int_add", "", "UNAVAILABLE", "unloaded") in dataplane.repository_index(IndexRequest())
    dataplane.load(LoadRequest("int_add"))
    assert dataplane.model_ready(ReadyRequest("int_add"))
    with pytest.raises(ServingError) as unsupported:
        dataplane.load(LoadRequest("int_add", parameters=frozenset({"config"})))
    assert unsupported.value.message == "repository parameters ['config'] are not supported"
    with pytest.raises(ServingError) as elsewhere:
        dataplane.load(LoadRequest("int_add", repository_name="other"))
    assert elsewhere.value.kind is Kind.INVALID
