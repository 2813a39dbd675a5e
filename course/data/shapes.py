"""Synthetic shapes: a segmentation and detection dataset generated on the fly.

Each image shows 1 to ``max_shapes`` flat-colored shapes on a gradient with
Gaussian noise. The class of a shape is its geometry (circle, square,
triangle, ...). How it is colored is a choice (``color=``):

* ``"class"`` (default): each class has its own hue band on a grey
  background, so color and outline agree. This is the easy version: a small
  U-Net reaches a mean IoU above 0.9 after about a hundred steps.
* ``"random"``: random colors, chosen only to stand out from the background
  and from the other shapes, so only the outline tells the class, as on real
  data. Much harder; a lecture can compare the two.

**Occlusion.** Shapes are painted one after the other, later over earlier
(the painter's algorithm). The label map holds the class of the *visible*
shape at each pixel, the instance masks are the visible parts, and the boxes
are the tight boxes of those visible parts. A new shape is only placed where it
leaves every earlier shape at least ``1 - max_occlusion`` of its area visible
(up to 20 tries, else that shape is left out), so no instance ends up fully
hidden or reduced to a few pixels.

**Determinism.** Item ``i`` is drawn from a ``torch.Generator`` seeded with a
hash of ``(seed, i)``: the same seed and index always give the same tensors,
in any order, in any DataLoader worker, and the global random state is never
touched.

**Geometry.** ``size`` is the diameter of the circle that encloses the shape,
drawn uniformly in ``[min_size, max_size]``; shapes lie entirely inside the
image. Pixel ``(row, col)`` is inside a shape when its centre
``(col + 0.5, row + 0.5)`` is. With ``r = size / 2`` and ``(dx, dy)`` the
offset from the shape's centre, the kinds, in class order (label ``k`` is
``SHAPE_KINDS[k - 1]``; label 0 is the background), are::

    1 circle    dx^2 + dy^2 <= r^2
    2 square    max(|dx|, |dy|) <= r / sqrt(2)        axis-aligned
    3 triangle  equilateral, inscribed in the circle   random rotation
    4 ring      r/2 <= sqrt(dx^2 + dy^2) <= r
    5 cross     two bars of width 0.6 r                random rotation
    6 ellipse   semi-axes r and r/2                    random rotation
    7 diamond   |dx| + |dy| <= r                       axis-aligned

>>> data = ShapesDataset(100, image_size=64, num_classes=3, seed=0)
>>> image, mask = data[0]
>>> image.shape, image.dtype, mask.shape, mask.dtype
(torch.Size([3, 64, 64]), torch.float32, torch.Size([64, 64]), torch.int64)
>>> data.class_names
('background', 'circle', 'square', 'triangle')
>>> det = ShapesDataset(100, image_size=64, task="detection", seed=0)
>>> image, target = det[0]
>>> sorted(target), target["boxes"].dtype, target["masks"].dtype
(['boxes', 'labels', 'masks'], torch.float32, torch.bool)
"""
from __future__ import annotations

import colorsys
import math
from typing import Any, Callable

import torch

from .._checks import check_choice, check_float, check_int
from ._base import SceneDataset
from ._scene import Layers, RandomStream, gradient_background, make_generator, pick_color, pixel_grid

__all__ = ["SHAPE_KINDS", "ShapesDataset"]

SHAPE_KINDS = ("circle", "square", "triangle", "ring", "cross", "ellipse", "diamond")
TASKS = ("segmentation", "detection")
COLOR_MODES = ("class", "random")

_TRIES = 20           # placements tried per shape before leaving it out
_MIN_IMAGE_SIZE = 16
_MIN_SHAPE_SIZE = 6.0


def shape_mask(kind: str, cx: float, cy: float, size: float, angle: float,
               ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """The pixels (H, W) bool of one shape, computed on the whole grid at once.

    ``ys`` (H, 1) and ``xs`` (1, W) are the pixel-centre coordinates from
    ``pixel_grid``; ``(cx, cy)`` is the centre, ``size`` the diameter of the
    enclosing circle, ``angle`` the rotation in radians (ignored by the
    axis-aligned and round kinds).

    >>> from course.data._scene import pixel_grid
    >>> ys, xs = pixel_grid(5, 5)
    >>> shape_mask("square", 2.5, 2.5, 4.3, 0.0, ys, xs).int()
    tensor([[0, 0, 0, 0, 0],
            [0, 1, 1, 1, 0],
            [0, 1, 1, 1, 0],
            [0, 1, 1, 1, 0],
            [0, 0, 0, 0, 0]], dtype=torch.int32)
    """
    r = size / 2
    dx, dy = xs - cx, ys - cy                      # (1, W) and (H, 1): broadcasting gives (H, W)
    if kind == "circle":
        return dx ** 2 + dy ** 2 <= r ** 2
    if kind == "ring":
        d2 = dx ** 2 + dy ** 2
        return (d2 <= r ** 2) & (d2 >= (r / 2) ** 2)
    if kind == "square":
        return torch.maximum(dx.abs(), dy.abs()) <= r / math.sqrt(2)
    if kind == "diamond":
        return dx.abs() + dy.abs() <= r
    if kind == "triangle":
        # Inside the three edges. Each edge is at distance r/2 from the centre (the inradius
        # of the equilateral triangle inscribed in the circle of radius r); their outward
        # normals n_k point 120 degrees apart, and a point d is inside when d . n_k <= r/2.
        normal_angles = [angle + 2 * math.pi * k / 3 for k in range(3)]
        edges = [dx * math.cos(a) + dy * math.sin(a) <= r / 2 for a in normal_angles]
        return edges[0] & edges[1] & edges[2]
    # The remaining kinds use coordinates (u, v) in the shape's rotated frame.
    cos, sin = math.cos(angle), math.sin(angle)
    u, v = dx * cos + dy * sin, dy * cos - dx * sin
    if kind == "ellipse":
        return (u / r) ** 2 + (v / (r / 2)) ** 2 <= 1
    if kind == "cross":
        half_width = 0.3 * r
        half_length = math.sqrt(r ** 2 - half_width ** 2)     # bar ends touch the circle
        u, v = u.abs(), v.abs()
        return ((u <= half_length) & (v <= half_width)) | ((v <= half_length) & (u <= half_width))
    raise ValueError(f"kind must be one of {', '.join(map(repr, SHAPE_KINDS))}, got {kind!r}")


def class_color(stream: RandomStream, label: int, num_classes: int) -> list[float]:
    """An RGB color in the hue band of class ``label`` (for ``color="class"``).

    The hue circle is shared out among the ``num_classes`` classes: class
    ``k`` is centred on hue ``(k - 1) / num_classes`` (with 3 classes: red,
    green, blue), jittered by up to a fifth of the spacing; saturation and
    value are drawn in [0.6, 1]. The class can be read from the color alone.
    """
    hue = (label - 1 + stream.uniform(-0.2, 0.2)) / num_classes
    return list(colorsys.hsv_to_rgb(hue % 1.0, stream.uniform(0.6, 1.0), stream.uniform(0.6, 1.0)))


class ShapesDataset(SceneDataset):
    """Random shapes for semantic segmentation (``task="segmentation"``) or detection.

    Args:
        num_samples: number of items (they are generated on access, nothing is stored).
        image_size: height and width of the square images (>= 16).
        num_classes: number of shape kinds used, 1 to 7; the first ``num_classes``
            of :data:`SHAPE_KINDS`. Foreground labels are ``1 .. num_classes``.
        max_shapes: each image has 1 to ``max_shapes`` shapes (fewer if one does not fit).
        min_size, max_size: range of the shape size (diameter of the enclosing
            circle) in pixels; default ``image_size / 4`` and ``0.45 * image_size``.
        max_occlusion: largest fraction of a shape later shapes may hide, in [0, 1).
        noise: standard deviation of the Gaussian pixel noise (values are clipped to [0, 1]).
        color: ``"class"`` (default): a grey gradient background and each class
            in its own hue band (:func:`class_color`), so color and outline
            both tell the class: a small U-Net learns it in a minute on a CPU.
            ``"random"``: random colors on a random color gradient, so only the
            geometry tells the class: much harder (it needs context, hence a
            large receptive field, and many more steps); good for showing
            what a network learns when color is no longer a shortcut.
        task: ``"segmentation"`` or ``"detection"``, selects what an item is (below).
        seed: item ``i`` is a pure function of ``(seed, i)``.
        transform: optional callable ``(image, target) -> (image, target)``,
            applied jointly (see :mod:`course.data.transforms`) with a seed from
            ``(seed, index, epoch)``; see :meth:`set_epoch`.

    Items:
        segmentation: ``(image, mask)``: image (3, H, W) float32 in [0, 1],
            mask (H, W) int64 in ``0 .. num_classes`` (0 = background).
        detection: ``(image, target)`` with ``target = {"boxes": (K, 4)
            float32 xyxy tight boxes of the visible masks, "labels": (K,) int64
            in 1 .. num_classes, "masks": (K, H, W) bool visible masks}``, K >= 1.

    Attributes:
        class_names: ``("background", kind 1, ..., kind C)``, indexable by label.
        num_classes: number of foreground classes ``C``.
    """

    def __init__(self, num_samples: int, image_size: int = 64, *, num_classes: int = 3, max_shapes: int = 4,
                 min_size: float | None = None, max_size: float | None = None, max_occlusion: float = 0.5,
                 noise: float = 0.05, color: str = "class", task: str = "segmentation", seed: int = 0,
                 transform: Callable[..., Any] | None = None):
        self.num_samples = check_int("num_samples", num_samples, minimum=1)
        self.image_size = check_int("image_size", image_size, minimum=_MIN_IMAGE_SIZE)
        self.num_classes = check_int("num_classes", num_classes, minimum=1)
        if self.num_classes > len(SHAPE_KINDS):
            raise ValueError(
                f"num_classes must be an int between 1 and {len(SHAPE_KINDS)} "
                f"(the shape kinds {', '.join(SHAPE_KINDS)}), got {self.num_classes}"
            )
        self.max_shapes = check_int("max_shapes", max_shapes, minimum=1)
        self.min_size = check_float("min_size", image_size / 4 if min_size is None else min_size,
                                    minimum=_MIN_SHAPE_SIZE)
        self.max_size = check_float("max_size", 0.45 * image_size if max_size is None else max_size,
                                    minimum=self.min_size)
        if self.max_size > self.image_size:
            raise ValueError(f"max_size must be <= image_size ({self.image_size}), got {self.max_size}")
        self.max_occlusion = check_float("max_occlusion", max_occlusion, minimum=0.0)
        if self.max_occlusion >= 1:
            raise ValueError(f"max_occlusion must be a number in [0, 1), got {self.max_occlusion}")
        self.noise = check_float("noise", noise, minimum=0.0)
        self.color = check_choice("color", color, COLOR_MODES)
        self.task = check_choice("task", task, TASKS)
        self.seed = check_int("seed", seed)
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {type(transform).__name__} {transform!r}")
        self.transform = transform
        self.epoch = 0
        self.class_names = ("background",) + SHAPE_KINDS[: self.num_classes]
        self._grid = pixel_grid(self.image_size, self.image_size)

    def _draw(self, index: int) -> tuple[Layers, torch.Tensor]:
        """Draw item ``index``: the painted layers and the image (3, H, W)."""
        g = make_generator(self.seed, index)
        stream = RandomStream(g)
        size = self.image_size
        ys, xs = self._grid
        if self.color == "random":
            image, background = gradient_background(stream, 3, ys, xs)
        else:                                    # "class": a grey background, shapes in their class hue
            image, background = gradient_background(stream, 1, ys, xs)
            image, background = image.repeat(3, 1, 1), [end * 3 for end in background]

        # Place shapes one by one, each on top of the earlier ones, each in a color far
        # from the background and from the shapes before it.
        layers = Layers(size, size)
        colors: list[list[float]] = []
        for _ in range(1 + stream.integer(self.max_shapes)):
            label = 1 + stream.integer(self.num_classes)
            diameter = stream.uniform(self.min_size, self.max_size)
            angle = stream.uniform(0.0, 2 * math.pi)
            for _ in range(_TRIES):
                # A centre far enough from the border for the whole shape to fit.
                cx = stream.uniform(diameter / 2, size - diameter / 2)
                cy = stream.uniform(diameter / 2, size - diameter / 2)
                mask = shape_mask(SHAPE_KINDS[label - 1], cx, cy, diameter, angle, ys, xs)
                if layers.paint(mask, label, self.max_occlusion):
                    if self.color == "random":
                        colors.append(pick_color(stream, 3, background + colors))
                    else:
                        colors.append(class_color(stream, label, self.num_classes))
                    image = torch.where(mask, torch.tensor(colors[-1]).view(3, 1, 1), image)
                    break

        # Sensor noise.
        if self.noise > 0:
            image = image + self.noise * torch.randn(image.shape, generator=g)
        return layers, image.clamp_(0.0, 1.0)

    def __repr__(self) -> str:
        return (f"ShapesDataset(num_samples={self.num_samples}, image_size={self.image_size}, "
                f"num_classes={self.num_classes}, task={self.task!r}, seed={self.seed})")
