"""Speed of the detection metrics next to the libraries they are checked against.

1. ``course.metrics.mean_average_precision`` vs pycocotools' COCOeval on 1,000
   synthetic images (about 20 detections and 7 objects each, 10 classes).
   pycocotools is timed twice: evaluate + accumulate + summarize alone, and
   also including building its COCO objects (``COCO()`` + ``createIndex`` +
   ``loadRes``) from ready-made lists of annotation dicts. Turning the tensors
   into those dicts is not timed for either side; ``course`` takes the tensors
   as they are. Goal: course no slower than pycocotools.
2. ``course.metrics.box_iou`` vs ``torchvision.ops.box_iou`` on 2,000 x 2,000
   boxes. Goal: within 1.5x.

Every figure is the median of several runs (box_iou: alternating the two). Run: ``python benchmarks/metrics.py``.
"""
from __future__ import annotations

import contextlib
import io
import statistics
import time

import numpy as np
import torch
import torchvision
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from course.metrics import box_iou, mean_average_precision

NUM_IMAGES, DETECTIONS, OBJECTS, CLASSES = 1000, 20, 7, 10
MAP_RUNS, IOU_RUNS, IOU_BOXES = 3, 9, 2000


def median_time(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def median_times(first, second, runs: int) -> tuple[float, float]:
    """Median times of two functions run alternately (after a warm-up call each).

    Alternating makes a busy machine slow both alike.
    """
    first(), second()
    pairs = [(median_time(first, 1), median_time(second, 1)) for _ in range(runs)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def random_boxes(rng, n: int) -> np.ndarray:
    corner, size = rng.uniform(0, 400, (n, 2)), rng.uniform(10, 120, (n, 2))
    return np.concatenate([corner, corner + size], axis=1)


def synthetic_dataset(seed: int = 0):
    """Per image: ~7 objects; ~20 detections, most of them jittered copies of objects."""
    rng = np.random.default_rng(seed)
    predictions, targets = [], []
    for _ in range(NUM_IMAGES):
        num_objects = int(rng.integers(OBJECTS - 3, OBJECTS + 4))
        objects, object_labels = random_boxes(rng, num_objects), rng.integers(0, CLASSES, num_objects)
        num_detections = int(rng.integers(DETECTIONS - 5, DETECTIONS + 6))
        source = rng.integers(0, num_objects, num_detections)
        boxes = objects[source] + rng.normal(0, 8, (num_detections, 4))
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        labels = np.where(rng.random(num_detections) < 0.8, object_labels[source],
                          rng.integers(0, CLASSES, num_detections))
        false_alarms = rng.random(num_detections) < 0.25
        boxes[false_alarms] = random_boxes(rng, int(false_alarms.sum()))
        predictions.append({"boxes": torch.tensor(boxes, dtype=torch.float32),
                            "scores": torch.tensor(rng.random(num_detections), dtype=torch.float32),
                            "labels": torch.tensor(labels)})
        targets.append({"boxes": torch.tensor(objects, dtype=torch.float32), "labels": torch.tensor(object_labels)})
    return predictions, targets


def coco_dicts(predictions, targets):
    """The same data as COCO json: xywh boxes, image ids from 1, category ids from 1."""
    annotations, detections = [], []
    for i, (prediction, target) in enumerate(zip(predictions, targets, strict=True)):
        for (x1, y1, x2, y2), label in zip(target["boxes"].double().tolist(), target["labels"].tolist(), strict=True):
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": label + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
        for (x1, y1, x2, y2), score, label in zip(prediction["boxes"].double().tolist(),
                                                  prediction["scores"].tolist(), prediction["labels"].tolist(),
                                                  strict=True):
            detections.append({"image_id": i + 1, "category_id": label + 1,
                               "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score})
    dataset = {"images": [{"id": i + 1} for i in range(len(targets))], "annotations": annotations,
               "categories": [{"id": c + 1} for c in range(CLASSES)]}
    return dataset, detections


def coco_build(dataset, detections):
    ground_truth = COCO()
    ground_truth.dataset = dataset
    ground_truth.createIndex()
    return ground_truth, ground_truth.loadRes(detections)


def coco_evaluate(ground_truth, results) -> float:
    evaluator = COCOeval(ground_truth, results, "bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return float(evaluator.stats[0])


def main() -> None:
    torch.manual_seed(0)
    predictions, targets = synthetic_dataset()
    dataset, detections = coco_dicts(predictions, targets)
    quiet = contextlib.redirect_stdout(io.StringIO())

    with quiet:
        course_map = mean_average_precision(predictions, targets)["map"]
        coco_map = coco_evaluate(*coco_build(dataset, detections))
        # a fresh copy each run: loadRes and evaluate write into the dicts they are given
        course_s = median_time(lambda: mean_average_precision(predictions, targets), MAP_RUNS)
        objects = [coco_build(*_copy(dataset, detections)) for _ in range(MAP_RUNS)]
        coco_eval_s = median_time(lambda: coco_evaluate(*objects.pop()), MAP_RUNS)
        coco_full_s = median_time(lambda: coco_evaluate(*coco_build(*_copy(dataset, detections))), MAP_RUNS)

    num_detections = sum(len(p["scores"]) for p in predictions)
    num_objects = sum(len(t["labels"]) for t in targets)
    print(f"mean_average_precision: {NUM_IMAGES} images, {num_detections} detections, {num_objects} objects, "
          f"{CLASSES} classes (median of {MAP_RUNS} runs)")
    print(f"  mAP: course {course_map:.6f}, pycocotools {coco_map:.6f}, difference {abs(course_map - coco_map):.1e}")
    print(f"  course.metrics.mean_average_precision          {course_s:7.3f} s")
    print(f"  pycocotools evaluate+accumulate+summarize      {coco_eval_s:7.3f} s   course / pycocotools = "
          f"{course_s / coco_eval_s:.2f}  (goal <= 1)")
    print(f"  pycocotools building COCO objects + the above  {coco_full_s:7.3f} s   course / pycocotools = "
          f"{course_s / coco_full_s:.2f}")

    corner = torch.rand(IOU_BOXES, 2) * 500
    boxes1 = torch.cat([corner, corner + torch.rand(IOU_BOXES, 2) * 100], dim=1)
    corner = torch.rand(IOU_BOXES, 2) * 500
    boxes2 = torch.cat([corner, corner + torch.rand(IOU_BOXES, 2) * 100], dim=1)
    torch.testing.assert_close(box_iou(boxes1, boxes2), torchvision.ops.box_iou(boxes1, boxes2))
    ours, theirs = median_times(lambda: box_iou(boxes1, boxes2),
                                lambda: torchvision.ops.box_iou(boxes1, boxes2), IOU_RUNS)
    print(f"box_iou: {IOU_BOXES} x {IOU_BOXES} boxes, float32, {torch.get_num_threads()} threads "
          f"(median of {IOU_RUNS} runs)")
    print(f"  course.metrics.box_iou                         {ours * 1e3:7.1f} ms")
    print(f"  torchvision.ops.box_iou                        {theirs * 1e3:7.1f} ms   course / torchvision = "
          f"{ours / theirs:.2f}  (goal <= 1.5)")


def _copy(dataset, detections):
    return ({key: [dict(item) for item in value] for key, value in dataset.items()},
            [dict(d) for d in detections])


if __name__ == "__main__":
    main()
