"""Explorers for evaluating detections: IoU, precision-recall at a threshold, NMS (lectures 08 and 10)."""


def iou_explorer(*args, **kwargs):
    """Placeholder while the explorer is being written (issue 13)."""
    raise NotImplementedError("iou_explorer is being written")


def pr_threshold_explorer(*args, **kwargs):
    """Placeholder while the explorer is being written (issue 13)."""
    raise NotImplementedError("pr_threshold_explorer is being written")


def nms_explorer(*args, **kwargs):
    """Placeholder while the explorer is being written (issue 13)."""
    raise NotImplementedError("nms_explorer is being written")
