"""FP32 ONNX -> FP16 weights and compute, FP32 inputs and outputs (clients do not change).

``onnxconverter_common.float16`` with its default op block list: ops ONNX Runtime has no
FP16 kernel for stay FP32 behind casts. (ONNX Runtime's own copy,
``onnxruntime.transformers.float16``, appends the input casts at the end of the node list,
which ``onnx.checker`` rejects as not topologically sorted.)
On x86 ONNX Runtime's CPU provider has FP16 kernels only for shape ops (Reshape,
Flatten); for Conv, Gemm, pooling and activations it inserts casts itself and computes in
FP32, so on CPU an fp16 model is half the size, not faster. The FP16 speed-up is CUDA's.
"""

from __future__ import annotations

import warnings

import onnx

# The converter retypes a Cast's output to FP16 but leaves its ``to`` attribute at FLOAT, which
# ONNX Runtime rejects (the binary step's Greater -> Cast); such a Cast stays FP32 instead.
KEEP_FP32 = ("Cast",)


def to_fp16(model: bytes) -> tuple[bytes, dict]:
    """The converted model and what the card says about the conversion."""
    from onnxconverter_common import float16

    proto = onnx.load_model_from_string(model)
    blocked = [*float16.DEFAULT_OP_BLOCK_LIST, *KEEP_FP32]
    kept = sorted({node.op_type for node in proto.graph.node} & set(blocked))
    with warnings.catch_warnings():  # one warning per weight below FP16's smallest subnormal
        warnings.simplefilter("ignore")
        converted = float16.convert_float_to_float16(proto, keep_io_types=True, op_block_list=blocked)
    return converted.SerializeToString(), {
        "converter": "onnxconverter_common.float16",
        "io": "fp32",
        "kept_fp32_ops": kept,
    }
