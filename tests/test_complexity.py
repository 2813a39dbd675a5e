"""Tests for course.complexity: closed forms, counters on real modules, bad input."""
from __future__ import annotations

import re

import pytest
import torch
import torchvision
from hypothesis import assume, given, settings, strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course.complexity import (
    complexity_table,
    conv_cost,
    count_mult_adds,
    count_parameters,
    depthwise_separable_cost,
    format_table,
    separable_cost_ratio,
)

HYPOTHESIS = settings(max_examples=40, deadline=None)


def out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def flop_counter_mult_adds(model, input_size):
    """Independent count: torch's FlopCounterMode (FLOPs = 2 * mult-adds for conv/linear)."""
    model.eval()
    param = next(model.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(input_size, device=param.device, dtype=param.dtype))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


def on_meta(builder, *args, **kwargs):
    """Build a network without allocating or initialising weights (fast)."""
    with torch.device("meta"):
        return builder(*args, **kwargs)


# --------------------------------------------------------------------------
# Closed forms: MobileNet paper, Table 3 (D_K=3, M=N=512, D_F=14)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, mult_adds, params, paper_mult_adds, paper_params", [
    # paper: millions of mult-adds, millions of parameters
    (None, 462_422_016, 2_359_296, "462", "2.36"),
    ({}, 52_283_392, 266_752, "52.3", "0.27"),
    ({"width_multiplier": 0.75}, 29_578_752, 150_912, "29.6", "0.15"),
    ({"width_multiplier": 0.75, "resolution_multiplier": 0.714}, 15_091_200, 150_912, "15.1", "0.15"),
])
def test_mobilenet_table3(kwargs, mult_adds, params, paper_mult_adds, paper_params):
    if kwargs is None:
        got = conv_cost(3, 512, 512, 14)
    else:
        got = depthwise_separable_cost(3, 512, 512, 14, **kwargs)
    assert got == (mult_adds, params)
    assert all(isinstance(v, int) for v in got)

    def decimals(figure):
        return len(figure.split(".")[1]) if "." in figure else 0

    assert f"{mult_adds / 1e6:.{decimals(paper_mult_adds)}f}" == paper_mult_adds
    assert f"{params / 1e6:.{decimals(paper_params)}f}" == paper_params


def test_resolution_multiplier_rounds_feature_size():
    # 0.714 * 14 = 9.996 -> rD_F = 10
    assert depthwise_separable_cost(3, 384, 384, 10) == \
        depthwise_separable_cost(3, 512, 512, 14, width_multiplier=0.75, resolution_multiplier=0.714)


def test_syllabus_worked_example():
    # 128x128x4 input, 3x3 kernel, "same" output size
    assert conv_cost(3, 4, 1, 128) == (589_824, 36)
    assert conv_cost(3, 4, 10, 128)[0] == 5_898_240
    separable, _ = depthwise_separable_cost(3, 4, 10, 128)
    assert separable == 128 * 128 * 3 * 3 * 4 + 128 * 128 * 4 * 10 == 1_245_184


def test_separable_cost_ratio():
    assert round(separable_cost_ratio(3, 1024), 3) == 0.112
    assert separable_cost_ratio(3, 1024) == pytest.approx(1 / 1024 + 1 / 9)


@HYPOTHESIS
@given(k=st.integers(1, 7), m=st.integers(1, 2048), n=st.integers(1, 2048), d_f=st.integers(1, 224))
def test_separable_cost_ratio_is_the_exact_mult_add_ratio(k, m, n, d_f):
    ratio = depthwise_separable_cost(k, m, n, d_f)[0] / conv_cost(k, m, n, d_f)[0]
    assert separable_cost_ratio(k, n) == pytest.approx(ratio, rel=1e-12)


# --------------------------------------------------------------------------
# Counters on real modules agree with the closed forms
# --------------------------------------------------------------------------

@HYPOTHESIS
@given(
    groups=st.integers(1, 3), m_per_group=st.integers(1, 4), n_per_group=st.integers(1, 4),
    kh=st.integers(1, 5), kw=st.integers(1, 5), stride=st.integers(1, 3),
    padding=st.integers(0, 2), dilation=st.integers(1, 2),
    h=st.integers(1, 12), w=st.integers(1, 12), bias=st.booleans(),
)
def test_conv2d_counts(groups, m_per_group, n_per_group, kh, kw, stride, padding, dilation, h, w, bias):
    m, n = groups * m_per_group, groups * n_per_group
    h_out, w_out = out_size(h, kh, stride, padding, dilation), out_size(w, kw, stride, padding, dilation)
    assume(h_out >= 1 and w_out >= 1)
    conv = nn.Conv2d(m, n, (kh, kw), stride, padding, dilation, groups, bias=bias)
    expected = n * h_out * w_out * (m // groups) * kh * kw
    assert count_mult_adds(conv, (1, m, h, w)) == expected
    assert count_parameters(conv) == n * (m // groups) * kh * kw + (n if bias else 0)
    assert count_mult_adds(conv, (1, m, h, w)) == flop_counter_mult_adds(conv, (1, m, h, w))


@HYPOTHESIS
@given(k=st.sampled_from([1, 3, 5, 7]), m=st.integers(1, 16), n=st.integers(1, 16),
       d_f=st.integers(1, 20), dilation=st.integers(1, 2))
def test_same_padding_conv2d_matches_conv_cost(k, m, n, d_f, dilation):
    conv = nn.Conv2d(m, n, k, padding=dilation * (k - 1) // 2, dilation=dilation, bias=False)
    assert (count_mult_adds(conv, (1, m, d_f, d_f)), count_parameters(conv)) == conv_cost(k, m, n, d_f)


@HYPOTHESIS
@given(k=st.sampled_from([1, 3, 5]), m=st.integers(1, 24), n=st.integers(1, 24), d_f=st.integers(1, 16),
       a=st.sampled_from([1.0, 0.75, 0.5, 0.25]), r=st.sampled_from([1.0, 0.857, 0.714, 0.571]))
def test_depthwise_pointwise_pair_matches_depthwise_separable_cost(k, m, n, d_f, a, r):
    a_m, a_n, r_d_f = round(a * m), round(a * n), round(r * d_f)
    assume(min(a_m, a_n, r_d_f) >= 1)
    pair = nn.Sequential(
        nn.Conv2d(a_m, a_m, k, padding=k // 2, groups=a_m, bias=False),  # depthwise
        nn.BatchNorm2d(a_m), nn.ReLU(),                                   # not counted
        nn.Conv2d(a_m, a_n, 1, bias=False),                               # pointwise
    )
    expected = depthwise_separable_cost(k, m, n, d_f, width_multiplier=a, resolution_multiplier=r)
    bn_params = 2 * a_m
    assert (count_mult_adds(pair, (1, a_m, r_d_f, r_d_f)), count_parameters(pair) - bn_params) == expected


@HYPOTHESIS
@given(
    groups=st.integers(1, 2), m_per_group=st.integers(1, 4), n_per_group=st.integers(1, 4),
    k=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
    dilation=st.integers(1, 2), h=st.integers(1, 10), w=st.integers(1, 10),
)
def test_conv_transpose2d_costs_as_much_as_the_conv_it_transposes(
        groups, m_per_group, n_per_group, k, stride, padding, dilation, h, w):
    m, n = groups * m_per_group, groups * n_per_group
    h_out, w_out = out_size(h, k, stride, padding, dilation), out_size(w, k, stride, padding, dilation)
    assume(h_out >= 1 and w_out >= 1)
    assume((min(h_out, w_out) - 1) * stride - 2 * padding + dilation * (k - 1) + 1 >= 1)  # transpose output
    conv = nn.Conv2d(m, n, k, stride, padding, dilation=dilation, groups=groups)
    transpose = nn.ConvTranspose2d(n, m, k, stride, padding, dilation=dilation, groups=groups)
    # each of the n*h_out*w_out input elements stamps an (m/groups) x k x k block
    expected = n * h_out * w_out * (m // groups) * k * k
    assert count_mult_adds(transpose, (1, n, h_out, w_out)) == expected
    assert count_mult_adds(conv, (1, m, h, w)) == expected
    assert flop_counter_mult_adds(transpose, (1, n, h_out, w_out)) == expected


def test_linear_counts_leading_dimensions_but_not_batch():
    linear = nn.Linear(8, 4)
    assert count_mult_adds(linear, (1, 8)) == 32
    assert count_mult_adds(linear, (1, 5, 8)) == 5 * 8 * 4
    assert count_mult_adds(linear, (3, 5, 8)) == 5 * 8 * 4


def test_conv1d_and_conv3d_agree_with_flop_counter():
    conv1d = nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2)
    conv3d = nn.Conv3d(2, 3, (3, 2, 2), padding=1)
    assert count_mult_adds(conv1d, (1, 4, 17)) == 6 * 9 * 2 * 3 == flop_counter_mult_adds(conv1d, (1, 4, 17))
    assert count_mult_adds(conv3d, (1, 2, 4, 5, 6)) == flop_counter_mult_adds(conv3d, (1, 2, 4, 5, 6))


def test_batch_size_does_not_change_the_per_image_count():
    net = on_meta(torchvision.models.resnet18, weights=None)
    assert count_mult_adds(net, (4, 3, 64, 64)) == count_mult_adds(net, (1, 3, 64, 64))


def test_count_parameters_trainable_only():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8, 2))
    total = sum(p.numel() for p in net.parameters())
    assert count_parameters(net) == count_parameters(net, trainable_only=True) == total == 224 + 16 + 18
    for p in net[0].parameters():
        p.requires_grad_(False)
    assert count_parameters(net) == total
    assert count_parameters(net, trainable_only=True) == total - 224


def test_shared_parameters_are_counted_once_but_computed_every_call():
    tied_a, tied_b = nn.Linear(6, 6), nn.Linear(6, 6)
    tied_b.weight = tied_a.weight                        # tied weight, separate biases
    assert count_parameters(nn.Sequential(tied_a, tied_b)) == 36 + 6 + 6
    layer = nn.Linear(6, 6)
    twice = nn.Sequential(layer, nn.ReLU(), layer)      # one layer, two calls
    assert count_parameters(twice) == 42
    assert count_mult_adds(twice, (1, 6)) == 2 * 36
    assert [row.name for row in complexity_table(twice, (1, 6))] == ["0", "0"]


# --------------------------------------------------------------------------
# Real networks
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name, params, mult_adds, quoted", [
    ("vgg16", 138_357_544, 15_470_264_320, 15.5e9),     # syllabus: 138M parameters
    ("resnet50", 25_557_032, 4_089_184_256, 4.1e9),     # "4.1 GFLOPs" = mult-adds
    ("resnet18", 11_689_512, 1_814_073_344, 1.8e9),
])
def test_torchvision_classifiers(name, params, mult_adds, quoted):
    net = on_meta(getattr(torchvision.models, name), weights=None)
    assert count_parameters(net) == params
    assert count_mult_adds(net) == mult_adds
    assert mult_adds == pytest.approx(quoted, rel=0.01)


def test_real_weights_on_cpu_give_the_same_count_as_meta():
    net = torchvision.models.resnet18(weights=None)
    assert count_mult_adds(net) == 1_814_073_344
    assert count_parameters(net) == 11_689_512


def mobilenet_v1(width_multiplier=1.0, num_classes=1000):
    """MobileNet paper, Table 1 (BN and ReLU omitted: they cost no mult-adds and no weights here)."""
    def c(channels):
        return round(width_multiplier * channels)
    layers, m = [nn.Conv2d(3, c(32), 3, stride=2, padding=1, bias=False)], c(32)
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for n, stride in plan:
        layers += [nn.Conv2d(m, m, 3, stride, padding=1, groups=m, bias=False), nn.Conv2d(m, c(n), 1, bias=False)]
        m = c(n)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(m, num_classes)]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("width, resolution, paper_mult_adds_m, paper_params_m", [
    (1.0, 224, 569, 4.2), (0.75, 224, 325, 2.6), (0.5, 224, 149, 1.3), (0.25, 224, 41, 0.5),  # Table 6
    (1.0, 192, 418, 4.2), (1.0, 160, 290, 4.2), (1.0, 128, 186, 4.2),                         # Table 7
])
def test_mobilenet_v1_tables_6_and_7(width, resolution, paper_mult_adds_m, paper_params_m):
    net = on_meta(mobilenet_v1, width)
    assert abs(count_mult_adds(net, (1, 3, resolution, resolution)) / 1e6 - paper_mult_adds_m) < 1
    assert round(count_parameters(net) / 1e6, 1) == paper_params_m


@pytest.mark.parametrize("builder", [
    torchvision.models.vgg16, torchvision.models.resnet50, torchvision.models.resnet18,
    torchvision.models.mobilenet_v2, torchvision.models.squeezenet1_0, torchvision.models.efficientnet_b0,
    torchvision.models.segmentation.fcn_resnet50, torchvision.models.segmentation.lraspp_mobilenet_v3_large,
], ids=lambda b: b.__name__)
def test_agrees_with_torch_flop_counter(builder):
    kwargs = {"weights_backbone": None} if "segmentation" in builder.__module__ else {}
    net = on_meta(builder, weights=None, **kwargs)
    assert count_mult_adds(net) == flop_counter_mult_adds(net, (1, 3, 224, 224))


# --------------------------------------------------------------------------
# The model is left as it was
# --------------------------------------------------------------------------

def test_training_flags_hooks_and_buffers_are_restored():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(36, 2)).train()
    net[0].eval()                                    # mixed flags must survive, not become all-train
    seen = []
    net[0].register_forward_hook(lambda *args: seen.append(1))
    flags = [m.training for m in net.modules()]
    hooks = [dict(m._forward_hooks) for m in net.modules()]
    running_mean = net[1].running_mean.clone()

    assert count_mult_adds(net, (1, 3, 5, 5)) == 4 * 3 * 3 * 27 + 36 * 2
    assert [m.training for m in net.modules()] == flags
    assert [dict(m._forward_hooks) for m in net.modules()] == hooks
    assert seen == [1]                               # the user's hook still runs
    assert torch.equal(net[1].running_mean, running_mean)
    assert net[1].num_batches_tracked.item() == 0


def test_restored_even_when_the_forward_pass_fails():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3)).train()
    net[1].eval()
    flags = [m.training for m in net.modules()]
    with pytest.raises(ValueError, match=re.escape("the model failed on zeros of input_size (1, 1, 8, 8)")):
        count_mult_adds(net, (1, 1, 8, 8))
    assert [m.training for m in net.modules()] == flags
    assert all(not m._forward_hooks for m in net.modules())


def test_table_rows_and_format():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(8, 4, 2, stride=2),
                        nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    rows = complexity_table(net, (2, 3, 4, 4))
    assert [(r.name, r.type, r.output_shape) for r in rows] == [
        ("0", "Conv2d", (2, 8, 4, 4)), ("2", "ConvTranspose2d", (2, 4, 8, 8)), ("4", "Linear", (2, 10))]
    assert [r.mult_adds for r in rows] == [8 * 16 * 27, 8 * 16 * 4 * 4, 256 * 10]
    assert sum(r.params for r in rows) == count_parameters(net)
    text = format_table(rows)
    assert "ConvTranspose2d" in text and f"{sum(r.mult_adds for r in rows):,}" in text.splitlines()[-1]
    assert complexity_table(nn.Conv2d(1, 1, 1), (1, 1, 2, 2))[0].name == "(model)"


# --------------------------------------------------------------------------
# Bad input: the message names the argument and shows the value
# --------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda: conv_cost(0, 3, 3, 8), ValueError, "kernel_size must be an int >= 1, got 0"),
    (lambda: conv_cost(3.0, 3, 3, 8), TypeError, "kernel_size must be an int, got float 3.0"),
    (lambda: conv_cost(3, True, 3, 8), TypeError, "in_channels must be an int, got bool True"),
    (lambda: conv_cost(3, 3, 0, 8), ValueError, "out_channels must be an int >= 1, got 0"),
    (lambda: conv_cost(3, 3, 3, -14), ValueError, "feature_size must be an int >= 1, got -14"),
    (lambda: depthwise_separable_cost(3, 3, 3, 8.5), TypeError, "feature_size must be an int, got float 8.5"),
    (lambda: depthwise_separable_cost(3, 8, 8, 8, width_multiplier=0), ValueError,
     "width_multiplier must be a number > 0.0, got 0.0"),
    (lambda: depthwise_separable_cost(3, 8, 8, 8, width_multiplier=1.5), ValueError,
     "width_multiplier must be a number in (0, 1], got 1.5"),
    (lambda: depthwise_separable_cost(3, 8, 8, 8, resolution_multiplier="0.5"), TypeError,
     "resolution_multiplier must be a number, got str '0.5'"),
    (lambda: depthwise_separable_cost(3, 32, 64, 8, width_multiplier=0.01), ValueError,
     "width_multiplier * in_channels must round to an int >= 1, got width_multiplier=0.01 * in_channels=32"),
    (lambda: depthwise_separable_cost(3, 32, 64, 7, resolution_multiplier=0.05), ValueError,
     "resolution_multiplier * feature_size must round to an int >= 1, got resolution_multiplier=0.05"),
    (lambda: separable_cost_ratio(3, 0), ValueError, "out_channels must be an int >= 1, got 0"),
    (lambda: count_parameters([nn.Linear(2, 2)]), TypeError, "model must be a torch.nn.Module, got list"),
    (lambda: count_parameters(nn.Linear(2, 2), trainable_only="yes"), TypeError,
     "trainable_only must be a bool, got str 'yes'"),
    (lambda: count_mult_adds("resnet18"), TypeError, "model must be a torch.nn.Module, got str 'resnet18'"),
    (lambda: count_mult_adds(nn.Linear(2, 2), 224), TypeError,
     "input_size must be a tuple of ints (batch, ...), e.g. (1, 3, 224, 224), got int 224"),
    (lambda: count_mult_adds(nn.Linear(2, 2), (2,)), ValueError,
     "input_size must be a tuple of ints (batch, ...), e.g. (1, 3, 224, 224), got (2,) of length 1"),
    (lambda: count_mult_adds(nn.Conv2d(3, 3, 1), (1, 3, 0, 8)), ValueError, "input_size[2] must be an int >= 1, got 0"),
    (lambda: count_mult_adds(nn.Conv2d(3, 3, 1), (1, 3, 8.0, 8)), TypeError,
     "input_size[2] must be an int, got float 8.0"),
    (lambda: count_mult_adds(nn.Conv2d(3, 3, 5), (1, 3, 2, 2)), ValueError,
     "the model failed on zeros of input_size (1, 3, 2, 2)"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_on_meta_builds_any_network_without_memory():
    from course.complexity import on_meta
    from course.models import MobileNetV1

    vgg = on_meta("vgg16", num_classes=10)
    assert all(p.device.type == "meta" for p in vgg.parameters())
    assert count_parameters(vgg) == count_parameters(torchvision.models.vgg16(num_classes=10))
    mobile = on_meta(MobileNetV1, width_multiplier=0.5)
    assert next(mobile.parameters()).device.type == "meta"
    with pytest.raises(TypeError, match="build must be a function"):
        on_meta(3)
    with pytest.raises(TypeError, match="build must return a torch.nn.Module"):
        on_meta(lambda: 3)
