"""Segmentation losses: pixel-wise cross-entropy and soft Dice.

* :func:`pixel_cross_entropy` treats every pixel as its own classification
  problem: ``-sum_c y_c log p_c`` per pixel, averaged over the pixels. It is
  ``F.cross_entropy`` written out so the formula is visible. Frequent classes
  dominate the average; per-class ``weight`` is the usual remedy.
* :func:`soft_dice_loss` scores the overlap of each class mask instead, so a
  small class counts as much as a large one: ``1 - Dice``, with the
  predicted probabilities in place of a thresholded mask.

Both take the network's output for a batch, ``(N, C, H, W)``, and the
targets as a label map ``(N, H, W)`` of int64 class indices.
"""
from __future__ import annotations

import torch

from ._checks import check_class_indices, check_float, check_int, check_tensor

__all__ = ["pixel_cross_entropy", "soft_dice_loss"]


def pixel_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                        ignore_index: int = -100) -> torch.Tensor:
    """Pixel-wise cross-entropy, averaged over the pixels: equals ``F.cross_entropy``.

    For one pixel with scores ``z`` and true class ``t``, the softmax gives
    ``p = softmax(z)`` and the loss is ``-sum_c y_c log p_c = -log p_t``
    (``y`` is the one-hot target, so only the true class survives the sum).
    The batch loss is the (weighted) mean over the pixels that are not ignored::

        loss = sum_i w[t_i] * (-log p_i[t_i]) / sum_i w[t_i]

    with ``w = 1`` when ``weight`` is None. ``log_softmax`` computes ``log p``
    without overflow (``z - logsumexp(z)``) and ``gather`` picks ``log p_t``.

    Args:
        logits: ``(N, C, H, W)`` floating scores, before the softmax.
        target: ``(N, H, W)`` integer class indices in ``[0, C)``, or ``ignore_index``.
        weight: optional ``(C,)`` floating per-class weights.
        ignore_index: pixels with this target add nothing to the loss nor to
            the denominator. If every pixel is ignored the result is ``nan``
            (0/0) with a zero gradient, as with ``F.cross_entropy``.

    Returns:
        A scalar tensor (0-D), differentiable with respect to ``logits``.

    >>> logits = torch.zeros(1, 4, 2, 2)                 # uniform over 4 classes
    >>> target = torch.tensor([[[0, 1], [2, -100]]])
    >>> pixel_cross_entropy(logits, target)              # -log(1/4)
    tensor(1.3863)
    """
    check_tensor("logits", logits, ndim=4, floating=True)
    check_tensor("target", target, ndim=3)
    expected = (logits.shape[0],) + tuple(logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target must have shape (N, H, W) = {expected} to match logits {tuple(logits.shape)}, "
            f"got {tuple(target.shape)}"
        )
    num_classes = logits.shape[1]
    ignore_index = check_int("ignore_index", ignore_index)
    check_class_indices("target", target, num_classes, ignore_index)
    if weight is not None:
        check_tensor("weight", weight, ndim=1, floating=True)
        if weight.shape[0] != num_classes:
            raise ValueError(f"weight must have shape (C,) = ({num_classes},), got {tuple(weight.shape)}")

    log_p = torch.log_softmax(logits, dim=1)                       # (N, C, H, W)
    keep = target != ignore_index                                   # (N, H, W)
    t = torch.where(keep, target, torch.zeros_like(target)).long()  # any valid index at ignored pixels
    log_p_true = log_p.gather(1, t.unsqueeze(1)).squeeze(1)         # log p_t, (N, H, W)
    if weight is None:
        w = torch.ones_like(log_p_true)
    else:
        w = weight.to(log_p_true)[t]                                # w[t_i] per pixel
    w = w * keep                                                    # ignored pixels weigh 0
    total = w.sum()
    # No pixel counts: 0/0. Like F.cross_entropy, return nan but a zero gradient, so
    # a crop that is all "ignore" does not put nan into the weights.
    nonzero = total != 0
    loss = (w * -log_p_true).sum() / torch.where(nonzero, total, torch.ones_like(total))
    return torch.where(nonzero, loss, torch.full_like(loss, float("nan")))


def soft_dice_loss(probs: torch.Tensor, target: torch.Tensor, squared: bool = True, eps: float = 0.0) -> torch.Tensor:
    """Soft Dice loss: ``1 - mean over classes of the soft Dice``, over the whole batch.

    With ``p`` the predicted probabilities and ``y`` the one-hot target of
    class c, summing over all pixels of all images of the batch::

        Dice_c = (2 sum(y * p) + eps) / (sum(y^k) + sum(p^k) + eps)
        loss   = 1 - (1 / C) sum_c Dice_c,        k = 2 if squared else 1

    (``y^2 = y`` for a one-hot target; ``k`` only changes the sum of ``p``.)
    A class absent from the target whose predicted probability is exactly 0
    everywhere gives 0/0 when ``eps = 0``: it is predicted perfectly, so its
    Dice counts as 1. Softmax outputs are never exactly 0, so this only
    happens with hard (one-hot) predictions.

    Args:
        probs: ``(N, C, H, W)`` floating probabilities in [0, 1] (apply the
            softmax to the logits first).
        target: ``(N, H, W)`` integer class indices in ``[0, C)``, or a
            ``(N, C, H, W)`` one-hot (or soft) target with values in [0, 1].
        squared: ``k = 2`` (True, as in the V-Net paper) or ``k = 1``.
        eps: a number >= 0 added to numerator and denominator.

    Returns:
        A scalar tensor (0-D) in [0, 1], differentiable with respect to ``probs``.

    >>> probs = torch.tensor([[[[0.8, 0.2]], [[0.2, 0.8]]]])   # N=1, C=2, H=1, W=2
    >>> target = torch.tensor([[[0, 1]]])                     # pixel 0 is class 0, pixel 1 class 1
    >>> soft_dice_loss(probs, target, squared=False)          # each class: 2 * 0.8 / (1 + 1.0)
    tensor(0.2000)
    """
    check_tensor("probs", probs, ndim=4, floating=True)
    check_tensor("target", target, ndim=(3, 4))
    if not isinstance(squared, bool):
        raise TypeError(f"squared must be a bool, got {type(squared).__name__} {squared!r}")
    eps = check_float("eps", eps, minimum=0.0)
    bad = ~((probs >= 0) & (probs <= 1))
    if bad.any():
        raise ValueError(
            f"probs must be probabilities in [0, 1] (apply softmax to the logits first), "
            f"got {probs[bad][0].item()}"
        )
    num_classes = probs.shape[1]
    if target.dim() == 3:                                   # class indices -> one-hot
        expected = (probs.shape[0],) + tuple(probs.shape[2:])
        if tuple(target.shape) != expected:
            raise ValueError(
                f"target must have shape (N, H, W) = {expected} or (N, C, H, W) = {tuple(probs.shape)} "
                f"to match probs, got {tuple(target.shape)}"
            )
        check_class_indices("target", target, num_classes)
        y = torch.nn.functional.one_hot(target.long(), num_classes)   # (N, H, W, C)
        y = y.permute(0, 3, 1, 2)                                     # (N, C, H, W)
    else:
        if target.shape != probs.shape:
            raise ValueError(
                f"target must have shape (N, H, W) = {(probs.shape[0],) + tuple(probs.shape[2:])} "
                f"or (N, C, H, W) = {tuple(probs.shape)} to match probs, got {tuple(target.shape)}"
            )
        bad = ~((target >= 0) & (target <= 1))
        if bad.any():
            raise ValueError(f"target (one-hot) must hold values in [0, 1], got {target[bad][0].item()}")
        y = target
    y = y.to(probs)                                          # same dtype and device as probs

    k = 2 if squared else 1
    dims = (0, 2, 3)                                         # sum over batch and pixels, per class
    numerator = 2 * (y * probs).sum(dims) + eps              # (C,)
    denominator = (y ** k).sum(dims) + (probs ** k).sum(dims) + eps
    empty = denominator == 0                                 # class absent from target and prediction
    dice = numerator / torch.where(empty, torch.ones_like(denominator), denominator)
    dice = torch.where(empty, torch.ones_like(dice), dice)
    return 1 - dice.mean()
