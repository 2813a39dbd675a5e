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
from course.data import digits, memory, photos, shapes, transforms
from course.data.digits import (
    SPLITS as SPLITS,
    DigitsClassification as DigitsClassification,
    load_digits as load_digits,
    split_indices as split_indices,
)
from course.data.memory import (
    in_memory as in_memory,
)
from course.data.photos import (
    PHOTOS as PHOTOS,
    list_photos as list_photos,
    photo_path as photo_path,
    sample_photo as sample_photo,
)
from course.data.shapes import (
    SHAPE_KINDS as SHAPE_KINDS,
    ShapesDataset as ShapesDataset,
)
from course.data.transforms import (
    AugmentedDataset as AugmentedDataset,
    MasksToBoxes as MasksToBoxes,
    apply_joint_transform as apply_joint_transform,
    augmentation_seed as augmentation_seed,
    detection_augmentation as detection_augmentation,
    segmentation_augmentation as segmentation_augmentation,
)

# The public names are the submodules' own __all__ lists. The imports above name each of
# them (`name as name` marks a re-export for ruff and mypy); tests/test_package.py checks
# that none is missing.
__all__ = [*digits.__all__, *memory.__all__, *photos.__all__, *shapes.__all__, *transforms.__all__]
