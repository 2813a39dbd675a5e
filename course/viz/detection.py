"""Detection figures: boxes drawn on an image, and a precision-recall curve.

- :func:`show_boxes`: ``xyxy`` boxes (pixels, as in :mod:`course.boxes` and
  torchvision) on an image, each with a caption ``"name 0.87"``.
- :func:`pr_curve_figure`: precision against recall, optionally with the
  precision envelope (the interpolated precision of AP) and the AP in the title.

Boxes are ``matplotlib.patches.Rectangle`` patches with gid ``"box"``, drawn
with their top-left corner at ``(x1, y1)`` and size ``(x2 - x1, y2 - y1)``
(image coordinates: ``y`` runs down), their captions texts with gid
``"box:caption"``, in the order of ``boxes``.

>>> image = torch.rand(3, 32, 32)
>>> fig = show_boxes(image, torch.tensor([[4., 6., 20., 30.]]), labels=torch.tensor([1]),
...                  scores=torch.tensor([0.875]), class_names=["background", "disk"])
>>> [(p.get_xy(), p.get_width(), p.get_height()) for p in fig.axes[0].patches]
[((4.0, 6.0), 16.0, 24.0)]
>>> [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "box:caption"]
['disk 0.88']
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from course._checks import check_boxes, check_float, check_tensor
from course.metrics.detection import precision_envelope
from course.viz.grids import root_figure
from course.viz.images import picture_axes, segmentation_colors, show_picture, to_picture

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import ColorType, LineStyleType
    from numpy.typing import ArrayLike

__all__ = ["show_boxes", "pr_curve_figure"]


def _check_per_box(name: str, value: torch.Tensor | None, n: int, *, floating: bool) -> torch.Tensor | None:
    if value is None:
        return None
    check_tensor(name, value, ndim=1, floating=floating, integer=not floating)
    if len(value) != n:
        raise ValueError(f"{name} must have one entry per box ({n}), got shape {tuple(value.shape)}")
    return value.detach().cpu()


def show_boxes(image: torch.Tensor | ArrayLike, boxes: torch.Tensor, labels: torch.Tensor | None = None,
               scores: torch.Tensor | None = None, class_names: Sequence[object] | None = None, *,
               ax: Axes | None = None, title: str | None = None, color: ColorType | None = None,
               linestyle: LineStyleType = "-", size: float = 3.2) -> Figure:
    """Draw ``xyxy`` boxes (pixels) on an image, each with a caption of its class and score.

    Args:
        image: ``(C, H, W)`` (C = 1 or 3) or ``(H, W)`` tensor or array.
        boxes: ``(N, 4)`` float tensor, ``(x1, y1, x2, y2)`` in pixels.
        labels: ``(N,)`` int tensor of classes, or None. Each class gets its
            colour from :func:`course.viz.segmentation_colors` (the same as in
            the segmentation figures) unless ``color`` is given.
        scores: ``(N,)`` float tensor of confidences, or None (ground truth).
        class_names: names indexable by label (such as a dataset's
            ``class_names``); default ``"class k"``.
        ax: draw into these axes (the image is shown in them); default a new figure.
        title: axes title.
        color: one matplotlib colour for every box (default: per class, or red).
        linestyle: of the box outlines, e.g. ``"--"`` for predictions over ground truth.
        size: width of a new figure in inches.

    Returns the ``Figure`` (closed in pyplot when created here). The boxes
    are the patches with gid ``"box"`` and their captions the texts with gid
    ``"box:caption"``: ``"name score"`` with the score to 2 decimals, only
    the name without scores, only the score without labels.
    """
    boxes = check_boxes("boxes", boxes, xyxy=True).detach().cpu().double()
    n = len(boxes)
    labels = _check_per_box("labels", labels, n, floating=False)
    scores = _check_per_box("scores", scores, n, floating=True)
    size = check_float("size", size, minimum=0, exclusive=True)
    picture = to_picture("image", image)
    names = None if class_names is None else [str(c) for c in class_names]
    if names is not None and labels is not None and n and (int(labels.max()) >= len(names) or int(labels.min()) < 0):
        raise ValueError(f"class_names must have a name for every label (0 .. {int(labels.max())}), "
                         f"got {len(names)} names")
    fig, ax = picture_axes(picture, size) if ax is None else (root_figure(ax), ax)
    show_picture(ax, picture)
    if title is not None:
        ax.set_title(title, fontsize=9)

    colours = segmentation_colors(int(labels.max()) + 1) if labels is not None and n else None
    for k in range(n):
        x1, y1, x2, y2 = boxes[k].tolist()
        if color is not None:
            edge = color
        elif colours is not None and labels is not None:
            edge = colours[int(labels[k])] if int(labels[k]) > 0 else (1.0, 1.0, 1.0)
        else:
            edge = "red"
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=edge, linewidth=1.8,
                               linestyle=linestyle, gid="box"))
        parts = []
        if labels is not None:
            label = int(labels[k])
            parts.append(names[label] if names is not None else f"class {label}")
        if scores is not None:
            parts.append(f"{float(scores[k]):.2f}")
        if parts:
            ax.text(x1, y1, " ".join(parts), fontsize=7, color="white", va="bottom", ha="left",
                    bbox={"facecolor": edge, "edgecolor": "none", "alpha": 0.8, "pad": 1},
                    clip_on=True, gid="box:caption")
    return fig


def pr_curve_figure(precision: torch.Tensor | ArrayLike, recall: torch.Tensor | ArrayLike, ap: float | None = None, *,
                    envelope: bool = True, title: str | None = None, ax: Axes | None = None) -> Figure:
    """Precision against recall, a step curve, with the precision envelope dashed.

    Args:
        precision: 1-D tensor or array, the precision of each point of a
            precision-recall curve (any order, e.g. that of
            ``course.metrics.precision_recall_curve``).
        recall: 1-D tensor or array, the recall of each point, as long as ``precision``.
        ap: a number, written in the title (``"AP = 0.604"``), or None.
        envelope: also draw ``max_{r' >= r} P(r')``, the interpolated precision
            (gid ``"envelope"``); the curve itself has gid ``"pr"``.
        title: axes title, default ``"precision-recall curve"`` (followed by ``AP = ...`` when ``ap`` is given).
        ax: draw into these axes; default a new figure (closed in pyplot).

    Returns the ``Figure``.
    """
    arrays = []
    for name, value in (("precision", precision), ("recall", recall)):
        array = value.detach().cpu().double().numpy() if isinstance(value, torch.Tensor) else np.asarray(value, float)
        if array.ndim != 1 or len(array) == 0:
            raise ValueError(f"{name} must be a non-empty 1-D tensor, got shape {tuple(array.shape)}")
        if not np.all((array >= 0) & (array <= 1)):
            raise ValueError(f"{name} must hold values in [0, 1], got {array[~((array >= 0) & (array <= 1))][0]}")
        arrays.append(array)
    p, r = arrays
    if len(p) != len(r):
        raise ValueError(f"precision and recall must have the same length, got {len(p)} and {len(r)}")
    if ap is not None:
        ap = check_float("ap", ap)
    order = np.lexsort((-p, r))              # by recall; at equal recall the best precision first
    p, r = p[order], r[order]
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 3.4))
        plt.close(fig)
    else:
        fig = root_figure(ax)
    ax.plot(r, p, drawstyle="steps-pre", marker="o", markersize=3, color="C0", label="precision", gid="pr")
    if envelope:
        interpolated = precision_envelope(torch.from_numpy(p.copy())).numpy()   # what AP interpolates
        ax.plot(r, interpolated, drawstyle="steps-pre", linestyle="--", color="C3",
                label="envelope (interpolated)", gid="envelope")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    text = title or "precision-recall curve"
    if ap is not None:
        text += f", AP = {ap:.3f}"
    ax.set_title(text, fontsize=10)
    fig.tight_layout()
    return fig
