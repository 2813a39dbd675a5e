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
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ._checks import check_choice, check_int

__all__ = ["LayerRow", "ReceptiveField", "receptive_field", "effective_receptive_field"]


# --------------------------------------------------------------------------- results

@dataclass(frozen=True)
class LayerRow:
    """One row of the receptive-field table: the output of one layer.

    ``size`` and ``stride`` are the receptive field and jump of one unit of
    this layer's output, in input pixels; ``start`` is the centre of unit 0's
    field. ``kernel_size``, ``layer_stride``, ``padding`` and ``dilation`` are
    the layer's own parameters (``None`` for pointwise layers and merges).
    """

    name: str
    type: str
    size: int
    stride: int
    start: float
    shape: tuple[int, ...]
    kernel_size: int | None = None
    layer_stride: int | None = None
    padding: int | None = None
    dilation: int | None = None


_COLUMNS = ("layer", "type", "kernel", "stride", "pad", "dil", "output shape", "RF size", "RF stride", "RF start")


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of a network's output units, with the per-layer table.

    ``size``: side of the (square) field in pixels; ``stride``: jump between
    adjacent output units in input pixels; ``start``: centre of output unit
    ``(0, 0)``'s field in input pixel coordinates; ``layers``: one
    :class:`LayerRow` per layer, in execution order. ``print(rf)`` shows the table.
    """

    size: int
    stride: int
    start: float
    input_size: tuple[int, int, int, int]
    output_shape: tuple[int, ...]
    layers: list[LayerRow] = field(repr=False)

    def region(self, i: int, j: int) -> tuple[int, int, int, int]:
        """Input pixels seen by output unit ``(i, j)``: ``(top, left, bottom, right)``, inclusive.

        ``top = start + i * stride - (size - 1) / 2``; values outside
        ``[0, H)`` lie in the padding.
        """
        i = check_int("i", i)
        j = check_int("j", j)
        first = round(self.start - (self.size - 1) / 2)
        return (first + i * self.stride, first + j * self.stride,
                first + i * self.stride + self.size - 1, first + j * self.stride + self.size - 1)

    def _cells(self) -> list[tuple[str, ...]]:
        def show(value):
            return "-" if value is None else str(value)

        cells = [("input", "", "", "", "", "", str(self.input_size), "1", "1", "0.0")]
        for row in self.layers:
            cells.append((row.name, row.type, show(row.kernel_size), show(row.layer_stride),
                          show(row.padding), show(row.dilation), str(row.shape),
                          str(row.size), str(row.stride), str(row.start)))
        return cells

    def table(self) -> str:
        """The per-layer table as fixed-width text (text columns left, numbers right)."""
        cells = [_COLUMNS] + self._cells()
        widths = [max(len(row[c]) for row in cells) for c in range(len(_COLUMNS))]
        lines = []
        for row in cells:
            parts = [text.ljust(w) if c < 2 else text.rjust(w) for c, (text, w) in enumerate(zip(row, widths))]
            lines.append("  ".join(parts).rstrip())
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"receptive field {self.size} x {self.size} pixels, stride {self.stride}")
        return "\n".join(lines)

    __str__ = table

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in self._cells())
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<p>receptive field {self.size} x {self.size} pixels, stride {self.stride}</p>")


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


def _union(fields: list[_Field], layer: str) -> _Field:
    """Fields of several branches merged pointwise (add, cat, mul): their union."""
    jumps = sorted({f.jump for f in fields})
    if len(jumps) > 1:
        raise ValueError(f"layer {layer} merges feature maps with different strides {jumps}: "
                         "their units do not line up, so the receptive field is not defined")
    first = min(f.start - (f.size - 1) / 2 for f in fields)
    last = max(f.start + (f.size - 1) / 2 for f in fields)
    return _Field(size=round(last - first) + 1, jump=jumps[0], start=(first + last) / 2)


# --------------------------------------------------------------------------- what each layer does

class _Op(NamedTuple):
    """A layer's geometry: a window with (k, s, p, d), or pointwise (``k is None``)."""

    kernel_size: int | None = None
    stride: int | None = None
    padding: int | None = None
    dilation: int | None = None


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


def _square(layer: str, what: str, value) -> int:
    """An int from an int or an (h, w) pair; non-square pairs are not supported."""
    if isinstance(value, int):
        return value
    if len(set(value)) != 1:
        raise ValueError(f"layer {layer} has {what}={tuple(value)}: receptive_field assumes square "
                         "kernels, strides, paddings and dilations (the same value for height and width)")
    return int(value[0])


def _arguments(node, names: tuple[str, ...], **defaults) -> dict:
    """The arguments of a traced call by name: positional, then keyword, then defaults."""
    values = dict(defaults)
    values.update(zip(names, node.args))
    values.update(node.kwargs)
    return values


def _window_op(layer: str, kernel_size, stride, padding, dilation=1) -> _Op:
    k = _square(layer, "kernel_size", kernel_size)
    s = k if stride is None or stride == () or stride == [] else _square(layer, "stride", stride)
    d = _square(layer, "dilation", dilation)
    if padding == "valid":
        p = 0
    elif padding == "same":  # PyTorch pads d*(k-1) in total, the smaller half first
        p = d * (k - 1) // 2
    else:
        p = _square(layer, "padding", padding)
    return _Op(k, s, p, d)


def _describe(graph_module, node) -> tuple[str, str]:
    """``(name, type)`` of a node, as shown in the table and in error messages."""
    if node.op == "call_module":
        return node.target, type(graph_module.get_submodule(node.target)).__name__
    kind = node.target if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
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


def _operation(graph_module, node, shapes: dict) -> _Op:
    """What ``node`` does to receptive fields, or a ValueError for layers we cannot handle."""
    name, kind = _describe(graph_module, node)
    layer = f"{name!r} ({kind})"
    if node.op == "call_module":
        module = graph_module.get_submodule(node.target)
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
            kernel = shapes[args["weight"]][-2:]
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
def _eval_mode(model: nn.Module):
    """Put every submodule in eval mode, then restore each one's own ``training`` flag."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes.items():
            m.training = training


def _tensor_kind(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    """dtype and device of the model's first floating-point parameter or buffer (else float32, cpu)."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype, t.device
    return torch.float32, torch.device("cpu")


def _check_model(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_input_size(input_size) -> tuple[int, int, int, int]:
    if not isinstance(input_size, (tuple, list, torch.Size)):
        raise TypeError(f"input_size must be a tuple (N, C, H, W), got {type(input_size).__name__} {input_size!r}")
    if len(input_size) != 4:
        raise ValueError(f"input_size must be a tuple (N, C, H, W) of length 4, "
                         f"got {tuple(input_size)!r} of length {len(input_size)}")
    return tuple(check_int(f"input_size[{i}]", v, minimum=1) for i, v in enumerate(input_size))


def _trace(model: nn.Module):
    import torch.fx

    if torch.fx.Tracer().is_leaf_module(model, ""):  # a bare nn.Conv2d etc.: trace it as one layer, named "0"
        model = nn.Sequential(model)
    try:
        return torch.fx.symbolic_trace(model)
    except Exception as error:  # data-dependent control flow, unsupported Python, ...
        raise ValueError(f"model could not be traced with torch.fx ({type(error).__name__}: {error}); "
                         "receptive_field needs a forward() without data-dependent control flow") from error


def _output_shapes(graph_module, input_size) -> dict:
    """Run the traced network on an empty input; map every node to its output shape.

    The run uses PyTorch's "meta" device: tensors carry shapes but no data, so
    nothing is computed (VGG-16 costs nothing) yet every layer still checks its
    input, e.g. that the feature map is not smaller than the kernel. Nodes that
    do not produce tensors (``x.size(0)``, ...) map to ``None``; a tuple of
    tensors, like max pooling's ``(output, indices)``, to its first one's shape.
    """
    import torch.fx

    shapes = {}

    def on_meta(value):
        return value.to("meta") if isinstance(value, torch.Tensor) else value

    class ShapeRecorder(torch.fx.Interpreter):
        def fetch_attr(self, target):
            return on_meta(super().fetch_attr(target))

        def call_module(self, target, args, kwargs):
            module = self.module.get_submodule(target)
            state = {name: on_meta(t) for name, t in [*module.named_parameters(), *module.named_buffers()]}
            return torch.func.functional_call(module, state, args, kwargs)

        def run_node(self, node):
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

def receptive_field(model: nn.Module, input_size=(1, 3, 224, 224)) -> ReceptiveField:
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
    dropout, ``Identity``, ``+``, ``*``, ``torch.cat`` on channels. Square
    kernels only: a non-square kernel, stride, padding or dilation raises
    ``ValueError``. Layers beyond the convolutional trunk (``Linear``,
    ``Flatten``, adaptive/global pooling, upsampling, transposed convolution)
    raise ``ValueError`` naming the layer. The model is traced and run in
    eval mode; every submodule's ``training`` flag is restored afterwards.

    >>> import torchvision
    >>> with torch.device("meta"):    # no weights are needed: build the model without allocating any
    ...     features = torchvision.models.vgg16().features
    >>> rf = receptive_field(features)
    >>> rf.size, rf.stride, rf.output_shape
    (212, 32, (1, 512, 7, 7))
    """
    import torch.fx

    _check_model(model)
    input_size = _check_input_size(input_size)
    with _eval_mode(model):
        graph_module = _trace(model)
        shapes = _output_shapes(graph_module, input_size)

    fields: dict = {}  # node -> _Field, for nodes that are feature maps computed from the input
    rows: list[LayerRow] = []
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            if not fields:  # the image
                fields[node] = _Field(size=1, jump=1, start=0.0)
            continue
        if node.op == "output":
            result = node.args[0]
            break
        inputs = [fields[n] for n in node.all_input_nodes if n in fields]
        if not inputs or shapes[node] is None or not node.users:  # constants, x.size(0), unused values
            continue
        op = _operation(graph_module, node, shapes)
        name, kind = _describe(graph_module, node)
        merged = _union(inputs, f"{name!r} ({kind})")
        if op.kernel_size is None:
            fields[node] = merged
        else:
            fields[node] = _window(merged, op.kernel_size, op.stride, op.padding, op.dilation)
        f = fields[node]
        rows.append(LayerRow(name, kind, f.size, f.jump, f.start, shapes[node], *op))

    if not isinstance(result, torch.fx.Node) or result not in fields:
        raise ValueError(f"model must return one feature map computed from its input, got {type(result).__name__} "
                         f"{result!r}")
    out = fields[result]
    return ReceptiveField(size=out.size, stride=out.jump, start=out.start, input_size=input_size,
                          output_shape=shapes[result], layers=rows)


def effective_receptive_field(model: nn.Module, input_size=(1, 3, 64, 64), *, seed: int = 0,
                              num_samples: int = 1, reduce: str = "sum") -> torch.Tensor:
    """Effective receptive field: how strongly each input pixel moves the centre output unit.

    Following Luo et al., "Understanding the Effective Receptive Field in Deep
    Convolutional Neural Networks" (NeurIPS 2016): for a random input ``x`` of
    ``input_size`` ``(N, C, H, W)`` and output ``y`` of shape ``(N, C', H', W')``,
    backpropagate from the centre unit ``y[:, :, H' // 2, W' // 2]`` (summed
    over output channels and the batch) and return the ``(H, W)`` map::

        erf[u, v] = sum_{n, c} |d y_centre / d x[n, c, u, v]|     (reduce="sum")

    normalised to maximum 1 (left all zeros if no gradient reaches the input).
    ``reduce="max"`` takes the maximum over the batch, input channels and
    samples instead of the sum; ``num_samples`` random inputs are combined the
    same way. Its support lies inside the analytic :func:`receptive_field`
    region of the centre unit, but most of its mass is near the centre
    (roughly Gaussian, Luo et al.).

    Deterministic: inputs come from ``torch.Generator().manual_seed(seed)``
    (the global RNG is untouched). The model runs in eval mode and every
    submodule's ``training`` flag is restored; only the input's gradient is
    computed (``torch.autograd.grad``), so no parameter ``.grad`` is written.

    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Conv2d(1, 1, 3, padding=1))
    >>> erf = effective_receptive_field(net, (1, 1, 9, 9))
    >>> erf.shape, float(erf.max()), int((erf > 0).sum())   # 5x5 support = receptive field
    (torch.Size([9, 9]), 1.0, 25)
    """
    _check_model(model)
    input_size = _check_input_size(input_size)
    seed = check_int("seed", seed, minimum=0)
    num_samples = check_int("num_samples", num_samples, minimum=1)
    reduce = check_choice("reduce", reduce, ("sum", "max"))

    generator = torch.Generator().manual_seed(seed)
    dtype, device = _tensor_kind(model)
    if device.type == "meta":
        raise ValueError("model is on the meta device (it has no weights); the effective receptive field "
                         "needs real weights, e.g. model.to_empty(device='cpu') and an initialisation")
    total = torch.zeros(input_size[2:], dtype=dtype, device=device)
    with _eval_mode(model), torch.enable_grad():
        for _ in range(num_samples):
            x = torch.randn(input_size, generator=generator, dtype=dtype).to(device).requires_grad_()
            y = model(x)
            if not isinstance(y, torch.Tensor) or y.dim() != 4:
                shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
                raise ValueError(f"model must return a 4-D feature map (N, C, H, W), got {shape}")
            centre = y[:, :, y.shape[2] // 2, y.shape[3] // 2].sum()
            if not centre.requires_grad:
                continue  # the output does not depend on the input: no gradient
            (grad,) = torch.autograd.grad(centre, x, allow_unused=True)
            if grad is None:
                continue
            if reduce == "sum":
                total += grad.abs().sum(dim=(0, 1))
            else:
                total = torch.maximum(total, grad.abs().amax(dim=(0, 1)))
    peak = total.max()
    return total / peak if peak > 0 else total
