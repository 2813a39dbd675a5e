"""Evaluation metrics, in two parts that mirror the lectures.

- :mod:`course.metrics.segmentation`: masks and label maps (mask IoU, confusion
  matrix, mean IoU, pixel accuracy, Dice).
- :mod:`course.metrics.detection`: boxes and ranked detections (box IoU,
  precision-recall curve, average precision, COCO-style mAP).

Everything is importable from ``course.metrics`` directly.
"""
from .detection import *  # noqa: F403
from .detection import __all__ as _detection_all
from .segmentation import *  # noqa: F403
from .segmentation import __all__ as _segmentation_all

__all__ = list(_segmentation_all) + list(_detection_all)
