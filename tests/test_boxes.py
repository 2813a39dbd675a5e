"""Tests for course.boxes: formats, areas and normalised coordinates against torchvision."""
from __future__ import annotations

import itertools

import pytest
import torch
import torchvision
from hypothesis import given, settings, strategies as st

from course.boxes import BOX_FORMATS, box_area, box_convert, denormalize_boxes, normalize_boxes

HYPOTHESIS = settings(max_examples=40, deadline=None)

coordinates = st.floats(-100, 100, allow_nan=False, width=32)
sizes = st.floats(0, 60, allow_nan=False, width=32)


@st.composite
def xyxy_boxes(draw, max_boxes=12, dtype=torch.float32):
    """Valid xyxy boxes: a corner plus a non-negative size (zero-area boxes included)."""
    rows = draw(st.lists(st.tuples(coordinates, coordinates, sizes, sizes), max_size=max_boxes))
    corner_size = torch.tensor(rows, dtype=dtype).reshape(-1, 4)
    return torch.cat([corner_size[:, :2], corner_size[:, :2] + corner_size[:, 2:]], dim=1)


# --------------------------------------------------------------------------
# Against torchvision
# --------------------------------------------------------------------------

@HYPOTHESIS
@given(boxes=xyxy_boxes(), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_box_convert_equals_torchvision_for_every_pair_of_formats(boxes, dtype):
    boxes = boxes.to(dtype)
    for in_fmt, out_fmt in itertools.product(BOX_FORMATS, BOX_FORMATS):
        # box_convert does not check corner order, so any four numbers are a valid input
        expected = torchvision.ops.box_convert(boxes, in_fmt, out_fmt)
        got = box_convert(boxes, in_fmt, out_fmt)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


@HYPOTHESIS
@given(boxes=xyxy_boxes())
def test_box_convert_roundtrips(boxes):
    for fmt in ("xywh", "cxcywh"):
        back = box_convert(box_convert(boxes, "xyxy", fmt), fmt, "xyxy")
        torch.testing.assert_close(back, boxes, rtol=1e-6, atol=1e-4)


@HYPOTHESIS
@given(boxes=xyxy_boxes())
def test_box_area_equals_torchvision(boxes):
    torch.testing.assert_close(box_area(boxes), torchvision.ops.box_area(boxes), rtol=0, atol=0)


def test_box_convert_explicit_example():
    xyxy = torch.tensor([[10.0, 20.0, 50.0, 40.0]])
    assert box_convert(xyxy, "xyxy", "xywh").tolist() == [[10, 20, 40, 20]]
    assert box_convert(xyxy, "xyxy", "cxcywh").tolist() == [[30, 30, 40, 20]]
    assert box_convert(torch.tensor([[30.0, 30.0, 40.0, 20.0]]), "cxcywh", "xywh").tolist() == [[10, 20, 40, 20]]
    same = box_convert(xyxy, "xyxy", "xyxy")
    assert same.tolist() == xyxy.tolist() and same.data_ptr() != xyxy.data_ptr()


def test_empty_boxes():
    empty = torch.zeros(0, 4)
    assert box_convert(empty, "xyxy", "cxcywh").shape == (0, 4)
    assert box_area(empty).shape == (0,)
    assert normalize_boxes(empty, (10, 20)).shape == (0, 4)


# --------------------------------------------------------------------------
# Normalised coordinates
# --------------------------------------------------------------------------

def test_normalize_explicit_example():
    # image 240 rows (H) x 640 columns (W): x is divided by 640, y by 240
    boxes = torch.tensor([[64.0, 24.0, 320.0, 240.0], [0.0, 0.0, 640.0, 240.0]])
    expected = torch.tensor([[0.1, 0.1, 0.5, 1.0], [0.0, 0.0, 1.0, 1.0]])
    torch.testing.assert_close(normalize_boxes(boxes, (240, 640)), expected)
    torch.testing.assert_close(denormalize_boxes(expected, (240, 640)), boxes)


@HYPOTHESIS
@given(boxes=xyxy_boxes(dtype=torch.float64),
       image_size=st.tuples(st.integers(1, 2000), st.integers(1, 2000)))
def test_normalize_denormalize_roundtrip(boxes, image_size):
    normalized = normalize_boxes(boxes, image_size)
    assert normalized.dtype == boxes.dtype and normalized.shape == boxes.shape
    h, w = image_size
    torch.testing.assert_close(normalized[:, 0::2], boxes[:, 0::2] / w)
    torch.testing.assert_close(normalized[:, 1::2], boxes[:, 1::2] / h)
    torch.testing.assert_close(denormalize_boxes(normalized, image_size), boxes)


def test_normalized_boxes_of_a_resized_image_are_unchanged():
    # the lecture's point: relative coordinates do not depend on the image scale
    boxes = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    resized = boxes * torch.tensor([2.0, 3.0, 2.0, 3.0])       # W x2, H x3
    torch.testing.assert_close(normalize_boxes(boxes, (100, 50)), normalize_boxes(resized, (300, 100)))


# --------------------------------------------------------------------------
# Bad input: the message names the argument, the expectation and the value
# --------------------------------------------------------------------------

def test_wrong_shape_names_boxes_and_shape():
    with pytest.raises(ValueError, match=r"boxes must be a tensor of shape \(N, 4\), got shape \(3, 5\)"):
        box_convert(torch.zeros(3, 5), "xyxy", "xywh")
    with pytest.raises(ValueError, match=r"boxes must be a 2-D tensor, got shape \(4,\)"):
        box_area(torch.zeros(4))
    with pytest.raises(TypeError, match="boxes must be a torch.Tensor, got list"):
        box_area([[0, 0, 1, 1]])
    with pytest.raises(TypeError, match="boxes must be a floating-point tensor, got dtype torch.int64"):
        box_area(torch.zeros(2, 4, dtype=torch.int64))


def test_unknown_format_names_the_argument():
    with pytest.raises(ValueError, match=r"in_fmt must be one of 'xyxy', 'xywh', 'cxcywh', got 'xyhw'"):
        box_convert(torch.zeros(1, 4), "xyhw", "xyxy")
    with pytest.raises(ValueError, match=r"out_fmt must be one of .*, got 'yolo'"):
        box_convert(torch.zeros(1, 4), "xyxy", "yolo")


@pytest.mark.parametrize("function", [box_area, lambda b: normalize_boxes(b, (10, 10)),
                                      lambda b: denormalize_boxes(b, (10, 10))])
def test_inverted_corners_name_the_first_bad_row(function):
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [5.0, 1.0, 3.0, 4.0], [2.0, 9.0, 3.0, 1.0]])
    with pytest.raises(ValueError, match=r"boxes must be xyxy boxes with x1 <= x2 and y1 <= y2, "
                                         r"got boxes\[1\] = \[5.0, 1.0, 3.0, 4.0\]"):
        function(boxes)
    with pytest.raises(ValueError, match=r"got boxes\[0\] = \[nan, 0.0, 1.0, 1.0\]"):
        function(torch.tensor([[float("nan"), 0.0, 1.0, 1.0]]))


def test_bad_image_size():
    with pytest.raises(ValueError, match="image_size must be an int or a pair of ints, got"):
        normalize_boxes(torch.zeros(1, 4), (1, 2, 3))
    with pytest.raises(ValueError, match=r"image_size\[1\] must be an int >= 1, got 0"):
        denormalize_boxes(torch.zeros(1, 4), (10, 0))
