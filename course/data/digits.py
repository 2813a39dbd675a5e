"""Real handwritten digits, without a download: scikit-learn's 8x8 digits.

scikit-learn ships 1,797 handwritten digits (8x8 pixels, 16 grey levels, from
the UCI "optical recognition of handwritten digits" set) inside its wheel, as
``sklearn/datasets/data/digits.csv.gz``; ``sklearn.datasets.load_digits``
reads that file, so nothing comes from the network.

* :class:`DigitsClassification`: one digit per image, upscaled (bilinear) to
  ``image_size``, for the first CNN of the course.
* :class:`DigitScenes`: several upscaled digits pasted on a noisy canvas, with
  a label map, instance masks and boxes: real (if small) data for
  segmentation and detection.

**Train and test split.** :func:`split_indices` splits the 1,797 digits once,
stratified by class (each digit keeps the same train/test proportions), with
a fixed seed. The scenes of ``split="test"`` only use test digits, so a model
trained on train scenes is evaluated on handwriting it has never seen.

>>> train = DigitsClassification("train", image_size=28)
>>> image, label = train[0]
>>> image.shape, image.dtype, type(label)
(torch.Size([1, 28, 28]), torch.float32, <class 'int'>)
>>> len(train) + len(DigitsClassification("test")) == 1797
True
"""
from __future__ import annotations

import functools
from typing import Callable

import torch

from .._checks import check_choice, check_float, check_int, check_pair
from ._base import SceneDataset
from ._scene import Layers, RandomStream, gradient_background, make_generator, pick_color, pixel_grid
from .transforms import apply_joint_transform, augmentation_seed

__all__ = ["SPLITS", "load_digits", "split_indices", "DigitsClassification", "DigitScenes"]

SPLITS = ("train", "test")
TASKS = ("segmentation", "detection")
DIGIT_CLASS_NAMES = ("background",) + tuple(str(d) for d in range(10))

_TRIES = 20


@functools.lru_cache(maxsize=1)
def _load_digits_cached() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()     # reads sklearn/datasets/data/digits.csv.gz from the wheel
    images = torch.as_tensor(bunch.images, dtype=torch.float32) / 16.0     # 0..16 grey levels -> [0, 1]
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    return images, labels


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits: ``images`` (1797, 8, 8) float32 in [0, 1] and ``labels`` (1797,) int64 in 0..9.

    The first call reads the file shipped with scikit-learn (no network);
    later calls reuse it. Returns copies, so callers may modify them.

    >>> images, labels = load_digits()
    >>> images.shape, labels.shape, labels.bincount().min() >= 170
    (torch.Size([1797, 8, 8]), torch.Size([1797]), tensor(True))
    """
    images, labels = _load_digits_cached()
    return images.clone(), labels.clone()


def split_indices(split: str, *, test_fraction: float = 0.2, seed: int = 0) -> torch.Tensor:
    """Indices (int64, sorted) into :func:`load_digits` of the ``"train"`` or ``"test"`` split.

    Stratified: the digits of each class are shuffled with
    ``torch.Generator().manual_seed(seed)`` and the first
    ``round(test_fraction * count)`` of them go to test, the rest to train.
    The two splits are disjoint and together cover all digits.

    >>> train, test = split_indices("train"), split_indices("test")
    >>> len(train), len(test), len(set(train.tolist()) & set(test.tolist()))
    (1438, 359, 0)
    """
    check_choice("split", split, SPLITS)
    test_fraction = check_float("test_fraction", test_fraction, minimum=0.0, exclusive=True)
    if test_fraction >= 1:
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction}")
    seed = check_int("seed", seed)
    _, labels = _load_digits_cached()
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for digit in range(10):
        members = (labels == digit).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=g)]
        n_test = round(test_fraction * len(members))
        chosen.append(members[:n_test] if split == "test" else members[n_test:])
    return torch.cat(chosen).sort().values


def _upscale(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 8, 8) -> (N, 1, size, size) by bilinear interpolation; stays in [0, 1] (a convex blend)."""
    images = images.unsqueeze(1)
    if size == images.shape[-1]:
        return images.clone()
    return torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


class DigitsClassification(torch.utils.data.Dataset):
    """Handwritten digits for classification: ``(image (1, H, W) float32 in [0, 1], label int 0..9)``.

    Args:
        split: ``"train"`` (1,438 digits) or ``"test"`` (359), see :func:`split_indices`.
        image_size: side of the square image; the 8x8 digits are upscaled with
            bilinear interpolation (``8`` keeps the originals; 28 matches MNIST).
        test_fraction: share of each class in the test split.
        seed: seed of the split (and of the augmentation, if any).
        transform: optional callable ``(image, label) -> (image, label)``, applied
            with a seed from ``(seed, index, epoch)`` (see :mod:`course.data.transforms`).

    Attributes:
        images: all images of the split, (N, 1, H, W) float32; handy for full-batch training.
        labels: (N,) int64.
        indices: positions in :func:`load_digits` of the split's digits.
        class_names: ``("0", ..., "9")``.

    >>> data = DigitsClassification("test", image_size=16)
    >>> data.images.shape, data.labels.bincount().tolist()
    (torch.Size([359, 1, 16, 16]), [36, 36, 35, 37, 36, 36, 36, 36, 35, 36])
    """

    def __init__(self, split: str = "train", image_size: int = 28, *, test_fraction: float = 0.2, seed: int = 0,
                 transform: Callable | None = None):
        self.split = check_choice("split", split, SPLITS)
        self.image_size = check_int("image_size", image_size, minimum=8)
        self.seed = check_int("seed", seed)
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {type(transform).__name__} {transform!r}")
        self.transform = transform
        self.epoch = 0
        self.indices = split_indices(split, test_fraction=test_fraction, seed=self.seed)
        images, labels = _load_digits_cached()
        self.images = _upscale(images[self.indices], self.image_size)
        self.labels = labels[self.indices]
        self.class_names = tuple(str(d) for d in range(10))

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentations of ``epoch`` (only matters with a ``transform``)."""
        self.epoch = check_int("epoch", epoch, minimum=0)

    def __getitem__(self, index: int):
        index = check_int("index", index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index must be in [{-len(self)}, {len(self)}), got {index}")
        index %= len(self)
        image, label = self.images[index].clone(), int(self.labels[index])
        if self.transform is not None:
            image, label = apply_joint_transform(self.transform, image, label,
                                                 seed=augmentation_seed(self.seed, index, self.epoch))
        return image, label

    def __repr__(self) -> str:
        return f"DigitsClassification(split={self.split!r}, image_size={self.image_size}, n={len(self)})"


class DigitScenes(SceneDataset):
    """Handwritten digits pasted on a canvas, for segmentation or detection.

    Each scene has 1 to ``max_digits`` digits of the split, each upscaled
    (bilinear) to a random size in ``digit_size`` and pasted at a random place,
    fully inside the image, on a grey (or color) gradient with Gaussian noise.
    Ink is alpha-blended: ``pixel = background * (1 - a) + ink * a`` with
    ``a`` the digit's intensity in [0, 1]. A pixel belongs to the digit where
    ``a > threshold``. Later digits are pasted over earlier ones, and a digit
    is only placed where it leaves every earlier digit at least
    ``1 - max_occlusion`` of its pixels.

    Args:
        num_samples: number of scenes (generated on access).
        image_size: side of the square canvas (>= 16).
        split: ``"train"`` or ``"test"``: which digits are used (see :func:`split_indices`;
            the split uses ``split_seed``, so scenes with any ``seed`` never mix the two).
        digit_size: ``(min, max)`` side of a pasted digit in pixels (or one int);
            default ``(0.3, 0.5) * image_size``.
        max_digits: each scene has 1 to ``max_digits`` digits.
        channels: 1 (grey, the default: the digits are grey) or 3 (random colors for
            background and ink, chosen far apart, as in :class:`ShapesDataset`).
        threshold: intensity above which a pixel is labelled as the digit.
        max_occlusion: largest fraction of a digit that later digits may hide, in [0, 1).
        noise: standard deviation of the Gaussian pixel noise (then clipped to [0, 1]).
        task: ``"segmentation"`` or ``"detection"``.
        seed: scene ``i`` is a pure function of ``(seed, i)`` (and the split).
        split_seed: seed of the train/test split of the digits.
        transform: optional joint callable ``(image, target) -> (image, target)``.

    Items:
        segmentation: ``(image (C, H, W) float32 in [0, 1], mask (H, W) int64)``
            with 0 = background and ``d + 1`` for digit ``d`` (11 classes).
        detection: ``(image, {"boxes": (K, 4) float32 xyxy, "labels": (K,) int64
            in 1..10 (digit + 1), "masks": (K, H, W) bool})``.

    Attributes:
        class_names: ``("background", "0", ..., "9")``, indexable by label.
        num_classes: 10 foreground classes.

    >>> scenes = DigitScenes(100, image_size=64, split="train", seed=0)
    >>> image, mask = scenes[0]
    >>> image.shape, mask.shape, mask.dtype, scenes.class_names[1]
    (torch.Size([1, 64, 64]), torch.Size([64, 64]), torch.int64, '0')
    """

    def __init__(self, num_samples: int, image_size: int = 64, *, split: str = "train", digit_size=None,
                 max_digits: int = 3, channels: int = 1, threshold: float = 0.5, max_occlusion: float = 0.25,
                 noise: float = 0.05, task: str = "segmentation", seed: int = 0, split_seed: int = 0,
                 transform: Callable | None = None):
        self.num_samples = check_int("num_samples", num_samples, minimum=1)
        self.image_size = check_int("image_size", image_size, minimum=16)
        self.split = check_choice("split", split, SPLITS)
        if digit_size is None:
            digit_size = (round(0.3 * self.image_size), round(0.5 * self.image_size))
        low, high = check_pair("digit_size", digit_size, minimum=8)
        if not low <= high <= self.image_size:
            raise ValueError(f"digit_size must be (min, max) with 8 <= min <= max <= image_size "
                             f"({self.image_size}), got {digit_size!r}")
        self.digit_size = (low, high)
        self.max_digits = check_int("max_digits", max_digits, minimum=1)
        self.channels = check_int("channels", channels)
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        self.threshold = check_float("threshold", threshold, minimum=0.0)
        if self.threshold >= 1:
            raise ValueError(f"threshold must be a number in [0, 1), got {self.threshold}")
        self.max_occlusion = check_float("max_occlusion", max_occlusion, minimum=0.0)
        if self.max_occlusion >= 1:
            raise ValueError(f"max_occlusion must be a number in [0, 1), got {self.max_occlusion}")
        self.noise = check_float("noise", noise, minimum=0.0)
        self.task = check_choice("task", task, TASKS)
        self.seed = check_int("seed", seed)
        self.split_seed = check_int("split_seed", split_seed)
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {type(transform).__name__} {transform!r}")
        self.transform = transform
        self.epoch = 0
        self.num_classes = 10
        self.class_names = DIGIT_CLASS_NAMES
        images, labels = _load_digits_cached()
        self.indices = split_indices(self.split, seed=self.split_seed)
        self.digits = images[self.indices]              # (N, 8, 8) in [0, 1]
        self.digit_labels = labels[self.indices]        # (N,) 0..9
        self._grid = pixel_grid(self.image_size, self.image_size)

    def _draw(self, index: int) -> tuple[Layers, torch.Tensor]:
        """Draw scene ``index``: the painted layers and the image (C, H, W)."""
        g = make_generator(self.seed, index)
        stream = RandomStream(g)
        size, channels = self.image_size, self.channels
        ys, xs = self._grid
        image, background = gradient_background(stream, channels, ys, xs)
        layers = Layers(size, size)
        for _ in range(1 + stream.integer(self.max_digits)):
            k = stream.integer(len(self.digits))
            side = self.digit_size[0] + stream.integer(self.digit_size[1] - self.digit_size[0] + 1)
            ink = torch.nn.functional.interpolate(self.digits[k].view(1, 1, 8, 8), size=(side, side),
                                                  mode="bilinear", align_corners=False)[0, 0]   # (side, side)
            for _ in range(_TRIES):
                top, left = stream.integer(size - side + 1), stream.integer(size - side + 1)
                alpha = torch.zeros(size, size)
                alpha[top:top + side, left:left + side] = ink
                mask = alpha > self.threshold
                if layers.paint(mask, int(self.digit_labels[k]) + 1, self.max_occlusion):
                    # Ink far from the background; in grey, digits may share a shade.
                    color = torch.tensor(pick_color(stream, channels, background, min_distance=0.5))
                    color = color.view(channels, 1, 1)
                    image = torch.lerp(image, color, alpha)      # image * (1 - a) + color * a
                    break
        if self.noise > 0:
            image = image + self.noise * torch.randn(image.shape, generator=g)
        return layers, image.clamp_(0.0, 1.0)

    def __repr__(self) -> str:
        return (f"DigitScenes(num_samples={self.num_samples}, image_size={self.image_size}, "
                f"split={self.split!r}, task={self.task!r}, seed={self.seed})")
