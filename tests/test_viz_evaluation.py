"""Tests for the detection-evaluation explorers (course.viz.evaluation): IoU, PR at a threshold, NMS.

Each explorer is driven from code, as a student drives it with the sliders, and
its label, ``state()`` and figure are compared with the library and with
torchvision / scikit-learn; the artists are found through their gids.
"""
import base64

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere in this process

import pytest
import torch
import torchvision
from sklearn import metrics as skmetrics

from course import metrics, viz
from course.viz.evaluation import example_detections, example_duplicates

pytestmark = pytest.mark.usefixtures("no_figure_left_open")  # tests/conftest.py


def png_of(explorer) -> bytes:
    (output,) = explorer.output.outputs
    assert output["output_type"] == "display_data"
    return base64.b64decode(output["data"]["image/png"])


def patches(fig, gid, ax=None):
    axes = fig.axes if ax is None else [ax]
    return [p for a in axes for p in a.patches if p.get_gid() == gid]


def xyxy(patch):
    x, y = patch.get_xy()
    return [x, y, x + patch.get_width(), y + patch.get_height()]


def check_css(explorer, name, controls):
    assert {"course-explorer", f"course-explorer-{name}"} <= set(explorer._dom_classes)
    assert "course-explorer-label" in explorer.label._dom_classes
    for control in controls:
        assert f"course-control-{control}" in explorer.controls[control]._dom_classes


# ---------------------------------------------------------------------------
# IoU
# ---------------------------------------------------------------------------

def test_iou_explorer_default_is_the_lecture_pair():
    w = viz.iou_explorer()
    check_css(w, "iou", ["a_width", "a_height", "b_x", "b_y", "b_width", "b_height"])
    for control in w.controls.values():
        assert isinstance(control, __import__("ipywidgets").IntSlider)
    state = w.state()
    assert (state["intersection"], state["union"]) == (56.0, 144.0)
    assert "intersection = 56" in w.label.value and "union = 100 + 100 − 56 = 144" in w.label.value
    assert "IoU = 56 / 144 = 0.389" in w.label.value
    assert repr(w).startswith("iou explorer (run the notebook to use its sliders)") and "0.389" in repr(w)


@pytest.mark.parametrize("a_size, b, expected_inter", [
    ((10, 10), (5, 4, 10, 10), 56.0),          # partial overlap
    ((10, 10), (4, 4, 3, 2), 6.0),             # B inside A: IoU = |B| / |A|
    ((4, 3), (0, 0, 20, 20), 12.0),            # A inside B
    ((10, 10), (12, 2, 5, 5), 0.0),            # B touches A's right edge: no overlap
    ((10, 10), (15, 15, 5, 5), 0.0),           # far apart
    ((6, 8), (2, 2, 6, 8), 48.0),              # the same box
])
def test_iou_explorer_matches_box_iou_and_torchvision(a_size, b, expected_inter):
    w = viz.iou_explorer()
    before = png_of(w)
    w.set_values(a_width=a_size[0], a_height=a_size[1], b_x=b[0], b_y=b[1], b_width=b[2], b_height=b[3])
    state = w.state()
    a_box = torch.tensor([[2.0, 2.0, 2.0 + a_size[0], 2.0 + a_size[1]]])
    b_box = torch.tensor([[float(b[0]), float(b[1]), float(b[0] + b[2]), float(b[1] + b[3])]])
    assert state["box_a"] == a_box[0].tolist() and state["box_b"] == b_box[0].tolist()
    expected = metrics.box_iou(a_box, b_box).item()
    assert state["iou"] == pytest.approx(expected, abs=1e-7)
    assert state["iou"] == pytest.approx(torchvision.ops.box_iou(a_box, b_box).item(), abs=1e-6)
    assert state["intersection"] == expected_inter
    union = a_size[0] * a_size[1] + b[2] * b[3] - expected_inter
    assert state["union"] == union and state["iou"] == pytest.approx(expected_inter / union)
    assert f"intersection = {expected_inter:g}" in w.label.value
    assert f"IoU = {expected_inter:g} / {union:g} = {expected:.3f}" in w.label.value
    assert state["match_50"] == (expected >= 0.5) and state["match_75"] == (expected >= 0.75)
    # the figure: both boxes where the state says, the intersection shaded only when there is one
    (pa,), (pb,) = patches(w.figure, "box:a"), patches(w.figure, "box:b")
    assert xyxy(pa) == state["box_a"] and xyxy(pb) == state["box_b"]
    shaded = patches(w.figure, "intersection")
    assert len(shaded) == (1 if expected_inter > 0 else 0)
    if shaded:
        assert shaded[0].get_width() * shaded[0].get_height() == expected_inter
    assert (png_of(w) == before) == (state["box_a"] == [2., 2., 12., 12.] and state["box_b"] == [5., 4., 15., 14.])


def test_iou_explorer_one_slider_redraws_and_b_stays_on_the_canvas():
    w = viz.iou_explorer(canvas_size=20)
    first = png_of(w)
    w.controls["b_x"].value = 6                # one slider, as a student moves it
    assert w.state()["box_b"][0] == 6 and png_of(w) != first
    w.controls["b_x"].value = 17               # B 10 wide would leave the canvas: its width is clamped
    assert w.controls["b_width"].max == 3 and w.state()["box_b"][2] == 20


@pytest.mark.parametrize("kwargs, error, words", [
    ({"box_a": (5, 5, 2, 9)}, ValueError, "box_a"),
    ({"box_b": (1, 2, 3)}, TypeError, "box_b"),
    ({"box_b": (0, 0, 30, 4)}, ValueError, "box_b"),
    ({"canvas_size": 1}, ValueError, "canvas_size"),
    ({"canvas_size": 2.5}, TypeError, "canvas_size"),
])
def test_iou_explorer_names_the_bad_argument(kwargs, error, words):
    with pytest.raises(error, match=words):
        viz.iou_explorer(**kwargs)


# ---------------------------------------------------------------------------
# Precision-recall at a threshold
# ---------------------------------------------------------------------------

def greedy_tp(boxes, scores, gt_boxes, iou_threshold):
    """The test's own matching (torchvision IoU): TP per detection, in the order of boxes."""
    iou = torchvision.ops.box_iou(boxes, gt_boxes)
    taken, is_tp = set(), torch.zeros(len(boxes), dtype=torch.bool)
    for d in torch.argsort(scores, descending=True, stable=True).tolist():
        free = [(iou[d, g].item(), g) for g in range(len(gt_boxes)) if g not in taken]
        if free and max(free)[0] >= iou_threshold:
            taken.add(max(free)[1])
            is_tp[d] = True
    return is_tp


def test_pr_threshold_explorer_counts_precision_recall_and_ap_as_the_library():
    example = example_detections()
    boxes, scores, gt = example["boxes"], example["scores"], example["gt_boxes"]
    w = viz.pr_threshold_explorer()
    check_css(w, "pr-threshold", ["score_threshold", "iou_threshold"])
    import ipywidgets
    assert isinstance(w.controls["score_threshold"], ipywidgets.FloatSlider)
    assert isinstance(w.controls["iou_threshold"], ipywidgets.Dropdown)
    previous = png_of(w)
    for iou_t in (0.5, 0.75):
        is_tp = greedy_tp(boxes, scores, gt, iou_t)
        labels = is_tp.long()
        ap = metrics.average_precision(scores.double(), labels, num_positives=len(gt))
        coco = metrics.mean_average_precision(
            [{"boxes": boxes, "scores": scores, "labels": torch.ones(len(boxes), dtype=torch.int64)}],
            [{"boxes": gt, "labels": torch.ones(len(gt), dtype=torch.int64)}],
            iou_thresholds=[iou_t], interpolation="none")
        assert coco["map"] == pytest.approx(ap)           # same matching as mean_average_precision
        for t in (0.0, 0.35, 0.5, 0.6, 0.8, 0.9, 0.95, 1.0):
            w.set_values(score_threshold=t, iou_threshold=iou_t)
            state = w.state()
            kept = scores >= t
            tp, fp = int((is_tp & kept).sum()), int((~is_tp & kept).sum())
            assert (state["tp"], state["fp"], state["fn"]) == (tp, fp, len(gt) - tp)
            assert state["is_tp"] == is_tp.tolist() and state["kept"] == kept.tolist()
            assert state["recall"] == pytest.approx(tp / len(gt))
            if tp + fp:
                assert state["precision"] == pytest.approx(tp / (tp + fp))
                if tp:   # the point agrees with scikit-learn's precision at this threshold
                    assert state["precision"] == pytest.approx(
                        skmetrics.precision_score(is_tp.numpy(), kept.numpy()))
                assert f"precision = {tp}/{tp + fp} = {tp / (tp + fp):.3f}" in w.label.value
            else:
                assert state["precision"] is None and "precision = undefined" in w.label.value
            assert state["ap"] == pytest.approx(ap)
            assert f"TP = {tp}, FP = {fp}, FN = {len(gt) - tp}" in w.label.value
            assert f"recall = {tp}/{len(gt)} = {tp / len(gt):.3f}" in w.label.value
            assert f"AP (whole curve) = {ap:.3f}" in w.label.value
            # the figure: one patch per detection, coloured by its fate; the missed objects; the point
            fig = w.figure
            assert len(patches(fig, "tp")) == tp and len(patches(fig, "fp")) == fp
            assert len(patches(fig, "below")) == int((~kept).sum())
            assert len(patches(fig, "missed")) == len(state["missed"]) == len(gt) - tp
            assert len(patches(fig, "truth")) == tp
            (point,) = [line for line in fig.axes[1].lines if line.get_gid() == "threshold-point"]
            assert point.get_xdata()[0] == pytest.approx(state["recall"])
            assert point.get_ydata()[0] == pytest.approx(1.0 if state["precision"] is None else state["precision"])
            png = png_of(w)
            assert png != previous
            previous = png


def test_pr_threshold_explorer_example_ranks_a_false_positive_above_true_ones():
    w = viz.pr_threshold_explorer(score_threshold=0.5)
    assert (w.state()["tp"], w.state()["fp"], w.state()["missed"]) == (3, 3, [3])
    w.controls["iou_threshold"].value = 0.75      # the rough box (IoU 0.66) is no longer a match
    assert w.state()["tp"] == 2 and w.state()["ap"] < 0.5


def test_pr_threshold_explorer_on_given_detections():
    gt = torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]])
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.], [40., 40., 45., 45.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    w = viz.pr_threshold_explorer(torch.rand(3, 50, 50), gt, boxes, scores, score_threshold=0.0)
    assert (w.state()["tp"], w.state()["fp"], w.state()["fn"]) == (1, 2, 1)
    assert w.state()["missed"] == [1]
    assert w.state()["ap"] == pytest.approx(metrics.average_precision(
        scores, torch.tensor([1, 0, 0]), num_positives=2))
    blank = viz.pr_threshold_explorer(None, gt, boxes, scores)     # no image: a canvas that holds the boxes
    assert blank.state()["tp"] == 1 and png_of(blank).startswith(b"\x89PNG")


@pytest.mark.parametrize("args, kwargs, error, words", [
    ((None, torch.zeros(1, 4)), {}, ValueError, "boxes, scores"),
    ((None, torch.tensor([[0., 0., 1., 1.]]), torch.tensor([[0., 0., 1., 1.]]), torch.tensor([1.5])), {},
     ValueError, "scores"),
    ((None, torch.tensor([[0., 0., 1., 1.]]), torch.tensor([[0., 0., 1., 1.]]), torch.tensor([0.5, 0.2])), {},
     ValueError, "scores"),
    ((None, torch.tensor([[2., 0., 1., 1.]]), torch.tensor([[0., 0., 1., 1.]]), torch.tensor([0.5])), {},
     ValueError, "gt_boxes"),
    ((), {"iou_threshold": 0.6}, ValueError, "iou_threshold"),
    ((), {"score_threshold": 2.0}, ValueError, "score_threshold"),
    ((), {"score_threshold": "high"}, TypeError, "score_threshold"),
])
def test_pr_threshold_explorer_names_the_bad_argument(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        viz.pr_threshold_explorer(*args, **kwargs)


# ---------------------------------------------------------------------------
# NMS
# ---------------------------------------------------------------------------

def check_nms_state(w, boxes, scores, t):
    state = w.state()
    expected = torchvision.ops.nms(boxes, scores, t)
    assert state["keep"] == expected.tolist()
    assert torch.equal(torch.tensor(state["keep"], dtype=torch.int64), viz.evaluation.nms(boxes, scores, t))
    assert state["num_kept"] == len(expected) and state["num_suppressed"] == len(boxes) - len(expected)
    assert sorted(state["keep"] + state["suppressed"]) == list(range(len(boxes)))
    iou = torchvision.ops.box_iou(boxes, boxes)
    for s, winner in state["suppressed_by"].items():
        assert winner in state["keep"] and scores[winner] >= scores[s] and iou[winner, s] > t
    assert f"{state['num_kept']} kept, {state['num_suppressed']} suppressed (of {len(boxes)})" in w.label.value
    assert len(patches(w.figure, "kept")) == state["num_kept"]
    assert len(patches(w.figure, "suppressed")) == state["num_suppressed"]
    assert sorted(xyxy(p) for p in patches(w.figure, "kept")) == sorted(boxes[expected].tolist())


def test_nms_explorer_keeps_what_torchvision_keeps():
    example = example_duplicates()
    w = viz.nms_explorer()
    check_css(w, "nms", ["iou_threshold"])
    previous = png_of(w)
    counts = set()
    for t in (0.0, 0.1, 0.25, 0.5, 0.65, 0.7, 0.75, 0.9, 1.0):
        w.controls["iou_threshold"].value = t
        check_nms_state(w, example["boxes"], example["scores"], t)
        counts.add(w.state()["num_kept"])
        png = png_of(w)
        if t not in (0.1, 0.9, 1.0):             # those keep the same boxes as the step before
            assert png != previous
        previous = png
    assert len(counts) >= 3                      # the threshold changes the answer in several steps
    assert repr(w).startswith("nms explorer") and "kept" in repr(w)


def test_nms_explorer_on_random_boxes():
    g = torch.Generator().manual_seed(3)
    corner = torch.rand(25, 2, generator=g) * 60
    boxes = torch.cat([corner, corner + 10 + torch.rand(25, 2, generator=g) * 25], 1)
    scores = torch.rand(25, generator=g)
    w = viz.nms_explorer(boxes, scores, torch.rand(3, 100, 100), iou_threshold=0.3)
    check_nms_state(w, boxes, scores, 0.3)
    w.controls["iou_threshold"].value = 0.55
    check_nms_state(w, boxes, scores, 0.55)


@pytest.mark.parametrize("args, kwargs, error, words", [
    ((torch.zeros(2, 4),), {}, ValueError, "scores"),
    ((torch.zeros(2, 4), torch.zeros(3)), {}, ValueError, "scores"),
    ((torch.tensor([[3., 0., 1., 1.]]), torch.zeros(1)), {}, ValueError, "boxes"),
    ((), {"iou_threshold": 1.5}, ValueError, "iou_threshold"),
    ((torch.zeros(2, 4), torch.zeros(2, dtype=torch.int64)), {}, TypeError, "scores"),
])
def test_nms_explorer_names_the_bad_argument(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        viz.nms_explorer(*args, **kwargs)
