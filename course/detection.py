"""Detection building blocks: anchors and their matching to objects, box coding, non-maximum suppression.

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

3. **Anchors and training targets** (lecture 10). :func:`cell_anchors` and
   :func:`grid_anchors` place the anchors on a feature map's grid;
   :func:`match_anchors` makes each anchor responsible for one object (IoU
   >= 0.5, plus each object's best anchor) or for the background;
   :func:`anchor_targets` writes down the class and the encoded box each
   anchor should predict; :func:`postprocess_detections` turns a trained
   network's per-anchor scores and offsets into detections (decode, score
   threshold, per-class NMS, top k). :mod:`course.models.detector` builds a
   small SSD on them.

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
from collections.abc import Sequence

import torch

from ._checks import check_boxes, check_float, check_int, check_pair, check_tensor
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


def _check_scores(scores: object, boxes: torch.Tensor) -> torch.Tensor:
    scores = check_tensor("scores", scores, ndim=1, floating=True)
    _check_same_length("boxes", boxes, "scores", scores)
    nan = torch.isnan(scores)
    if nan.any():
        i = int(nan.nonzero()[0, 0])
        raise ValueError(f"scores must be numbers to rank the boxes by, got scores[{i}] = nan")
    return scores


def _check_iou_threshold(iou_threshold: object) -> float:
    threshold = check_float("iou_threshold", iou_threshold)
    if not 0.0 <= threshold <= 1.0:          # also rejects nan
        raise ValueError(f"iou_threshold must be a number in [0, 1], got {threshold}")
    return threshold


def _check_positive_size(name: str, boxes: torch.Tensor) -> torch.Tensor:
    """``boxes`` (already checked to be xyxy) must have ``x1 < x2`` and ``y1 < y2``: log and division need it."""
    flat = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if flat.any():
        row = int(flat.nonzero()[0, 0])
        raise ValueError(
            f"{name} must have positive width and height (x1 < x2 and y1 < y2), "
            f"got {name}[{row}] = {boxes[row].tolist()}")
    return boxes


def _check_weights(weights: object) -> tuple[float, float, float, float]:
    if not isinstance(weights, (tuple, list)) or len(weights) != 4:
        raise TypeError(f"weights must be a tuple of 4 positive numbers (w_x, w_y, w_w, w_h), "
                        f"got {type(weights).__name__} {weights!r}")
    w_x, w_y, w_w, w_h = (check_float(f"weights[{i}]", w, minimum=0.0, exclusive=True)
                          for i, w in enumerate(weights))
    for i, w in enumerate((w_x, w_y, w_w, w_h)):
        if not math.isfinite(w):
            raise ValueError(f"weights[{i}] must be a finite number > 0.0, got {w}")
    return w_x, w_y, w_w, w_h


def _centre_size(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
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
    check_boxes("boxes", boxes, xyxy=True)
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
    check_boxes("boxes", boxes, xyxy=True)
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
                 weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
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
    check_boxes("boxes", boxes, xyxy=True)
    _check_positive_size("boxes", boxes)
    check_boxes("anchors", anchors, xyxy=True)
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
                 weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
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
    check_boxes("deltas", deltas)
    check_boxes("anchors", anchors, xyxy=True)
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


# --------------------------------------------------------------------------
# Anchors, matching, training targets, post-processing (lecture 10)
# --------------------------------------------------------------------------
#
# A single-shot detector (SSD, YOLO, RetinaNet, Faster R-CNN's RPN) turns
# detection into classification and regression of a fixed set of anchors:
#
# 1. place anchors on a grid over the image     cell_anchors, grid_anchors
# 2. give every anchor an object or background  match_anchors
# 3. write down what each anchor should predict anchor_targets
#    (its class, and the box offsets encode_boxes gives)
# 4. after the network: decode, threshold, NMS  postprocess_detections

__all__ += ["cell_anchors", "grid_anchors", "match_anchors", "anchor_targets", "postprocess_detections"]


def _check_positive_numbers(name: str, values: object) -> tuple[float, ...]:
    """A non-empty tuple or list of finite numbers > 0, e.g. anchor sizes."""
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = (values,)
    if not isinstance(values, (tuple, list)) or len(values) == 0:
        raise TypeError(f"{name} must be a non-empty tuple of numbers > 0, got {type(values).__name__} {values!r}")
    checked = tuple(check_float(f"{name}[{i}]", v, minimum=0.0, exclusive=True) for i, v in enumerate(values))
    for i, v in enumerate(checked):
        if not math.isfinite(v):
            raise ValueError(f"{name}[{i}] must be a finite number > 0.0, got {v}")
    return checked


def cell_anchors(sizes: float | Sequence[float], aspect_ratios: float | Sequence[float] = (1.0,),
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The anchors of one grid cell, centred on ``(0, 0)``: ``(A, 4)`` xyxy, ``A = len(aspect_ratios) * len(sizes)``.

    An anchor of size ``s`` and aspect ratio ``r = h / w`` (height over width,
    torchvision's convention: ``r = 2`` is a tall box, ``r = 0.5`` a wide one)
    has the area of an ``s x s`` square::

        w = s / sqrt(r)        h = s * sqrt(r)        (w * h = s^2, h / w = r)
        anchor = (-w / 2, -h / 2, w / 2, h / 2)

    Order: ratio-major, as torchvision's ``AnchorGenerator``: anchor
    ``k = i * len(sizes) + j`` has ``aspect_ratios[i]`` and ``sizes[j]``.
    (torchvision also rounds these corners to integers; this function does
    not, so the anchors keep their exact area and ratio.)

    >>> cell_anchors(sizes=(8, 16), aspect_ratios=(1.0, 4.0))
    tensor([[ -4.,  -4.,   4.,   4.],
            [ -8.,  -8.,   8.,   8.],
            [ -2.,  -8.,   2.,   8.],
            [ -4., -16.,   4.,  16.]])
    """
    sizes = _check_positive_numbers("sizes", sizes)
    aspect_ratios = _check_positive_numbers("aspect_ratios", aspect_ratios)
    scale = torch.tensor(sizes, dtype=torch.float64)
    root = torch.tensor(aspect_ratios, dtype=torch.float64).sqrt()
    w = (scale[None, :] / root[:, None]).reshape(-1)        # (ratios, sizes) -> ratio-major
    h = (scale[None, :] * root[:, None]).reshape(-1)
    return (torch.stack([-w, -h, w, h], dim=1) / 2).to(dtype)


def grid_anchors(feature_size: int | Sequence[int], image_size: int | Sequence[int], sizes: float | Sequence[float],
                 aspect_ratios: float | Sequence[float] = (1.0,), *, offset: float = 0.5,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Anchors at every position of an ``(H_f, W_f)`` feature map over an ``(H, W)`` image: ``(H_f * W_f * A, 4)`` xyxy.

    Feature-map position ``(i, j)`` (row, column) looks at the image around
    the centre ``((j + offset) * stride_x, (i + offset) * stride_y)`` with
    ``stride_x = W / W_f`` and ``stride_y = H / H_f``: ``offset = 0.5`` puts
    the anchors in the middle of their cell (SSD), ``offset = 0`` on its
    top-left corner (torchvision's ``AnchorGenerator``). Every position gets
    the ``A`` anchors of :func:`cell_anchors` (``sizes`` in pixels,
    ``aspect_ratios`` ``h / w``), moved onto its centre.

    Order, which a detection head must follow: row by row, column by column,
    then the ``A`` cell anchors, so anchor ``(i * W_f + j) * A + k`` is cell
    anchor ``k`` at ``(i, j)``. A head whose output ``(N, A * K, H_f, W_f)``
    is permuted to ``(N, H_f, W_f, A * K)`` and reshaped to ``(N, H_f * W_f * A, K)``
    lines up with it. Anchors near the border stick out of the image; they
    are not clipped.

    ``feature_size`` and ``image_size`` are ``(H, W)`` pairs or ints (square).
    With ``offset=0`` and an image size divisible by the feature size, this
    equals ``torchvision.models.detection.anchor_utils.AnchorGenerator`` with
    ``sizes=(sizes,)`` and ``aspect_ratios=(aspect_ratios,)`` wherever its
    rounding of :func:`cell_anchors` changes nothing.

    >>> grid_anchors(feature_size=(1, 2), image_size=(8, 16), sizes=(4,))   # centres (4, 4) and (12, 4)
    tensor([[ 2.,  2.,  6.,  6.],
            [10.,  2., 14.,  6.]])
    """
    fh, fw = check_pair("feature_size", feature_size, minimum=1)
    ih, iw = check_pair("image_size", image_size, minimum=1)
    offset = check_float("offset", offset)
    if not 0.0 <= offset <= 1.0:
        raise ValueError(f"offset must be a number in [0, 1] (a position within a cell), got {offset}")
    cell = cell_anchors(sizes, aspect_ratios, dtype=torch.float64)                 # (A, 4)
    cy = (torch.arange(fh, dtype=torch.float64) + offset) * (ih / fh)
    cx = (torch.arange(fw, dtype=torch.float64) + offset) * (iw / fw)
    cy, cx = torch.meshgrid(cy, cx, indexing="ij")                                  # (H_f, W_f) each
    centres = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)               # (H_f * W_f, 1, 4)
    return (centres + cell[None]).reshape(-1, 4).to(dtype)


def match_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, iou_threshold: float = 0.5) -> torch.Tensor:
    """Which ground-truth box each anchor is responsible for: ``(A,)`` int64, ``-1`` for background.

    ``anchors`` ``(A, 4)`` and ``gt_boxes`` ``(G, 4)`` xyxy with positive
    width and height. With ``IoU`` the ``(G, A)`` matrix of
    :func:`course.metrics.box_iou`, two rules (SSD's):

    1. **best ground truth per anchor**: anchor ``a`` takes the box ``g`` with
       the highest ``IoU(g, a)``, if that IoU is ``>= iou_threshold``;
    2. **best anchor per ground truth**: every box ``g`` also takes the
       anchor(s) with its highest IoU, even below the threshold, so that no
       object is left without an anchor (a small or oddly shaped object may
       overlap no anchor by 0.5). Rule 2 overrides rule 1.

    Every other anchor is background (``-1``). Ties:

    - an anchor whose highest IoU is shared by several boxes takes the
      lowest-indexed of them;
    - a box whose highest IoU is shared by several anchors (an object
      centred between two anchors) takes all of them, as torchvision's
      ``Matcher(allow_low_quality_matches=True)``;
    - an anchor that is the best anchor of several boxes goes to the one
      it overlaps most (lowest index on ties): the other box can then
      remain without an anchor. That is the only way a box gets none,
      besides overlapping no anchor at all (highest IoU 0, when no anchor
      is forced).

    IoUs are compared with the threshold in the boxes' dtype. No ground truth
    (``G = 0``): every anchor is background. The positive anchors (``>= 0``)
    are exactly those of ``torchvision.models.detection._utils.Matcher(t, t,
    allow_low_quality_matches=True)`` when every box overlaps some anchor;
    torchvision gives a rule-2 anchor to its own best box instead.

    >>> anchors = torch.tensor([[0., 0., 10., 10.], [10., 0., 20., 10.], [30., 0., 40., 10.]])
    >>> gt = torch.tensor([[1., 0., 11., 10.],      # IoU 0.82 with anchor 0
    ...                    [26., 0., 32., 10.]])    # small: best IoU 0.14, with anchor 2
    >>> match_anchors(anchors, gt)                  # anchor 2 is forced onto box 1
    tensor([ 0, -1,  1])
    """
    check_boxes("anchors", anchors, xyxy=True)
    _check_positive_size("anchors", anchors)
    check_boxes("gt_boxes", gt_boxes, xyxy=True)
    _check_positive_size("gt_boxes", gt_boxes)
    iou_threshold = _check_iou_threshold(iou_threshold)
    matched = torch.full((len(anchors),), -1, dtype=torch.int64, device=anchors.device)
    if len(gt_boxes) == 0 or len(anchors) == 0:
        return matched
    iou = box_iou(gt_boxes.to(anchors.dtype), anchors)                              # (G, A)
    index = torch.arange(len(gt_boxes), device=anchors.device)[:, None]            # (G, 1)
    none = len(gt_boxes)                                                            # "no box" for amin

    # Rule 1: each anchor's best box (the lowest index among equal IoUs), kept if good enough.
    best_iou = iou.amax(dim=0)                                                      # (A,)
    best_gt = torch.where(iou == best_iou, index, none).amin(dim=0)
    matched = torch.where(best_iou >= iou_threshold, best_gt, matched)

    # Rule 2: each box's best anchor(s); a box that overlaps no anchor forces nothing.
    highest = iou.amax(dim=1, keepdim=True)                                         # (G, 1)
    forced = (iou == highest) & (highest > 0)                                       # (G, A)
    forced_iou = torch.where(forced, iou, -1.0)
    forcing_best = forced_iou.amax(dim=0)                                           # (A,)
    forcing_gt = torch.where(forced & (forced_iou == forcing_best), index, none).amin(dim=0)
    return torch.where(forced.any(dim=0), forcing_gt, matched)


def anchor_targets(anchors: torch.Tensor, gt_boxes: torch.Tensor, gt_labels: torch.Tensor,
                   iou_threshold: float = 0.5, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """What a single-shot detector should predict at each anchor: ``(labels (A,) int64, deltas (A, 4))``.

    ``gt_labels`` ``(G,)`` integer classes ``>= 1`` of ``gt_boxes`` ``(G, 4)``.
    With ``m = match_anchors(anchors, gt_boxes, iou_threshold)``:

    - ``labels[a] = gt_labels[m[a]]`` for a positive anchor, ``0`` (background) otherwise;
    - ``deltas[a] = encode_boxes(gt_boxes[m[a]], anchors[a], weights)`` for a
      positive anchor (so ``decode_boxes(deltas[a], anchors[a])`` is its box),
      ``0`` otherwise (a background anchor has no box to regress to; the
      box loss skips it).

    ``deltas`` has the anchors' dtype.

    >>> anchors = torch.tensor([[0., 0., 10., 10.], [10., 0., 20., 10.]])
    >>> labels, deltas = anchor_targets(anchors, torch.tensor([[11., 0., 21., 10.]]), torch.tensor([2]))
    >>> labels, deltas
    (tensor([0, 2]), tensor([[0.0000, 0.0000, 0.0000, 0.0000],
            [0.1000, 0.0000, 0.0000, 0.0000]]))
    """
    matched = match_anchors(anchors, gt_boxes, iou_threshold)
    check_tensor("gt_labels", gt_labels, ndim=1, integer=True)
    _check_same_length("gt_boxes", gt_boxes, "gt_labels", gt_labels)
    if (gt_labels < 1).any():
        i = int((gt_labels < 1).nonzero()[0, 0])
        raise ValueError(f"gt_labels must be classes >= 1 (0 is the background), "
                         f"got gt_labels[{i}] = {int(gt_labels[i])}")
    positive = matched >= 0
    labels = torch.zeros(len(anchors), dtype=torch.int64, device=anchors.device)
    labels[positive] = gt_labels.to(anchors.device)[matched[positive]]
    deltas = torch.zeros(len(anchors), 4, dtype=anchors.dtype, device=anchors.device)
    if positive.any():
        deltas[positive] = encode_boxes(gt_boxes.to(anchors.dtype)[matched[positive]], anchors[positive], weights)
    return labels, deltas


def postprocess_detections(scores: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor, *,
                           score_threshold: float = 0.05, iou_threshold: float = 0.45, top_k: int = 100,
                           candidates_per_class: int = 200, image_size: int | Sequence[int] | None = None,
                           weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> dict[str, torch.Tensor]:
    """From one image's per-anchor predictions to a short list of detections (SSD's post-processing).

    ``scores`` ``(A, C + 1)``: class probabilities of each anchor (for
    example ``logits.softmax(-1)``), column 0 the background (not used);
    ``deltas`` ``(A, 4)``: predicted box offsets; ``anchors`` ``(A, 4)`` xyxy.

    1. decode every anchor's box: ``decode_boxes(deltas, anchors, weights)``,
       clipped to the image if ``image_size = (H, W)`` is given
       (``0 <= x <= W``, ``0 <= y <= H``);
    2. every (anchor, class ``c >= 1``) pair with ``scores[a, c] > score_threshold``
       is a candidate box of class ``c`` with that score; keep the best
       ``candidates_per_class`` of each class (stable: ties in anchor order),
       and drop boxes left with zero width or height;
    3. :func:`batched_nms` with ``iou_threshold``: per class, a box that
       overlaps a better one by more than the threshold is a duplicate;
    4. keep the ``top_k`` best.

    Returns ``{"boxes": (K, 4), "scores": (K,), "labels": (K,) int64}`` in
    decreasing score, the format of ``course.metrics.mean_average_precision``.
    An anchor may appear under several classes (each with its own score).

    >>> anchors = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.], [20., 20., 30., 30.]])
    >>> scores = torch.tensor([[0.1, 0.9, 0.0], [0.2, 0.8, 0.0], [0.4, 0.0, 0.6]])   # background, class 1, class 2
    >>> out = postprocess_detections(scores, torch.zeros(3, 4), anchors)
    >>> out["labels"], out["scores"]                # anchor 1 is a duplicate of anchor 0
    (tensor([1, 2]), tensor([0.9000, 0.6000]))
    """
    check_tensor("scores", scores, ndim=2, floating=True)
    if scores.shape[1] < 2:
        raise ValueError(f"scores must have shape (A, C + 1): a background column and at least one class, "
                         f"got shape {tuple(scores.shape)}")
    check_boxes("deltas", deltas)
    _check_same_length("scores", scores, "deltas", deltas)
    score_threshold = check_float("score_threshold", score_threshold)
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold must be a number in [0, 1], got {score_threshold}")
    iou_threshold = _check_iou_threshold(iou_threshold)
    top_k = check_int("top_k", top_k, minimum=1)
    candidates_per_class = check_int("candidates_per_class", candidates_per_class, minimum=1)

    boxes = decode_boxes(deltas, anchors, weights)                                  # checks anchors
    if image_size is not None:
        height, width = check_pair("image_size", image_size, minimum=1)
        limit = boxes.new_tensor([width, height, width, height])
        boxes = torch.minimum(boxes.clamp(min=0), limit)

    kept_boxes, kept_scores, kept_labels = [], [], []
    for c in range(1, scores.shape[1]):
        candidates = torch.nonzero(scores[:, c] > score_threshold).squeeze(1)
        order = torch.argsort(scores[candidates, c], descending=True, stable=True)[:candidates_per_class]
        candidates = candidates[order]
        box = boxes[candidates]
        proper = (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
        kept_boxes.append(box[proper])
        kept_scores.append(scores[candidates[proper], c])
        kept_labels.append(torch.full((int(proper.sum()),), c, dtype=torch.int64, device=scores.device))
    boxes, box_scores, labels = torch.cat(kept_boxes), torch.cat(kept_scores), torch.cat(kept_labels)
    keep = batched_nms(boxes, box_scores, labels, iou_threshold)[:top_k]
    return {"boxes": boxes[keep], "scores": box_scores[keep], "labels": labels[keep]}
