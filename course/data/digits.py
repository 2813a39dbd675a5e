"""Real handwritten digits, without a download: scikit-learn's 8x8 digits.

scikit-learn ships 1,797 handwritten digits (8x8 pixels, 16 grey levels, from
the UCI "optical recognition of handwritten digits" set) inside its wheel, as
``sklearn/datasets/data/digits.csv.gz``; ``sklearn.datasets.load_digits``
reads that file, so nothing comes from the network.

* :class:`DigitsClassification`: one digit per image, upscaled (bilinear) to
  ``image_size``, for the first CNN of the course.

**Train and test split.** :func:`split_indices` splits the 1,797 digits once,
stratified by class (each digit keeps the same train/test proportions), with
a fixed seed, so a model trained on the train split is evaluated on
handwriting it has never seen.

>>> train = DigitsClassification("train", image_size=28)
>>> image, label = train[0]
>>> image.shape, image.dtype, type(label)
(torch.Size([1, 28, 28]), torch.float32, <class 'int'>)
>>> len(train) + len(DigitsClassification("test")) == 1797
True
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import torch

from .._checks import check_choice, check_float, check_int
from .transforms import apply_joint_transform, augmentation_seed

__all__ = ["SPLITS", "load_digits", "split_indices", "DigitsClassification"]

SPLITS = ("train", "test")


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
                 transform: Callable[..., Any] | None = None):
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

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
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
