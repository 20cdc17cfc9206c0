"""Session runs through an IOBinding: ONNX Runtime copies the inputs to the device once and
allocates the outputs there, and each output comes back to the host with one copy. Used on
CUDA; it works on any device, so CPU tests cover it."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort


def uses_binding(device: str, feeds: dict[str, np.ndarray]) -> bool:
    """Bind on CUDA, for numeric inputs (strings have no device copy)."""
    return device.startswith("cuda") and all(array.dtype != object for array in feeds.values())


def run(
    session: ort.InferenceSession, feeds: dict[str, np.ndarray], output_names: list[str], device: str
) -> dict[str, np.ndarray]:
    """One run of ``session`` with outputs on ``device`` (``cpu`` or ``cuda:N``)."""
    kind, _, index = device.partition(":")
    binding = session.io_binding()
    for name, array in feeds.items():
        binding.bind_cpu_input(name, np.ascontiguousarray(array))
    for name in output_names:
        binding.bind_output(name, kind, int(index or 0))
    session.run_with_iobinding(binding)
    return dict(zip(output_names, binding.copy_outputs_to_cpu()))
