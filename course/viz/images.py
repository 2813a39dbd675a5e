"""Images, segmentation masks and receptive fields.

- :func:`show_images`: a grid of images with titles.
- :func:`show_segmentation`: an image, its label map and a prediction, the
  labels overlaid in fixed class colours (:func:`segmentation_colors`), so a
  class has the same colour in every figure of the course.
- :func:`receptive_field_figure`: the input pixels one output unit sees,
  from ``course.receptive``.

Images follow the library's convention: ``(C, H, W)`` float tensors (``C`` 1
or 3, values in ``[0, 1]``); label maps are ``(H, W)`` int64.

>>> image = torch.rand(3, 8, 8)
>>> mask = torch.zeros(8, 8, dtype=torch.int64); mask[2:6, 2:6] = 1
>>> fig = show_segmentation(image, mask, pred=mask.roll(1, dims=1))
>>> [ax.get_title() for ax in fig.axes]
['image', 'label map', 'prediction']
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import Colormap, ListedColormap
from matplotlib.patches import Patch, Rectangle

from course._checks import check_float, check_int
from course.viz.grids import (
    INPUT_COLOR,
    KERNEL_COLOR,
    OUTPUT_COLOR,
    PADDING_COLOR,
    SELECT_COLOR,
    check_position,
    draw_cells,
    draw_grid,
    grid_axes,
    highlight_cells,
    outline_cells,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

    from course.receptive import ReceptiveField

__all__ = ["to_picture", "show_picture", "picture_axes", "show_images", "segmentation_colors", "segmentation_cmap",
           "show_segmentation", "receptive_field_figure"]


# --------------------------------------------------------------------------- images

def to_picture(name: str, image: torch.Tensor | ArrayLike) -> np.ndarray:
    """A ``(C, H, W)`` / ``(H, W)`` tensor or array as an ``(H, W)`` or ``(H, W, 3)`` numpy array.

    Floats outside ``[0, 1]`` (a normalised image) are rescaled to ``[0, 1]``
    by their min and max; uint8 is divided by 255.
    """
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.dtype == torch.bool:
            image = image.float()
        array = image.numpy()
    else:
        array = np.asarray(image)
    if array.dtype == np.uint8:
        array = array / 255.0
    array = array.astype(float)
    if array.ndim == 3 and array.shape[0] in (1, 3):
        array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    elif array.ndim != 2:
        raise ValueError(f"{name} must be an image (C, H, W) with C = 1 or 3, or (H, W), "
                         f"got shape {tuple(array.shape)}")
    low, high = float(np.nanmin(array)), float(np.nanmax(array))
    if low < 0 or high > 1:
        array = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return array


def show_picture(ax: Axes, image: np.ndarray, cmap: str | Colormap = "gray") -> None:
    """Draw a :func:`to_picture` array on ``ax``, pixels as squares, values in ``[0, 1]``, no ticks."""
    if image.ndim == 2:
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()


def picture_axes(picture: np.ndarray, size: float) -> tuple[Figure, Axes]:
    """A new figure for one :func:`to_picture` array: ``size`` inches wide (at most 8), room for a title.

    The figure is closed in pyplot (returned, not shown twice in a notebook).

    >>> fig, ax = picture_axes(np.zeros((20, 40)), size=4)      # a 20x40 picture
    >>> fig.get_size_inches().tolist()                           # 4 wide, 4 * 20/40 + 0.3 high
    [4.0, 2.3]
    """
    height, width = picture.shape[:2]
    fig, ax = plt.subplots(figsize=(min(size, 8.0), min(size, 8.0) * height / width + 0.3))
    plt.close(fig)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.3 / fig.get_figheight())
    return fig, ax


def show_images(images: torch.Tensor | Sequence[torch.Tensor | np.ndarray], titles: Sequence[object] | None = None,
                ncols: int | None = None, *, cmap: str | Colormap = "gray", size: float = 1.6) -> Figure:
    """Show images in a grid, ``ncols`` per row (default: up to 6), with optional titles.

    Args:
        images: a batch ``(N, C, H, W)`` or a list of ``(C, H, W)`` / ``(H, W)``
            tensors or arrays (``C`` 1 or 3). Float values outside ``[0, 1]``
            are rescaled by min and max, per image.
        titles: one string per image, or None.
        ncols: images per row; default up to 6.
        cmap: colour map of single-channel images.
        size: width of one image in inches (the figure stays <= 8 in wide).

    Returns a ``Figure`` with one axes per image.

    >>> fig = show_images(torch.rand(5, 3, 16, 16), titles=list("abcde"), ncols=3)
    >>> len(fig.axes), fig.axes[4].get_title()
    (5, 'e')
    """
    if isinstance(images, torch.Tensor):
        if images.dim() != 4:
            raise ValueError(f"images must be a batch (N, C, H, W) or a list of images, "
                             f"got a tensor of shape {tuple(images.shape)}")
        images = list(images)
    elif not isinstance(images, (list, tuple)):
        raise TypeError(f"images must be a batch tensor (N, C, H, W) or a list of images, "
                        f"got {type(images).__name__}")
    if len(images) == 0:
        raise ValueError("images must hold at least one image, got 0")
    arrays = [to_picture(f"images[{i}]", image) for i, image in enumerate(images)]
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != len(arrays):
            raise ValueError(f"titles must have one entry per image ({len(arrays)}), got {len(titles)}")
    n = len(arrays)
    ncols = min(n, 6) if ncols is None else check_int("ncols", ncols, minimum=1)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    size = min(check_float("size", size, minimum=0, exclusive=True), 7.8 / ncols)
    aspect = max(a.shape[0] / a.shape[1] for a in arrays)
    title_space = 0.3 if titles is not None else 0.05
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size * aspect + title_space) * nrows),
                             squeeze=False)
    plt.close(fig)
    for k, ax in enumerate(axes.flat):
        if k >= n:
            fig.delaxes(ax)
            continue
        show_picture(ax, arrays[k], cmap)
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99 - title_space / fig.get_figheight() * 0.5,
                        wspace=0.05, hspace=title_space / size + 0.05)
    return fig


# --------------------------------------------------------------------------- segmentation

def segmentation_colors(num_classes: int) -> np.ndarray:
    """Fixed RGB colours ``(num_classes, 3)`` for label maps: class ``k`` always gets the same.

    Class 0 (the background in the course's datasets) is black; then the ten
    ``tab10`` colours, the light half of ``tab20``, then ``tab20b`` and
    ``tab20c``, repeating after 61 classes.

    >>> segmentation_colors(3).round(2).tolist()
    [[0.0, 0.0, 0.0], [0.12, 0.47, 0.71], [1.0, 0.5, 0.05]]
    """
    num_classes = check_int("num_classes", num_classes, minimum=1)
    palette = np.concatenate([np.zeros((1, 3)), _listed_colours("tab10"), _listed_colours("tab20")[1::2],
                              _listed_colours("tab20b"), _listed_colours("tab20c")])
    return palette[np.arange(num_classes) % len(palette)]


def _listed_colours(name: str) -> np.ndarray:
    """The ``N`` colours of a colormap that is a list of colours (``tab10``: 10), as ``(N, 3)`` RGB."""
    cmap = matplotlib.colormaps[name]
    return cmap(np.arange(cmap.N))[:, :3]


def segmentation_cmap(num_classes: int) -> ListedColormap:
    """The colours of :func:`segmentation_colors` as a colormap.

    Use as ``imshow(mask, cmap=..., vmin=0, vmax=num_classes - 1)``.
    """
    return ListedColormap(segmentation_colors(num_classes), name=f"segmentation{num_classes}")


def _label_map(name: str, labels: torch.Tensor | ArrayLike, shape: Sequence[int]) -> np.ndarray:
    """``labels`` as an ``(H, W)`` int array; ``(C, H, W)`` scores become their argmax over C."""
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(np.asarray(labels))
    labels = labels.detach().cpu()
    if labels.is_floating_point() and labels.dim() == 3:
        labels = labels.argmax(0)          # scores / logits (C, H, W) -> predicted class
    elif labels.dim() == 3 and labels.shape[0] == 1:
        labels = labels[0]
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer label map (H, W) or float scores (C, H, W), "
                        f"got dtype {labels.dtype} and shape {tuple(labels.shape)}")
    if tuple(labels.shape) != tuple(shape):
        raise ValueError(f"{name} must be a label map of the image's size {tuple(shape)}, "
                         f"got shape {tuple(labels.shape)}")
    return labels.numpy().astype(np.int64)


def _overlay(labels: np.ndarray, colours: np.ndarray, alpha: float, ignore_index: int | None) -> np.ndarray:
    """RGBA image: each class in its colour at ``alpha``, class 0 transparent, ignored pixels white."""
    ignored = labels == ignore_index if ignore_index is not None else np.zeros(labels.shape, dtype=bool)
    rgba = np.zeros(labels.shape + (4,))
    classes = np.where(ignored, 0, labels)
    rgba[..., :3] = colours[classes]
    rgba[..., 3] = np.where(classes > 0, alpha, 0.0)
    rgba[ignored] = (1.0, 1.0, 1.0, 0.8)
    return rgba


def show_segmentation(image: torch.Tensor | ArrayLike, mask: torch.Tensor | ArrayLike,
                      pred: torch.Tensor | ArrayLike | None = None, num_classes: int | None = None, *,
                      class_names: Sequence[object] | None = None, alpha: float = 0.55,
                      ignore_index: int | None = None) -> Figure:
    """An image, its label map overlaid, and (optionally) a prediction overlaid.

    Args:
        image: ``(C, H, W)`` (C = 1 or 3) or ``(H, W)``.
        mask: the target label map ``(H, W)`` (or ``(1, H, W)``), integers.
        pred: a predicted label map ``(H, W)``, or scores ``(C, H, W)``
            (their argmax is taken), or None.
        num_classes: fixes the colours' range and checks the labels (default:
            the largest label + 1). Colours come from :func:`segmentation_colors`:
            class 0, the background, is left transparent.
        class_names: names for the legend of the classes present, class 0
            excepted (default ``class k``).
        alpha: opacity of the overlaid label maps, in ``[0, 1]``.
        ignore_index: a label (such as 255) drawn white and left out of the checks.

    Returns a ``Figure`` with the axes ``image``, ``label map`` and ``prediction``;
    each overlay is the axes' second image (``ax.images[1]``, RGBA).
    """
    picture = to_picture("image", image)
    shape = picture.shape[:2]
    target = _label_map("mask", mask, shape)
    predicted = None if pred is None else _label_map("pred", pred, shape)
    alpha = check_float("alpha", alpha, minimum=0)
    maps = [("mask", target)] + ([] if predicted is None else [("pred", predicted)])
    valid = [m[m != ignore_index] if ignore_index is not None else m.ravel() for _, m in maps]
    largest = max((int(v.max()) for v in valid if v.size), default=0)
    num_classes = largest + 1 if num_classes is None else check_int("num_classes", num_classes, minimum=1)
    for name, labels in maps:
        bad = (labels < 0) | (labels >= num_classes)
        if ignore_index is not None:
            bad &= labels != ignore_index
        if bad.any():
            allowed = f"[0, {num_classes})" + (f" or ignore_index={ignore_index}" if ignore_index is not None else "")
            raise ValueError(f"{name} values must be class indices in {allowed}, got {int(labels[bad][0])}")
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) < num_classes:
            raise ValueError(f"class_names must name all {num_classes} classes, got {len(class_names)}")
    colours = segmentation_colors(num_classes)

    ncols = len(maps) + 1
    width = min(7.8, 2.4 * ncols)
    panel = width / ncols
    height = panel * shape[0] / shape[1] + 0.75
    fig, axes = plt.subplots(1, ncols, figsize=(width, height))
    plt.close(fig)
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.3 / height, bottom=0.45 / height, wspace=0.04)
    show_picture(axes[0], picture)
    axes[0].set_title("image", fontsize=9)
    for ax, (name, labels) in zip(axes[1:], maps, strict=True):
        show_picture(ax, picture)
        ax.imshow(_overlay(labels, colours, alpha, ignore_index), interpolation="nearest")
        ax.set_title("label map" if name == "mask" else "prediction", fontsize=9)

    # Class 0 is not coloured (the image shows through), so the legend starts at class 1.
    present = sorted(set(np.unique(np.concatenate([m.ravel() for _, m in maps]))) - {ignore_index, 0})
    names = class_names or [f"class {k}" for k in range(num_classes)]
    handles = [Patch(facecolor=colours[k], edgecolor="0.3", label=names[k]) for k in present]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
    return fig


# --------------------------------------------------------------------------- receptive fields

def receptive_field_figure(rf: ReceptiveField, position: Sequence[int] = (0, 0)) -> Figure:
    """The input pixels that output unit ``position`` of a network sees.

    ``rf`` is a ``course.receptive.ReceptiveField`` (from ``receptive_field``).
    Left: the input (its size from ``rf.input_size``), the region
    ``rf.region(i, j)`` filled (gid ``"region"``; where it leaves the image it
    reaches into the padding). Right: the output map with unit ``(i, j)``
    (gid ``"unit"``). Grids are drawn cell by cell up to 32 cells a side.
    Fields that differ per axis (a 1x7 kernel) are drawn as the rectangle they are.

    >>> from course.receptive import receptive_field
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Conv2d(1, 1, 3, stride=2))
    >>> fig = receptive_field_figure(receptive_field(net, (1, 1, 8, 8)), position=(1, 2))
    >>> region = [p for p in fig.axes[0].patches if p.get_gid() == "region"][0]
    >>> region.get_xy(), region.get_width()
    ((3, 1), 5)
    """
    from course.receptive import ReceptiveField

    if not isinstance(rf, ReceptiveField):
        raise TypeError(f"rf must be a course.receptive.ReceptiveField (from receptive_field), "
                        f"got {type(rf).__name__}")
    H, W = rf.input_size[2:]
    out_h, out_w = rf.output_shape[-2:]
    i, j = check_position("position", position, (out_h, out_w))
    top, left, bottom, right = rf.region(i, j)

    # The view: the image plus whatever part of the field lies in the padding.
    y0, x0 = min(0, top), min(0, left)
    y1, x1 = max(H, bottom + 1), max(W, right + 1)
    fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(7.2, 3.9),
                                        gridspec_kw={"width_ratios": [1, 1]})
    plt.close(fig)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.8, wspace=0.15)
    grid_axes(ax_in, y1 - y0, x1 - x0, top=y0, left=x0, frame=(max(y1 - y0, x1 - x0),) * 2,
              title=f"input {H}×{W}")
    if max(y1 - y0, x1 - x0) <= 32:  # cell by cell, the padding dashed
        draw_cells(ax_in, [(r, c) for r in range(y0, y1) for c in range(x0, x1) if not (0 <= r < H and 0 <= c < W)],
                   facecolor=PADDING_COLOR, edgecolor="0.55", linestyle="--", gid="padding")
        draw_grid(ax_in, shape=(H, W), facecolor=INPUT_COLOR, gid="input")
    else:
        ax_in.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=PADDING_COLOR, edgecolor="0.55",
                                  linestyle="--", gid="padding"))
        ax_in.add_patch(Rectangle((0, 0), W, H, facecolor=INPUT_COLOR, edgecolor="0.35", gid="input"))
    ax_in.add_patch(Rectangle((left, top), right - left + 1, bottom - top + 1, facecolor=KERNEL_COLOR,
                              alpha=0.45, edgecolor=KERNEL_COLOR, linewidth=2, gid="region", zorder=2))
    if (top, left) < (0, 0) or bottom >= H or right >= W:
        ax_in.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="0.6", linestyle="--",
                                  gid="padding"))

    grid_axes(ax_out, out_h, out_w, frame=(max(out_h, out_w),) * 2, title=f"output {out_h}×{out_w}")
    if max(out_h, out_w) <= 32:
        draw_grid(ax_out, shape=(out_h, out_w), facecolor=OUTPUT_COLOR, gid="output")
    else:
        ax_out.add_patch(Rectangle((0, 0), out_w, out_h, facecolor=OUTPUT_COLOR, edgecolor="0.35", gid="output"))
    highlight_cells(ax_out, [(i, j)], color=SELECT_COLOR, alpha=0.8, gid="unit")
    outline_cells(ax_out, i, j, color=SELECT_COLOR, gid="unit:outline")
    (size_h, size_w), (stride_h, stride_w) = rf.size_hw, rf.stride_hw
    stride = f"{stride_h}" if stride_h == stride_w else f"{stride_h}×{stride_w}"
    fig.suptitle(f"Receptive field of output unit ({i}, {j}): {size_h}×{size_w} pixels, stride {stride}\n"
                 f"rows {top}..{bottom}, columns {left}..{right} (outside the image: padding)", fontsize=10)
    return fig
