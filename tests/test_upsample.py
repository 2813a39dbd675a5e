"""Tests for course.upsample: unpooling against torch, small examples written
out by hand, and bad input."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

import course.conv
import course.upsample
from course.conv import max_pool2d
from course.upsample import max_unpool2d, unpool_bed_of_nails, unpool_nearest
from strategies import ints_or_pairs, pair, pool_configs, randn

SETTINGS = settings(max_examples=60, deadline=None)  # tests/conftest.py: derandomized, no database


# ---------------------------------------------------------------------------
# unpool_nearest and unpool_bed_of_nails
# ---------------------------------------------------------------------------

@SETTINGS
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 8), st.integers(1, 8)),
       scale_factor=ints_or_pairs(1, 4), seed=st.integers(0, 2**16))
def test_unpool_nearest_matches_interpolate(shape, scale_factor, seed):
    x = randn(seed, *shape)
    expected = F.interpolate(x, scale_factor=scale_factor, mode="nearest")
    assert torch.equal(unpool_nearest(x, scale_factor), expected)


def test_unpool_nearest_example_and_label_maps():
    x = torch.tensor([[[[1, 2],
                        [3, 4]]]])
    expected = torch.tensor([[[[1, 1, 2, 2],
                               [1, 1, 2, 2],
                               [3, 3, 4, 4],
                               [3, 3, 4, 4]]]])
    out = unpool_nearest(x)  # default scale_factor 2; int64 label maps work too
    assert torch.equal(out, expected) and out.dtype == torch.int64
    assert torch.equal(unpool_nearest(x, (1, 2)), torch.tensor([[[[1, 1, 2, 2], [3, 3, 4, 4]]]]))


def test_unpool_bed_of_nails_example():
    x = torch.tensor([[[[1., 2.],
                        [3., 4.]]]])
    expected = torch.tensor([[[[1., 0., 2., 0.],
                               [0., 0., 0., 0.],
                               [3., 0., 4., 0.],
                               [0., 0., 0., 0.]]]])
    assert torch.equal(unpool_bed_of_nails(x), expected)
    expected_3x2 = torch.tensor([[[[1., 0., 2., 0.],
                                   [0., 0., 0., 0.],
                                   [0., 0., 0., 0.],
                                   [3., 0., 4., 0.],
                                   [0., 0., 0., 0.],
                                   [0., 0., 0., 0.]]]])
    assert torch.equal(unpool_bed_of_nails(x, (3, 2)), expected_3x2)


@SETTINGS
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 8), st.integers(1, 8)),
       scale_factor=ints_or_pairs(1, 4), seed=st.integers(0, 2**16))
def test_unpool_bed_of_nails_properties(shape, scale_factor, seed):
    x = randn(seed, *shape)
    sH, sW = pair(scale_factor)
    out = unpool_bed_of_nails(x, scale_factor)
    assert out.shape == (shape[0], shape[1], shape[2] * sH, shape[3] * sW)
    # The values at the top-left of each block...
    assert torch.equal(out[:, :, ::sH, ::sW], x)
    # ...and zeros everywhere else.
    nails = torch.zeros_like(out, dtype=torch.bool)
    nails[:, :, ::sH, ::sW] = True
    assert torch.equal(out[~nails], torch.zeros((~nails).sum().item()))
    # Bed of nails = max unpooling whose maxima were all at the top-left of their windows.
    top_left = torch.arange(shape[2]).view(-1, 1) * sH * (shape[3] * sW) + torch.arange(shape[3]) * sW
    indices = top_left.expand(*shape)
    assert torch.equal(F.max_unpool2d(x, indices, (sH, sW)), out)


# ---------------------------------------------------------------------------
# max_unpool2d
# ---------------------------------------------------------------------------

def _output_size_variants(size, shape):
    """The forms of output_size torch accepts for a pooled input of spatial ``size``."""
    return [tuple(size), list(size), torch.Size(size), tuple(shape)]


@SETTINGS
@given(cfg=pool_configs(), shape=st.tuples(st.integers(1, 2), st.integers(1, 3)),
       form=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_max_unpool2d_matches_torch(cfg, shape, form, seed):
    x = randn(seed, *shape, *cfg["size"])
    args = dict(kernel_size=cfg["kernel_size"], stride=cfg["stride"], padding=cfg["padding"])
    values, indices = F.max_pool2d(x, return_indices=True, **args)

    output_size = _output_size_variants(cfg["size"], x.shape)[form]
    expected = F.max_unpool2d(values, indices, output_size=output_size, **args)
    assert torch.equal(max_unpool2d(values, indices, output_size=output_size, **args), expected)

    # Without output_size: the default size, which may be too small for the indices,
    # or even empty (torch then returns an empty tensor; we ask for output_size).
    default = [(n - 1) * s - 2 * p + k for n, s, p, k in zip(
        values.shape[2:], pair(cfg["stride"] or cfg["kernel_size"]), cfg["padding"], pair(cfg["kernel_size"]),
        strict=True)]
    if min(default) < 1:
        with pytest.raises(ValueError, match=r"padding=.*pass output_size"):
            max_unpool2d(values, indices, **args)
        return
    try:
        expected = F.max_unpool2d(values, indices, **args)
    except RuntimeError:  # torch: "Found an invalid max index"
        with pytest.raises(ValueError, match="indices must lie in"):
            max_unpool2d(values, indices, **args)
    else:
        assert torch.equal(max_unpool2d(values, indices, **args), expected)


@SETTINGS
@given(cfg=pool_configs(), seed=st.integers(0, 2**16))
def test_max_unpool2d_roundtrip_with_course_max_pool2d(cfg, seed):
    # Positive values, so every unpooled maximum is larger than the zeros around it.
    x = randn(seed, 2, 3, *cfg["size"]).abs() + 0.1
    args = dict(kernel_size=cfg["kernel_size"], stride=cfg["stride"], padding=cfg["padding"])
    values, indices = max_pool2d(x, return_indices=True, **args)
    up = max_unpool2d(values, indices, output_size=x.shape, **args)
    assert up.shape == x.shape

    # Each maximum is back where it came from...
    assert torch.equal(up.flatten(2).gather(2, indices.flatten(2)), values.flatten(2))
    assert torch.equal(up.flatten(2).gather(2, indices.flatten(2)), x.flatten(2).gather(2, indices.flatten(2)))
    # ...and everything else is zero.
    kept = torch.zeros_like(up.flatten(2), dtype=torch.bool).scatter_(2, indices.flatten(2), True)
    assert torch.equal(up.flatten(2)[~kept], torch.zeros((~kept).sum().item()))
    # Pooling again finds the same maxima.
    again_values, again_indices = max_pool2d(up, return_indices=True, **args)
    assert torch.equal(again_values, values)
    assert torch.equal(again_indices, indices)


def test_max_unpool2d_output_size_chooses_between_input_sizes():
    # 5x5 and 4x4 both pool to 2x2 with a 2x2 kernel: output_size says which.
    x = torch.arange(25.).view(1, 1, 5, 5)
    values, indices = max_pool2d(x, 2, return_indices=True)
    assert torch.equal(indices, torch.tensor([[[[6, 8], [16, 18]]]]))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 16\).*got 16"):
        max_unpool2d(values, indices, 2)  # the default is 4x4
    expected = torch.zeros(1, 1, 5, 5)
    expected[0, 0, 1, 1], expected[0, 0, 1, 3], expected[0, 0, 3, 1], expected[0, 0, 3, 3] = 6., 8., 16., 18.
    for output_size in [(5, 5), [5, 5], torch.Size([5, 5]), (1, 1, 5, 5), x.shape]:
        assert torch.equal(max_unpool2d(values, indices, 2, output_size=output_size), expected)
    # Like torch, sizes must lie strictly within one stride of the default (4): 3, 4 or 5.
    for bad in [(6, 6), (5, 2)]:
        with pytest.raises(ValueError):
            F.max_unpool2d(values, indices, 2, output_size=bad)
        with pytest.raises(ValueError, match=r"output_size \(\d, \d\) .*got [26]"):
            max_unpool2d(values, indices, 2, output_size=bad)


def test_max_unpool2d_unbatched_and_int32_indices():
    x = randn(0, 3, 6, 6)
    values, indices = F.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    expected = F.max_unpool2d(values, indices, 3, stride=2, padding=1, output_size=(6, 6))
    out = max_unpool2d(values, indices, 3, stride=2, padding=1, output_size=(6, 6))
    assert out.shape == (3, 6, 6) and torch.equal(out, expected)
    # torch wants int64 indices; any integer dtype is accepted here.
    out32 = max_unpool2d(values, indices.int(), 3, stride=2, padding=1, output_size=(6, 6))
    assert torch.equal(out32, expected)


def test_conv_transpose2d_is_exposed_here():
    assert course.upsample.conv_transpose2d is course.conv.conv_transpose2d
    x = torch.tensor([[[[1., 2.], [3., 4.]]]])
    assert course.upsample.conv_transpose2d(x, torch.ones(1, 1, 3, 3), stride=2).shape == (1, 1, 5, 5)


# ---------------------------------------------------------------------------
# Bad input: the error names the argument and shows the value
# ---------------------------------------------------------------------------

X = torch.ones(1, 2, 2, 2)
IDX = torch.tensor([[[[0, 2], [8, 10]], [[1, 3], [9, 15]]]])  # valid for a 4x4 output

BAD_INPUT = [
    ("nearest scale 0", lambda: unpool_nearest(X, 0), ValueError, r"scale_factor must be an int >= 1, got 0"),
    ("nearest scale 1.5", lambda: unpool_nearest(X, 1.5), TypeError, r"scale_factor must be an int, got float 1\.5"),
    ("nearest scale pair", lambda: unpool_nearest(X, (2, 0)), ValueError, r"scale_factor\[1\] .*got 0"),
    ("nearest x not a tensor", lambda: unpool_nearest([[1.0]]), TypeError, r"x must be a torch.Tensor, got list"),
    ("nearest x 3-D", lambda: unpool_nearest(torch.ones(2, 2, 2)), ValueError,
     r"x must be a 4-D tensor, got shape \(2, 2, 2\)"),
    ("nails scale 0", lambda: unpool_bed_of_nails(X, 0), ValueError, r"scale_factor .*got 0"),
    ("nails scale 1.5", lambda: unpool_bed_of_nails(X, 1.5), TypeError, r"scale_factor .*float 1\.5"),
    ("nails x 2-D", lambda: unpool_bed_of_nails(torch.ones(2, 2)), ValueError,
     r"x must be a 4-D tensor, got shape \(2, 2\)"),
    ("unpool x not a tensor", lambda: max_unpool2d(1.0, IDX, 2), TypeError, r"x must be a torch.Tensor, got float"),
    ("unpool x 2-D", lambda: max_unpool2d(torch.ones(2, 2), IDX[0, 0], 2), ValueError,
     r"x must be a 3-D or 4-D tensor, got shape \(2, 2\)"),
    ("indices float", lambda: max_unpool2d(X, IDX.float(), 2), TypeError,
     r"indices must be an integer tensor, got dtype torch.float32"),
    ("indices not a tensor", lambda: max_unpool2d(X, [0, 1], 2), TypeError,
     r"indices must be a torch.Tensor, got list"),
    ("indices shape", lambda: max_unpool2d(X, IDX[:, :1], 2), ValueError,
     r"indices must have the shape of x \(1, 2, 2, 2\), got shape \(1, 1, 2, 2\)"),
    ("index too large", lambda: max_unpool2d(X, IDX + 1, 2), ValueError, r"indices must lie in \[0, 16\).*got 16"),
    ("negative index", lambda: max_unpool2d(X, IDX - 1, 2), ValueError, r"indices must lie in \[0, 16\).*got -1"),
    ("unpool kernel 0", lambda: max_unpool2d(X, IDX, 0), ValueError, r"kernel_size .*got 0"),
    ("unpool stride 0", lambda: max_unpool2d(X, IDX, 2, stride=0), ValueError, r"stride .*got 0"),
    ("unpool float padding", lambda: max_unpool2d(X, IDX, 2, padding=0.5), TypeError, r"padding .*float 0\.5"),
    ("output_size length", lambda: max_unpool2d(X, IDX, 2, output_size=(2, 4, 4)), ValueError,
     r"output_size .*\(2, 4, 4\) of length 3"),
    ("output_size int", lambda: max_unpool2d(X, IDX, 2, output_size=4), TypeError, r"output_size .*int 4"),
    ("output_size float", lambda: max_unpool2d(X, IDX, 2, output_size=(4, 4.0)), TypeError,
     r"output_size\[1\] .*float 4\.0"),
    ("empty default size", lambda: max_unpool2d(torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 1, 1, dtype=torch.long),
                                                2, padding=1), ValueError, r"padding=1 .*\(0, 0\): pass output_size"),
    ("output_size too large", lambda: max_unpool2d(X, IDX, 2, output_size=(4, 6)), ValueError,
     r"output_size \(4, 6\) .*got 6"),
]


@pytest.mark.parametrize("call, error, message", [case[1:] for case in BAD_INPUT],
                         ids=[case[0] for case in BAD_INPUT])
def test_bad_input_raises_naming_argument_and_value(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_inputs_are_not_modified():
    x = randn(0, 2, 3, 4, 4)
    values, indices = F.max_pool2d(randn(1, 2, 3, 8, 8), 2, return_indices=True)
    originals = [t.clone() for t in (x, values, indices)]
    unpool_nearest(x, 3)
    unpool_bed_of_nails(x, 2)
    max_unpool2d(values, indices, 2)
    for before, after in zip(originals, (x, values, indices), strict=True):
        assert torch.equal(before, after)


