"""Per-layer rows of a network, read off the module while it runs once on the meta device.

Each leaf module call is a row named by its state_dict prefix (``layer1.0.conv1``); a tensor
operation written in a ``forward`` rather than held as a module (``torch.flatten``, the
residual ``out += identity``) is a row named after its module and operation
(``flatten``, ``layer1.0.add``). Shapes are what the call returned, without the batch
dimension; parameters are the module's own (each counted once); MACs are half of what
``torch.utils.flop_counter`` counts inside the call (a multiply-accumulate is two FLOPs), so
convolutions and linear layers count and the rest do not. Meta tensors have shapes and no
data: nothing is computed and nothing is allocated.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cache

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from convzoo.exporters.activations import ACTIVATIONS

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ConvWindow:
    """What a convolution row's formulas need: its input shape (C_in, H, W), F, S, P and bias."""

    input_shape: Shape
    kernel: int
    stride: int
    padding: int
    bias: bool


@dataclass(frozen=True)
class Layer:
    """One row of a summary: a layer's state_dict prefix, kind, output shape, params, MACs
    (and for a convolution the window its output size and parameters follow from)."""

    name: str
    kind: str
    output_shape: Shape
    params: int
    macs: int
    conv: ConvWindow | None = None


def layer_rows(model: nn.Module, input_shape: Shape) -> list[Layer]:
    """Run ``model`` (on the meta device) on one ``input_shape`` sample and return its rows in call order.

    A call that fails (an input too small for a kernel, say) raises ``ValueError`` naming the layer.
    """
    recorder = _Recorder(model)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as flops, _OperationRows(recorder):
            recorder.flops = flops
            model(torch.empty((1, *input_shape), device="meta"))
    except RuntimeError as exc:
        where = recorder.stack[-1].name if recorder.stack else ""
        reason = str(exc).strip().splitlines()[0]
        raise ValueError(f"{where or type(model).__name__}: {reason}") from None
    finally:
        recorder.remove_hooks()
    return recorder.rows


@dataclass
class _Frame:
    """A module call in progress."""

    name: str
    leaf: bool
    flops_before: int
    operations: Counter = field(default_factory=Counter)


class _Recorder:
    """Forward hooks on every module: a stack of the calls in progress and the rows so far."""

    def __init__(self, model: nn.Module) -> None:
        self.rows: list[Layer] = []
        self.stack: list[_Frame] = []
        self.flops: FlopCounterMode | None = None
        self.in_hook = False  # the hooks' own tensor calls are not the network's
        self._counted: set[int] = set()
        self._handles = []
        for name, module in model.named_modules():
            self._handles.append(module.register_forward_pre_hook(self._enter(name)))
            self._handles.append(module.register_forward_hook(self._leave))

    def remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()

    def _enter(self, name: str):
        def hook(module: nn.Module, args) -> None:
            leaf = next(module.children(), None) is None
            self.stack.append(_Frame(name, leaf, self.flops.get_total_flops()))

        return hook

    def _leave(self, module: nn.Module, args, output) -> None:
        frame = self.stack.pop()
        self.in_hook = True
        own = self._new_params(module.parameters(recurse=frame.leaf))
        if frame.leaf:
            self.add(frame.name, _kind(module, output), output, own, frame.flops_before, _conv_window(module, args))
        elif own:  # parameters a container uses in its own forward
            self.rows.append(Layer(frame.name, type(module).__name__, _shape(output), own, 0))
        self.in_hook = False

    def add(self, name: str, kind: str, output, params: int, flops_before: int, conv: ConvWindow | None = None) -> None:
        macs = (self.flops.get_total_flops() - flops_before) // 2
        self.rows.append(Layer(name, kind, _shape(output), params, macs, conv))

    def _new_params(self, params) -> int:
        fresh = [p for p in params if id(p) not in self._counted]
        self._counted.update(id(p) for p in fresh)
        return sum(p.numel() for p in fresh)


class _OperationRows(TorchFunctionMode):
    """Rows for tensor operations that a container's ``forward`` calls directly."""

    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        stack = self.recorder.stack
        if not stack or stack[-1].leaf or self.recorder.in_hook:
            return func(*args, **kwargs)
        frame = stack[-1]
        before = self.recorder.flops.get_total_flops()
        output = func(*args, **kwargs)
        if isinstance(output, torch.Tensor):
            operation = _operation_name(func)
            index = frame.operations[operation]
            frame.operations[operation] += 1
            name = ".".join(filter(None, [frame.name, operation + (f"_{index}" if index else "")]))
            self.recorder.add(name, operation.capitalize(), output, 0, before)
        return output


def _operation_name(func) -> str:
    """``add`` for ``torch.add``, ``Tensor.add_``, ``a + b`` and ``a += b``; ``flatten`` for ``torch.flatten``."""
    name = func.__name__
    if name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
        if name[0] in "ir" and hasattr(torch.Tensor, f"__{name[1:]}__"):  # in-place and reflected forms
            name = name[1:]
    return name.rstrip("_")


def _conv_window(module: nn.Module, args) -> ConvWindow | None:
    """A square 2-D convolution's window, for the card's per-layer formulas; None for anything else."""
    if not isinstance(module, nn.Conv2d) or not args or not isinstance(args[0], torch.Tensor):
        return None
    window = (module.kernel_size, module.stride, module.padding)
    if any(not isinstance(size, tuple) or len(set(size)) != 1 for size in window):
        return None  # a 3x1 kernel or padding="same": the square formulas do not apply
    kernel, stride, padding = (size[0] for size in window)
    return ConvWindow(tuple(args[0].shape[1:]), kernel, stride, padding, module.bias is not None)


def _kind(module: nn.Module, output) -> str:
    """The variant's name for an activation site; ``Conv2d 3x3/2`` for a windowed layer; else the class name."""
    kind = _activation_kinds().get(type(module))
    if kind:
        return kind
    kind = type(module).__name__
    kernel, stride = getattr(module, "kernel_size", None), getattr(module, "stride", None)
    if kernel is not None and stride is not None:
        dims = len(_shape(output)) - 1  # spatial dimensions
        return f"{kind} {_window(kernel, dims)}/{_window(stride, dims, square=False)}"
    return kind


@cache
def _activation_kinds() -> dict[type, str]:
    return {type(variant.module(1)): name for name, variant in ACTIVATIONS.items()}


def _window(size, dims: int, square: bool = True) -> str:
    """``3x3`` for a kernel; a stride prints once when it is the same along every dimension."""
    sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * max(dims, 1)
    if not square and len(set(sizes)) == 1:
        return str(sizes[0])
    return "x".join(map(str, sizes))


def _shape(output) -> Shape:
    if isinstance(output, (tuple, list)):
        output = next((o for o in output if isinstance(o, torch.Tensor)), None)
    return tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else ()
