"""Test support for the server: tiny ONNX models in Triton repositories, and a
``convzoo serve`` subprocess on a free 127.0.0.1 port.

No torch: models are built with ``onnx.helper``. Weights are small integers stored as
float32, so batched and unbatched runs give bit-identical results.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VENV_BIN = Path(sys.executable).parent
CLASSES = 10
IMAGE = 8  # classifier input is [3, IMAGE, IMAGE]


def _save(graph, path: Path, metadata: dict[str, str] | None = None) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)


def classifier_weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weight = rng.integers(-3, 4, size=(3 * IMAGE * IMAGE, CLASSES)).astype(np.float32)
    bias = rng.integers(-5, 6, size=(CLASSES,)).astype(np.float32)
    return weight, bias


def classifier_logits(batch: np.ndarray, seed: int = 0) -> np.ndarray:
    """What the classifier model computes, in numpy."""
    weight, bias = classifier_weights(seed)
    return batch.reshape(batch.shape[0], -1) @ weight + bias


def write_classifier(model_dir: Path, version: int = 1, seed: int = 0, *, config: str | None = None) -> None:
    """A convzoo-export-shaped model: input FP32 [N,3,8,8] -> Flatten -> MatMul + Add -> logits [N,10]."""
    weight, bias = classifier_weights(seed)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "weight"], ["product"]),
            helper.make_node("Add", ["product", "bias"], ["logits"]),
        ],
        "classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, IMAGE, IMAGE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
        [numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")],
    )
    preprocessing = {
        "resize_size": IMAGE,
        "crop_size": IMAGE,
        "interpolation": "bilinear",
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
    }
    card = {"arch": "tinynet", "params": int(weight.size + bias.size), "macs": int(weight.size), "precision": "fp32"}
    _save(
        graph,
        model_dir / str(version) / "model.onnx",
        {"preprocessing": json.dumps(preprocessing), "card": json.dumps(card)},
    )
    (model_dir / "labels.txt").write_text("".join(f"class_{i}\n" for i in range(CLASSES)))
    (model_dir / "config.pbtxt").write_text(config if config is not None else classifier_config(model_dir.name))


def classifier_config(name: str, max_batch_size: int = 8, extra: str = "") -> str:
    """config.pbtxt as the convzoo exporter writes it."""
    return f"""name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: {max_batch_size}
input [
  {{
    name: "input"
    data_type: TYPE_FP32
    format: FORMAT_NCHW
    dims: [ 3, {IMAGE}, {IMAGE} ]
  }}
]
output [
  {{
    name: "logits"
    data_type: TYPE_FP32
    dims: [ {CLASSES} ]
    label_filename: "labels.txt"
  }}
]
{extra}"""


def write_int_add(model_dir: Path) -> None:
    """A hand-built Triton example: INT32 INPUT0, INPUT1 [N,4] -> OUTPUT0 = sum, OUTPUT1 = difference."""
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
            helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"]),
        ],
        "int_add",
        [helper.make_tensor_value_info(n, TensorProto.INT32, ["N", 4]) for n in ("INPUT0", "INPUT1")],
        [helper.make_tensor_value_info(n, TensorProto.INT32, ["N", 4]) for n in ("OUTPUT0", "OUTPUT1")],
    )
    _save(graph, model_dir / "1" / "model.onnx")
    (model_dir / "config.pbtxt").write_text(
        """# Triton-style config, with fields convzoo parses but does not act on.
backend: "onnxruntime"
max_batch_size: 8
input [
  { name: "INPUT0" data_type: TYPE_INT32 dims: [ 4 ] },
  { name: "INPUT1" data_type: TYPE_INT32 dims: [ 4 ] }
]
output [
  { name: "OUTPUT0" data_type: TYPE_INT32 dims: [ 4 ] },
  { name: "OUTPUT1" data_type: TYPE_INT32 dims: [ 4 ] }
]
instance_group [ { kind: KIND_CPU count: 1 } ]
optimization { execution_accelerators { gpu_execution_accelerator : [ { name : "tensorrt" } ] } }
model_warmup [ { name: "zeros" batch_size: 1 inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [ 4 ] zero_data: true } } } ]
"""
    )


def write_strings(model_dir: Path) -> None:
    """A BYTES identity model with no config.pbtxt at all: everything is auto-completed."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["TEXT"], ["ECHO"])],
        "strings",
        [helper.make_tensor_value_info("TEXT", TensorProto.STRING, ["N", 2])],
        [helper.make_tensor_value_info("ECHO", TensorProto.STRING, ["N", 2])],
    )
    _save(graph, model_dir / "1" / "model.onnx")


def write_scaler(model_dir: Path) -> None:
    """A non-batching FP64 model (max_batch_size 0): Y [2,3] = X * 2."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["X", "two"], ["Y"])],
        "scaler",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [2, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.DOUBLE, [2, 3])],
        [numpy_helper.from_array(np.array(2.0), "two")],
    )
    _save(graph, model_dir / "1" / "model.onnx")


# Protocol datatype -> ONNX element type, for every datatype ONNX Runtime's Python API feeds.
ALL_TYPES = {
    "BOOL": TensorProto.BOOL,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16,
    "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
}


def write_all_types(model_dir: Path) -> None:
    """One Identity per datatype: input IN_<TYPE> [N,2] -> output OUT_<TYPE>; no config.pbtxt."""
    graph = helper.make_graph(
        [helper.make_node("Identity", [f"IN_{name}"], [f"OUT_{name}"]) for name in ALL_TYPES],
        "all_types",
        [helper.make_tensor_value_info(f"IN_{name}", kind, ["N", 2]) for name, kind in ALL_TYPES.items()],
        [helper.make_tensor_value_info(f"OUT_{name}", kind, ["N", 2]) for name, kind in ALL_TYPES.items()],
    )
    _save(graph, model_dir / "1" / "model.onnx")


def write_broken(model_dir: Path) -> None:
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    (model_dir / "1" / "model.onnx").write_bytes(b"this is not an onnx model")


def build_repository(root: Path) -> Path:
    """The repository the server tests serve."""
    write_classifier(root / "classifier")
    write_classifier(root / "versioned", version=1, seed=1)
    write_classifier(root / "versioned", version=2, seed=2)
    write_classifier(
        root / "batched",
        config=classifier_config(
            "batched", 16, "dynamic_batching { preferred_batch_size: [ 8 ] max_queue_delay_microseconds: 500000 }\n"
        ),
    )
    write_classifier(
        root / "queue_limited",
        config=classifier_config(
            "queue_limited",
            4,
            "dynamic_batching { max_queue_delay_microseconds: 1500000 default_queue_policy { max_queue_size: 1 } }\n",
        ),
    )
    write_int_add(root / "int_add")
    write_strings(root / "strings")
    write_scaler(root / "scaler")
    write_all_types(root / "all_types")
    write_broken(root / "broken")
    return root


@dataclass
class ServerProcess:
    """A running ``convzoo serve``; ``log`` collects its stderr lines."""

    process: subprocess.Popen
    port: int = 0
    metrics_port: int = 0
    http_port: int = 0
    log: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def wait(self, timeout: float = 30) -> int:
        """Wait for the process to exit and its log to be read to the end; the exit code."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if self.reader is not None:
            self.reader.join(timeout)
        return code

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (graceful drain), then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)


def run_serve(repository: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a ``convzoo serve`` that is expected to stop by itself (a refusal), on free gRPC and
    HTTP ports and no metrics port unless ``args`` say otherwise (the last flag wins)."""
    command = [str(VENV_BIN / "convzoo"), "serve", "--repository", str(repository), "--port", "0"]
    command += ["--http-port", "0", "--metrics-port", "-1", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def start_server(
    repository: Path, *args: str, timeout: float = 60, serve: Sequence[str] = (str(VENV_BIN / "convzoo"), "serve")
) -> ServerProcess:
    """Start ``convzoo serve`` on free ports; return once it logs that it is ready.

    ``serve`` is the command that runs ``convzoo serve`` (another install's, or one inside an image)."""
    command = [
        *serve,
        "--repository",
        str(repository),
        "--port",
        "0",
        "--metrics-port",
        "0",
        "--http-port",
        "0",
        "--intra-op-threads",
        "1",
        "--grpc-workers",
        "16",
        *args,
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    server = ServerProcess(process)
    ready = threading.Event()

    def read() -> None:
        for line in process.stderr:
            server.log.append(line.rstrip("\n"))
            if match := re.search(r"gRPC listening on [\d.]+:(\d+)", line):
                server.port = int(match.group(1))
            if match := re.search(r"HTTP/REST listening on https?://[\d.]+:(\d+)", line):
                server.http_port = int(match.group(1))
            if match := re.search(r"metrics on http://[\d.]+:(\d+)", line):
                server.metrics_port = int(match.group(1))
            if "server ready on" in line:
                ready.set()
        ready.set()

    server.reader = threading.Thread(target=read, daemon=True)
    server.reader.start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.1):
        if time.monotonic() > deadline:
            server.stop()
            raise TimeoutError("server did not become ready:\n" + "\n".join(server.log))
    if process.poll() is not None or not server.port:
        raise RuntimeError(f"server exited with {process.poll()}:\n" + "\n".join(server.log))
    return server


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise OSError(f"no VmRSS for process {pid}")
