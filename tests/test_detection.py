"""Tests for course.detection: NMS, batched NMS and box coding against torchvision."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
import torchvision
from hypothesis import given, settings, strategies as st
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops.boxes import _batched_nms_vanilla

from course.detection import BBOX_XFORM_CLIP, batched_nms, decode_boxes, encode_boxes, nms

HYPOTHESIS = settings(max_examples=60, deadline=None)
DTYPES = st.sampled_from([torch.float32, torch.float64])
# the round numbers (0 and 1 included) make IoU == threshold likely with integer boxes
THRESHOLDS = st.one_of(st.sampled_from([0.0, 0.25, 0.3, 0.5, 0.7, 1.0]), st.floats(0, 1))
FASTER_RCNN_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
WEIGHTS = st.one_of(
    st.sampled_from([(1.0, 1.0, 1.0, 1.0), FASTER_RCNN_WEIGHTS, (2.0, 3.0, 0.5, 7.0)]),
    st.tuples(*[st.floats(0.1, 20)] * 4),
)


@st.composite
def detections(draw, max_boxes=25, dtype=torch.float32, integer=False, num_classes=1):
    """``(boxes, scores, labels)`` built to hit NMS's corner cases.

    Boxes are drawn from a small pool, so the same box often appears several
    times; sizes may be 0 (zero-area boxes); scores come partly from three
    round values, so ties are common. ``integer=True``: integer coordinates
    in [0, 32], where IoUs such as 1/2 or 1/3 are exact (and torchvision's
    batched_nms shortcut is exact too).
    """
    if integer:
        coordinate, size = st.integers(0, 20).map(float), st.integers(0, 12).map(float)
    else:
        coordinate = st.floats(-20, 40, width=32)
        size = st.one_of(st.just(0.0), st.floats(0, 30, width=32))
    pool = draw(st.lists(st.tuples(coordinate, coordinate, size, size), min_size=1, max_size=10))
    rows = draw(st.lists(st.sampled_from(pool), max_size=max_boxes))
    corner_size = torch.tensor(rows, dtype=dtype).reshape(-1, 4)
    boxes = torch.cat([corner_size[:, :2], corner_size[:, :2] + corner_size[:, 2:]], dim=1)
    n = len(rows)
    score = st.one_of(st.sampled_from([0.25, 0.5, 0.75]), st.floats(0, 1, width=32))
    scores = torch.tensor(draw(st.lists(score, min_size=n, max_size=n)), dtype=dtype)
    labels = torch.tensor(draw(st.lists(st.integers(0, num_classes - 1), min_size=n, max_size=n)),
                          dtype=torch.int64)
    return boxes, scores, labels


@st.composite
def boxes_with_size(draw, n, dtype, min_size=0.5, max_size=200.0):
    """``n`` xyxy boxes with positive width and height."""
    corner = st.floats(-300, 300)
    size = st.floats(min_size, max_size)
    rows = draw(st.lists(st.tuples(corner, corner, size, size), min_size=n, max_size=n))
    corner_size = torch.tensor(rows, dtype=torch.float64).reshape(-1, 4)
    return torch.cat([corner_size[:, :2], corner_size[:, :2] + corner_size[:, 2:]], dim=1).to(dtype)


def test_import_is_cheap():
    code = "import sys, course.detection; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout.split())
    assert not {"torchvision", "matplotlib", "ipywidgets", "sklearn"} & loaded


# --------------------------------------------------------------------------
# NMS: a worked example, then the corner cases one by one
# --------------------------------------------------------------------------

def test_worked_example_three_boxes_two_overlapping():
    boxes = torch.tensor([
        [0.0, 0.0, 10.0, 10.0],     # 0: score 0.9, the best
        [20.0, 20.0, 30.0, 30.0],   # 1: score 0.7, alone
        [1.0, 1.0, 11.0, 11.0],     # 2: score 0.8, overlaps box 0: 9*9 / (100 + 100 - 81) = 0.68
    ])
    scores = torch.tensor([0.9, 0.7, 0.8])
    # kept: box 0 (best), box 2 is dropped by it, box 1 overlaps nothing; order by score
    assert nms(boxes, scores, iou_threshold=0.5).tolist() == [0, 1]
    # a threshold above 0.68 keeps the duplicate: all three, best score first
    assert nms(boxes, scores, iou_threshold=0.7).tolist() == [0, 2, 1]
    # if box 2 scored highest, it would be the one kept
    assert nms(boxes, torch.tensor([0.9, 0.7, 0.95]), iou_threshold=0.5).tolist() == [2, 1]


def test_greedy_chain_a_dropped_box_drops_nothing():
    # A overlaps B, B overlaps C, A does not overlap C: B is dropped by A, so C survives
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0], [10.0, 0.0, 20.0, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.3).tolist() == [0, 2]
    assert torchvision.ops.nms(boxes, scores, 0.3).tolist() == [0, 2]


def test_iou_exactly_at_the_threshold_is_kept():
    boxes = torch.tensor([[0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 1.0, 1.0]])   # IoU = 1/2 exactly
    scores = torch.tensor([0.9, 0.8])
    for threshold, expected in [(0.5, [0, 1]), (0.4999, [0]), (0.5001, [0, 1])]:
        assert nms(boxes, scores, threshold).tolist() == expected
        assert torchvision.ops.nms(boxes, scores, threshold).tolist() == expected


def test_threshold_is_compared_in_double_precision_as_torchvision():
    # IoU = 1/10 is float32(0.1) = 0.10000000149 > 0.1: torchvision drops the box
    boxes = torch.tensor([[0.0, 0.0, 10.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    scores = torch.tensor([0.9, 0.8])
    assert torchvision.ops.nms(boxes, scores, 0.1).tolist() == [0]
    assert nms(boxes, scores, 0.1).tolist() == [0]
    # in float64 the IoU is the double 0.1 itself: not above the threshold, kept
    assert nms(boxes.double(), scores.double(), 0.1).tolist() == [0, 1]


def test_thresholds_zero_and_one():
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0],     # identical
                          [1.0, 0.0, 2.0, 1.0],                           # touches box 0 along an edge
                          [1.9, 0.0, 3.0, 1.0]])                          # overlaps box 2 a little
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes, scores, 1.0).tolist() == [0, 1, 2, 3]       # IoU 1 is not > 1
    assert nms(boxes, scores, 0.0).tolist() == [0, 2]             # any positive overlap drops
    for t in (0.0, 1.0):
        assert nms(boxes, scores, t).tolist() == torchvision.ops.nms(boxes, scores, t).tolist()


def test_tied_scores_keep_the_lower_index():
    same = torch.tensor([[0.0, 0.0, 4.0, 4.0]] * 3)
    assert nms(same, torch.tensor([0.5, 0.5, 0.5]), 0.5).tolist() == [0]
    assert nms(same, torch.tensor([0.4, 0.5, 0.5]), 0.5).tolist() == [1]
    # ties among kept boxes: index order
    apart = torch.tensor([[0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 6.0], [9.0, 9.0, 10.0, 10.0]])
    assert nms(apart, torch.tensor([0.3, 0.6, 0.6]), 0.5).tolist() == [1, 2, 0]
    # many ties: the same answer as torchvision
    g = torch.Generator().manual_seed(0)
    corners = torch.randint(0, 30, (400, 2), generator=g).float()
    boxes = torch.cat([corners, corners + torch.randint(1, 10, (400, 2), generator=g)], dim=1)
    scores = torch.randint(0, 4, (400,), generator=g).float()
    assert nms(boxes, scores, 0.3).tolist() == torchvision.ops.nms(boxes, scores, 0.3).tolist()


def test_zero_area_boxes():
    boxes = torch.tensor([[2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0],    # two identical points: IoU nan
                          [0.0, 0.0, 5.0, 5.0],                          # a real box around them: IoU 0
                          [1.0, 3.0, 4.0, 3.0]])                         # a line: IoU 0 with everything
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [0, 1, 2, 3]
    assert torchvision.ops.nms(boxes, scores, 0.5).tolist() == [0, 1, 2, 3]


def test_empty_and_single_inputs():
    for dtype in (torch.float32, torch.float64):
        empty = nms(torch.zeros(0, 4, dtype=dtype), torch.zeros(0, dtype=dtype), 0.5)
        assert empty.dtype == torch.int64 and empty.shape == (0,)
        empty = batched_nms(torch.zeros(0, 4, dtype=dtype), torch.zeros(0, dtype=dtype),
                            torch.zeros(0, dtype=torch.int64), 0.5)
        assert empty.dtype == torch.int64 and empty.shape == (0,)
    assert nms(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([0.1]), 0.5).tolist() == [0]


# --------------------------------------------------------------------------
# NMS against torchvision on random inputs
# --------------------------------------------------------------------------

@HYPOTHESIS
@given(data=st.data(), dtype=DTYPES, integer=st.booleans(), iou_threshold=THRESHOLDS)
def test_nms_equals_torchvision(data, dtype, integer, iou_threshold):
    boxes, scores, _ = data.draw(detections(dtype=dtype, integer=integer))
    got = nms(boxes, scores, iou_threshold)
    expected = torchvision.ops.nms(boxes, scores, iou_threshold)
    assert got.dtype == torch.int64
    assert got.tolist() == expected.tolist()


@HYPOTHESIS
@given(data=st.data(), dtype=DTYPES, iou_threshold=THRESHOLDS)
def test_batched_nms_equals_torchvision(data, dtype, iou_threshold):
    # integer coordinates >= 0: there torchvision's shift-the-classes-apart shortcut is exact
    boxes, scores, labels = data.draw(detections(dtype=dtype, integer=True, num_classes=4))
    got = batched_nms(boxes, scores, labels, iou_threshold)
    assert got.dtype == torch.int64
    assert got.tolist() == torchvision.ops.batched_nms(boxes, scores, labels, iou_threshold).tolist()


@HYPOTHESIS
@given(data=st.data(), dtype=DTYPES, iou_threshold=THRESHOLDS)
def test_batched_nms_is_nms_per_class_for_any_coordinates(data, dtype, iou_threshold):
    # negative and fractional coordinates: compare with torchvision's per-class loop
    boxes, scores, labels = data.draw(detections(dtype=dtype, num_classes=3))
    got = batched_nms(boxes, scores, labels, iou_threshold)
    expected = _batched_nms_vanilla(boxes, scores, labels, iou_threshold)
    assert sorted(got.tolist()) == sorted(expected.tolist())
    # by decreasing score, tied scores in index order
    assert got.tolist() == sorted(got.tolist(), key=lambda i: (-scores[i].item(), i))
    # each class alone is plain NMS
    for label in labels.unique():
        members = (labels == label).nonzero().squeeze(1)
        mine = [i for i in got.tolist() if labels[i] == label]
        assert mine == members[nms(boxes[members], scores[members], iou_threshold)].tolist()


def test_batched_nms_classes_never_suppress_each_other():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * 4)
    scores = torch.tensor([0.6, 0.9, 0.8, 0.7])
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 2, 3]), 0.5).tolist() == [1, 2, 3, 0]
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 1, 0]), 0.5).tolist() == [1, 3]
    assert batched_nms(boxes, scores, torch.tensor([5, 5, 5, 5]), 0.5).tolist() == [1]
    # negative labels and negative coordinates are fine here
    shifted = boxes - 100
    assert batched_nms(shifted, scores, torch.tensor([-1, 1, -1, 1]), 0.5).tolist() == [1, 2]


def test_batched_nms_with_negative_coordinates():
    # torchvision's shortcut for small inputs shifts class k by k * (max coordinate + 1) = k * 1
    # here, which is not enough to separate the classes: it wrongly drops box 1
    boxes = torch.tensor([[-30.0, -30.0, 0.0, 0.0], [-30.0, -30.0, 0.0, 0.0]])
    scores, labels = torch.tensor([0.9, 0.8]), torch.tensor([0, 1])
    assert batched_nms(boxes, scores, labels, 0.5).tolist() == [0, 1]
    assert torchvision.ops.batched_nms(boxes, scores, labels, 0.5).tolist() == [0]


def test_batched_nms_on_many_boxes_equals_torchvision():
    # more than 1000 boxes: torchvision switches to its per-class loop
    g = torch.Generator().manual_seed(0)
    n = 1500
    corners = torch.rand(n, 2, generator=g) * 200 - 50
    boxes = torch.cat([corners, corners + torch.rand(n, 2, generator=g) * 40], dim=1)
    scores = torch.randperm(n, generator=g).float() / n            # distinct: the order is defined
    labels = torch.randint(0, 5, (n,), generator=g)
    got = batched_nms(boxes, scores, labels, 0.5)
    assert got.tolist() == torchvision.ops.batched_nms(boxes, scores, labels, 0.5).tolist()
    assert 100 < len(got) < n


# --------------------------------------------------------------------------
# Box coding
# --------------------------------------------------------------------------

@HYPOTHESIS
@given(data=st.data(), n=st.integers(0, 12), dtype=DTYPES, weights=WEIGHTS)
def test_encode_boxes_equals_torchvision(data, n, dtype, weights):
    boxes = data.draw(boxes_with_size(n, dtype))
    anchors = data.draw(boxes_with_size(n, dtype))
    got = encode_boxes(boxes, anchors, weights)
    expected = BoxCoder(weights).encode_single(boxes, anchors)
    assert got.dtype == dtype and got.shape == (n, 4)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@HYPOTHESIS
@given(data=st.data(), n=st.integers(0, 12), dtype=DTYPES, weights=WEIGHTS,
       scale=st.sampled_from([1.0, 10.0, 100.0]))
def test_decode_boxes_equals_torchvision(data, n, dtype, weights, scale):
    anchors = data.draw(boxes_with_size(n, dtype))
    rows = data.draw(st.lists(st.tuples(*[st.floats(-scale, scale)] * 4), min_size=n, max_size=n))
    deltas = torch.tensor(rows, dtype=dtype).reshape(-1, 4)          # large ones hit the clamp
    got = decode_boxes(deltas, anchors, weights)
    expected = BoxCoder(weights).decode_single(deltas, anchors)
    assert got.dtype == dtype and got.shape == (n, 4)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@HYPOTHESIS
@given(data=st.data(), n=st.integers(0, 12), dtype=DTYPES, weights=WEIGHTS)
def test_decode_inverts_encode(data, n, dtype, weights):
    anchors = data.draw(boxes_with_size(n, dtype, min_size=5.0, max_size=100.0))
    boxes = data.draw(boxes_with_size(n, dtype, min_size=5.0, max_size=300.0))   # at most 60x an anchor
    back = decode_boxes(encode_boxes(boxes, anchors, weights), anchors, weights)
    tolerance = {"rtol": 1e-5, "atol": 1e-3} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-9}
    torch.testing.assert_close(back, boxes, **tolerance)


def test_encode_worked_example():
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [10.0, 20.0, 30.0, 30.0]])   # centres (5, 5), (20, 25)
    boxes = torch.tensor([[2.0, 1.0, 12.0, 21.0],      # centre (7, 11), size 10 x 20
                          [10.0, 20.0, 30.0, 30.0]])   # the anchor itself
    expected = torch.tensor([[0.2, 0.6, 0.0, math.log(2.0)], [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(encode_boxes(boxes, anchors), expected)
    torch.testing.assert_close(encode_boxes(boxes, anchors, FASTER_RCNN_WEIGHTS),
                               expected * torch.tensor(FASTER_RCNN_WEIGHTS))
    torch.testing.assert_close(decode_boxes(expected, anchors), boxes)


def test_decode_clamps_growth_but_not_shrinking():
    anchors = torch.tensor([[0.0, 0.0, 16.0, 16.0]] * 3)
    deltas = torch.tensor([[0.0, 0.0, 1e4, 1e4],                     # exp(1e4) would be inf
                           [0.0, 0.0, BBOX_XFORM_CLIP, 0.0],        # exactly at the clamp
                           [0.0, 0.0, -1e4, -1e4]])                 # shrinks to a point
    boxes = decode_boxes(deltas, anchors)
    assert torch.isfinite(boxes).all()
    widths = (boxes[:, 2] - boxes[:, 0]).tolist()
    assert widths[0] == pytest.approx(1000.0, rel=1e-5) and widths[1] == pytest.approx(1000.0, rel=1e-5)
    assert widths[2] == 0.0
    # the clamp applies after dividing by the weights
    clamped = decode_boxes(torch.tensor([[0.0, 0.0, 5 * BBOX_XFORM_CLIP + 1, 0.0]]), anchors[:1],
                           FASTER_RCNN_WEIGHTS)
    assert (clamped[0, 2] - clamped[0, 0]).item() == pytest.approx(1000.0, rel=1e-5)
    assert BBOX_XFORM_CLIP == BoxCoder((1.0, 1.0, 1.0, 1.0)).bbox_xform_clip


def test_coding_accepts_int_weights_and_mixed_anchor_dtype():
    boxes = torch.tensor([[1.0, 2.0, 7.0, 9.0]])
    anchors = torch.tensor([[0.0, 0.0, 8.0, 8.0]], dtype=torch.float64)
    torch.testing.assert_close(encode_boxes(boxes, anchors.float(), (10, 10, 5, 5)),
                               encode_boxes(boxes, anchors.float(), FASTER_RCNN_WEIGHTS))
    deltas = torch.tensor([[0.1, -0.2, 0.3, 0.4]])
    decoded = decode_boxes(deltas, anchors, [10, 10, 5, 5])          # anchors take the deltas' dtype
    assert decoded.dtype == torch.float32
    torch.testing.assert_close(decoded, BoxCoder((10, 10, 5, 5)).decode_single(deltas, anchors))


# --------------------------------------------------------------------------
# Bad input: the message names the argument, what was expected and what came
# --------------------------------------------------------------------------

BOX = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0], [5.0, 5.0, 6.0, 6.0]])
SCORES = torch.tensor([0.9, 0.8, 0.7])
LABELS = torch.tensor([0, 1, 0])
INVERTED = torch.tensor([[0.0, 0.0, 2.0, 2.0], [3.0, 1.0, 1.0, 3.0], [5.0, 5.0, 6.0, 6.0]])
FLAT = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 1.0, 3.0], [5.0, 5.0, 6.0, 6.0]])   # zero width

BAD_INPUTS = {
    # nms
    "nms boxes list": (lambda: nms(BOX.tolist(), SCORES, 0.5), TypeError,
                       r"boxes must be a torch.Tensor, got list"),
    "nms boxes (3, 5)": (lambda: nms(torch.zeros(3, 5), SCORES, 0.5), ValueError,
                         r"boxes must be a tensor of shape \(N, 4\), got shape \(3, 5\)"),
    "nms boxes 1-D": (lambda: nms(torch.zeros(4), SCORES, 0.5), ValueError,
                      r"boxes must be a 2-D tensor, got shape \(4,\)"),
    "nms boxes int": (lambda: nms(BOX.long(), SCORES, 0.5), TypeError,
                      r"boxes must be a floating-point tensor, got dtype torch.int64"),
    "nms x2 < x1": (lambda: nms(INVERTED, SCORES, 0.5), ValueError,
                    r"boxes must be xyxy boxes with x1 <= x2 and y1 <= y2, got boxes\[1\] = \[3.0, 1.0, 1.0, 3.0\]"),
    "nms scores list": (lambda: nms(BOX, [0.9, 0.8, 0.7], 0.5), TypeError,
                        r"scores must be a torch.Tensor, got list"),
    "nms scores 2-D": (lambda: nms(BOX, SCORES[:, None], 0.5), ValueError,
                       r"scores must be a 1-D tensor, got shape \(3, 1\)"),
    "nms scores int": (lambda: nms(BOX, torch.tensor([3, 2, 1]), 0.5), TypeError,
                       r"scores must be a floating-point tensor, got dtype torch.int64"),
    "nms scores length": (lambda: nms(BOX, SCORES[:2], 0.5), ValueError,
                          r"boxes and scores must have the same length \(one row each\), got 3 boxes and 2 scores"),
    "nms scores nan": (lambda: nms(BOX, torch.tensor([0.9, float("nan"), 0.7]), 0.5), ValueError,
                       r"scores must be numbers to rank the boxes by, got scores\[1\] = nan"),
    "nms threshold > 1": (lambda: nms(BOX, SCORES, 1.5), ValueError,
                          r"iou_threshold must be a number in \[0, 1\], got 1.5"),
    "nms threshold < 0": (lambda: nms(BOX, SCORES, -0.1), ValueError,
                          r"iou_threshold must be a number in \[0, 1\], got -0.1"),
    "nms threshold nan": (lambda: nms(BOX, SCORES, float("nan")), ValueError,
                          r"iou_threshold must be a number in \[0, 1\], got nan"),
    "nms threshold str": (lambda: nms(BOX, SCORES, "0.5"), TypeError,
                          r"iou_threshold must be a number, got str '0.5'"),
    "nms threshold bool": (lambda: nms(BOX, SCORES, True), TypeError,
                           r"iou_threshold must be a number, got bool True"),
    # batched_nms
    "batched boxes (3, 3)": (lambda: batched_nms(BOX[:, :3], SCORES, LABELS, 0.5), ValueError,
                             r"boxes must be a tensor of shape \(N, 4\), got shape \(3, 3\)"),
    "batched x2 < x1": (lambda: batched_nms(INVERTED, SCORES, LABELS, 0.5), ValueError,
                        r"boxes must be xyxy boxes .* got boxes\[1\]"),
    "batched scores length": (lambda: batched_nms(BOX, SCORES[:1], LABELS, 0.5), ValueError,
                              r"boxes and scores must have the same length \(one row each\), got 3 boxes and 1 scores"),
    "batched labels list": (lambda: batched_nms(BOX, SCORES, [0, 1, 0], 0.5), TypeError,
                            r"labels must be a torch.Tensor, got list"),
    "batched labels float": (lambda: batched_nms(BOX, SCORES, LABELS.float(), 0.5), TypeError,
                             r"labels must be an integer tensor, got dtype torch.float32"),
    "batched labels 2-D": (lambda: batched_nms(BOX, SCORES, LABELS[None], 0.5), ValueError,
                           r"labels must be a 1-D tensor, got shape \(1, 3\)"),
    "batched labels length": (lambda: batched_nms(BOX, SCORES, LABELS[:2], 0.5), ValueError,
                              r"boxes and labels must have the same length \(one row each\), got 3 boxes and 2 labels"),
    "batched threshold": (lambda: batched_nms(BOX, SCORES, LABELS, 2), ValueError,
                          r"iou_threshold must be a number in \[0, 1\], got 2.0"),
    # encode_boxes
    "encode boxes tuple": (lambda: encode_boxes((0, 0, 1, 1), BOX), TypeError,
                           r"boxes must be a torch.Tensor, got tuple"),
    "encode boxes x2 < x1": (lambda: encode_boxes(INVERTED, BOX), ValueError,
                             r"boxes must be xyxy boxes with x1 <= x2 and y1 <= y2, got boxes\[1\]"),
    "encode boxes zero width": (lambda: encode_boxes(FLAT, BOX), ValueError,
                                (r"boxes must have positive width and height \(x1 < x2 and y1 < y2\), "
                                 r"got boxes\[1\] = \[1.0, 1.0, 1.0, 3.0\]")),
    "encode anchors (3, 2)": (lambda: encode_boxes(BOX, BOX[:, :2]), ValueError,
                              r"anchors must be a tensor of shape \(N, 4\), got shape \(3, 2\)"),
    "encode anchors x2 < x1": (lambda: encode_boxes(BOX, INVERTED), ValueError,
                               r"anchors must be xyxy boxes with x1 <= x2 and y1 <= y2, got anchors\[1\]"),
    "encode anchors zero width": (lambda: encode_boxes(BOX, FLAT), ValueError,
                                  r"anchors must have positive width and height "
                                  r".*got anchors\[1\] = \[1.0, 1.0, 1.0, 3"),
    "encode anchors zero height": (lambda: encode_boxes(BOX[:1], torch.tensor([[0.0, 2.0, 1.0, 2.0]])), ValueError,
                                   r"anchors must have positive width and height .*got anchors\[0\]"),
    "encode lengths": (lambda: encode_boxes(BOX, BOX[:2]), ValueError,
                       r"boxes and anchors must have the same length \(one row each\), got 3 boxes and 2 anchors"),
    "encode weights 3": (lambda: encode_boxes(BOX, BOX, (1.0, 1.0, 1.0)), TypeError,
                         (r"weights must be a tuple of 4 positive numbers \(w_x, w_y, w_w, w_h\), "
                          r"got tuple \(1.0, 1.0, 1.0\)")),
    "encode weights number": (lambda: encode_boxes(BOX, BOX, 10.0), TypeError,
                              r"weights must be a tuple of 4 positive numbers .*, got float 10.0"),
    "encode weights negative": (lambda: encode_boxes(BOX, BOX, (10, 10, -5, 5)), ValueError,
                                r"weights\[2\] must be a number > 0.0, got -5.0"),
    "encode weights zero": (lambda: encode_boxes(BOX, BOX, (10, 0, 5, 5)), ValueError,
                            r"weights\[1\] must be a number > 0.0, got 0.0"),
    "encode weights inf": (lambda: encode_boxes(BOX, BOX, (10, 10, 5, math.inf)), ValueError,
                           r"weights\[3\] must be a finite number > 0.0, got inf"),
    "encode weights None": (lambda: encode_boxes(BOX, BOX, (10, 10, None, 5)), TypeError,
                            r"weights\[2\] must be a number, got NoneType None"),
    # decode_boxes
    "decode deltas list": (lambda: decode_boxes([[0.0] * 4] * 3, BOX), TypeError,
                           r"deltas must be a torch.Tensor, got list"),
    "decode deltas (3, 5)": (lambda: decode_boxes(torch.zeros(3, 5), BOX), ValueError,
                             r"deltas must be a tensor of shape \(N, 4\), got shape \(3, 5\)"),
    "decode deltas int": (lambda: decode_boxes(torch.zeros(3, 4, dtype=torch.int32), BOX), TypeError,
                          r"deltas must be a floating-point tensor, got dtype torch.int32"),
    "decode anchors x2 < x1": (lambda: decode_boxes(torch.zeros(3, 4), INVERTED), ValueError,
                               r"anchors must be xyxy boxes with x1 <= x2 and y1 <= y2, got anchors\[1\]"),
    "decode anchors zero width": (lambda: decode_boxes(torch.zeros(3, 4), FLAT), ValueError,
                                  r"anchors must have positive width and height .*got anchors\[1\]"),
    "decode lengths": (lambda: decode_boxes(torch.zeros(2, 4), BOX), ValueError,
                       r"deltas and anchors must have the same length \(one row each\), got 2 deltas and 3 anchors"),
    "decode weights 5": (lambda: decode_boxes(torch.zeros(3, 4), BOX, (1, 1, 1, 1, 1)), TypeError,
                         r"weights must be a tuple of 4 positive numbers .*, got tuple \(1, 1, 1, 1, 1\)"),
    "decode weights negative": (lambda: decode_boxes(torch.zeros(3, 4), BOX, (-1, 1, 1, 1)), ValueError,
                                r"weights\[0\] must be a number > 0.0, got -1.0"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_names_the_argument(case):
    call, error, message = BAD_INPUTS[case]
    with pytest.raises(error, match=message):
        call()
