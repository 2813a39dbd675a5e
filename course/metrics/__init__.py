"""Evaluation metrics, in two parts that mirror the lectures.

- :mod:`course.metrics.segmentation`: masks and label maps (mask IoU, confusion
  matrix, mean IoU, pixel accuracy, Dice).
- :mod:`course.metrics.detection`: boxes and ranked detections (box IoU,
  precision-recall curve, average precision, COCO-style mAP).

Everything is importable from ``course.metrics`` directly.
"""
from course.metrics import detection, segmentation
from course.metrics.detection import (
    INTERPOLATIONS as INTERPOLATIONS,
    average_precision as average_precision,
    box_iou as box_iou,
    detection_pr_curves as detection_pr_curves,
    match_detections as match_detections,
    mean_average_precision as mean_average_precision,
    precision_envelope as precision_envelope,
    precision_recall_curve as precision_recall_curve,
)
from course.metrics.segmentation import (
    confusion_matrix as confusion_matrix,
    dice_coefficient as dice_coefficient,
    iou_from_confusion as iou_from_confusion,
    mask_iou as mask_iou,
    mean_iou as mean_iou,
    pixel_accuracy as pixel_accuracy,
)

# The public names are the submodules' own __all__ lists. The imports above name each of
# them (`name as name` marks a re-export for ruff and mypy); tests/test_package.py checks
# that none is missing.
__all__ = [*detection.__all__, *segmentation.__all__]
