"""A small single-shot detector (SSD-like) that trains on a CPU in seconds.

SSD (Liu et al., 2016) detects objects in one pass of one network:

1. a convolutional **backbone** computes feature maps at a few strides
   (here 4 and 8 pixels);
2. every position of each map carries ``A`` **anchors**
   (:func:`course.detection.grid_anchors`: a few sizes and aspect ratios,
   centred on the position's cell);
3. two small convolutional **heads** per map predict, for each anchor,
   ``C + 1`` class scores (background first) and 4 box offsets relative to
   the anchor (:func:`course.detection.encode_boxes`);
4. after the network, :func:`course.detection.postprocess_detections`
   decodes the boxes, drops low scores and removes duplicates with NMS.

Training turns each image's objects into per-anchor targets
(:func:`course.detection.anchor_targets`: the class of the object an anchor
is matched to, or background, and the encoded box) and minimises
:func:`detection_loss`: cross-entropy over the positive anchors and the
hardest negatives (3 negatives per positive), plus smooth-L1 on the box
offsets of the positive anchors.

The model's ``forward`` returns one tensor ``(N, A_total, C + 1 + 4)`` (class
logits, then box offsets, per anchor), so :func:`course.train.fit` can train
it with ``loss=model.loss`` on targets made by :meth:`TinySSD.encode_targets`.

>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> model = TinySSD(num_classes=3, image_size=48)
>>> model.anchors.shape                    # 12x12 positions x 6 anchors + 6x6 positions x 6 anchors
torch.Size([1080, 4])
>>> model(torch.zeros(2, 3, 48, 48)).shape  # 4 class logits + 4 box offsets per anchor
torch.Size([2, 1080, 8])
>>> detections = model.detect(torch.zeros(1, 3, 48, 48))
>>> sorted(detections[0])
['boxes', 'labels', 'scores']
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import torch
from torch import nn
from torch.nn import functional as F

from course._checks import check_float, check_int, check_tensor
from course.detection import anchor_targets, grid_anchors, postprocess_detections
from course.models.blocks import conv_bn_relu

__all__ = ["TinySSD", "detection_loss", "positive_accuracy", "BOX_WEIGHTS"]

#: Box-coding weights ``(w_x, w_y, w_w, w_h)`` of :func:`course.detection.encode_boxes`: SSD's
#: "variances" ``(0.1, 0.1, 0.2, 0.2)`` (torchvision's SSD: ``(10, 10, 5, 5)``). They scale the
#: offsets up to about unit spread, the range where smooth-L1 switches from squared to absolute.
BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


@overload
def detection_loss(class_logits: torch.Tensor, box_deltas: torch.Tensor, target_labels: torch.Tensor,
                   target_deltas: torch.Tensor, *, neg_pos_ratio: int = ...,
                   return_parts: Literal[False] = ...) -> torch.Tensor: ...
@overload
def detection_loss(class_logits: torch.Tensor, box_deltas: torch.Tensor, target_labels: torch.Tensor,
                   target_deltas: torch.Tensor, *, neg_pos_ratio: int = ...,
                   return_parts: Literal[True]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...
def detection_loss(class_logits: torch.Tensor, box_deltas: torch.Tensor, target_labels: torch.Tensor,
                   target_deltas: torch.Tensor, *, neg_pos_ratio: int = 3,
                   return_parts: bool = False) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """SSD's loss: classification with hard-negative mining, plus smooth-L1 on the positive anchors.

    Shapes: ``class_logits`` ``(N, A, C + 1)`` (column 0: background),
    ``box_deltas`` ``(N, A, 4)``, ``target_labels`` ``(N, A)`` int64 (0 =
    background), ``target_deltas`` ``(N, A, 4)`` (what
    :func:`course.detection.anchor_targets` gives).

    Almost every anchor is background (here about 98 %). A plain
    cross-entropy over all anchors would be dominated by them, and the
    detector would learn to answer "background" everywhere. **Hard-negative
    mining** keeps, in each image, all ``P`` positive anchors and only the
    ``neg_pos_ratio * P`` negative anchors with the highest loss (the
    background anchors the network gets most wrong), 3:1 in SSD; an image
    without positives keeps ``neg_pos_ratio`` negatives. With ``P_total`` the
    positives in the batch::

        L_cls = sum over kept anchors of CE(logits_a, label_a)
        L_box = sum over positive anchors of smooth_L1(box_a - target_a)   (4 coordinates, beta = 1)
        L     = (L_cls + L_box) / max(P_total, 1)

    ``smooth_L1(x) = x^2 / 2`` for ``|x| < 1``, else ``|x| - 1/2``: squared
    near the target, linear far from it, so a few badly placed boxes early
    in training do not dominate the gradient. Background anchors have no box,
    so no box loss. The negatives are chosen without gradient (the choice is
    not differentiated, only the loss of the chosen ones).

    Returns the scalar loss, or ``(loss, {"classification": ..., "box": ...})``
    with ``return_parts=True`` (the two terms, each divided by ``max(P_total, 1)``).
    """
    check_tensor("class_logits", class_logits, ndim=3, floating=True)
    check_tensor("box_deltas", box_deltas, ndim=3, floating=True)
    check_tensor("target_labels", target_labels, ndim=2, integer=True)
    check_tensor("target_deltas", target_deltas, ndim=3, floating=True)
    n, a = class_logits.shape[:2]
    for name, value, shape in (("box_deltas", box_deltas, (n, a, 4)), ("target_labels", target_labels, (n, a)),
                               ("target_deltas", target_deltas, (n, a, 4))):
        if tuple(value.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} to match class_logits {tuple(class_logits.shape)}, "
                             f"got {tuple(value.shape)}")
    neg_pos_ratio = check_int("neg_pos_ratio", neg_pos_ratio, minimum=1)

    positive = target_labels > 0                                                    # (N, A)
    ce = F.cross_entropy(class_logits.reshape(n * a, -1), target_labels.reshape(-1), reduction="none").view(n, a)
    with torch.no_grad():
        # Rank each image's negatives by their loss (positives pushed to the end), keep the first k.
        num_pos = positive.sum(dim=1, keepdim=True)                                 # (N, 1)
        num_neg = (neg_pos_ratio * num_pos.clamp(min=1)).clamp(max=a)
        negative_loss = ce.masked_fill(positive, -1.0)
        order = negative_loss.argsort(dim=1, descending=True, stable=True)
        rank = order.argsort(dim=1)                                                 # rank of each anchor
        hard_negative = (rank < num_neg) & ~positive
    total_pos = max(int(positive.sum()), 1)
    cls_loss = (ce * (positive | hard_negative)).sum() / total_pos
    box_loss = F.smooth_l1_loss(box_deltas[positive], target_deltas[positive], reduction="sum", beta=1.0) / total_pos
    loss = cls_loss + box_loss
    if return_parts:
        return loss, {"classification": cls_loss.detach(), "box": box_loss.detach()}
    return loss


def _split(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return output[..., :-4], output[..., -4:]


def _unpack_targets(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    check_tensor("target", target, ndim=3, floating=True)
    if target.shape[-1] != 5:
        raise ValueError(f"target must have shape (N, A, 5) (label, then 4 box offsets, per anchor; "
                         f"see TinySSD.encode_targets), got {tuple(target.shape)}")
    return target[..., 0].long(), target[..., 1:]


def positive_accuracy(output: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of the positive anchors (those matched to an object) whose class is predicted right.

    ``output`` ``(N, A, C + 1 + 4)`` from :class:`TinySSD`, ``target``
    ``(N, A, 5)`` from :meth:`TinySSD.encode_targets`. A quick training
    metric for :func:`course.train.fit`; it ignores the background anchors
    (a detector that says "background" everywhere scores 0) and the boxes.
    """
    labels, _ = _unpack_targets(target)
    positive = labels > 0
    if not positive.any():
        return float("nan")
    predicted = _split(output)[0].argmax(dim=-1)
    return float((predicted[positive] == labels[positive]).double().mean())


class TinySSD(nn.Module):
    """A small SSD: a 5-convolution backbone, anchors on two feature maps (strides 4 and 8), 3x3 heads.

    Args:
        num_classes: foreground classes ``C``; labels ``1 .. C``, 0 is the background.
        image_size: the (square) input size the anchors are laid out for,
            divisible by 8. Inputs must have this size.
        width: channels of the first convolution; the maps have ``2 * width``
            (stride 4) and ``4 * width`` (stride 8) channels.
        sizes: anchor sizes (pixels) of each map, ``(sizes at stride 4, sizes at stride 8)``:
            small objects are found on the fine map, large ones on the coarse map.
        aspect_ratios: anchor ratios ``h / w`` used at every size and position.
        iou_threshold: the IoU from which an anchor is matched to an object
            (:func:`course.detection.match_anchors`).

    Layers (``image_size = 48``, ``width = 16``)::

        backbone  conv 3x3  3 -> 16, pool     24x24    stride 2
                  conv 3x3 16 -> 32, pool     12x12    stride 4
                  conv 3x3 32 -> 32           12x12    map 1
                  pool, conv 3x3 32 -> 64      6x6     stride 8
                  conv 3x3 64 -> 64            6x6     map 2
        heads     per map: conv 3x3 -> A * (C + 1) class logits, conv 3x3 -> A * 4 box offsets

    Attributes:
        stage1, stage2: the backbone up to map 1, and from map 1 to map 2
            (``receptive_field(model.stage1)``: 18 pixels, stride 4; with
            ``stage2``: 54 pixels, stride 8).
        class_heads, box_heads: the two heads of each map (``nn.ModuleList`` of two convolutions).
        anchors: ``(A_total, 4)`` xyxy buffer, map 1's anchors then map 2's,
            each in :func:`course.detection.grid_anchors` order.
        num_anchors: anchors per position, ``len(sizes[i]) * len(aspect_ratios)``.
        box_weights: :data:`BOX_WEIGHTS`.

    ``forward(x)`` with ``x`` ``(N, 3, image_size, image_size)`` returns
    ``(N, A_total, C + 1 + 4)``: for each anchor, ``C + 1`` class logits
    (softmax gives the probabilities) then the 4 box offsets ``(d_x, d_y, d_w, d_h)``.
    :meth:`split` separates the two, :meth:`encode_targets` makes the training
    targets, :meth:`loss` is the training loss (for ``fit(loss=model.loss)``)
    and :meth:`detect` returns detections.
    """

    anchors: torch.Tensor          # a buffer (registered in __init__)

    def __init__(self, num_classes: int, image_size: int = 48, *, width: int = 16,
                 sizes: Sequence[Sequence[float]] = ((8.0, 14.0), (20.0, 28.0)),
                 aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0), iou_threshold: float = 0.5) -> None:
        super().__init__()
        self.num_classes = check_int("num_classes", num_classes, minimum=1)
        self.image_size = check_int("image_size", image_size, minimum=8)
        if self.image_size % 8:
            raise ValueError(f"image_size must be divisible by 8 (the coarse map's stride), got {self.image_size}")
        width = check_int("width", width, minimum=1)
        if not isinstance(sizes, (tuple, list)) or len(sizes) != 2:
            raise TypeError(f"sizes must be a pair (sizes at stride 4, sizes at stride 8) such as "
                            f"((8, 14), (20, 28)), got {sizes!r}")
        self.iou_threshold = check_float("iou_threshold", iou_threshold)
        if not 0.0 <= self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be a number in [0, 1], got {self.iou_threshold}")
        self.box_weights = BOX_WEIGHTS
        self.strides = (4, 8)

        self.stage1 = nn.Sequential(conv_bn_relu(3, width, 3, padding=1), nn.MaxPool2d(2),
                                    conv_bn_relu(width, 2 * width, 3, padding=1), nn.MaxPool2d(2),
                                    conv_bn_relu(2 * width, 2 * width, 3, padding=1))
        self.stage2 = nn.Sequential(nn.MaxPool2d(2), conv_bn_relu(2 * width, 4 * width, 3, padding=1),
                                    conv_bn_relu(4 * width, 4 * width, 3, padding=1))
        channels = (2 * width, 4 * width)

        anchors: list[torch.Tensor] = []
        self.num_anchors: list[int] = []
        for stride, map_sizes in zip(self.strides, sizes, strict=True):
            cells = grid_anchors(self.image_size // stride, self.image_size, map_sizes, aspect_ratios)
            self.num_anchors.append(len(cells) // (self.image_size // stride) ** 2)
            anchors.append(cells)
        self.register_buffer("anchors", torch.cat(anchors), persistent=False)
        self.class_heads = nn.ModuleList(nn.Conv2d(c, k * (self.num_classes + 1), 3, padding=1)
                                         for c, k in zip(channels, self.num_anchors, strict=True))
        self.box_heads = nn.ModuleList(nn.Conv2d(c, k * 4, 3, padding=1)
                                       for c, k in zip(channels, self.num_anchors, strict=True))

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The two feature maps ``(N, 2 * width, H/4, W/4)`` and ``(N, 4 * width, H/8, W/8)``."""
        first = self.stage1(x)
        return [first, self.stage2(first)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw predictions of every anchor: ``(N, 3, H, W) -> (N, A_total, C + 1 + 4)`` (logits, offsets)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, self.image_size, self.image_size):
            raise ValueError(f"x must have shape (N, 3, {self.image_size}, {self.image_size}), got {tuple(x.shape)}")
        outputs = []
        for feature, class_head, box_head in zip(self.feature_maps(x), self.class_heads, self.box_heads, strict=True):
            n = feature.shape[0]
            # (N, A * K, H, W) -> (N, H, W, A * K) -> (N, H * W * A, K): grid_anchors' order.
            logits = class_head(feature).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes + 1)
            deltas = box_head(feature).permute(0, 2, 3, 1).reshape(n, -1, 4)
            outputs.append(torch.cat([logits, deltas], dim=2))
        return torch.cat(outputs, dim=1)

    @staticmethod
    def split(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(class_logits (N, A, C + 1), box_deltas (N, A, 4))`` from the output of ``forward``."""
        return _split(output)

    def encode_targets(self, targets: Sequence[dict[str, torch.Tensor]]) -> torch.Tensor:
        """Per-anchor training targets of a list of images: ``(N, A_total, 5)`` float32.

        ``targets``: one dict per image with ``"boxes"`` ``(G, 4)`` xyxy and
        ``"labels"`` ``(G,)`` in ``1 .. C`` (what ``ShapesDataset(task="detection")``
        gives; other keys are ignored). For each anchor: column 0 is its class
        (0 = background, stored as a float so one tensor holds both), columns
        1-4 its encoded box (:func:`course.detection.anchor_targets` with
        :data:`BOX_WEIGHTS`; zeros for the background).
        """
        if not isinstance(targets, (list, tuple)):
            raise TypeError(f"targets must be a list of dicts, one per image, got {type(targets).__name__}")
        rows = []
        for i, target in enumerate(targets):
            if not isinstance(target, dict) or "boxes" not in target or "labels" not in target:
                raise ValueError(f"targets[{i}] must be a dict with 'boxes' and 'labels', got {target!r:.80}")
            if len(target["labels"]) and int(target["labels"].max()) > self.num_classes:
                raise ValueError(f"targets[{i}]['labels'] must be in 1 .. {self.num_classes}, "
                                 f"got {int(target['labels'].max())}")
            labels, deltas = anchor_targets(self.anchors.cpu(), target["boxes"].float(), target["labels"],
                                            self.iou_threshold, self.box_weights)
            rows.append(torch.cat([labels[:, None].float(), deltas], dim=1))
        return torch.stack(rows) if rows else torch.zeros(0, len(self.anchors), 5)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """:func:`detection_loss` of ``forward``'s output against :meth:`encode_targets`' ``(N, A, 5)``."""
        labels, deltas = _unpack_targets(target)
        class_logits, box_deltas = _split(output)
        return detection_loss(class_logits, box_deltas, labels, deltas)

    @torch.no_grad()
    def detect(self, images: torch.Tensor, *, score_threshold: float = 0.05, iou_threshold: float = 0.45,
               top_k: int = 100) -> list[dict[str, torch.Tensor]]:
        """Detections for a batch of images, one dict per image.

        Runs the network in eval mode (restoring the mode after), applies the
        softmax over each anchor's classes, and
        :func:`course.detection.postprocess_detections` (boxes clipped to the
        image, ``score_threshold``, per-class NMS at ``iou_threshold``, best
        ``top_k``). Returns ``[{"boxes": (K, 4), "scores": (K,), "labels": (K,)}, ...]``
        on the CPU, the predictions format of ``course.metrics.mean_average_precision``.
        A low ``score_threshold`` (0.05) suits mAP, which rewards recall; to show
        detections, keep those above 0.5 or so.
        """
        was_training = self.training
        self.eval()
        try:
            output = self(images)
        finally:
            self.train(was_training)
        class_logits, box_deltas = _split(output)
        probabilities = class_logits.softmax(dim=-1)
        anchors = self.anchors
        detections = []
        for scores, deltas in zip(probabilities, box_deltas, strict=True):
            found = postprocess_detections(scores, deltas, anchors, score_threshold=score_threshold,
                                           iou_threshold=iou_threshold, top_k=top_k,
                                           image_size=self.image_size, weights=self.box_weights)
            detections.append({key: value.cpu() for key, value in found.items()})
        return detections
