"""course.losses: pixel cross-entropy against F.cross_entropy, soft Dice on the lecture's example, bad input."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from course.losses import pixel_cross_entropy, soft_dice_loss
from course.metrics import dice_coefficient

SETTINGS = settings(max_examples=40, deadline=None, database=None)

# The lecture's soft Dice example: prediction A for one class, target B.
A = torch.tensor([[0.01, 0.03, 0.02, 0.02],
                  [0.05, 0.12, 0.09, 0.07],
                  [0.89, 0.85, 0.88, 0.91],
                  [0.99, 0.97, 0.95, 0.97]], dtype=torch.float64)
B = torch.tensor([[0, 0, 0, 0],
                  [0, 0, 0, 0],
                  [1, 1, 1, 1],
                  [1, 1, 1, 1]], dtype=torch.float64)


def random_probs(n, c, h, w, *, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, h, w, generator=g, dtype=dtype).softmax(dim=1)


# --------------------------------------------------------------------------
# pixel_cross_entropy
# --------------------------------------------------------------------------

@st.composite
def cross_entropy_cases(draw):
    n, c, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    logits = 3 * torch.randn(n, c, h, w, generator=g)
    target = torch.randint(0, c, (n, h, w), generator=g)
    ignore_index = draw(st.sampled_from([-100, 255, 0]))
    ignored = torch.rand(n, h, w, generator=g) < draw(st.sampled_from([0.0, 0.3, 0.8]))
    target[ignored] = ignore_index
    weight = torch.rand(c, generator=g) + 0.1 if draw(st.booleans()) else None
    return logits, target, weight, ignore_index


@SETTINGS
@given(cross_entropy_cases())
def test_pixel_cross_entropy_equals_torch_values_and_gradients(case):
    logits, target, weight, ignore_index = case
    x = logits.clone().requires_grad_(True)
    ours = pixel_cross_entropy(x, target, weight=weight, ignore_index=ignore_index)
    (grad,) = torch.autograd.grad(ours, x)
    y = logits.clone().requires_grad_(True)
    ref = F.cross_entropy(y, target, weight=weight, ignore_index=ignore_index)
    (ref_grad,) = torch.autograd.grad(ref, y)
    assert ours.shape == () and ours.dtype == torch.float32
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5, equal_nan=True)   # nan: all ignored
    torch.testing.assert_close(grad, ref_grad, atol=1e-5, rtol=1e-5, equal_nan=True)


def test_pixel_cross_entropy_by_hand():
    # One pixel, scores (0, ln 3): p = (1/4, 3/4). True class 1: -log(3/4).
    logits = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1)
    assert pixel_cross_entropy(logits, torch.tensor([[[1]]])).item() == pytest.approx(-math.log(3 / 4))
    # Two pixels, weights (1, 3): weighted mean (1 * -log(1/4) + 3 * -log(3/4)) / (1 + 3).
    logits = logits.expand(1, 2, 1, 2)
    target = torch.tensor([[[0, 1]]])
    expected = (-math.log(1 / 4) - 3 * math.log(3 / 4)) / 4
    assert pixel_cross_entropy(logits, target, weight=torch.tensor([1.0, 3.0])).item() == pytest.approx(expected)


def test_pixel_cross_entropy_everything_ignored_is_nan_with_zero_gradient_like_torch():
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    target = torch.full((1, 2, 2), -100)
    for weight in (None, torch.rand(3)):
        loss = pixel_cross_entropy(logits, target, weight=weight)
        assert math.isnan(loss.item()) and math.isnan(F.cross_entropy(logits, target, weight=weight).item())
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.equal(grad, torch.zeros_like(logits))


def test_pixel_cross_entropy_accepts_other_integer_targets_and_weight_dtypes():
    logits = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(4))
    target = torch.randint(0, 3, (2, 4, 4), generator=torch.Generator().manual_seed(5))
    weight = torch.tensor([0.2, 1.0, 3.0], dtype=torch.float64)
    ref = F.cross_entropy(logits, target, weight=weight.float())
    torch.testing.assert_close(pixel_cross_entropy(logits, target.int(), weight=weight), ref)


# --------------------------------------------------------------------------
# soft_dice_loss
# --------------------------------------------------------------------------

def test_soft_dice_on_the_lecture_example():
    # The sums on the slide: |A| = 7.82 (plain sum, k = 1) and |B| = 8.
    assert A.sum().item() == pytest.approx(7.82, abs=1e-12)
    assert B.sum().item() == 8
    # Row sums 0.08, 0.33, 3.53, 3.88; only the bottom two rows meet B.
    assert (A * B).sum().item() == pytest.approx(3.53 + 3.88, abs=1e-12)     # = 7.41
    # Squared: 0.0018 + 0.0299 + 3.1171 + 3.7644 = 6.9132; B^2 = B.
    assert (A ** 2).sum().item() == pytest.approx(6.9132, abs=1e-12)
    assert (B ** 2).sum().item() == 8

    dice_plain = 2 * 7.41 / (7.82 + 8)         # 0.93679
    dice_squared = 2 * 7.41 / (6.9132 + 8)     # 0.99375
    assert dice_plain == pytest.approx(0.936789, abs=1e-6)
    assert dice_squared == pytest.approx(0.993751, abs=1e-6)

    probs, target = A.view(1, 1, 4, 4), B.view(1, 1, 4, 4)   # N = 1, C = 1, one-hot target
    assert soft_dice_loss(probs, target, squared=False).item() == pytest.approx(1 - dice_plain, abs=1e-12)
    assert soft_dice_loss(probs, target, squared=True).item() == pytest.approx(1 - dice_squared, abs=1e-12)
    assert soft_dice_loss(probs, target).item() == pytest.approx(1 - dice_squared, abs=1e-12)   # default k = 2
    # The metric gives the same (k = 1) Dice.
    assert dice_coefficient(A, B).item() == pytest.approx(dice_plain, abs=1e-12)


def test_soft_dice_lecture_example_as_two_classes():
    # Background = 1 - A against 1 - B, foreground = A against B: the loss averages the two Dice.
    probs = torch.stack([1 - A, A]).unsqueeze(0)             # (1, 2, 4, 4)
    target = B.long().unsqueeze(0)                           # (1, 4, 4): class 1 in the bottom rows
    # Background: sum((1 - A)(1 - B)) = (4 - 0.08) + (4 - 0.33) = 7.59, |1 - A| = 16 - 7.82 = 8.18, |1 - B| = 8.
    bg = 2 * 7.59 / (8.18 + 8)
    fg = 2 * 7.41 / (7.82 + 8)
    expected = 1 - (bg + fg) / 2
    assert soft_dice_loss(probs, target, squared=False).item() == pytest.approx(expected, abs=1e-12)


def test_index_and_one_hot_targets_give_the_same_loss():
    probs = random_probs(2, 4, 5, 6, seed=1)
    target = torch.randint(0, 4, (2, 5, 6), generator=torch.Generator().manual_seed(2))
    one_hot = F.one_hot(target, 4).permute(0, 3, 1, 2)
    for squared in (True, False):
        expected = soft_dice_loss(probs, target, squared=squared)
        for y in (one_hot, one_hot.float(), one_hot.bool(), one_hot.double()):
            torch.testing.assert_close(soft_dice_loss(probs, y, squared=squared), expected)


def test_soft_dice_loss_matches_the_formula():
    probs = random_probs(3, 3, 4, 4, seed=3)
    target = torch.randint(0, 3, (3, 4, 4), generator=torch.Generator().manual_seed(4))
    for squared, k in ((True, 2), (False, 1)):
        for eps in (0.0, 1.0):
            dice = []
            for c in range(3):                               # one class at a time, whole batch
                y, p = (target == c).double(), probs[:, c]
                dice.append((2 * (y * p).sum() + eps) / ((y ** k).sum() + (p ** k).sum() + eps))
            expected = 1 - torch.stack(dice).mean()
            torch.testing.assert_close(soft_dice_loss(probs, target, squared=squared, eps=eps), expected)


def test_soft_dice_loss_is_differentiable():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 3, (2, 3, 3), generator=g)
    for squared in (True, False):
        assert torch.autograd.gradcheck(
            lambda z, squared=squared: soft_dice_loss(z.softmax(dim=1), target, squared=squared), (logits,))
    probs = logits.detach().softmax(dim=1).requires_grad_(True)
    (grad,) = torch.autograd.grad(soft_dice_loss(probs, target), probs)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_perfect_prediction_gives_zero_and_absent_classes_count_as_perfect():
    target = torch.tensor([[[0, 1], [1, 0]], [[1, 1], [0, 0]]])         # class 2 appears nowhere
    probs = F.one_hot(target, 3).permute(0, 3, 1, 2).double().requires_grad_(True)
    for squared in (True, False):
        for eps in (0.0, 1e-6):
            loss = soft_dice_loss(probs, target, squared=squared, eps=eps)
            assert loss.item() == pytest.approx(0.0, abs=1e-12)
            (grad,) = torch.autograd.grad(loss, probs)
            assert torch.isfinite(grad).all()                          # no nan from the 0/0 class
    # Predicting the absent class somewhere costs that class its whole Dice (0 instead of 1).
    wrong = probs.detach().clone()
    wrong[0, :, 0, 0] = torch.tensor([0.0, 0.0, 1.0])                    # pixel of class 0 called 2
    dice0 = 2 * 3 / (4 + 3)                                              # class 0: 3 of 4 pixels found
    assert soft_dice_loss(wrong, target, squared=False).item() == pytest.approx(1 - (dice0 + 1 + 0) / 3)


def test_completely_wrong_prediction_gives_one():
    target = torch.tensor([[[0, 0], [1, 1]]])
    probs = F.one_hot(1 - target, 2).permute(0, 3, 1, 2).float()
    assert soft_dice_loss(probs, target).item() == pytest.approx(1.0)


def test_soft_dice_loss_keeps_the_dtype():
    probs32 = random_probs(1, 2, 3, 3, dtype=torch.float32)
    target = torch.zeros(1, 3, 3, dtype=torch.int64)
    assert soft_dice_loss(probs32, target).dtype == torch.float32
    assert soft_dice_loss(probs32.double(), target).dtype == torch.float64


def test_inputs_are_not_modified():
    g = torch.Generator().manual_seed(6)
    logits = torch.randn(2, 3, 4, 4, generator=g)
    target = torch.randint(0, 3, (2, 4, 4), generator=g)
    target[0, 0, 0] = -100
    weight = torch.rand(3, generator=g)
    probs = logits.softmax(dim=1)
    one_hot = F.one_hot(target.clamp(min=0), 3).permute(0, 3, 1, 2)
    tensors = (logits, target, weight, probs, one_hot)
    copies = [t.clone() for t in tensors]
    pixel_cross_entropy(logits, target, weight=weight)
    soft_dice_loss(probs, target.clamp(min=0), eps=1.0)
    soft_dice_loss(probs, one_hot, squared=False)
    for before, after in zip(copies, tensors, strict=True):
        assert torch.equal(before, after) and before.dtype == after.dtype


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda():
    logits = torch.randn(2, 3, 4, 4, device="cuda", requires_grad=True)
    target = torch.randint(0, 3, (2, 4, 4), device="cuda")
    weight = torch.rand(3, device="cuda")
    ours = pixel_cross_entropy(logits, target, weight=weight)
    torch.testing.assert_close(ours, F.cross_entropy(logits, target, weight=weight))
    loss = soft_dice_loss(logits.softmax(dim=1), target)
    assert loss.device.type == "cuda"
    loss.backward()
    assert logits.grad.device.type == "cuda" and torch.isfinite(logits.grad).all()
    cpu = soft_dice_loss(logits.detach().cpu().softmax(dim=1), target.cpu())
    torch.testing.assert_close(loss.detach().cpu(), cpu)


# --------------------------------------------------------------------------
# Bad input: the message names the argument and shows the value given
# --------------------------------------------------------------------------

Z = torch.zeros(2, 3, 4, 4)                    # logits or probs, C = 3
T = torch.zeros(2, 4, 4, dtype=torch.int64)    # a valid target
P = torch.full((2, 3, 4, 4), 1 / 3)            # valid probabilities


def with_value(t, value, index=(0, 0, 0)):
    t = t.clone()
    t[index] = value
    return t


BAD_INPUT = [
    # pixel_cross_entropy
    (pixel_cross_entropy, ([[0.0]], T), {}, TypeError, r"logits must be a torch\.Tensor, got list"),
    (pixel_cross_entropy, (Z[0], T), {}, ValueError, r"logits must be a 4-D tensor, got shape \(3, 4, 4\)"),
    (pixel_cross_entropy, (Z.long(), T), {}, TypeError,
     r"logits must be a floating-point tensor, got dtype torch\.int64"),
    (pixel_cross_entropy, (Z, T.float()), {}, TypeError, r"target must be an integer tensor.*got dtype torch\.float32"),
    (pixel_cross_entropy, (Z, T[:, :3]), {}, ValueError,
     r"target must have shape \(N, H, W\) = \(2, 4, 4\).*got \(2, 3, 4\)"),
    (pixel_cross_entropy, (Z, T[0]), {}, ValueError, r"target must be a 3-D tensor, got shape \(4, 4\)"),
    (pixel_cross_entropy, (Z, with_value(T, 3)), {}, ValueError,
     r"target values must be class indices in \[0, 3\) or ignore_index=-100, got 3"),
    (pixel_cross_entropy, (Z, with_value(T, -1)), {}, ValueError, r"target values .* got -1"),
    (pixel_cross_entropy, (Z, with_value(T, 255)), {"ignore_index": -1}, ValueError, r"ignore_index=-1, got 255"),
    (pixel_cross_entropy, (Z, T), {"weight": torch.ones(4)}, ValueError,
     r"weight must have shape \(C,\) = \(3,\), got \(4,\)"),
    (pixel_cross_entropy, (Z, T), {"weight": torch.ones(3, 1)}, ValueError,
     r"weight must be a 1-D tensor, got shape \(3, 1\)"),
    (pixel_cross_entropy, (Z, T), {"weight": torch.ones(3, dtype=torch.int64)}, TypeError,
     r"weight must be a floating-point tensor, got dtype torch\.int64"),
    (pixel_cross_entropy, (Z, T), {"weight": [1.0, 1.0, 1.0]}, TypeError, r"weight must be a torch\.Tensor, got list"),
    (pixel_cross_entropy, (Z, T), {"ignore_index": 1.5}, TypeError, r"ignore_index must be an int, got float 1\.5"),
    # soft_dice_loss
    (soft_dice_loss, (Z[0], T), {}, ValueError, r"probs must be a 4-D tensor, got shape \(3, 4, 4\)"),
    (soft_dice_loss, (P.long(), T), {}, TypeError, r"probs must be a floating-point tensor, got dtype torch\.int64"),
    (soft_dice_loss, (with_value(P, -2.5, (0, 0, 0, 0)), T), {}, ValueError,
     r"probs must be probabilities in \[0, 1\].*got -2\.5"),
    (soft_dice_loss, (P, T.float()), {}, TypeError, r"target must be an integer tensor.*got dtype torch\.float32"),
    (soft_dice_loss, (P, with_value(T, 3)), {}, ValueError, r"target values must be class indices in \[0, 3\), got 3"),
    (soft_dice_loss, (P, with_value(T, -100)), {}, ValueError,
     r"target values must be class indices in \[0, 3\), got -100"),
    (soft_dice_loss, (P, T[:, :2]), {}, ValueError,
     r"target must have shape \(N, H, W\) = \(2, 4, 4\) or \(N, C, H, W\) = \(2, 3, 4, 4\).*got \(2, 2, 4\)"),
    (soft_dice_loss, (P, P[:, :2]), {}, ValueError, r"target must have shape .* got \(2, 2, 4, 4\)"),
    (soft_dice_loss, (P, T[0]), {}, ValueError, r"target must be a 3-D or 4-D tensor, got shape \(4, 4\)"),
    (soft_dice_loss, (P, with_value(P, 2.0, (0, 0, 0, 0))), {}, ValueError,
     r"target \(one-hot\) must hold values in \[0, 1\], got 2\.0"),
    (soft_dice_loss, (P, T), {"squared": "yes"}, TypeError, r"squared must be a bool, got str 'yes'"),
    (soft_dice_loss, (P, T), {"squared": 2}, TypeError, r"squared must be a bool, got int 2"),
    (soft_dice_loss, (P, T), {"eps": -0.1}, ValueError, r"eps must be a number >= 0\.0, got -0\.1"),
    (soft_dice_loss, (P, "T"), {}, TypeError, r"target must be a torch\.Tensor, got str"),
]


@pytest.mark.parametrize("func, args, kwargs, error, match", BAD_INPUT,
                         ids=[f"{i}-{case[0].__name__}" for i, case in enumerate(BAD_INPUT)])
def test_bad_input_is_reported_with_name_and_value(func, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        func(*args, **kwargs)


