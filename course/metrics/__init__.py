"""Evaluation metrics, in two parts that mirror the lectures.

- :mod:`course.metrics.segmentation`: masks and label maps (mask IoU, confusion
  matrix, mean IoU, pixel accuracy, Dice).
- :mod:`course.metrics.detection`: boxes and ranked detections (box IoU,
  precision-recall curve, average precision, COCO-style mAP).

Everything is importable from ``course.metrics`` directly.
"""
from course.metrics.detection import (
    INTERPOLATIONS,
    average_precision,
    box_iou,
    detection_pr_curves,
    match_detections,
    mean_average_precision,
    precision_envelope,
    precision_recall_curve,
)
from course.metrics.segmentation import (
    confusion_matrix,
    dice_coefficient,
    iou_from_confusion,
    mask_iou,
    mean_iou,
    pixel_accuracy,
)

__all__ = [
    "mask_iou",
    "confusion_matrix",
    "mean_iou",
    "iou_from_confusion",
    "pixel_accuracy",
    "dice_coefficient",
    "INTERPOLATIONS",
    "box_iou",
    "precision_recall_curve",
    "average_precision",
    "precision_envelope",
    "match_detections",
    "detection_pr_curves",
    "mean_average_precision",
]
