"""Tests for course.viz: the figures show what the library computes, the explorers
follow their controls, nothing is left open in pyplot, bad input is named.

Figures are inspected through the gids their artists carry (see course.viz.grids):
texts are read back with ``grid_texts``, cells with ``cell_positions``, highlight
rectangles with ``patches_with_gid`` (all three from tests/figure_helpers.py).
Expected numbers come from torch or from the library's reference functions,
never from the figure code.
"""
import base64
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere in this process

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

import course.viz as viz
from course.conv import conv_output_size, conv_transpose2d, convolution_matrix, max_pool2d
from course.receptive import receptive_field
from course.upsample import max_unpool2d, unpool_bed_of_nails, unpool_nearest
from course.viz.grids import draw_grid, draw_padding, format_value, grid_axes
from figure_helpers import cell_positions, grid_texts, patches_with_gid

pytestmark = pytest.mark.usefixtures("no_figure_left_open")  # tests/conftest.py


def texts_as_array(ax, gid, shape, offset=(0, 0)):
    """The numbers written by draw_grid(gid) as an array (NaN where nothing is written)."""
    out = np.full(shape, np.nan)
    for (r, c), text in grid_texts(ax, gid).items():
        out[r - offset[0], c - offset[1]] = float(text)
    return out


def labels_of(tensor):
    """What the figures write for each value of a 2-D tensor."""
    return {(r, c): format_value(v) for r, row in enumerate(tensor.tolist()) for c, v in enumerate(row)}


def xy_set(patches):
    """``{(row, col)}`` of unit-cell rectangles."""
    return {(int(p.get_xy()[1]), int(p.get_xy()[0])) for p in patches}


def png_of(explorer) -> bytes:
    """The PNG in the explorer's Output widget."""
    (output,) = explorer.output.outputs
    assert output["output_type"] == "display_data"
    return base64.b64decode(output["data"]["image/png"])


def axes_titled(fig, start):
    (ax,) = [ax for ax in fig.axes if ax.get_title().startswith(start)]
    return ax


# ---------------------------------------------------------------------------
# Drawing helpers
# ---------------------------------------------------------------------------

def test_draw_grid_writes_values_and_cells_where_expected():
    fig, ax = plt.subplots()
    plt.close(fig)
    grid_axes(ax, 4, 5)
    draw_grid(ax, [[1.0, -0.0, 2.5], [1 / 3, 10, 12345]], top=1, left=2, gid="g")
    assert grid_texts(ax, "g") == {(1, 2): "1", (1, 3): "0", (1, 4): "2.5",
                                   (2, 2): "0.333", (2, 3): "10", (2, 4): "1.23e+04"}
    assert cell_positions(ax, "g") == [(r, c) for r in (1, 2) for c in (2, 3, 4)]
    draw_padding(ax, 4, 5, (1, 2), gid="pad")
    pad = cell_positions(ax, "pad")
    assert len(pad) == 4 * 5 - 2 * 1 and (1, 2) not in pad and (0, 0) in pad and (1, 1) in pad


def test_draw_grid_into_axes_of_a_subfigure():
    """The font size comes from the whole figure's size, also for axes in a subfigure (which has none)."""
    fig = plt.figure(figsize=(4, 2))
    plt.close(fig)
    ax = fig.subfigures(1, 2)[0].subplots()
    grid_axes(ax, 2, 2)
    draw_grid(ax, [[1, 2], [3, 4]], gid="g")
    assert grid_texts(ax, "g") == {(0, 0): "1", (0, 1): "2", (1, 0): "3", (1, 1): "4"}


# ---------------------------------------------------------------------------
# Convolution arithmetic figure
# ---------------------------------------------------------------------------

ARITHMETIC_CASES = [
    # input, kernel, stride, padding, dilation, position
    (5, 3, 1, 0, 1, (0, 0)),
    (5, 3, 2, 1, 1, (1, 2)),     # the docstring example of conv_output_size
    (4, 3, 1, 1, 1, (3, 3)),     # "same" convolution, last pixel
    (7, 3, 1, 1, 2, (2, 1)),     # dilated: the window has gaps
    (6, 2, 3, 2, 1, (2, 0)),     # window partly on padding
    (5, 5, 1, 0, 1, (0, 0)),     # kernel as large as the input
]


@pytest.mark.parametrize("n, k, s, p, d, position", ARITHMETIC_CASES)
def test_conv_arithmetic_figure_highlights_the_kernel_window(n, k, s, p, d, position):
    fig = viz.conv_arithmetic_figure(n, k, stride=s, padding=p, dilation=d, position=position)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax_in, ax_out = fig.axes
    out = conv_output_size(n, k, s, p, d)
    i, j = position

    # Cells: padding ring, input, output.
    assert len(cell_positions(ax_in, "input")) == n * n
    assert len(cell_positions(ax_in, "padding")) == (n + 2 * p) ** 2 - n * n
    assert len(cell_positions(ax_out, "output")) == out * out

    # The kernel taps, in padded coordinates: (i*s + a*d, j*s + b*d).
    taps = patches_with_gid(ax_in, "kernel")
    expected = {(i * s + a * d, j * s + b * d) for a in range(k) for b in range(k)}
    assert len(taps) == k * k and xy_set(taps) == expected
    # Cross-check with the convolution matrix: the taps inside the input are exactly
    # the input pixels row (i, j) of M touches (M leaves out those on padding).
    M = convolution_matrix(torch.ones(1, 1, k, k), (n, n), s, p, d)
    touched = {(int(col) // n + p, int(col) % n + p) for col in torch.nonzero(M[i * out + j]).flatten()}
    inside = {(r, c) for r, c in xy_set(taps) if p <= r < n + p and p <= c < n + p}
    assert inside == touched

    (window,) = patches_with_gid(ax_in, "window")
    assert window.get_xy() == (j * s, i * s)
    assert window.get_width() == window.get_height() == d * (k - 1) + 1
    assert sorted(t.get_text() for t in ax_in.texts if t.get_gid() == "kernel:text") == \
        sorted(f"w{a}{b}" for a in range(k) for b in range(k))

    (selected,) = patches_with_gid(ax_out, "selected")
    assert selected.get_xy() == (j, i)
    assert fig.get_suptitle().endswith(f"= {out}$")


def test_conv_arithmetic_figure_takes_height_width_pairs():
    fig = viz.conv_arithmetic_figure((5, 6), (3, 2), stride=(2, 1), padding=(1, 0), position=(1, 4))
    out_h, out_w = conv_output_size(5, 3, 2, 1), conv_output_size(6, 2, 1, 0)
    assert (out_h, out_w) == (3, 5)
    assert len(cell_positions(fig.axes[1], "output")) == out_h * out_w
    assert xy_set(patches_with_gid(fig.axes[0], "kernel")) == {(2 + a, 4 + b) for a in range(3) for b in range(2)}
    assert f"= {out_h}$" in fig.get_suptitle() and fig.get_suptitle().endswith(f"= {out_w}$")


def test_kernel_window_is_the_formula():
    assert viz.kernel_window((0, 1), 2, stride=2, dilation=2) == [(0, 2), (0, 4), (2, 2), (2, 4)]
    assert viz.kernel_window((1, 0), (1, 3), stride=(3, 1)) == [(3, 0), (3, 1), (3, 2)]


# ---------------------------------------------------------------------------
# Convolution matrix figure
# ---------------------------------------------------------------------------

def test_convolution_matrix_figure_is_the_syllabus_4x16_matrix():
    fig = viz.convolution_matrix_figure()          # 3x3 kernel, 4x4 input
    (ax,) = fig.axes
    M = convolution_matrix(torch.ones(1, 1, 3, 3), (4, 4))
    texts = grid_texts(ax, "M")
    assert len(cell_positions(ax, "M")) == M.numel() == 4 * 16
    assert len(texts) == int((M != 0).sum()) == 36
    # Row 0, as in the docstring of convolution_matrix: w00 w01 w02 0 w10 w11 w12 0 w20 w21 w22 0 0 0 0 0
    row0 = [texts.get((0, c), "") for c in range(16)]
    assert row0 == ["w00", "w01", "w02", "", "w10", "w11", "w12", "", "w20", "w21", "w22", "", "", "", "", ""]
    # Rows 1, 2, 3 are row 0 shifted right by 1, 4 and 5 columns.
    for row, shift in ((1, 1), (2, 4), (3, 5)):
        assert [texts.get((row, c + shift), "") for c in range(16 - shift)] == row0[:16 - shift]
    assert [t.get_text() for t in ax.get_xticklabels()][:5] == ["x00", "x01", "x02", "x03", "x10"]


def test_convolution_matrix_figure_transpose_panel():
    fig = viz.convolution_matrix_figure(3, (4, 4), transpose=True)
    assert len(fig.axes) == 2
    M_texts, MT_texts = grid_texts(fig.axes[0], "M"), grid_texts(fig.axes[1], "MT")
    assert MT_texts == {(c, r): text for (r, c), text in M_texts.items()}
    assert fig.axes[1].get_title().startswith("Mᵀ, 16×4")


def test_convolution_matrix_figure_with_a_weight_writes_its_values():
    weight = torch.tensor([[1.0, 0.0, -2.0], [0.5, 3.0, 0.0], [0.0, 0.0, 4.0]])  # zeros leave cells blank
    fig = viz.convolution_matrix_figure(weight, (5, 5), stride=2, padding=1)
    M = convolution_matrix(weight[None, None], (5, 5), stride=2, padding=1)
    texts = grid_texts(fig.axes[0], "M")
    assert set(texts) == {tuple(rc) for rc in torch.nonzero(M).tolist()}
    assert len(texts) == int((M != 0).sum())
    assert all(float(texts[r, c]) == pytest.approx(float(M[r, c]), rel=0.05) for r, c in texts)
    symbolic = grid_texts(viz.convolution_matrix_figure(weight, (5, 5), 2, 1, labels="symbolic").axes[0], "M")
    assert set(symbolic) == set(texts) and symbolic[(0, 0)] == "w11"  # padding 1: w11 meets pixel (0, 0)


# ---------------------------------------------------------------------------
# Unpooling figure
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("x, s", [(None, 2), (torch.randperm(36).view(6, 6).float(), 2),
                                  (torch.randperm(36).view(6, 6).float(), 3),
                                  (torch.randperm(35).view(5, 7).float(), 2)])
def test_unpooling_figure_shows_the_library_outputs(x, s):
    fig = viz.unpooling_figure(x, scale_factor=s)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    x = torch.tensor([[1.0, 2, 6, 3], [3, 5, 2, 1], [1, 2, 2, 1], [7, 3, 4, 8]]) if x is None else x
    values, indices = max_pool2d(x[None, None], s, return_indices=True)
    expected = {
        "x": x,
        "values": values[0, 0],
        "indices": indices[0, 0],
        "nearest": unpool_nearest(values, s)[0, 0],
        "bed_of_nails": unpool_bed_of_nails(values, s)[0, 0],
        "max_unpool": max_unpool2d(values, indices, s, output_size=x.shape)[0, 0],
    }
    for ax, (gid, tensor) in zip(fig.axes, expected.items(), strict=True):
        assert grid_texts(ax, gid) == labels_of(tensor), gid
    # Highlights: the maxima in x, and where max_unpool2d puts the values (same cells).
    landed = {tuple(rc) for rc in torch.nonzero(expected["max_unpool"]).tolist()}
    assert xy_set(patches_with_gid(fig.axes[0], "argmax")) == landed
    assert xy_set(patches_with_gid(fig.axes[5], "landed")) == landed
    assert [ax.get_title().split("\n")[0] for ax in fig.axes[3:]] == \
        ["unpool_nearest", "unpool_bed_of_nails", "max_unpool2d"]


def test_unpooling_default_matches_the_worked_example():
    fig = viz.unpooling_figure()
    assert grid_texts(fig.axes[2], "indices") == {(0, 0): "5", (0, 1): "2", (1, 0): "12", (1, 1): "15"}


# ---------------------------------------------------------------------------
# Transposed convolution, step by step
# ---------------------------------------------------------------------------

TRANSPOSED_CASES = [
    (None, None, 2, 0),                                                   # 2x2 -> 5x5, the lecture
    (None, None, 2, 1),
    (torch.tensor([[1.0, -2, 0.5], [3, 0, 1]]), torch.tensor([[1.0, 2], [3, 4]]), 1, 0),
    (torch.tensor([[2.0, 1], [1, 3]]), torch.tensor([[1.0, 0, -1], [2, 1, 0], [0, 1, 1]]), 3, 1),
]


def reference_transposed(x, kernel, stride, padding):
    x = torch.tensor([[1.0, 2], [3, 4]]) if x is None else x
    kernel = torch.ones(3, 3) if kernel is None else kernel
    return x, kernel, F.conv_transpose2d(x[None, None], kernel[None, None], stride=stride, padding=padding)[0, 0]


@pytest.mark.parametrize("x, kernel, stride, padding", TRANSPOSED_CASES)
def test_transposed_conv_steps_figure_ends_at_conv_transpose2d(x, kernel, stride, padding):
    fig = viz.transposed_conv_steps_figure(x, kernel, stride=stride, padding=padding)
    x, kernel, expected = reference_transposed(x, kernel, stride, padding)
    n = x.numel()
    output_ax = axes_titled(fig, "conv_transpose2d")
    assert grid_texts(output_ax, "output") == labels_of(expected)
    assert grid_texts(output_ax, "output") == labels_of(conv_transpose2d(x[None, None], kernel[None, None],
                                                                         stride=stride, padding=padding)[0, 0])
    step_axes = [ax for ax in fig.axes if ax.get_title().startswith("+ x[")]
    assert len(step_axes) == n
    last = step_axes[-1]
    sums = texts_as_array(last, "sum", expected.shape, offset=(padding, padding))
    np.testing.assert_allclose(sums, expected.numpy(), rtol=1e-2)


@pytest.mark.parametrize("x, kernel, stride, padding", TRANSPOSED_CASES)
def test_transposed_conv_stamp_figure_shows_partial_sums(x, kernel, stride, padding):
    x0, kernel0, expected = reference_transposed(x, kernel, stride, padding)
    H, W = x0.shape
    for step in range(x0.numel() + 1):
        fig = viz.transposed_conv_stamp_figure(x, kernel, stride=stride, padding=padding, step=step)
        assert len(fig.axes) == 4
        ax_sum = fig.axes[3]
        # The first `step` pixels (row by row) stamped, the rest not yet: torch on the masked input.
        mask = (torch.arange(H * W) < step).float().view(H, W)
        partial = F.conv_transpose2d((x0 * mask)[None, None], kernel0[None, None], stride=stride,
                                     padding=padding)[0, 0]
        assert grid_texts(ax_sum, "sum") == {(r + padding, c + padding): text
                                             for (r, c), text in labels_of(partial).items()}
        if step:
            i, j = divmod(step - 1, W)
            (frame,) = patches_with_gid(ax_sum, "stamp:outline")
            assert frame.get_xy() == (j * stride, i * stride)
            assert (frame.get_height(), frame.get_width()) == tuple(kernel0.shape)
            assert grid_texts(fig.axes[2], "stamp") == labels_of(x0[i, j] * kernel0)
            assert xy_set(patches_with_gid(fig.axes[0], "current")) == {(i, j)}
    assert grid_texts(ax_sum, "sum") == {(r + padding, c + padding): t for (r, c), t in labels_of(expected).items()}


def test_transposed_conv_steps_are_the_scatter_method():
    steps = viz.transposed_conv_steps(stride=2, padding=1)
    assert len(steps.sums) == 5 and torch.equal(steps.sums[0], torch.zeros(5, 5))
    assert [s[2:] for s in steps.stamps] == [(0, 0), (0, 2), (2, 0), (2, 2)]
    assert torch.equal(steps.cropped(4), steps.output)
    x = torch.tensor([[[[1.0, 2], [3, 4]]]])
    assert torch.equal(steps.output, conv_transpose2d(x, torch.ones(1, 1, 3, 3), stride=2, padding=1,
                                                      method="zero_insertion")[0, 0])


# ---------------------------------------------------------------------------
# Checkerboard
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("k, s, even", [(3, 2, False), (4, 2, True), (3, 1, True), (5, 3, False),
                                        (6, 3, True), (1, 2, False)])
def test_checkerboard_figure_counts_stamps(k, s, even):
    n = 4 if 3 * s + k <= 12 else 3      # numbers are written in grids of up to 12 cells a side
    fig = viz.checkerboard_figure(k, s, size=n)
    assert len(fig.axes) == 2
    counts = F.conv_transpose2d(torch.ones(1, 1, n, n), torch.ones(1, 1, k, k), stride=s)[0, 0]
    assert grid_texts(fig.axes[0], "overlap") == labels_of(counts)
    assert torch.equal(viz.overlap_counts(k, s, n), counts)
    interior = counts[k - 1:counts.shape[0] - k + 1, k - 1:counts.shape[1] - k + 1]
    (frame,) = patches_with_gid(fig.axes[0], "interior")
    assert frame.get_xy() == (k - 1, k - 1) and frame.get_width() == interior.shape[1]
    title = fig.get_suptitle()
    assert (": even overlap" in title) == even and ("uneven overlap" in title) == (not even)
    assert ("is divisible" in title) == (k % s == 0)
    assert f"min/max = {interior.min():g}/{interior.max():g}" in title
    # Resize then convolve: the same everywhere (k*k).
    resize = set(grid_texts(fig.axes[1], "resize_conv").values())
    assert resize == {str(k * k)}


def test_checkerboard_figure_large_grids_have_no_numbers():
    fig = viz.checkerboard_figure(3, 4, size=8)        # 31x31: colours only
    assert grid_texts(fig.axes[0], "overlap") == {}
    assert len(cell_positions(fig.axes[0], "overlap")) == 31 * 31


# ---------------------------------------------------------------------------
# Explorers
# ---------------------------------------------------------------------------

def test_conv_arithmetic_explorer_follows_its_sliders():
    w = viz.conv_arithmetic_explorer()
    assert set(w.controls) == {"input_size", "kernel_size", "padding", "stride", "dilation", "row", "col"}
    assert w.size_label is w.label
    # CSS classes a browser test can select: .course-explorer-conv-arithmetic .course-control-stride .noUi-handle
    assert {"course-explorer", "course-explorer-conv-arithmetic"} <= set(w._dom_classes)
    assert "course-control-stride" in w.controls["stride"]._dom_classes
    assert "course-explorer-label" in w.label._dom_classes
    settings = [dict(input_size=5, kernel_size=3, padding=0, stride=1, dilation=1),
                dict(input_size=5, kernel_size=3, padding=1, stride=2, dilation=1),
                dict(input_size=8, kernel_size=3, padding=0, stride=2, dilation=2),
                dict(input_size=2, kernel_size=2, padding=0, stride=1, dilation=1),
                dict(input_size=9, kernel_size=4, padding=3, stride=3, dilation=1)]
    w.controls["stride"].value = 2            # one slider, as a student moves it
    assert w.size_label.value == f"output size = {conv_output_size(5, 3, 2)}"
    for setting in settings:
        w.set_values(**setting)               # several at once, one redraw
        size = conv_output_size(**{"size" if k == "input_size" else k: v for k, v in setting.items()})
        assert w.size_label.value == f"output size = {size}"
        assert w.state()["output_size"] == size and w.state()["error"] is None
        assert w.controls["row"].max == w.controls["col"].max == size - 1
        assert not w.controls["row"].disabled
        assert png_of(w).startswith(b"\x89PNG")
        assert len(cell_positions(w.figure.axes[1], "output")) == size * size

    # Move the output position: the figure's window moves with it.
    w.controls["row"].value = 1
    w.controls["col"].value = 2
    assert w.state()["position"] == (1, 2)
    assert xy_set(patches_with_gid(w.figure.axes[0], "kernel")) == set(viz.kernel_window((1, 2), 4, 3, 3))
    assert w.state()["window"] == viz.kernel_window((1, 2), 4, 3, 3)


def test_conv_arithmetic_explorer_clamps_the_position_when_the_output_shrinks():
    w = viz.conv_arithmetic_explorer(input_size=7, kernel_size=3)
    w.controls["row"].value = 4
    w.controls["stride"].value = 3            # output 7 -> 2
    assert w.size_label.value == "output size = 2"
    assert w.controls["row"].max == 1 and w.controls["row"].value == 1
    assert xy_set(patches_with_gid(w.figure.axes[1], "selected")) == {(1, 0)}


def test_conv_arithmetic_explorer_shows_an_error_instead_of_raising():
    w = viz.conv_arithmetic_explorer(input_size=5, kernel_size=3)
    w.controls["kernel_size"].value = 5
    w.controls["dilation"].value = 3          # spans 13 > 5: no output
    assert w.size_label.value.startswith("⚠")
    assert "spans 13 pixels" in w.size_label.value and "output size =" not in w.size_label.value
    assert w.figure is None and w.output.outputs == ()
    assert w.state()["error"] and w.controls["row"].disabled
    w.controls["padding"].value = 3           # 5 + 6 = 11 < 13: still none
    assert w.size_label.value.startswith("⚠")
    w.controls["input_size"].value = 9        # 9 + 6 = 15 >= 13: back
    assert w.size_label.value == f"output size = {conv_output_size(9, 5, 1, 3, 3)}"
    assert not w.controls["row"].disabled and png_of(w).startswith(b"\x89PNG")


def test_checkerboard_explorer_label_flips_between_even_and_uneven():
    w = viz.checkerboard_explorer(kernel_size=3, stride=2)
    assert set(w.controls) == {"kernel_size", "stride", "size"}
    assert w.state()["ratio"] == 0.25          # counts 1, 2 and 4 in the interior
    assert "is not divisible" in w.label.value and "uneven overlap" in w.label.value
    w.controls["kernel_size"].value = 4       # one slider: 4 % 2 == 0
    assert w.state()["even"] and "even overlap" in w.label.value and "uneven" not in w.label.value
    w.controls["stride"].value = 3            # 4 % 3 != 0
    assert not w.state()["even"] and "uneven overlap" in w.label.value
    for k, s in [(6, 3), (5, 4)]:
        w.set_values(kernel_size=k, stride=s)
        state = w.state()
        assert state["divisible"] == (k % s == 0) == state["even"]
        label = w.label.value
        assert ("uneven overlap" in label) == (k % s != 0)
        assert ("is not divisible" in label) == (k % s != 0)
        assert f"= {state['ratio']:.2f}" in label and state["ratio"] == state["min"] / state["max"]
        assert png_of(w).startswith(b"\x89PNG")
    w.controls["size"].value = 1              # no interior: a message, not an exception
    assert w.label.value.startswith("⚠") and "size must be at least 2" in w.label.value


def test_transposed_conv_explorer_steps_to_conv_transpose2d():
    x = torch.tensor([[1.0, 2], [3, 4]])
    w = viz.transposed_conv_explorer()
    step = w.controls["step"]
    assert (step.min, step.max) == (0, 4)
    for k in (0, 2, 4):                       # (every step: test_transposed_conv_stamp_figure_...)
        step.value = k
        mask = (torch.arange(4) < k).float().view(2, 2)
        partial = F.conv_transpose2d((x * mask)[None, None], torch.ones(1, 1, 3, 3), stride=2)[0, 0]
        assert torch.equal(w.state()["sum"], partial)
        assert w.label.value.startswith(f"step {k} of 4")
    final = conv_transpose2d(x[None, None], torch.ones(1, 1, 3, 3), stride=2)[0, 0]
    assert torch.equal(w.state()["sum"], final) and torch.equal(w.state()["output"], final)
    assert "conv_transpose2d" in w.label.value
    assert grid_texts(w.figure.axes[3], "sum") == labels_of(final)

    w.controls["padding"].value = 1
    assert torch.equal(w.state()["sum"], F.conv_transpose2d(x[None, None], torch.ones(1, 1, 3, 3), stride=2,
                                                            padding=1)[0, 0])
    w.set_values(stride=1, padding=2)         # 4x4 output cropped by 2 on each side: nothing left
    assert w.label.value.startswith("⚠") and "padding=2" in w.label.value and w.figure is None
    w.controls["padding"].value = 0
    assert w.state()["sum"].shape == (4, 4)


# ---------------------------------------------------------------------------
# Images, segmentation, receptive fields
# ---------------------------------------------------------------------------

def test_show_images_one_axes_per_image():
    images = torch.rand(5, 3, 8, 8)
    fig = viz.show_images(images, titles=[f"#{i}" for i in range(5)], ncols=3)
    assert len(fig.axes) == 5 and [ax.get_title() for ax in fig.axes] == [f"#{i}" for i in range(5)]
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), images[2].permute(1, 2, 0).numpy(), rtol=1e-6)
    assert fig.get_figwidth() <= 8
    gray = viz.show_images([torch.rand(1, 6, 6), np.zeros((4, 4))])
    assert len(gray.axes) == 2 and gray.axes[0].images[0].get_array().shape == (6, 6)


def test_show_segmentation_overlays_fixed_class_colours():
    image = torch.rand(3, 6, 8)
    mask = torch.zeros(6, 8, dtype=torch.int64)
    mask[1:4, 2:6] = 2
    mask[5, :] = 1
    logits = torch.zeros(4, 6, 8)
    logits[3, :3] = 1.0                          # predicts class 3 in the top rows, 0 elsewhere
    fig = viz.show_segmentation(image, mask, pred=logits)
    assert [ax.get_title() for ax in fig.axes] == ["image", "label map", "prediction"]
    colours = viz.segmentation_colors(4)
    overlay = fig.axes[1].images[1].get_array()
    np.testing.assert_allclose(overlay[2, 3, :3], colours[2])
    np.testing.assert_allclose(overlay[5, 0, :3], colours[1])
    assert overlay[0, 0, 3] == 0 and overlay[2, 3, 3] > 0      # background transparent
    predicted = fig.axes[2].images[1].get_array()
    np.testing.assert_allclose(predicted[0, 0, :3], colours[3])
    assert predicted[4, 0, 3] == 0
    # The colour of a class does not depend on how many classes there are.
    np.testing.assert_allclose(viz.segmentation_colors(21)[:4], colours)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["class 1", "class 2", "class 3"]       # class 0 is not coloured
    two = viz.show_segmentation(image[0], mask, class_names=["bg", "road", "car"], ignore_index=255)
    assert len(two.axes) == 2 and [t.get_text() for t in two.legends[0].get_texts()] == ["road", "car"]


def test_receptive_field_figure_draws_rf_region():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Conv2d(1, 1, 3, stride=2, padding=1),
                              torch.nn.Conv2d(1, 1, 3, stride=2, padding=1))
    rf = receptive_field(net, (1, 1, 12, 12))
    for position in [(0, 0), (1, 2), (2, 2)]:
        fig = viz.receptive_field_figure(rf, position)
        top, left, bottom, right = rf.region(*position)
        (region,) = patches_with_gid(fig.axes[0], "region")
        assert region.get_xy() == (left, top)
        assert (region.get_width(), region.get_height()) == (right - left + 1, bottom - top + 1) == (rf.size,) * 2
        assert xy_set(patches_with_gid(fig.axes[1], "unit")) == {position}
        assert len(cell_positions(fig.axes[0], "input")) == 144


# ---------------------------------------------------------------------------
# Bad input: the message names the argument and the value
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, match", [
    (lambda: viz.conv_arithmetic_figure(5, 0), ValueError, r"kernel_size must be an int >= 1, got 0"),
    (lambda: viz.conv_arithmetic_figure(5, 3, stride=1.5), TypeError, r"stride must be an int, got float 1.5"),
    (lambda: viz.conv_arithmetic_figure(5, 3, stride=2, position=(2, 0)), ValueError,
     r"position must be a \(row, col\) inside the 2x2 output.*got \(2, 0\)"),
    (lambda: viz.conv_arithmetic_figure(5, 3, position=3), TypeError, r"position must be a pair of ints.*got 3"),
    (lambda: viz.conv_arithmetic_figure(3, 3, dilation=2), ValueError,
     r"kernel_size=3 with dilation=2 spans 5 pixels"),
    (lambda: viz.kernel_window((-1, 0), 3), ValueError, r"position\[0\] must be an int >= 0, got -1"),
    (lambda: viz.conv_arithmetic_explorer(stride=0), ValueError, r"stride must be an int >= 1, got 0"),
    (lambda: viz.convolution_matrix_figure(torch.ones(2, 1, 3, 3)), ValueError,
     r"weight_or_kernel_size must have one input and one output channel.*got shape \(2, 1, 3, 3\)"),
    (lambda: viz.convolution_matrix_figure("3"), TypeError, r"weight_or_kernel_size must be an int, got str '3'"),
    (lambda: viz.convolution_matrix_figure(3, labels="names"), ValueError, r"labels must be one of .*got 'names'"),
    (lambda: viz.unpooling_figure(torch.zeros(1, 4, 4)), ValueError, r"x must be a 2-D tensor, got shape \(1, 4, 4\)"),
    (lambda: viz.unpooling_figure([[1, 2, 3]]), ValueError, r"x must be at least .*2x2.*got shape \(1, 3\)"),
    (lambda: viz.unpooling_figure(scale_factor=0), ValueError, r"scale_factor must be an int >= 1, got 0"),
    (lambda: viz.transposed_conv_stamp_figure(step=5), ValueError, r"step must be in 0..4 .*got 5"),
    (lambda: viz.transposed_conv_steps_figure(kernel=[1, 2, 3]), ValueError,
     r"kernel must be a 2-D tensor, got shape \(3,\)"),
    (lambda: viz.transposed_conv_steps_figure(torch.ones(5, 5)), ValueError, r"at most 16 pixels.*\(5, 5\)"),
    (lambda: viz.transposed_conv_explorer(stride=(1, 2)), ValueError, r"int stride and padding.*\(1, 2\)"),
    (lambda: viz.checkerboard_figure(7, 1, size=3), ValueError, r"size must be at least 7 .*got 3"),
    (lambda: viz.checkerboard_figure(0, 1), ValueError, r"kernel_size must be an int >= 1, got 0"),
    (lambda: viz.show_images([]), ValueError, r"images must hold at least one image, got 0"),
    (lambda: viz.show_images([torch.zeros(2, 4, 4)]), ValueError, r"images\[0\] must be an image.*\(2, 4, 4\)"),
    (lambda: viz.show_images(torch.zeros(4, 4)), ValueError, r"images must be a batch.*\(4, 4\)"),
    (lambda: viz.show_segmentation(torch.rand(3, 4, 4), torch.zeros(4, 5, dtype=torch.int64)), ValueError,
     r"mask must be a label map of the image's size \(4, 4\), got shape \(4, 5\)"),
    (lambda: viz.show_segmentation(torch.rand(3, 4, 4), torch.full((4, 4), 3), num_classes=3), ValueError,
     r"mask values must be class indices in \[0, 3\), got 3"),
    (lambda: viz.show_segmentation(torch.rand(3, 4, 4), torch.zeros(4, 4)), TypeError,
     r"mask must be an integer label map"),
    (lambda: viz.receptive_field_figure("rf"), TypeError, r"rf must be a course.receptive.ReceptiveField.*got str"),
])
def test_bad_input_names_argument_and_value(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------
# Docstring examples; imports
# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_import_course_viz_keeps_the_backend():
    """course.viz never picks a backend: the one chosen before (inline in a notebook) stays."""
    code = ("import matplotlib; matplotlib.use('svg'); import course.viz; "
            "fig = course.viz.conv_arithmetic_figure(); print(matplotlib.get_backend())")
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "svg"


def test_explorer_text_form_says_what_it_shows_and_how_to_use_it():
    """Where widgets cannot be drawn (an untrusted notebook), the stored text stands in for the explorer."""
    w = viz.conv_arithmetic_explorer(input_size=5, kernel_size=3, stride=2, padding=1)
    bundle = w._repr_mimebundle_()
    assert bundle["text/plain"].startswith("conv-arithmetic explorer (run the notebook to use its sliders)")
    assert "output size = 3" in bundle["text/plain"]
    w.controls["padding"].value = 0
    assert repr(w).endswith("output size = 2")
