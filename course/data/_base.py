"""The base of the seeded scene datasets (:class:`~course.data.shapes.ShapesDataset`): indexing, epochs, items.

A subclass sets ``num_samples``, ``seed``, ``task``, ``transform`` and
``epoch`` in its ``__init__`` and implements ``_draw(index) -> (layers, image)``;
this base class turns a drawing into the items the datasets return.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from .._checks import check_int
from ._scene import Layers
from .transforms import apply_joint_transform, augmentation_seed


class SceneDataset(torch.utils.data.Dataset):
    """Base of the seeded scene datasets: item ``i`` is a pure function of ``(seed, i)``."""

    num_samples: int
    seed: int
    task: str
    epoch: int
    transform: Callable[..., Any] | None = None

    def _draw(self, index: int) -> tuple[Layers, torch.Tensor]:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentations of ``epoch`` (only matters with a ``transform``)."""
        self.epoch = check_int("epoch", epoch, minimum=0)

    def _check_index(self, index: int) -> int:
        index = check_int("index", index)
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"index must be in [{-self.num_samples}, {self.num_samples}), got {index}")
        return index % self.num_samples

    def scene(self, index: int) -> dict[str, torch.Tensor]:
        """Everything about item ``index``, before any transform.

        Returns a dict: ``image`` (C, H, W) float32, ``mask`` (H, W) int64,
        ``masks`` (K, H, W) bool, ``labels`` (K,) int64, ``boxes`` (K, 4) float32
        (instances in painting order, back to front).
        """
        layers, image = self._draw(self._check_index(index))
        semantic, masks, labels, boxes = layers.result()
        return {"image": image, "mask": semantic, "masks": masks, "labels": labels, "boxes": boxes}

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        # The target is a label map or a dict, depending on ``self.task`` (a runtime choice): Any,
        # so that callers who know their task can index a detection target without narrowing it.
        index = self._check_index(index)
        layers, image = self._draw(index)
        target: torch.Tensor | dict[str, torch.Tensor]
        if self.task == "segmentation":
            target = layers.semantic()          # the instance masks and boxes are not needed
        else:
            _, masks, labels, boxes = layers.result()
            target = {"boxes": boxes, "labels": labels, "masks": masks}
        if self.transform is not None:
            image, target = apply_joint_transform(
                self.transform, image, target,
                seed=augmentation_seed(self.seed, index, self.epoch))
        return image, target
