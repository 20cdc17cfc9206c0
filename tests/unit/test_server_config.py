"""config.pbtxt parsing, version policy, and completion from the ONNX model: what is
filled in, and the reasons a model is refused."""

from __future__ import annotations

import pytest
from server_repository import write_classifier

from convzoo.proto import model_config_pb2 as mc
from convzoo.server.config import ModelTensor, complete
from convzoo.server.repository import parse_config, read_model

IMAGE_IN = [ModelTensor("input", "tensor(float)", (None, 3, 8, 8))]
LOGITS = [ModelTensor("logits", "tensor(float)", (None, 10))]
FIXED = [ModelTensor("x", "tensor(int64)", (2, 5))]


def test_an_empty_config_is_completed_from_the_model():
    config = complete(mc.ModelConfig(name="m"), IMAGE_IN, LOGITS, default_max_batch_size=16)
    assert (config.platform, config.backend, config.max_batch_size) == ("onnxruntime_onnx", "onnxruntime", 16)
    assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == [("input", mc.TYPE_FP32, [3, 8, 8])]
    assert [(o.name, o.data_type, list(o.dims)) for o in config.output] == [("logits", mc.TYPE_FP32, [10])]


def test_a_model_with_a_fixed_first_dimension_does_not_batch():
    config = complete(mc.ModelConfig(name="m"), FIXED, FIXED)
    assert config.max_batch_size == 0 and list(config.input[0].dims) == [2, 5]


def test_configured_fields_are_kept_and_symbolic_dims_may_be_narrowed():
    stated = parse_config('max_batch_size: 2 input [{ name: "input" format: FORMAT_NCHW dims: [3, 8, 8] }]')
    stated.name = "m"
    dynamic = [ModelTensor("input", "tensor(float)", (None, 3, None, None))]
    config = complete(stated, dynamic, LOGITS)
    assert config.max_batch_size == 2 and config.input[0].format == mc.ModelInput.FORMAT_NCHW
    assert config.input[0].data_type == mc.TYPE_FP32 and list(config.input[0].dims) == [3, 8, 8]


@pytest.mark.parametrize(
    "text, inputs, message",
    [
        (
            'input [{ name: "input" data_type: TYPE_FP32 dims: [3, 9, 8] }] max_batch_size: 4',
            IMAGE_IN,
            "model 'm': input 'input' dims [3, 9, 8] in config do not match the ONNX model's [3, 8, 8] (without the batch dimension)",
        ),
        (
            'input [{ name: "input" data_type: TYPE_INT64 dims: [3, 8, 8] }] max_batch_size: 4',
            IMAGE_IN,
            "model 'm': input 'input' is TYPE_INT64 in config but TYPE_FP32 in the ONNX model",
        ),
        (
            'input [{ name: "image" data_type: TYPE_FP32 dims: [3, 8, 8] }] max_batch_size: 4',
            IMAGE_IN,
            "model 'm': config inputs ['image'] not in the ONNX model; it has ['input']",
        ),
        (
            'platform: "tensorflow_savedmodel"',
            IMAGE_IN,
            "model 'm': platform 'tensorflow_savedmodel' is not served; convzoo serves onnxruntime_onnx",
        ),
        (
            "max_batch_size: 8",
            FIXED,
            "model 'm': max_batch_size 8 needs a variable first dimension, but 'x' has shape [2, 5]",
        ),
        (
            'max_batch_size: 4 input [{ name: "input" data_type: TYPE_FP32 dims: [3, 8, 8] reshape { shape: [192] } }]',
            IMAGE_IN,
            "model 'm': input 'input': reshape is not supported",
        ),
    ],
)
def test_refused_configs_say_why(text, inputs, message):
    stated = parse_config(text)
    stated.name = "m"
    outputs = FIXED if inputs is FIXED else LOGITS
    with pytest.raises(ValueError) as error:
        complete(stated, inputs, outputs)
    assert str(error.value) == message


def test_unparsable_config_names_the_file(tmp_path):
    write_classifier(tmp_path / "m", config="max_batch_size: eight\n")
    with pytest.raises(ValueError, match=r"m/config.pbtxt: 1:17 : .*eight"):
        read_model(tmp_path, "m")


def test_config_name_must_match_the_folder(tmp_path):
    write_classifier(tmp_path / "m", config='name: "other"\n')
    with pytest.raises(ValueError, match="name 'other' does not match the folder name 'm'"):
        read_model(tmp_path, "m")


@pytest.mark.parametrize(
    "policy, served",
    [
        ("", [3]),
        ("version_policy { latest { num_versions: 2 } }", [2, 3]),
        ("version_policy { all {} }", [1, 2, 3]),
        ("version_policy { specific { versions: [1, 3] } }", [1, 3]),
    ],
)
def test_version_policy(tmp_path, policy, served):
    for version in (1, 2, 3):
        write_classifier(tmp_path / "m", version=version, config=policy)
    (tmp_path / "m" / "0").mkdir()  # not a positive integer: ignored
    (tmp_path / "m" / "latest").mkdir()
    assert read_model(tmp_path, "m").selected_versions() == served


def test_specific_versions_must_exist(tmp_path):
    write_classifier(tmp_path / "m", config="version_policy { specific { versions: [4] } }")
    with pytest.raises(ValueError, match=r"version_policy names versions \[4\] that have no model.onnx"):
        read_model(tmp_path, "m").selected_versions()
