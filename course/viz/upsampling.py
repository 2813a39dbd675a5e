"""Upsampling: unpooling, transposed convolution step by step, checkerboard artefacts.

- :func:`unpooling_figure`: nearest, bed of nails and max unpooling side by
  side, after a max pooling that remembers where its maxima were.
  :func:`unpooling_explorer` picks the method and the input with controls.
- :func:`transposed_conv_steps_figure`: every input pixel stamps the kernel,
  scaled by its value, into the output; the stamps add up to
  ``course.conv.conv_transpose2d``. :func:`transposed_conv_stamp_figure`
  draws one step and :func:`transposed_conv_explorer` steps with a slider.
- :func:`checkerboard_figure` / :func:`checkerboard_explorer`: how many stamps
  each output pixel receives. When ``kernel_size`` is not a multiple of
  ``stride`` some pixels get more than others: the checkerboard artefacts of
  transposed convolutions (Odena et al., 2016). Resizing then convolving has none.

Every number drawn comes from the library (``course.conv``, ``course.upsample``).

Example, the 2x2 -> 5x5 transposed convolution of the lecture::

    >>> fig = transposed_conv_steps_figure()          # x = [[1, 2], [3, 4]], 3x3 kernel of ones, stride 2
    >>> output = {t.get_position(): t.get_text() for t in fig.axes[2].texts if t.get_gid() == "output:text"}
    >>> output[(2.5, 2.5)]                            # cell (2, 2), the centre, receives all four stamps
    '10'
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypedDict

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course._checks import check_int, check_pair
from course.conv import conv2d, conv_transpose2d, max_pool2d
from course.upsample import max_unpool2d, unpool_bed_of_nails, unpool_nearest
from course.viz.explorer import Explorer, Values, View, dropdown, slider
from course.viz.grids import (
    INPUT_COLOR,
    KERNEL_COLOR,
    OUTPUT_COLOR,
    PADDING_COLOR,
    STAMP_COLOR,
    as_array,
    draw_grid,
    grid_axes,
    highlight_cells,
    outline_cells,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

__all__ = [
    "unpooling_figure", "unpooling_input", "Unpooled", "unpool", "unpooling_method_figure", "unpooling_explorer",
    "TransposedConvSteps", "transposed_conv_steps", "transposed_conv_steps_figure", "transposed_conv_stamp_figure",
    "transposed_conv_explorer",
    "overlap_counts", "checkerboard_figure", "checkerboard_explorer",
]

DEFAULT_POOL_INPUT = [[1, 2, 6, 3],
                      [3, 5, 2, 1],
                      [1, 2, 2, 1],
                      [7, 3, 4, 8]]
DEFAULT_TRANSPOSED_INPUT = [[1, 2],
                            [3, 4]]


# --------------------------------------------------------------------------- unpooling

def unpooling_figure(x: torch.Tensor | ArrayLike | None = None, scale_factor: int = 2) -> Figure:
    r"""Three ways to undo a ``scale_factor x scale_factor`` max pooling, side by side.

    Top row: the pooling input ``x`` (2-D; default a 4x4 example) with its
    maxima filled and the pooling windows dashed; the pooled values
    ``max_pool2d(x, scale_factor)``; and the indices it returns (where each
    maximum was, as ``row * W + col`` in ``x``). Bottom row: the pooled values
    unpooled by ``unpool_nearest``, ``unpool_bed_of_nails`` and
    ``max_unpool2d`` (back to where the maxima were, zeros elsewhere).

    The cells of the panels carry the gids ``"x"``, ``"values"``,
    ``"indices"``, ``"nearest"``, ``"bed_of_nails"`` and ``"max_unpool"``,
    their texts the same with ``":text"`` (see :mod:`course.viz.grids`); the
    filled cells ``"argmax"``, ``"nails"`` and ``"landed"``.

    >>> fig = unpooling_figure()
    >>> [ax.get_title().split("\n")[0] for ax in fig.axes][3:]
    ['unpool_nearest', 'unpool_bed_of_nails', 'max_unpool2d']
    """
    s = check_int("scale_factor", scale_factor, minimum=1)
    x = torch.as_tensor(as_array("x", DEFAULT_POOL_INPUT if x is None else x), dtype=torch.float32)
    H, W = x.shape
    if H < s or W < s:
        raise ValueError(f"x must be at least scale_factor x scale_factor = {s}x{s} to be pooled, "
                         f"got shape {tuple(x.shape)}")
    batch = x[None, None]
    values, indices = max_pool2d(batch, s, return_indices=True)
    nearest = unpool_nearest(values, s)[0, 0]
    nails = unpool_bed_of_nails(values, s)[0, 0]
    unpooled = max_unpool2d(values, indices, s, output_size=(H, W))[0, 0]
    values, indices = values[0, 0], indices[0, 0]
    argmax = [divmod(int(i), W) for i in indices.flatten()]

    panels = [
        ("x", x, f"x: the input of\nmax_pool2d(x, {s})", INPUT_COLOR),
        ("values", values, f"pooled values\n{values.shape[0]}×{values.shape[1]}", OUTPUT_COLOR),
        ("indices", indices, f"indices\n(row·{W} + col in x)", "0.93"),
        ("nearest", nearest, "unpool_nearest\n(copy into the block)", INPUT_COLOR),
        ("bed_of_nails", nails, "unpool_bed_of_nails\n(top-left, zeros elsewhere)", INPUT_COLOR),
        ("max_unpool", unpooled, "max_unpool2d\n(back where the max was)", INPUT_COLOR),
    ]
    rows = max(H, nearest.shape[0])
    fig, axes = plt.subplots(2, 3, figsize=(7.2, 5.6))
    plt.close(fig)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.8, hspace=0.4, wspace=0.15)
    frame = (rows, max(W, nearest.shape[1]))
    for ax, (name, grid, title, colour) in zip(axes.flat, panels, strict=True):
        grid_axes(ax, *grid.shape, frame=frame, title=title)
        draw_grid(ax, grid, facecolor=colour, gid=name)

    ax_x, ax_nails, ax_max = axes[0, 0], axes[1, 1], axes[1, 2]
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            outline_cells(ax_x, i * s, j * s, s, s, color="0.3", linewidth=1.2, linestyle="--", gid="pool_window")
    highlight_cells(ax_x, argmax, color=KERNEL_COLOR, gid="argmax")
    highlight_cells(ax_nails, [(i * s, j * s) for i in range(values.shape[0]) for j in range(values.shape[1])],
                    color=STAMP_COLOR, alpha=0.35, gid="nails")
    highlight_cells(ax_max, argmax, color=KERNEL_COLOR, gid="landed")
    fig.suptitle(f"Unpooling ×{s}: the pooled values (top middle) go back to {H}×{W}\n"
                 "max_unpool2d puts each where max_pool2d found it (blue): it needs the indices",
                 fontsize=10)
    return fig


# --------------------------------------------------------------------------- transposed convolution

@dataclass(frozen=True)
class TransposedConvSteps:
    """A transposed convolution taken apart into its stamps (see :func:`transposed_conv_steps`).

    ``sums[k]`` is the output after the first ``k`` stamps, before cropping
    the padding (``sums[0]`` is all zeros); ``stamps[k - 1] = (i, j, top, left)``
    says that step ``k`` stamped ``x[i, j] * kernel`` with its top-left corner
    at ``(top, left)``. ``output`` is ``conv_transpose2d(x, kernel, stride,
    padding)``: ``sums[-1]`` with ``padding`` cropped from each side.
    """

    x: torch.Tensor
    kernel: torch.Tensor
    stride: tuple[int, int]
    padding: tuple[int, int]
    stamps: list[tuple[int, int, int, int]]
    sums: list[torch.Tensor]
    output: torch.Tensor

    def cropped(self, k: int) -> torch.Tensor:
        """``sums[k]`` with the padding cropped: the output so far."""
        (pH, pW), (H, W) = self.padding, self.output.shape
        return self.sums[k][pH:pH + H, pW:pW + W]


def transposed_conv_steps(x: torch.Tensor | ArrayLike | None = None, kernel: torch.Tensor | ArrayLike | None = None,
                          stride: int | Sequence[int] = 2, padding: int | Sequence[int] = 0) -> TransposedConvSteps:
    """Split ``conv_transpose2d(x, kernel, stride, padding)`` into one stamp per input pixel.

    ``x`` (2-D, default ``[[1, 2], [3, 4]]``) and ``kernel`` (2-D, default a
    3x3 of ones) are single-channel. Input pixel ``(i, j)`` stamps
    ``x[i, j] * kernel`` at ``(i*stride, j*stride)``; as the transposed
    convolution is linear, the sum of the first ``k`` stamps is
    ``conv_transpose2d`` of ``x`` with every later pixel set to 0, which is
    how the partial sums are computed here.

    >>> steps = transposed_conv_steps()
    >>> len(steps.stamps), tuple(steps.output.shape)
    (4, (5, 5))
    >>> torch.equal(steps.cropped(4), steps.output)
    True
    """
    x = torch.as_tensor(as_array("x", DEFAULT_TRANSPOSED_INPUT if x is None else x), dtype=torch.float32)
    kernel = torch.as_tensor(as_array("kernel", torch.ones(3, 3) if kernel is None else kernel),
                             dtype=torch.float32)
    stride = check_pair("stride", stride, minimum=1)
    padding = check_pair("padding", padding, minimum=0)
    weight = kernel[None, None]
    output = conv_transpose2d(x[None, None], weight, stride=stride, padding=padding)[0, 0]

    H, W = x.shape
    order = [(i, j) for i in range(H) for j in range(W)]          # row by row
    mask = torch.zeros(H, W)
    sums = [conv_transpose2d((x * mask)[None, None], weight, stride=stride)[0, 0]]
    stamps = []
    for i, j in order:
        mask[i, j] = 1
        sums.append(conv_transpose2d((x * mask)[None, None], weight, stride=stride)[0, 0])
        stamps.append((i, j, i * stride[0], j * stride[1]))
    return TransposedConvSteps(x, kernel, stride, padding, stamps, sums, output)


def _draw_sum(ax: Axes, steps: TransposedConvSteps, k: int, title: str, frame: tuple[int, int] | None = None) -> None:
    """The output after ``k`` stamps: the cropped border dashed, the last stamp framed in red."""
    total = steps.sums[k]
    (pH, pW), (H_out, W_out) = steps.padding, steps.output.shape
    grid_axes(ax, *total.shape, frame=frame, title=title)
    inside = np.zeros(total.shape, dtype=bool)
    inside[pH:pH + H_out, pW:pW + W_out] = True
    labels = [[_label(v) for v in row] for row in total.tolist()]
    if not inside.all():  # the padding to crop: its own dashed cells, texts named "border"
        border = [[text if not inside[r, c] else "" for c, text in enumerate(row)] for r, row in enumerate(labels)]
        draw_grid(ax, shape=total.shape, labels=border, facecolor=PADDING_COLOR, edgecolor="0.55",
                  linestyle="--", gid="border")
        outline_cells(ax, pH, pW, H_out, W_out, color="0.3", linewidth=1.5, linestyle="--", gid="crop")
    draw_grid(ax, steps.cropped(k), top=pH, left=pW, facecolor=OUTPUT_COLOR, gid="sum")
    if k > 0:
        _, _, top, left = steps.stamps[k - 1]
        kH, kW = steps.kernel.shape
        highlight_cells(ax, [(top + a, left + b) for a in range(kH) for b in range(kW)],
                        color=STAMP_COLOR, alpha=0.25, gid="stamp")
        outline_cells(ax, top, left, kH, kW, color=STAMP_COLOR, gid="stamp:outline")


def _label(value: float) -> str:
    return "0" if value == 0 else f"{value:.3g}"


def transposed_conv_stamp_figure(x: torch.Tensor | ArrayLike | None = None,
                                 kernel: torch.Tensor | ArrayLike | None = None,
                                 stride: int | Sequence[int] = 2, padding: int | Sequence[int] = 0,
                                 step: int | None = None) -> Figure:
    """One step of a transposed convolution: the input, the kernel, the stamp, the sum so far.

    ``step`` = ``k`` in ``0 .. x.numel()`` (default: the last) shows the output
    after the first ``k`` stamps (row by row). Panels: ``x`` with pixel ``k``
    framed; the kernel; the stamp ``x[i, j] * kernel`` (gid ``"stamp"``); the
    sum so far over the uncropped output (texts ``"sum"`` inside the final
    output, ``"border"`` on the padding that will be cropped; the last stamp
    filled red). At the last step the ``"sum"`` texts are
    ``conv_transpose2d(x, kernel, stride, padding)``.

    >>> fig = transposed_conv_stamp_figure(step=1)
    >>> fig.axes[2].get_title().splitlines()[0]
    'stamp 1: x[0,0] = 1 × kernel'
    """
    steps = transposed_conv_steps(x, kernel, stride, padding)
    n = len(steps.stamps)
    step = n if step is None else check_int("step", step, minimum=0)
    if step > n:
        raise ValueError(f"step must be in 0..{n} (x has {n} pixels, one stamp each), got {step}")
    H, W = steps.x.shape
    kH, kW = steps.kernel.shape
    Hf, Wf = steps.sums[0].shape

    columns = W + 2 * kW + Wf + 3
    cell = min(0.42, 7.6 / columns)
    height = cell * max(H, kH, Hf) + 1.2
    fig, axes = plt.subplots(1, 4, figsize=(cell * columns + 0.4, height),
                             gridspec_kw={"width_ratios": [W, kW, kW, Wf]})
    plt.close(fig)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.95 / height, wspace=0.3)
    ax_x, ax_k, ax_stamp, ax_sum = axes

    grid_axes(ax_x, H, W, title="x")
    draw_grid(ax_x, steps.x, facecolor=INPUT_COLOR, gid="x")
    grid_axes(ax_k, kH, kW, title="kernel")
    draw_grid(ax_k, steps.kernel, facecolor="0.93", gid="kernel")
    if step > 0:
        i, j, top, left = steps.stamps[step - 1]
        value = float(steps.x[i, j])
        outline_cells(ax_x, i, j, color=STAMP_COLOR, gid="current")
        grid_axes(ax_stamp, kH, kW, title=f"stamp {step}: x[{i},{j}] = {_label(value)} × kernel\n"
                                           f"at ({top}, {left})")
        draw_grid(ax_stamp, value * steps.kernel, facecolor="#f4cccc", gid="stamp")
    else:
        grid_axes(ax_stamp, kH, kW, title="no stamp yet")
    done = "= conv_transpose2d(x, kernel)" if step == n else f"after {step} of {n} stamps"
    crop = f", crop padding {_pair_text(steps.padding)}" if steps.padding != (0, 0) else ""
    _draw_sum(ax_sum, steps, step, f"{done}\n{steps.output.shape[0]}×{steps.output.shape[1]}{crop}")
    fig.suptitle(f"Transposed convolution, stride {_pair_text(steps.stride)}: "
                 "each input pixel adds its value × kernel, overlaps add up", fontsize=10)
    return fig


def transposed_conv_steps_figure(x: torch.Tensor | ArrayLike | None = None,
                                 kernel: torch.Tensor | ArrayLike | None = None,
                                 stride: int | Sequence[int] = 2, padding: int | Sequence[int] = 0) -> Figure:
    """All the stamps of a transposed convolution, one panel each, and the result.

    Top row: ``x`` (default ``[[1, 2], [3, 4]]``), the kernel (default 3x3
    ones) and the output ``conv_transpose2d(x, kernel, stride, padding)``
    (texts gid ``"output"``). Below: the sum after each stamp, the newest
    stamp framed in red (texts ``"sum"``, see
    :func:`transposed_conv_stamp_figure`). With the defaults: the 2x2 -> 5x5
    example of the lecture. At most 16 stamps (``x`` up to 16 pixels).
    """
    steps = transposed_conv_steps(x, kernel, stride, padding)
    n = len(steps.stamps)
    if n > 16:
        raise ValueError(f"x must have at most 16 pixels for one panel per stamp, got shape "
                         f"{tuple(steps.x.shape)}; use transposed_conv_stamp_figure(step=...) instead")
    ncols = max(3, min(n, 4))
    nrows = 1 + math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.0 * ncols, 2.05 * nrows + 0.3), squeeze=False)
    plt.close(fig)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.75 / (2.05 * nrows + 0.3),
                        hspace=0.45, wspace=0.15)
    for ax in axes.flat:
        ax.set_axis_off()

    H, W = steps.x.shape
    kH, kW = steps.kernel.shape
    side = max(*steps.sums[0].shape, H, kH)  # the same cell size in every panel
    grid_axes(axes[0, 0], H, W, frame=(side, side), title="x")
    draw_grid(axes[0, 0], steps.x, facecolor=INPUT_COLOR, gid="x")
    grid_axes(axes[0, 1], kH, kW, frame=(side, side), title="kernel")
    draw_grid(axes[0, 1], steps.kernel, facecolor="0.93", gid="kernel")
    H_out, W_out = steps.output.shape
    grid_axes(axes[0, 2], H_out, W_out, frame=(side, side), title=f"conv_transpose2d: {H_out}×{W_out}")
    draw_grid(axes[0, 2], steps.output, facecolor=OUTPUT_COLOR, gid="output")

    for k, ax in enumerate(axes.flat[ncols:ncols + n], start=1):
        i, j, _, _ = steps.stamps[k - 1]
        _draw_sum(ax, steps, k, f"+ x[{i},{j}] × kernel ({k}/{n})", frame=(side, side))
    cropped = f", padding {_pair_text(steps.padding)} cropped (dashed)" if steps.padding != (0, 0) else ""
    fig.suptitle(f"Transposed convolution {H}×{W} → {H_out}×{W_out}, stride {_pair_text(steps.stride)}"
                 f"{cropped}:\none stamp x[i,j] × kernel per input pixel; overlaps add up", fontsize=10)
    return fig


def _pair_text(pair: Sequence[int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else str(tuple(pair))


def transposed_conv_explorer(x: torch.Tensor | ArrayLike | None = None, kernel: torch.Tensor | ArrayLike | None = None,
                             stride: int = 2, padding: int = 0) -> Explorer:
    """Step through a transposed convolution, one stamp at a time.

    Controls: ``"step"`` (0 .. number of pixels of ``x``), ``"stride"`` and
    ``"padding"``; it starts at step 1. ``explorer.figure`` is the current
    :func:`transposed_conv_stamp_figure`; ``explorer.state()`` holds
    ``step``, ``steps`` (the count), ``sum`` (the output so far, padding
    cropped, a tensor) and ``output`` (``conv_transpose2d(x, kernel, stride,
    padding)``): at the last step ``sum`` equals ``output``.

    >>> w = transposed_conv_explorer()
    >>> w.controls["step"].value = w.controls["step"].max
    >>> torch.equal(w.state()["sum"], w.state()["output"])
    True
    """
    first = transposed_conv_steps(x, kernel, stride, padding)  # checks the arguments once
    n = len(first.stamps)
    stride, padding = first.stride[0], first.padding[0]
    if first.stride != (stride, stride) or first.padding != (padding, padding):
        raise ValueError("the explorer takes an int stride and padding (one slider each), "
                         f"got stride={first.stride}, padding={first.padding}")
    controls = {
        "step": slider("step", 1, 0, n),
        "stride": slider("stride", stride, 1, max(3, stride)),
        "padding": slider("padding", padding, 0, max(2, padding)),
    }

    def update(values: Values) -> View:
        steps = transposed_conv_steps(first.x, first.kernel, values["stride"], values["padding"])
        k = values["step"]
        fig = transposed_conv_stamp_figure(first.x, first.kernel, values["stride"], values["padding"], step=k)
        if k == 0:
            text = f"step 0 of {n}: nothing stamped yet"
        else:
            i, j, top, left = steps.stamps[k - 1]
            text = (f"step {k} of {n}: x[{i},{j}] = {_label(float(steps.x[i, j]))} × kernel "
                    f"added at ({top}, {left})")
        if k == n:
            text += f": the result, conv_transpose2d(x, kernel, stride={values['stride']}, " \
                    f"padding={values['padding']}), {steps.output.shape[0]}×{steps.output.shape[1]}"
        return View(text, fig, {"steps": n, "sum": steps.cropped(k), "output": steps.output})

    return Explorer(controls, update, name="transposed-conv")


# --------------------------------------------------------------------------- checkerboard

def overlap_counts(kernel_size: int = 3, stride: int = 2, size: int = 5) -> torch.Tensor:
    """How many kernel stamps land on each output pixel: ``conv_transpose2d(ones, ones)``.

    A ``size x size`` input of ones, a ``kernel_size x kernel_size`` kernel of
    ones, the given ``stride``: each output pixel counts the input pixels
    whose stamp covers it. Shape ``(H_out, H_out)`` with
    ``H_out = (size - 1)*stride + kernel_size``.

    >>> overlap_counts(3, 2, size=2)
    tensor([[1., 1., 2., 1., 1.],
            [1., 1., 2., 1., 1.],
            [2., 2., 4., 2., 2.],
            [1., 1., 2., 1., 1.],
            [1., 1., 2., 1., 1.]])
    """
    k = check_int("kernel_size", kernel_size, minimum=1)
    s = check_int("stride", stride, minimum=1)
    n = check_int("size", size, minimum=1)
    return conv_transpose2d(torch.ones(1, 1, n, n), torch.ones(1, 1, k, k), stride=s)[0, 0]


class _Checkerboard(TypedDict):
    """The overlap counts of a transposed convolution and what the checkerboard figure says about them."""

    kernel_size: int
    stride: int
    size: int
    counts: torch.Tensor          # overlap_counts(kernel_size, stride, size)
    interior: torch.Tensor        # counts away from the border, where every stamp arrives
    min: float                    # of the interior
    max: float
    ratio: float                  # min / max
    divisible: bool               # kernel_size % stride == 0
    even: bool                    # min == max: no checkerboard
    resize_conv: torch.Tensor     # bilinear upsampling then conv2d, for comparison


def _checkerboard(kernel_size: int, stride: int, size: int) -> _Checkerboard:
    """The counts, their interior and statistics, the resize-convolve comparison."""
    k = check_int("kernel_size", kernel_size, minimum=1)
    s = check_int("stride", stride, minimum=1)
    n = check_int("size", size, minimum=1)
    # Output pixel o is covered by a full set of stamps (none missing because
    # the input ended) for k - 1 <= o <= (n - 1)*s: crop k - 1 on each side.
    needed = math.ceil((k - 1) / s) + 1
    if n < needed:
        raise ValueError(f"size must be at least {needed} for kernel_size={k} and stride={s} "
                         f"(so that some output pixels receive all their stamps), got {n}")
    counts = overlap_counts(k, s, n)
    interior = counts[k - 1:counts.shape[0] - (k - 1), k - 1:counts.shape[1] - (k - 1)]
    low, high = float(interior.min()), float(interior.max())
    # Resize, then an ordinary convolution: bilinear upsampling of ones is ones, so every pixel is k*k.
    resized = F.interpolate(torch.ones(1, 1, n, n), scale_factor=s, mode="bilinear", align_corners=False)
    resize_conv = conv2d(resized, torch.ones(1, 1, k, k))[0, 0]
    return {
        "kernel_size": k, "stride": s, "size": n, "counts": counts, "interior": interior,
        "min": low, "max": high, "ratio": low / high, "divisible": k % s == 0, "even": low == high,
        "resize_conv": resize_conv,
    }


def _checkerboard_text(state: _Checkerboard) -> str:
    k, s = state["kernel_size"], state["stride"]
    verdict = "is divisible" if state["divisible"] else "is not divisible"
    overlap = "even overlap" if state["even"] else "uneven overlap (checkerboard)"
    return (f"kernel_size {k} {verdict} by stride {s} ({k} % {s} = {k % s}): {overlap}, "
            f"min/max = {state['min']:g}/{state['max']:g} = {state['ratio']:.2f}")


def checkerboard_figure(kernel_size: int = 3, stride: int = 2, size: int = 5) -> Figure:
    """Overlap of transposed-convolution stamps (left) versus resize-then-convolve (right).

    Left: :func:`overlap_counts`, ``conv_transpose2d`` of a ``size x size``
    input of ones with a ``kernel_size x kernel_size`` kernel of ones; the
    dashed frame is the interior, away from the border where stamps are
    missing. Inside it the counts are equal if ``kernel_size % stride == 0``
    and form a checkerboard otherwise. Right: bilinear upsampling by
    ``stride``, then ``conv2d`` with the same kernel: every pixel gets the
    same. Both are coloured by value / maximum. Texts (for up to 12 cells a
    side) carry the gids ``"overlap"`` and ``"resize_conv"``; the frame ``"interior"``.

    >>> fig = checkerboard_figure(3, 2)
    >>> "uneven" in fig.get_suptitle()
    True
    """
    state = _checkerboard(kernel_size, stride, size)
    counts, resize_conv, k = state["counts"], state["resize_conv"], state["kernel_size"]
    columns = 2 * counts.shape[1] + 2       # two panels of the same size: cells of the same size
    cell = min(0.3, 7.6 / columns)
    height = cell * counts.shape[0] + 1.0
    fig, axes = plt.subplots(1, 2, figsize=(cell * columns + 0.4, height))
    plt.close(fig)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.8 / height, wspace=0.1)
    panels = [
        (axes[0], "overlap", counts, f"conv_transpose2d(ones, ones {k}×{k}, stride={state['stride']})"),
        (axes[1], "resize_conv", resize_conv, f"bilinear ×{state['stride']}, then conv2d {k}×{k}"),
    ]
    for ax, name, grid, title in panels:
        grid_axes(ax, *grid.shape, frame=(counts.shape[0], counts.shape[1]), title=title)
        labels: Literal[False] | None = None if max(grid.shape) <= 12 else False  # numbers only while they fit
        draw_grid(ax, grid, labels=labels, cmap="magma", vmin=0, vmax=float(grid.max()), edgecolor="0.5",
                  gid=name)
    interior = state["interior"]
    outline_cells(axes[0], k - 1, k - 1, *interior.shape, color="#2ca02c", linestyle="--", gid="interior")
    fig.suptitle(_checkerboard_text(state), fontsize=9)
    return fig


def checkerboard_explorer(kernel_size: int = 3, stride: int = 2, size: int = 5) -> Explorer:
    """Sliders ``"kernel_size"``, ``"stride"`` and ``"size"`` for :func:`checkerboard_figure`.

    ``explorer.label.value`` says whether ``kernel_size`` is divisible by
    ``stride`` and whether the overlap is even, with the min/max ratio inside
    the interior; ``explorer.state()`` holds ``divisible``, ``even``,
    ``min``, ``max``, ``ratio`` and the ``counts``.

    >>> w = checkerboard_explorer(3, 2)
    >>> w.state()["even"], w.state()["ratio"]
    (False, 0.25)
    >>> w.controls["kernel_size"].value = 4
    >>> w.state()["even"]
    True
    """
    k = check_int("kernel_size", kernel_size, minimum=1)
    s = check_int("stride", stride, minimum=1)
    n = check_int("size", size, minimum=1)
    controls = {
        "kernel_size": slider("kernel size", k, 1, max(8, k)),
        "stride": slider("stride", s, 1, max(4, s)),
        "size": slider("input size", n, 1, max(10, n)),
    }

    def update(values: Values) -> View:
        state = _checkerboard(values["kernel_size"], values["stride"], values["size"])
        fig = checkerboard_figure(values["kernel_size"], values["stride"], values["size"])
        shown = {"divisible": state["divisible"], "even": state["even"], "min": state["min"], "max": state["max"],
                 "ratio": state["ratio"], "counts": state["counts"]}
        return View(_checkerboard_text(state), fig, shown)

    return Explorer(controls, update, name="checkerboard")


# --------------------------------------------------------------------------- unpooling explorer

UNPOOLING_METHODS = {
    "nearest": "nearest neighbour",
    "bed_of_nails": "bed of nails",
    "max_unpool": "max unpooling (indices)",
}


def unpooling_input(size: int = 4, seed: int = 0) -> torch.Tensor:
    """A ``size x size`` float map holding ``1, 2, ..., size**2`` in an order fixed by ``seed``.

    All values differ, so every pooling window has one maximum and every
    non-zero output cell of an unpooling can be traced back to one input value.

    >>> unpooling_input(2, seed=0).shape
    torch.Size([2, 2])
    >>> sorted(unpooling_input(3, seed=5).flatten().tolist())
    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    """
    n = check_int("size", size, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    order = torch.randperm(n * n, generator=torch.Generator().manual_seed(seed))
    return (order + 1).to(torch.float32).reshape(n, n)


class Unpooled(TypedDict):
    """What :func:`unpool` returns: the pooling, the unpooling and where the maxima were."""

    x: torch.Tensor                         # (H, W), the pooling input
    pooled: torch.Tensor                    # (H // s, W // s), max_pool2d(x, s)
    indices: torch.Tensor                   # (H // s, W // s), row * W + col in x of each maximum
    output: torch.Tensor                    # the unpooled map
    argmax: list[tuple[int, int]]           # (row, col) in x of each pooled value, row by row
    nonzero: int                            # how many output cells are not zero


def unpool(method: str, x: torch.Tensor | ArrayLike, scale_factor: int = 2) -> Unpooled:
    """Max-pool the 2-D map ``x`` by ``scale_factor``, then unpool the pooled values with ``method``.

    ``method`` is ``"nearest"`` (``course.upsample.unpool_nearest``),
    ``"bed_of_nails"`` (``unpool_bed_of_nails``) or ``"max_unpool"``
    (``max_unpool2d`` with the indices of ``course.conv.max_pool2d``, back to
    ``x``'s size). Shapes: ``x`` ``(H, W)``, pooled ``(H // s, W // s)``,
    output ``(s * (H // s), s * (W // s))`` for nearest and bed of nails,
    ``(H, W)`` for max unpooling.

    Returns a dict: ``x``, ``pooled``, ``indices`` (flat ``row * W + col`` in
    ``x``), ``output`` (2-D tensors), ``argmax`` (the ``(row, col)`` in ``x``
    of each pooled value, row by row) and ``nonzero`` (non-zero output cells).

    >>> result = unpool("max_unpool", [[1., 2.], [4., 3.]], 2)
    >>> result["output"].tolist(), result["nonzero"]
    ([[0.0, 0.0], [4.0, 0.0]], 1)
    """
    if method not in UNPOOLING_METHODS:
        raise ValueError(f"method must be one of {sorted(UNPOOLING_METHODS)}, got {method!r}")
    s = check_int("scale_factor", scale_factor, minimum=1)
    x = torch.as_tensor(as_array("x", x), dtype=torch.float32)
    H, W = x.shape
    if H < s or W < s:
        raise ValueError(f"x must be at least scale_factor x scale_factor = {s}x{s} to be pooled, "
                         f"got shape {tuple(x.shape)}")
    pooled, indices = max_pool2d(x[None, None], s, return_indices=True)
    if method == "nearest":
        output = unpool_nearest(pooled, s)
    elif method == "bed_of_nails":
        output = unpool_bed_of_nails(pooled, s)
    else:
        output = max_unpool2d(pooled, indices, s, output_size=(H, W))
    output = output[0, 0]
    return {"x": x, "pooled": pooled[0, 0], "indices": indices[0, 0], "output": output,
            "argmax": [divmod(int(i), W) for i in indices.flatten()], "nonzero": int((output != 0).sum())}


def _unpooling_text(method: str, s: int, result: Unpooled) -> str:
    h, w = result["pooled"].shape
    H_out, W_out = result["output"].shape
    how = {"nearest": "each value copied into its block",
           "bed_of_nails": "each value in the top-left cell of its block",
           "max_unpool": "each value back where max_pool2d found it"}[method]
    return (f"{UNPOOLING_METHODS[method]} ×{s}: input {h}×{w} → output {H_out}×{W_out}, "
            f"{result['nonzero']} of {H_out * W_out} output cells non-zero ({how})")


def _unpooling_title(method: str, s: int, result: Unpooled) -> str:
    """The label's text in two lines, for the figure."""
    first, _, second = _unpooling_text(method, s, result).partition(", ")
    return f"{first}\n{second}"


def unpooling_method_figure(method: str = "max_unpool", x: torch.Tensor | ArrayLike | None = None,
                            scale_factor: int = 2) -> Figure:
    """One unpooling method after a max pooling: pooling input, pooled values (and indices), output.

    Panels, left to right: ``x`` (default :func:`unpooling_input`) with the
    pooling windows dashed and, for max unpooling, its maxima filled (gid
    ``"argmax"``); the pooled values, the input of the unpooling (texts gid
    ``"pooled"``); for ``"max_unpool"`` the indices (gid ``"indices"``,
    ``row * W + col`` in ``x``); the output with its values (gid ``"output"``),
    the cells the values landed in filled for bed of nails and max unpooling
    (gid ``"landed"``). Every number is
    :func:`unpool`'s, i.e. the library's.
    """
    result = unpool(method, unpooling_input() if x is None else x, scale_factor)
    s = check_int("scale_factor", scale_factor, minimum=1)
    return _draw_unpooling(method, s, result)


def _draw_unpooling(method: str, s: int, result: Unpooled) -> Figure:
    x, pooled, indices, output = result["x"], result["pooled"], result["indices"], result["output"]
    H, W = x.shape
    h, w = pooled.shape
    panels = [("x", x, f"x {H}×{W}: pooled by\nmax_pool2d(x, {s})", INPUT_COLOR),
              ("pooled", pooled, f"input of the unpooling\n{h}×{w}", OUTPUT_COLOR)]
    if method == "max_unpool":
        panels.append(("indices", indices, f"indices\n(row·{W} + col in x)", "0.93"))
    function = {"nearest": "unpool_nearest", "bed_of_nails": "unpool_bed_of_nails",
                "max_unpool": "max_unpool2d"}[method]
    panels.append(("output", output, f"{function}\n{output.shape[0]}×{output.shape[1]}", INPUT_COLOR))

    frame = (max(H, output.shape[0]), max(W, output.shape[1]))
    fig, axes = plt.subplots(1, len(panels), figsize=(1.65 * len(panels) + 0.2, 2.6), dpi=72)
    plt.close(fig)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.72, wspace=0.12)
    for ax, (name, grid, title, colour) in zip(axes, panels, strict=True):
        grid_axes(ax, *grid.shape, frame=frame, title=title)
        draw_grid(ax, grid, facecolor=colour, gid=name)
    ax_x, ax_out = axes[0], axes[-1]
    for i in range(h):
        for j in range(w):
            outline_cells(ax_x, i * s, j * s, s, s, color="0.3", linewidth=1.0, linestyle="--", gid="pool_window")
    if method == "max_unpool":     # the maxima, and where the indices send them
        highlight_cells(ax_x, result["argmax"], color=KERNEL_COLOR, gid="argmax")
        highlight_cells(ax_out, result["argmax"], color=KERNEL_COLOR, alpha=0.3, gid="landed")
    elif method == "bed_of_nails":  # the fixed top-left nails
        highlight_cells(ax_out, [(i * s, j * s) for i in range(h) for j in range(w)], color=STAMP_COLOR,
                        alpha=0.3, gid="landed")
    fig.suptitle(_unpooling_title(method, s, result), fontsize=9)
    return fig


def unpooling_explorer(method: str = "max_unpool", scale_factor: int = 2, size: int = 4, seed: int = 0) -> Explorer:
    """Choose an unpooling method and an input; see the pooled values go back up.

    Controls: ``"method"`` (a dropdown: ``"nearest"``, ``"bed_of_nails"``,
    ``"max_unpool"``), ``"scale_factor"`` (the pooling size and the
    upsampling factor, 1..4), ``"size"`` (the side of the pooling input, 2..6)
    and ``"seed"`` (which :func:`unpooling_input`, 0..20). The pooling input
    ``x`` is max-pooled by ``scale_factor`` and the pooled values are unpooled
    by the chosen method (:func:`unpool`, which calls ``course.upsample``).

    The label names the method, the input (pooled) and output shapes, how
    many output cells are non-zero and which pooling input (size, seed) it is; ``explorer.state()`` holds ``x``,
    ``pooled``, ``indices``, ``output``, ``argmax``, ``nonzero``,
    ``input_shape`` and ``output_shape``; ``explorer.figure`` is
    :func:`unpooling_method_figure`.

    >>> w = unpooling_explorer("bed_of_nails", size=4)
    >>> w.state()["nonzero"], w.state()["output_shape"]
    (4, (4, 4))
    >>> w.controls["method"].value = "nearest"
    >>> w.state()["nonzero"]
    16
    """
    if method not in UNPOOLING_METHODS:
        raise ValueError(f"method must be one of {sorted(UNPOOLING_METHODS)}, got {method!r}")
    s = check_int("scale_factor", scale_factor, minimum=1)
    n = check_int("size", size, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    controls = {
        "method": dropdown("method", [(label, name) for name, label in UNPOOLING_METHODS.items()], method),
        "scale_factor": slider("scale factor", s, 1, max(4, s)),
        "size": slider("input size", n, 2, max(6, n)),
        "seed": slider("seed", seed, 0, max(20, seed)),
    }

    def update(values: Values) -> View:
        method, s = values["method"], values["scale_factor"]
        x = unpooling_input(values["size"], values["seed"])
        if values["size"] < s:
            raise ValueError(f"input size must be at least the scale factor {s} to be pooled, "
                             f"got {values['size']}")
        result = unpool(method, x, s)
        state = {**result, "input_shape": tuple(result["pooled"].shape),
                 "output_shape": tuple(result["output"].shape)}
        side = values["size"]
        text = (_unpooling_text(method, s, result)
                + f" · pooling input {side}×{side}: the numbers 1..{side * side} shuffled by seed {values['seed']}")
        return View(text, _draw_unpooling(method, s, result), state)

    return Explorer(controls, update, name="unpooling")
