"""Figures of lecture 10 (object detectors): anchors, anchors matched to objects, per-class PR curves.

- :func:`show_anchors`: the centres of a grid of anchors on an image, and
  some of the anchors drawn as boxes (from :func:`course.detection.grid_anchors`).
- :func:`show_matches`: ground-truth boxes and the anchors matched to each of
  them (from :func:`course.detection.match_anchors`), one colour per object.
- :func:`detection_pr_curves` / :func:`detection_pr_figure`: a detector's
  precision-recall curve for each class over a dataset, with the matching and
  the ranking of :func:`course.metrics.mean_average_precision`, so the area
  under each curve (101-point) is that function's AP at the same IoU threshold.

Boxes are ``xyxy`` pixels drawn as in :func:`course.viz.show_boxes` (patches
with gid ``"box"``), anchors as patches with gid ``"anchor"``, anchor centres
as a scatter with gid ``"anchor:centres"``.

>>> from course.detection import grid_anchors
>>> anchors = grid_anchors(4, 16, sizes=(4, 8))           # 4x4 positions, 2 anchors each
>>> fig = show_anchors(torch.rand(3, 16, 16), anchors, highlight=[10, 11])
>>> len([p for p in fig.axes[0].patches if p.get_gid() == "anchor"])
2
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle

from course._checks import check_boxes, check_float, check_tensor
from course.metrics.detection import detection_pr_curves  # re-exported: course.viz.detection_pr_curves
from course.viz.detection import pr_curve_figure, show_boxes
from course.viz.grids import root_figure
from course.viz.images import picture_axes, show_picture, to_picture

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import ColorType, LineStyleType
    from numpy.typing import ArrayLike

__all__ = ["OBJECT_COLOURS", "show_anchors", "show_matches", "detection_pr_curves", "detection_pr_figure"]

OBJECT_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45")


def _draw_box(ax: Axes, box: Sequence[float], colour: ColorType, *, gid: str, linestyle: LineStyleType = "-",
              linewidth: float = 1.0, alpha: float = 1.0) -> None:
    x1, y1, x2, y2 = box
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linestyle=linestyle,
                           linewidth=linewidth, alpha=alpha, gid=gid))


def show_anchors(image: torch.Tensor | ArrayLike, anchors: torch.Tensor,
                 highlight: Sequence[int] | torch.Tensor | None = None, *, ax: Axes | None = None,
                 title: str | None = None, color: ColorType = "yellow", size: float = 3.2) -> Figure:
    """The centres of ``anchors`` as dots on ``image``, and the anchors ``highlight`` as boxes.

    Args:
        image: ``(C, H, W)`` or ``(H, W)`` tensor or array.
        anchors: ``(A, 4)`` xyxy float tensor, e.g. from :func:`course.detection.grid_anchors`.
        highlight: indices of anchors to draw as boxes (a list or an int
            tensor); default none.
        ax: as in :func:`course.viz.show_boxes`.
        title: as in :func:`course.viz.show_boxes`.
        color: of the dots and the boxes.
        size: as in :func:`course.viz.show_boxes`.

    Returns the ``Figure`` (closed in pyplot when created here). The view is
    widened to show anchors that stick out of the image.
    """
    anchors = check_boxes("anchors", anchors, xyxy=True).detach().cpu().double()
    highlight = [] if highlight is None else [int(i) for i in torch.as_tensor(highlight).reshape(-1).tolist()]
    for i in highlight:
        if not -len(anchors) <= i < len(anchors):
            raise ValueError(f"highlight must hold indices of anchors (0 .. {len(anchors) - 1}), got {i}")
    size = check_float("size", size, minimum=0, exclusive=True)
    picture = to_picture("image", image)
    fig, ax = picture_axes(picture, size) if ax is None else (root_figure(ax), ax)
    show_picture(ax, picture)
    if title is not None:
        ax.set_title(title, fontsize=9)
    centres = ((anchors[:, :2] + anchors[:, 2:]) / 2).unique(dim=0).numpy()
    ax.scatter(centres[:, 0], centres[:, 1], s=3, color=color, gid="anchor:centres")
    for i in highlight:
        _draw_box(ax, anchors[i].tolist(), color, gid="anchor", linewidth=1.2)
    if highlight:
        chosen = anchors[highlight]
        height, width = picture.shape[:2]
        ax.set_xlim(min(-0.5, float(chosen[:, 0].min())), max(width - 0.5, float(chosen[:, 2].max())))
        ax.set_ylim(max(height - 0.5, float(chosen[:, 3].max())), min(-0.5, float(chosen[:, 1].min())))
    return fig


def show_matches(image: torch.Tensor | ArrayLike, anchors: torch.Tensor, gt_boxes: torch.Tensor, matched: torch.Tensor,
                 gt_labels: torch.Tensor | None = None, class_names: Sequence[object] | None = None, *,
                 ax: Axes | None = None, title: str | None = None, size: float = 3.2) -> Figure:
    """Ground-truth boxes (solid) and the anchors matched to each (dashed), one colour per object.

    Args:
        image: ``(C, H, W)`` or ``(H, W)`` tensor or array.
        anchors: ``(A, 4)`` xyxy.
        gt_boxes: ``(G, 4)`` xyxy, the objects.
        matched: ``(A,)`` int64, the object of each anchor or ``-1``, as
            :func:`course.detection.match_anchors` returns.
        gt_labels: ``(G,)`` class of each object, for its caption (optional).
        class_names: names of the classes in the captions (optional).
        ax: as in :func:`course.viz.show_boxes`.
        title: as in :func:`course.viz.show_boxes`.
        size: as in :func:`course.viz.show_boxes`.

    Returns the ``Figure``. Anchor patches have gid ``"anchor"`` and are
    drawn in anchor order, the objects with gid ``"box"``.
    """
    anchors = check_boxes("anchors", anchors, xyxy=True).detach().cpu()
    gt_boxes = check_boxes("gt_boxes", gt_boxes, xyxy=True).detach().cpu()
    check_tensor("matched", matched, ndim=1, integer=True)
    if len(matched) != len(anchors):
        raise ValueError(f"matched must have one entry per anchor ({len(anchors)}), got shape {tuple(matched.shape)}")
    if len(matched) and (int(matched.max()) >= len(gt_boxes) or int(matched.min()) < -1):
        raise ValueError(f"matched must hold -1 or indices of gt_boxes (0 .. {len(gt_boxes) - 1}), "
                         f"got values from {int(matched.min())} to {int(matched.max())}")
    size = check_float("size", size, minimum=0, exclusive=True)
    picture = to_picture("image", image)
    fig, ax = picture_axes(picture, size) if ax is None else (root_figure(ax), ax)
    colours = [OBJECT_COLOURS[g % len(OBJECT_COLOURS)] for g in range(len(gt_boxes))]
    for a in (matched >= 0).nonzero().squeeze(1).tolist():
        _draw_box(ax, anchors[a].tolist(), colours[int(matched[a])], gid="anchor", linestyle="--", linewidth=0.9)
    for g in range(len(gt_boxes)):
        labels = None if gt_labels is None else gt_labels[g:g + 1]
        show_boxes(image, gt_boxes[g:g + 1], labels, class_names=class_names, ax=ax, color=colours[g])
    height, width = picture.shape[:2]
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    if title is not None:
        ax.set_title(title, fontsize=9)
    return fig


def detection_pr_figure(predictions: Sequence[dict[str, torch.Tensor]], targets: Sequence[dict[str, torch.Tensor]],
                        class_names: Sequence[str] | None = None, *, iou_threshold: float = 0.5,
                        figsize: tuple[float, float] = (8.0, 2.8)) -> Figure:
    """One precision-recall panel per class (:func:`detection_pr_curves`), AP in each title.

    The AP is ``mean_average_precision(predictions, targets, [iou_threshold])``'s
    (101-point, COCO); ``class_names`` (indexable by label) name the panels.
    Returns the ``Figure`` (closed in pyplot).
    """
    from course.metrics.detection import mean_average_precision

    curves = detection_pr_curves(predictions, targets, iou_threshold)
    result = mean_average_precision(predictions, targets, [iou_threshold])
    ap = dict(zip(result["classes"].tolist(), result["ap"][0].tolist(), strict=True))
    fig, axes = plt.subplots(1, len(curves), figsize=figsize, squeeze=False)
    plt.close(fig)
    for ax, (label, curve) in zip(axes[0], curves.items(), strict=True):
        name = class_names[label] if class_names is not None else f"class {label}"
        if len(curve["precision"]):
            pr_curve_figure(curve["precision"], curve["recall"], ap=ap[label], title=name, ax=ax)
        else:
            ax.set_title(f"{name}: no detections", fontsize=10)
        ax.title.set_fontsize(9)
        if ax is not axes[0, 0]:
            ax.set_ylabel("")
            legend = ax.get_legend()
            if legend is not None:
                legend.remove()
    fig.suptitle(f"precision-recall per class at IoU {iou_threshold:g}", fontsize=10)
    fig.tight_layout()
    return fig
