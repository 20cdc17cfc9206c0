"""Parity for networks with binary step activations, whose output jumps at 0.

Two float implementations may round a pre-activation that lies within rounding error of
0 to different signs, and one flipped unit moves every logit downstream, so comparing
plain outputs fails for reasons that say nothing about the export. Instead PyTorch runs
*guided* by ONNX Runtime: the pre-activation of every step (the input of each ``Greater``)
becomes an extra output of the ONNX model; at each step site PyTorch takes ORT's 0/1
decisions, which may differ from its own only where ``|x| <= RTOL * max|x|`` at that
site (anything else is a real mismatch and fails). The guided logits are then held to
the usual tolerance against the unmodified ONNX model's, and the number of near-zero
flips is reported. Decisions are matched by order: the exporter traces the network, so
the graph lists the ``Greater`` nodes in the order PyTorch calls its step modules.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from torch import nn

from convzoo.exporters.binary_step import BinaryStep
from convzoo.exporters.parity import RTOL, ParityReport, compare, onnxruntime_logits, onnxruntime_outputs


def has_steps(model: nn.Module) -> bool:
    return any(isinstance(m, BinaryStep) for m in model.modules())


def step_parity(model: nn.Module, exported: bytes, inputs: list[np.ndarray]) -> ParityReport:
    """Compare ``model`` with its serialized ONNX export, guiding PyTorch's steps by ORT's."""
    proto = onnx.load_model_from_string(exported)
    steps = [m for m in model.modules() if isinstance(m, BinaryStep)]
    sites = [node.input[0] for node in proto.graph.node if node.op_type == "Greater"]
    if len(sites) != len(steps):
        raise ValueError(f"the ONNX graph has {len(sites)} Greater nodes for {len(steps)} step activations")
    proto.graph.output.extend(onnx.helper.make_tensor_value_info(s, onnx.TensorProto.FLOAT, None) for s in sites)
    probe_runs = onnxruntime_outputs(proto.SerializeToString(), inputs, ["logits", *sites])
    del proto
    clean = onnxruntime_logits(exported, inputs)

    reasons: list[str] = []
    flips = 0
    guided = []
    for x, run, clean_logits in zip(inputs, probe_runs, clean):
        if not np.array_equal(run[0], clean_logits):
            reasons.append(f"the probed ONNX model computes other logits than the written one at batch {len(x)}")
        decisions = iter(run[1:])

        def follow_ort(module, args, output):
            nonlocal flips
            pre = args[0]
            ort_pre = torch.from_numpy(next(decisions))
            if ort_pre.shape != pre.shape:
                reasons.append(f"step input shape {list(ort_pre.shape)} != {list(pre.shape)}")
                return output
            differ = (ort_pre > 0) != (pre > 0)
            margin = RTOL * float(pre.abs().max())
            if bool((differ & (pre.abs() > margin)).any()):
                reasons.append(f"a step decision differs beyond {margin:.3g} from 0 at batch {len(x)}")
            flips += int(differ.sum())
            return (ort_pre > 0).to(pre.dtype)

        hooks = [m.register_forward_hook(follow_ort) for m in steps]
        try:
            with torch.inference_mode():
                guided.append(model(torch.from_numpy(x)).numpy())
        finally:
            for hook in hooks:
                hook.remove()
    return compare(guided, clean, reasons, step_flips=flips)
