"""Convolution arithmetic: where the kernel sits, how big the output is, and the convolution matrix.

- :func:`conv_arithmetic_figure`: the padded input with the (dilated) kernel
  window of one output pixel, and the output with that pixel, in the style of
  Dumoulin & Visin's *conv_arithmetic* animations; the title works out
  ``conv_output_size`` with the numbers.
- :func:`conv_arithmetic_explorer`: the same with sliders.
- :func:`convolution_matrix_figure`: ``course.conv.convolution_matrix`` drawn
  as a grid, each nonzero entry labelled with the kernel weight it holds.
- :func:`kernel_window`: the input cells one output pixel reads.

Example::

    >>> fig = conv_arithmetic_figure(5, 3, stride=2, padding=1, position=(1, 2))
    >>> kernel_window((1, 2), 3, stride=2)[:3]      # padded-input (row, col) of w00, w01, w02
    [(2, 4), (2, 5), (2, 6)]
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import matplotlib.pyplot as plt
import numpy as np
import torch

from course._checks import check_choice, check_int, check_pair, check_tensor
from course.conv import conv_output_size, convolution_matrix
from course.viz.explorer import Controls, Explorer, Values, View, slider
from course.viz.grids import (
    INPUT_COLOR,
    KERNEL_COLOR,
    OUTPUT_COLOR,
    SELECT_COLOR,
    cell_fontsize,
    check_position,
    draw_grid,
    draw_padding,
    grid_axes,
    highlight_cells,
    outline_cells,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["kernel_window", "conv_arithmetic_figure", "conv_arithmetic_explorer", "convolution_matrix_figure"]


def kernel_window(position: Sequence[int], kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
                  padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1) -> list[tuple[int, int]]:
    """The cells of the padded input that output pixel ``position = (i, j)`` reads.

    Kernel entry ``(a, b)`` meets padded-input cell
    ``(i*stride + a*dilation, j*stride + b*dilation)``, the formula of
    ``course.conv.conv2d``. (Subtract ``padding`` for coordinates in the
    unpadded input; ``padding`` is only checked here.) Returned row by row of
    the kernel, ``w00, w01, ...``.

    >>> kernel_window((0, 1), 2, stride=2, dilation=2)
    [(0, 2), (0, 4), (2, 2), (2, 4)]
    """
    kH, kW = check_pair("kernel_size", kernel_size, minimum=1)
    sH, sW = check_pair("stride", stride, minimum=1)
    check_pair("padding", padding, minimum=0)
    dH, dW = check_pair("dilation", dilation, minimum=1)
    if not isinstance(position, (tuple, list)) or len(position) != 2:
        raise TypeError(f"position must be a pair of ints (row, col), got {position!r}")
    i = check_int("position[0]", position[0], minimum=0)
    j = check_int("position[1]", position[1], minimum=0)
    return [(i * sH + a * dH, j * sW + b * dW) for a in range(kH) for b in range(kW)]


def _size_formula(size: int, k: int, s: int, p: int, d: int, out: int) -> str:
    """``conv_output_size`` written out with the numbers, as mathtext."""
    return (rf"$\lfloor({size} + 2\cdot{p} - {d}\cdot({k} - 1) - 1)\,/\,{s}\rfloor + 1 = {out}$")


def _weight_name(a: int, b: int, kH: int, kW: int) -> str:
    """``w12`` for kernel entry (1, 2); ``w1,12`` when an index has two digits."""
    return f"w{a}{b}" if max(kH, kW) <= 10 else f"w{a},{b}"


def conv_arithmetic_figure(input_size: int | Sequence[int] = 5, kernel_size: int | Sequence[int] = 3,
                           stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                           dilation: int | Sequence[int] = 1, position: Sequence[int] = (0, 0)) -> Figure:
    """The padded input, the kernel window of output pixel ``position``, and the output.

    Left: the input (blue) inside its padding (dashed); the cells the kernel
    reads for output pixel ``position = (row, col)`` are filled and labelled
    with the weight they meet (``w00``, ``w01``, ...), the span of the window
    is framed. Right: the output, with that pixel framed. The title evaluates
    ``conv_output_size``. Every size argument is an int or a ``(height, width)`` pair.

    The artists carry gids for code that inspects the figure (see
    :mod:`course.viz.grids`): the cell collections ``"padding"``, ``"input"``
    and ``"output"``; the rectangles ``"kernel"`` (one filled cell per kernel
    entry, ``xy = (col, row)`` in padded-input coordinates), ``"window"`` and
    ``"selected"``; the texts ``"kernel:text"`` (``w00``, ...).

    Returns a matplotlib ``Figure`` (already closed in pyplot: display it, or save it).

    >>> fig = conv_arithmetic_figure(5, 3, stride=2, padding=1)
    >>> len(fig.axes)
    2
    """
    H, W = check_pair("input_size", input_size, minimum=1)
    kH, kW = check_pair("kernel_size", kernel_size, minimum=1)
    sH, sW = check_pair("stride", stride, minimum=1)
    pH, pW = check_pair("padding", padding, minimum=0)
    dH, dW = check_pair("dilation", dilation, minimum=1)
    out_h = conv_output_size(H, kH, sH, pH, dH)
    out_w = conv_output_size(W, kW, sW, pW, dW)
    row, col = check_position("position", position, (out_h, out_w))
    Hp, Wp = H + 2 * pH, W + 2 * pW

    # Cells of the same size in both panels: the widths follow the column counts.
    columns = Wp + out_w + 1.5
    cell = min(0.42, 7.6 / columns)
    width = cell * columns + 0.4
    height = cell * max(Hp, out_h) + 1.25
    fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(width, height),
                                        gridspec_kw={"width_ratios": [Wp, out_w]})
    plt.close(fig)  # returned, not left open in pyplot (a notebook would show it twice)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 1.05 / height, wspace=0.25)

    # Left: padding (dashed), input, kernel window.
    grid_axes(ax_in, Hp, Wp, title=f"input {H}×{W}, padding {_show_pair(pH, pW)}\n"
                                   f"kernel {_show_pair(kH, kW, '×')}, stride {_show_pair(sH, sW)}, "
                                   f"dilation {_show_pair(dH, dW)}")
    draw_padding(ax_in, Hp, Wp, (pH, pW), gid="padding")
    draw_grid(ax_in, shape=(H, W), top=pH, left=pW, facecolor=INPUT_COLOR, gid="input")

    taps = kernel_window((row, col), (kH, kW), (sH, sW), (pH, pW), (dH, dW))
    highlight_cells(ax_in, taps, color=KERNEL_COLOR, alpha=0.55, gid="kernel")
    fontsize = cell_fontsize(ax_in, Hp, Wp, longest=3)
    for index, (r, c) in enumerate(taps):
        a, b = divmod(index, kW)
        ax_in.text(c + 0.5, r + 0.5, _weight_name(a, b, kH, kW), ha="center", va="center",
                   fontsize=fontsize, color="white", gid="kernel:text", zorder=4)
    top, left = taps[0]
    outline_cells(ax_in, top, left, dH * (kH - 1) + 1, dW * (kW - 1) + 1, color=KERNEL_COLOR, gid="window")

    # Right: the output and the selected pixel.
    grid_axes(ax_out, out_h, out_w, title=f"output {out_h}×{out_w}\npixel ({row}, {col})")
    draw_grid(ax_out, shape=(out_h, out_w), facecolor=OUTPUT_COLOR, gid="output")
    highlight_cells(ax_out, [(row, col)], color=SELECT_COLOR, alpha=0.7, gid="selected")
    outline_cells(ax_out, row, col, color=SELECT_COLOR, gid="selected:outline")

    formula = r"output size $= \lfloor(n + 2p - d\,(k - 1) - 1)\,/\,s\rfloor + 1$"
    if (H, kH, sH, pH, dH) == (W, kW, sW, pW, dW):
        numbers = _size_formula(H, kH, sH, pH, dH, out_h)
    else:
        numbers = (f"height {_size_formula(H, kH, sH, pH, dH, out_h)},  "
                   f"width {_size_formula(W, kW, sW, pW, dW, out_w)}")
    fig.suptitle(f"{formula}\n{numbers}", fontsize=10)
    return fig


def _show_pair(a: int, b: int, sep: str = ", ") -> str:
    """``3`` when both are equal, else ``(3, 2)`` (or ``3×2`` with ``sep='×'``)."""
    if a == b:
        return f"{a}×{b}" if sep == "×" else str(a)
    return f"{a}×{b}" if sep == "×" else f"({a}, {b})"


def conv_arithmetic_explorer(input_size: int = 5, kernel_size: int = 3, stride: int = 1, padding: int = 0,
                             dilation: int = 1, *, max_input_size: int = 9) -> Explorer:
    """Sliders for the convolution arithmetic; the figure and the output size follow.

    Controls (``explorer.controls[name]``, square sizes): ``"input_size"``,
    ``"kernel_size"``, ``"padding"``, ``"stride"``, ``"dilation"``, and the
    output pixel ``"row"`` and ``"col"``, whose range follows the output size.
    ``explorer.size_label.value`` reads ``"output size = N"`` with
    ``N = conv_output_size(...)``, or says why there is no output (the
    kernel does not fit). ``explorer.state()`` holds ``output_size``,
    ``position`` and ``window`` (the cells of :func:`kernel_window`);
    ``explorer.figure`` is the current :func:`conv_arithmetic_figure`.

    >>> w = conv_arithmetic_explorer()
    >>> w.controls["stride"].value = 2
    >>> w.size_label.value
    'output size = 2'
    """
    values = {
        "input_size": check_int("input_size", input_size, minimum=1),
        "kernel_size": check_int("kernel_size", kernel_size, minimum=1),
        "padding": check_int("padding", padding, minimum=0),
        "stride": check_int("stride", stride, minimum=1),
        "dilation": check_int("dilation", dilation, minimum=1),
    }
    max_input_size = check_int("max_input_size", max_input_size, minimum=1)
    controls = {
        "input_size": slider("input size", values["input_size"], 1, max(max_input_size, values["input_size"])),
        "kernel_size": slider("kernel size", values["kernel_size"], 1, max(5, values["kernel_size"])),
        "padding": slider("padding", values["padding"], 0, max(3, values["padding"])),
        "stride": slider("stride", values["stride"], 1, max(4, values["stride"])),
        "dilation": slider("dilation", values["dilation"], 1, max(3, values["dilation"])),
        "row": slider("output row", 0, 0, 0),
        "col": slider("output col", 0, 0, 0),
    }

    def adjust(controls: Controls) -> None:
        """The position sliders range over the output; disabled when there is none."""
        try:
            size = _output_size(controls)
        except ValueError:
            size = 1
            controls["row"].disabled = controls["col"].disabled = True
        else:
            controls["row"].disabled = controls["col"].disabled = False
        for name in ("row", "col"):
            controls[name].max = size - 1  # clamps the value if it is now outside

    def update(values: Values) -> View:
        size = conv_output_size(values["input_size"], values["kernel_size"], values["stride"],
                                values["padding"], values["dilation"])
        position = (values["row"], values["col"])
        settings = {k: values[k] for k in ("input_size", "kernel_size", "stride", "padding", "dilation")}
        fig = conv_arithmetic_figure(**settings, position=position)
        window = kernel_window(position, values["kernel_size"], values["stride"], values["padding"],
                               values["dilation"])
        return View(f"output size = {size}", fig,
                    {"output_size": size, "position": position, "window": window})

    explorer = Explorer(controls, update, adjust, name="conv-arithmetic")
    explorer.size_label = explorer.label
    return explorer


def _output_size(controls: Controls) -> int:
    return conv_output_size(controls["input_size"].value, controls["kernel_size"].value,
                            controls["stride"].value, controls["padding"].value, controls["dilation"].value)


# --------------------------------------------------------------------------- convolution matrix

def convolution_matrix_figure(weight_or_kernel_size: int | torch.Tensor = 3, input_size: int | Sequence[int] = (4, 4),
                              stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                              dilation: int | Sequence[int] = 1, *, transpose: bool = False,
                              labels: Literal["symbolic", "values"] | None = None) -> Figure:
    """The matrix of ``course.conv.convolution_matrix`` as a grid of labelled cells.

    Args:
        weight_or_kernel_size: an int ``k`` for a symbolic ``k x k`` kernel,
            or a kernel tensor ``(kH, kW)`` / ``(1, 1, kH, kW)``.
        input_size: as for ``convolution_matrix``.
        stride: as for ``convolution_matrix``.
        padding: as for ``convolution_matrix``.
        dilation: as for ``convolution_matrix``.
        transpose: also draw ``M.T``, the matrix of the transposed convolution.
        labels: ``"symbolic"`` writes the kernel entry of each nonzero cell
            (``w00``, ``w01``, ...), ``"values"`` its number. Default:
            symbolic for an int, values for a tensor.

    Row ``y_ij`` of ``M`` computes output pixel ``(i, j)``; column ``x_rc``
    multiplies input pixel ``(r, c)`` (both flattened row by row), so
    ``y = M x``. Nonzero cells are coloured by the kernel entry they hold and
    carry the gid ``"M"`` (``"MT"`` for the transpose); zeros stay blank.

    With the defaults this is the 4x16 matrix of a 3x3 kernel on a 4x4 input::

        >>> fig = convolution_matrix_figure()
        >>> labels = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "M:text"]
        >>> len(labels), labels[:3]     # 9 weights in each of the 4 rows
        (36, ['w00', 'w01', 'w02'])
    """
    if isinstance(weight_or_kernel_size, torch.Tensor):
        weight = check_tensor("weight_or_kernel_size", weight_or_kernel_size, ndim=(2, 4), floating=True)
        if weight.dim() == 2:
            weight = weight[None, None]
        if weight.shape[:2] != (1, 1):
            raise ValueError(f"weight_or_kernel_size must have one input and one output channel, "
                             f"(1, 1, kH, kW), got shape {tuple(weight.shape)}")
        default_labels = "values"
    else:
        k = check_int("weight_or_kernel_size", weight_or_kernel_size, minimum=1)
        weight = torch.ones(1, 1, k, k)
        default_labels = "symbolic"
    style = default_labels if labels is None else check_choice("labels", labels, ("symbolic", "values"))
    kH, kW = weight.shape[2:]

    H, W = check_pair("input_size", input_size, minimum=1)
    sH, sW = check_pair("stride", stride, minimum=1)
    pH, pW = check_pair("padding", padding, minimum=0)
    dH, dW = check_pair("dilation", dilation, minimum=1)
    M = convolution_matrix(weight, (H, W), (sH, sW), (pH, pW), (dH, dW))
    H_out, W_out = conv_output_size(H, kH, sH, pH, dH), conv_output_size(W, kW, sW, pW, dW)
    # The same matrix for the kernel 1, 2, ..., kH*kW tells which entry sits in each cell.
    numbered = torch.arange(1.0, kH * kW + 1).view(1, 1, kH, kW)
    entry = convolution_matrix(numbered, (H, W), (sH, sW), (pH, pW), (dH, dW)).long() - 1  # -1: none

    text = np.full(M.shape, "", dtype=object)
    nonzero = (M != 0).numpy()
    for r, c in zip(*np.nonzero(nonzero), strict=True):
        a, b = divmod(int(entry[r, c]), kW)
        text[r, c] = _weight_name(a, b, kH, kW) if style == "symbolic" else _short(float(M[r, c]))
    # Colour: which kernel entry (symbolic) or the value (values); zeros white.
    colour_value = np.where(nonzero, entry.numpy() + 1, 0) if style == "symbolic" else M.numpy()

    def pixel(name: str, i: int, j: int, wide: bool) -> str:
        """``x12`` for pixel (1, 2); ``x1,12`` once an index has two digits."""
        return f"{name}{i},{j}" if wide else f"{name}{i}{j}"

    rows_names = [pixel("y", i, j, max(H_out, W_out) > 10) for i in range(H_out) for j in range(W_out)]
    cols_names = [pixel("x", r, c, max(H, W) > 10) for r in range(H) for c in range(W)]
    rows, cols = M.shape
    panels = [("M", (rows, cols), colour_value, text, rows_names, cols_names)]
    if transpose:
        panels.append(("MT", (cols, rows), colour_value.T, text.T, cols_names, rows_names))

    total_cols = sum(shape[1] for _, shape, *_ in panels) + 3 * len(panels)
    cell = min(0.4, 7.4 / total_cols)
    height = cell * max(shape[0] for _, shape, *_ in panels) + 1.6
    fig, axes = plt.subplots(1, len(panels), figsize=(cell * total_cols + 0.3, height), squeeze=False,
                             gridspec_kw={"width_ratios": [shape[1] for _, shape, *_ in panels]})
    plt.close(fig)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.12 * 1.6 / height + 0.02, top=1 - 0.75 / height,
                        wspace=0.35)

    vmax = float(np.abs(colour_value).max()) or 1.0
    for ax, (name, shape, values, cell_text, row_names, col_names) in zip(axes[0], panels, strict=True):
        title = (f"M = convolution matrix, {shape[0]}×{shape[1]}:  y = M x" if name == "M"
                 else f"Mᵀ, {shape[0]}×{shape[1]}: transposed convolution")
        grid_axes(ax, *shape, title=title)
        ax.set_axis_on()
        ax.set_xticks(np.arange(shape[1]) + 0.5, col_names, rotation=90)
        ax.set_yticks(np.arange(shape[0]) + 0.5, row_names)
        ax.tick_params(length=0, labelsize=cell_fontsize(ax, *shape, longest=4))
        for spine in ax.spines.values():
            spine.set_visible(False)
        colours = np.where((values != 0)[..., None], _matrix_colours(values, style, vmax), 1.0)  # zeros white
        draw_grid(ax, shape=shape, labels=cell_text.tolist(), facecolor=colours, edgecolor="0.8", gid=name)
        ax.set_anchor("N")
    fig.suptitle(f"kernel {kH}×{kW} on a {H}×{W} input, stride {_show_pair(sH, sW)}, "
                 f"padding {_show_pair(pH, pW)}"
                 + (f", dilation {_show_pair(dH, dW)}" if (dH, dW) != (1, 1) else ""), fontsize=10)
    return fig


def _short(value: float) -> str:
    return "0" if value == 0 else f"{value:.2g}"


def _matrix_colours(values: np.ndarray, style: str, vmax: float) -> np.ndarray:
    """Light colours for the nonzero cells, so black labels stay readable."""
    import matplotlib

    if style == "symbolic":
        cmap = matplotlib.colormaps["Pastel1" if vmax <= 9 else "tab20"]
        return cmap((np.asarray(values, dtype=int) - 1) % cmap.N)
    cmap = matplotlib.colormaps["RdBu_r"]
    return cmap(0.5 + 0.35 * np.asarray(values, dtype=float) / vmax)
