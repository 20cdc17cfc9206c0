"""Case 5: resnet50's achieved GFLOP/s at batch 1 (2 x MACs x images/s, ONNX Runtime as the
server loads it) vs this machine's practical peak: the fastest of ONNX Runtime's, NumPy's and
PyTorch's FP32 products of two square matrices, measured in the same rounds, same threads."""

from __future__ import annotations

import numpy as np

from benchmarks.context import Context
from benchmarks.measure import Figure, Target, interleave, load
from benchmarks.registry import case


@case("efficiency", "achieved vs peak FP32 GFLOP/s at batch 1", order=5)
def run(context: Context) -> list[Figure]:
    import torch

    torch.set_num_threads(context.threads)
    (arch,) = context.archs("resnet50")
    spec = context.models.spec(arch)
    flops = 2 * context.models.card(arch)["macs"]
    model = context.load_model(context.models.path(arch).parent.parent)
    image = np.random.default_rng(0).standard_normal((1, 3, spec.input_size, spec.input_size), np.float32)
    feed, output = model.inputs[0].name, model.outputs[0].name
    size = 512 if context.quick else 2048
    matrix = np.random.default_rng(0).standard_normal((size, size), np.float32)
    tensor = torch.from_numpy(matrix)
    matmul = _matmul_session(size, context.threads)

    def achieved():
        measured = load(lambda: model.run({feed: image}, [output]), 1, seconds=context.seconds)
        return {**measured, "gflops": measured["items_per_s"] * flops / 1e9}

    def peak():
        products = {
            "onnxruntime": lambda: matmul.run(None, {"a": matrix, "b": matrix}),
            "numpy": lambda: matrix @ matrix,
            "pytorch": lambda: torch.mm(tensor, tensor),
        }
        rates = {
            name: load(call, 1, seconds=context.seconds / 3)["items_per_s"] * 2 * size**3 / 1e9
            for name, call in products.items()
        }
        return {"gflops": max(rates.values()), **{f"{name}_gflops": rate for name, rate in rates.items()}}

    achieved(), peak()  # warm-up
    pairs = interleave(achieved, peak, context.rounds)
    return [Figure("efficiency", f"{spec.name} batch 1", "achieved", "matmul peak", "gflops", pairs, Target(0.60))]


def _matmul_session(size: int, threads: int):
    """An ONNX Runtime session of one FP32 MatMul of two ``size`` x ``size`` inputs."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    square = [size, size]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, square) for n in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, square)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
