"""Where a model runs: ``--device auto|cpu|cuda[:N]`` to ONNX Runtime providers and back.

onnxruntime-gpu lists CUDA among its available providers even where CUDA libraries are
missing, and then silently falls back to CPU. The truth is ``session.get_providers()``:
``actual_device`` reads it, and with ``strict`` a fallback is an error. ``auto`` probes
quietly (ONNX Runtime's CUDA error lines are the expected answer on a machine without a GPU),
and the caller says once which device it chose (``description``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import onnxruntime as ort
from onnx import TensorProto, helper

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
CONV_ALGO_SEARCH = ("EXHAUSTIVE", "HEURISTIC", "DEFAULT")
ORT_DEFAULT_SEVERITY = 2  # ONNX Runtime's default logger level: warnings and above
ORT_FATAL = 4


@dataclass(frozen=True)
class DeviceRequest:
    """What the user asked for: ``kind`` is auto, cpu or cuda; ``index`` the CUDA device."""

    kind: str
    index: int = 0
    strict: bool = False
    conv_algo_search: str = "EXHAUSTIVE"

    @classmethod
    def parse(cls, text: str, *, strict: bool = False, conv_algo_search: str = "EXHAUSTIVE") -> DeviceRequest:
        """Parse ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
        match = re.fullmatch(r"(auto|cpu|cuda)(?::(\d+))?", text.strip().lower())
        if not match or (match.group(2) is not None and match.group(1) != "cuda"):
            raise ValueError(f"unknown device {text!r}; expected auto, cpu, cuda or cuda:N")
        if conv_algo_search not in CONV_ALGO_SEARCH:
            raise ValueError(f"unknown cudnn_conv_algo_search {conv_algo_search!r}; expected one of {CONV_ALGO_SEARCH}")
        return cls(match.group(1), int(match.group(2) or 0), strict, conv_algo_search)

    @property
    def wants_cuda(self) -> bool:
        return self.kind == "cuda" or (self.kind == "auto" and CUDA in ort.get_available_providers())

    def providers(self) -> list:
        """The provider list for ``InferenceSession``: CUDA (with options) then CPU, or CPU."""
        if not self.wants_cuda:
            return [CPU]
        options = {
            "device_id": str(self.index),
            "cudnn_conv_algo_search": self.conv_algo_search,
            # Grow the arena by what is asked, not by powers of two: varying batch sizes
            # otherwise keep reserving more device memory.
            "arena_extend_strategy": "kSameAsRequested",
        }
        return [(CUDA, options), CPU]

    def resolve_auto(self) -> DeviceRequest:
        """For ``auto``: probe once whether a CUDA session really runs on CUDA, and return
        ``cuda:0`` or ``cpu`` accordingly (so each model does not retry and log the fallback)."""
        if self.kind != "auto":
            return self
        if CUDA not in ort.get_available_providers():
            return DeviceRequest("cpu", conv_algo_search=self.conv_algo_search)
        # A failing CUDA provider logs through ONNX Runtime's default logger, not the session's:
        # silence it (fatal only) for the probe, whose question that failure answers.
        ort.set_default_logger_severity(ORT_FATAL)
        try:
            probe = ort.InferenceSession(_probe_model(), providers=self.providers())
        finally:
            ort.set_default_logger_severity(ORT_DEFAULT_SEVERITY)
        kind = "cuda" if CUDA in probe.get_providers() else "cpu"
        return DeviceRequest(kind, 0, self.strict, self.conv_algo_search)

    def description(self) -> str:
        """Where a resolved request runs, for the one line that says so."""
        if self.kind == "cuda":
            return f"cuda:{self.index}"
        return "CPU (CPUExecutionProvider; no usable CUDA provider)"

    def actual_device(self, session_providers: list[str]) -> str:
        """``cuda:N`` or ``cpu`` from the providers the session really uses.

        Raises ValueError when CUDA was asked for with ``strict`` and the session fell back.
        """
        if CUDA in session_providers:
            return f"cuda:{self.index}"
        if self.kind == "cuda" and self.strict:
            raise ValueError(
                f"--device cuda:{self.index} --strict-device: ONNX Runtime could not create the CUDA provider and "
                f"fell back to {', '.join(session_providers)} (no usable GPU, or CUDA/cuDNN libraries missing; "
                "see the ONNX Runtime log lines above)"
            )
        return "cpu"


def _probe_model() -> bytes:
    """A one-node model (Identity on a float vector) for probing providers."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()
