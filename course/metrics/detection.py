"""Detection metrics: box IoU, the precision-recall curve, AP and (COCO) mAP.

The lecture's path, one function per step:

1. :func:`box_iou`, the Jaccard index of two boxes,
   ``IoU = |A ∩ B| / |A ∪ B| = |A ∩ B| / (|A| + |B| - |A ∩ B|)``. A detection
   is correct (a true positive, TP) when its IoU with an object of its class
   reaches a threshold such as 0.5; otherwise it is a false positive (FP).
2. :func:`precision_recall_curve`: rank the detections by confidence score and
   keep those scoring at least ``t``. Then ``precision = TP / (TP + FP)`` and
   ``recall = TP / (TP + FN) = TP / (number of objects)``. Lowering ``t`` gives
   more recall and usually less precision.
3. :func:`average_precision` turns the whole curve into one number, the
   precision averaged over recall: ``AP = sum_i (r_i - r_{i-1}) P_i``. It can
   also use the interpolated variants of PASCAL VOC and COCO.
4. :func:`mean_average_precision`: the mean of AP over classes (mAP). COCO
   also averages over the IoU thresholds 0.50, 0.55, ..., 0.95:
   ``mAP@[.5:.95] = (mAP_0.50 + mAP_0.55 + ... + mAP_0.95) / 10``.

Boxes are ``(N, 4)`` float tensors in pixel ``xyxy`` (see :mod:`course.boxes`).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TypedDict

import torch

from .._checks import check_boxes, check_choice, check_float, check_int, check_tensor
from ..boxes import box_area

__all__ = [
    "INTERPOLATIONS",
    "box_iou",
    "precision_recall_curve",
    "average_precision",
    "precision_envelope",
    "match_detections",
    "detection_pr_curves",
    "mean_average_precision",
]

INTERPOLATIONS = ("none", "all_points", "voc11", "coco101")


# --------------------------------------------------------------------------
# IoU
# --------------------------------------------------------------------------

def _box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    # The intersection of two boxes is a box too: from the larger top-left
    # corner to the smaller bottom-right one (empty if they do not overlap).
    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])      # (N, M, 2)
    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (N, M, 2)
    width_height = (bottom_right - top_left).clamp(min=0)
    inter = width_height[..., 0] * width_height[..., 1]                      # (N, M)
    union = box_area(boxes1)[:, None] + box_area(boxes2)[None, :] - inter
    return inter / union


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """IoU of every box of ``boxes1`` ``(N, 4)`` with every box of ``boxes2`` ``(M, 4)``: ``(N, M)``.

    Boxes are ``xyxy``. ``IoU = inter / (area1 + area2 - inter)``, computed
    for all pairs at once by broadcasting ``(N, 1, 2)`` against ``(1, M, 2)``.
    Equals ``torchvision.ops.box_iou``, including ``0 / 0 = nan`` for two
    zero-area boxes.

    >>> box_iou(torch.tensor([[0., 0., 2., 2.]]),
    ...         torch.tensor([[1., 0., 3., 2.], [0., 0., 2., 2.], [5., 5., 6., 6.]]))
    tensor([[0.3333, 1.0000, 0.0000]])
    """
    check_boxes("boxes1", boxes1, xyxy=True)
    check_boxes("boxes2", boxes2, xyxy=True)
    return _box_iou(boxes1, boxes2)


# --------------------------------------------------------------------------
# Precision-recall curve and average precision
# --------------------------------------------------------------------------

def _check_scores(name: str, scores: object) -> torch.Tensor:
    scores = check_tensor(name, scores, ndim=1, floating=True)
    not_finite = ~torch.isfinite(scores)
    if not_finite.any():
        i = int(not_finite.nonzero()[0, 0])
        raise ValueError(f"{name} must be finite, got {name}[{i}] = {scores[i].item()}")
    return scores


def _check_scores_labels(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Validate a ranking problem; return ``labels`` as float64 zeros and ones."""
    _check_scores("scores", scores)
    check_tensor("labels", labels, ndim=1)
    if labels.shape != scores.shape:
        raise ValueError(
            f"scores and labels must have the same length, got {len(scores)} and {len(labels)}")
    not_binary = (labels != 0) & (labels != 1)
    if not_binary.any():
        i = int(not_binary.nonzero()[0, 0])
        raise ValueError(f"labels must be binary (0 or 1), got labels[{i}] = {labels[i].item()}")
    return labels.to(torch.float64)


def _check_num_positives(num_positives: int | None, positive: torch.Tensor) -> int:
    found = int(positive.sum())
    if num_positives is None:
        return found
    num_positives = check_int("num_positives", num_positives, minimum=0)
    if num_positives < found:
        raise ValueError(
            f"num_positives must be >= the number of positive labels ({found}), got {num_positives}")
    return num_positives


def _counts_at_thresholds(scores: torch.Tensor,
                          positive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TP and FP counts (float64) when keeping the scores ``>= t``, for each distinct score ``t``.

    Thresholds come out in decreasing order. Tied scores form a single point:
    keeping a score keeps all its ties.
    """
    order = torch.argsort(scores, descending=True, stable=True)
    scores, positive = scores[order], positive[order]
    last_of_ties = torch.ones_like(scores, dtype=torch.bool)
    last_of_ties[:-1] = scores[1:] != scores[:-1]
    tps = positive.cumsum(0)[last_of_ties]
    kept = last_of_ties.nonzero().squeeze(1) + 1      # predictions kept at each threshold
    return tps, kept - tps, scores[last_of_ties]


def precision_recall_curve(scores: torch.Tensor, labels: torch.Tensor, *,
                           num_positives: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Precision and recall at every distinct score threshold: ``(precision, recall, thresholds)``.

    ``scores`` ``(N,)`` float, ``labels`` ``(N,)`` 0/1 (or bool). Predicting
    "positive" for the scores ``>= t`` gives ``precision = TP / (TP + FP)`` and
    ``recall = TP / P``, ``P`` the number of positives (``num_positives`` if
    given: it may exceed ``labels.sum()`` when some objects were never
    detected, so never appear in ``scores``).

    Same values and order as ``sklearn.metrics.precision_recall_curve(labels, scores)``
    (note scikit-learn's argument order, truth first): ``thresholds``, shape
    ``(T,)``, are the distinct scores in increasing order; ``precision`` and
    ``recall``, shape ``(T + 1,)``, float64, end with the extra point
    ``precision = 1, recall = 0`` so that recall decreases to 0.

    With no positive at all recall is ``0 / 0``; as scikit-learn, this warns and
    sets recall to 1 at every threshold.

    >>> scores = torch.tensor([0.9, 0.8, 0.8, 0.3], dtype=torch.float64)
    >>> p, r, t = precision_recall_curve(scores, torch.tensor([1, 0, 1, 0]))
    >>> p.tolist(), r.tolist(), t.tolist()      # t = 0.8 keeps both 0.8s: 2 TP, 1 FP
    ([0.5, 0.6666666666666666, 1.0, 1.0], [1.0, 1.0, 0.5, 0.0], [0.3, 0.8, 0.9])
    """
    positive = _check_scores_labels(scores, labels)
    num_positives = _check_num_positives(num_positives, positive)
    tps, fps, thresholds = _counts_at_thresholds(scores, positive)
    precision = tps / (tps + fps)
    if num_positives == 0:
        warnings.warn("labels has no positive (1) and num_positives is 0, so recall = TP / 0 "
                      "is undefined; it is set to 1 at every threshold, as scikit-learn does",
                      UserWarning, stacklevel=2)
        recall = torch.ones_like(tps)
    else:
        recall = tps / num_positives
    one = precision.new_ones(1)
    return (torch.cat([precision.flip(0), one]),
            torch.cat([recall.flip(0), 0 * one]),
            thresholds.flip(0))


def _linspace(start: float, stop: float, num: int) -> torch.Tensor:
    """``numpy.linspace(start, stop, num)`` bit for bit: ``start + i * step``, float64.

    pycocotools builds its IoU and recall thresholds this way. ``torch.linspace``
    rounds a few points differently in the last bit, and a recall of exactly
    0.35 must meet the very same 0.35 to compare as pycocotools does.
    """
    values = start + torch.arange(num, dtype=torch.float64) * ((stop - start) / (num - 1))
    values[-1] = stop
    return values


def precision_envelope(precision: torch.Tensor) -> torch.Tensor:
    """Interpolated precision ``max_{r' >= r} P(r')``: a running max from the right.

    >>> precision_envelope(torch.tensor([1.0, 0.5, 0.67, 0.5, 0.6]))
    tensor([1.0000, 0.6700, 0.6700, 0.6000, 0.6000])
    """
    return precision.flip(-1).cummax(-1).values.flip(-1)


def _summarize_curve(precision: torch.Tensor, recall: torch.Tensor, interpolation: str) -> torch.Tensor:
    """AP of precision-recall points ``(..., n)`` ordered by decreasing score (recall never decreases)."""
    if interpolation in ("none", "all_points"):
        if interpolation == "all_points":
            precision = precision_envelope(precision)
        recall_steps = torch.diff(recall, dim=-1, prepend=recall.new_zeros(*recall.shape[:-1], 1))
        return (recall_steps * precision).sum(-1)               # sum_i (r_i - r_{i-1}) P_i
    # "voc11" / "coco101": mean of the interpolated precision at fixed recall
    # points r; at r it is the envelope at the first point with recall >= r,
    # and 0 beyond the largest recall reached.
    points = _linspace(0.0, 1.0, 11 if interpolation == "voc11" else 101)
    points = points.expand(*recall.shape[:-1], len(points)).contiguous()
    first = torch.searchsorted(recall.contiguous(), points, side="left")
    envelope = precision_envelope(precision)
    envelope = torch.cat([envelope, envelope.new_zeros(*envelope.shape[:-1], 1)], dim=-1)
    return envelope.gather(-1, first).mean(-1)


def average_precision(scores: torch.Tensor, labels: torch.Tensor, interpolation: str = "none",
                      *, num_positives: int | None = None) -> float:
    """Average precision of a ranking: ``scores`` ``(N,)`` float, ``labels`` ``(N,)`` 0/1.

    Walk the precision-recall curve from the highest threshold down (points
    ``(r_i, P_i)``, ties grouped as in :func:`precision_recall_curve`), and let
    ``P_interp(r) = max_{r' >= r} P(r')`` be the precision envelope:

    - ``"none"``: ``sum_i (r_i - r_{i-1}) P_i`` with ``r_0 = 0``; equals
      ``sklearn.metrics.average_precision_score``.
    - ``"all_points"``: ``sum_i (r_i - r_{i-1}) P_interp(r_i)``, the area under
      the envelope (PASCAL VOC 2010 and later).
    - ``"voc11"``: the mean of ``P_interp`` at recall 0, 0.1, ..., 1 (VOC 2007).
    - ``"coco101"``: the mean of ``P_interp`` at recall 0, 0.01, ..., 1 (COCO).

    ``num_positives``: the number of positives ``P`` in recall ``= TP / P``,
    by default ``labels.sum()``. In detection pass the number of objects:
    objects that no detection found lower recall, but do not appear in
    ``scores``. With no positive at all AP is undefined: it warns and returns
    ``nan`` (scikit-learn returns 0).

    The worked example of the lecture, 5 detections TP, FP, TP, TP, FP and 4 objects:

    >>> scores, labels = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5]), torch.tensor([1, 0, 1, 1, 0])
    >>> round(average_precision(scores, labels, num_positives=4), 4)         # 1/4 + 2/3/4 + 3/4/4
    0.6042
    >>> round(average_precision(scores, labels, "all_points", num_positives=4), 4)
    0.625
    """
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    positive = _check_scores_labels(scores, labels)
    num_positives = _check_num_positives(num_positives, positive)
    if num_positives == 0:
        warnings.warn("labels has no positive (1) and num_positives is 0: average precision "
                      "is undefined, returning nan", UserWarning, stacklevel=2)
        return math.nan
    tps, fps, _ = _counts_at_thresholds(scores, positive)
    return float(_summarize_curve(tps / (tps + fps), tps / num_positives, interpolation))


# --------------------------------------------------------------------------
# Mean average precision (COCO)
# --------------------------------------------------------------------------

_PREDICTION_KEYS = ("boxes", "scores", "labels")
_TARGET_KEYS = ("boxes", "labels")


def _check_image(name: str, item: object, keys: tuple[str, ...]) -> list[torch.Tensor]:
    """Validate one image's dict, e.g. ``predictions[3]``; return its tensors in ``keys`` order."""
    expected = ", ".join(repr(k) for k in keys)
    if not isinstance(item, dict):
        raise TypeError(f"{name} must be a dict with keys {expected}, got {type(item).__name__}")
    missing = [k for k in keys if k not in item]
    if missing:
        raise ValueError(f"{name} must be a dict with keys {expected}, "
                         f"missing {missing[0]!r} (got keys {sorted(map(str, item))})")
    boxes = check_boxes(f"{name}['boxes']", item["boxes"], xyxy=True)
    tensors = [boxes]
    for key in keys[1:]:
        label = f"{name}[{key!r}]"
        if key == "scores":
            value = _check_scores(label, item[key])
        else:
            value = check_tensor(label, item[key], ndim=1, integer=True)
        if len(value) != len(boxes):
            raise ValueError(f"{label} must have one entry per box of {name}['boxes'] "
                             f"({len(boxes)}), got shape {tuple(value.shape)}")
        tensors.append(value)
    return tensors


def _check_iou_thresholds(iou_thresholds: Sequence[float] | torch.Tensor | None) -> torch.Tensor:
    if iou_thresholds is None:
        return _linspace(0.5, 0.95, 10)                 # COCO: 0.50:0.05:0.95
    values: torch.Tensor | None
    try:
        values = torch.as_tensor(iou_thresholds, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        values = None
    if values is None or values.dim() != 1 or len(values) == 0:
        raise ValueError(f"iou_thresholds must be None or a non-empty sequence of numbers "
                         f"such as [0.5], got {iou_thresholds!r}")
    outside = ~((values >= 0) & (values <= 1))
    if outside.any():
        raise ValueError(f"iou_thresholds must be numbers in [0, 1], got {values[outside][0].item()}")
    return values


def _rank_within_class(labels: torch.Tensor) -> torch.Tensor:
    """For labels in decreasing score order: 0 for the best detection of its class, 1 for the next..."""
    _, cls = labels.unique(return_inverse=True)
    one_hot = torch.nn.functional.one_hot(cls)                   # (D, classes)
    return one_hot.cumsum(0).gather(1, cls[:, None]).squeeze(1) - 1


def _match_image(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, gt_boxes: torch.Tensor,
                 gt_labels: torch.Tensor, thresholds: torch.Tensor, max_detections: int,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """COCO's greedy matching in one image, at all IoU thresholds at once.

    Returns the kept detections' ``scores``, ``labels`` (decreasing score) and
    ``is_tp`` ``(D, T)``: detection ``d`` is a true positive at threshold ``t``.
    """
    _, scores, labels, is_tp, _ = _match_objects(boxes, scores, labels, gt_boxes, gt_labels, thresholds,
                                                 max_detections)
    return scores, labels, is_tp


def _match_dataset(predictions: Sequence[dict[str, torch.Tensor]], targets: Sequence[dict[str, torch.Tensor]],
                   thresholds: torch.Tensor, max_detections: int,
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_match_image` on every image, concatenated in image order.

    Returns the kept detections' ``scores`` ``(D,)``, ``labels`` ``(D,)`` and
    ``is_tp`` ``(D, T)``, and ``gt_labels`` ``(G,)``, the labels of all objects.
    """
    scores, labels, is_tp, gt_labels = [], [], [], []
    for i, (prediction, target) in enumerate(zip(predictions, targets, strict=True)):
        boxes, image_scores, image_labels = _check_image(f"predictions[{i}]", prediction, _PREDICTION_KEYS)
        gt_boxes, image_gt_labels = _check_image(f"targets[{i}]", target, _TARGET_KEYS)
        kept_scores, kept_labels, kept_is_tp = _match_image(boxes, image_scores, image_labels, gt_boxes,
                                                            image_gt_labels, thresholds, max_detections)
        scores.append(kept_scores)
        labels.append(kept_labels)
        is_tp.append(kept_is_tp)
        gt_labels.append(image_gt_labels)
    return torch.cat(scores), torch.cat(labels), torch.cat(is_tp), torch.cat(gt_labels)


def _match_objects(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, gt_boxes: torch.Tensor,
                   gt_labels: torch.Tensor, thresholds: torch.Tensor, max_detections: int,
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_match_image`, plus the kept detections' positions in the input and the object each one took.

    Returns ``order`` ``(D,)`` (input index of each kept detection, decreasing
    score), ``scores``, ``labels``, ``is_tp`` ``(D, T)`` and ``matched`` ``(D, T)``
    int64: the index of the object detection ``d`` took at threshold ``t``, -1 if none.
    """
    order = torch.argsort(scores, descending=True, stable=True)
    boxes, scores, labels = boxes[order], scores[order], labels[order]
    if len(labels) > max_detections:      # COCO keeps the best max_detections per image *and class*
        keep = _rank_within_class(labels) < max_detections
        order, boxes, scores, labels = order[keep], boxes[keep], scores[keep], labels[keep]

    num_thresholds, num_objects = len(thresholds), len(gt_labels)
    is_tp = torch.zeros(len(labels), num_thresholds, dtype=torch.bool)
    matched = torch.full((len(labels), num_thresholds), -1, dtype=torch.int64)
    if num_objects == 0:
        return order, scores, labels, is_tp, matched
    iou = _box_iou(boxes.double(), gt_boxes.double())          # (D, G), float64 as pycocotools
    iou[labels[:, None] != gt_labels[None, :]] = -1.0           # match objects of the same class only
    taken = torch.zeros(num_thresholds, num_objects, dtype=torch.bool)
    could_match = (iou >= thresholds.min()).any(1)
    for d in could_match.nonzero().squeeze(1).tolist():        # in decreasing score
        # the free object with the highest IoU; among equal IoUs the last one, as
        # pycocotools (its scan over objects keeps any IoU >= the best so far)
        free_iou = iou[d].expand(num_thresholds, num_objects).masked_fill(taken, -1.0)  # (T, G)
        hit = free_iou.amax(1) >= thresholds
        best = num_objects - 1 - free_iou.flip(1).argmax(1)
        is_tp[d] = hit
        matched[d, hit] = best[hit]
        taken[hit, best[hit]] = True
    return order, scores, labels, is_tp, matched


def match_detections(boxes: torch.Tensor, scores: torch.Tensor, gt_boxes: torch.Tensor,
                     iou_threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Match one image's detections of one class to its objects, greedily by score (COCO's rule).

    In decreasing score (ties: input order), each detection takes the free
    object it overlaps most, if that IoU is at least ``iou_threshold``; it is
    then a true positive, otherwise a false positive. This is the matching
    behind :func:`mean_average_precision`.

    Shapes: ``boxes`` ``(D, 4)`` xyxy, ``scores`` ``(D,)``, ``gt_boxes``
    ``(G, 4)``. Returns ``is_tp`` ``(D,)`` bool and ``matched`` ``(D,)`` int64
    (the object each detection took, -1 for a false positive), both in the
    order of ``boxes``. Objects no detection took are the misses.

    >>> boxes = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.], [20., 20., 30., 30.]])
    >>> is_tp, matched = match_detections(boxes, torch.tensor([0.9, 0.8, 0.7]),
    ...                                   torch.tensor([[0., 0., 10., 10.]]))
    >>> is_tp.tolist(), matched.tolist()       # the duplicate finds its object taken
    ([True, False, False], [0, -1, -1])
    """
    boxes = check_boxes("boxes", boxes, xyxy=True)
    gt_boxes = check_boxes("gt_boxes", gt_boxes, xyxy=True)
    scores = _check_scores("scores", scores)
    if len(scores) != len(boxes):
        raise ValueError(f"scores must hold one score per box ({len(boxes)}), got {len(scores)}")
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, (int, float)) or not 0 <= iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be a number in [0, 1], got {iou_threshold!r}")
    thresholds = torch.tensor([float(iou_threshold)], dtype=torch.float64)
    order, _, _, is_tp, matched = _match_objects(
        boxes, scores, torch.zeros(len(boxes), dtype=torch.int64), gt_boxes,
        torch.zeros(len(gt_boxes), dtype=torch.int64), thresholds, max(len(boxes), 1))
    is_tp_in_order = torch.zeros(len(boxes), dtype=torch.bool)
    matched_in_order = torch.full((len(boxes),), -1, dtype=torch.int64)
    is_tp_in_order[order] = is_tp[:, 0]
    matched_in_order[order] = matched[:, 0]
    return is_tp_in_order, matched_in_order


class MAPResult(TypedDict):
    """What :func:`mean_average_precision` returns (see its docstring for each key)."""

    map: float
    map_50: float
    map_75: float
    mar: float
    map_per_class: dict[int, float]
    map_per_threshold: torch.Tensor
    ap: torch.Tensor
    classes: torch.Tensor
    iou_thresholds: torch.Tensor


def mean_average_precision(predictions: Sequence[dict[str, torch.Tensor]], targets: Sequence[dict[str, torch.Tensor]],
                           iou_thresholds: Sequence[float] | torch.Tensor | None = None, max_detections: int = 100,
                           *, interpolation: str = "coco101") -> MAPResult:
    """MAP of a detector over a dataset, exactly as COCO's ``COCOeval`` (bbox, area "all").

    One dict per image: ``predictions[i] = {"boxes": (N, 4) xyxy float,
    "scores": (N,) float, "labels": (N,) int}``, ``targets[i] = {"boxes": (M, 4),
    "labels": (M,)}``.

    1. Per image and class, detections in decreasing score (stable sort) keep
       the best ``max_detections`` (COCO's maxDets applies per image *and*
       class). Each one in turn takes the still unmatched object of its class
       with the highest IoU, if that IoU ``>= t``: a TP; otherwise an FP.
       One object matches at most one detection: duplicates are FPs.
    2. Per class, all its detections over the dataset in decreasing score give
       ``precision = TP / (TP + FP)`` and ``recall = TP / (number of objects)``
       after each detection, and AP (COCO: 101-point interpolated, see
       :func:`average_precision`; or any of its ``interpolation`` choices).
       Unlike :func:`average_precision`, tied scores are not grouped:
       detections are taken one at a time, ties in image order, as COCOeval.
    3. ``mAP_t`` = mean of AP over the classes that have objects (a class with
       detections but no object has no AP); ``map`` = mean over thresholds.

    ``iou_thresholds``: default COCO's ``0.50, 0.55, ..., 0.95`` (as
    ``numpy.linspace(0.5, 0.95, 10)``, so 0.9 is 0.8999999999999999 as in
    pycocotools); ``[0.5]`` gives the PASCAL-style mAP@0.5 (with COCO's
    matching and, unless ``interpolation="all_points"``, COCO's interpolation).

    Returns a dict of

    - ``"map"``: float, mean over thresholds and classes (COCO's AP, ``stats[0]``);
    - ``"map_50"``, ``"map_75"``: float, mAP at IoU 0.5 and 0.75 (``stats[1]``,
      ``stats[2]``), ``nan`` if that threshold is not in ``iou_thresholds``;
    - ``"mar"``: float, the largest recall reached, averaged over thresholds
      and classes (COCO's AR at ``max_detections``, ``stats[8]`` for 100);
    - ``"map_per_class"``: ``{label: AP averaged over thresholds}`` for every
      label in predictions or targets, ``nan`` for a label without objects;
    - ``"map_per_threshold"``: ``(T,)`` float64, ``mAP_t``;
    - ``"ap"``: ``(T, K)`` float64, AP per threshold and class (``nan`` where
      a class has no object), ``"classes"``: ``(K,)`` its labels,
      ``"iou_thresholds"``: ``(T,)`` float64.

    ``map`` is ``nan`` when no class has an object (pycocotools: -1).

    >>> predictions = [{"boxes": torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 10.], [20., 20., 30., 30.]]),
    ...                 "scores": torch.tensor([0.9, 0.8, 0.7]), "labels": torch.tensor([1, 1, 1])}]
    >>> targets = [{"boxes": torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 35.]]), "labels": torch.tensor([1, 1])}]
    >>> result = mean_average_precision(predictions, targets)   # a duplicate (FP), a box of IoU 2/3
    >>> round(result["map_50"], 4), round(result["map_75"], 4), round(result["map"], 4)
    (0.835, 0.505, 0.637)
    """
    thresholds = _check_iou_thresholds(iou_thresholds)
    max_detections = check_int("max_detections", max_detections, minimum=1)
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    for name, value in (("predictions", predictions), ("targets", targets)):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list of dicts, one per image, got {type(value).__name__}")
        if len(value) == 0:
            raise ValueError(f"{name} must be a non-empty list of dicts, one per image, got an empty list")
    if len(predictions) != len(targets):
        raise ValueError(f"predictions and targets must have one dict per image each, "
                         f"got {len(predictions)} and {len(targets)} dicts")

    # 1. Match each image: which detections are true positives, per threshold.
    # IoU >= t counts; as pycocotools, cap t at 1 - 1e-10 so that t = 1 accepts a perfect box.
    match_thresholds = thresholds.clamp(max=1 - 1e-10)
    scores, labels, is_tp, gt_labels = _match_dataset(predictions, targets, match_thresholds, max_detections)

    # 2. Per class: all its detections in decreasing score (stable: ties keep
    # image order, as pycocotools' mergesort), the PR curve at each threshold, AP.
    order = torch.argsort(scores, descending=True, stable=True)
    labels, is_tp = labels[order], is_tp[order]
    classes = torch.cat([labels, gt_labels]).unique()
    ap = torch.full((len(thresholds), len(classes)), math.nan, dtype=torch.float64)
    max_recall = ap.clone()
    for k, c in enumerate(classes.tolist()):
        num_objects = int((gt_labels == c).sum())
        if num_objects == 0:
            continue                                             # no AP without objects
        tp = is_tp[labels == c].T.double()                       # (T, D_c)
        tp_count, fp_count = tp.cumsum(1), (1 - tp).cumsum(1)
        precision = tp_count / (tp_count + fp_count)
        recall = tp_count / num_objects
        ap[:, k] = _summarize_curve(precision, recall, interpolation)
        max_recall[:, k] = recall[:, -1] if recall.shape[1] else 0.0

    # 3. Means over classes (that have objects) and thresholds.
    def map_at(threshold: float) -> float:
        rows = ap[thresholds == threshold]
        return float(rows.nanmean()) if len(rows) else math.nan

    return {
        "map": float(ap.nanmean()),
        "map_50": map_at(0.5),
        "map_75": map_at(0.75),
        "mar": float(max_recall.nanmean()),
        "map_per_class": {c: float(ap[:, k].mean()) for k, c in enumerate(classes.tolist())},
        "map_per_threshold": ap.nanmean(1),
        "ap": ap,
        "classes": classes,
        "iou_thresholds": thresholds,
    }


def detection_pr_curves(predictions: Sequence[dict[str, torch.Tensor]], targets: Sequence[dict[str, torch.Tensor]],
                        iou_threshold: float = 0.5) -> dict[int, dict[str, torch.Tensor]]:
    """Per class, the precision and recall after each detection over a dataset: ``{label: {...}}``.

    ``predictions`` and ``targets`` are lists of per-image dicts in the format
    of :func:`mean_average_precision`. The detections are
    matched to objects exactly as there (COCO's greedy matching per image and
    class, at most 100 per image and class), then, per class, all its
    detections are ranked by score (ties in image order) and after the
    ``n``-th one ``precision = TP_n / n`` and ``recall = TP_n / (objects of
    the class)``. Returns ``{label: {"precision": (D,), "recall": (D,),
    "scores": (D,)}}`` (float64, ``D`` the class's detections) for every
    label that has objects; the 101-point AP of each curve is
    ``mean_average_precision(predictions, targets, [iou_threshold])["ap"]``.
    """
    iou_threshold = check_float("iou_threshold", iou_threshold)
    mean_average_precision(predictions, targets, [iou_threshold])          # validates everything
    threshold = torch.tensor([min(iou_threshold, 1 - 1e-10)], dtype=torch.float64)
    scores, labels, is_tp, gt_labels = _match_dataset(predictions, targets, threshold, 100)
    order = torch.argsort(scores, descending=True, stable=True)
    scores, labels, is_tp = scores[order], labels[order], is_tp[order, 0]
    curves: dict[int, dict[str, torch.Tensor]] = {}
    for c in gt_labels.unique().tolist():
        tp = is_tp[labels == c].double()
        tp_count, seen = tp.cumsum(0), torch.arange(1, len(tp) + 1, dtype=torch.float64)
        curves[c] = {"precision": tp_count / seen, "recall": tp_count / int((gt_labels == c).sum()),
                     "scores": scores[labels == c].double()}
    return curves
