"""Explorers for evaluating detections: IoU, precision-recall at a threshold, NMS (lectures 08 and 10).

- :func:`iou_explorer`: two boxes whose position and size are sliders; the
  intersection is shaded, the label works out ``IoU = |A ∩ B| / |A ∪ B|``
  with :func:`course.metrics.box_iou`.
- :func:`pr_threshold_explorer`: scored detections on a scene and a
  score-threshold slider; the kept detections are coloured TP / FP (matched
  as :func:`course.metrics.mean_average_precision` does), the missed objects
  marked, and the point of the precision-recall curve at that threshold moves
  along the curve (:func:`course.metrics.precision_recall_curve`,
  :func:`course.metrics.average_precision`).
- :func:`nms_explorer`: overlapping detections and an IoU-threshold slider;
  the boxes :func:`course.detection.nms` keeps are solid, the others dashed.

Every number in a label comes from the library function named, and is also in
``explorer.state()``. The PR and NMS explorers draw their figure once (per IoU
threshold) and restyle its artists when a slider moves, so ``explorer.figure``
stays the same ``Figure`` object between redraws. Artists carry gids for code that inspects the figures:
box patches ``"box:a"``, ``"box:b"``, ``"intersection"`` (IoU); ``"truth"``,
``"missed"``, ``"tp"``, ``"fp"``, ``"below"`` and the line ``"pr"``, the
point ``"threshold-point"`` (PR); ``"kept"``, ``"suppressed"`` (NMS).

>>> w = iou_explorer()                           # A = (2, 2, 12, 12), B = (5, 4, 15, 14)
>>> w.state()["intersection"], w.state()["union"], round(w.state()["iou"], 3)
(56.0, 144.0, 0.389)
>>> w.set_values(b_x=16, b_y=16)                 # moved apart
>>> w.state()["iou"]
0.0
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from course._checks import check_boxes, check_float, check_int, check_tensor
from course.boxes import box_area
from course.detection import nms
from course.metrics import average_precision, box_iou, match_detections, precision_recall_curve
from course.viz.detection import pr_curve_figure
from course.viz.detectors import OBJECT_COLOURS
from course.viz.explorer import Controls, Explorer, Values, View, dropdown, float_slider, slider
from course.viz.images import show_picture, to_picture

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import ColorType, LineStyleType
    from numpy.typing import ArrayLike

__all__ = ["example_detections", "example_duplicates", "iou_explorer", "nms_explorer", "pr_threshold_explorer"]

TP_COLOUR, FP_COLOUR, MISSED_COLOUR, BELOW_COLOUR = "#3cb44b", "#e6194b", "#f58231", "0.55"


def _new_figure(ncols: int, width: float, height: float = 2.8) -> tuple[Figure, list[Axes]]:
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), dpi=80, squeeze=False)
    plt.close(fig)  # returned, not left open in pyplot
    return fig, list(axes[0])


def _box(ax: Axes, box: Sequence[float] | torch.Tensor, *, colour: ColorType, gid: str, linestyle: LineStyleType = "-",
         linewidth: float = 1.6, alpha: float | None = None, fill: bool = False, **kwargs: Any) -> Rectangle:
    """Draw one xyxy box ``(x1, y1, x2, y2)`` as a Rectangle patch with the given gid."""
    x1, y1, x2, y2 = (float(v) for v in box)
    patch = Rectangle((x1, y1), x2 - x1, y2 - y1, fill=fill, edgecolor=colour, linestyle=linestyle,
                      linewidth=linewidth, alpha=alpha, gid=gid, **kwargs)
    ax.add_patch(patch)
    return patch


def _caption(ax: Axes, x: float, y: float, text: str, colour: ColorType, *, alpha: float = 1.0,
             gid: str = "caption") -> None:
    ax.text(x, y, text, fontsize=6.5, color="white", va="bottom", ha="left", alpha=alpha, clip_on=True, gid=gid,
            bbox={"facecolor": colour, "edgecolor": "none", "alpha": 0.8 * alpha, "pad": 0.8})


def _check_box_tuple(name: str, box: object) -> tuple[float, float, float, float]:
    """A box given as 4 numbers ``(x1, y1, x2, y2)`` with positive width and height."""
    if not isinstance(box, (tuple, list)) or len(box) != 4:
        raise TypeError(f"{name} must be a tuple (x1, y1, x2, y2) of 4 numbers, got {box!r}")
    x1, y1, x2, y2 = (check_float(f"{name}[{i}]", v) for i, v in enumerate(box))
    if not (x1 < x2 and y1 < y2):
        raise ValueError(f"{name} must have x1 < x2 and y1 < y2, got {tuple(box)}")
    return x1, y1, x2, y2


def _check_scene_image(image: torch.Tensor | ArrayLike | None, boxes_list: Sequence[torch.Tensor]) -> np.ndarray:
    """The image to draw on, or a light grey canvas that holds every box."""
    if image is not None:
        return to_picture("image", image)
    extent = max(float(b[:, 2:].max()) if len(b) else 1.0 for b in boxes_list)
    size = int(extent) + 2
    return to_picture("image", torch.full((3, size, size), 0.93))


# --------------------------------------------------------------------------- IoU

def _scored_boxes(boxes: torch.Tensor, scores: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``boxes`` ``(N, 4)`` xyxy and ``scores`` ``(N,)``, checked (N >= 1), as float32 on the CPU."""
    boxes = check_boxes("boxes", boxes, xyxy=True).detach().cpu().float()
    check_tensor("scores", scores, ndim=1, floating=True)
    if len(scores) != len(boxes):
        raise ValueError(f"scores must have one entry per box ({len(boxes)}), got shape {tuple(scores.shape)}")
    if len(boxes) == 0:
        raise ValueError(f"boxes must hold at least one {what}")
    return boxes, scores.detach().cpu().float()


def iou_explorer(box_a: Sequence[float] = (2, 2, 12, 12), box_b: Sequence[float] = (5, 4, 15, 14), *,
                 canvas_size: int = 20) -> Explorer:
    """Two boxes A and B on a ``canvas_size`` grid; their intersection, union and IoU.

    ``IoU(A, B) = |A ∩ B| / |A ∪ B| = |A ∩ B| / (|A| + |B| - |A ∩ B|)``, from
    :func:`course.metrics.box_iou`; the areas from :func:`course.boxes.box_area`
    (the intersection is itself a box: from the larger top-left corner to the
    smaller bottom-right one, empty if they do not overlap).

    Controls (int sliders, pixels): ``"a_width"``, ``"a_height"`` (A keeps its
    top-left corner), ``"b_x"``, ``"b_y"`` (B's top-left corner), ``"b_width"``,
    ``"b_height"``. ``state()`` holds ``box_a``, ``box_b`` (xyxy lists),
    ``area_a``, ``area_b``, ``intersection``, ``union`` and ``iou``, and
    ``match_50`` / ``match_75`` (IoU >= 0.5 / 0.75). The default pair is the
    lecture's, IoU 56 / 144 = 0.39.
    """
    ax1, ay1, ax2, ay2 = _check_box_tuple("box_a", box_a)
    bx1, by1, bx2, by2 = _check_box_tuple("box_b", box_b)
    canvas_size = check_int("canvas_size", canvas_size, minimum=2)
    for name, value in (("box_a", (ax1, ay1, ax2, ay2)), ("box_b", (bx1, by1, bx2, by2))):
        if min(value) < 0 or max(value) > canvas_size or any(v != int(v) for v in value):
            raise ValueError(f"{name} must hold whole numbers in [0, canvas_size={canvas_size}], got {value}")
    a_left, a_top = int(ax1), int(ay1)
    controls = {
        "a_width": slider("A width", int(ax2 - ax1), 1, canvas_size - a_left),
        "a_height": slider("A height", int(ay2 - ay1), 1, canvas_size - a_top),
        "b_x": slider("B x", int(bx1), 0, canvas_size - 1),
        "b_y": slider("B y", int(by1), 0, canvas_size - 1),
        "b_width": slider("B width", int(bx2 - bx1), 1, canvas_size),
        "b_height": slider("B height", int(by2 - by1), 1, canvas_size),
    }

    def adjust(controls: Controls) -> None:
        """B's size cannot take it off the canvas."""
        controls["b_width"].max = canvas_size - controls["b_x"].value
        controls["b_height"].max = canvas_size - controls["b_y"].value

    def update(values: Values) -> View:
        a = torch.tensor([[a_left, a_top, a_left + values["a_width"], a_top + values["a_height"]]], dtype=torch.float64)
        b = torch.tensor([[values["b_x"], values["b_y"], values["b_x"] + values["b_width"],
                           values["b_y"] + values["b_height"]]], dtype=torch.float64)
        iou = float(box_iou(a, b)[0, 0])
        top_left = torch.maximum(a[0, :2], b[0, :2])
        bottom_right = torch.maximum(torch.minimum(a[0, 2:], b[0, 2:]), top_left)   # empty: zero size
        overlap = torch.cat([top_left, bottom_right])[None]
        area_a, area_b, inter = (float(box_area(box)[0]) for box in (a, b, overlap))
        union = area_a + area_b - inter
        state = {"box_a": a[0].tolist(), "box_b": b[0].tolist(), "area_a": area_a, "area_b": area_b,
                 "intersection": inter, "union": union, "iou": iou,
                 "match_50": iou >= 0.5, "match_75": iou >= 0.75}
        text = (f"|A| = {area_a:g}, |B| = {area_b:g}: intersection = {inter:g}, "
                f"union = {area_a:g} + {area_b:g} − {inter:g} = {union:g}, "
                f"IoU = {inter:g} / {union:g} = {iou:.3f}; "
                f"a match at IoU 0.5: {'yes' if iou >= 0.5 else 'no'}, at 0.75: {'yes' if iou >= 0.75 else 'no'}")
        return View(text, _iou_figure(a[0], b[0], overlap[0], inter, union, iou, canvas_size), state)

    return Explorer(controls, update, adjust, name="iou")


def _iou_figure(a: torch.Tensor, b: torch.Tensor, overlap: torch.Tensor, inter: float, union: float, iou: float,
                canvas_size: int) -> Figure:
    fig, (ax,) = _new_figure(1, 3.3, 3.2)
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.08, top=0.86)
    _box(ax, a, colour="C0", gid="box:a", fill=True, facecolor=(0.12, 0.47, 0.71, 0.12))
    _box(ax, b, colour="C1", gid="box:b", fill=True, facecolor=(1.0, 0.5, 0.05, 0.12))
    if inter > 0:
        _box(ax, overlap, colour="C2", gid="intersection", fill=True, facecolor=(0.17, 0.63, 0.17, 0.5),
             linewidth=0.8, hatch="//")
    ax.text(float(a[0]) + 0.3, float(a[1]) + 0.3, "A", color="C0", fontsize=10, va="top", weight="bold")
    ax.text(float(b[2]) - 0.3, float(b[3]) - 0.3, "B", color="C1", fontsize=10, ha="right", weight="bold")
    ax.set_xlim(0, canvas_size)
    ax.set_ylim(canvas_size, 0)            # image coordinates: y runs down
    ax.set_aspect("equal")
    ax.set_xticks(range(0, canvas_size + 1, 5))
    ax.set_yticks(range(0, canvas_size + 1, 5))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.25)
    ax.set_title(f"A ∩ B shaded\nIoU = {inter:g} / {union:g} = {iou:.3f}", fontsize=9)
    return fig


# --------------------------------------------------------------------------- precision-recall at a threshold

def example_detections() -> dict[str, torch.Tensor]:
    """A scene with 4 shapes and 8 scored detections of them, for :func:`pr_threshold_explorer`.

    The image and its boxes are item 2 of ``ShapesDataset(40, 96, task="detection",
    num_classes=3, max_shapes=4, seed=8)`` (lecture 08's data). The detections,
    best score first: a good box (TP), a box on nothing (FP), a rough box
    (IoU 0.66: a TP at IoU 0.5, an FP at 0.75), a duplicate, a good box, a
    poor box on the fourth object (IoU 0.31: that object is missed), a second
    duplicate and a box on nothing. Returns ``{"image": (3, 96, 96),
    "gt_boxes": (4, 4), "boxes": (8, 4), "scores": (8,)}``, float32.
    """
    from course.data import ShapesDataset  # only when the example is asked for

    image, target = ShapesDataset(40, 96, task="detection", num_classes=3, max_shapes=4, seed=8)[2]
    boxes = torch.tensor([
        [9., 28., 44., 65.],       # object 2, good
        [78., 60., 94., 80.],      # nothing there
        [45., 19., 80., 48.],      # object 1, rough: IoU 0.66
        [4., 34., 40., 68.],       # object 2 again: a duplicate
        [51., 42., 71., 62.],      # object 0, good
        [36., 66., 62., 92.],      # object 3, poor: IoU 0.31
        [40., 12., 72., 40.],      # object 1 again: a duplicate
        [2., 72., 20., 90.],       # nothing there
    ])
    scores = torch.tensor([0.92, 0.84, 0.78, 0.66, 0.58, 0.50, 0.38, 0.30])
    return {"image": image, "gt_boxes": target["boxes"], "boxes": boxes, "scores": scores}


def pr_threshold_explorer(image: torch.Tensor | ArrayLike | None = None, gt_boxes: torch.Tensor | None = None,
                          boxes: torch.Tensor | None = None, scores: torch.Tensor | None = None, *,
                          score_threshold: float = 0.5, iou_threshold: float = 0.5) -> Explorer:
    """Detections on a scene, a score threshold, and the point of the precision-recall curve it gives.

    Args:
        image: ``(C, H, W)`` or ``(H, W)`` to draw on (default: a blank canvas,
            or the image of :func:`example_detections` when no data is given).
        gt_boxes: ``(G, 4)`` xyxy, the objects. ``gt_boxes``, ``boxes`` and
            ``scores``: all three or none (then :func:`example_detections`).
        boxes: ``(D, 4)`` xyxy, the detections (one class).
        scores: ``(D,)``, the detections' scores.
        score_threshold: the starting value of the ``"score_threshold"`` slider.
        iou_threshold: 0.5 or 0.75, the starting value of the ``"iou_threshold"``
            dropdown (the IoU a detection needs to match an object).

    Matching is COCO's (``course.metrics.mean_average_precision``): in
    decreasing score, each detection takes the free object with the highest
    IoU if it reaches the IoU threshold (TP), else it is an FP. Keeping the
    detections with ``score >= t``: ``precision = TP / (TP + FP)``,
    ``recall = TP / G``, ``FN = G - TP``, read off
    :func:`course.metrics.precision_recall_curve` (``num_positives = G``);
    AP is :func:`course.metrics.average_precision` of the whole ranking,
    ``sum_i (r_i - r_{i-1}) P_i``. ``state()`` holds ``tp``, ``fp``, ``fn``,
    ``precision`` (``None`` when nothing is kept), ``recall``, ``ap``,
    ``kept`` (bool per detection), ``is_tp`` (bool per detection, at any
    threshold) and ``missed`` (indices of the objects not found).
    """
    if gt_boxes is None and boxes is None and scores is None:
        example = example_detections()
        gt_boxes, boxes, scores = example["gt_boxes"], example["boxes"], example["scores"]
        image = example["image"] if image is None else image
    elif gt_boxes is None or boxes is None or scores is None:
        missing = [name for name, value in (("gt_boxes", gt_boxes), ("boxes", boxes), ("scores", scores))
                   if value is None]
        raise ValueError(f"pass gt_boxes, boxes and scores together (or none for the example scene), "
                         f"missing {', '.join(missing)}")
    gt_boxes = check_boxes("gt_boxes", gt_boxes, xyxy=True).detach().cpu().float()
    if len(gt_boxes) == 0:
        raise ValueError("gt_boxes must hold at least one object (recall = TP / 0 is undefined)")
    boxes, scores = _scored_boxes(boxes, scores, "detection")
    if not torch.isfinite(scores).all() or float(scores.min()) < 0 or float(scores.max()) > 1:
        raise ValueError(f"scores must be numbers in [0, 1] (the slider's range), got {scores.tolist()}")
    score_threshold = check_float("score_threshold", score_threshold)
    if not 0 <= score_threshold <= 1:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
    iou_threshold = check_float("iou_threshold", iou_threshold)
    if iou_threshold not in (0.5, 0.75):
        raise ValueError(f"iou_threshold must be 0.5 or 0.75 (the dropdown's choices), got {iou_threshold}")
    picture = _check_scene_image(image, [gt_boxes, boxes])

    curves: dict[float, _Ranking] = {}          # per IoU threshold: the matching and the curve
    figures: dict[float, _PRFigure] = {}        # per IoU threshold: the figure

    def curve(iou_t: float) -> _Ranking:
        """Matching, PR curve and AP for one IoU threshold (cached: moving the score slider reuses them)."""
        if iou_t not in curves:
            is_tp, taken = match_detections(boxes, scores, gt_boxes, iou_t)
            labels = is_tp.long()
            precision, recall, thresholds = precision_recall_curve(scores.double(), labels,
                                                                   num_positives=len(gt_boxes))
            ap = average_precision(scores.double(), labels, num_positives=len(gt_boxes))
            curves[iou_t] = _Ranking(is_tp, taken, precision, recall, thresholds, ap)
        return curves[iou_t]

    controls = {
        "score_threshold": float_slider("score threshold", score_threshold, 0.0, 1.0, step=0.05),
        "iou_threshold": dropdown("match at IoU ≥", [("0.5 (VOC)", 0.5), ("0.75 (strict)", 0.75)], iou_threshold),
    }

    def update(values: Values) -> View:
        t, iou_t = float(values["score_threshold"]), float(values["iou_threshold"])
        is_tp, taken, precision, recall, thresholds, ap = curve(iou_t)
        kept = scores.double() >= t
        tp, fp = int((is_tp & kept).sum()), int((~is_tp & kept).sum())
        found = set(taken[kept & is_tp].tolist())
        missed = [g for g in range(len(gt_boxes)) if g not in found]
        point = int(torch.searchsorted(thresholds, torch.tensor([t], dtype=thresholds.dtype))[0])
        p_t, r_t = float(precision[point]), float(recall[point])     # point == len(thresholds): (1, 0)
        nothing_kept = tp + fp == 0
        state = {"tp": tp, "fp": fp, "fn": len(gt_boxes) - tp, "precision": None if nothing_kept else p_t,
                 "recall": r_t, "ap": ap, "kept": kept.tolist(), "is_tp": is_tp.tolist(), "missed": missed,
                 "curve_index": point}
        fn = len(gt_boxes) - tp
        shown_p = "undefined (nothing kept)" if nothing_kept else f"{tp}/{tp + fp} = {p_t:.3f}"
        text = (f"score ≥ {t:.2f}, match at IoU ≥ {iou_t:g}: TP = {tp}, FP = {fp}, FN = {fn}; "
                f"precision = {shown_p}, recall = {tp}/{len(gt_boxes)} = {r_t:.3f}; "
                f"AP (whole curve) = {ap:.3f}")
        fig = panel(iou_t).show(is_tp, kept, missed, p_t, r_t, t, tp, fp)
        return View(text, fig, state)

    def panel(iou_t: float) -> _PRFigure:
        """The figure for one IoU threshold, drawn once."""
        if iou_t not in figures:
            _, _, precision, recall, _, ap = curve(iou_t)
            figures[iou_t] = _PRFigure(picture, gt_boxes, boxes, scores, precision, recall, ap, iou_t)
        return figures[iou_t]

    for choice in (0.5, 0.75):     # both drawn now: switching the dropdown only restyles
        panel(choice)
    return Explorer(controls, update, name="pr-threshold")


class _Ranking(NamedTuple):
    """The matching of the detections at one IoU threshold and the precision-recall curve it gives."""

    is_tp: torch.Tensor         # (D,) bool: the detection matches an object
    taken: torch.Tensor         # (D,) the object each detection matches (see match_detections)
    precision: torch.Tensor     # the curve, from precision_recall_curve
    recall: torch.Tensor
    thresholds: torch.Tensor
    ap: float                   # average_precision of the whole ranking


class _PRFigure:
    """The scene and the PR curve for one IoU threshold, drawn once; :meth:`show` restyles it for a score threshold.

    The curve and the boxes do not change with the score threshold, only the
    colours, the missed marks and the point on the curve do, so a slider move
    restyles artists instead of drawing (and laying out) a new figure.
    """

    def __init__(self, picture: np.ndarray, gt_boxes: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor,
                 precision: torch.Tensor, recall: torch.Tensor, ap: float, iou_t: float) -> None:
        self.fig, (ax_scene, ax_pr) = _new_figure(2, 6.0, 2.9)
        self.ax_scene, self.scores = ax_scene, scores
        show_picture(ax_scene, picture)
        self.objects = [_box(ax_scene, box, colour="white", gid="truth", linewidth=0.9) for box in gt_boxes]
        self.missed_captions = [ax_scene.text(float(box[0]), float(box[3]) + 0.5, "missed", fontsize=6.5,
                                              color="white", va="bottom", ha="left", clip_on=True,
                                              gid="missed:caption", visible=False,
                                              bbox={"facecolor": MISSED_COLOUR, "edgecolor": "none",
                                                    "alpha": 0.8, "pad": 0.8})
                                for box in gt_boxes]
        self.order = torch.argsort(scores).tolist()            # best drawn last, on top
        self.detections, self.captions = {}, {}
        for d in self.order:
            self.detections[d] = _box(ax_scene, boxes[d], colour=BELOW_COLOUR, gid="below", linewidth=1.5)
            self.captions[d] = ax_scene.text(float(boxes[d, 0]), float(boxes[d, 1]), f"{float(scores[d]):.2f}",
                                             fontsize=6.5, color="white", va="bottom", ha="left", clip_on=True,
                                             gid="caption", bbox={"facecolor": BELOW_COLOUR, "edgecolor": "none",
                                                                  "alpha": 0.8, "pad": 0.8})
        pr_curve_figure(precision, recall, ap, ax=ax_pr, title=f"PR at IoU {iou_t:g}")
        ax_pr.title.set_fontsize(8)
        ax_pr.xaxis.label.set_fontsize(8)
        ax_pr.yaxis.label.set_fontsize(8)
        ax_pr.tick_params(labelsize=7)
        (self.point,) = ax_pr.plot([0], [1], "o", markersize=9, markerfacecolor="none", markeredgecolor="k",
                                   markeredgewidth=2, gid="threshold-point", label="at the score threshold")
        ax_pr.legend(fontsize=6.5, loc="lower left")
        self.fig.subplots_adjust(left=0.01, right=0.98, bottom=0.16, top=0.9, wspace=0.2)

    def show(self, is_tp: torch.Tensor, kept: torch.Tensor, missed: list[int], p_t: float, r_t: float, t: float,
             tp: int, fp: int) -> Figure:
        for g, (patch, caption) in enumerate(zip(self.objects, self.missed_captions, strict=True)):
            lost = g in missed
            patch.set(edgecolor=MISSED_COLOUR if lost else "white", linestyle="--" if lost else "-",
                      linewidth=1.4 if lost else 0.9, gid="missed" if lost else "truth")
            caption.set_visible(lost)
        for d in self.order:
            if kept[d]:
                colour, gid, style, alpha = (TP_COLOUR, "tp", "-", 1.0) if is_tp[d] else (FP_COLOUR, "fp", "-", 1.0)
            else:
                colour, gid, style, alpha = BELOW_COLOUR, "below", ":", 0.6
            self.detections[d].set(edgecolor=colour, linestyle=style, alpha=alpha, gid=gid)
            self.captions[d].set_alpha(alpha)
            box = self.captions[d].get_bbox_patch()
            if box is not None:                         # every caption is drawn with a box
                box.set(facecolor=colour, alpha=0.8 * alpha)
        self.ax_scene.set_title(f"score ≥ {t:.2f}: {tp} TP (green), {fp} FP (red)", fontsize=8)
        self.point.set_data([r_t], [p_t])
        return self.fig


# --------------------------------------------------------------------------- NMS

def example_duplicates() -> dict[str, torch.Tensor]:
    """Eleven scored boxes on three objects, for :func:`nms_explorer`: ``{"boxes": (11, 4), "scores": (11,)}``.

    Objects 1 and 2 stand close (their best boxes overlap with IoU 0.33), so a
    low IoU threshold suppresses a real object, a high one lets duplicates through.
    """
    boxes = torch.tensor([
        [8., 10., 40., 44.], [10., 13., 43., 46.], [5., 8., 37., 40.], [12., 6., 44., 40.],     # object 0
        [50., 40., 80., 72.], [53., 43., 84., 76.], [47., 36., 78., 70.],                      # object 1
        [66., 52., 94., 88.], [62., 56., 92., 90.], [69., 50., 97., 84.],                      # object 2
        [20., 60., 36., 80.],                                                                   # a lone box
    ])
    scores = torch.tensor([0.96, 0.81, 0.62, 0.44, 0.91, 0.73, 0.52, 0.87, 0.66, 0.40, 0.30])
    return {"boxes": boxes, "scores": scores}


class _NMSFigure:
    """All boxes (left) and the result of NMS (right), drawn once; :meth:`show` restyles the right panel."""

    def __init__(self, picture: np.ndarray, boxes: torch.Tensor, scores: torch.Tensor) -> None:
        self.fig, (ax_all, self.ax_kept) = _new_figure(2, 5.6, 2.9)
        show_picture(ax_all, picture)
        show_picture(self.ax_kept, picture)
        self.order = torch.argsort(scores).tolist()            # best drawn last, on top
        self.patches, self.captions = {}, {}
        for d in self.order:
            _box(ax_all, boxes[d], colour="0.3", gid="input", linewidth=1.0)
            _caption(ax_all, float(boxes[d, 0]), float(boxes[d, 1]), f"{float(scores[d]):.2f}", "0.3")
            self.patches[d] = _box(self.ax_kept, boxes[d], colour="0.3", gid="kept", linewidth=2.0)
            self.captions[d] = self.ax_kept.text(
                float(boxes[d, 0]), float(boxes[d, 1]), f"{float(scores[d]):.2f}", fontsize=6.5, color="white",
                va="bottom", ha="left", clip_on=True, gid="caption",
                bbox={"facecolor": "0.3", "edgecolor": "none", "alpha": 0.8, "pad": 0.8})
        ax_all.set_title(f"before NMS: {len(boxes)} boxes", fontsize=8)
        self.fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.86, wspace=0.05)

    def show(self, kept: list[int], suppressed_by: dict[int, int], t: float) -> Figure:
        """Kept boxes solid with their score; each suppressed box dashed, in the colour of the box that beat it."""
        rank = {k: r for r, k in enumerate(kept)}
        for d in self.order:
            winner = d if d in rank else suppressed_by[d]
            colour = OBJECT_COLOURS[rank[winner] % len(OBJECT_COLOURS)]
            if d in rank:
                self.patches[d].set(edgecolor=colour, linestyle="-", linewidth=2.0, alpha=1.0, gid="kept")
                self.captions[d].set_visible(True)
                box = self.captions[d].get_bbox_patch()
                if box is not None:                     # every caption is drawn with a box
                    box.set_facecolor(colour)
            else:
                self.patches[d].set(edgecolor=colour, linestyle="--", linewidth=1.0, alpha=0.45, gid="suppressed")
                self.captions[d].set_visible(False)
        self.ax_kept.set_title(f"after NMS (drop IoU > {t:.2f}): {len(kept)} kept,\n"
                               f"{len(suppressed_by)} suppressed (dashed, colour of their winner)", fontsize=7.5)
        return self.fig


def nms_explorer(boxes: torch.Tensor | None = None, scores: torch.Tensor | None = None,
                 image: torch.Tensor | ArrayLike | None = None, *, iou_threshold: float = 0.5) -> Explorer:
    """Overlapping detections and greedy NMS: the kept boxes solid, the suppressed ones dashed.

    ``boxes`` ``(N, 4)`` xyxy and ``scores`` ``(N,)`` (both, or neither for
    :func:`example_duplicates`); ``image`` to draw on (default a blank canvas).
    The ``"iou_threshold"`` slider sets the threshold of
    :func:`course.detection.nms`: keep the best box, drop every box with
    ``IoU > threshold`` with it, repeat. Each suppressed box takes the colour of
    the kept box that suppressed it (the first kept box, by score, it overlaps
    more than the threshold). ``state()`` holds ``keep`` (the indices
    ``nms`` returns, best first), ``suppressed`` (the other indices, by
    index), ``suppressed_by`` (``{index: kept index}``) and the counts
    ``num_kept`` / ``num_suppressed``.
    """
    if boxes is None and scores is None:
        example = example_duplicates()
        boxes, scores = example["boxes"], example["scores"]
    elif boxes is None or scores is None:
        raise ValueError("pass boxes and scores together (or neither for the example), "
                         f"got only {'boxes' if scores is None else 'scores'}")
    boxes, scores = _scored_boxes(boxes, scores, "box")
    iou_threshold = check_float("iou_threshold", iou_threshold)
    if not 0 <= iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    picture = _check_scene_image(image, [boxes])
    iou = box_iou(boxes, boxes).double()
    controls = {"iou_threshold": float_slider("NMS IoU threshold", iou_threshold, 0.0, 1.0, step=0.05)}
    figure = _NMSFigure(picture, boxes, scores)

    def update(values: Values) -> View:
        t = float(values["iou_threshold"])
        keep = nms(boxes, scores, t)
        kept = keep.tolist()
        suppressed = sorted(set(range(len(boxes))) - set(kept))
        suppressed_by = {}
        for s in suppressed:       # the first kept box (best score first) that ranks above s and overlaps it > t
            suppressed_by[s] = next(k for k in kept if (scores[k] > scores[s] or (scores[k] == scores[s] and k < s))
                                    and float(iou[k, s]) > t)
        state = {"keep": kept, "suppressed": suppressed, "suppressed_by": suppressed_by,
                 "num_kept": len(kept), "num_suppressed": len(suppressed)}
        text = (f"IoU threshold {t:.2f}: {len(kept)} kept, {len(suppressed)} suppressed (of {len(boxes)}); "
                f"kept boxes, best first: {kept}")
        fig = figure.show(kept, suppressed_by, t)
        return View(text, fig, state)

    return Explorer(controls, update, name="nms")
