"""Tests for course.viz.detection: the boxes drawn are the boxes given, captions say class
and score, the PR curve plots the points given, bad input is named, nothing left open."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import course.viz as viz
from course.boxes import box_convert
from course.data import ShapesDataset
from course.metrics import average_precision, precision_recall_curve
from figure_helpers import patches_with_gid

NAMES = ["background", "disk", "square", "triangle"]


pytestmark = pytest.mark.usefixtures("no_figure_left_open")  # tests/conftest.py


def captions(ax):
    return [t.get_text() for t in ax.texts if t.get_gid() == "box:caption"]


def example():
    boxes = torch.tensor([[2.0, 3.0, 20.0, 11.5], [10.0, 0.0, 31.0, 31.0], [5.0, 5.0, 5.0, 9.0]])
    return torch.rand(3, 32, 40), boxes, torch.tensor([1, 3, 2]), torch.tensor([0.987, 0.5, 0.123])


def test_one_rectangle_per_box_at_the_box():
    image, boxes, labels, scores = example()
    fig = viz.show_boxes(image, boxes, labels, scores, NAMES)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    rectangles = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rectangles) == len(boxes) == len(patches_with_gid(ax, "box"))
    xywh = box_convert(boxes, "xyxy", "xywh")
    for patch, (x, y, w, h) in zip(rectangles, xywh.tolist(), strict=True):
        assert patch.get_xy() == pytest.approx((x, y))
        assert (patch.get_width(), patch.get_height()) == pytest.approx((w, h))
        assert not patch.get_fill()
    assert len(ax.images) == 1 and ax.images[0].get_array().shape == (32, 40, 3)


def test_captions_name_the_class_and_the_score():
    image, boxes, labels, scores = example()
    ax = viz.show_boxes(image, boxes, labels, scores, NAMES).axes[0]
    assert captions(ax) == ["disk 0.99", "triangle 0.50", "square 0.12"]
    assert captions(viz.show_boxes(image, boxes, labels, class_names=NAMES).axes[0]) == ["disk", "triangle", "square"]
    assert captions(viz.show_boxes(image, boxes, scores=scores).axes[0]) == ["0.99", "0.50", "0.12"]
    assert captions(viz.show_boxes(image, boxes, labels).axes[0]) == ["class 1", "class 3", "class 2"]
    assert captions(viz.show_boxes(image, boxes).axes[0]) == []


def test_colour_per_class_or_given():
    image, boxes, labels, _ = example()
    ax = viz.show_boxes(image, boxes, labels).axes[0]
    colours = viz.segmentation_colors(4)
    for patch, label in zip(ax.patches, labels.tolist(), strict=True):
        assert np.allclose(patch.get_edgecolor()[:3], colours[label])
    ax = viz.show_boxes(image, boxes, labels, color="yellow", linestyle="--").axes[0]
    assert all(np.allclose(p.get_edgecolor()[:3], (1, 1, 0)) for p in ax.patches)
    assert all(p.get_linestyle() == "--" for p in ax.patches)


def test_draws_into_given_axes_and_on_dataset_items():
    data = ShapesDataset(2, 64, task="detection", seed=0)
    image, target = data[0]
    fig, axes = plt.subplots(1, 2)
    plt.close(fig)
    out = viz.show_boxes(image, target["boxes"], target["labels"], class_names=data.class_names, ax=axes[1],
                         title="ground truth")
    assert out is fig
    assert len(axes[1].patches) == len(target["boxes"]) and len(axes[0].patches) == 0
    assert axes[1].get_title() == "ground truth"
    assert captions(axes[1]) == [data.class_names[k] for k in target["labels"].tolist()]


def test_no_boxes_is_an_image_alone():
    fig = viz.show_boxes(torch.rand(1, 16, 16), torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64),
                         torch.zeros(0))
    assert len(fig.axes[0].patches) == 0 and captions(fig.axes[0]) == []


@pytest.mark.parametrize("call, error, match", [
    (lambda: viz.show_boxes(torch.rand(3, 8, 8), torch.zeros(2, 3)), ValueError, r"boxes must be .*shape \(N, 4\)"),
    (lambda: viz.show_boxes(torch.rand(3, 8, 8), torch.tensor([[5., 0., 1., 4.]])), ValueError,
     r"boxes must be xyxy .*boxes\[0\]"),
    (lambda: viz.show_boxes(torch.rand(3, 8, 8), [[0, 0, 1, 1]]), TypeError, r"boxes must be a torch.Tensor"),
    (lambda: viz.show_boxes(torch.rand(3, 8, 8), torch.zeros(2, 4), labels=torch.tensor([1])), ValueError,
     r"labels must have one entry per box \(2\)"),
    (lambda: viz.show_boxes(torch.rand(3, 8, 8), torch.zeros(2, 4), scores=torch.tensor([0.5, 0.2, 0.1])),
     ValueError, r"scores must have one entry per box \(2\)"),
    (lambda: viz.show_boxes(torch.rand(3, 8, 8), torch.zeros(1, 4), labels=torch.tensor([0.5])), TypeError,
     r"labels must be an integer tensor"),
    (lambda: viz.show_boxes(torch.rand(3, 8, 8), torch.zeros(1, 4), labels=torch.tensor([3]),
                            class_names=["a", "b"]), ValueError, r"class_names must have a name for every label"),
    (lambda: viz.show_boxes(torch.rand(4, 8, 8), torch.zeros(1, 4)), ValueError, r"image must be an image"),
    (lambda: viz.show_boxes(torch.rand(3, 8, 8), torch.zeros(1, 4), size=0), ValueError, r"size must be"),
    (lambda: viz.pr_curve_figure(torch.tensor([0.5, 1.0]), torch.tensor([0.5])), ValueError,
     r"precision and recall must have the same length"),
    (lambda: viz.pr_curve_figure(torch.tensor([1.5]), torch.tensor([0.5])), ValueError,
     r"precision must hold values in \[0, 1\]"),
    (lambda: viz.pr_curve_figure(torch.tensor([0.5]), torch.ones(1, 1)), ValueError, r"recall must be a non-empty 1-D"),
])
def test_bad_input_names_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_pr_curve_plots_the_points_and_the_envelope():
    scores, labels = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5]), torch.tensor([1, 0, 1, 1, 0])
    precision, recall, _ = precision_recall_curve(scores, labels, num_positives=4)
    ap = average_precision(scores, labels, num_positives=4)
    fig = viz.pr_curve_figure(precision, recall, ap=ap)
    (ax,) = fig.axes
    (curve,) = [line for line in ax.lines if line.get_gid() == "pr"]
    (envelope,) = [line for line in ax.lines if line.get_gid() == "envelope"]
    points = set(zip(curve.get_xdata().tolist(), curve.get_ydata().tolist(), strict=True))
    assert points == set(zip(recall.tolist(), precision.tolist(), strict=True))
    assert np.all(envelope.get_ydata() >= curve.get_ydata())
    assert ax.get_title().endswith(f"AP = {ap:.3f}")
    assert not any(line.get_gid() == "envelope" for line in viz.pr_curve_figure(precision, recall,
                                                                                envelope=False).axes[0].lines)


def test_figures_draw_into_axes_of_a_subfigure():
    """Given axes in a subfigure, the figures draw there and return the whole Figure."""
    fig = plt.figure(figsize=(6, 3))
    plt.close(fig)
    left, right = fig.subfigures(1, 2)
    ax_pr, ax_boxes = left.subplots(), right.subplots()
    assert viz.pr_curve_figure(torch.tensor([1.0, 0.5]), torch.tensor([0.5, 1.0]), ax=ax_pr) is fig
    assert viz.show_boxes(torch.rand(3, 8, 8), torch.tensor([[1.0, 1.0, 5.0, 5.0]]), ax=ax_boxes) is fig
    assert [p.get_gid() for p in ax_boxes.patches] == ["box"]


