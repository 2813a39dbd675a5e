"""Tests for course.metrics.detection: box IoU against torchvision, the PR curve and
AP against scikit-learn and hand-worked examples, mAP against pycocotools' COCOeval."""
from __future__ import annotations

import contextlib
import io
import math
import warnings

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import assume, given, settings, strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from sklearn.metrics import average_precision_score, precision_recall_curve as sklearn_precision_recall_curve

import course.metrics.detection as det
from course.metrics import average_precision, box_iou, mean_average_precision, precision_recall_curve

HYPOTHESIS = settings(max_examples=60, deadline=None)

coordinates = st.floats(-100, 100, allow_nan=False, width=32)
sizes = st.floats(0, 60, allow_nan=False, width=32)


@st.composite
def xyxy_boxes(draw, max_boxes=12):
    rows = draw(st.lists(st.tuples(coordinates, coordinates, sizes, sizes), max_size=max_boxes))
    corner_size = torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)
    return torch.cat([corner_size[:, :2], corner_size[:, :2] + corner_size[:, 2:]], dim=1)


# --------------------------------------------------------------------------
# box_iou
# --------------------------------------------------------------------------

@HYPOTHESIS
@given(boxes1=xyxy_boxes(), boxes2=xyxy_boxes())
def test_box_iou_equals_torchvision(boxes1, boxes2):
    got, expected = box_iou(boxes1, boxes2), torchvision.ops.box_iou(boxes1, boxes2)
    assert got.shape == expected.shape == (len(boxes1), len(boxes2)) and got.dtype == expected.dtype
    torch.testing.assert_close(got, expected, equal_nan=True)      # two zero-area boxes: 0/0


def test_box_iou_worked_example():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 0.0, 3.0, 2.0],     # overlap 1x2 = 2, union 4 + 4 - 2 = 6
                      [0.0, 0.0, 2.0, 2.0],     # the same box
                      [2.0, 0.0, 4.0, 2.0],     # touching edges: no area in common
                      [0.5, 0.5, 1.5, 1.5]])    # inside: 1 / 4
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[1 / 3, 1.0, 0.0, 0.25]]))


# --------------------------------------------------------------------------
# precision_recall_curve and average_precision("none") against scikit-learn
# --------------------------------------------------------------------------

@st.composite
def rankings(draw, max_size=40):
    """Scores (often tied: drawn from a few values) and binary labels with a positive."""
    n = draw(st.integers(1, max_size))
    values = draw(st.sampled_from([
        st.sampled_from([0.1, 0.5, 0.9]),
        st.sampled_from([0.0, 0.2, 0.25, 0.4, 0.6, 0.8, 1.0]),
        st.floats(0, 1, allow_nan=False),
    ]))
    scores = draw(st.lists(values, min_size=n, max_size=n))
    labels = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    assume(sum(labels) > 0)
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    return torch.tensor(scores, dtype=dtype), torch.tensor(labels)


@HYPOTHESIS
@given(ranking=rankings())
def test_precision_recall_curve_equals_sklearn(ranking):
    scores, labels = ranking
    precision, recall, thresholds = precision_recall_curve(scores, labels)
    sk_precision, sk_recall, sk_thresholds = sklearn_precision_recall_curve(labels.numpy(), scores.numpy())
    assert precision.shape == sk_precision.shape and recall.shape == sk_recall.shape
    assert precision.dtype == recall.dtype == torch.float64
    np.testing.assert_allclose(precision.numpy(), sk_precision, rtol=0, atol=1e-12)
    np.testing.assert_allclose(recall.numpy(), sk_recall, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(thresholds.numpy(), sk_thresholds)
    assert thresholds.dtype == scores.dtype


@HYPOTHESIS
@given(ranking=rankings())
def test_average_precision_none_equals_sklearn(ranking):
    scores, labels = ranking
    expected = average_precision_score(labels.numpy(), scores.numpy())
    assert average_precision(scores, labels) == pytest.approx(expected, abs=1e-12)
    assert average_precision(scores, labels.bool(), "none") == pytest.approx(expected, abs=1e-12)


def test_precision_recall_curve_groups_ties():
    # scores 0.9 (TP), 0.5 (TP), 0.5 (FP), 0.1 (FP); thresholds 0.1 < 0.5 < 0.9
    # (scikit-learn 1.9 keeps the points after full recall, here t = 0.1; old versions dropped them)
    # t = 0.9: P = 1/1, R = 1/2;  t = 0.5: P = 2/3, R = 2/2;  t = 0.1: P = 2/4, R = 1
    scores = torch.tensor([0.5, 0.9, 0.1, 0.5], dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 1])
    precision, recall, thresholds = precision_recall_curve(scores, labels)
    assert thresholds.tolist() == [0.1, 0.5, 0.9]
    assert precision.tolist() == pytest.approx([1 / 2, 2 / 3, 1.0, 1.0])
    assert recall.tolist() == [1.0, 1.0, 0.5, 0.0]


def test_num_positives_lowers_recall():
    # 2 of 4 objects found, the other 2 never detected
    scores, labels = torch.tensor([0.9, 0.8, 0.7]), torch.tensor([1, 0, 1])
    precision, recall, _ = precision_recall_curve(scores, labels, num_positives=4)
    assert recall.tolist() == [0.5, 0.25, 0.25, 0.0]
    assert precision.tolist() == pytest.approx([2 / 3, 1 / 2, 1.0, 1.0])
    # AP = 1/4 * 1 + 1/4 * 2/3; half the AP of the same ranking with only 2 objects
    assert average_precision(scores, labels, num_positives=4) == pytest.approx(0.25 + 0.25 * 2 / 3)
    assert average_precision(scores, labels) == pytest.approx(2 * (0.25 + 0.25 * 2 / 3))


def test_no_positive_follows_sklearn_for_the_curve_and_gives_nan_ap():
    scores, labels = torch.tensor([0.2, 0.7, 0.7], dtype=torch.float64), torch.tensor([0, 0, 0])
    with pytest.warns(UserWarning, match="recall = TP / 0 is undefined; it is set to 1"):
        precision, recall, thresholds = precision_recall_curve(scores, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sklearn_precision_recall_curve(labels.numpy(), scores.numpy())
    for got, want in zip((precision, recall, thresholds), expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want)
    with pytest.warns(UserWarning, match="average precision is undefined, returning nan"):
        assert math.isnan(average_precision(scores, labels, "coco101"))


def test_no_score_but_objects_gives_zero_ap():
    empty = torch.zeros(0)
    for interpolation in det.INTERPOLATIONS:
        assert average_precision(empty, empty.long(), interpolation, num_positives=3) == 0.0


# --------------------------------------------------------------------------
# Interpolated AP: the lecture's worked example, by hand
# --------------------------------------------------------------------------

# 5 detections by decreasing score: TP, FP, TP, TP, FP; 4 objects (one never detected)
#   cumulative TP  1    1    2    3    3
#   cumulative FP  0    1    1    1    2
#   precision      1    1/2  2/3  3/4  3/5
#   recall         1/4  1/4  2/4  3/4  3/4
#   envelope       1    3/4  3/4  3/4  3/5     (max precision at this recall or beyond)
WORKED = dict(scores=torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5]), labels=torch.tensor([1, 0, 1, 1, 0]),
              num_positives=4)


@pytest.mark.parametrize("interpolation, expected", [
    # none: 1/4 * 1 + 0 * 1/2 + 1/4 * 2/3 + 1/4 * 3/4 + 0 * 3/5 = 1/4 + 1/6 + 3/16 = 29/48
    ("none", 29 / 48),
    # all_points: 1/4 * 1 + 1/4 * 3/4 + 1/4 * 3/4 = 5/8
    ("all_points", 5 / 8),
    # voc11: r = 0, .1, .2 -> 1; r = .3 ... .7 (5 points) -> 3/4; r = .8, .9, 1 -> 0 (never reached)
    #        (3 * 1 + 5 * 3/4) / 11 = 6.75 / 11
    ("voc11", 6.75 / 11),
    # coco101: r = 0 ... .25 (26 points) -> 1; r = .26 ... .75 (50 points) -> 3/4; r = .76 ... 1 -> 0
    #          (26 + 50 * 3/4) / 101 = 63.5 / 101
    ("coco101", 63.5 / 101),
])
def test_interpolated_ap_worked_example(interpolation, expected):
    got = average_precision(WORKED["scores"], WORKED["labels"], interpolation,
                            num_positives=WORKED["num_positives"])
    assert isinstance(got, float)
    assert got == pytest.approx(expected, abs=1e-12)


def test_envelope_never_lowers_ap():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        scores = torch.rand(30, generator=g, dtype=torch.float64)
        labels = (torch.rand(30, generator=g) < 0.4).long()
        labels[0] = 1
        assert average_precision(scores, labels, "all_points") >= average_precision(scores, labels) - 1e-12


# Reference implementations transcribed from the well-known scripts, one detection at
# a time (so: distinct scores), to cross-check the interpolated variants on random data.

def voc_ap_reference(recall, precision, use_07_metric):
    """py-faster-rcnn's voc_eval.voc_ap."""
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = 0 if np.sum(recall >= t) == 0 else np.max(precision[recall >= t])
            ap += p / 11.0
        return ap
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def coco_ap_reference(recall, precision):
    """The 101-point part of pycocotools' COCOeval.accumulate."""
    precision = precision.tolist()
    for i in range(len(precision) - 1, 0, -1):
        precision[i - 1] = max(precision[i - 1], precision[i])
    q = np.zeros(101)
    for ri, pi in enumerate(np.searchsorted(recall, np.linspace(0.0, 1.0, 101), side="left")):
        if pi < len(precision):
            q[ri] = precision[pi]
    return q.mean()


@pytest.mark.parametrize("seed", range(10))
def test_interpolated_ap_matches_reference_scripts(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    scores = rng.permutation(n) / n                              # distinct
    labels = (rng.random(n) < rng.random()).astype(int)
    num_positives = int(labels.sum() + rng.integers(0 if labels.sum() else 1, 4))
    order = np.argsort(-scores)
    tp = np.cumsum(labels[order])
    recall, precision = tp / num_positives, tp / np.arange(1, n + 1)
    args = torch.from_numpy(scores), torch.from_numpy(labels)
    assert average_precision(*args, "voc11", num_positives=num_positives) == pytest.approx(
        voc_ap_reference(recall, precision, True), abs=1e-12)
    assert average_precision(*args, "all_points", num_positives=num_positives) == pytest.approx(
        voc_ap_reference(recall, precision, False), abs=1e-12)
    assert average_precision(*args, "coco101", num_positives=num_positives) == pytest.approx(
        coco_ap_reference(recall, precision), abs=1e-12)


# --------------------------------------------------------------------------
# mean_average_precision against pycocotools
# --------------------------------------------------------------------------

def coco_evaluate(predictions, targets, iou_thresholds=None, max_detections=100):
    """COCOeval (bbox, no crowd) on in-memory objects; image i has id i + 1, label c is category c + 1."""
    labels = torch.cat([d["labels"] for d in predictions] + [d["labels"] for d in targets]).unique()
    images = [{"id": i + 1} for i in range(len(targets))]
    annotations, detections = [], []
    for i, (prediction, target) in enumerate(zip(predictions, targets, strict=True)):
        for box, label in zip(target["boxes"].double().tolist(), target["labels"].tolist(), strict=True):
            x1, y1, x2, y2 = box
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": label + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                "iscrowd": 0})
        for box, score, label in zip(prediction["boxes"].double().tolist(), prediction["scores"].tolist(),
                                     prediction["labels"].tolist(), strict=True):
            x1, y1, x2, y2 = box
            detections.append({"image_id": i + 1, "category_id": label + 1,
                               "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score})
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = {"images": images, "annotations": annotations,
                                "categories": [{"id": c + 1} for c in labels.tolist()]}
        ground_truth.createIndex()
        evaluator = COCOeval(ground_truth, ground_truth.loadRes(detections), "bbox")
        if iou_thresholds is not None:
            evaluator.params.iouThrs = np.array(iou_thresholds, dtype=np.float64)
        evaluator.params.maxDets = [1, min(10, max_detections), max_detections]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def coco_per_class(evaluator):
    """Per-category AP (area all, last maxDets) averaged over thresholds; -1 for absent ones."""
    precision = evaluator.eval["precision"][:, :, :, 0, -1]        # (T, R, K)
    return {c - 1: (precision[:, :, k].mean() if (precision[:, :, k] > -1).all() else -1.0)
            for k, c in enumerate(evaluator.params.catIds)}


def random_scene(seed: int):
    """A few images with objects, jittered and duplicated detections, false alarms,
    wrong labels, images without detections or objects, a class without objects and
    (often) tied scores; integer coordinates in half of the scenes give exact IoU ties."""
    rng = np.random.default_rng(seed)
    num_images, num_classes = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    integer = rng.random() < 0.5
    tied_scores = rng.random() < 0.5
    jitter = rng.choice([2.0, 6.0, 12.0])

    def boxes(n):
        corner, size = rng.uniform(0, 80, (n, 2)), rng.uniform(4, 40, (n, 2))
        if integer:
            corner, size = corner.round(), size.round()
        return np.concatenate([corner, corner + size], axis=1)

    predictions, targets = [], []
    for _ in range(num_images):
        gt_boxes = boxes(int(rng.choice([0, 1, 2, 3, 5, 8])))
        gt_labels = rng.integers(0, num_classes, len(gt_boxes))
        pred_boxes, pred_labels = [], []
        for box, label in zip(gt_boxes, gt_labels, strict=True):
            for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):                  # missed, found, duplicates
                noise = rng.uniform(-jitter, jitter, 4)
                noisy = box + (noise.round() if integer else noise)
                noisy[2:] = np.maximum(noisy[2:], noisy[:2])
                pred_boxes.append(noisy)
                pred_labels.append(label if rng.random() < 0.85 else rng.integers(0, num_classes + 1))
        for box in boxes(int(rng.integers(0, 4))):                         # false alarms
            pred_boxes.append(box)
            pred_labels.append(rng.integers(0, num_classes + 1))           # class num_classes: no objects
        if rng.random() < 0.15:                                            # an image without detections
            pred_boxes, pred_labels = [], []
        n = len(pred_boxes)
        scores = rng.choice([0.2, 0.5, 0.8], n) if tied_scores else rng.random(n)
        predictions.append({"boxes": torch.tensor(np.array(pred_boxes), dtype=torch.float32).reshape(n, 4),
                            "scores": torch.tensor(scores, dtype=torch.float32),
                            "labels": torch.tensor(pred_labels, dtype=torch.int64).reshape(n)})
        targets.append({"boxes": torch.tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4),
                        "labels": torch.tensor(gt_labels, dtype=torch.int64)})
    return predictions, targets


SCENES = [seed for seed in range(80) if sum(len(p["scores"]) for p in random_scene(seed)[0]) > 0][:60]


@pytest.mark.parametrize("seed", SCENES)
def test_mean_average_precision_equals_cocoeval(seed):
    predictions, targets = random_scene(seed)
    result = mean_average_precision(predictions, targets)
    expected = coco_evaluate(predictions, targets)
    stats = expected.stats

    def coco(value):                       # pycocotools says -1 where there is nothing to average
        return math.nan if value == -1 else value

    assert result["map"] == pytest.approx(coco(stats[0]), abs=1e-4, nan_ok=True)
    assert result["map_50"] == pytest.approx(coco(stats[1]), abs=1e-4, nan_ok=True)
    assert result["map_75"] == pytest.approx(coco(stats[2]), abs=1e-4, nan_ok=True)
    assert result["mar"] == pytest.approx(coco(stats[8]), abs=1e-4, nan_ok=True)
    per_class = {c: coco(ap) for c, ap in coco_per_class(expected).items()}
    assert result["map_per_class"] == pytest.approx(per_class, abs=1e-4, nan_ok=True)


def test_scenes_cover_the_hard_cases():
    """The random scenes above do contain what they claim to."""
    seen = dict(no_detections=0, no_objects=0, class_without_objects=0, duplicates=0, ties=0, exact_iou_ties=0)
    for seed in SCENES:
        predictions, targets = random_scene(seed)
        gt_labels = torch.cat([t["labels"] for t in targets])
        for p, t in zip(predictions, targets, strict=True):
            seen["no_detections"] += len(p["scores"]) == 0
            seen["no_objects"] += len(t["labels"]) == 0
            seen["class_without_objects"] += bool((~torch.isin(p["labels"], gt_labels)).any())
            seen["ties"] += len(p["scores"].unique()) < len(p["scores"])
            if len(p["scores"]) and len(t["labels"]):
                iou = box_iou(p["boxes"], t["boxes"])
                seen["duplicates"] += bool(((iou > 0.5).sum(0) > 1).any())
                seen["exact_iou_ties"] += bool((iou.double() == 0.5).any() | (iou.double() == 0.75).any())
    assert all(count >= 3 for count in seen.values()), seen


@pytest.mark.parametrize("seed", SCENES[:10])
def test_voc_style_map50_equals_cocoeval_with_one_threshold(seed):
    predictions, targets = random_scene(seed)
    result = mean_average_precision(predictions, targets, iou_thresholds=[0.5])
    stats = coco_evaluate(predictions, targets, iou_thresholds=[0.5]).stats
    assert result["map"] == pytest.approx(stats[0], abs=1e-4)
    assert result["map_50"] == pytest.approx(stats[1], abs=1e-4)
    assert math.isnan(result["map_75"]) and stats[2] == -1         # 0.75 not evaluated
    assert result["iou_thresholds"].tolist() == [0.5]


@pytest.mark.parametrize("seed", SCENES[:10])
def test_max_detections_applies_per_image_and_class_as_cocoeval(seed):
    predictions, targets = random_scene(seed)
    result = mean_average_precision(predictions, targets, max_detections=1)
    evaluator = coco_evaluate(predictions, targets, max_detections=1)
    # summarize() hard-codes maxDets=100 for stats[0] (it prints -1 here): read the table
    precision = evaluator.eval["precision"][:, :, :, 0, -1]         # (T, R, K), area "all"
    assert result["map"] == pytest.approx(precision[precision > -1].mean(), abs=1e-4)
    assert result["mar"] == pytest.approx(evaluator.stats[8], abs=1e-4)


def test_coco_map_is_the_mean_of_the_ten_per_threshold_maps():
    """The syllabus: mAP@[.5:.95] = (mAP_0.50 + mAP_0.55 + ... + mAP_0.95) / 10."""
    predictions, targets = random_scene(SCENES[0])
    result = mean_average_precision(predictions, targets)
    per_threshold = [mean_average_precision(predictions, targets, iou_thresholds=[t])["map"]
                     for t in np.linspace(0.5, 0.95, 10)]
    assert result["map"] == pytest.approx(sum(per_threshold) / 10, abs=1e-12)
    assert result["map_per_threshold"].tolist() == pytest.approx(per_threshold, abs=1e-12)
    assert result["map_50"] == per_threshold[0] and result["map_75"] == per_threshold[5]


def test_worked_example_duplicates_are_false_positives():
    # object A found twice (the second detection is a duplicate: FP), object B found with IoU 2/3
    predictions = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]]),
                    "scores": torch.tensor([0.9, 0.8, 0.7]), "labels": torch.tensor([1, 1, 1])}]
    targets = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 35]]), "labels": torch.tensor([1, 1])}]
    result = mean_average_precision(predictions, targets)
    # t <= 0.65: TP FP TP, recall 1/2 1/2 1, envelope 1 2/3 2/3 -> (51 * 1 + 50 * 2/3) / 101
    # t >= 0.70: TP FP FP, recall 1/2 stays                       -> 51 / 101
    at_low, at_high = (51 + 50 * 2 / 3) / 101, 51 / 101
    expected = result["map_per_threshold"].tolist()
    assert expected == pytest.approx([at_low] * 4 + [at_high] * 6)
    assert result["map"] == pytest.approx((4 * at_low + 6 * at_high) / 10)
    assert result["map_per_class"] == {1: pytest.approx(result["map"])}
    assert result["mar"] == pytest.approx((4 * 1.0 + 6 * 0.5) / 10)
    all_points = mean_average_precision(predictions, targets, [0.5], interpolation="all_points")
    assert all_points["map"] == pytest.approx(0.5 + 0.5 * 2 / 3)      # PASCAL VOC 2010+


def test_edge_cases_without_detections_or_objects():
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    nothing = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}
    one_object = {"boxes": box, "labels": torch.tensor([3])}
    # objects but no detection at all: AP 0 (pycocotools cannot even load an empty result list)
    result = mean_average_precision([nothing], [one_object])
    assert result["map"] == 0.0 and result["map_per_class"] == {3: 0.0} and result["mar"] == 0.0
    # detections but no object: no class has an AP
    detection = {"boxes": box, "scores": torch.tensor([0.5]), "labels": torch.tensor([2])}
    result = mean_average_precision([detection], [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0).long()}])
    assert math.isnan(result["map"]) and math.isnan(result["map_per_class"][2])
    assert result["ap"].shape == (10, 1) and result["classes"].tolist() == [2]
    # a class with detections only is left out of the mean, not counted as 0
    detections = {"boxes": torch.cat([box, box]), "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([3, 2])}
    result = mean_average_precision([detections], [one_object])
    assert result["map"] == 1.0 and math.isnan(result["map_per_class"][2])


@pytest.mark.parametrize("objects_order", [[0, 1], [1, 0]])
def test_equal_ious_go_to_the_last_object_as_cocoeval(objects_order):
    # The first detection overlaps objects A and B equally (IoU 75 / 125 = 0.6 with each).
    # pycocotools gives it the last of them in the targets' order; the second detection
    # (exactly A, IoU 1/3 with B) then finds A free or not, so the order changes the AP.
    objects = torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10]])[objects_order]        # A, B
    predictions = [{"boxes": torch.tensor([[2.5, 0, 12.5, 10], [0, 0, 10, 10]]),
                    "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([0, 0])}]
    targets = [{"boxes": objects, "labels": torch.tensor([0, 0])}]
    result = mean_average_precision(predictions, targets, iou_thresholds=[0.5])
    assert result["map"] == pytest.approx(coco_evaluate(predictions, targets, [0.5]).stats[0], abs=1e-12)
    # B last: the first detection takes B, the second A (2 TP). A last: it takes A, the second is an FP.
    assert result["map"] == pytest.approx(1.0 if objects_order == [0, 1] else 51 / 101)


def test_recall_and_iou_exactly_on_cocos_grid_points():
    # pycocotools' thresholds come from numpy.linspace: recall point 0.35 is 0.35000000000000003
    # and the IoU threshold 0.8 is exactly 0.8. With 20 objects recall hits 7/20 = 0.35 exactly;
    # one detection has IoU 80/100 = 0.8 exactly. Both must compare as pycocotools compares them.
    objects = torch.tensor([[20.0 * i, 0, 20 * i + 10, 10] for i in range(20)])
    hits = objects.clone()
    hits[0, 3] = 8.0                                         # IoU 0.8 with object 0
    far = torch.tensor([[500.0, 500, 510, 510]])
    outcome = "TTTTTTTFFFFFTTTTTTTFFFTTTTT"                  # in decreasing score
    boxes, used = [], 0
    for o in outcome:
        boxes.append(hits[used] if o == "T" else far[0])
        used += o == "T"
    predictions = [{"boxes": torch.stack(boxes), "scores": torch.linspace(1, 0.1, len(outcome)),
                    "labels": torch.zeros(len(outcome), dtype=torch.long)}]
    targets = [{"boxes": objects, "labels": torch.zeros(20, dtype=torch.long)}]
    result = mean_average_precision(predictions, targets)
    evaluator = coco_evaluate(predictions, targets)
    assert result["map"] == pytest.approx(evaluator.stats[0], abs=1e-12)
    coco = evaluator.eval["precision"][:, :, 0, 0, -1].mean(1)
    assert result["map_per_threshold"].tolist() == pytest.approx(coco.tolist(), abs=1e-12)


def test_iou_exactly_at_the_threshold_is_a_match():
    # IoU = 50 / 100 = 0.5 exactly (pycocotools: IoU >= threshold)
    predictions = [{"boxes": torch.tensor([[0.0, 0.0, 10.0, 5.0]]), "scores": torch.tensor([1.0]),
                    "labels": torch.tensor([0])}]
    targets = [{"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0]]), "labels": torch.tensor([0])}]
    assert mean_average_precision(predictions, targets)["map_50"] == 1.0
    assert mean_average_precision(predictions, targets)["map_per_threshold"][1] == 0.0


# --------------------------------------------------------------------------
# Bad input: the message names the argument, the expectation and the value
# --------------------------------------------------------------------------

def test_bad_boxes_for_iou():
    good = torch.zeros(2, 4)
    with pytest.raises(ValueError, match=r"boxes2 must be a tensor of shape \(N, 4\), got shape \(2, 3\)"):
        box_iou(good, torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"boxes1 must be xyxy boxes with x1 <= x2 and y1 <= y2, "
                                         r"got boxes1\[1\] = \[4.0, 0.0, 2.0, 1.0\]"):
        box_iou(torch.tensor([[0.0, 0, 1, 1], [4, 0, 2, 1]]), good)


def test_bad_scores_and_labels():
    scores = torch.tensor([0.1, 0.4, 0.35])
    with pytest.raises(ValueError, match="scores and labels must have the same length, got 3 and 2"):
        precision_recall_curve(scores, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"labels must be binary \(0 or 1\), got labels\[1\] = 2"):
        average_precision(scores, torch.tensor([0, 2, 1]))
    with pytest.raises(ValueError, match=r"labels must be binary \(0 or 1\), got labels\[0\] = -1"):
        precision_recall_curve(scores, torch.tensor([-1, 1, 1]))
    with pytest.raises(ValueError, match=r"scores must be finite, got scores\[2\] = nan"):
        average_precision(torch.tensor([0.1, 0.4, float("nan")]), torch.tensor([0, 1, 1]))
    with pytest.raises(TypeError, match="scores must be a floating-point tensor, got dtype torch.int64"):
        average_precision(torch.tensor([1, 2, 3]), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match=r"num_positives must be >= the number of positive labels \(2\), got 1"):
        average_precision(scores, torch.tensor([0, 1, 1]), num_positives=1)


def test_unknown_interpolation_lists_the_choices():
    with pytest.raises(ValueError, match="interpolation must be one of 'none', 'all_points', 'voc11', "
                                         "'coco101', got 'voc12'"):
        average_precision(torch.tensor([0.5]), torch.tensor([1]), interpolation="voc12")


def image(n=2, m=1):
    box = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    return ({"boxes": box.repeat(n, 1), "scores": torch.ones(n), "labels": torch.zeros(n, dtype=torch.long)},
            {"boxes": box.repeat(m, 1), "labels": torch.zeros(m, dtype=torch.long)})


def test_bad_detection_lists():
    p, t = image()
    with pytest.raises(ValueError, match="predictions and targets must have one dict per image each, got 2 and 1"):
        mean_average_precision([p, p], [t])
    with pytest.raises(ValueError, match="predictions must be a non-empty list of dicts, one per image, "
                                         "got an empty list"):
        mean_average_precision([], [])
    with pytest.raises(TypeError, match="targets must be a list of dicts, one per image, got dict"):
        mean_average_precision([p], t)
    with pytest.raises(ValueError, match=r"predictions\[1\] must be a dict with keys 'boxes', 'scores', 'labels', "
                                         r"missing 'scores' \(got keys \['boxes', 'labels'\]\)"):
        mean_average_precision([p, {"boxes": p["boxes"], "labels": p["labels"]}], [t, t])
    with pytest.raises(TypeError, match=r"targets\[0\] must be a dict with keys 'boxes', 'labels', got tuple"):
        mean_average_precision([p], [(t["boxes"], t["labels"])])
    with pytest.raises(ValueError, match=r"targets\[0\]\['boxes'\] must be a tensor of shape \(N, 4\), "
                                         r"got shape \(1, 5\)"):
        mean_average_precision([p], [{"boxes": torch.zeros(1, 5), "labels": t["labels"]}])
    with pytest.raises(ValueError, match=r"predictions\[0\]\['scores'\] must have one entry per box of "
                                         r"predictions\[0\]\['boxes'\] \(2\), got shape \(3,\)"):
        mean_average_precision([{**p, "scores": torch.ones(3)}], [t])
    with pytest.raises(TypeError, match=r"targets\[0\]\['labels'\] must be an integer tensor, got dtype torch.float32"):
        mean_average_precision([p], [{**t, "labels": t["labels"].float()}])
    bad = torch.tensor([[0.0, 0, 1, 1], [3, 3, 2, 5]])
    with pytest.raises(ValueError, match=r"predictions\[0\]\['boxes'\] must be xyxy boxes with x1 <= x2 and "
                                         r"y1 <= y2, got predictions\[0\]\['boxes'\]\[1\] = \[3.0, 3.0, 2.0, 5.0\]"):
        mean_average_precision([{**p, "boxes": bad}], [t])


def test_bad_map_parameters():
    p, t = image()
    with pytest.raises(ValueError, match="max_detections must be an int >= 1, got 0"):
        mean_average_precision([p], [t], max_detections=0)
    with pytest.raises(ValueError, match=r"iou_thresholds must be numbers in \[0, 1\], got 1.5"):
        mean_average_precision([p], [t], iou_thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="iou_thresholds must be None or a non-empty sequence of numbers "
                                         r"such as \[0.5\], got 0.5"):
        mean_average_precision([p], [t], iou_thresholds=0.5)
    with pytest.raises(ValueError, match=r"interpolation must be one of .*, got 'voc'"):
        mean_average_precision([p], [t], interpolation="voc")


# --------------------------------------------------------------------------
# match_detections: the greedy matching, one image and one class
# --------------------------------------------------------------------------

def greedy_by_loops(boxes, scores, gt_boxes, iou_threshold):
    """The rule written again with loops: by score, take the free object of highest IoU (ties: the last)."""
    iou = torchvision.ops.box_iou(boxes.double(), gt_boxes.double())
    order = sorted(range(len(boxes)), key=lambda d: -float(scores[d]))      # stable: ties keep input order
    free = [True] * len(gt_boxes)
    matched = [-1] * len(boxes)
    for d in order:
        best, best_iou = -1, -1.0
        for g in range(len(gt_boxes)):
            if free[g] and float(iou[d, g]) >= best_iou:
                best, best_iou = g, float(iou[d, g])
        if best >= 0 and best_iou >= iou_threshold:
            matched[d] = best
            free[best] = False
    return matched


@pytest.mark.parametrize("seed", range(30))
def test_match_detections_equals_the_rule_written_with_loops(seed):
    g = torch.Generator().manual_seed(seed)
    num_gt, num_det = int(torch.randint(0, 6, (1,), generator=g)), int(torch.randint(0, 12, (1,), generator=g))
    def random_boxes(n):
        xy = torch.randint(0, 20, (n, 2), generator=g).double()
        wh = torch.randint(1, 10, (n, 2), generator=g).double()
        return torch.cat([xy, xy + wh], dim=1)
    gt_boxes = random_boxes(num_gt)
    boxes = torch.cat([gt_boxes[torch.randint(0, max(num_gt, 1), (num_det // 2,), generator=g)] + 1
                       if num_gt else random_boxes(num_det // 2), random_boxes(num_det - num_det // 2)])
    scores = torch.randint(0, 4, (num_det,), generator=g).double() / 4      # many ties
    for threshold in (0.3, 0.5, 0.75):
        is_tp, matched = det.match_detections(boxes, scores, gt_boxes, threshold)
        expected = greedy_by_loops(boxes, scores, gt_boxes, threshold)
        assert matched.tolist() == expected
        assert is_tp.tolist() == [m >= 0 for m in expected]
        # and it is the matching behind mean_average_precision: the same number of true positives
        _, _, ranked = det._match_image(boxes, scores, torch.zeros(num_det, dtype=torch.int64), gt_boxes,
                                        torch.zeros(num_gt, dtype=torch.int64),
                                        torch.tensor([threshold], dtype=torch.float64), max(num_det, 1))
        assert int(ranked.sum()) == int(is_tp.sum())


def test_match_detections_errors_name_the_argument():
    box = torch.tensor([[0., 0., 1., 1.]])
    with pytest.raises(ValueError, match="scores must hold one score per box"):
        det.match_detections(box, torch.tensor([0.5, 0.4]), box)
    with pytest.raises(ValueError, match="iou_threshold"):
        det.match_detections(box, torch.tensor([0.5]), box, 1.5)
    with pytest.raises((ValueError, TypeError), match="gt_boxes"):
        det.match_detections(box, torch.tensor([0.5]), torch.ones(3))
