"""Bounding boxes: the three formats, areas, and normalised coordinates.

A box is four numbers, stored as a row of an ``(N, 4)`` float tensor. The same
box can be written three ways (all in pixels, continuous coordinates, no
``+1``, as in torchvision)::

    "xyxy"    (x_min, y_min, x_max, y_max)   two corners; what the course uses
    "xywh"    (x_min, y_min, w, h)           a corner and the size (COCO files)
    "cxcywh"  (x_c, y_c, w, h)               the centre and the size (YOLO, DETR)

``x`` runs along the image width (columns), ``y`` down its height (rows). A
valid ``xyxy`` box has ``x_min <= x_max`` and ``y_min <= y_max``; its area is
``(x_max - x_min) * (y_max - y_min)``.

Because a network sees images at different scales, boxes are often stored
relative to the image size, in ``[0, 1]``: divide ``x`` by the width ``W`` and
``y`` by the height ``H`` (:func:`normalize_boxes`); multiply to come back
(:func:`denormalize_boxes`).

>>> boxes = torch.tensor([[10., 20., 50., 40.]])          # xyxy, in pixels
>>> box_convert(boxes, "xyxy", "cxcywh")
tensor([[30., 30., 40., 20.]])
>>> box_area(boxes)
tensor([800.])
>>> normalize_boxes(boxes, image_size=(100, 200))         # (H, W)
tensor([[0.0500, 0.2000, 0.2500, 0.4000]])
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ._checks import check_boxes, check_choice, check_pair

__all__ = ["BOX_FORMATS", "box_convert", "box_area", "normalize_boxes", "denormalize_boxes"]

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert ``(N, 4)`` boxes between ``"xyxy"``, ``"xywh"`` and ``"cxcywh"``.

    Same values as ``torchvision.ops.box_convert``: every conversion goes
    through the corners ``xyxy``::

        xywh   -> xyxy:  x2 = x + w,              y2 = y + h
        cxcywh -> xyxy:  x1 = cx - w/2, x2 = cx + w/2   (same for y)
        xyxy   -> xywh:  w = x2 - x1,             h = y2 - y1
        xyxy   -> cxcywh: cx = (x1 + x2) / 2,     w = x2 - x1

    >>> box_convert(torch.tensor([[10., 20., 40., 20.]]), "xywh", "xyxy")
    tensor([[10., 20., 50., 40.]])
    >>> box_convert(torch.tensor([[10., 20., 40., 20.]]), "xywh", "cxcywh")
    tensor([[30., 30., 40., 20.]])
    """
    check_boxes("boxes", boxes)
    check_choice("in_fmt", in_fmt, BOX_FORMATS)
    check_choice("out_fmt", out_fmt, BOX_FORMATS)
    if in_fmt == out_fmt:
        return boxes.clone()

    # 1. to corners
    if in_fmt == "xywh":
        x, y, w, h = boxes.unbind(1)
        boxes = torch.stack([x, y, x + w, y + h], dim=1)
    elif in_fmt == "cxcywh":
        cx, cy, w, h = boxes.unbind(1)
        boxes = torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=1)

    # 2. from corners
    x1, y1, x2, y2 = boxes.unbind(1)
    if out_fmt == "xywh":
        return torch.stack([x1, y1, x2 - x1, y2 - y1], dim=1)
    if out_fmt == "cxcywh":
        return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=1)
    return boxes


def _area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area ``(x2 - x1) * (y2 - y1)`` of each ``xyxy`` box: ``(N, 4) -> (N,)``.

    Equals ``torchvision.ops.box_area``.

    >>> box_area(torch.tensor([[0., 0., 4., 3.], [1., 1., 1., 5.]]))
    tensor([12.,  0.])
    """
    return _area(check_boxes("boxes", boxes, xyxy=True))


def _scale(image_size: int | Sequence[int]) -> tuple[int, int]:
    return check_pair("image_size", image_size, minimum=1)


def normalize_boxes(boxes: torch.Tensor, image_size: int | Sequence[int]) -> torch.Tensor:
    """Pixel ``xyxy`` boxes ``(N, 4)`` to coordinates relative to the image.

    ``image_size = (H, W)``; ``x`` is divided by ``W`` and ``y`` by ``H``, so a
    box inside the image lands in ``[0, 1]`` (one outside it, outside
    ``[0, 1]``: nothing is clipped).

    >>> normalize_boxes(torch.tensor([[0., 0., 320., 120.]]), image_size=(240, 640))
    tensor([[0.0000, 0.0000, 0.5000, 0.5000]])
    """
    check_boxes("boxes", boxes, xyxy=True)
    h, w = _scale(image_size)
    return boxes / boxes.new_tensor([w, h, w, h])


def denormalize_boxes(boxes: torch.Tensor, image_size: int | Sequence[int]) -> torch.Tensor:
    """Relative ``xyxy`` boxes ``(N, 4)`` back to pixels: ``x * W``, ``y * H``.

    ``image_size = (H, W)``; the inverse of :func:`normalize_boxes`.

    >>> denormalize_boxes(torch.tensor([[0., 0., 0.5, 0.5]]), image_size=(240, 640))
    tensor([[  0.,   0., 320., 120.]])
    """
    check_boxes("boxes", boxes, xyxy=True)
    h, w = _scale(image_size)
    return boxes * boxes.new_tensor([w, h, w, h])
