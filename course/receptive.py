"""Receptive fields of convolutional networks: analytic and effective.

The *receptive field* of a unit in a feature map is the patch of input pixels
it can see. Along one axis, a layer with kernel ``k``, stride ``s``, padding
``p`` and dilation ``d`` turns the field of its input units (size ``r``,
jump ``j``, start) into the field of its output units::

    k_eff     = d * (k - 1) + 1                       # dilated kernel extent
    r_out     = r_in + (k_eff - 1) * j_in
    j_out     = j_in * s
    start_out = start_in + ((k_eff - 1) / 2 - p) * j_in

starting from ``r = 1, j = 1, start = 0`` at the image. ``j`` (the *jump*, or
stride of the feature map) is the distance in input pixels between neighbouring
units; ``start`` is the centre of the field of unit 0, with pixel centres at
0, 1, 2, ... (negative or past the border: the field reaches into the padding).
Pointwise layers (activations, normalisation, dropout) leave the field
unchanged. Where branches merge (residual ``+``, ``torch.cat`` on channels,
``*``) a unit sees the union of what the branches see: the largest branch
field, as the branches' centres coincide in the usual architectures.
Dilation makes ``r`` grow fast without extra stride (Yu & Koltun, 2016).

Height and width follow the recurrences separately, so non-square kernels,
strides, paddings and dilations are handled too (Inception v3 replaces a 7x7
convolution by a 1x7 and a 7x1 one; asymmetric pooling): ``size_hw`` and
``stride_hw`` are ``(height, width)`` pairs, and ``size`` / ``stride`` are the
single ints when both axes agree.

Example, two convolutions with kernel 3, padding 1, stride 2 on a 5x5 image::

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, stride=2, padding=1),
    ...                           torch.nn.Conv2d(1, 1, 3, stride=2, padding=1))
    >>> rf = receptive_field(net, input_size=(1, 1, 5, 5))
    >>> [(row.size, row.stride, row.shape) for row in rf.layers]
    [(3, 2, (1, 1, 3, 3)), (7, 4, (1, 1, 2, 2))]
    >>> rf.region(0, 0)          # (top, left, bottom, right), inclusive pixel indices
    (-3, -3, 3, 3)

The *effective* receptive field (Luo et al., 2016) measures instead how much
each input pixel actually influences the centre unit: see
:func:`effective_receptive_field`.
"""
from __future__ import annotations

import contextlib
import html
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import torch
from torch import nn
from torch.nn import functional as F

from ._checks import check_choice, check_int

if TYPE_CHECKING:
    import torch.fx
    from torch.fx.node import Argument, Target

_Number = TypeVar("_Number", int, float)

__all__ = ["LayerRow", "ReceptiveField", "effective_receptive_field", "fraction_inside", "receptive_field"]


# --------------------------------------------------------------------------- results

def _one_value(owner: str, what: str, pair: tuple[_Number, _Number]) -> _Number:
    """``pair[0]`` when height and width agree, else a ValueError naming both values."""
    height, width = pair
    if height != width:
        raise ValueError(f"{owner}.{what} is not one number: the {what} is {height} along the height and "
                         f"{width} along the width; use .{what}_hw, the (height, width) pair {tuple(pair)}")
    return height


def _pair_of(value: object) -> tuple[Any, Any]:
    """An ``(h, w)`` pair from an int / float or a pair (so square values can be given as one number)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"expected a number or a (height, width) pair, got {value!r}")
        return (value[0], value[1])
    return (value, value)


def _show(value: object, sep: str = "x") -> str:
    """``7`` when both axes agree, ``7x13`` (height x width) when not; ``-`` for None."""
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return str(value[0]) if value[0] == value[1] else f"{value[0]}{sep}{value[1]}"
    return str(value)


@dataclass(frozen=True)
class LayerRow:
    """One row of the receptive-field table: the output of one layer.

    ``size_hw`` and ``stride_hw`` are the receptive field and jump of one unit
    of this layer's output, in input pixels, as ``(height, width)`` pairs;
    ``start_hw`` is the centre ``(row, column)`` of unit ``(0, 0)``'s field.
    ``size``, ``stride`` and ``start`` are the single values when both axes
    agree (a ``ValueError`` otherwise). ``kernel_size``, ``layer_stride``,
    ``padding`` and ``dilation`` are the layer's own parameters: an int when
    square, an ``(h, w)`` pair when not, ``None`` for pointwise layers and merges.
    The three field values may be given as single numbers for square fields:
    ``LayerRow("0", "Conv2d", 3, 2, 0.0, (1, 1, 3, 3))``.
    """

    name: str
    type: str
    size_hw: tuple[int, int]
    stride_hw: tuple[int, int]
    start_hw: tuple[float, float]
    shape: tuple[int, ...]
    kernel_size: int | tuple[int, int] | None = None
    layer_stride: int | tuple[int, int] | None = None
    padding: int | tuple[int, int] | None = None
    dilation: int | tuple[int, int] | None = None

    def __post_init__(self) -> None:
        for name in ("size_hw", "stride_hw", "start_hw"):
            object.__setattr__(self, name, _pair_of(getattr(self, name)))

    @property
    def size(self) -> int:
        """Side of the square field; ValueError if height and width differ (see ``size_hw``)."""
        return _one_value(f"layer {self.name!r}", "size", self.size_hw)

    @property
    def stride(self) -> int:
        """Jump between neighbouring units; ValueError if it differs per axis (see ``stride_hw``)."""
        return _one_value(f"layer {self.name!r}", "stride", self.stride_hw)

    @property
    def start(self) -> float:
        """Centre of unit 0's field; ValueError if it differs per axis (see ``start_hw``)."""
        return _one_value(f"layer {self.name!r}", "start", self.start_hw)


_COLUMNS = ("layer", "type", "kernel", "stride", "pad", "dil", "output shape", "RF size", "RF stride", "RF start")


@dataclass(frozen=True, repr=False)
class ReceptiveField:
    """The receptive field of a network's output units, with the per-layer table.

    ``size_hw``: ``(height, width)`` of the field in pixels; ``stride_hw``:
    jump between adjacent output units in input pixels, per axis;
    ``start_hw``: centre ``(row, column)`` of output unit ``(0, 0)``'s field in
    input pixel coordinates; ``layers``: one :class:`LayerRow` per layer, in
    execution order. ``size``, ``stride`` and ``start`` are the single values
    when both axes agree (as in most networks) and raise ``ValueError`` naming
    both values when they do not. ``print(rf)`` shows the table. The three
    field values may be given as single numbers for a square field.
    """

    size_hw: tuple[int, int]
    stride_hw: tuple[int, int]
    start_hw: tuple[float, float]
    input_size: tuple[int, int, int, int]
    output_shape: tuple[int, ...]
    layers: list[LayerRow] = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("size_hw", "stride_hw", "start_hw"):
            object.__setattr__(self, name, _pair_of(getattr(self, name)))

    @property
    def square(self) -> bool:
        """True when size, stride and start agree along height and width."""
        return all(a == b for a, b in (self.size_hw, self.stride_hw, self.start_hw))

    @property
    def size(self) -> int:
        """Side of the square field in pixels; ValueError if height and width differ (see ``size_hw``)."""
        return _one_value("ReceptiveField", "size", self.size_hw)

    @property
    def stride(self) -> int:
        """Jump between adjacent output units; ValueError if it differs per axis (see ``stride_hw``)."""
        return _one_value("ReceptiveField", "stride", self.stride_hw)

    @property
    def start(self) -> float:
        """Centre of output unit 0's field; ValueError if it differs per axis (see ``start_hw``)."""
        return _one_value("ReceptiveField", "start", self.start_hw)

    def __repr__(self) -> str:
        if self.square:
            numbers = f"size={self.size}, stride={self.stride}, start={self.start}"
        else:
            numbers = f"size_hw={self.size_hw}, stride_hw={self.stride_hw}, start_hw={self.start_hw}"
        return f"ReceptiveField({numbers}, input_size={self.input_size}, output_shape={self.output_shape})"

    def region(self, i: int, j: int) -> tuple[int, int, int, int]:
        """Input pixels seen by output unit ``(i, j)``: ``(top, left, bottom, right)``, inclusive.

        Per axis: ``top = start_h + i * stride_h - (size_h - 1) / 2`` and
        ``bottom = top + size_h - 1``; ``left`` and ``right`` the same with the
        width's values and ``j``. Values outside ``[0, H)`` lie in the padding.
        """
        i = check_int("i", i)
        j = check_int("j", j)
        (size_h, size_w), (stride_h, stride_w), (start_h, start_w) = self.size_hw, self.stride_hw, self.start_hw
        top = round(start_h - (size_h - 1) / 2) + i * stride_h
        left = round(start_w - (size_w - 1) / 2) + j * stride_w
        return (top, left, top + size_h - 1, left + size_w - 1)

    def _cells(self) -> list[tuple[str, ...]]:
        cells: list[tuple[str, ...]] = [("input", "", "", "", "", "", str(self.input_size), "1", "1", "0.0")]
        for row in self.layers:
            cells.append((row.name, row.type, _show(row.kernel_size), _show(row.layer_stride),
                          _show(row.padding), _show(row.dilation), str(row.shape),
                          _show(row.size_hw), _show(row.stride_hw), _show(row.start_hw, sep=", ")))
        return cells

    def summary(self) -> str:
        """One line: ``receptive field 7 x 7 pixels, stride 4`` (height x width; a stride per axis if they differ)."""
        (size_h, size_w), stride = self.size_hw, _show(self.stride_hw, sep=" x ")
        return f"receptive field {size_h} x {size_w} pixels, stride {stride}"

    def table(self) -> str:
        """The per-layer table as fixed-width text (text columns left, numbers right).

        Values that differ per axis read ``height x width``: ``1x7``, ``7x13``.
        """
        cells = [_COLUMNS] + self._cells()
        widths = [max(len(row[c]) for row in cells) for c in range(len(_COLUMNS))]
        lines = []
        for row in cells:
            parts = [text.ljust(w) if c < 2 else text.rjust(w)
                     for c, (text, w) in enumerate(zip(row, widths, strict=True))]
            lines.append("  ".join(parts).rstrip())
        lines.insert(1, "-" * len(lines[0]))
        lines.append(self.summary())
        return "\n".join(lines)

    __str__ = table

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in self._cells())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p>{html.escape(self.summary())}</p>"


# --------------------------------------------------------------------------- recurrences

class _Field(NamedTuple):
    """Receptive field of the units of one feature map, along one axis."""

    size: int      # r
    jump: int      # j
    start: float   # centre of unit 0's field


def _window(f: _Field, k: int, s: int, p: int, d: int) -> _Field:
    """A sliding window (convolution, pooling, padding): the classic recurrences."""
    k_eff = d * (k - 1) + 1
    return _Field(size=f.size + (k_eff - 1) * f.jump,
                  jump=f.jump * s,
                  start=f.start + ((k_eff - 1) / 2 - p) * f.jump)


def _union(fields: list[_Field], layer: str, axis: str = "") -> _Field:
    """Fields of several branches merged pointwise (add, cat, mul): their union (along one axis)."""
    jumps = sorted({f.jump for f in fields})
    if len(jumps) > 1:
        raise ValueError(f"layer {layer} merges feature maps with different strides {jumps}{axis}: "
                         "their units do not line up, so the receptive field is not defined")
    first = min(f.start - (f.size - 1) / 2 for f in fields)
    last = max(f.start + (f.size - 1) / 2 for f in fields)
    return _Field(size=round(last - first) + 1, jump=jumps[0], start=(first + last) / 2)


# --------------------------------------------------------------------------- what each layer does

_Shapes = dict["torch.fx.Node", "tuple[int, ...] | None"]
"""Output shape of every traced node (None for values that are not tensors)."""

class _Op(NamedTuple):
    """A layer's geometry: a window with ``(h, w)`` pairs k, s, p, d, or pointwise (``kernel_size is None``)."""

    kernel_size: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] | None = None
    dilation: tuple[int, int] | None = None

    def along(self, axis: int) -> tuple[int, int, int, int]:
        """``(k, s, p, d)`` along axis 0 (height) or 1 (width)."""
        k, s, p, d = self
        if k is None or s is None or p is None or d is None:
            raise ValueError("a pointwise layer has no window")
        return k[axis], s[axis], p[axis], d[axis]

    def shown(self) -> tuple[int | tuple[int, int] | None, ...]:
        """The parameters as the table shows them: an int when square, an ``(h, w)`` pair when not."""
        return tuple(None if v is None else (v[0] if v[0] == v[1] else v) for v in self)


_POINTWISE = _Op()

_POINTWISE_MODULES = (
    nn.Identity, nn.Dropout, nn.Dropout2d, nn.AlphaDropout, nn.FeatureAlphaDropout,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.InstanceNorm2d,
    nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh,
    nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.Threshold, nn.LogSigmoid, nn.Softmax2d,
)
_PAD_MODULES = (nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d, nn.CircularPad2d)
# elementwise functions and methods; with several feature-map inputs they merge branches
_POINTWISE_FUNCTIONS = {
    F.relu, F.relu_, torch.relu, torch.relu_, F.relu6, F.leaky_relu, F.elu, F.selu, F.celu,
    F.gelu, F.silu, F.mish, F.hardswish, F.hardsigmoid, F.hardtanh, F.softplus,
    torch.sigmoid, F.sigmoid, torch.tanh, F.tanh, torch.abs, torch.exp, torch.clamp,
    F.dropout, F.dropout2d, F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm,
    F.local_response_norm,
    operator.add, operator.iadd, operator.sub, operator.isub, operator.mul, operator.imul,
    operator.truediv, operator.neg, torch.add, torch.sub, torch.mul, torch.div,
    torch.maximum, torch.minimum,
}
_POINTWISE_METHODS = {
    "relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "clamp", "clamp_", "abs", "exp",
    "contiguous", "clone", "float", "double", "to", "type_as",
    "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_",
}
_CONCATENATIONS = {torch.cat, torch.concat, torch.concatenate}


def _pair(layer: str, what: str, value: int | Sequence[int]) -> tuple[int, int]:
    """``(h, w)`` from an int or a pair (torch accepts both for every window argument)."""
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) == 1:
        return int(value[0]), int(value[0])
    if len(value) != 2:
        raise ValueError(f"layer {layer} has {what}={value}: expected an int or a (height, width) pair")
    return int(value[0]), int(value[1])


def _arguments(node: torch.fx.Node, names: tuple[str, ...], **defaults: object) -> dict[str, Any]:
    """The arguments of a traced call by name: positional, then keyword, then defaults."""
    values: dict[str, Any] = dict(defaults)
    values.update(zip(names, node.args, strict=False))
    values.update(node.kwargs)
    return values


def _window_op(layer: str, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None,
               padding: int | Sequence[int] | str, dilation: int | Sequence[int] = 1) -> _Op:
    k = _pair(layer, "kernel_size", kernel_size)
    s = k if stride is None or stride == () or stride == [] else _pair(layer, "stride", stride)
    d = _pair(layer, "dilation", dilation)
    if padding == "valid":
        p = (0, 0)
    elif padding == "same":  # PyTorch pads d*(k-1) in total, the smaller half first
        p = (d[0] * (k[0] - 1) // 2, d[1] * (k[1] - 1) // 2)
    elif isinstance(padding, str):
        raise ValueError(f"layer {layer} has padding={padding!r}: expected 'valid', 'same', an int or a pair")
    else:
        p = _pair(layer, "padding", padding)
    return _Op(k, s, p, d)


def _describe(graph_module: torch.fx.GraphModule, node: torch.fx.Node) -> tuple[str, str]:
    """``(name, type)`` of a node, as shown in the table and in error messages."""
    if node.op == "call_module":
        return str(node.target), type(graph_module.get_submodule(str(node.target))).__name__
    kind = str(node.target) if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
    stack = node.meta.get("nn_module_stack") or {}
    owner = list(stack.values())[-1][0] if stack else ""
    return (f"{owner}.{node.name}" if owner else node.name), kind


def _unsupported(name: str, kind: str, why: str = "") -> ValueError:
    return ValueError(
        f"layer {name!r} ({kind}) is not supported by receptive_field{why}. The receptive field is "
        "defined for the convolutional trunk of a network (convolutions, pooling, pointwise layers, "
        "residual additions, concatenation on channels); pass the trunk, e.g. "
        "receptive_field(model.features). If the layer is inside the trunk (the global pooling of a "
        "squeeze-and-excitation gate, as in EfficientNet or MobileNet v3), every unit sees the whole "
        "image and there is no finite receptive field to compute")


def _operation(graph_module: torch.fx.GraphModule, node: torch.fx.Node, shapes: _Shapes) -> _Op:
    """What ``node`` does to receptive fields, or a ValueError for layers we cannot handle."""
    name, kind = _describe(graph_module, node)
    layer = f"{name!r} ({kind})"
    if node.op == "call_module":
        module = graph_module.get_submodule(str(node.target))
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
            return _window_op(layer, module.kernel_size, module.stride, module.padding, module.dilation)
        if isinstance(module, nn.AvgPool2d):
            return _window_op(layer, module.kernel_size, module.stride, module.padding)
        if isinstance(module, _PAD_MODULES):
            left, _, top, _ = module.padding
            return _window_op(layer, 1, 1, (top, left))
        if isinstance(module, _POINTWISE_MODULES):
            return _POINTWISE
        if isinstance(module, (nn.Softmax, nn.LogSoftmax)) and module.dim in (1, -3):
            return _POINTWISE
    elif node.op == "call_function":
        target = node.target
        if target is torch.conv2d:  # F.conv2d; the kernel size comes from the weight's shape
            args = _arguments(node, ("input", "weight", "bias", "stride", "padding", "dilation"),
                              stride=1, padding=0, dilation=1)
            weight_shape = shapes.get(args["weight"])
            if weight_shape is None:
                raise _unsupported(name, kind, ": its weight is not a tensor")
            kernel = weight_shape[-2:]
            return _window_op(layer, kernel, args["stride"], args["padding"], args["dilation"])
        if target is F.max_pool2d or target is torch.max_pool2d:
            args = _arguments(node, ("input", "kernel_size", "stride", "padding", "dilation"),
                              stride=None, padding=0, dilation=1)
            return _window_op(layer, args["kernel_size"], args["stride"], args["padding"], args["dilation"])
        if target is F.avg_pool2d:
            args = _arguments(node, ("input", "kernel_size", "stride", "padding"), stride=None, padding=0)
            return _window_op(layer, args["kernel_size"], args["stride"], args["padding"])
        if target in _CONCATENATIONS:
            dim = _arguments(node, ("tensors", "dim"), dim=0)["dim"]
            if dim % len(shapes.get(node) or (0,) * 4) >= 2:
                raise _unsupported(name, kind, f": it concatenates along the spatial axis dim={dim}")
            return _POINTWISE
        if target is operator.getitem:  # x[:, :c] slices channels only: fine
            index = node.args[1] if isinstance(node.args[1], tuple) else (node.args[1],)
            if Ellipsis in index or None in index or any(i != slice(None) for i in index[2:]):
                raise _unsupported(name, kind, f": it indexes spatial axes with {node.args[1]!r}")
            return _POINTWISE
        if target in _POINTWISE_FUNCTIONS:
            return _POINTWISE
    elif node.op == "call_method" and node.target in _POINTWISE_METHODS:
        return _POINTWISE
    raise _unsupported(name, kind)


# --------------------------------------------------------------------------- tracing and shapes

@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode, then restore each one's own ``training`` flag."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes.items():
            m.training = training


def _tensor_kind(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    """Dtype and device of the model's first floating-point parameter or buffer (else float32, cpu)."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype, t.device
    return torch.float32, torch.device("cpu")


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_input_size(input_size: object) -> tuple[int, int, int, int]:
    if not isinstance(input_size, (tuple, list, torch.Size)):
        raise TypeError(f"input_size must be a tuple (N, C, H, W), got {type(input_size).__name__} {input_size!r}")
    if len(input_size) != 4:
        raise ValueError(f"input_size must be a tuple (N, C, H, W) of length 4, "
                         f"got {tuple(input_size)!r} of length {len(input_size)}")
    n, c, h, w = (check_int(f"input_size[{i}]", v, minimum=1) for i, v in enumerate(input_size))
    return n, c, h, w


def _trace(model: nn.Module) -> torch.fx.GraphModule:
    import torch.fx

    if torch.fx.Tracer().is_leaf_module(model, ""):  # a bare nn.Conv2d etc.: trace it as one layer, named "0"
        model = nn.Sequential(model)
    try:
        return torch.fx.symbolic_trace(model)
    except Exception as error:  # data-dependent control flow, unsupported Python, ...
        raise ValueError(f"model could not be traced with torch.fx ({type(error).__name__}: {error}); "
                         "receptive_field needs a forward() without data-dependent control flow") from error


def _output_shapes(graph_module: torch.fx.GraphModule, input_size: tuple[int, int, int, int]) -> _Shapes:
    """Run the traced network on an empty input; map every node to its output shape.

    The run uses PyTorch's "meta" device: tensors carry shapes but no data, so
    nothing is computed (VGG-16 costs nothing) yet every layer still checks its
    input, e.g. that the feature map is not smaller than the kernel. Nodes that
    do not produce tensors (``x.size(0)``, ...) map to ``None``; a tuple of
    tensors, like max pooling's ``(output, indices)``, to its first one's shape.
    """
    import torch.fx

    shapes: _Shapes = {}

    def on_meta(value: object) -> object:
        return value.to("meta") if isinstance(value, torch.Tensor) else value

    class ShapeRecorder(torch.fx.Interpreter):
        def fetch_attr(self, target: str) -> Any:
            return on_meta(super().fetch_attr(target))

        def call_module(self, target: Target, args: tuple[Argument, ...], kwargs: dict[str, Any]) -> Any:
            module = self.module.get_submodule(str(target))
            state = {name: t.to("meta") for name, t in [*module.named_parameters(), *module.named_buffers()]}
            return torch.func.functional_call(module, state, args, kwargs)

        def run_node(self, node: torch.fx.Node) -> Any:
            try:
                value = super().run_node(node)
            except Exception as error:
                # a layer we do not support is the more useful message (e.g. nn.Linear on a 4-D map)
                if node.op not in ("placeholder", "get_attr", "output"):
                    _operation(graph_module, node, shapes)
                name, kind = _describe(graph_module, node)
                raise ValueError(
                    f"running the network on an input of input_size={input_size} failed at layer "
                    f"{name!r} ({kind}): {error}. Is the input large enough for every kernel, "
                    "with the number of channels the first layer expects?") from error
            value_shape: tuple[int, ...] | None
            if isinstance(value, (tuple, list)) and value and all(isinstance(v, torch.Tensor) for v in value):
                value_shape = tuple(value[0].shape)  # max pooling with return_indices=True: (output, indices)
            else:
                value_shape = tuple(value.shape) if isinstance(value, torch.Tensor) else None
            shapes[node] = value_shape
            return value

    recorder = ShapeRecorder(graph_module)
    recorder.extra_traceback = False  # keep torch's error message short
    with torch.no_grad():
        recorder.run(torch.zeros(input_size, dtype=_tensor_kind(graph_module)[0], device="meta"))
    return shapes


# --------------------------------------------------------------------------- public API

def receptive_field(model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224)) -> ReceptiveField:
    """Analytic receptive field of ``model``'s output units, with a per-layer table.

    ``model`` is traced with ``torch.fx.symbolic_trace`` and the recurrences of
    the module docstring (``r_out = r_in + (k_eff - 1) * j_in``,
    ``j_out = j_in * s``, ``start_out = start_in + ((k_eff - 1) / 2 - p) * j_in``)
    are applied node by node; merges take the union of their inputs' fields
    (so ``.size`` is the largest over paths) and need equal strides. The
    network also runs once on an input of ``input_size`` ``(N, C, H, W)`` so
    each row shows its output shape; this checks ``input_size`` too (too small
    an input raises ``ValueError``). The run is on PyTorch's "meta" device, so
    it costs no computation. ``.size`` and ``.stride`` do not depend on
    ``input_size``.

    Supported: ``Conv2d`` (any padding, dilation, groups), ``MaxPool2d``,
    ``AvgPool2d``, ``F.conv2d``, ``F.max_pool2d``, ``F.avg_pool2d``, padding
    layers, activations, normalisation (its statistics ignored, as usual),
    dropout, ``Identity``, ``+``, ``*``, ``torch.cat`` on channels. Height
    and width are followed separately, so non-square kernels, strides,
    paddings and dilations work: ``.size_hw`` / ``.stride_hw`` are
    ``(height, width)``, and ``.size`` / ``.stride`` raise ``ValueError``
    when the two axes differ. Layers beyond the convolutional trunk (``Linear``,
    ``Flatten``, adaptive/global pooling, upsampling, transposed convolution)
    raise ``ValueError`` naming the layer. The model is traced and run in
    eval mode; every submodule's ``training`` flag is restored afterwards.

    >>> import torchvision
    >>> with torch.device("meta"):    # no weights are needed: build the model without allocating any
    ...     features = torchvision.models.vgg16().features
    >>> rf = receptive_field(features)
    >>> rf.size, rf.stride, rf.output_shape
    (212, 32, (1, 512, 7, 7))

    A 1x7 kernel grows the field along the width only:

    >>> rf = receptive_field(torch.nn.Conv2d(3, 3, (1, 7), padding=(0, 3)), (1, 3, 16, 16))
    >>> rf.size_hw, rf.stride_hw, rf.region(5, 5)
    ((1, 7), (1, 1), (5, 2, 5, 8))
    """
    import torch.fx

    _check_model(model)
    checked_size = _check_input_size(input_size)
    with _eval_mode(model):
        graph_module = _trace(model)
        shapes = _output_shapes(graph_module, checked_size)

    # node -> (height _Field, width _Field), for the feature maps computed from the input
    fields: dict[torch.fx.Node, tuple[_Field, _Field]] = {}
    rows: list[LayerRow] = []
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            if not fields:  # the image
                fields[node] = (_Field(size=1, jump=1, start=0.0),) * 2
            continue
        if node.op == "output":
            result = node.args[0]
            break
        inputs = [fields[n] for n in node.all_input_nodes if n in fields]
        shape = shapes[node]
        if not inputs or shape is None or not node.users:  # constants, x.size(0), unused values
            continue
        op = _operation(graph_module, node, shapes)
        name, kind = _describe(graph_module, node)
        per_axis = []
        for axis, axis_name in enumerate(("height", "width")):
            along = [f[axis] for f in inputs]
            same_on_both = {f[0].jump for f in inputs} == {f[1].jump for f in inputs}
            merged = _union(along, f"{name!r} ({kind})", "" if same_on_both else f" along the {axis_name}")
            per_axis.append(merged if op.kernel_size is None else _window(merged, *op.along(axis)))
        height, width = per_axis
        fields[node] = (height, width)
        rows.append(LayerRow(name, kind, (height.size, width.size), (height.jump, width.jump),
                             (height.start, width.start), shape, *op.shown()))

    output_shape = shapes.get(result) if isinstance(result, torch.fx.Node) else None
    if not isinstance(result, torch.fx.Node) or result not in fields or output_shape is None:
        raise ValueError(f"model must return one feature map computed from its input, got {type(result).__name__} "
                         f"{result!r}")
    height, width = fields[result]
    return ReceptiveField(size_hw=(height.size, width.size), stride_hw=(height.jump, width.jump),
                          start_hw=(height.start, width.start), input_size=checked_size,
                          output_shape=output_shape, layers=rows)


def effective_receptive_field(model: nn.Module, input_size: Sequence[int] = (1, 3, 64, 64), *,
                              unit: tuple[int, int] | None = None, seed: int = 0,
                              num_samples: int = 1, reduce: str = "sum") -> torch.Tensor:
    """Effective receptive field: how strongly each input pixel moves one output unit (the centre by default).

    Following Luo et al., "Understanding the Effective Receptive Field in Deep
    Convolutional Neural Networks" (NeurIPS 2016): for a random input ``x`` of
    ``input_size`` ``(N, C, H, W)`` and output ``y`` of shape ``(N, C', H', W')``,
    backpropagate from the unit ``y[:, :, i, j]`` (summed over output channels
    and the batch), ``unit = (i, j)``, by default the centre
    ``(H' // 2, W' // 2)``, and return the ``(H, W)`` map::

        erf[u, v] = sum_{n, c} |d y[:, :, i, j] / d x[n, c, u, v]|     (reduce="sum")

    normalised to maximum 1 (left all zeros if no gradient reaches the input).
    ``reduce="max"`` takes the maximum over the batch, input channels and
    samples instead of the sum; ``num_samples`` random inputs are combined the
    same way. Its support lies inside the analytic :func:`receptive_field`
    region of the unit (``rf.region(i, j)``), but most of its mass is near
    the region's centre (roughly Gaussian, Luo et al.). A ``unit`` outside
    the output map raises ``ValueError``.

    Deterministic: inputs come from ``torch.Generator().manual_seed(seed)``
    (the global RNG is untouched). The model runs in eval mode and every
    submodule's ``training`` flag is restored; only the input's gradient is
    computed (``torch.autograd.grad``), so no parameter ``.grad`` is written.

    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Conv2d(1, 1, 3, padding=1))
    >>> erf = effective_receptive_field(net, (1, 1, 9, 9))
    >>> erf.shape, float(erf.max()), int((erf > 0).sum())   # 5x5 support = receptive field
    (torch.Size([9, 9]), 1.0, 25)
    >>> corner = effective_receptive_field(net, (1, 1, 9, 9), unit=(0, 0))
    >>> (corner > 0).nonzero().amax(dim=0).tolist()          # rows and columns 0..2: the rest is padding
    [2, 2]
    """
    _check_model(model)
    checked_size = _check_input_size(input_size)
    seed = check_int("seed", seed, minimum=0)
    num_samples = check_int("num_samples", num_samples, minimum=1)
    reduce = check_choice("reduce", reduce, ("sum", "max"))
    if unit is not None:
        if not isinstance(unit, (tuple, list)) or len(unit) != 2:
            raise TypeError(f"unit must be None (the centre) or a pair of ints (row, col), got {unit!r}")
        unit = (check_int("unit[0]", unit[0], minimum=0), check_int("unit[1]", unit[1], minimum=0))

    generator = torch.Generator().manual_seed(seed)
    dtype, device = _tensor_kind(model)
    if device.type == "meta":
        raise ValueError("model is on the meta device (it has no weights); the effective receptive field "
                         "needs real weights, e.g. model.to_empty(device='cpu') and an initialisation")
    total = torch.zeros(checked_size[2:], dtype=dtype, device=device)
    with _eval_mode(model), torch.enable_grad():
        for _ in range(num_samples):
            x = torch.randn(checked_size, generator=generator, dtype=dtype).to(device).requires_grad_()
            y = model(x)
            if not isinstance(y, torch.Tensor) or y.dim() != 4:
                shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
                raise ValueError(f"model must return a 4-D feature map (N, C, H, W), got {shape}")
            i, j = (y.shape[2] // 2, y.shape[3] // 2) if unit is None else unit
            if i >= y.shape[2] or j >= y.shape[3]:
                raise ValueError(f"unit must be inside the output map of {y.shape[2]} x {y.shape[3]} units "
                                 f"(rows 0..{y.shape[2] - 1}, columns 0..{y.shape[3] - 1}), got {unit}")
            chosen = y[:, :, i, j].sum()
            if not chosen.requires_grad:
                continue  # the output does not depend on the input: no gradient
            (grad,) = torch.autograd.grad(chosen, x, allow_unused=True)
            if grad is None:
                continue
            if reduce == "sum":
                total += grad.abs().sum(dim=(0, 1))
            else:
                total = torch.maximum(total, grad.abs().amax(dim=(0, 1)))
    peak = total.max()
    return total / peak if peak > 0 else total


def fraction_inside(erf: torch.Tensor, region: Sequence[int]) -> float:
    """Share of an effective receptive field's total that lies inside ``region``.

    ``erf`` is an ``(H, W)`` map such as :func:`effective_receptive_field`
    returns; ``region`` is ``(top, left, bottom, right)``, inclusive, as
    :meth:`ReceptiveField.region` gives it (parts outside the map are
    ignored). Returns ``erf[region].sum() / erf.sum()`` in ``[0, 1]``, and
    ``0.0`` for an all-zero map. For the region of the unit the map was
    computed for, this is 1: no gradient reaches outside the theoretical field.

    >>> erf = torch.tensor([[0., 1., 0.], [1., 4., 1.], [0., 1., 2.]])
    >>> fraction_inside(erf, (0, 0, 1, 1)), fraction_inside(erf, (-5, -5, 10, 10))
    (0.6, 1.0)
    """
    if not isinstance(erf, torch.Tensor) or erf.dim() != 2:
        shape = tuple(erf.shape) if isinstance(erf, torch.Tensor) else type(erf).__name__
        raise ValueError(f"erf must be an (H, W) tensor, got {shape}")
    if not isinstance(region, (tuple, list)) or len(region) != 4:
        raise TypeError(f"region must be (top, left, bottom, right), got {region!r}")
    top, left, bottom, right = (check_int(f"region[{k}]", v) for k, v in enumerate(region))
    total = float(erf.sum())
    if total == 0:
        return 0.0
    inside = erf[max(top, 0):max(bottom + 1, 0), max(left, 0):max(right + 1, 0)]
    return float(inside.sum()) / total
