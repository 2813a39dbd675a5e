"""Detection post-processing: box coding against anchors, and non-maximum suppression.

A detector such as Faster R-CNN, SSD or RetinaNet places many reference boxes,
the *anchors*, at every position of a feature map (several sizes and aspect
ratios each). For every anchor the network predicts a class score and four
numbers saying how to move and resize that anchor onto an object. Two steps
turn this into a short list of boxes:

1. **Box coding.** The network does not predict pixel coordinates, which
   would depend on where the anchor is and how large it is. It predicts
   *offsets relative to the anchor*: the shift of the centre measured in anchor
   widths and heights, and the log of the size ratio (the R-CNN
   parametrisation). :func:`encode_boxes` turns a ground-truth box into these
   regression targets for training; :func:`decode_boxes` turns predicted
   offsets back into a box. With the anchor's centre ``(x_a, y_a)`` and size
   ``(w_a, h_a)``, the box's ``(x, y)`` and ``(w, h)``, and weights
   ``(w_x, w_y, w_w, w_h)``::

       d_x = w_x (x - x_a) / w_a        x = x_a + w_a d_x / w_x
       d_y = w_y (y - y_a) / h_a        y = y_a + h_a d_y / w_y
       d_w = w_w log(w / w_a)           w = w_a exp(d_w / w_w)
       d_h = w_h log(h / h_a)           h = h_a exp(d_h / w_h)

   An offset of 0 means "the anchor itself"; the same offset means the same
   relative move for a small and a large anchor. The weights only rescale the
   targets so the four have similar spread (Faster R-CNN uses
   ``(10, 10, 5, 5)``).
2. **Non-maximum suppression (NMS).** One object lights up many neighbouring
   anchors, so it gets many nearly identical boxes. :func:`nms` keeps the
   best-scoring box, drops every other box that overlaps it with
   ``IoU > iou_threshold``, and repeats with the best box left.
   :func:`batched_nms` does this separately per class, so a dog never
   suppresses the cat it stands next to.

Boxes are ``(N, 4)`` float tensors in pixel ``xyxy`` (see :mod:`course.boxes`);
IoU is :func:`course.metrics.box_iou`. Every function equals its torchvision
counterpart (``torchvision.ops.nms``, ``torchvision.ops.batched_nms``,
``torchvision.models.detection._utils.BoxCoder``).

>>> boxes = torch.tensor([[0., 0., 10., 10.],      # box 0
...                       [1., 1., 11., 11.],      # box 1: IoU 81/119 = 0.68 with box 0
...                       [20., 20., 30., 30.]])   # box 2: far from both
>>> scores = torch.tensor([0.9, 0.8, 0.7])
>>> nms(boxes, scores, iou_threshold=0.5)          # box 1 is a duplicate of box 0
tensor([0, 2])
>>> anchors = torch.tensor([[0., 0., 10., 10.]])
>>> deltas = encode_boxes(torch.tensor([[2., 1., 12., 21.]]), anchors)
>>> deltas                                         # centre moved (0.2, 0.6) anchors, height x2
tensor([[0.2000, 0.6000, 0.0000, 0.6931]])
>>> decode_boxes(deltas, anchors)
tensor([[ 2.,  1., 12., 21.]])
"""
from __future__ import annotations

import math

import torch

from ._checks import check_float, check_tensor
from .boxes import _check_boxes
from .metrics.detection import box_iou

__all__ = ["BBOX_XFORM_CLIP", "nms", "batched_nms", "encode_boxes", "decode_boxes"]

#: Largest ``d_w / w_w`` and ``d_h / w_h`` that :func:`decode_boxes` lets through
#: ``exp``: a decoded box is at most ``1000 / 16 = 62.5`` times as wide (and as
#: tall) as its anchor. Same value as torchvision's ``BoxCoder.bbox_xform_clip``.
BBOX_XFORM_CLIP = math.log(1000.0 / 16)


# --------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------

def _check_same_length(name1: str, tensor1: torch.Tensor, name2: str, tensor2: torch.Tensor) -> None:
    if len(tensor1) != len(tensor2):
        raise ValueError(f"{name1} and {name2} must have the same length (one row each), "
                         f"got {len(tensor1)} {name1} and {len(tensor2)} {name2}")


def _check_scores(scores, boxes: torch.Tensor) -> torch.Tensor:
    check_tensor("scores", scores, ndim=1, floating=True)
    _check_same_length("boxes", boxes, "scores", scores)
    nan = torch.isnan(scores)
    if nan.any():
        i = int(nan.nonzero()[0, 0])
        raise ValueError(f"scores must be numbers to rank the boxes by, got scores[{i}] = nan")
    return scores


def _check_iou_threshold(iou_threshold) -> float:
    iou_threshold = check_float("iou_threshold", iou_threshold)
    if not 0.0 <= iou_threshold <= 1.0:          # also rejects nan
        raise ValueError(f"iou_threshold must be a number in [0, 1], got {iou_threshold}")
    return iou_threshold


def _check_positive_size(name: str, boxes: torch.Tensor) -> torch.Tensor:
    """``boxes`` (already checked to be xyxy) must have ``x1 < x2`` and ``y1 < y2``: log and division need it."""
    flat = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if flat.any():
        row = int(flat.nonzero()[0, 0])
        raise ValueError(
            f"{name} must have positive width and height (x1 < x2 and y1 < y2), "
            f"got {name}[{row}] = {boxes[row].tolist()}")
    return boxes


def _check_weights(weights) -> tuple[float, float, float, float]:
    if not isinstance(weights, (tuple, list)) or len(weights) != 4:
        raise TypeError(f"weights must be a tuple of 4 positive numbers (w_x, w_y, w_w, w_h), "
                        f"got {type(weights).__name__} {weights!r}")
    checked = tuple(check_float(f"weights[{i}]", w, minimum=0.0, exclusive=True) for i, w in enumerate(weights))
    for i, w in enumerate(checked):
        if not math.isfinite(w):
            raise ValueError(f"weights[{i}] must be a finite number > 0.0, got {w}")
    return checked


def _centre_size(boxes: torch.Tensor):
    """``xyxy`` -> centre x, centre y, width, height, each ``(N,)``.

    Computed as torchvision's ``BoxCoder`` does (``x1 + w / 2``; not
    ``(x1 + x2) / 2``, which rounds differently in the last bit), so the
    results are equal to torchvision's to the last bit.
    """
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h


# --------------------------------------------------------------------------
# Non-maximum suppression
# --------------------------------------------------------------------------

def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of the boxes kept, best score first.

    ``boxes`` ``(N, 4)`` float ``xyxy``; ``scores`` ``(N,)`` float;
    ``iou_threshold`` in ``[0, 1]``. Returns an ``(K,)`` int64 tensor of
    indices into ``boxes``, in decreasing order of score. The algorithm::

        order the boxes by decreasing score
        while boxes are left:
            keep the first one, b
            drop every remaining box r with IoU(b, r) > iou_threshold

    Equals ``torchvision.ops.nms``, including its corner cases:

    - tied scores keep their index order (a stable sort), so of two
      identical boxes with the same score the one with the lower index is kept;
    - a box is dropped only when its IoU is strictly *above* the threshold:
      with ``iou_threshold=0.5`` a box of IoU exactly 0.5 is kept (the IoU is
      compared as a double, as torchvision's C++ does);
    - a zero-area box has IoU 0 with a proper box and ``0 / 0 = nan`` with
      another zero-area box, and ``nan > t`` is false: it is never dropped
      because of another zero-area box;
    - ``iou_threshold=1`` drops nothing, ``iou_threshold=0`` drops every box
      that touches a kept box with positive overlap.

    >>> boxes = torch.tensor([[0., 0., 2., 1.], [0., 0., 1., 1.]])   # IoU = 1/2
    >>> scores = torch.tensor([0.9, 0.8])
    >>> nms(boxes, scores, 0.5), nms(boxes, scores, 0.4)
    (tensor([0, 1]), tensor([0]))
    >>> nms(torch.tensor([[0., 0., 1., 1.]] * 2), torch.tensor([0.5, 0.5]), 0.5)   # tie: lower index
    tensor([0])
    """
    _check_boxes("boxes", boxes, xyxy=True)
    _check_scores(scores, boxes)
    iou_threshold = _check_iou_threshold(iou_threshold)

    # 1. Rank the boxes, best score first. The sort is stable: boxes with the
    #    same score stay in index order.
    order = torch.argsort(scores, descending=True, stable=True)
    keep: list[int] = []
    while order.numel() > 0:
        # 2. The best box left is kept ...
        best, rest = order[0], order[1:]
        keep.append(int(best))
        # 3. ... and the boxes overlapping it too much are dropped. Written as
        #    "not (IoU > t)" rather than "IoU <= t" so that a nan IoU keeps the
        #    box; in float64 because `float32_iou > 0.3` would first round 0.3
        #    to float32 and keep a box of IoU float32(0.3) = 0.30000001.
        iou = box_iou(boxes[best].unsqueeze(0), boxes[rest]).squeeze(0)
        order = rest[~(iou.double() > iou_threshold)]
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                iou_threshold: float) -> torch.Tensor:
    """Non-maximum suppression within each class: boxes of different labels never suppress each other.

    ``boxes`` ``(N, 4)`` float ``xyxy``; ``scores`` ``(N,)`` float; ``labels``
    ``(N,)`` integer class of each box. Runs :func:`nms` on the boxes of each
    label separately and returns the ``(K,)`` int64 indices kept over all
    classes, in decreasing order of score (tied scores in index order).

    Equals ``torchvision.ops.batched_nms``. (torchvision gets there by another
    road: for up to 1000 boxes it shifts each class's boxes by
    ``label * (max coordinate + 1)`` so that classes cannot overlap, and runs one
    NMS. That shortcut assumes coordinates ``>= 0`` and labels ``>= 0``, and
    beyond 1000 boxes it orders tied scores arbitrarily; this function is
    exact per class for any coordinates and labels.)

    >>> boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [1., 1., 11., 11.]])
    >>> scores = torch.tensor([0.9, 0.8, 0.7])
    >>> batched_nms(boxes, scores, torch.tensor([0, 0, 1]), 0.5)   # box 2 is another class: kept
    tensor([0, 2])
    """
    _check_boxes("boxes", boxes, xyxy=True)
    _check_scores(scores, boxes)
    check_tensor("labels", labels, ndim=1, integer=True)
    _check_same_length("boxes", boxes, "labels", labels)
    iou_threshold = _check_iou_threshold(iou_threshold)

    keep = [torch.empty(0, dtype=torch.int64, device=boxes.device)]
    for label in torch.unique(labels):
        members = torch.nonzero(labels == label).squeeze(1)       # the indices of this class's boxes
        keep.append(members[nms(boxes[members], scores[members], iou_threshold)])
    # Merge the classes: put the indices in increasing order, then sort them
    # by decreasing score with a stable sort (ties stay in index order).
    kept = torch.cat(keep).sort().values
    return kept[torch.argsort(scores[kept], descending=True, stable=True)]


# --------------------------------------------------------------------------
# Box coding
# --------------------------------------------------------------------------

def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor,
                 weights=(1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """Regression targets of ``boxes`` relative to ``anchors``: ``(N, 4)`` and ``(N, 4)`` to ``(N, 4)``.

    Row ``i`` encodes ``boxes[i]`` against ``anchors[i]`` (both ``xyxy``, with
    positive width and height). With centres ``x = x1 + w / 2``,
    ``y = y1 + h / 2`` and sizes ``w = x2 - x1``, ``h = y2 - y1`` (``a`` for
    the anchor)::

        d_x = w_x (x - x_a) / w_a
        d_y = w_y (y - y_a) / h_a
        d_w = w_w log(w / w_a)
        d_h = w_h log(h / h_a)

    ``weights = (w_x, w_y, w_w, w_h)``, four positive numbers (Faster R-CNN:
    ``(10, 10, 5, 5)``). Equals torchvision's
    ``BoxCoder(weights).encode_single(boxes, anchors)``; :func:`decode_boxes`
    is the inverse.

    >>> anchors = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 10.]])
    >>> boxes = torch.tensor([[0., 0., 10., 10.], [5., 0., 25., 10.]])   # the anchor; shifted and 2x wider
    >>> encode_boxes(boxes, anchors)
    tensor([[0.0000, 0.0000, 0.0000, 0.0000],
            [1.0000, 0.0000, 0.6931, 0.0000]])
    >>> encode_boxes(boxes, anchors, weights=(10, 10, 5, 5))[1]
    tensor([10.0000,  0.0000,  3.4657,  0.0000])
    """
    _check_boxes("boxes", boxes, xyxy=True)
    _check_positive_size("boxes", boxes)
    _check_boxes("anchors", anchors, xyxy=True)
    _check_positive_size("anchors", anchors)
    _check_same_length("boxes", boxes, "anchors", anchors)
    # As torchvision: the weights become numbers of the boxes' dtype.
    wx, wy, ww, wh = torch.tensor(_check_weights(weights), dtype=boxes.dtype, device=boxes.device)

    x, y, w, h = _centre_size(boxes)
    xa, ya, wa, ha = _centre_size(anchors)
    dx = wx * (x - xa) / wa
    dy = wy * (y - ya) / ha
    dw = ww * torch.log(w / wa)
    dh = wh * torch.log(h / ha)
    return torch.stack([dx, dy, dw, dh], dim=1)


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor,
                 weights=(1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """Boxes ``xyxy`` from offsets ``deltas`` relative to ``anchors``: ``(N, 4)`` and ``(N, 4)`` to ``(N, 4)``.

    The inverse of :func:`encode_boxes`: row ``i`` moves and resizes
    ``anchors[i]`` by ``deltas[i] = (d_x, d_y, d_w, d_h)``::

        x = x_a + w_a d_x / w_x          x1 = x - w / 2,  x2 = x + w / 2
        y = y_a + h_a d_y / w_y          y1 = y - h / 2,  y2 = y + h / 2
        w = w_a exp(min(d_w / w_w, BBOX_XFORM_CLIP))
        h = h_a exp(min(d_h / w_h, BBOX_XFORM_CLIP))

    Why the clamp at ``BBOX_XFORM_CLIP = log(1000 / 16) = 4.135``: ``deltas``
    come from a network, and early in training they can be large; ``exp`` of
    anything above 88.7 is ``inf`` in float32, which makes an infinite box and
    a ``nan`` loss. The bound comes from Detectron (the origin of this code):
    anchors are at least 16 pixels and images at most about 1000 pixels, so no
    box needs to be more than ``1000 / 16 = 62.5`` times its anchor's size.
    Only growth is clamped (``exp`` of a very negative number is just a tiny
    box). So ``decode_boxes(encode_boxes(b, a), a) == b`` when ``b`` is at
    most 62.5 times as wide and as tall as ``a``.

    The output has ``deltas``' dtype (``anchors`` are converted to it). Equals
    torchvision's ``BoxCoder(weights).decode_single(deltas, anchors)``.

    >>> anchors = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 10.]])
    >>> decode_boxes(torch.tensor([[0., 0., 0., 0.], [1., 0., math.log(2.), 0.]]), anchors)
    tensor([[ 0.,  0., 10., 10.],
            [ 5.,  0., 25., 10.]])
    >>> decode_boxes(torch.tensor([[0., 0., 100., 0.]]), anchors[:1])   # width clamped: 62.5 x 10
    tensor([[-307.5000,    0.0000,  317.5000,   10.0000]])
    """
    _check_boxes("deltas", deltas)
    _check_boxes("anchors", anchors, xyxy=True)
    _check_positive_size("anchors", anchors)
    _check_same_length("deltas", deltas, "anchors", anchors)
    wx, wy, ww, wh = _check_weights(weights)

    xa, ya, wa, ha = _centre_size(anchors.to(deltas.dtype))
    dx = deltas[:, 0] / wx
    dy = deltas[:, 1] / wy
    dw = (deltas[:, 2] / ww).clamp(max=BBOX_XFORM_CLIP)
    dh = (deltas[:, 3] / wh).clamp(max=BBOX_XFORM_CLIP)

    x = dx * wa + xa
    y = dy * ha + ya
    w = torch.exp(dw) * wa
    h = torch.exp(dh) * ha
    return torch.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], dim=1)
