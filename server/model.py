"""One loaded model version: an ONNX Runtime session, its completed config and its card.

The server owns the lifecycle (``load``); a ``Model`` only runs batches. ``session.run``
is thread-safe and releases the GIL, so several batch workers may share one model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import onnxruntime as ort

from convzoo.base.card import CARD_KEY, card_from_metadata
from convzoo.base.datatypes import BY_CONFIG, Datatype
from convzoo.base.device import DeviceRequest
from convzoo.base.preprocessing import METADATA_KEY, Preprocessing
from convzoo.proto import model_config_pb2
from convzoo.server import binding, threads
from convzoo.server import config as configuration
from convzoo.server.repository import ModelSource, read_labels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TensorSpec:
    """A configured tensor: ``dims`` exclude the batch dimension of batched models; -1 is any."""

    name: str
    datatype: Datatype
    dims: tuple[int, ...]
    image_input: bool = False


@dataclass(frozen=True)
class LoadOptions:
    """Server-wide settings that shape how each model loads."""

    device: DeviceRequest = DeviceRequest("auto")
    intra_op_threads: int = 0  # 0: one per usable CPU (see ``threads``)
    default_max_batch_size: int = 4
    max_queue_delay_us: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    warm_up: bool = True


@dataclass
class Model:
    name: str
    version: int
    path: Path
    config: model_config_pb2.ModelConfig
    session: ort.InferenceSession
    device: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    labels: dict[str, list[str]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def max_batch_size(self) -> int:
        return self.config.max_batch_size

    @cached_property
    def input_specs(self) -> dict[str, TensorSpec]:
        """The inputs by name, in config order."""
        return {spec.name: spec for spec in self.inputs}

    @cached_property
    def output_specs(self) -> dict[str, TensorSpec]:
        """The outputs by name, in config order."""
        return {spec.name: spec for spec in self.outputs}

    @cached_property
    def output_names(self) -> list[str]:
        return list(self.output_specs)

    @cached_property
    def preprocessing(self) -> Preprocessing:
        """The image recipe from the model card, scaled to the model's input size if needed."""
        image = next(spec for spec in self.inputs if spec.image_input)
        return Preprocessing.from_metadata(self.metadata).for_crop(image.dims[-1])

    @cached_property
    def card(self) -> dict:
        """The exporter's model card (``card`` metadata, JSON), or {} (also for a broken one)."""
        try:
            return card_from_metadata(self.metadata)
        except ValueError:
            return {}

    def run(self, feeds: dict[str, np.ndarray], output_names: list[str]) -> dict[str, np.ndarray]:
        """One session run (IOBinding on CUDA); BYTES inputs are object arrays of str (ONNX Runtime strings are text)."""
        if binding.uses_binding(self.device, feeds):
            return binding.run(self.session, feeds, output_names, self.device)
        return dict(zip(output_names, self.session.run(output_names, feeds)))

    def warm_up(self, batch_sizes: list[int]) -> None:
        """Run zero inputs at each batch size so first requests do not pay for kernel selection."""
        for size in batch_sizes:
            feeds = {}
            for spec in self.inputs:
                shape = ([size] if self.max_batch_size > 0 else []) + [1 if d < 0 else d for d in spec.dims]
                if spec.datatype.name == "BYTES":
                    feeds[spec.name] = np.full(shape, "", dtype=object)
                else:
                    feeds[spec.name] = np.zeros(shape, dtype=spec.datatype.dtype)
            self.run(feeds, [spec.name for spec in self.outputs])


def _is_image_input(entry: model_config_pb2.ModelInput, batching: bool) -> bool:
    """FP32 [3, H, W] (NCHW or unspecified format) inputs of batched models also take encoded images."""
    return (
        batching
        and entry.data_type == model_config_pb2.TYPE_FP32
        and entry.format in (model_config_pb2.ModelInput.FORMAT_NCHW, model_config_pb2.ModelInput.FORMAT_NONE)
        and len(entry.dims) == 3
        and entry.dims[0] == 3
        and entry.dims[1] > 0
        and entry.dims[1] == entry.dims[2]
    )


def _publish_card(model: Model) -> None:
    """Expose the ONNX card, preprocessing and the card's precision (fp32/fp16/int8) as config
    ``parameters`` (unless config.pbtxt sets them).

    KServe v2 model metadata has no place for them; ModelConfig parameters let any client
    learn how to preprocess for this model.
    """
    published = {key: model.metadata[key] for key in (METADATA_KEY, CARD_KEY) if key in model.metadata}
    if model.card.get("precision"):
        published["precision"] = model.card["precision"]
    for key, value in published.items():
        if key not in model.config.parameters:
            model.config.parameters[key].string_value = value


def load(source: ModelSource, version: int, options: LoadOptions) -> Model:
    """Create the session for one version, complete its config, check the device, warm up.

    Raises ValueError/OSError with the reason the version cannot serve.
    """
    path = source.versions[version]
    try:
        session = ort.InferenceSession(
            str(path), threads.session_options(options.intra_op_threads), providers=options.device.providers()
        )
    except Exception as exc:  # ONNX Runtime raises its own exception types for bad models
        raise ValueError(f"ONNX Runtime cannot load {path}: {exc}") from None
    device = options.device.actual_device(session.get_providers())
    completed = configuration.complete(
        source.config,
        configuration.session_tensors(session.get_inputs()),
        configuration.session_tensors(session.get_outputs()),
        default_max_batch_size=options.default_max_batch_size,
    )
    batching = completed.max_batch_size > 0
    if batching and not completed.HasField("dynamic_batching"):
        completed.dynamic_batching.max_queue_delay_microseconds = options.max_queue_delay_us
        completed.dynamic_batching.preferred_batch_size.extend(
            size for size in options.preferred_batch_sizes if size <= completed.max_batch_size
        )
    del completed.instance_group[:]
    instances = sum(g.count for g in source.config.instance_group) or 1
    group = completed.instance_group.add(name=f"{source.name}_0", count=instances)
    if device.startswith("cuda"):
        group.kind = model_config_pb2.ModelInstanceGroup.KIND_GPU
        group.gpus.append(options.device.index)
    else:
        group.kind = model_config_pb2.ModelInstanceGroup.KIND_CPU
    specs = []
    for entry in completed.input:
        datatype = BY_CONFIG[model_config_pb2.DataType.Name(entry.data_type)]
        specs.append(TensorSpec(entry.name, datatype, tuple(entry.dims), _is_image_input(entry, batching)))
    outputs = [
        TensorSpec(e.name, BY_CONFIG[model_config_pb2.DataType.Name(e.data_type)], tuple(e.dims))
        for e in completed.output
    ]
    for spec in specs + outputs:
        if spec.datatype.dtype is None:
            raise ValueError(
                f"model '{source.name}': tensor '{spec.name}' is {spec.datatype.name}, which ONNX Runtime's Python API cannot feed"
            )
    labels = {e.name: read_labels(source.file(e.label_filename)) for e in completed.output if e.label_filename}
    model = Model(
        name=source.name,
        version=version,
        path=path,
        config=completed,
        session=session,
        device=device,
        inputs=specs,
        outputs=outputs,
        labels=labels,
        metadata=dict(session.get_modelmeta().custom_metadata_map),
    )
    _publish_card(model)
    if options.warm_up:
        # Kernel selection (cuDNN's EXHAUSTIVE search) happens per shape on CUDA; CPU needs one run.
        served = {1, *completed.dynamic_batching.preferred_batch_size, completed.max_batch_size} - {0}
        sizes = sorted(served) if device.startswith("cuda") else [1]
        try:
            model.warm_up(sizes)
        except Exception as exc:  # a model may reject zero inputs; requests will tell
            log.warning("warm-up of model '%s' version %d failed: %s", source.name, version, exc)
    log.info(
        "loaded model '%s' version %d on %s (providers: %s)",
        source.name,
        version,
        device,
        ", ".join(session.get_providers()),
    )
    return model
