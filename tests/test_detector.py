"""Tests for lecture 10's detector pieces: anchors, matching, targets, post-processing (course.detection),
the small SSD and its loss (course.models.detector), and the figures (course.viz.detectors).

Anchors are checked against hand-computed ones and torchvision's AnchorGenerator; matching on hand
cases (ties, low-overlap objects, no objects) and against torchvision's Matcher on random boxes.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from hypothesis import given, settings, strategies as st

from course.data import ShapesDataset
from course.detection import (
    anchor_targets,
    cell_anchors,
    decode_boxes,
    encode_boxes,
    grid_anchors,
    match_anchors,
    postprocess_detections,
)
from course.metrics import box_iou, mean_average_precision
from course.metrics.detection import _summarize_curve
from course.models import BOX_WEIGHTS, TinySSD, detection_loss, positive_accuracy
from course.viz import detection_pr_curves, detection_pr_figure, show_anchors, show_matches

SMALL = settings(max_examples=40, deadline=None)


pytestmark = pytest.mark.usefixtures("no_figure_left_open")  # tests/conftest.py


# --------------------------------------------------------------------------
# Anchors
# --------------------------------------------------------------------------

def test_cell_anchors_by_hand():
    # ratio h / w = 4: w = s / 2, h = 2 s; ratio-major order (ratio 1: sizes 8, 16; ratio 4: sizes 8, 16)
    expected = torch.tensor([[-4., -4., 4., 4.], [-8., -8., 8., 8.], [-2., -8., 2., 8.], [-4., -16., 4., 16.]])
    assert torch.equal(cell_anchors((8, 16), (1.0, 4.0)), expected)


def test_cell_anchors_keep_area_and_ratio():
    anchors = cell_anchors((10.0, 20.0, 30.0), (0.5, 1.0, 2.0), dtype=torch.float64)
    w, h = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    sizes = torch.tensor([10.0, 20.0, 30.0] * 3, dtype=torch.float64)
    ratios = torch.tensor([0.5] * 3 + [1.0] * 3 + [2.0] * 3, dtype=torch.float64)
    assert torch.allclose(w * h, sizes ** 2) and torch.allclose(h / w, ratios)
    assert torch.allclose(anchors[:, :2], -anchors[:, 2:])                     # centred on (0, 0)


def test_grid_anchors_by_hand():
    # a 2 x 3 map over a 20 x 30 image: stride 10; centres at (5 + 10 j, 5 + 10 i)
    anchors = grid_anchors((2, 3), (20, 30), sizes=(4,), aspect_ratios=(1.0, 4.0))
    assert anchors.shape == (2 * 3 * 2, 4) and anchors.dtype == torch.float32
    assert torch.equal(anchors[0], torch.tensor([3., 3., 7., 7.]))              # (0, 0), ratio 1
    assert torch.equal(anchors[1], torch.tensor([4., 1., 6., 9.]))              # (0, 0), ratio 4: 2 x 8
    assert torch.equal(anchors[2], torch.tensor([13., 3., 17., 7.]))            # (0, 1): next column
    assert torch.equal(anchors[6], torch.tensor([3., 13., 7., 17.]))            # (1, 0): next row
    assert torch.equal(anchors[-1], torch.tensor([24., 11., 26., 19.]))         # (1, 2), ratio 4
    corner = grid_anchors((2, 3), (20, 30), sizes=(4,), offset=0.0)
    assert torch.equal(corner[0], torch.tensor([-2., -2., 2., 2.]))             # centred on the corner


@pytest.mark.parametrize("feature_size, image_size", [((6, 8), (48, 64)), (5, 40), ((3, 3), (48, 48))])
def test_grid_anchors_equal_torchvision_anchor_generator(feature_size, image_size):
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList

    sizes, ratios = (8, 16, 32), (0.25, 1.0, 4.0)        # half sizes are integers: torchvision's rounding is exact
    fh, fw = (feature_size, feature_size) if isinstance(feature_size, int) else feature_size
    ih, iw = (image_size, image_size) if isinstance(image_size, int) else image_size
    generator = AnchorGenerator(sizes=(sizes,), aspect_ratios=(ratios,))
    expected = generator(ImageList(torch.zeros(1, 3, ih, iw), [(ih, iw)]), [torch.zeros(1, 4, fh, fw)])[0]
    assert torch.equal(grid_anchors(feature_size, image_size, sizes, ratios, offset=0.0), expected)


@pytest.mark.parametrize("call, name", [
    (lambda: cell_anchors((0, 4)), "sizes"),
    (lambda: cell_anchors((4,), ()), "aspect_ratios"),
    (lambda: cell_anchors((4,), (1.0, -2.0)), "aspect_ratios"),
    (lambda: grid_anchors(0, 16, (4,)), "feature_size"),
    (lambda: grid_anchors(4, (16, 16, 3), (4,)), "image_size"),
    (lambda: grid_anchors(4, 16, (4,), offset=1.5), "offset"),
])
def test_anchor_errors_name_the_argument(call, name):
    with pytest.raises((TypeError, ValueError), match=name):
        call()


# --------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------

ROW = torch.tensor([[0., 0., 10., 10.], [10., 0., 20., 10.], [20., 0., 30., 10.], [30., 0., 40., 10.]])


def test_match_by_hand():
    gt = torch.tensor([[1., 0., 11., 10.],        # IoU 0.82 with anchor 0, 0.05 with anchor 1
                       [22., 0., 32., 10.]])      # IoU 0.67 with anchor 2, 0.11 with anchor 3
    assert match_anchors(ROW, gt).tolist() == [0, -1, 1, -1]
    assert match_anchors(ROW, gt, iou_threshold=0.1).tolist() == [0, -1, 1, 1]


def test_an_object_below_the_threshold_still_gets_its_best_anchor():
    gt = torch.tensor([[29., 2., 35., 8.]])       # small: IoU 0.28 with anchor 3, 0.05 with anchor 2
    iou = box_iou(gt, ROW)[0]
    assert iou.max() < 0.5 and iou.argmax() == 3
    assert match_anchors(ROW, gt).tolist() == [-1, -1, -1, 0]


def test_no_objects_means_all_background():
    assert match_anchors(ROW, torch.zeros(0, 4)).tolist() == [-1] * 4
    labels, deltas = anchor_targets(ROW, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))
    assert labels.tolist() == [0] * 4 and torch.equal(deltas, torch.zeros(4, 4))


def test_an_object_that_overlaps_no_anchor_forces_nothing():
    gt = torch.tensor([[50., 50., 60., 60.]])
    assert match_anchors(ROW, gt).tolist() == [-1] * 4


def test_tie_between_objects_goes_to_the_lowest_index():
    anchors = torch.tensor([[0., 0., 10., 10.], [100., 100., 110., 110.]])
    gt = torch.tensor([[0., 0., 10., 12.], [0., -2., 10., 10.]])      # both IoU 10/12 with anchor 0
    assert box_iou(gt, anchors)[0, 0] == box_iou(gt, anchors)[1, 0]
    assert match_anchors(anchors, gt).tolist() == [0, -1]


def test_an_object_between_two_anchors_takes_both():
    gt = torch.tensor([[5., 0., 15., 10.]])        # IoU 1/3 with anchors 0 and 1: both are its best
    assert match_anchors(ROW, gt).tolist() == [0, 0, -1, -1]


def test_a_forced_anchor_goes_to_the_object_it_overlaps_most():
    # Anchor 3 is the best anchor of both objects; object 1 overlaps it more and wins it,
    # so object 0 is left without an anchor (the documented exception).
    gt = torch.tensor([[31., 1., 36., 6.], [30., 0., 38., 10.]])     # IoU 0.25 and 0.8 with anchor 3
    assert match_anchors(ROW, gt).tolist() == [-1, -1, -1, 1]


def test_a_forced_match_overrides_the_anchors_own_best_object():
    anchors = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 12.]])
    gt = torch.tensor([[0., 0., 10., 12.],        # IoU 0.83 with anchor 0, 1 with anchor 1 (its best)
                       [2., 2., 8., 8.]])         # IoU 0.36 with anchor 0 (its best), 0.3 with anchor 1
    assert match_anchors(anchors, gt).tolist() == [1, 0]     # anchor 0 would rather take object 0
    assert match_anchors(anchors, gt[:1]).tolist() == [0, 0]


@st.composite
def random_boxes(draw, n_min, n_max, low=0.0, high=64.0):
    n = draw(st.integers(n_min, n_max))
    coords = draw(st.lists(st.tuples(*[st.integers(int(low), int(high))] * 2, *[st.integers(2, 24)] * 2),
                           min_size=n, max_size=n))
    t = torch.tensor(coords, dtype=torch.float32).reshape(-1, 4)
    return torch.cat([t[:, :2], t[:, :2] + t[:, 2:]], dim=1)


@SMALL
@given(gt=random_boxes(0, 6), threshold=st.sampled_from([0.3, 0.5, 0.7]))
def test_matching_agrees_with_torchvision_matcher(gt, threshold):
    from torchvision.models.detection._utils import Matcher

    anchors = grid_anchors(8, 64, sizes=(8, 16), aspect_ratios=(0.5, 1.0, 2.0))
    matched = match_anchors(anchors, gt, threshold)
    if len(gt) == 0:
        assert (matched == -1).all()
        return
    iou = box_iou(gt, anchors)
    if (iou.amax(dim=1) == 0).any():
        return                                     # torchvision would force every anchor onto such an object
    theirs = Matcher(threshold, threshold, allow_low_quality_matches=True)(iou)
    assert torch.equal(matched >= 0, theirs >= 0)                  # the same positive anchors
    forced = (iou == iou.amax(dim=1, keepdim=True)).any(dim=0)
    assert torch.equal(matched[~forced], theirs[~forced])          # torchvision differs only on forced anchors
    # every positive anchor either reaches the threshold or is the best anchor of its object
    positive = matched >= 0
    own = iou[matched[positive], positive.nonzero().squeeze(1)]
    best_of_object = iou.amax(dim=1)[matched[positive]]
    assert ((own >= threshold) | (own == best_of_object)).all()


@pytest.mark.parametrize("call, name", [
    (lambda: match_anchors(ROW, torch.tensor([[0., 0., 0., 5.]])), "gt_boxes"),
    (lambda: match_anchors(ROW[:, :3], ROW), "anchors"),
    (lambda: match_anchors(ROW, ROW, iou_threshold=1.5), "iou_threshold"),
    (lambda: anchor_targets(ROW, ROW[:2], torch.tensor([1, 0])), "gt_labels"),
    (lambda: anchor_targets(ROW, ROW[:2], torch.tensor([1.0, 2.0])), "gt_labels"),
    (lambda: anchor_targets(ROW, ROW[:2], torch.tensor([1])), "gt_labels"),
])
def test_matching_errors_name_the_argument(call, name):
    with pytest.raises((TypeError, ValueError), match=name):
        call()


# --------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------

@SMALL
@given(gt=random_boxes(1, 6, high=56.0), weights=st.sampled_from([(1.0, 1.0, 1.0, 1.0), BOX_WEIGHTS]))
def test_targets_round_trip_to_the_matched_boxes(gt, weights):
    anchors = grid_anchors(8, 64, sizes=(8, 16), aspect_ratios=(0.5, 1.0, 2.0))
    labels_in = torch.arange(1, len(gt) + 1)
    labels, deltas = anchor_targets(anchors, gt, labels_in, 0.5, weights)
    matched = match_anchors(anchors, gt, 0.5)
    positive = matched >= 0
    assert labels.dtype == torch.int64 and deltas.shape == (len(anchors), 4)
    assert torch.equal(labels[positive], labels_in[matched[positive]]) and (labels[~positive] == 0).all()
    assert (deltas[~positive] == 0).all()
    decoded = decode_boxes(deltas[positive], anchors[positive], weights)
    assert torch.allclose(decoded, gt[matched[positive]], atol=1e-4)
    assert torch.allclose(deltas[positive], encode_boxes(gt[matched[positive]], anchors[positive], weights))


# --------------------------------------------------------------------------
# Post-processing
# --------------------------------------------------------------------------

def test_postprocess_by_hand():
    anchors = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.], [20., 20., 30., 30.], [40., 40., 50., 50.]])
    scores = torch.tensor([[0.1, 0.9, 0.0],      # class 1
                           [0.2, 0.8, 0.0],      # class 1, duplicate of anchor 0 (IoU 0.82)
                           [0.4, 0.0, 0.6],      # class 2
                           [0.97, 0.02, 0.01]])  # background: below the score threshold
    deltas = torch.zeros(4, 4)
    deltas[2] = torch.tensor([0.1, 0.0, 0.0, 0.0])        # moved 1 pixel right
    out = postprocess_detections(scores, deltas, anchors)
    assert out["labels"].tolist() == [1, 2] and out["labels"].dtype == torch.int64
    assert torch.allclose(out["scores"], torch.tensor([0.9, 0.6]))
    assert torch.allclose(out["boxes"], torch.tensor([[0., 0., 10., 10.], [21., 20., 31., 30.]]))
    # no NMS (threshold 1): the duplicate stays; top_k keeps the best
    assert postprocess_detections(scores, deltas, anchors, iou_threshold=1.0)["labels"].tolist() == [1, 1, 2]
    assert postprocess_detections(scores, deltas, anchors, iou_threshold=1.0, top_k=2)["scores"].tolist() == \
        pytest.approx([0.9, 0.8])
    assert len(postprocess_detections(scores, deltas, anchors, score_threshold=0.95)["boxes"]) == 0
    clipped = postprocess_detections(scores, deltas, anchors, image_size=(25, 28))["boxes"]
    assert torch.allclose(clipped[1], torch.tensor([21., 20., 28., 25.]))


def test_postprocess_keeps_candidates_per_class_and_drops_empty_boxes():
    anchors = grid_anchors(4, 32, sizes=(8,))
    scores = torch.zeros(16, 3)
    scores[:, 1] = torch.linspace(0.9, 0.5, 16)
    scores[:, 0] = 1 - scores[:, 1]
    out = postprocess_detections(scores, torch.zeros(16, 4), anchors, candidates_per_class=5, iou_threshold=0.5)
    assert len(out["boxes"]) == 5 and torch.allclose(out["scores"], scores[:5, 1])
    outside = anchors + 100
    empty = postprocess_detections(scores, torch.zeros(16, 4), outside, image_size=32)
    assert len(empty["boxes"]) == 0 and empty["boxes"].shape == (0, 4)


@pytest.mark.parametrize("kwargs, name", [
    ({"scores": torch.zeros(4, 1)}, "scores"),
    ({"deltas": torch.zeros(3, 4)}, "scores and deltas"),
    ({"score_threshold": 2.0}, "score_threshold"),
    ({"top_k": 0}, "top_k"),
    ({"candidates_per_class": 0}, "candidates_per_class"),
    ({"image_size": (0, 4)}, "image_size"),
])
def test_postprocess_errors_name_the_argument(kwargs, name):
    args = {"scores": torch.full((4, 3), 1 / 3), "deltas": torch.zeros(4, 4), "anchors": ROW}
    args.update(kwargs)
    with pytest.raises((TypeError, ValueError), match=name):
        postprocess_detections(args.pop("scores"), args.pop("deltas"), args.pop("anchors"), **args)


# --------------------------------------------------------------------------
# The model and its loss
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scenes():
    data = ShapesDataset(8, 48, task="detection", num_classes=3, seed=3)
    images, targets = zip(*(data[i] for i in range(len(data))), strict=True)
    return torch.stack(images), [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets]


def make_model(**kwargs):
    torch.manual_seed(0)
    return TinySSD(3, 48, **kwargs)


def test_model_shapes():
    model = make_model()
    assert model.num_anchors == [6, 6]
    assert model.anchors.shape == (12 * 12 * 6 + 6 * 6 * 6, 4)
    output = model(torch.zeros(2, 3, 48, 48))
    assert output.shape == (2, len(model.anchors), 3 + 1 + 4)
    logits, deltas = model.split(output)
    assert logits.shape == (2, len(model.anchors), 4) and deltas.shape == (2, len(model.anchors), 4)
    first, second = model.feature_maps(torch.zeros(1, 3, 48, 48))
    assert first.shape == (1, 32, 12, 12) and second.shape == (1, 64, 6, 6)
    other = TinySSD(2, 64, width=8, sizes=((10,), (20, 30)), aspect_ratios=(1.0,))
    assert other.num_anchors == [1, 2] and other(torch.zeros(1, 3, 64, 64)).shape == (1, 16 * 16 + 8 * 8 * 2, 7)


def test_head_outputs_line_up_with_the_anchors():
    # Feature maps whose channels 0 and 1 hold each position's anchor centre (x, y), and box heads
    # that copy them (centre tap) into every anchor's (d_x, d_y): then anchor i's predicted
    # offsets must be anchor i's own centre, which checks the order of forward's reshape.
    model = make_model()
    centres = []
    for stride in model.strides:
        n = 48 // stride
        ys, xs = torch.meshgrid(torch.arange(n) * stride + stride / 2, torch.arange(n) * stride + stride / 2,
                                indexing="ij")
        centres.append(torch.stack([xs, ys]).float())
    model.feature_maps = lambda x: [torch.cat([c, torch.zeros(model.box_heads[i].in_channels - 2, *c.shape[1:])])[None]
                                for i, c in enumerate(centres)]
    with torch.no_grad():
        for head, k in zip(model.box_heads, model.num_anchors, strict=True):
            head.weight.zero_()
            head.bias.zero_()
            for a in range(k):
                head.weight[4 * a, 0, 1, 1] = 1.0
                head.weight[4 * a + 1, 1, 1, 1] = 1.0
        _, deltas = model.split(model(torch.zeros(1, 3, 48, 48)))
    anchor_centres = (model.anchors[:, :2] + model.anchors[:, 2:]) / 2
    assert torch.allclose(deltas[0, :, :2], anchor_centres, atol=1e-5)


def test_encode_targets(scenes):
    _, targets = scenes
    model = make_model()
    encoded = model.encode_targets(targets)
    assert encoded.shape == (8, len(model.anchors), 5) and encoded.dtype == torch.float32
    for i, target in enumerate(targets):
        labels, deltas = anchor_targets(model.anchors, target["boxes"], target["labels"], 0.5, BOX_WEIGHTS)
        assert torch.equal(encoded[i, :, 0].long(), labels) and torch.equal(encoded[i, :, 1:], deltas)
        assert set(target["labels"].tolist()) == set(labels[labels > 0].unique().tolist())   # every object has anchors
    with pytest.raises(ValueError, match="labels"):
        model.encode_targets([{"boxes": torch.tensor([[0., 0., 9., 9.]]), "labels": torch.tensor([4])}])


def test_hard_negative_mining_by_hand():
    # one image, 6 anchors: 1 positive (anchor 0), 5 negatives with increasing background loss
    logits = torch.zeros(1, 6, 2)
    logits[0, 1:, 1] = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])        # anchors 4 and 5 are the hardest
    labels = torch.tensor([[1, 0, 0, 0, 0, 0]])
    deltas, target = torch.zeros(1, 6, 4), torch.zeros(1, 6, 4)
    deltas[0, 0] = torch.tensor([0.5, -2.0, 0.0, 0.0])                   # smooth-L1: 0.125 + 1.5
    ce = torch.nn.functional.cross_entropy(logits[0], labels[0], reduction="none")
    loss, parts = detection_loss(logits, deltas, labels, target, neg_pos_ratio=2, return_parts=True)
    assert parts["classification"].item() == pytest.approx((ce[0] + ce[4] + ce[5]).item())
    assert parts["box"].item() == pytest.approx(1.625)
    assert loss.item() == pytest.approx(parts["classification"].item() + 1.625)
    # 3:1 keeps the 3 hardest negatives; an image without positives keeps neg_pos_ratio negatives
    assert detection_loss(logits, deltas, labels, target).item() == pytest.approx(
        (ce[0] + ce[3] + ce[4] + ce[5]).item() + 1.625, rel=1e-6)
    no_object = detection_loss(logits, deltas, torch.zeros_like(labels), target, neg_pos_ratio=1)
    assert no_object.item() == pytest.approx(ce[5].item())


def test_loss_is_finite_and_decreases_on_one_batch(scenes):
    images, targets = scenes
    model = make_model()
    encoded = model.encode_targets(targets)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(8):
        loss = model.loss(model(images), encoded)
        assert math.isfinite(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses
    assert 0.0 <= positive_accuracy(model(images), encoded) <= 1.0


def test_detect_returns_the_metric_format(scenes):
    images, targets = scenes
    model = make_model()
    model.train()
    detections = model.detect(images[:3], top_k=20)
    assert model.training                                           # mode restored
    assert isinstance(detections, list) and len(detections) == 3
    for found in detections:
        assert sorted(found) == ["boxes", "labels", "scores"]
        n = len(found["scores"])
        assert 0 < n <= 20
        assert found["boxes"].shape == (n, 4) and found["boxes"].dtype == torch.float32
        assert found["labels"].dtype == torch.int64 and found["scores"].dtype == torch.float32
        assert ((found["labels"] >= 1) & (found["labels"] <= 3)).all()
        assert (found["scores"][:-1] >= found["scores"][1:]).all()
        assert (found["boxes"] >= 0).all() and (found["boxes"] <= 48).all()
        assert (found["boxes"][:, 2:] > found["boxes"][:, :2]).all()
    result = mean_average_precision(detections, targets[:3])
    assert 0.0 <= result["map"] <= 1.0


@pytest.mark.parametrize("call, name", [
    (lambda m: m(torch.zeros(1, 3, 32, 32)), "x"),
    (lambda m: m.encode_targets({"boxes": torch.zeros(0, 4)}), "targets"),
    (lambda m: m.loss(torch.zeros(1, len(m.anchors), 8), torch.zeros(1, len(m.anchors), 4)), "target"),
    (lambda m: TinySSD(3, 44), "image_size"),
    (lambda m: TinySSD(0), "num_classes"),
    (lambda m: TinySSD(3, sizes=(8, 16, 32)), "sizes"),
    (lambda m: TinySSD(3, iou_threshold=1.5), "iou_threshold"),
    (lambda m: detection_loss(torch.zeros(1, 5, 3), torch.zeros(1, 4, 4), torch.zeros(1, 5).long(),
                              torch.zeros(1, 5, 4)), "box_deltas"),
])
def test_model_errors_name_the_argument(call, name):
    model = make_model()
    with pytest.raises((TypeError, ValueError), match=name):
        call(model)


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------

def test_figures(scenes):
    images, targets = scenes
    model = make_model()
    fig = show_anchors(images[0], model.anchors, highlight=[0, 5, 900])
    assert len([p for p in fig.axes[0].patches if p.get_gid() == "anchor"]) == 3
    matched = match_anchors(model.anchors, targets[0]["boxes"])
    fig = show_matches(images[0], model.anchors, targets[0]["boxes"], matched, targets[0]["labels"],
                       ["bg", "a", "b", "c"])
    assert len([p for p in fig.axes[0].patches if p.get_gid() == "anchor"]) == int((matched >= 0).sum())
    assert len([p for p in fig.axes[0].patches if p.get_gid() == "box"]) == len(targets[0]["boxes"])
    with pytest.raises(ValueError, match="matched"):
        show_matches(images[0], model.anchors, targets[0]["boxes"], matched[:-1])
    with pytest.raises(ValueError, match="highlight"):
        show_anchors(images[0], model.anchors, highlight=[len(model.anchors)])


def test_pr_curves_give_the_metric_ap(scenes):
    images, targets = scenes
    g = torch.Generator().manual_seed(0)
    predictions = []
    for target in targets:                          # noisy copies of the objects plus a false positive
        boxes = torch.cat([target["boxes"] + torch.randn(target["boxes"].shape, generator=g) * 2,
                           torch.tensor([[1., 1., 9., 9.]])]).clamp(0, 48)
        predictions.append({"boxes": boxes, "scores": torch.rand(len(boxes), generator=g),
                            "labels": torch.cat([target["labels"], torch.tensor([1])])})
    curves = detection_pr_curves(predictions, targets)
    result = mean_average_precision(predictions, targets, [0.5])
    for k, label in enumerate(result["classes"].tolist()):
        curve = curves[label]
        ap = _summarize_curve(curve["precision"][None], curve["recall"][None], "coco101")
        assert float(ap) == pytest.approx(result["ap"][0, k].item(), abs=1e-12)
        assert (curve["scores"][:-1] >= curve["scores"][1:]).all()
    fig = detection_pr_figure(predictions, targets, ["bg", "a", "b", "c"])
    assert len(fig.axes) == len(curves)
