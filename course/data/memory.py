"""Generate a dataset once and keep it in memory: :func:`in_memory`."""
from __future__ import annotations

import torch
from torch.utils.data import Dataset, TensorDataset

__all__ = ["in_memory"]


def in_memory(dataset: Dataset) -> TensorDataset:
    """Every ``(input, target)`` pair of ``dataset``, generated once and stacked: a ``TensorDataset``.

    The generated datasets of :mod:`course.data` draw each item when it is
    read; a training loop reading them epoch after epoch draws them again.
    Stacked once, ``inputs`` is ``(N, ...)`` (images ``(N, C, H, W)``) and
    ``targets`` is ``(N, ...)`` (label maps ``(N, H, W)`` or labels ``(N,)``),
    available as ``result.tensors``.

    >>> from course.data import ShapesDataset
    >>> data = in_memory(ShapesDataset(4, image_size=32, num_classes=3, seed=0))
    >>> [tuple(t.shape) for t in data.tensors]
    [(4, 3, 32, 32), (4, 32, 32)]
    """
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise TypeError(f"dataset must be a map-style dataset (with len and indexing), got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ValueError("dataset must hold at least one item, got an empty dataset")
    inputs, targets = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        if not (isinstance(item, (tuple, list)) and len(item) == 2
                and all(isinstance(t, torch.Tensor) for t in item)):
            raise ValueError(f"dataset items must be (input, target) pairs of tensors, got item {i}: "
                             f"{type(item).__name__}")
        inputs.append(item[0])
        targets.append(item[1])
    return TensorDataset(torch.stack(inputs), torch.stack(targets))
