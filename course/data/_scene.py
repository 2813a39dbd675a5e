"""Building blocks of the synthetic scenes.

Not public API; the dataset in :mod:`course.data.shapes` is made of these pieces:

* :func:`derive_seed` / :func:`make_generator`: item ``i`` of a dataset with
  seed ``s`` is drawn from its own ``torch.Generator`` seeded with a hash of
  ``(s, i)``, so an item is a pure function of ``(seed, index)``: the dataset
  is deterministic, random-access and safe to use from DataLoader workers (no
  global random state is read or changed).
* :class:`RandomStream`: the random scalars of a scene (positions, sizes,
  colors) drawn from that generator in blocks, as Python floats.
* :func:`gradient_background` and :func:`pick_color`: a canvas and colors
  that stand out from it.
* :class:`Layers`: objects painted one over the other (painter's algorithm).
  It keeps an *owner map* (which object is seen at each pixel), refuses a new
  object that would hide too much of an earlier one, and at the end returns
  the semantic label map, the visible instance masks, their labels and their
  tight boxes.
* :func:`tight_boxes`: the ``xyxy`` box of each mask, with ``x2 = last
  column + 1`` (continuous coordinates, as torchvision's boxes).
"""
from __future__ import annotations

import math

import torch

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """One step of the SplitMix64 mixer: a 64-bit integer hash with good avalanche."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def derive_seed(*parts: int) -> int:
    """Hash integers (for example ``seed, index``) into one seed in ``[0, 2**63)``.

    Unlike Python's ``hash``, the value is the same on every machine and run.

    >>> derive_seed(0, 1) == derive_seed(0, 1), derive_seed(0, 1) == derive_seed(1, 0)
    (True, False)
    """
    h = 0
    for part in parts:
        h = _splitmix64(h ^ (int(part) & _MASK64))
    return h >> 1


def make_generator(*parts: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``derive_seed(*parts)``."""
    return torch.Generator().manual_seed(derive_seed(*parts))


def pixel_grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinates of the pixel centres: ``ys`` (H, 1) and ``xs`` (1, W), float32.

    Pixel ``(row, col)`` covers ``[col, col + 1) x [row, row + 1)`` in
    continuous coordinates, so its centre is ``(col + 0.5, row + 0.5)``.
    """
    ys = torch.arange(height, dtype=torch.float32).add_(0.5).view(height, 1)
    xs = torch.arange(width, dtype=torch.float32).add_(0.5).view(1, width)
    return ys, xs


class RandomStream:
    """Uniform random numbers from a ``torch.Generator``, handed out as Python floats.

    A scene needs a few dozen random scalars (positions, sizes, colors). One
    tensor call per scalar would cost more than drawing the picture, so the
    stream draws them in blocks of ``block`` with a single ``torch.rand``.

    >>> stream = RandomStream(make_generator(0, 1))
    >>> 0.0 <= stream.uniform() < 1.0, stream.integer(3) in (0, 1, 2)
    (True, True)
    """

    def __init__(self, generator: torch.Generator, block: int = 128):
        self.generator = generator
        self.block = block
        self._values: list[float] = []

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        """A float drawn uniformly in ``[low, high)``."""
        if not self._values:
            self._values = torch.rand(self.block, generator=self.generator, dtype=torch.float64).tolist()[::-1]
        return low + (high - low) * self._values.pop()

    def integer(self, n: int) -> int:
        """An int drawn uniformly in ``0 .. n - 1``."""
        return min(int(self.uniform() * n), n - 1)


def gradient_background(stream: RandomStream, channels: int, ys: torch.Tensor, xs: torch.Tensor,
                        *, spread: float = 0.25) -> tuple[torch.Tensor, list[list[float]]]:
    """A linear color gradient in a random direction, on the grid ``ys`` (H, 1), ``xs`` (1, W).

    Returns ``(image, ends)``: ``image`` (C, H, W) float32 in [0, 1] and
    ``ends``, the two colors at the ends of the gradient (objects drawn on
    top pick colors far from both).
    """
    height, width = ys.shape[0], xs.shape[1]
    start = [stream.uniform() for _ in range(channels)]
    end = [min(max(a + stream.uniform(-spread, spread), 0.0), 1.0) for a in start]
    angle = stream.uniform(0.0, 2 * math.pi)
    cos, sin = math.cos(angle) / width, math.sin(angle) / height
    # t = x cos + y sin over the pixel centres, rescaled to run from 0 to 1 across the image.
    t_min = min(0.5 * cos, (width - 0.5) * cos) + min(0.5 * sin, (height - 0.5) * sin)
    t_max = max(0.5 * cos, (width - 0.5) * cos) + max(0.5 * sin, (height - 0.5) * sin)
    t = (xs * cos + ys * sin - t_min) / (t_max - t_min)                          # (H, W)
    ends = torch.tensor([start, end], dtype=torch.float32).view(2, channels, 1, 1)
    image = torch.lerp(ends[0], ends[1], t)                                      # (C, H, W)
    return image, [start, end]


def pick_color(stream: RandomStream, channels: int, avoid: list[list[float]],
                *, min_distance: float = 0.4, tries: int = 32) -> list[float]:
    """A random color (``channels`` floats in [0, 1]) at least ``min_distance`` from each of ``avoid``.

    Distance is Euclidean in RGB (or grey) space. Tries up to ``tries``
    random colors and keeps the first far enough, else the farthest one.
    """
    if tries < 1:
        raise ValueError(f"tries must be an int >= 1, got {tries}")
    best: list[float] = []
    best_distance = -1.0
    for _ in range(tries):
        color = [stream.uniform() for _ in range(channels)]
        distance = min((math.dist(color, other) for other in avoid), default=math.inf)
        if distance >= min_distance:
            return color
        if distance > best_distance:
            best, best_distance = color, distance
    return best


def tight_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight ``xyxy`` boxes (K, 4) float32 of masks (K, H, W) bool.

    Continuous coordinates: a mask whose pixels span columns ``c0 .. c1`` and
    rows ``r0 .. r1`` has the box ``(c0, r0, c1 + 1, r1 + 1)``, so the box
    covers the pixels entirely and its width counts them. (This is
    ``torchvision.ops.masks_to_boxes(masks) + [0, 0, 1, 1]``: torchvision
    returns the index of the last pixel as ``x2``.) An empty mask gives the
    degenerate box ``(0, 0, 0, 0)``.

    >>> m = torch.zeros(1, 5, 6, dtype=torch.bool); m[0, 1:3, 2:5] = True
    >>> tight_boxes(m)
    tensor([[2., 1., 5., 3.]])
    """
    if masks.shape[0] == 0:
        return torch.zeros(0, 4, dtype=torch.float32)
    height, width = masks.shape[-2:]
    cols = masks.any(dim=1)                                     # (K, W): columns the mask touches
    rows = masks.any(dim=2)                                     # (K, H)
    col_index = torch.arange(width)
    row_index = torch.arange(height)
    x1 = torch.where(cols, col_index, width).amin(dim=1)        # first touched column
    x2 = torch.where(cols, col_index + 1, 0).amax(dim=1)        # last touched column + 1
    y1 = torch.where(rows, row_index, height).amin(dim=1)
    y2 = torch.where(rows, row_index + 1, 0).amax(dim=1)
    boxes = torch.stack([x1, y1, x2, y2], dim=1).to(torch.float32)
    return torch.where(cols.any(dim=1, keepdim=True), boxes, 0.0)   # empty mask: (0, 0, 0, 0)


class Layers:
    """Objects painted one over the other (painter's algorithm); remembers who is seen where.

    The state is an *owner map* (H, W) int64: the index (in painting order)
    of the object seen at each pixel, -1 where only background shows. Painting
    an object overwrites the owner of its pixels. :meth:`paint` refuses an
    object that would hide more than ``max_occlusion`` of an earlier object's
    full area, so every object keeps part of itself visible.

    >>> layers = Layers(4, 4)
    >>> top = torch.zeros(4, 4, dtype=torch.bool); top[:2] = True       # 8 pixels
    >>> left = torch.zeros(4, 4, dtype=torch.bool); left[:, :1] = True  # hides 2 of them (25 %)
    >>> layers.paint(top, label=1), layers.paint(left, label=2, max_occlusion=0.2)
    (True, False)
    >>> layers.paint(left, label=2, max_occlusion=0.5)
    True
    >>> layers.owner
    tensor([[ 1,  0,  0,  0],
            [ 1,  0,  0,  0],
            [ 1, -1, -1, -1],
            [ 1, -1, -1, -1]])
    >>> semantic, masks, labels, boxes = layers.result()
    >>> semantic
    tensor([[2, 1, 1, 1],
            [2, 1, 1, 1],
            [2, 0, 0, 0],
            [2, 0, 0, 0]])
    >>> labels, boxes
    (tensor([1, 2]), tensor([[1., 0., 4., 2.],
            [0., 0., 1., 4.]]))
    """

    def __init__(self, height: int, width: int):
        self.owner = torch.full((height, width), -1, dtype=torch.int64)
        self.areas: list[int] = []      # full (unoccluded) pixel count of each object
        self.visible: list[int] = []    # pixels of each object still visible
        self.labels: list[int] = []

    def __len__(self) -> int:
        return len(self.labels)

    def paint(self, mask: torch.Tensor, label: int, max_occlusion: float = 1.0) -> bool:
        """Paint ``mask`` (H, W) bool with class ``label`` on top, if it hides little enough.

        Returns whether it was painted. An empty mask is never painted.
        """
        under = self.owner.masked_select(mask)       # owners of the pixels the new object covers
        if under.numel() == 0:
            return False
        hidden = torch.bincount(under + 1, minlength=len(self) + 1)[1:].tolist()   # per earlier object
        for area, visible, lost in zip(self.areas, self.visible, hidden, strict=True):
            if visible - lost < (1.0 - max_occlusion) * area:
                return False
        self.visible = [visible - lost for visible, lost in zip(self.visible, hidden, strict=True)]
        self.visible.append(under.numel())
        self.areas.append(under.numel())
        self.labels.append(int(label))
        self.owner.masked_fill_(mask, len(self.labels) - 1)
        return True

    def semantic(self) -> torch.Tensor:
        """The label map (H, W) int64: the class of the object seen at each pixel, 0 for background."""
        lookup = torch.tensor([0] + self.labels, dtype=torch.int64)    # owner -1 -> 0, owner k -> label k
        return lookup.index_select(0, self.owner.view(-1) + 1).view(self.owner.shape)

    def result(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(semantic (H, W) int64, masks (K, H, W) bool, labels (K,) int64, boxes (K, 4) float32)``.

        ``masks`` are the visible parts, in painting order (back to front);
        objects with no visible pixel left are dropped (with ``max_occlusion
        < 1`` this cannot happen). The union of the masks is exactly the
        foreground of the semantic map, and each mask's pixels carry its
        label there.
        """
        keep = [k for k, visible in enumerate(self.visible) if visible > 0]
        ids = torch.tensor(keep, dtype=torch.int64)
        masks = self.owner.unsqueeze(0) == ids.view(-1, 1, 1)
        labels = torch.tensor([self.labels[k] for k in keep], dtype=torch.int64)
        return self.semantic(), masks, labels, tight_boxes(masks)
