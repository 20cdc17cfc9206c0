"""Where logits come from. A backend maps a preprocessed batch ``[N, 3, H, W]`` to logits.

Every backend offers ``infer(images) -> logits``, ``preprocessing`` (the model's own recipe),
``model`` (name, source, card: what the report says about the model), ``runtime`` (what
actually ran it) and ``classes`` (the class count of an image classifier, None when the model
leaves it open). The evaluation job times ``infer`` itself.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from convzoo.base.card import card_from_metadata
from convzoo.base.preprocessing import METADATA_KEY, Preprocessing

DEFAULT_RECIPE = "torchvision default (the model publishes none)"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recipe_for_input(recipe: Preprocessing, shape) -> Preprocessing:
    """``recipe`` scaled to a model input ``[.., 3, H, W]`` with a static width (else unchanged)."""
    width = shape[-1] if shape else None
    return recipe.for_crop(width) if isinstance(width, int) and width > 0 else recipe


def class_count(input_shape, output_shape) -> int | None:
    """The classes of an image classifier (input ``[N, 3, H, W]``, output ``[N, classes]`` with a fixed
    width); None for any other model, or when the width is left open."""
    if len(input_shape or ()) != 4 or len(output_shape or ()) != 2:
        return None
    width = output_shape[-1]
    return width if isinstance(width, int) and width > 0 else None


def infer_in_parts(
    images: np.ndarray, max_batch: int | None, start: Callable[[np.ndarray], Callable[[], np.ndarray]]
) -> np.ndarray:
    """Logits ``[N, classes]`` of ``images`` inferred in consecutive parts of at most ``max_batch`` rows.

    ``start(part)`` begins one part and returns the call that waits for its logits; every part
    starts before the first is awaited, so a backend that queues (the server's batcher) sees
    them together. ``max_batch`` None or 0 runs the batch whole. Raises ValueError when the
    joined logits are not ``[N, classes]``.
    """
    step = max_batch or len(images)
    waits = [start(images[i : i + step]) for i in range(0, len(images), step)]
    parts = [wait() for wait in waits]
    logits = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if logits.ndim != 2 or len(logits) != len(images):
        raise ValueError(f"the model's first output has shape {logits.shape}; expected [{len(images)}, classes]")
    return logits


class OnnxBackend:
    """In-process ONNX Runtime: first input, first output, any ONNX image classifier."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None) -> None:
        """``threads``: ONNX Runtime's intra-op threads (None: its default, one per core)."""
        import onnxruntime as ort

        from convzoo.base.device import DeviceRequest
        from convzoo.base.sessions import open_session

        self.path = Path(path)
        # The server's device logic: auto probes CUDA once, quietly; an explicit cuda that falls back is an error.
        request = DeviceRequest.parse(device, strict=device != "auto").resolve_auto()
        self.device = request.description()
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        self.session = open_session(self.path, request.providers(), options)
        request.actual_device(self.session.get_providers())
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.output_name = self.session.get_outputs()[0].name
        self.classes = class_count(model_input.shape, self.session.get_outputs()[0].shape)
        batch = model_input.shape[0] if model_input.shape else None
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.preprocessing = recipe_for_input(Preprocessing.from_metadata(metadata), model_input.shape)
        self.model = {
            "name": self.path.parent.parent.name if self.path.name == "model.onnx" else self.path.stem,
            "source": str(self.path),
            "sha256": file_sha256(self.path),
            "card": card_from_metadata(metadata),
        }
        self.runtime = {
            "backend": "onnxruntime",
            "onnxruntime": ort.__version__,
            "providers": self.session.get_providers(),
            "preprocessing_from": "model metadata" if METADATA_KEY in metadata else DEFAULT_RECIPE,
        }

    def infer(self, images: np.ndarray) -> np.ndarray:
        from convzoo.base.sessions import model_errors

        def run(part: np.ndarray) -> np.ndarray:
            with model_errors(self.path, f"run on a float32 image batch [N, 3, H, W] (input '{self.input_name}')"):
                return self.session.run([self.output_name], {self.input_name: part})[0]

        return infer_in_parts(images, self.fixed_batch, lambda part: lambda: run(part))

    def close(self) -> None:
        """Nothing to release: the session goes with the backend."""


def served_on(config) -> str:
    """Where the server says the model runs: its instance group kind (Triton's ``KIND_GPU``/``KIND_CPU``)."""
    from convzoo.proto import model_config_pb2

    kinds = {model_config_pb2.ModelInstanceGroup.Kind.Name(group.kind) for group in config.instance_group}
    return f"remote ({', '.join(sorted(kinds))})" if kinds else "remote"


def _note(line: str) -> None:
    print(f"convzoo eval: note: {line}", file=sys.stderr)


class GrpcBackend:
    """Any KServe v2 / Triton gRPC endpoint via ModelInfer (first input, first output).

    Batches larger than the model's ``max_batch_size`` are split. The recipe and card come
    from the model config's ``parameters`` (``preprocessing``, ``card``) where the server
    offers them; otherwise torchvision's recipe scaled to the model's input size.
    """

    def __init__(self, url: str, model: str, version: str = "", security=None, *, shared_memory: bool = False) -> None:
        from convzoo.client.channel import Security
        from convzoo.client.inference import InferenceClient
        from convzoo.client.tracecontext import RunTrace

        # one trace per run: every request carries it, so a tracing fleet shows the run as one trace
        self.trace = RunTrace.start()
        self.client = InferenceClient(
            url,
            security=security or Security(),
            shared_memory=shared_memory,
            on_fallback=_note,
            traceparent=self.trace.traceparent,
        )
        self.name, self.version = model, version
        metadata = self.client.model_metadata(model, version)
        config = self.client.model_config(model, version)
        parameters = {key: value.string_value for key, value in config.parameters.items()}
        self.input_name = metadata.inputs[0].name
        self.output_name = metadata.outputs[0].name
        self.max_batch = config.max_batch_size
        self.classes = class_count(list(metadata.inputs[0].shape), list(metadata.outputs[0].shape))
        self.preprocessing = recipe_for_input(Preprocessing.from_metadata(parameters), list(metadata.inputs[0].shape))
        self.model = {
            "name": model,
            "source": f"grpc://{url}/{model}",
            "version": version,
            "card": card_from_metadata(parameters),
        }
        server = self.client.server_metadata()
        self.runtime = {
            "backend": "kserve-grpc",
            "server": url,
            "server_name": server.name,
            "server_version": server.version,
            "providers": [served_on(config)],
            "preprocessing_from": "model config parameters" if METADATA_KEY in parameters else DEFAULT_RECIPE,
            "trace_id": self.trace.trace_id,  # the W3C trace its requests carried
        }

    def infer(self, images: np.ndarray) -> np.ndarray:
        def run(part: np.ndarray) -> np.ndarray:
            return self.client.infer(
                self.name, part, version=self.version, input_name=self.input_name, output_name=self.output_name
            )

        return infer_in_parts(images, self.max_batch, lambda part: lambda: run(part))

    def close(self) -> None:
        self.client.close()
