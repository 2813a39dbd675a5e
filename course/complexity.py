"""How big and how expensive is a network? Parameters and multiply-adds.

Notation of the MobileNet paper (Howard et al., 2017, section 3):

* ``D_K``: the kernel is ``D_K x D_K``
* ``M``: input channels, ``N``: output channels
* ``D_F``: the feature map is ``D_F x D_F`` (stride 1, "same" padding, so
  input and output have the same size)

A standard convolution costs ``D_K^2 * M * N * D_F^2`` multiply-adds: each of
the ``N * D_F^2`` outputs is a dot product of length ``D_K^2 * M``. A
depthwise separable convolution (one ``D_K x D_K`` filter per input channel,
then a ``1 x 1`` convolution mixing channels) costs
``D_K^2 * M * D_F^2 + M * N * D_F^2``, a fraction ``1/N + 1/D_K^2`` of that.

Two ways to get the numbers:

* closed forms for one layer: :func:`conv_cost`, :func:`depthwise_separable_cost`,
  :func:`separable_cost_ratio`;
* measured on a real ``nn.Module``: :func:`count_parameters`,
  :func:`count_mult_adds`, and :func:`complexity_table` for a row per layer.

Convention (the paper's): one multiply-add = one multiplication plus one
addition, counted once. Only convolution and linear layers are counted; bias
additions, batch norm, activations and pooling are not. Tools that report
FLOPs usually count the multiplication and the addition separately, so
FLOPs = 2 * mult-adds.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import torch

from ._checks import check_float, check_int

__all__ = [
    "on_meta",
    "count_parameters",
    "count_mult_adds",
    "complexity_table",
    "format_table",
    "LayerCost",
    "conv_cost",
    "depthwise_separable_cost",
    "separable_cost_ratio",
]

_CONV = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
_CONV_TRANSPOSE = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)


# --------------------------------------------------------------------------
# Closed forms for a single layer
# --------------------------------------------------------------------------

def conv_cost(kernel_size: int, in_channels: int, out_channels: int, feature_size: int) -> tuple[int, int]:
    """Cost of a standard ``D_K x D_K`` convolution, no bias: ``(mult_adds, params)``.

    ``mult_adds = D_K^2 * M * N * D_F^2`` and ``params = D_K^2 * M * N``, with
    ``D_K = kernel_size``, ``M = in_channels``, ``N = out_channels`` and
    ``D_F = feature_size`` (the side of the square output feature map).

    >>> conv_cost(3, 512, 512, 14)      # MobileNet paper, Table 3: 462M and 2.36M
    (462422016, 2359296)
    >>> conv_cost(3, 4, 1, 128)[0]      # one 3x3 filter over a 128x128x4 input
    589824
    """
    d_k = check_int("kernel_size", kernel_size, minimum=1)
    m = check_int("in_channels", in_channels, minimum=1)
    n = check_int("out_channels", out_channels, minimum=1)
    d_f = check_int("feature_size", feature_size, minimum=1)
    params = d_k * d_k * m * n
    return params * d_f * d_f, params


def on_meta(build: str | Callable[..., torch.nn.Module], *args: object, **kwargs: object) -> torch.nn.Module:
    """Build a network on the meta device: shapes only, no memory, no weight initialisation.

    ``build`` is a function returning a module (``course.models.resnet18``,
    ``torchvision.models.vgg16``, a class) called with ``*args, **kwargs``, or
    the name of a torchvision classifier (``"vgg16"``), built with
    ``weights=None``. Counting the parameters and mult-adds of VGG-16 this way
    takes milliseconds and no memory.

    >>> vgg16 = on_meta("vgg16")
    >>> count_parameters(vgg16), next(vgg16.parameters()).device.type
    (138357544, 'meta')
    """
    maker: Callable[..., object]
    if isinstance(build, str):
        import torchvision

        maker = torchvision.models.get_model
        args, kwargs = (build, *args), {"weights": None, **kwargs}
    elif callable(build):
        maker = build
    else:
        raise TypeError(f"build must be a function returning a module, or a torchvision model name, "
                        f"got {type(build).__name__}")
    with torch.device("meta"):
        model = maker(*args, **kwargs)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"build must return a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_multiplier(name: str, value: object) -> float:
    value = check_float(name, value, minimum=0.0, exclusive=True)
    if value > 1.0:
        raise ValueError(f"{name} must be a number in (0, 1], got {value}")
    return value


def _scaled(name: str, multiplier: float, base_name: str, base: int) -> int:
    """``round(multiplier * base)``, which must stay >= 1."""
    scaled = round(multiplier * base)
    if scaled < 1:
        raise ValueError(
            f"{name} * {base_name} must round to an int >= 1, "
            f"got {name}={multiplier} * {base_name}={base} = {multiplier * base:g}"
        )
    return scaled


def depthwise_separable_cost(kernel_size: int, in_channels: int, out_channels: int, feature_size: int,
                             width_multiplier: float = 1.0, resolution_multiplier: float = 1.0
                             ) -> tuple[int, int]:
    r"""Cost of a depthwise separable convolution, no bias: ``(mult_adds, params)``.

    With width multiplier ``a`` and resolution multiplier ``r`` (MobileNet
    paper, eq. 7)::

        mult_adds = D_K^2 * aM * (rD_F)^2  +  aM * aN * (rD_F)^2
                    \_____ depthwise ____/     \__ pointwise (1x1) _/
        params    = D_K^2 * aM  +  aM * aN

    where ``aM = round(a*M)``, ``aN = round(a*N)``, ``rD_F = round(r*D_F)``
    (Python's ``round``: halves go to the even integer, ``round(2.5) == 2``).
    Both multipliers must lie in ``(0, 1]``, as in the paper; they may only
    shrink the network, and each rounded size must stay >= 1.

    >>> depthwise_separable_cost(3, 512, 512, 14)   # Table 3: 52.3M and 0.27M
    (52283392, 266752)
    >>> depthwise_separable_cost(3, 512, 512, 14, width_multiplier=0.75,
    ...                          resolution_multiplier=0.714)   # 15.1M and 0.15M
    (15091200, 150912)
    """
    d_k = check_int("kernel_size", kernel_size, minimum=1)
    m = check_int("in_channels", in_channels, minimum=1)
    n = check_int("out_channels", out_channels, minimum=1)
    d_f = check_int("feature_size", feature_size, minimum=1)
    a = _check_multiplier("width_multiplier", width_multiplier)
    r = _check_multiplier("resolution_multiplier", resolution_multiplier)
    a_m = _scaled("width_multiplier", a, "in_channels", m)
    a_n = _scaled("width_multiplier", a, "out_channels", n)
    r_d_f = _scaled("resolution_multiplier", r, "feature_size", d_f)
    depthwise_params = d_k * d_k * a_m
    pointwise_params = a_m * a_n
    positions = r_d_f * r_d_f
    return (depthwise_params + pointwise_params) * positions, depthwise_params + pointwise_params


def separable_cost_ratio(kernel_size: int, out_channels: int) -> float:
    """Depthwise separable cost over standard cost: ``1/N + 1/D_K^2``.

    It is the exact ratio of the mult-adds of :func:`depthwise_separable_cost`
    and :func:`conv_cost` (multipliers 1); ``M`` and ``D_F`` cancel out.

    >>> round(separable_cost_ratio(3, 1024), 3)   # about 9x cheaper
    0.112
    """
    d_k = check_int("kernel_size", kernel_size, minimum=1)
    n = check_int("out_channels", out_channels, minimum=1)
    return 1.0 / n + 1.0 / (d_k * d_k)


# --------------------------------------------------------------------------
# Measured on a model
# --------------------------------------------------------------------------

def _check_module(model: object) -> torch.nn.Module:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__} {model!r}")
    return model


def _check_input_size(input_size: object) -> tuple[int, ...]:
    expected = "input_size must be a tuple of ints (batch, ...), e.g. (1, 3, 224, 224)"
    if not isinstance(input_size, (tuple, list, torch.Size)):
        raise TypeError(f"{expected}, got {type(input_size).__name__} {input_size!r}")
    if len(input_size) < 2:
        raise ValueError(f"{expected}, got {input_size!r} of length {len(input_size)}")
    return tuple(check_int(f"input_size[{i}]", v, minimum=1) for i, v in enumerate(input_size))


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (weights and biases) of ``model``.

    A parameter shared by several layers (tied weights) is counted once, as
    ``model.parameters()`` yields it once. With ``trainable_only=True`` only
    parameters with ``requires_grad=True`` count. Buffers (batch norm running
    statistics) are not parameters.

    >>> count_parameters(torch.nn.Conv2d(3, 8, kernel_size=3))   # 8*3*3*3 weights + 8 biases
    224
    """
    _check_module(model)
    if not isinstance(trainable_only, bool):
        raise TypeError(
            f"trainable_only must be a bool, got {type(trainable_only).__name__} {trainable_only!r}"
        )
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


class LayerCost(NamedTuple):
    """One row of :func:`complexity_table`: a call of a convolution or linear layer."""

    name: str                  # as in model.named_modules()
    type: str                  # class name, e.g. "Conv2d"
    output_shape: tuple[int, ...]  # including the batch dimension
    params: int                # the layer's own weight and bias
    mult_adds: int             # for one image


def _layer_mult_adds(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    """Multiply-adds of one call, for the whole batch."""
    if isinstance(module, _CONV_TRANSPOSE):
        # Each input element stamps a C_out/groups x kernel block into the output.
        per_element = module.out_channels // module.groups * math.prod(module.kernel_size)
        return inputs[0].numel() * per_element
    if isinstance(module, _CONV):
        # Each output element is a dot product over C_in/groups x kernel inputs.
        per_element = module.in_channels // module.groups * math.prod(module.kernel_size)
        return output.numel() * per_element
    if isinstance(module, torch.nn.Linear):
        # Each output element is a dot product of length in_features.
        return output.numel() * module.in_features
    raise TypeError(f"no mult-add count for a {type(module).__name__} layer")


def complexity_table(model: torch.nn.Module, input_size: Sequence[int] = (1, 3, 224, 224)) -> list[LayerCost]:
    """One :class:`LayerCost` row per call of a convolution or linear layer.

    Runs ``model`` once on zeros of shape ``input_size`` (``(batch, ...)``,
    on the model's device and dtype) under ``torch.no_grad()`` and in eval
    mode, with forward hooks that record each layer's cost. Hooks are removed
    and every submodule's train/eval flag restored afterwards, even on error.
    Mult-adds are per image: the batch total divided by ``input_size[0]``.

    Counted (module calls only; a ``torch.nn.functional`` call in a
    ``forward`` is invisible to hooks):

    * ``Conv1d/2d/3d``: output elements * (C_in/groups) * kernel elements,
      e.g. ``C_out*H_out*W_out * (C_in/groups) * kH*kW``; stride, padding
      and dilation enter through the output size.
    * ``ConvTranspose1d/2d/3d``: input elements * (C_out/groups) * kernel
      elements: each input element stamps a scaled copy of the kernel into
      the output. This equals the cost of the convolution it transposes.
    * ``Linear``: ``in_features * out_features`` per vector, times any
      leading dimensions other than the batch.

    Tip: build a large model under ``with torch.device("meta"):`` to skip
    weight initialisation; the count only needs shapes.

    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))
    >>> for row in complexity_table(net, (1, 3, 4, 4)):
    ...     print(row.name, row.type, row.output_shape, row.params, row.mult_adds)
    0 Conv2d (1, 8, 4, 4) 224 3456
    3 Linear (1, 10) 1290 1280
    """
    _check_module(model)
    size = _check_input_size(input_size)
    names = {module: name for name, module in model.named_modules()}
    first: torch.Tensor | None = next(model.parameters(), None)
    if first is None:
        first = next(model.buffers(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.get_default_dtype()

    rows: list[LayerCost] = []

    def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        rows.append(LayerCost(
            name=names[module] or "(model)",
            type=type(module).__name__,
            output_shape=tuple(output.shape),
            params=sum(p.numel() for p in module.parameters(recurse=False)),
            mult_adds=_layer_mult_adds(module, inputs, output) // size[0],
        ))

    counted = _CONV + _CONV_TRANSPOSE + (torch.nn.Linear,)
    training = {module: module.training for module in model.modules()}
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, counted)]
    try:
        model.eval()
        with torch.no_grad():
            try:
                model(torch.zeros(size, device=device, dtype=dtype))
            except RuntimeError as err:
                raise ValueError(f"the model failed on zeros of input_size {size}: {err}") from err
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in training.items():
            module.training = flag
    return rows


def count_mult_adds(model: torch.nn.Module, input_size: Sequence[int] = (1, 3, 224, 224)) -> int:
    """Multiply-adds of the convolution and linear layers of ``model``, for one image.

    The sum of :func:`complexity_table`'s rows; see there for the formulas and
    how the forward pass is run. ``input_size`` is ``(batch, channels, H, W)``
    for an image model; any batch gives the same, per-image, answer. For one
    standard convolution this is ``D_K^2 * M * N * D_F^2``, as in :func:`conv_cost`.

    >>> count_mult_adds(torch.nn.Conv2d(3, 8, 3, padding=1), (1, 3, 32, 32))  # 8*32*32 * 3*3*3
    221184
    """
    return sum(row.mult_adds for row in complexity_table(model, input_size))


def format_table(rows: Iterable[LayerCost]) -> str:
    """Text table of :func:`complexity_table` rows, with a total line (for lectures).

    The total sums the rows: it leaves out batch norm parameters and counts a
    layer called twice twice, so it can differ from :func:`count_parameters`.
    """
    table = list(rows)
    header = ("layer", "type", "output shape", "params", "mult-adds")
    lines = [(r.name, r.type, str(tuple(r.output_shape)), f"{r.params:,}", f"{r.mult_adds:,}")
             for r in table]
    lines.append(("total", "", "", f"{sum(r.params for r in table):,}",
                  f"{sum(r.mult_adds for r in table):,}"))
    widths = [max(len(line[i]) for line in [header] + lines) for i in range(5)]

    def fmt(line: Sequence[str]) -> str:
        left = [cell.ljust(w) for cell, w in zip(line[:3], widths, strict=False)]
        right = [cell.rjust(w) for cell, w in zip(line[3:], widths[3:], strict=False)]
        return "  ".join(left + right).rstrip()

    rule = "-" * len(fmt(header))
    return "\n".join([fmt(header), rule] + [fmt(line) for line in lines[:-1]] + [rule, fmt(lines[-1])])
