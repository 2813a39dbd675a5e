"""Offline datasets: generated scenes, digits and photos that ship inside installed wheels.

Nothing here touches the network.

- :mod:`course.data.shapes`: :class:`ShapesDataset`, synthetic shapes for
  segmentation and detection, generated on the fly.
- :mod:`course.data.digits`: :class:`DigitsClassification`, scikit-learn's
  8x8 handwritten digits, upscaled.
- :mod:`course.data.photos`: :func:`sample_photo` / :func:`list_photos`, three
  real photographs bundled with scikit-learn and matplotlib.
- :mod:`course.data.transforms`: joint, seeded augmentation of images with
  their label maps, boxes and masks (torchvision ``transforms.v2``).
- :mod:`course.data.memory`: :func:`in_memory`, a generated dataset drawn
  once and kept as tensors (for training several epochs).

Conventions: images (C, H, W) float32 in [0, 1]; label maps (H, W) int64 with
0 = background; boxes (K, 4) float32 ``xyxy`` in pixels, continuous
coordinates (a box covering columns 2..4 is ``x1 = 2, x2 = 5``). Randomness
comes from a ``seed`` argument, never from the global generator.

Everything is importable from ``course.data`` directly; torchvision and
scikit-learn are only imported when a function needs them.
"""
from course.data.digits import SPLITS, DigitsClassification, load_digits, split_indices
from course.data.memory import in_memory
from course.data.photos import PHOTOS, list_photos, photo_path, sample_photo
from course.data.shapes import SHAPE_KINDS, ShapesDataset
from course.data.transforms import (
    AugmentedDataset,
    MasksToBoxes,
    apply_joint_transform,
    augmentation_seed,
    detection_augmentation,
    segmentation_augmentation,
)

__all__ = [
    "SHAPE_KINDS",
    "ShapesDataset",
    "SPLITS",
    "load_digits",
    "split_indices",
    "DigitsClassification",
    "PHOTOS",
    "list_photos",
    "photo_path",
    "sample_photo",
    "apply_joint_transform",
    "augmentation_seed",
    "AugmentedDataset",
    "MasksToBoxes",
    "segmentation_augmentation",
    "detection_augmentation",
    "in_memory",
]
