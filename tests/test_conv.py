"""Tests for course.conv: each function against torch on random inputs, the
syllabus figures written out by hand, and bad input."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch.testing import assert_close

import strategies
from course.conv import (
    conv2d,
    conv_output_size,
    conv_transpose2d,
    conv_transpose_output_size,
    convolution_matrix,
    max_pool2d,
)
from strategies import ints_or_pairs, pair

METHODS = ("scatter", "matrix", "zero_insertion")
SETTINGS = settings(max_examples=60, deadline=None)  # tests/conftest.py: derandomized, no database
EXACT = dict(atol=1e-10, rtol=1e-10)  # float64 comparisons


# ---------------------------------------------------------------------------
# Strategies and helpers
# ---------------------------------------------------------------------------

def randn(seed, *shape, dtype=torch.float64):
    return strategies.randn(seed, *shape, dtype=dtype)


@st.composite
def conv_configs(draw, max_groups=3, max_size=12):
    """A valid conv2d configuration: shapes, stride, padding, dilation, groups."""
    groups = draw(st.integers(1, max_groups))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(ints_or_pairs(1, 3))
    padding = draw(ints_or_pairs(0, 2))
    dilation = draw(ints_or_pairs(1, 2))
    # The input must be at least as large as the dilated kernel minus the padding.
    size = []
    for d in range(2):
        span = pair(dilation)[d] * (kernel[d] - 1) + 1
        size.append(draw(st.integers(max(1, span - 2 * pair(padding)[d]), max(span, max_size))))
    return dict(c_in=c_in, c_out=c_out, kernel=kernel, size=tuple(size),
                args=dict(stride=stride, padding=padding, dilation=dilation), groups=groups)


@st.composite
def conv_transpose_configs(draw):
    """A valid conv_transpose2d configuration (torch's output_padding rule, output >= 1)."""
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel, size, stride, padding, output_padding, dilation = [], [], [], [], [], []
    for _ in range(2):
        k, h = draw(st.integers(1, 4)), draw(st.integers(1, 6))
        s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        op = draw(st.integers(0, max(s, d) - 1))
        # Largest padding that leaves an output of at least 1 pixel.
        p = draw(st.integers(0, ((h - 1) * s + d * (k - 1) + op) // 2))
        for values, v in zip((kernel, size, stride, padding, output_padding, dilation), (k, h, s, p, op, d),
                             strict=True):
            values.append(v)
    return dict(c_in=c_in, c_out=c_out, kernel=tuple(kernel), size=tuple(size),
                args=dict(stride=tuple(stride), padding=tuple(padding),
                          output_padding=tuple(output_padding), dilation=tuple(dilation)))


def pool_configs():
    return strategies.pool_configs(max_size=10)


# ---------------------------------------------------------------------------
# Output sizes
# ---------------------------------------------------------------------------

@SETTINGS
@given(size=st.integers(1, 16), kernel_size=st.integers(1, 6), stride=st.integers(1, 4),
       padding=st.integers(0, 3), dilation=st.integers(1, 3))
def test_conv_output_size_matches_torch(size, kernel_size, stride, padding, dilation):
    x, w = torch.zeros(1, 1, size, 1), torch.zeros(1, 1, kernel_size, 1)
    try:
        expected = F.conv2d(x, w, stride=(stride, 1), padding=(padding, 0), dilation=(dilation, 1)).shape[2]
    except RuntimeError:  # the kernel does not fit
        with pytest.raises(ValueError, match=f"kernel_size={kernel_size}"):
            conv_output_size(size, kernel_size, stride, padding, dilation)
    else:
        assert conv_output_size(size, kernel_size, stride, padding, dilation) == expected


@SETTINGS
@given(size=st.integers(1, 8), kernel_size=st.integers(1, 5), stride=st.integers(1, 4),
       padding=st.integers(0, 5), output_padding=st.integers(0, 4), dilation=st.integers(1, 3))
def test_conv_transpose_output_size_matches_torch(size, kernel_size, stride, padding, output_padding, dilation):
    x, w = torch.zeros(1, 1, size, 1), torch.zeros(1, 1, kernel_size, 1)
    args = (size, kernel_size, stride, padding, output_padding, dilation)
    try:
        expected = F.conv_transpose2d(x, w, stride=(stride, 1), padding=(padding, 0),
                                      output_padding=(output_padding, 0), dilation=(dilation, 1)).shape[2]
    except RuntimeError:  # output_padding too large, or nothing left after the padding
        with pytest.raises(ValueError, match="padding"):
            conv_transpose_output_size(*args)
    else:
        assert conv_transpose_output_size(*args) == expected


def test_output_size_syllabus_examples():
    # 5x5 input, 3x3 kernel, stride 2: 2x2 output, and the transposed convolution goes back to 5x5.
    assert conv_output_size(5, 3, stride=2) == 2
    assert conv_transpose_output_size(2, 3, stride=2) == 5
    # Receptive-field example: 5 -> 3 -> 2 with kernel 3, padding 1, stride 2.
    assert conv_output_size(5, 3, padding=1, stride=2) == 3
    assert conv_output_size(3, 3, padding=1, stride=2) == 2
    # "same" padding and dilation.
    assert conv_output_size(32, 3, padding=1) == 32
    assert conv_output_size(7, 3, dilation=2) == 3
    # output_padding chooses between the sizes a stride-2 convolution maps to 3.
    assert conv_transpose_output_size(3, 3, stride=2, padding=1) == 5
    assert conv_transpose_output_size(3, 3, stride=2, padding=1, output_padding=1) == 6


# ---------------------------------------------------------------------------
# conv2d
# ---------------------------------------------------------------------------

@SETTINGS
@given(cfg=conv_configs(), batch=st.integers(1, 2), use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv2d_matches_torch(cfg, batch, use_bias, seed):
    x = randn(seed, batch, cfg["c_in"], *cfg["size"])
    w = randn(seed + 1, cfg["c_out"], cfg["c_in"] // cfg["groups"], *cfg["kernel"])
    b = randn(seed + 2, cfg["c_out"]) if use_bias else None
    expected = F.conv2d(x, w, b, groups=cfg["groups"], **cfg["args"])
    assert_close(conv2d(x, w, b, groups=cfg["groups"], **cfg["args"]), expected, **EXACT)


@pytest.mark.parametrize("seed", range(3))
def test_conv2d_float32_within_contract(seed):
    x = randn(seed, 2, 6, 16, 16, dtype=torch.float32)
    w = randn(seed + 1, 6, 3, 3, 5, dtype=torch.float32)
    b = randn(seed + 2, 6, dtype=torch.float32)
    args = dict(stride=(1, 2), padding=(1, 2), dilation=(2, 1), groups=2)
    out = conv2d(x, w, b, **args)
    assert out.dtype == torch.float32
    assert_close(out, F.conv2d(x, w, b, **args), atol=1e-5, rtol=1e-5)


def test_conv2d_unbatched_input():
    x, w, b = randn(0, 3, 7, 6), randn(1, 4, 3, 3, 2), randn(2, 4)
    out = conv2d(x, w, b, padding=1)
    assert out.shape == (4, 7, 7)
    assert_close(out, F.conv2d(x, w, b, padding=1), **EXACT)


def test_conv2d_is_cross_correlation():
    # A kernel with a single 1 at (0, 0) reads the top-left pixel of each window:
    # with padding 1 that shifts the image down and right (no kernel flip).
    x = torch.arange(9.).view(1, 1, 3, 3)
    w = torch.zeros(1, 1, 3, 3)
    w[0, 0, 0, 0] = 1
    expected = torch.tensor([[0., 0., 0.], [0., 0., 1.], [0., 3., 4.]])
    assert torch.equal(conv2d(x, w, padding=1)[0, 0], expected)


# ---------------------------------------------------------------------------
# convolution_matrix
# ---------------------------------------------------------------------------

@SETTINGS
@given(cfg=conv_configs(max_groups=1, max_size=8), seed=st.integers(0, 2**16))
def test_convolution_matrix_reproduces_conv2d(cfg, seed):
    c_in, (h, w_) = cfg["c_in"], cfg["size"]
    weight = randn(seed, cfg["c_out"], c_in, *cfg["kernel"])
    M = convolution_matrix(weight, (h, w_), **cfg["args"])
    out = F.conv2d(torch.zeros(1, c_in, h, w_, dtype=torch.float64), weight, **cfg["args"])
    assert M.shape == (out[0].numel(), c_in * h * w_)

    # The defining identity: conv2d(x).flatten(1) == x.flatten(1) @ M.T
    x = randn(seed + 1, 2, c_in, h, w_)
    assert_close(x.flatten(1) @ M.T, conv2d(x, weight, **cfg["args"]).flatten(1), **EXACT)

    # The basis construction: column k of M is the convolution of the k-th basis image.
    # (In float32: torch's dilated float64 convolution is slow.)
    basis = torch.eye(c_in * h * w_).view(-1, c_in, h, w_)
    assert_close(M.float(), F.conv2d(basis, weight.float(), **cfg["args"]).flatten(1).T, atol=1e-6, rtol=0)


def test_convolution_matrix_syllabus_4x16():
    # A 3x3 kernel with entries 1..9 on a 4x4 input, no padding, stride 1.
    weight = torch.arange(1., 10.).view(1, 1, 3, 3)
    expected = torch.tensor([
        [1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0],
        [0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0],
        [0, 0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9],
    ], dtype=torch.float32)
    assert torch.equal(convolution_matrix(weight, (4, 4)), expected)


def test_convolution_matrix_drops_padding_and_strides():
    # 1-D along the width: kernel [1, 2, 3], width 4, padding 1, stride 2 -> outputs at -1..1 and 1..3.
    weight = torch.tensor([[[[1., 2., 3.]]]])
    expected = torch.tensor([[2., 3., 0., 0.],
                             [0., 1., 2., 3.]])
    assert torch.equal(convolution_matrix(weight, (1, 4), stride=2, padding=(0, 1)), expected)


# ---------------------------------------------------------------------------
# conv_transpose2d
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
@SETTINGS
@given(cfg=conv_transpose_configs(), batch=st.integers(1, 2), use_bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_conv_transpose2d_matches_torch(method, cfg, batch, use_bias, seed):
    x = randn(seed, batch, cfg["c_in"], *cfg["size"])
    w = randn(seed + 1, cfg["c_in"], cfg["c_out"], *cfg["kernel"])
    b = randn(seed + 2, cfg["c_out"]) if use_bias else None
    expected = F.conv_transpose2d(x, w, b, **cfg["args"])
    assert_close(conv_transpose2d(x, w, b, method=method, **cfg["args"]), expected, **EXACT)


@pytest.mark.parametrize("method", METHODS)
def test_conv_transpose2d_int_args_float32_and_unbatched(method):
    x = randn(0, 3, 8, 8, dtype=torch.float32)
    w = randn(1, 3, 4, 3, 3, dtype=torch.float32)
    b = randn(2, 4, dtype=torch.float32)
    args = dict(stride=2, padding=1, output_padding=1)
    out = conv_transpose2d(x, w, b, method=method, **args)
    assert out.shape == (4, 16, 16) and out.dtype == torch.float32
    assert_close(out, F.conv_transpose2d(x, w, b, **args), atol=1e-5, rtol=1e-5)


@SETTINGS
@given(cfg=conv_transpose_configs(), seed=st.integers(0, 2**16))
def test_conv_transpose2d_is_the_adjoint_of_conv2d(cfg, seed):
    # <conv2d(y), x> == <y, conv_transpose2d(x)> for y of the transposed convolution's output size.
    x = randn(seed, 1, cfg["c_in"], *cfg["size"])
    w = randn(seed + 1, cfg["c_in"], cfg["c_out"], *cfg["kernel"])
    up = conv_transpose2d(x, w, **cfg["args"])
    y = randn(seed + 2, *up.shape)
    forward = dict(cfg["args"])
    del forward["output_padding"]
    down = conv2d(y, w, **forward)[:, :, :cfg["size"][0], :cfg["size"][1]]
    assert_close((down * x).sum(), (y * up).sum(), **EXACT)


@pytest.mark.parametrize("method", METHODS)
def test_conv_transpose2d_syllabus_2x2_to_5x5(method):
    # Kernel of ones, stride 2: each input pixel stamps a 3x3 block of its value;
    # the stamps overlap in row 2 and column 2, where they add up.
    x = torch.tensor([[[[1., 2.],
                        [3., 4.]]]])
    w = torch.ones(1, 1, 3, 3)
    expected = torch.tensor([[[[1., 1., 3., 2., 2.],
                               [1., 1., 3., 2., 2.],
                               [4., 4., 10., 6., 6.],
                               [3., 3., 7., 4., 4.],
                               [3., 3., 7., 4., 4.]]]])
    assert torch.equal(F.conv_transpose2d(x, w, stride=2), expected)  # the hand computation is right
    assert torch.equal(conv_transpose2d(x, w, stride=2, method=method), expected)


# ---------------------------------------------------------------------------
# max_pool2d
# ---------------------------------------------------------------------------

@SETTINGS
@given(cfg=pool_configs(), shape=st.tuples(st.integers(1, 2), st.integers(1, 3)),
       seed=st.integers(0, 2**16))
def test_max_pool2d_matches_torch_with_ties(cfg, shape, seed):
    # Values in {0, 1, 2}: most windows hold several equal maxima.
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 3, (*shape, *cfg["size"]), generator=g).double()
    args = dict(kernel_size=cfg["kernel_size"], stride=cfg["stride"], padding=cfg["padding"])
    values, indices = max_pool2d(x, return_indices=True, **args)
    expected_values, expected_indices = F.max_pool2d(x, return_indices=True, **args)
    assert torch.equal(values, expected_values)
    assert torch.equal(indices, expected_indices)
    assert indices.dtype == torch.int64
    assert torch.equal(max_pool2d(x, **args), expected_values)


@SETTINGS
@given(cfg=pool_configs(), seed=st.integers(0, 2**16))
def test_max_pool2d_matches_torch_random_float32(cfg, seed):
    x = randn(seed, 2, 3, *cfg["size"], dtype=torch.float32)
    args = dict(kernel_size=cfg["kernel_size"], stride=cfg["stride"], padding=cfg["padding"])
    for ours, theirs in zip(max_pool2d(x, return_indices=True, **args),
                            F.max_pool2d(x, return_indices=True, **args), strict=True):
        assert torch.equal(ours, theirs)


def test_max_pool2d_ties_pick_the_first_maximum():
    # All equal: the top-left pixel of every window.
    values, indices = max_pool2d(torch.ones(1, 1, 4, 4), 2, return_indices=True)
    assert torch.equal(indices, torch.tensor([[[[0, 2], [8, 10]]]]))
    # Overlapping windows (stride 1): the first 2 in row-major window order.
    x = torch.tensor([[[[0., 2., 2.],
                        [2., 2., 0.],
                        [0., 0., 0.]]]])
    values, indices = max_pool2d(x, 2, stride=1, return_indices=True)
    assert torch.equal(values, torch.full((1, 1, 2, 2), 2.))
    assert torch.equal(indices, torch.tensor([[[[1, 1], [3, 4]]]]))
    assert torch.equal(indices, F.max_pool2d(x, 2, stride=1, return_indices=True)[1])


def test_max_pool2d_never_picks_padding():
    # Every real value -inf: the padding (also -inf) ties, but torch reports
    # the first real pixel of each window, and so must we.
    x = torch.full((1, 2, 3, 3), float("-inf"))
    x[0, 1, 2, 2] = 1.0
    for args in (dict(kernel_size=2, padding=1), dict(kernel_size=3, stride=1, padding=1),
                 dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1))):
        values, indices = max_pool2d(x, return_indices=True, **args)
        expected_values, expected_indices = F.max_pool2d(x, return_indices=True, **args)
        assert torch.equal(values, expected_values)
        assert torch.equal(indices, expected_indices)
        assert indices.min() >= 0 and indices.max() < 9


def test_max_pool2d_unbatched_input():
    x = randn(0, 3, 7, 7)
    values, indices = max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    assert values.shape == indices.shape == (3, 4, 4)
    expected_values, expected_indices = F.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    assert torch.equal(values, expected_values) and torch.equal(indices, expected_indices)


# ---------------------------------------------------------------------------
# Bad input: the error names the argument and shows the value
# ---------------------------------------------------------------------------

X = torch.zeros(1, 3, 5, 5)
W = torch.zeros(4, 3, 3, 3)
WT = torch.zeros(3, 4, 3, 3)  # conv_transpose2d weight (C_in, C_out, kH, kW)

BAD_INPUT = [
    # conv_output_size
    ("kernel too large", lambda: conv_output_size(2, 5), ValueError, r"kernel_size=5 .*only 2"),
    ("dilated kernel too large", lambda: conv_output_size(4, 3, dilation=2), ValueError,
     r"kernel_size=3 with dilation=2 spans 5"),
    ("float size", lambda: conv_output_size(5.0, 3), TypeError, r"size must be an int, got float 5\.0"),
    ("float kernel", lambda: conv_output_size(5, 3.0), TypeError, r"kernel_size .*float 3\.0"),
    ("bool kernel", lambda: conv_output_size(5, True), TypeError, r"kernel_size .*bool True"),
    ("str size", lambda: conv_output_size("5", 3), TypeError, r"size .*str '5'"),
    ("size 0", lambda: conv_output_size(0, 3), ValueError, r"size must be an int >= 1, got 0"),
    ("stride 0", lambda: conv_output_size(5, 3, stride=0), ValueError, r"stride .*got 0"),
    ("negative padding", lambda: conv_output_size(5, 3, padding=-1), ValueError, r"padding .*got -1"),
    ("dilation 0", lambda: conv_output_size(5, 3, dilation=0), ValueError, r"dilation .*got 0"),
    # conv_transpose_output_size
    ("output_padding >= stride", lambda: conv_transpose_output_size(4, 3, stride=2, output_padding=2),
     ValueError, r"output_padding=2"),
    ("output_padding without stride", lambda: conv_transpose_output_size(4, 3, output_padding=1),
     ValueError, r"stride=1, dilation=1\), got output_padding=1"),
    ("negative output_padding", lambda: conv_transpose_output_size(4, 3, output_padding=-1),
     ValueError, r"output_padding .*got -1"),
    ("transpose padding too large", lambda: conv_transpose_output_size(1, 1, padding=1),
     ValueError, r"padding=1 .*leaving -1"),
    ("transpose float stride", lambda: conv_transpose_output_size(4, 3, stride=2.0),
     TypeError, r"stride .*float 2\.0"),
    # conv2d
    ("x not a tensor", lambda: conv2d([[1.0]], W), TypeError, r"x must be a torch.Tensor, got list"),
    ("x 2-D", lambda: conv2d(torch.zeros(5, 5), W), ValueError, r"x must be a 3-D or 4-D tensor, got shape \(5, 5\)"),
    ("x integer", lambda: conv2d(X.long(), W), TypeError, r"x must be a floating-point tensor, got dtype torch.int64"),
    ("weight 3-D", lambda: conv2d(X, torch.zeros(3, 3, 3)), ValueError,
     r"weight must be a 4-D tensor, got shape \(3, 3, 3\)"),
    ("weight dtype", lambda: conv2d(X, W.double()), TypeError, r"weight .*torch.float32.*got torch.float64"),
    ("channel mismatch", lambda: conv2d(X, torch.zeros(4, 2, 3, 3)), ValueError,
     r"x has 3 channels.*= 2 \* 1 = 2"),
    ("groups do not divide C_out", lambda: conv2d(torch.zeros(1, 4, 5, 5), torch.zeros(3, 2, 3, 3), groups=2),
     ValueError, r"= 3 must be divisible by groups, got groups=2"),
    ("groups 0", lambda: conv2d(X, W, groups=0), ValueError, r"groups .*got 0"),
    ("conv2d stride 0", lambda: conv2d(X, W, stride=0), ValueError, r"stride .*got 0"),
    ("conv2d stride pair", lambda: conv2d(X, W, stride=(1, 0)), ValueError, r"stride\[1\] .*got 0"),
    ("conv2d float stride", lambda: conv2d(X, W, stride=1.5), TypeError, r"stride .*float 1\.5"),
    ("conv2d negative padding", lambda: conv2d(X, W, padding=-1), ValueError, r"padding .*got -1"),
    ("conv2d string padding", lambda: conv2d(X, W, padding="same"), TypeError, r"padding .*str 'same'"),
    ("conv2d dilation triple", lambda: conv2d(X, W, dilation=(1, 2, 3)), ValueError, r"dilation .*length 3"),
    ("conv2d bias shape", lambda: conv2d(X, W, torch.zeros(3)), ValueError, r"bias .*\(4,\).*got shape \(3,\)"),
    ("conv2d input too small", lambda: conv2d(torch.zeros(1, 3, 2, 2), W), ValueError,
     r"x of spatial size \(2, 2\) is too small: kernel_size=3"),
    # convolution_matrix
    ("matrix weight not a tensor", lambda: convolution_matrix([1.0], (4, 4)), TypeError,
     r"weight must be a torch.Tensor, got list"),
    ("matrix weight 2-D", lambda: convolution_matrix(torch.zeros(3, 3), (4, 4)), ValueError,
     r"weight must be a 4-D tensor, got shape \(3, 3\)"),
    ("matrix input_size 0", lambda: convolution_matrix(W, (0, 4)), ValueError, r"input_size\[0\] .*got 0"),
    ("matrix float input_size", lambda: convolution_matrix(W, 4.0), TypeError, r"input_size .*float 4\.0"),
    ("matrix input too small", lambda: convolution_matrix(W, (2, 2)), ValueError,
     r"input_size of spatial size \(2, 2\) is too small: kernel_size=3"),
    ("matrix stride 0", lambda: convolution_matrix(W, (4, 4), stride=0), ValueError, r"stride .*got 0"),
    # conv_transpose2d
    ("unknown method", lambda: conv_transpose2d(X, WT, method="bilinear"), ValueError,
     r"method must be one of .*got 'bilinear'"),
    ("transpose output_padding", lambda: conv_transpose2d(X, WT, output_padding=1), ValueError,
     r"got output_padding=1"),
    ("transpose channel mismatch", lambda: conv_transpose2d(X, torch.zeros(2, 4, 3, 3)), ValueError,
     r"x has 3 channels.*weight.shape\[0\] = 2"),
    ("transpose bias shape", lambda: conv_transpose2d(X, WT, torch.zeros(3)), ValueError,
     r"bias .*\(4,\).*got shape \(3,\)"),
    ("transpose x 2-D", lambda: conv_transpose2d(torch.zeros(5, 5), WT), ValueError,
     r"x must be a 3-D or 4-D tensor, got shape \(5, 5\)"),
    ("transpose padding too large",
     lambda: conv_transpose2d(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1), padding=1),
     ValueError, r"padding=1 "),
    ("transpose negative stride", lambda: conv_transpose2d(X, WT, stride=-2), ValueError, r"stride .*got -2"),
    # max_pool2d
    ("pool padding over half", lambda: max_pool2d(X, 3, padding=2), ValueError, r"padding=2 with kernel_size=3"),
    ("pool kernel 0", lambda: max_pool2d(X, 0), ValueError, r"kernel_size .*got 0"),
    ("pool stride 0", lambda: max_pool2d(X, 2, stride=0), ValueError, r"stride .*got 0"),
    ("pool x integer", lambda: max_pool2d(X.long(), 2), TypeError,
     r"x must be a floating-point tensor, got dtype torch.int64"),
    ("pool x not a tensor", lambda: max_pool2d(3.0, 2), TypeError, r"x must be a torch.Tensor, got float"),
    ("pool return_indices", lambda: max_pool2d(X, 2, return_indices="yes"), TypeError, r"return_indices .*'yes'"),
    ("pool kernel too large", lambda: max_pool2d(X, 7), ValueError,
     r"x of spatial size \(5, 5\) is too small: kernel_size=7"),
]


@pytest.mark.parametrize("call, error, message", [case[1:] for case in BAD_INPUT],
                         ids=[case[0] for case in BAD_INPUT])
def test_bad_input_raises_naming_argument_and_value(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------
# The inputs are left as they were
# ---------------------------------------------------------------------------

CALLS = [
    ("conv2d", lambda x, w, wt, b: conv2d(x, w, b, padding=1)),
    ("convolution_matrix", lambda x, w, wt, b: convolution_matrix(w, (5, 5), padding=1)),
    *[(f"conv_transpose2d-{m}", lambda x, w, wt, b, m=m: conv_transpose2d(x, wt, b, stride=2, padding=1, method=m))
      for m in METHODS],
    ("max_pool2d", lambda x, w, wt, b: max_pool2d(x, 3, stride=2, padding=1, return_indices=True)),
]


@pytest.mark.parametrize("call", [c[1] for c in CALLS], ids=[c[0] for c in CALLS])
def test_inputs_are_not_modified(call):
    x, w, wt, b = randn(0, 2, 3, 5, 5), randn(1, 4, 3, 3, 3), randn(2, 3, 4, 3, 3), randn(3, 4)
    originals = [t.clone() for t in (x, w, wt, b)]
    call(x, w, wt, b)
    for before, after in zip(originals, (x, w, wt, b), strict=True):
        assert torch.equal(before, after)


