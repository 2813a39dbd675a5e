"""Offline datasets: generated scenes, digits and photos that ship inside installed wheels.

Nothing here touches the network.

- :mod:`course.data.shapes`: :class:`ShapesDataset`, synthetic shapes for
  segmentation and detection, generated on the fly.
- :mod:`course.data.digits`: :class:`DigitsClassification` (scikit-learn's
  8x8 handwritten digits, upscaled) and :class:`DigitScenes` (digits pasted on
  a canvas, for segmentation and detection).
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
from .digits import *  # noqa: F403
from .digits import __all__ as _digits_all
from .memory import *  # noqa: F403
from .memory import __all__ as _memory_all
from .photos import *  # noqa: F403
from .photos import __all__ as _photos_all
from .shapes import *  # noqa: F403
from .shapes import __all__ as _shapes_all
from .transforms import *  # noqa: F403
from .transforms import __all__ as _transforms_all

__all__ = list(_shapes_all) + list(_digits_all) + list(_photos_all) + list(_transforms_all) + list(_memory_all)
