"""Segmentation metrics: how well does a predicted mask or label map match the truth?

Two families, as in the lecture:

* **Masks** (one object or one class, ``(..., H, W)``): :func:`mask_iou`
  (Jaccard index) and :func:`dice_coefficient`, computed over the last two
  dimensions, so a batch of masks gives a batch of scores.

  - IoU  = ``|A ∩ B| / |A ∪ B| = |A ∩ B| / (|A| + |B| - |A ∩ B|)``
  - Dice = ``2 |A ∩ B| / (|A| + |B|)``, which equals the F1 score of the pixels.
    The two are related by ``Dice = 2 IoU / (1 + IoU)``.

* **Label maps** (one class index per pixel, usually ``(N, H, W)`` int64):
  :func:`confusion_matrix`, then :func:`mean_iou` and :func:`pixel_accuracy`.
  Pixels whose *target* is ``ignore_index`` (for example 255 on an object
  border) are left out of every count.

Conventions where the formula reads 0/0:

* two empty masks agree perfectly: IoU = Dice = 1.0;
* a class absent from both prediction and target has IoU ``nan`` and is left
  out of the mean;
* :func:`pixel_accuracy` with no pixel left to count is ``nan`` (as is
  :func:`mean_iou` then).
"""
from __future__ import annotations

import torch

from .._checks import check_class_indices, check_float, check_int, check_tensor

__all__ = [
    "mask_iou",
    "confusion_matrix",
    "mean_iou",
    "iou_from_confusion",
    "pixel_accuracy",
    "dice_coefficient",
]


# --------------------------------------------------------------------------
# Argument checks shared by the functions below
# --------------------------------------------------------------------------

def _check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, "
            f"got {name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)}"
        )


def _check_mask(name: str, x: object, *, soft: bool) -> torch.Tensor:
    """A mask ``(..., H, W)``: bool, or numbers that are 0/1 (``soft``: in [0, 1])."""
    x = check_tensor(name, x)
    if x.dim() < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (..., H, W), got shape {tuple(x.shape)}")
    if x.dtype == torch.bool:
        return x
    if x.is_complex():
        raise TypeError(f"{name} must be a real or bool tensor, got dtype {x.dtype}")
    if soft:
        bad = ~((x >= 0) & (x <= 1))
        expected = "a mask with values in [0, 1]"
    else:
        bad = ~((x == 0) | (x == 1))
        expected = "a binary mask (bool, or values 0 and 1)"
    if bad.any():
        raise ValueError(f"{name} must be {expected}, got value {x[bad][0].item()}")
    return x


def _check_labels(name: str, x: object) -> torch.Tensor:
    """A label map: an integer tensor of class indices."""
    x = check_tensor(name, x)
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(
            f"{name} must be an integer tensor of class indices "
            f"(for scores, take .argmax(dim=1) first), got dtype {x.dtype}"
        )
    return x


def _check_ignore_index(ignore_index: int | None) -> int | None:
    return None if ignore_index is None else check_int("ignore_index", ignore_index)


def _result_dtype(a: torch.Tensor, b: torch.Tensor) -> torch.dtype:
    """The floating dtype of the scores: the inputs' if they are floating, else float32."""
    dtype = torch.promote_types(a.dtype, b.dtype)
    return dtype if dtype.is_floating_point else torch.get_default_dtype()


# --------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------

def mask_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Intersection over union (Jaccard index) of binary masks, over the last two dims.

    ``IoU(A, B) = |A ∩ B| / |A ∪ B|``, counting pixels. 1.0 where both
    masks are empty (they agree perfectly), 0.0 where exactly one is.

    Args:
        pred: predicted masks ``(..., H, W)``: bool, or any dtype holding
            only 0 and 1 (anything else is a ``ValueError``).
        target: true masks, of the shape and kind of ``pred``.

    Returns:
        IoU of shape ``(...)``, float32 (or the inputs' floating dtype).

    >>> a = torch.tensor([[1, 1, 0], [0, 0, 0]])
    >>> b = torch.tensor([[0, 1, 1], [0, 0, 0]])
    >>> mask_iou(a, b)                       # 1 shared pixel of 3 covered
    tensor(0.3333)
    >>> mask_iou(torch.stack([a, 0 * a]), torch.stack([a, 0 * b]))   # a batch of 2
    tensor([1., 1.])
    """
    _check_mask("pred", pred, soft=False)
    _check_mask("target", target, soft=False)
    _check_same_shape("pred", pred, "target", target)
    a, b = pred.bool(), target.bool()
    intersection = (a & b).sum(dim=(-2, -1))
    union = (a | b).sum(dim=(-2, -1))
    dtype = _result_dtype(pred, target)
    iou = intersection.to(dtype) / union.clamp(min=1).to(dtype)   # clamp: no 0/0
    return torch.where(union > 0, iou, torch.ones_like(iou))


def dice_coefficient(pred: torch.Tensor, target: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Dice coefficient of binary or soft masks, over the last two dims.

    ``Dice(A, B) = (2 sum(A * B) + eps) / (sum(A) + sum(B) + eps)``. For binary
    masks ``sum(A * B) = |A ∩ B|`` and Dice is the F1 score of the pixels; for
    soft masks (probabilities) it is the "soft Dice" of the lecture.
    ``eps >= 0`` smooths the ratio (``eps = 0`` is the exact formula). Where
    both masks are empty the answer is 1.0, as for :func:`mask_iou`.

    Args:
        pred: predicted masks ``(..., H, W)``: bool or values in [0, 1].
        target: true masks, of the shape of ``pred``: bool or values in [0, 1].
        eps: a number >= 0 added to numerator and denominator.

    Returns:
        Dice of shape ``(...)``, float32 (or the inputs' floating dtype).

    >>> a = torch.tensor([[1, 1, 0], [0, 0, 0]])
    >>> b = torch.tensor([[0, 1, 1], [0, 0, 0]])
    >>> dice_coefficient(a, b)               # 2 * 1 / (2 + 2)
    tensor(0.5000)
    >>> dice_coefficient(torch.tensor([[0.5, 1.0]]), torch.tensor([[1.0, 1.0]]))   # 2 * 1.5 / 3.5
    tensor(0.8571)
    """
    _check_mask("pred", pred, soft=True)
    _check_mask("target", target, soft=True)
    _check_same_shape("pred", pred, "target", target)
    eps = check_float("eps", eps, minimum=0.0)
    dtype = _result_dtype(pred, target)
    a, b = pred.to(dtype), target.to(dtype)
    numerator = 2 * (a * b).sum(dim=(-2, -1)) + eps
    denominator = a.sum(dim=(-2, -1)) + b.sum(dim=(-2, -1)) + eps
    empty = denominator == 0                   # only when both masks are empty and eps == 0
    dice = numerator / torch.where(empty, torch.ones_like(denominator), denominator)
    return torch.where(empty, torch.ones_like(dice), dice)


# --------------------------------------------------------------------------
# Label maps
# --------------------------------------------------------------------------

def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int | None = None) -> torch.Tensor:
    """Count pixels by (true class, predicted class): ``M[i, j]`` = #{target = i, pred = j}.

    Rows are the true class, columns the predicted one, as in
    ``sklearn.metrics.confusion_matrix``. The diagonal holds the correct
    pixels. One ``bincount`` does all the counting: pixel ``(i, j)`` falls
    in bin ``i * C + j`` of a ``C * C`` histogram, reshaped to ``(C, C)``.

    Args:
        pred: predicted integer label map, e.g. ``(N, H, W)``; every value in ``[0, C)``.
        target: true integer label map of the shape of ``pred``; every value in
            ``[0, C)`` or ``ignore_index``.
        num_classes: ``C >= 1``.
        ignore_index: pixels whose target has this value are not counted
            (whatever is predicted there). ``None``: count every pixel.

    Returns:
        ``(C, C)`` int64 tensor on the inputs' device.

    >>> target = torch.tensor([[0, 0, 1], [1, 2, 255]])
    >>> pred = torch.tensor([[0, 1, 1], [1, 2, 0]])
    >>> confusion_matrix(pred, target, num_classes=3, ignore_index=255)
    tensor([[1, 1, 0],
            [0, 2, 0],
            [0, 0, 1]])
    """
    _check_labels("pred", pred)
    _check_labels("target", target)
    _check_same_shape("pred", pred, "target", target)
    num_classes = check_int("num_classes", num_classes, minimum=1)
    ignore_index = _check_ignore_index(ignore_index)
    check_class_indices("pred", pred, num_classes)
    check_class_indices("target", target, num_classes, ignore_index)

    pred, target = pred.long(), target.long()   # int64 first: uint8 * C would overflow
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    bins = target.flatten() * num_classes + pred.flatten()
    counts = torch.bincount(bins, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def mean_iou(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
             ignore_index: int | None = None) -> tuple[float, torch.Tensor]:
    """Mean intersection over union of label maps: ``(mIoU, per-class IoU)``.

    From the confusion matrix ``M`` (rows true, columns predicted), for class c:
    ``TP = M[c, c]``, ``FP = sum_i M[i, c] - TP`` (predicted c, wrongly),
    ``FN = sum_j M[c, j] - TP`` (missed c), and
    ``IoU_c = TP / (TP + FP + FN)``, which is ``|A ∩ B| / |A ∪ B|`` for the
    masks "pred == c" and "target == c".

    A class absent from both ``pred`` and ``target`` has IoU ``nan`` (0/0) and
    is left out of the mean; a class present in only one of them has IoU 0
    and counts. Pixels whose target is ``ignore_index`` are dropped before
    counting, from ``pred`` as well. If no class is present the mean is ``nan``.

    Args:
        pred: as in :func:`confusion_matrix`.
        target: as in :func:`confusion_matrix`.
        num_classes: as in :func:`confusion_matrix`.
        ignore_index: as in :func:`confusion_matrix`.

    Returns:
        ``(miou, iou)``: a Python float, and a ``(C,)`` float64 tensor.

    >>> target = torch.tensor([[0, 0, 1, 1]])
    >>> pred = torch.tensor([[0, 1, 1, 1]])
    >>> miou, iou = mean_iou(pred, target, num_classes=3)
    >>> iou                                  # class 2 appears nowhere
    tensor([0.5000, 0.6667,    nan], dtype=torch.float64)
    >>> round(miou, 4)                       # (1/2 + 2/3) / 2
    0.5833
    """
    return iou_from_confusion(confusion_matrix(pred, target, num_classes, ignore_index))


def iou_from_confusion(matrix: torch.Tensor) -> tuple[float, torch.Tensor]:
    """``(mIoU, per-class IoU)`` from a ``(C, C)`` confusion matrix (rows true, columns predicted).

    ``IoU_c = M[c, c] / (sum_i M[i, c] + sum_j M[c, j] - M[c, c])``; an absent
    class (0 / 0) is ``nan`` and left out of the mean, as in :func:`mean_iou`.
    Summing the matrices of several batches first gives the exact mIoU of the
    whole pass (what ``course.train`` reports), not a mean of per-batch scores.

    >>> miou, iou = iou_from_confusion(torch.tensor([[1, 1, 0], [0, 2, 0], [0, 0, 0]]))
    >>> round(miou, 4), iou[2].isnan().item()
    (0.5833, True)
    """
    check_tensor("matrix", matrix, ndim=2)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (C, C), got shape {tuple(matrix.shape)}")
    tp = matrix.diagonal()
    fp = matrix.sum(dim=0) - tp
    fn = matrix.sum(dim=1) - tp
    union = tp + fp + fn
    iou = tp.double() / union.double()          # 0 / 0 = nan for an absent class
    return iou.nanmean().item(), iou


def pixel_accuracy(pred: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None) -> float:
    """Fraction of pixels whose predicted class is the true one.

    ``accuracy = #{pred == target} / #pixels``, over the pixels whose target
    is not ``ignore_index``. With no pixel left (all ignored, or an empty
    tensor) the ratio is 0/0 and the result is ``nan``, as :func:`mean_iou`
    gives ``nan`` when no class is present.

    Args:
        pred: predicted integer label map, e.g. ``(N, H, W)``.
        target: true integer label map of the shape of ``pred``.
        ignore_index: target value of pixels left out; ``None``: keep all.

    Returns:
        A Python float in [0, 1], or ``nan``.

    >>> target = torch.tensor([[0, 0, 1], [1, 2, 255]])
    >>> pred = torch.tensor([[0, 1, 1], [1, 2, 0]])
    >>> pixel_accuracy(pred, target, ignore_index=255)    # 4 right of 5 counted
    0.8
    """
    _check_labels("pred", pred)
    _check_labels("target", target)
    _check_same_shape("pred", pred, "target", target)
    ignore_index = _check_ignore_index(ignore_index)
    if ignore_index is None:
        keep = torch.ones_like(target, dtype=torch.bool)
    else:
        keep = target != ignore_index
    correct = ((pred == target) & keep).sum().item()
    total = keep.sum().item()
    return correct / total if total > 0 else float("nan")
