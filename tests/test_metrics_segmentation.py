"""course.metrics (segmentation part): checked against scikit-learn, on the 0/0 cases, and on bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics as skm
import torch
from hypothesis import given, settings, strategies as st

from course.metrics import (
    confusion_matrix,
    dice_coefficient,
    iou_from_confusion,
    mask_iou,
    mean_iou,
    pixel_accuracy,
)

SETTINGS = settings(max_examples=40, deadline=None, database=None)


@st.composite
def label_maps(draw):
    """Random ``(pred, target, C, ignore_index)``: (N, H, W) int64 maps, some target pixels ignored."""
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.integers(1, 6))
    ignore_index = draw(st.sampled_from([None, 255, -1]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    # A few classes only, so that some classes are often absent from pred and/or target.
    used = draw(st.integers(1, c))
    pred = torch.randint(0, used, (n, h, w), generator=g)
    target = torch.randint(0, c, (n, h, w), generator=g) if draw(st.booleans()) else pred.clone()
    target[torch.rand(n, h, w, generator=g) < 0.2] = 0           # agreement on class 0 now and then
    if ignore_index is not None:
        target[torch.rand(n, h, w, generator=g) < draw(st.sampled_from([0.0, 0.3, 1.0]))] = ignore_index
    return pred, target, c, ignore_index


def kept_pixels(pred, target, ignore_index):
    """Flat numpy arrays of the pixels that count, for scikit-learn."""
    keep = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    return target[keep].numpy(), pred[keep].numpy()


@st.composite
def binary_masks(draw):
    """Random pairs of binary masks ``(B, H, W)``, sparse enough that some masks are empty."""
    b, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]))
    pred = torch.rand(b, h, w, generator=g) < density
    target = torch.rand(b, h, w, generator=g) < draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]))
    return pred, target


# --------------------------------------------------------------------------
# Against scikit-learn
# --------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:A single label was found")
@SETTINGS
@given(label_maps())
def test_confusion_matrix_matches_sklearn(case):
    pred, target, c, ignore_index = case
    cm = confusion_matrix(pred, target, c, ignore_index=ignore_index)
    y_true, y_pred = kept_pixels(pred, target, ignore_index)
    if y_true.size:
        expected = skm.confusion_matrix(y_true, y_pred, labels=list(range(c)))
    else:                                                   # every pixel ignored (sklearn refuses)
        expected = np.zeros((c, c), dtype=np.int64)
    assert cm.dtype == torch.int64 and cm.shape == (c, c)
    np.testing.assert_array_equal(cm.numpy(), expected)


@SETTINGS
@given(label_maps(), label_maps())
def test_iou_of_summed_confusion_matrices_is_the_iou_of_the_whole_pass(first, second):
    """What course.train reports for mIoU: the matrices of the batches summed, then IoU."""
    c = max(first[2], second[2])
    first_matrix = confusion_matrix(first[0], first[1], c, ignore_index=first[3])
    second_matrix = confusion_matrix(second[0], second[1], c, ignore_index=second[3])
    miou, iou = iou_from_confusion(first_matrix + second_matrix)
    # the same pixels as one label map: both batches side by side, ignored pixels dropped
    keep = [(p[t != i] if i is not None else p.flatten(), t[t != i] if i is not None else t.flatten())
            for p, t, _, i in (first, second)]
    expected_miou, expected = mean_iou(torch.cat([k[0] for k in keep]), torch.cat([k[1] for k in keep]), c)
    torch.testing.assert_close(iou, expected, equal_nan=True)
    assert miou == pytest.approx(expected_miou, nan_ok=True)


def test_iou_from_confusion_needs_a_square_matrix():
    with pytest.raises(ValueError, match="matrix must be square"):
        iou_from_confusion(torch.zeros(2, 3, dtype=torch.int64))


@SETTINGS
@given(label_maps())
def test_mean_iou_matches_sklearn_jaccard(case):
    pred, target, c, ignore_index = case
    miou, iou = mean_iou(pred, target, c, ignore_index=ignore_index)
    y_true, y_pred = kept_pixels(pred, target, ignore_index)
    present = np.isin(np.arange(c), np.concatenate([y_true, y_pred]))
    if y_true.size:
        expected = skm.jaccard_score(y_true, y_pred, labels=list(range(c)), average=None, zero_division=0)
    else:                                                   # every pixel ignored (sklearn refuses)
        expected = np.zeros(c)
    assert iou.shape == (c,) and iou.dtype == torch.float64
    np.testing.assert_allclose(iou.numpy()[present], expected[present], atol=1e-12)
    assert np.isnan(iou.numpy()[~present]).all()           # absent from both: nan
    if present.any():
        assert miou == pytest.approx(expected[present].mean(), abs=1e-12)
    else:
        assert math.isnan(miou)


@SETTINGS
@given(label_maps())
def test_pixel_accuracy_matches_sklearn(case):
    pred, target, _, ignore_index = case
    y_true, y_pred = kept_pixels(pred, target, ignore_index)
    acc = pixel_accuracy(pred, target, ignore_index=ignore_index)
    assert isinstance(acc, float)
    if y_true.size:
        assert acc == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-12)
    else:
        assert math.isnan(acc)                              # every pixel ignored: 0/0


@SETTINGS
@given(binary_masks())
def test_mask_iou_matches_sklearn_jaccard(masks):
    pred, target = masks
    iou = mask_iou(pred, target)
    assert iou.shape == pred.shape[:-2] and iou.dtype == torch.float32
    expected = [skm.jaccard_score(t.flatten().numpy(), p.flatten().numpy(), zero_division=1.0)
                for p, t in zip(pred, target, strict=True)]
    np.testing.assert_allclose(iou.numpy(), expected, atol=1e-6)


@SETTINGS
@given(binary_masks())
def test_dice_matches_sklearn_f1_and_iou(masks):
    pred, target = masks
    dice = dice_coefficient(pred, target)
    expected = [skm.f1_score(t.flatten().numpy(), p.flatten().numpy(), zero_division=1.0)
                for p, t in zip(pred, target, strict=True)]
    np.testing.assert_allclose(dice.numpy(), expected, atol=1e-6)          # Dice == F1
    iou = mask_iou(pred, target)
    torch.testing.assert_close(dice, 2 * iou / (1 + iou))                 # Dice = 2 IoU / (1 + IoU)


def test_mean_iou_equals_mask_iou_per_class():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randint(0, 4, (2, 8, 8), generator=g), torch.randint(0, 4, (2, 8, 8), generator=g)
    _, iou = mean_iou(pred, target, 4)
    per_class = [mask_iou((pred == c).flatten(0, 1), (target == c).flatten(0, 1)).item() for c in range(4)]
    np.testing.assert_allclose(iou.numpy(), per_class, atol=1e-6)


# --------------------------------------------------------------------------
# Small hand-made examples and the 0/0 conventions
# --------------------------------------------------------------------------

def test_mask_iou_and_dice_by_hand():
    a = torch.tensor([[1, 1, 0, 0]] * 2)         # 4 pixels
    b = torch.tensor([[0, 1, 1, 0]] * 2)         # 4 pixels, 2 shared
    assert mask_iou(a, b).item() == pytest.approx(2 / 6)
    assert dice_coefficient(a, b).item() == pytest.approx(2 * 2 / (4 + 4))


def test_empty_masks():
    empty, full = torch.zeros(3, 3, dtype=torch.bool), torch.ones(3, 3, dtype=torch.bool)
    assert mask_iou(empty, empty).item() == 1.0                 # both empty: perfect agreement
    assert dice_coefficient(empty, empty).item() == 1.0
    assert dice_coefficient(empty, empty, eps=1.0).item() == 1.0
    assert mask_iou(empty, full).item() == 0.0                  # exactly one empty
    assert mask_iou(full, empty).item() == 0.0
    assert dice_coefficient(full, empty).item() == 0.0
    assert dice_coefficient(empty, full).item() == 0.0
    # A batch mixing the cases, with zero-size masks too.
    batch = mask_iou(torch.stack([empty, full, full]), torch.stack([empty, empty, full]))
    assert batch.tolist() == [1.0, 0.0, 1.0]
    assert mask_iou(torch.zeros(2, 0, 4), torch.zeros(2, 0, 4)).tolist() == [1.0, 1.0]


def test_mask_dtypes_give_the_same_answer():
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 5, 5, generator=g) < 0.5, torch.rand(2, 5, 5, generator=g) < 0.5
    ref = mask_iou(a, b)
    for dtype in (torch.uint8, torch.int64, torch.float32):
        torch.testing.assert_close(mask_iou(a.to(dtype), b.to(dtype)), ref)
        torch.testing.assert_close(dice_coefficient(a.to(dtype), b.to(dtype)), dice_coefficient(a, b))
    assert mask_iou(a.double(), b.double()).dtype == torch.float64


def test_soft_dice_coefficient_on_the_lecture_example():
    a = torch.tensor([[0.01, 0.03, 0.02, 0.02], [0.05, 0.12, 0.09, 0.07],
                      [0.89, 0.85, 0.88, 0.91], [0.99, 0.97, 0.95, 0.97]], dtype=torch.float64)
    b = torch.zeros(4, 4, dtype=torch.float64)
    b[2:] = 1
    # |A| = 7.82, |B| = 8, |A ∩ B| = sum(A * B) = 3.53 + 3.88 = 7.41.
    assert dice_coefficient(a, b).item() == pytest.approx(2 * 7.41 / (7.82 + 8), abs=1e-12)
    assert dice_coefficient(a, b, eps=1.0).item() == pytest.approx((2 * 7.41 + 1) / (7.82 + 8 + 1), abs=1e-12)


def test_dice_coefficient_is_differentiable():
    p = torch.rand(2, 3, 3, dtype=torch.float64, requires_grad=True)
    y = (torch.rand(2, 3, 3) < 0.5).double()
    assert torch.autograd.gradcheck(lambda p: dice_coefficient(p, y), (p,))


def test_class_absent_from_both_is_nan_and_left_out_of_the_mean():
    target = torch.tensor([[0, 0, 1, 1]])
    pred = torch.tensor([[0, 0, 1, 3]])                    # class 2 nowhere, class 3 only predicted
    miou, iou = mean_iou(pred, target, num_classes=4)
    assert iou[0].item() == 1.0
    assert iou[1].item() == pytest.approx(1 / 2)
    assert math.isnan(iou[2].item())
    assert iou[3].item() == 0.0                            # predicted only: IoU 0, and it counts
    assert miou == pytest.approx((1 + 1 / 2 + 0) / 3)


def test_ignored_pixels_count_nowhere():
    g = torch.Generator().manual_seed(2)
    target = torch.randint(0, 3, (2, 6, 6), generator=g)
    ignored = torch.rand(2, 6, 6, generator=g) < 0.4
    target[ignored] = 255
    pred = torch.randint(0, 3, (2, 6, 6), generator=g)
    other = pred.clone()
    other[ignored] = (pred[ignored] + 1) % 3                # change every prediction at ignored pixels
    cm = confusion_matrix(pred, target, 3, ignore_index=255)
    assert cm.sum().item() == (~ignored).sum().item()
    assert torch.equal(confusion_matrix(other, target, 3, ignore_index=255), cm)
    miou, iou = mean_iou(pred, target, 3, ignore_index=255)
    miou2, iou2 = mean_iou(other, target, 3, ignore_index=255)
    assert miou == miou2 and torch.equal(iou, iou2)
    assert pixel_accuracy(pred, target, 255) == pixel_accuracy(other, target, 255)
    # ...and a class predicted only at ignored pixels is absent (nan), not a false positive.
    target = torch.tensor([[0, 255]])
    _, iou = mean_iou(torch.tensor([[0, 1]]), target, 2, ignore_index=255)
    assert iou[0].item() == 1.0 and math.isnan(iou[1].item())


def test_ignore_index_may_be_a_class():
    target, pred = torch.tensor([[0, 1, 2]]), torch.tensor([[0, 0, 2]])
    assert confusion_matrix(pred, target, 3, ignore_index=0).tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 1]]
    assert pixel_accuracy(pred, target, ignore_index=0) == 0.5


def test_everything_ignored():
    target = torch.full((2, 3), 255)
    pred = torch.zeros(2, 3, dtype=torch.int64)
    assert confusion_matrix(pred, target, 2, ignore_index=255).tolist() == [[0, 0], [0, 0]]
    miou, iou = mean_iou(pred, target, 2, ignore_index=255)
    assert math.isnan(miou) and torch.isnan(iou).all()
    assert math.isnan(pixel_accuracy(pred, target, ignore_index=255))
    empty = torch.zeros(0, dtype=torch.int64)
    assert math.isnan(pixel_accuracy(empty, empty))


def test_confusion_matrix_small_integer_dtypes_do_not_overflow():
    # 19 * 20 + 19 = 399 does not fit in uint8: the bins must be computed in int64.
    target = torch.tensor([19, 19, 0], dtype=torch.uint8)
    pred = torch.tensor([19, 0, 0], dtype=torch.uint8)
    cm = confusion_matrix(pred, target, 20)
    assert cm[19, 19] == 1 and cm[19, 0] == 1 and cm[0, 0] == 1 and cm.sum() == 3


def test_inputs_are_not_modified():
    g = torch.Generator().manual_seed(3)
    target = torch.randint(0, 3, (2, 5, 5), generator=g)
    target[0, 0, 0] = 255
    pred = torch.randint(0, 3, (2, 5, 5), generator=g).to(torch.uint8)
    masks = (torch.rand(2, 5, 5, generator=g), torch.rand(2, 5, 5, generator=g) < 0.5)
    copies = [t.clone() for t in (target, pred, *masks)]
    confusion_matrix(pred, target, 3, ignore_index=255)
    mean_iou(pred, target, 3, ignore_index=255)
    pixel_accuracy(pred, target, ignore_index=255)
    mask_iou(masks[1], masks[1])
    dice_coefficient(*masks, eps=1.0)
    for before, after in zip(copies, (target, pred, *masks), strict=True):
        assert torch.equal(before, after) and before.dtype == after.dtype


def test_cuda_if_available():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    target = torch.tensor([[0, 1, 255]], device="cuda")
    pred = torch.tensor([[0, 1, 1]], device="cuda")
    assert confusion_matrix(pred, target, 2, 255).device.type == "cuda"
    assert mean_iou(pred, target, 2, 255)[0] == 1.0
    assert pixel_accuracy(pred, target, 255) == 1.0
    assert mask_iou(pred == 1, target == 1).device.type == "cuda"


# --------------------------------------------------------------------------
# Bad input: the message names the argument and shows the value given
# --------------------------------------------------------------------------

L = torch.tensor([[0, 1], [1, 0]])                 # a valid 2x2 label map
M = torch.tensor([[True, False], [False, True]])   # a valid 2x2 mask
F = torch.tensor([[0.5, 1.0], [0.0, 0.25]])        # a valid soft mask

BAD_INPUT = [
    # mask_iou
    (mask_iou, ([[1, 0]], M), TypeError, r"pred must be a torch\.Tensor, got list"),
    (mask_iou, (M, "mask"), TypeError, r"target must be a torch\.Tensor, got str"),
    (mask_iou, (torch.tensor([[0, 2], [1, 0]]), M), ValueError, r"pred must be a binary mask.*got value 2"),
    (mask_iou, (M, F), ValueError, r"target must be a binary mask.*got value 0\.5"),
    (mask_iou, (M, torch.ones(2, 3)), ValueError,
     r"pred and target must have the same shape, got pred \(2, 2\) and target \(2, 3\)"),
    (mask_iou, (torch.ones(4), torch.ones(4)), ValueError, r"pred must have at least 2 dimensions.*got shape \(4,\)"),
    # dice_coefficient
    (dice_coefficient, (F * 3, F), ValueError, r"pred must be a mask with values in \[0, 1\], got value 1\.5"),
    (dice_coefficient, (F, F - 1), ValueError, r"target must be a mask with values in \[0, 1\], got value -0\.5"),
    (dice_coefficient, (F, F[:, None]), ValueError,
     r"pred and target must have the same shape, got pred \(2, 2\) and target \(2, 1, 2\)"),
    (dice_coefficient, (F, F, -1.0), ValueError, r"eps must be a number >= 0\.0, got -1\.0"),
    (dice_coefficient, (F, F, "0"), TypeError, r"eps must be a number, got str '0'"),
    # confusion_matrix
    (confusion_matrix, (L.float(), L, 2), TypeError, r"pred must be an integer tensor.*got dtype torch\.float32"),
    (confusion_matrix, (L, M, 2), TypeError, r"target must be an integer tensor.*got dtype torch\.bool"),
    (confusion_matrix, (L, L.flatten(), 2), ValueError,
     r"pred and target must have the same shape, got pred \(2, 2\) and target \(4,\)"),
    (confusion_matrix, (L, L, -2), ValueError, r"num_classes must be an int >= 1, got -2"),
    (confusion_matrix, (L, L, 2.0), TypeError, r"num_classes must be an int, got float 2\.0"),
    (confusion_matrix, (L, L + 2, 3), ValueError, r"target values must be class indices in \[0, 3\), got 3"),
    (confusion_matrix, (L - 1, L, 2), ValueError, r"pred values must be class indices in \[0, 2\), got -1"),
    (confusion_matrix, (L, torch.tensor([[0, 255], [7, 1]]), 2, 255), ValueError,
     r"target values .*\[0, 2\) or ignore_index=255, got 7"),
    (confusion_matrix, (L, torch.tensor([[0, 255], [1, 1]]), 2), ValueError,
     r"target values must be class indices in \[0, 2\), got 255"),
    (confusion_matrix, (torch.tensor([[0, 255], [1, 1]]), L, 2, 255), ValueError,
     r"pred values must be class indices in \[0, 2\), got 255"),
    (confusion_matrix, (L, L, 2, "255"), TypeError, r"ignore_index must be an int, got str '255'"),
    # mean_iou
    (mean_iou, (L, L.double(), 2), TypeError, r"target must be an integer tensor.*got dtype torch\.float64"),
    (mean_iou, (L, L, 0), ValueError, r"num_classes must be an int >= 1, got 0"),
    (mean_iou, (L * 5, L, 2), ValueError, r"pred values must be class indices in \[0, 2\), got 5"),
    (mean_iou, (L, L.numpy(), 2), TypeError, r"target must be a torch\.Tensor, got ndarray"),
    # pixel_accuracy
    (pixel_accuracy, (L.float(), L), TypeError, r"pred must be an integer tensor.*got dtype torch\.float32"),
    (pixel_accuracy, (L, L.T.flatten()), ValueError, r"got pred \(2, 2\) and target \(4,\)"),
    (pixel_accuracy, (L, L, 2.5), TypeError, r"ignore_index must be an int, got float 2\.5"),
    (pixel_accuracy, ([0, 1], L), TypeError, r"pred must be a torch\.Tensor, got list"),
]


@pytest.mark.parametrize("func, args, error, match", BAD_INPUT,
                         ids=[f"{i}-{case[0].__name__}" for i, case in enumerate(BAD_INPUT)])
def test_bad_input_is_reported_with_name_and_value(func, args, error, match):
    with pytest.raises(error, match=match):
        func(*args)


