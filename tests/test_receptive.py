"""Tests for course.receptive.

The analytic receptive field is cross-checked independently by gradients: in a
"positive twin" of a network (same geometry; convolutions average with weights
1/fan_in, max pooling becomes average pooling, activations and normalisation
become identities) every pixel inside a unit's receptive field has a strictly
positive influence on it and every pixel outside has none, so the nonzero
region of d unit / d input is exactly the receptive field. Height and width are
checked separately, so non-square kernels, strides, paddings and dilations (Inception
v3's 1x7 / 7x1) are covered by the same cross-check.
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict

import pytest
import torch
import torchvision
from hypothesis import given, settings, strategies as st
from torch import nn
from torch.nn import functional as F

from course.receptive import (
    LayerRow,
    ReceptiveField,
    effective_receptive_field,
    receptive_field,
)

# --------------------------------------------------------------------------- helpers

def pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


class AveragingPool(nn.Module):
    """Stand-in for max pooling in the positive twin: a depthwise averaging convolution (keeps dilation)."""

    def __init__(self, kernel_size, stride, padding, dilation=1):
        super().__init__()
        self.k, self.s, self.p, self.d = pair(kernel_size), pair(stride), pair(padding), pair(dilation)

    def forward(self, x):
        weight = torch.full((x.shape[1], 1, *self.k), 1.0 / math.prod(self.k), dtype=x.dtype)
        return F.conv2d(x, weight, stride=self.s, padding=self.p, dilation=self.d, groups=x.shape[1])


class FunctionalPool(nn.Module):
    """Pooling through F.max_pool2d / F.avg_pool2d, so the traced graph holds call_function nodes."""

    def __init__(self, kind, kernel_size, stride, padding, dilation=1):
        super().__init__()
        self.kind, self.k, self.s, self.p, self.d = kind, kernel_size, stride, padding, dilation

    def forward(self, x):
        if self.kind == "max":
            return F.max_pool2d(x, self.k, self.s, self.p, self.d)
        return F.avg_pool2d(x, self.k, stride=self.s, padding=self.p)


def positive_twin(model: nn.Module, single_channel: bool = False) -> nn.Module:
    """A float64 copy with the same geometry whose gradients are positive exactly on receptive fields.

    Average pooling stays (its gradient is dense and positive); max pooling,
    whose gradient reaches one pixel per window, becomes an averaging convolution.

    ``single_channel=True`` also shrinks every convolution to 1 -> 1 channel, which
    keeps VGG and ResNet cheap (only for networks without concatenation).
    """
    twin = copy.deepcopy(model)

    def replace(module):
        for name, child in module.named_children():
            if isinstance(child, nn.Conv2d):
                c_in, c_out, groups = child.in_channels, child.out_channels, child.groups
                if single_channel:
                    c_in, c_out, groups = 1, 1, 1
                new = nn.Conv2d(c_in, c_out, child.kernel_size, child.stride, child.padding, child.dilation,
                                groups, bias=False, device="cpu")
                nn.init.constant_(new.weight, 1.0 / new.weight[0].numel())
            elif isinstance(child, nn.MaxPool2d):
                new = AveragingPool(child.kernel_size, child.stride, child.padding, child.dilation)
            elif isinstance(child, FunctionalPool) and child.kind == "max":
                new = AveragingPool(child.k, child.s, child.p, child.d)
            elif isinstance(child, (nn.ReLU, nn.BatchNorm2d, nn.Dropout)):
                new = nn.Identity()
            else:
                replace(child)
                continue
            setattr(module, name, new)

    replace(twin)
    return twin.double().eval()


def gradient_region(net: nn.Module, input_size, unit) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the pixels with nonzero d net(x)[0, :, i, j] / dx, for x = ones."""
    x = torch.ones(input_size, dtype=torch.float64, requires_grad=True)
    y = net(x)
    i, j = unit
    assert i < y.shape[2] and j < y.shape[3], (unit, tuple(y.shape))
    (grad,) = torch.autograd.grad(y[0, :, i, j].sum(), x)
    seen = grad.abs().sum(dim=(0, 1)) > 0
    rows = seen.any(dim=1).nonzero().flatten()
    cols = seen.any(dim=0).nonzero().flatten()
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


def check_against_gradients(model, rf: ReceptiveField, channels: int, single_channel=False, side=None):
    """The regions of output units (i, j), (i + 1, j), (i, j + 1) match ``rf.region``: size, stride, start.

    ``(i, j)`` is the first unit whose field is not clipped by the top and left
    borders; the input (``side``: an int or ``(H, W)``, by default just large
    enough) holds its neighbours' fields too. Height and width are checked separately.
    """
    top, left = rf.region(0, 0)[:2]
    (stride_h, stride_w) = rf.stride_hw
    i, j = max(0, math.ceil(-top / stride_h)), max(0, math.ceil(-left / stride_w))
    if side is None:
        corner = rf.region(i + 1, j + 1)
        side = (corner[2] + 1 + stride_h, corner[3] + 1 + stride_w)
    height, width = pair(side)
    twin = positive_twin(model, single_channel)
    input_size = (1, 1 if single_channel else channels, height, width)
    for unit in [(i, j), (i + 1, j), (i, j + 1)]:
        expected = rf.region(*unit)
        assert 0 <= min(expected) and expected[2] < height and expected[3] < width
        assert gradient_region(twin, input_size, unit) == expected, unit
    return twin


def vgg16_features():
    """torchvision's VGG-16 trunk, built on the meta device: same layers, no weight initialisation cost."""
    with torch.device("meta"):
        return torchvision.models.vgg16(weights=None).features


def resnet50_trunk():
    """torchvision's ResNet-50 without avgpool and fc (meta device, as above)."""
    with torch.device("meta"):
        return nn.Sequential(*list(torchvision.models.resnet50(weights=None).children())[:-2])


# --------------------------------------------------------------------------- worked examples

def test_syllabus_example_two_strided_convolutions():
    net = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.Conv2d(1, 1, 3, stride=2, padding=1))
    rf = receptive_field(net, input_size=(1, 1, 5, 5))
    assert [row.shape for row in rf.layers] == [(1, 1, 3, 3), (1, 1, 2, 2)]
    assert [row.size for row in rf.layers] == [3, 7]
    assert [row.stride for row in rf.layers] == [2, 4]
    assert [row.start for row in rf.layers] == [0.0, 0.0]
    assert rf.layers[0] == LayerRow("0", "Conv2d", 3, 2, 0.0, (1, 1, 3, 3), kernel_size=3, layer_stride=2,
                                    padding=1, dilation=1)
    assert (rf.size, rf.stride, rf.start, rf.output_shape) == (7, 4, 0.0, (1, 1, 2, 2))
    assert rf.region(0, 0) == (-3, -3, 3, 3)
    assert rf.region(1, 0) == (1, -3, 7, 3)
    check_against_gradients(net, rf, channels=1)


def test_vgg16_features_known_value_and_gradients():
    features = vgg16_features()
    rf = receptive_field(features)
    assert (rf.size, rf.stride, rf.output_shape) == (212, 32, (1, 512, 7, 7))  # API.md
    assert [row.size for row in rf.layers if row.type == "MaxPool2d"] == [6, 16, 44, 100, 212]
    check_against_gradients(features, rf, channels=3, single_channel=True)


def test_resnet50_trunk_torchvision_and_original():
    trunk = resnet50_trunk()
    rf = receptive_field(trunk)
    # torchvision's ResNet-50 is "v1.5": the stride-2 of each stage sits in the 3x3 convolution
    assert (rf.size, rf.stride, rf.output_shape) == (427, 32, (1, 2048, 7, 7))
    check_against_gradients(trunk, rf, channels=3, single_channel=True)

    # the original ResNet-50 (He et al., Caffe) strides in the first 1x1 convolution: 483, the literature value
    original = copy.deepcopy(trunk)
    for block in original.modules():
        if isinstance(block, torchvision.models.resnet.Bottleneck) and block.conv2.stride == (2, 2):
            block.conv1.stride, block.conv2.stride = (2, 2), (1, 1)
    rf = receptive_field(original)
    assert (rf.size, rf.stride, rf.output_shape) == (483, 32, (1, 2048, 7, 7))
    check_against_gradients(original, rf, channels=3, single_channel=True)


@pytest.mark.parametrize("build, size, stride", [
    (lambda: torchvision.models.alexnet(weights=None).features, 195, 32),
    (lambda: nn.Sequential(*list(torchvision.models.resnet18(weights=None).children())[:-2]), 435, 32),
    (lambda: torchvision.models.squeezenet1_0(weights=None).features, 155, 16),
    (lambda: torchvision.models.densenet121(weights=None).features, 2071, 32),
    (lambda: nn.Sequential(*list(torchvision.models.googlenet(
        weights=None, aux_logits=False, init_weights=False).children())[:-3]), 379, 32),
])
def test_torchvision_trunks(build, size, stride):
    with torch.device("meta"):
        trunk = build()
    rf = receptive_field(trunk)
    assert (rf.size, rf.stride) == (size, stride)


def test_real_weights_and_meta_model_agree():
    net = torchvision.models.squeezenet1_1(weights=None).features
    with torch.device("meta"):
        meta_net = torchvision.models.squeezenet1_1(weights=None).features
    assert receptive_field(net).layers == receptive_field(meta_net).layers


def test_functional_ops_padding_same_and_dilation():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding="same", dilation=2)
            self.weight = nn.Parameter(torch.ones(4, 4, 5, 5))
            self.pad = nn.ZeroPad2d(1)

        def forward(self, x):
            x = F.relu(self.conv(x))                      # r = 1 + 4 = 5, start 0
            x = F.max_pool2d(x, 2)                        # r = 6, j = 2, start 0.5
            x = F.conv2d(self.pad(x), self.weight)        # pad 1 then 5x5: r = 6 + 4*2 = 14, start 0.5 + (2-1)*2
            return F.avg_pool2d(x, 3, stride=1, padding=1)  # r = 18, start unchanged

    rf = receptive_field(Net(), (1, 3, 32, 32))
    assert [(row.type, row.size, row.stride, row.start) for row in rf.layers] == [
        ("Conv2d", 5, 1, 0.0), ("relu", 5, 1, 0.0), ("max_pool2d", 6, 2, 0.5), ("ZeroPad2d", 6, 2, -1.5),
        ("conv2d", 14, 2, 2.5), ("avg_pool2d", 18, 2, 2.5)]
    assert rf.layers[0].padding == 2 and rf.layers[0].dilation == 2
    assert rf.layers[4].kernel_size == 5 and rf.output_shape == (1, 4, 14, 14)


def test_max_pooling_with_indices():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1)
            self.pool = nn.MaxPool2d(2, return_indices=True)

        def forward(self, x):
            x, indices = self.pool(self.conv(x))
            return x

    rf = receptive_field(Net(), (1, 1, 8, 8))
    assert [(row.type, row.size, row.shape) for row in rf.layers] == [
        ("Conv2d", 3, (1, 1, 8, 8)), ("MaxPool2d", 4, (1, 1, 4, 4)), ("getitem", 4, (1, 1, 4, 4))]


def test_merge_takes_the_union_of_branch_fields():
    class Net(nn.Module):  # two branches with equal shapes and strides but different centres
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, stride=2, padding=1)          # unit 0 sees pixels [-1, 1]
            self.pool = nn.AvgPool2d(3, stride=2, ceil_mode=True)        # unit 0 sees pixels [0, 2]

        def forward(self, x):
            return self.conv(x) + self.pool(x)

    rf = receptive_field(Net(), (1, 1, 6, 6))
    assert (rf.size, rf.stride, rf.start) == (4, 2, 0.5)
    assert rf.layers[-1].type == "add"
    check_against_gradients(Net(), rf, channels=1, side=10)  # an even side, where the shapes agree


def test_table_and_html():
    rf = receptive_field(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2)), (1, 3, 16, 16))
    text = str(rf)
    assert text == rf.table()
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "type", "kernel", "stride", "pad", "dil", "output", "shape",
                                "RF", "size", "RF", "stride", "RF", "start"]
    assert lines[2].split()[0] == "input" and lines[3].split()[:2] == ["0", "Conv2d"]
    assert lines[5].split() == ["2", "MaxPool2d", "2", "2", "0", "1", "(1,", "8,", "7,", "7)", "4", "2", "1.5"]
    # fixed-width columns: the last column ends at the same place in every row
    assert len({len(line) for line in lines[:1] + lines[2:-1]}) == 1
    assert lines[-1] == "receptive field 4 x 4 pixels, stride 2"
    assert "<table>" in rf._repr_html_() and "MaxPool2d" in rf._repr_html_()
    assert "layers" not in repr(rf) and "size=4" in repr(rf)


def test_training_flags_restored():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(), nn.Conv2d(4, 4, 3))
    net.train()
    net[2].eval()
    before = net[1].running_mean.clone()
    receptive_field(net, (2, 3, 8, 8))
    assert [m.training for m in net.modules()] == [True, True, True, False, True]
    assert torch.equal(net[1].running_mean, before)


# --------------------------------------------------------------------------- property: random networks vs gradients

CHANNELS = 2


@st.composite
def window_layer(draw, square=True):
    """``(kind, k, s, p, d, groups)``; with ``square=False`` k, s, p, d are ``(h, w)`` pairs drawn per axis."""
    kind = draw(st.sampled_from(["conv", "conv", "maxpool", "avgpool", "f_max", "f_avg", "relu", "bn"]))
    if kind in ("relu", "bn"):
        return (kind,)

    def one_axis():
        k = draw(st.integers(1, 4))
        s = draw(st.integers(1, 3))
        d = draw(st.integers(1, 3)) if kind in ("conv", "maxpool", "f_max") else 1
        k_eff = d * (k - 1) + 1
        p = draw(st.integers(0, k_eff if kind == "conv" else k // 2))  # torch: pool padding <= kernel_size / 2
        return k, s, p, d

    if square:
        k, s, p, d = one_axis()
    else:
        k, s, p, d = zip(one_axis(), one_axis(), strict=True)
    groups = draw(st.sampled_from([1, CHANNELS])) if kind == "conv" else 1
    return kind, k, s, p, d, groups


def build_layer(spec, channels):
    kind = spec[0]
    if kind == "relu":
        return nn.ReLU()
    if kind == "bn":
        return nn.BatchNorm2d(channels)
    _, k, s, p, d, groups = spec
    return {"conv": lambda: nn.Conv2d(channels, channels, k, s, p, d, groups=groups),
            "maxpool": lambda: nn.MaxPool2d(k, s, p, d),
            "avgpool": lambda: nn.AvgPool2d(k, s, p),
            "f_max": lambda: FunctionalPool("max", k, s, p, d),
            "f_avg": lambda: FunctionalPool("avg", k, s, p)}[kind]()


class TwoBranches(nn.Module):
    """Residual-style block: ``merge(a(x), b(x))`` with merge in add, cat, mul."""

    def __init__(self, a, b, merge):
        super().__init__()
        self.a, self.b, self.merge = a, b, merge

    def forward(self, x):
        if self.merge == "cat":
            return torch.cat([self.a(x), self.b(x)], dim=1)
        if self.merge == "mul":
            return self.a(x) * self.b(x)
        return self.a(x) + self.b(x)


@st.composite
def same_conv(draw, stride=None, square=True):
    """A "same"-padded convolution (odd dilated kernel), so branch shapes agree for every input size."""
    def one_axis(axis):
        k = draw(st.sampled_from([1, 3, 5]))
        d = draw(st.integers(1, 2))
        s = draw(st.integers(1, 2)) if stride is None else pair(stride)[axis]
        return k, s, d * (k - 1) // 2, d

    if square:
        k, s, p, d = one_axis(0)
    else:
        k, s, p, d = zip(one_axis(0), one_axis(1), strict=True)
    return nn.Conv2d(CHANNELS, CHANNELS, k, s, p, d)


def stride_product(specs, axis=0):
    return math.prod(pair(spec[2])[axis] for spec in specs if len(spec) > 1)


@st.composite
def networks(draw, square=True):
    prefix = draw(st.lists(window_layer(square), min_size=1, max_size=4))
    suffix = draw(st.lists(window_layer(square), max_size=2))
    if max(stride_product(prefix + suffix, axis) for axis in (0, 1)) > 27:
        prefix, suffix = prefix[:1], []
    layers = [build_layer(spec, CHANNELS) for spec in prefix]
    channels = CHANNELS
    if draw(st.booleans()):  # the residual variant
        a = draw(st.lists(same_conv(square=square), min_size=1, max_size=3))
        stride = tuple(math.prod(conv.stride[axis] for conv in a) for axis in (0, 1))
        b = [draw(same_conv(stride=stride, square=square))] if max(stride) > 1 or draw(st.booleans()) else []
        merge = draw(st.sampled_from(["add", "cat", "mul"]))
        layers.append(TwoBranches(nn.Sequential(*a), nn.Sequential(*b), merge))
        channels = 2 * CHANNELS if merge == "cat" else CHANNELS
        if max(stride[axis] * stride_product(prefix, axis) for axis in (0, 1)) > 27:
            suffix = []
    layers += [build_layer(spec, channels) for spec in suffix]
    return nn.Sequential(*layers)


@settings(max_examples=40, deadline=None)
@given(net=networks())
def test_random_networks_match_gradients(net):
    rf = receptive_field(net, (1, CHANNELS, 600, 600))  # meta-device shape run: a big input is free
    assert rf.size == max(row.size for row in rf.layers)
    check_against_gradients(net, rf, channels=CHANNELS)


@settings(max_examples=40, deadline=None)
@given(net=networks(square=False))
def test_random_non_square_networks_match_gradients(net):
    """Kernels, strides, paddings and dilations drawn separately for height and width."""
    rf = receptive_field(net, (1, CHANNELS, 600, 600))
    assert rf.size_hw == tuple(max(row.size_hw[axis] for row in rf.layers) for axis in (0, 1))
    check_against_gradients(net, rf, channels=CHANNELS)


def test_dilated_stack_grows_exponentially():  # Yu & Koltun (2016): dilations 1, 2, 4, 8 give 3, 7, 15, 31
    net = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=d, dilation=d) for d in (1, 2, 4, 8)])
    rf = receptive_field(net, (1, 1, 40, 40))
    assert [row.size for row in rf.layers] == [3, 7, 15, 31]
    check_against_gradients(net, rf, channels=1)


# --------------------------------------------------------------------------- bad input

def test_model_must_be_a_module():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        receptive_field("vgg16")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        effective_receptive_field(lambda x: x)


@pytest.mark.parametrize("function", [receptive_field, effective_receptive_field])
@pytest.mark.parametrize("input_size, error, message", [
    ((1, 3, 224), ValueError, r"input_size must be a tuple \(N, C, H, W\) of length 4, got \(1, 3, 224\) of length 3"),
    ((1, 3, 0, 32), ValueError, r"input_size\[2\] must be an int >= 1, got 0"),
    ((1, -3, 32, 32), ValueError, r"input_size\[1\] must be an int >= 1, got -3"),
    ((1, 3, 32.0, 32), TypeError, r"input_size\[2\] must be an int, got float 32.0"),
    (224, TypeError, r"input_size must be a tuple \(N, C, H, W\), got int 224"),
])
def test_bad_input_size(function, input_size, error, message):
    with pytest.raises(error, match=message):
        function(nn.Conv2d(3, 3, 3), input_size)


def test_input_too_small_or_wrong_channels():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3))
    with pytest.raises(ValueError, match=r"input_size=\(1, 3, 5, 5\) failed at layer '2' \(Conv2d\).*large enough"):
        receptive_field(net, (1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"input_size=\(1, 1, 32, 32\) failed at layer '0' \(Conv2d\).*channels"):
        receptive_field(net, (1, 1, 32, 32))
    assert receptive_field(net, (1, 3, 8, 8)).output_shape == (1, 8, 1, 1)


@pytest.mark.parametrize("layer, name", [
    (nn.Linear(6, 10), "Linear"),    # runs (on the last axis), still not a convolutional layer
    (nn.Linear(7, 10), "Linear"),    # fails to run: reported as unsupported, not as a bad input
    (nn.AdaptiveAvgPool2d(1), "AdaptiveAvgPool2d"),
    (nn.Flatten(), "Flatten"),
    (nn.Upsample(scale_factor=2), "Upsample"),
    (nn.ConvTranspose2d(4, 4, 2, stride=2), "ConvTranspose2d"),
])
def test_unsupported_layers_are_named(layer, name):
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), layer)
    with pytest.raises(ValueError, match=rf"layer '2' \({name}\) is not supported.*model\.features"):
        receptive_field(net, (1, 3, 8, 8))


def test_whole_classifier_points_to_features():
    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
            self.classifier = nn.Linear(8, 10)

        def forward(self, x):
            return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))

    with pytest.raises(ValueError, match=r"'adaptive_avg_pool2d' \(adaptive_avg_pool2d\) is not supported.*features"):
        receptive_field(Classifier(), (1, 3, 16, 16))
    assert receptive_field(Classifier().features, (1, 3, 16, 16)).size == 3


def test_non_square_kernels_strides_and_paddings_per_axis():
    net = nn.Sequential(nn.Conv2d(3, 3, (1, 3)), nn.MaxPool2d(2, (2, 1)), nn.Conv2d(3, 3, (5, 1), padding=(2, 0)))
    rf = receptive_field(net, (1, 3, 16, 16))
    # height: 1 -> 2 (pool, jump 2) -> 2 + 4 * 2 = 10; width: 3 -> 4 (pool, jump 1) -> 4
    assert [row.size_hw for row in rf.layers] == [(1, 3), (2, 4), (10, 4)]
    assert [row.stride_hw for row in rf.layers] == [(1, 1), (2, 1), (2, 1)]
    assert [row.start_hw for row in rf.layers] == [(0.0, 1.0), (0.5, 1.5), (0.5, 1.5)]
    assert (rf.size_hw, rf.stride_hw, rf.start_hw, rf.output_shape) == ((10, 4), (2, 1), (0.5, 1.5), (1, 3, 8, 13))
    assert rf.layers[0].kernel_size == (1, 3) and rf.layers[1].layer_stride == (2, 1)
    assert rf.layers[1].kernel_size == 2 and rf.layers[2].padding == (2, 0)   # square parameters stay ints
    assert rf.region(0, 0) == (-4, 0, 5, 3) and rf.region(2, 5) == (0, 5, 9, 8)
    check_against_gradients(net, rf, channels=3)


def test_size_and_stride_name_both_values_when_the_axes_differ():
    rf = receptive_field(nn.Sequential(nn.Conv2d(3, 3, (1, 3)), nn.MaxPool2d(2, (2, 1))), (1, 3, 8, 8))
    assert rf.size_hw == (2, 4) and rf.stride_hw == (2, 1)
    with pytest.raises(ValueError, match=r"size is 2 along the height and 4 along the width.*size_hw.*\(2, 4\)"):
        _ = rf.size
    with pytest.raises(ValueError, match=r"stride is 2 along the height and 1 along the width.*stride_hw"):
        _ = rf.stride
    with pytest.raises(ValueError, match=r"start is 0.5 along the height and 1.5 along the width"):
        _ = rf.start
    with pytest.raises(ValueError, match=r"layer '0'.*size is 1 along the height and 3 along the width"):
        _ = rf.layers[0].size
    assert rf.layers[0].stride == 1                          # this row's jump is the same on both axes
    assert repr(rf).startswith("ReceptiveField(size_hw=(2, 4), stride_hw=(2, 1), start_hw=(0.5, 1.5)")


def test_table_and_html_show_per_axis_values():
    rf = receptive_field(nn.Sequential(nn.Conv2d(3, 3, (1, 7), padding=(0, 3)), nn.MaxPool2d((3, 1), (2, 1))),
                         (1, 3, 16, 16))
    lines = rf.table().splitlines()
    assert lines[3].split() == ["0", "Conv2d", "1x7", "1", "0x3", "1", "(1,", "3,", "16,", "16)", "1x7", "1",
                                "0.0"]
    assert lines[4].split() == ["1", "MaxPool2d", "3x1", "2x1", "0", "1", "(1,", "3,", "7,", "16)", "3x7", "2x1",
                                "1.0,", "0.0"]
    assert len({len(line) for line in lines[:1] + lines[2:-1]}) == 1
    assert lines[-1] == "receptive field 3 x 7 pixels, stride 2 x 1"
    page = rf._repr_html_()
    assert "<td>1x7</td>" in page and "<td>3x7</td>" in page and "3 x 7 pixels, stride 2 x 1" in page


def test_factorised_1x7_then_7x1_sees_7x7():  # Inception v3 (Szegedy et al. 2016), deck 004
    net = nn.Sequential(nn.Conv2d(2, 2, (1, 7), padding=(0, 3)), nn.ReLU(), nn.Conv2d(2, 2, (7, 1), padding=(3, 0)))
    rf = receptive_field(net, (1, 2, 17, 17))
    assert [row.size_hw for row in rf.layers] == [(1, 7), (1, 7), (7, 7)]
    assert (rf.size, rf.stride, rf.start) == (7, 1, 0.0)      # square again: the single values work
    assert rf.region(8, 8) == (5, 5, 11, 11)
    check_against_gradients(net, rf, channels=2)


def inception_v3_trunk():
    """torchvision's Inception v3 up to Mixed_7c (meta device): the layers before global pooling."""
    with torch.device("meta"):
        net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    children = dict(net.named_children())
    names = list(children)
    return nn.Sequential(OrderedDict((name, children[name]) for name in names[:names.index("Mixed_7c") + 1]))


def test_inception_v3_trunk_1311_as_in_araujo_et_al():
    rf = receptive_field(inception_v3_trunk(), (1, 3, 299, 299))
    assert (rf.size, rf.stride, rf.output_shape) == (1311, 32, (1, 2048, 8, 8))  # Araujo et al. 2019, Table 1
    assert rf.size_hw == (1311, 1311)
    factorised = [row for row in rf.layers if row.kernel_size in ((1, 7), (7, 1))]
    assert len(factorised) == 4 * 6 + 2                    # Mixed_6b..6e: 2 + 4 each; Mixed_7a: 2
    assert any(row.size_hw[0] != row.size_hw[1] for row in factorised)   # the branches are non-square inside
    assert "1x7" in rf.table() and "7x1" in rf.table()


def test_merging_different_strides_is_an_error():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3)                         # 5 -> 3, stride 1
            self.b = nn.Conv2d(1, 1, 3, stride=2, padding=1)    # 5 -> 3, stride 2

        def forward(self, x):
            return self.a(x) + self.b(x)

    with pytest.raises(ValueError, match=r"layer 'add' \(add\) merges feature maps with different strides \[1, 2\]:"):
        receptive_field(Net(), (1, 1, 5, 5))

    class WidthOnly(nn.Module):  # both branches 3x6 from 6x6, with strides (2, 1) and (2, 2)
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3, stride=(2, 1), padding=1)
            self.b = nn.Sequential(nn.ZeroPad2d((4, 4, 0, 0)), nn.Conv2d(1, 1, 3, stride=2, padding=(1, 0)))

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x)], dim=1)

    with pytest.raises(ValueError, match=r"different strides \[1, 2\] along the width"):
        receptive_field(WidthOnly(), (1, 1, 6, 6))


def test_other_graph_errors():
    class Spatialcat(nn.Module):
        def forward(self, x):
            return torch.cat([x, x], dim=3)

    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    with pytest.raises(ValueError, match=r"'cat' \(cat\) is not supported.*spatial axis dim=3"):
        receptive_field(Spatialcat(), (1, 1, 4, 4))
    with pytest.raises(ValueError, match="model could not be traced with torch.fx"):
        receptive_field(Branchy(), (1, 1, 4, 4))
    with pytest.raises(ValueError, match="model must return one feature map"):
        receptive_field(Pair(), (1, 1, 4, 4))


# --------------------------------------------------------------------------- effective receptive field

def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 4, 3, padding=2, dilation=2))


def test_erf_shape_normalisation_and_support():
    net = small_net()
    input_size = (2, 3, 33, 33)
    erf = effective_receptive_field(net, input_size, seed=1)
    assert erf.shape == (33, 33) and erf.dtype == torch.float32
    assert erf.max() == 1 and erf.min() >= 0
    rf = receptive_field(net, input_size)
    top, left, bottom, right = rf.region(rf.output_shape[2] // 2, rf.output_shape[3] // 2)
    inside = torch.zeros(33, 33, dtype=torch.bool)
    inside[max(top, 0):bottom + 1, max(left, 0):right + 1] = True
    assert (erf[~inside] == 0).all() and (erf[inside] > 0).float().mean() > 0.5


def test_erf_of_a_linear_positive_net_is_the_receptive_field():
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.AvgPool2d(2), nn.Conv2d(1, 1, 3, padding=1))
    twin = positive_twin(net)
    rf = receptive_field(net, (1, 1, 16, 16))
    top, left, bottom, right = rf.region(4, 4)
    erf = effective_receptive_field(twin, (1, 1, 16, 16))
    assert erf.dtype == torch.float64
    support = (erf > 0).nonzero()
    assert support.min(0).values.tolist() == [top, left] and support.max(0).values.tolist() == [bottom, right]


def test_erf_of_any_unit_is_supported_on_its_region_clipped_to_the_image():
    net = nn.Sequential(nn.Conv2d(1, 1, (3, 5), padding=(1, 2)), nn.AvgPool2d((2, 1)), nn.Conv2d(1, 1, 3, padding=1))
    twin = positive_twin(net)
    input_size = (1, 1, 16, 12)
    rf = receptive_field(net, input_size)
    assert rf.size_hw == (8, 7) and rf.output_shape[-2:] == (8, 12)
    for unit in [(0, 0), (3, 5), (7, 11), (4, 6)]:
        top, left, bottom, right = rf.region(*unit)
        support = (effective_receptive_field(twin, input_size, unit=unit) > 0).nonzero()
        assert support.min(0).values.tolist() == [max(top, 0), max(left, 0)], unit
        assert support.max(0).values.tolist() == [min(bottom, 15), min(right, 11)], unit
    centre = effective_receptive_field(net, input_size, seed=2)
    assert torch.equal(centre, effective_receptive_field(net, input_size, seed=2, unit=(4, 6)))
    assert not torch.equal(centre, effective_receptive_field(net, input_size, seed=2, unit=(4, 5)))


def test_erf_bad_unit():
    net = nn.Conv2d(1, 1, 3)                                       # 8x8 -> 6x6
    with pytest.raises(ValueError, match=r"unit must be inside the output map of 6 x 6 units .*got \(6, 0\)"):
        effective_receptive_field(net, (1, 1, 8, 8), unit=(6, 0))
    with pytest.raises(ValueError, match=r"unit\[1\] must be an int >= 0, got -1"):
        effective_receptive_field(net, (1, 1, 8, 8), unit=(0, -1))
    with pytest.raises(TypeError, match=r"unit must be None \(the centre\) or a pair of ints \(row, col\), got 3"):
        effective_receptive_field(net, (1, 1, 8, 8), unit=3)
    with pytest.raises(TypeError, match=r"unit\[0\] must be an int, got float 1.0"):
        effective_receptive_field(net, (1, 1, 8, 8), unit=(1.0, 2))


def test_erf_deterministic_seeded_and_side_effect_free():
    net = small_net().train()
    net[3].eval()
    modes = [m.training for m in net.modules()]
    rng = torch.get_rng_state()
    first = effective_receptive_field(net, (2, 3, 17, 17), seed=3)
    assert torch.equal(first, effective_receptive_field(net, (2, 3, 17, 17), seed=3))
    assert not torch.equal(first, effective_receptive_field(net, (2, 3, 17, 17), seed=4))
    assert torch.equal(torch.get_rng_state(), rng)
    assert [m.training for m in net.modules()] == modes
    assert all(p.grad is None for p in net.parameters())


def test_erf_samples_and_reduce():
    net = small_net()
    one = effective_receptive_field(net, (1, 3, 17, 17))
    three = effective_receptive_field(net, (1, 3, 17, 17), num_samples=3)
    peak = effective_receptive_field(net, (1, 3, 17, 17), num_samples=3, reduce="max")
    assert not torch.equal(one, three)
    assert torch.equal(three > 0, peak > 0) and peak.max() == 1


def test_erf_bad_arguments():
    net = small_net()
    with pytest.raises(ValueError, match="seed must be an int >= 0, got -1"):
        effective_receptive_field(net, seed=-1)
    with pytest.raises(ValueError, match="num_samples must be an int >= 1, got 0"):
        effective_receptive_field(net, num_samples=0)
    with pytest.raises(ValueError, match="reduce must be one of 'sum', 'max', got 'mean'"):
        effective_receptive_field(net, reduce="mean")
    with pytest.raises(ValueError, match=r"model must return a 4-D feature map \(N, C, H, W\), got \(1, 8\)"):
        effective_receptive_field(nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    with torch.device("meta"):
        meta_net = small_net()
    with pytest.raises(ValueError, match="model is on the meta device"):
        effective_receptive_field(meta_net)


def test_a_squeeze_and_excitation_trunk_is_refused_with_the_reason():
    import torchvision

    with torch.device("meta"):
        trunk = torchvision.models.efficientnet_b0().features
    with pytest.raises(ValueError, match=r"inside the trunk.*squeeze-and-excitation.*whole image"):
        receptive_field(trunk)
