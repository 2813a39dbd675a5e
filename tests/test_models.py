"""Tests for course.models: blocks against closed forms and torchvision, the paper tables, output shapes."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torchvision
from hypothesis import given, settings, strategies as st
from torch import nn
from torch.nn import functional as F

import course.models as models
from course.complexity import conv_cost, count_mult_adds, count_parameters, depthwise_separable_cost
from course.models import (
    FCN,
    AsymmetricConv,
    BasicBlock,
    Bottleneck,
    DenseBlock,
    DepthwiseSeparableConv,
    FactorizedConv5x5,
    FireModule,
    InceptionModule,
    LeNet5,
    MobileNetV1,
    SegNet,
    UNet,
    bilinear_kernel,
    resnet18,
    resnet50,
    vgg16,
)
from course.receptive import effective_receptive_field, receptive_field

SMALL = settings(max_examples=10, deadline=None)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: one intra-op thread is faster, and far faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def on_meta(builder, *args, **kwargs):
    """Build a network without allocating or initialising weights (fast): only shapes are needed."""
    with torch.device("meta"):
        return builder(*args, **kwargs)


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_weights(module) -> int:
    """Weights of the convolutions only (no biases, no batch norm)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def bn_params(module) -> int:
    return sum(2 * m.num_features for m in module.modules() if isinstance(m, nn.BatchNorm2d))


def same_function(ours: nn.Module, theirs: nn.Module, x: torch.Tensor) -> None:
    """Load ``theirs``' weights (and BN statistics) into ``ours``; both must compute the same outputs."""
    theirs.eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.eval()
    with torch.no_grad():
        expected = theirs(x)
        got = ours(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def randomise_bn(module: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine weights, so that loading them is actually tested."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return module


# --------------------------------------------------------------------------- package

def test_import_loads_no_torchvision():
    code = "import sys, course.models; print('torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_public_names_are_exported():
    for name in ("BasicBlock", "Bottleneck", "InceptionModule", "FireModule", "DepthwiseSeparableConv",
                 "DenseBlock", "FactorizedConv5x5", "AsymmetricConv", "LeNet5", "MobileNetV1", "FCN",
                 "SegNet", "UNet", "resnet18", "resnet50", "vgg16", "ResNet"):
        assert name in models.__all__ and hasattr(models, name)


# --------------------------------------------------------------------------- ResNet blocks

@pytest.mark.parametrize("inplanes, planes, stride, projection", [
    (64, 64, 1, False), (64, 128, 2, True), (32, 48, 1, True),
])
def test_basic_block_shape_and_parameters(inplanes, planes, stride, projection):
    block = BasicBlock(inplanes, planes, stride=stride)
    out = block(torch.randn(2, inplanes, 9, 9))
    assert out.shape == (2, planes, -(-9 // stride), -(-9 // stride))
    assert (block.downsample is not None) == projection
    expected = 9 * inplanes * planes + 9 * planes * planes + 4 * planes
    if projection:
        expected += inplanes * planes + 2 * planes
    assert n_params(block) == expected


def test_basic_block_adds_the_identity():
    """With the residual branch silenced (last BN scale and shift 0), the block is relu(x)."""
    block = BasicBlock(8, 8).eval()
    nn.init.zeros_(block.bn2.weight)
    nn.init.zeros_(block.bn2.bias)
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(block(x), F.relu(x))


def test_bottleneck_shape_stride_in_3x3_and_parameters():
    block = Bottleneck(256, 128, stride=2)
    assert block(torch.randn(1, 256, 14, 14)).shape == (1, 512, 7, 7)
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)   # ResNet v1.5
    weights = 256 * 128 + 9 * 128 * 128 + 128 * 512 + 256 * 512          # three convs + projection
    assert n_params(block) == weights + 2 * (128 + 128 + 512 + 512)
    assert Bottleneck(256, 64).downsample is None                        # 256 -> 256: identity


@pytest.mark.parametrize("block_name, args", [
    ("BasicBlock", (64, 128, 2)),
    ("Bottleneck", (256, 128, 2)),
    ("Bottleneck", (64, 64, 1)),
])
def test_blocks_compute_torchvision_blocks(block_name, args):
    inplanes, planes, stride = args
    ours = getattr(models, block_name)(inplanes, planes, stride=stride)
    theirs_cls = getattr(torchvision.models.resnet, block_name)
    out = planes * theirs_cls.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
    theirs = randomise_bn(theirs_cls(inplanes, planes, stride=stride, downsample=downsample))
    same_function(ours, theirs, torch.randn(2, inplanes, 10, 10))


# --------------------------------------------------------------------------- ResNets

@pytest.mark.parametrize("builder, tv_builder, expected", [
    (resnet18, torchvision.models.resnet18, 11_689_512),
    (resnet50, torchvision.models.resnet50, 25_557_032),
])
def test_resnet_parameter_counts_equal_torchvision(builder, tv_builder, expected):
    ours, theirs = on_meta(builder), on_meta(tv_builder)
    assert count_parameters(ours) == expected == count_parameters(theirs)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
           [(k, v.shape) for k, v in theirs.state_dict().items()]


@pytest.mark.parametrize("builder, tv_builder", [
    (resnet18, torchvision.models.resnet18),
    (resnet50, torchvision.models.resnet50),
])
def test_resnet_with_torchvision_weights_computes_torchvision_outputs(builder, tv_builder):
    torch.manual_seed(0)
    theirs = randomise_bn(tv_builder(num_classes=10))
    ours = on_meta(builder, num_classes=10).to_empty(device="cpu")   # every value comes from load_state_dict
    same_function(ours, theirs, torch.randn(2, 3, 64, 64))


@pytest.mark.parametrize("builder, size", [(resnet18, 435), (resnet50, 427)])
def test_resnet_features_receptive_field(builder, size):
    # by hand: the stem (7x7/2 conv, 3x3/2 pool) sees 11 pixels at jump 4; a 3x3 conv adds 2 * jump
    # (1x1 convs and shortcuts add nothing). ResNet-18, two 3x3 per block:
    #   11 + 4*8 + (8 + 3*16) + (16 + 3*32) + (32 + 3*64) = 435
    # ResNet-50, one 3x3 per bottleneck: 11 + 3*8 + (8 + 3*16) + (16 + 5*32) + (32 + 2*64) = 427
    net = on_meta(builder)
    rf = receptive_field(net.features)
    assert (rf.size, rf.stride, rf.output_shape[1:]) == (size, 32, (512 * net.layer4[0].expansion, 7, 7))
    # .features shares the network's modules: it is the trunk, not a copy
    assert net.features[4] is net.layer1


def test_resnet_output_shape_and_grayscale_input():
    net = resnet18(num_classes=7, in_channels=1)
    assert net(torch.randn(2, 1, 65, 47)).shape == (2, 7)


# --------------------------------------------------------------------------- Inception

def test_inception_module_channels_and_parameters():
    # GoogLeNet inception (3a), paper version: 5x5 branch, conv + bias + ReLU, no BN
    m = InceptionModule(192, 64, 96, 128, 16, 32, 32, batch_norm=False)
    assert m.out_channels == 64 + 128 + 32 + 32 == 256
    assert m(torch.randn(1, 192, 28, 28)).shape == (1, 256, 28, 28)
    assert m.branch3[1].conv.kernel_size == (5, 5)
    weights = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32
    biases = 64 + 96 + 128 + 16 + 32 + 32
    assert conv_weights(m) == weights == 163_328
    assert n_params(m) == weights + biases
    # the reductions are the point: without them the 3x3 and 5x5 see all 192 channels
    assert weights < 192 * 64 + 9 * 192 * 128 + 25 * 192 * 32 + 192 * 32


@pytest.mark.parametrize("big, size", [(5, 5), (3, 3)])
def test_inception_module_receptive_field_is_its_largest_branch(big, size):
    m = on_meta(InceptionModule, 16, 4, 4, 4, 4, 4, 4, big_kernel_size=big)
    rf = receptive_field(m, (1, 16, 12, 12))   # branches: 1, 3, big, pool 3 -> 1x1: 3
    assert (rf.size, rf.stride, rf.output_shape) == (size, 1, (1, 16, 12, 12))


def test_inception_module_computes_torchvision_inception():
    from torchvision.models.googlenet import Inception

    args = (192, 64, 96, 128, 16, 32, 32)
    theirs = randomise_bn(Inception(*args))
    same_function(InceptionModule(*args, big_kernel_size=3), theirs, torch.randn(2, 192, 9, 11))


def test_factorized_5x5_same_receptive_field_fewer_weights():
    c = 16
    five = nn.Conv2d(c, c, 5, padding=2, bias=False)
    fact = FactorizedConv5x5(c, c, bias=False)
    x = torch.randn(1, c, 13, 13)
    assert fact(x).shape == five(x).shape
    rf_five = receptive_field(five, (1, c, 13, 13))
    rf_fact = receptive_field(fact, (1, c, 13, 13))
    assert (rf_fact.size, rf_fact.stride) == (rf_five.size, rf_five.stride) == (5, 1)
    assert conv_weights(fact) == 18 * c * c < conv_weights(five) == 25 * c * c
    # with stride 2 the stride goes last, so the field stays 5x5
    fact2, five2 = FactorizedConv5x5(c, c, stride=2), nn.Conv2d(c, c, 5, stride=2, padding=2)
    assert fact2(x).shape == five2(x).shape
    assert receptive_field(fact2, (1, c, 13, 13)).size == 5


@pytest.mark.parametrize("n", [3, 5, 7])
def test_asymmetric_conv_same_field_fewer_weights(n):
    c = 4
    full = nn.Conv2d(c, c, n, padding=n // 2, bias=False)
    asym = AsymmetricConv(c, c, kernel_size=n, bias=False)
    x = torch.randn(1, c, 15, 15)
    assert asym(x).shape == full(x).shape == x.shape
    assert conv_weights(asym) == 2 * n * c * c < conv_weights(full) == n * n * c * c
    # the same n x n field, by the per-axis recurrence and by where the gradient reaches
    for module in (full, asym):
        rf = receptive_field(module, (1, c, 15, 15))
        assert rf.size_hw == (n, n) and rf.size == n
        assert [row.kernel_size for row in rf.layers if row.kernel_size not in (None, 1)] in ([n], [(1, n), (n, 1)])
        erf = effective_receptive_field(module, (1, c, 15, 15), num_samples=16, reduce="max")
        rows, cols = torch.nonzero(erf, as_tuple=True)
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (7 - n // 2, 7 + n // 2, 7 - n // 2, 7 + n // 2)
        assert int((erf > 0).sum()) == n * n


# --------------------------------------------------------------------------- DenseNet, SqueezeNet, MobileNet blocks

def test_dense_block_channels_concatenation_and_parameters():
    L, c0, k = 4, 10, 6
    block = DenseBlock(L, c0, growth_rate=k)
    x = torch.randn(2, c0, 7, 7)
    out = block.eval()(x)
    assert block.out_channels == c0 + L * k and out.shape == (2, c0 + L * k, 7, 7)
    torch.testing.assert_close(out[:, :c0], x)   # the input is passed on untouched
    expected = sum(2 * (c0 + i * k) + (c0 + i * k) * 4 * k + 2 * 4 * k + 9 * 4 * k * k for i in range(L))
    assert n_params(block) == expected


def test_dense_block_computes_torchvision_dense_block():
    from torchvision.models.densenet import _DenseBlock

    theirs = randomise_bn(_DenseBlock(num_layers=3, num_input_features=16, bn_size=4, growth_rate=8, drop_rate=0.0))
    same_function(DenseBlock(3, 16, growth_rate=8), theirs, torch.randn(2, 16, 6, 6))


def test_fire_module_parameters_shape_and_torchvision():
    from torchvision.models.squeezenet import Fire

    fire = FireModule(128, 32, 128, 128)    # SqueezeNet's fire4
    assert fire(torch.randn(1, 128, 13, 13)).shape == (1, 256, 13, 13)
    assert n_params(fire) == (128 * 32 + 32) + (32 * 128 + 128) + (9 * 32 * 128 + 128) == 45_344
    same_function(FireModule(128, 32, 128, 128), Fire(128, 32, 128, 128), torch.randn(2, 128, 5, 5))


@pytest.mark.parametrize("m, n, size, stride", [(32, 64, 16, 1), (64, 128, 16, 2), (512, 512, 14, 1)])
def test_depthwise_separable_conv_matches_closed_forms(m, n, size, stride):
    block = on_meta(DepthwiseSeparableConv, m, n, stride=stride)
    out_size = -(-size // stride)
    mult_adds, params = depthwise_separable_cost(3, m, n, out_size)
    assert count_parameters(block) == params + 2 * m + 2 * n       # + BN scale and shift
    assert count_mult_adds(block, (1, m, size, size)) == mult_adds
    assert block.depthwise.groups == m and block.depthwise.bias is None and block.pointwise.bias is None
    # ~ 1/N + 1/9 of a standard convolution
    assert mult_adds / conv_cost(3, m, n, out_size)[0] == pytest.approx(1 / n + 1 / 9)


# --------------------------------------------------------------------------- MobileNet v1

def mobilenet_closed_form(a: float = 1.0, resolution: int = 224) -> tuple[int, int]:
    """Sum of the paper's per-layer formulas (course.complexity closed forms) over Table 1."""
    r = resolution / 224
    side = round(r * 112)
    mult_adds, params = conv_cost(3, 3, round(32 * a), side)
    params += 2 * round(32 * a)                                   # BN
    channels = 32
    sizes = {1: 112, 2: 56, 3: 56, 4: 28, 5: 28}
    for i, (out, _stride) in enumerate(models.MOBILENET_V1_LAYERS, start=1):
        d_f = sizes.get(i, 14 if i <= 11 else 7)                  # output side at 224
        ma, p = depthwise_separable_cost(3, channels, out, d_f, width_multiplier=a, resolution_multiplier=r)
        mult_adds += ma
        params += p + 2 * round(channels * a) + 2 * round(out * a)  # two BNs
        channels = out
    mult_adds += round(1024 * a) * 1000
    params += round(1024 * a) * 1000 + 1000
    return mult_adds, params


@pytest.mark.parametrize("a, paper_mult_adds, paper_params", [
    (1.0, 569, 4.2), (0.75, 325, 2.6), (0.5, 149, 1.3), (0.25, 41, 0.5),
])
def test_mobilenet_table_6_width_multiplier(a, paper_mult_adds, paper_params):
    net = on_meta(MobileNetV1, width_multiplier=a)
    mult_adds, params = count_mult_adds(net), count_parameters(net)
    assert abs(mult_adds / 1e6 - paper_mult_adds) / paper_mult_adds < 0.01
    assert round(params / 1e6, 1) == paper_params
    assert (mult_adds, params) == mobilenet_closed_form(a)


@pytest.mark.parametrize("resolution, paper_mult_adds", [(224, 569), (192, 418), (160, 290), (128, 186)])
def test_mobilenet_table_7_resolution(resolution, paper_mult_adds):
    net = on_meta(MobileNetV1)
    mult_adds = count_mult_adds(net, (1, 3, resolution, resolution))
    assert abs(mult_adds / 1e6 - paper_mult_adds) / paper_mult_adds < 0.01
    assert mult_adds == mobilenet_closed_form(1.0, resolution)[0]
    assert round(count_parameters(net) / 1e6, 1) == 4.2           # resolution does not change parameters


def test_mobilenet_table_4_full_convolution():
    full = on_meta(MobileNetV1, depthwise=False)
    mult_adds, params = count_mult_adds(full), count_parameters(full)
    assert abs(mult_adds / 1e6 - 4866) / 4866 < 0.01
    assert abs(params / 1e6 - 29.3) / 29.3 < 0.01
    assert not any(isinstance(m, nn.Conv2d) and m.groups > 1 for m in full.modules())
    separable = on_meta(MobileNetV1)
    assert count_mult_adds(separable) < mult_adds / 8             # about 8.6x fewer mult-adds


def test_mobilenet_layers_and_receptive_field():
    net = on_meta(MobileNetV1)
    assert len(net.features) == 14 and isinstance(net.classifier, nn.Linear)
    assert sum(isinstance(m, DepthwiseSeparableConv) for m in net.features) == 13
    rf = receptive_field(net.features)
    # by hand: 3 (conv/2) +4 +4 (/2) +8 +8 (/2) +16 +16 (/2) +5*32 +32 (/2) +64 = 315
    assert (rf.size, rf.stride, rf.output_shape) == (315, 32, (1, 1024, 7, 7))


@pytest.mark.parametrize("a, size", [(0.25, 128), (0.5, 97), (0.3, 64)])
def test_mobilenet_forward_shapes_at_small_widths(a, size):
    net = MobileNetV1(width_multiplier=a, num_classes=5, in_channels=1)
    assert net(torch.randn(2, 1, size, size)).shape == (2, 5)
    assert net.classifier.in_features == round(1024 * a)


# --------------------------------------------------------------------------- LeNet-5 and VGG-16

def test_lenet5_shapes_parameters_and_receptive_field():
    net = LeNet5()
    assert net(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert net(torch.randn(3, 1, 32, 32)).shape == (3, 10)
    assert count_parameters(net) == 156 + 2_416 + 48_120 + 10_164 + 850 == 61_706
    assert LeNet5(num_classes=4, in_channels=3)(torch.randn(1, 3, 32, 32)).shape == (1, 4)
    rf = receptive_field(net.features, (1, 1, 32, 32))
    assert (rf.size, rf.stride, rf.output_shape) == (16, 4, (1, 16, 5, 5))   # 5, 6, 14, 16
    # a 28x28 digit is the same as that digit in the middle of a 32x32 field
    x = torch.randn(1, 1, 28, 28)
    torch.testing.assert_close(net(x), net(F.pad(x, (2, 2, 2, 2))))


def test_vgg16_parameter_count_matches_syllabus():
    net = on_meta(vgg16)
    assert count_parameters(net) == 138_357_544
    assert count_parameters(net.features) == 14_714_688
    fcn = on_meta(FCN, 21)
    assert count_parameters(fcn.features) == 14_714_688
    assert [type(m) for m in fcn.features] == [type(m) for m in net.features]


# --------------------------------------------------------------------------- FCN

def test_fcn_features_are_vgg16_features():
    torch.manual_seed(0)
    theirs = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])   # vgg16().features
    ours = on_meta(FCN, 21)
    ours.features.to_empty(device="cpu")   # allocate the trunk only, not fc6/fc7's 120 M weights
    same_function(ours.features, theirs, torch.randn(1, 3, 32, 32))
    rf = receptive_field(on_meta(FCN, 21).features)
    assert (rf.size, rf.stride) == (212, 32)


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
def test_fcn_parameter_count_is_backbone_plus_score_and_upsampling(variant):
    nc = 21
    net = on_meta(FCN, nc, variant=variant)
    fc6_fc7 = (512 * 49 * 4096 + 4096) + (4096 * 4096 + 4096)
    score = 4096 * nc + nc
    extra = {
        "32s": 64 * 64 * nc * nc,                                        # one x32 upsampler
        "16s": (512 * nc + nc) + 4 * 4 * nc * nc + 32 * 32 * nc * nc,    # pool4 scores, x2, x16
        "8s": (512 * nc + nc) + (256 * nc + nc) + 2 * 4 * 4 * nc * nc + 16 * 16 * nc * nc,
    }[variant]
    assert count_parameters(net) == 14_714_688 + fc6_fc7 + score + extra
    ups = [m for m in net.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert sorted(m.stride[0] for m in ups) == {"32s": [32], "16s": [2, 16], "8s": [2, 2, 8]}[variant]


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
@pytest.mark.parametrize("size", [(64, 64), (50, 70), (33, 31), (1, 1), (96, 32)])
def test_fcn_output_has_input_size(variant, size):
    net = FCN(num_classes=4, variant=variant, width=1 / 16)
    assert net(torch.randn(2, 3, *size)).shape == (2, 4, *size)


@SMALL
@given(h=st.integers(1, 70), w=st.integers(1, 70), variant=st.sampled_from(["32s", "16s", "8s"]))
def test_fcn_any_size(h, w, variant):
    net = FCN(2, variant=variant, in_channels=1, width=1 / 32)
    assert net(torch.zeros(1, 1, h, w)).shape == (1, 2, h, w)


def test_fcn_upsampling_starts_bilinear():
    net = FCN(3, "32s", width=1 / 16)
    x = torch.randn(1, 3, 4, 5)
    up = net.upscore(x)
    expected = F.interpolate(x, scale_factor=32, mode="bilinear", align_corners=False)
    assert up.shape == expected.shape
    torch.testing.assert_close(up[..., 16:-16, 16:-16], expected[..., 16:-16, 16:-16])
    kernel = bilinear_kernel(2, 4)
    assert kernel[0, 1].abs().sum() == 0 and kernel[1, 0].abs().sum() == 0   # channels stay apart


def test_fcn_skips_start_at_zero_but_learn():
    net = FCN(3, "8s", width=1 / 16)
    for layer in (net.score_pool3, net.score_pool4):
        assert layer.weight.abs().sum() == 0
    net(torch.randn(2, 3, 64, 64)).sum().backward()
    for layer in (net.score_pool3, net.score_pool4):
        assert layer.weight.grad.abs().sum() > 0


# --------------------------------------------------------------------------- SegNet

def test_segnet_parameters_and_structure():
    net = on_meta(SegNet, 21)
    vgg_conv_biases = 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512            # 4,224
    # encoder = VGG-16's 13 convolutions, without biases (BN follows) and with BN's 2 per channel
    assert count_parameters(net.encoder) == 14_714_688 - vgg_conv_biases + 2 * vgg_conv_biases
    assert count_parameters(net) == 29_447_189
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in net.modules())   # nothing learned to upsample
    assert sum(isinstance(m, nn.Conv2d) for m in net.modules()) == 26          # 13 encoder + 13 decoder


def test_segnet_unpools_with_the_encoder_indices():
    net = SegNet(3, base_channels=4).eval()
    seen = []
    net.unpool.register_forward_hook(lambda module, inputs, output: seen.append((inputs[0], output)))
    x = torch.randn(1, 3, 37, 50)
    assert net(x).shape == (1, 3, 37, 50)
    assert [tuple(out.shape[-2:]) for _, out in seen] == [(3, 4), (5, 7), (10, 13), (19, 25), (37, 50)]
    for pooled, unpooled in seen:   # sparse: at most one non-zero per pooled value
        assert int((unpooled != 0).sum()) <= pooled.numel()
        torch.testing.assert_close(unpooled.sum(), pooled.sum())


@pytest.mark.parametrize("size", [(64, 64), (45, 61), (1, 1), (7, 100), (33, 32)])
def test_segnet_output_has_input_size(size):
    net = SegNet(num_classes=5, in_channels=2, base_channels=4)
    assert net(torch.randn(2, 2, *size)).shape == (2, 5, *size)


# --------------------------------------------------------------------------- U-Net

def unet_closed_form(in_channels, num_classes, base, depth, batch_norm=True, bilinear=False):
    def double(a, b):
        return 9 * a * b + 9 * b * b + (4 * b if batch_norm else 2 * b)

    c = [base * 2**i for i in range(depth + 1)]
    total = double(in_channels, c[0]) + sum(double(c[i - 1], c[i]) for i in range(1, depth + 1))
    for i in range(1, depth + 1):
        up = c[i] * c[i - 1] * (1 if bilinear else 4) + c[i - 1]   # 1x1 conv or 2x2 transposed conv
        total += up + double(2 * c[i - 1], c[i - 1])
    return total + c[0] * num_classes + num_classes


@pytest.mark.parametrize("kwargs", [
    dict(in_channels=3, num_classes=2),
    dict(in_channels=1, num_classes=2, batch_norm=False),
    dict(in_channels=3, num_classes=2, bilinear=True),
    dict(in_channels=3, num_classes=4, base_channels=8, depth=3),
])
def test_unet_parameter_count(kwargs):
    net = on_meta(UNet, **kwargs)
    args = dict(base_channels=64, depth=4, batch_norm=True, bilinear=False) | kwargs
    assert count_parameters(net) == unet_closed_form(args["in_channels"], args["num_classes"],
                                                     args["base_channels"], args["depth"],
                                                     args["batch_norm"], args["bilinear"])
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == args["batch_norm"]


def test_unet_default_is_the_paper_size():
    assert count_parameters(on_meta(UNet, 3, 2)) == 31_037_698


@pytest.mark.parametrize("bilinear", [False, True])
@pytest.mark.parametrize("size", [(64, 64), (50, 70), (1, 1), (17, 33)])
def test_unet_output_has_input_size(size, bilinear):
    net = UNet(3, 4, base_channels=8, depth=3, bilinear=bilinear)
    assert net(torch.randn(2, 3, *size)).shape == (2, 4, *size)


@SMALL
@given(h=st.integers(1, 50), w=st.integers(1, 50), depth=st.integers(1, 4))
def test_unet_any_size(h, w, depth):
    net = UNet(1, 2, base_channels=2, depth=depth)   # batch 2: BN needs 2 values at a 1x1 bottom
    assert net(torch.zeros(2, 1, h, w)).shape == (2, 2, h, w)


def test_unet_small_trains_one_step():
    torch.manual_seed(0)
    net = UNet(3, 4, base_channels=8, depth=3)
    x, target = torch.randn(8, 3, 64, 64), torch.randint(0, 4, (8, 64, 64))
    optimiser = torch.optim.SGD(net.parameters(), lr=0.1)
    losses = []
    for _ in range(3):
        loss = F.cross_entropy(net(x), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("build, error, match", [
    (lambda: FCN(21, variant="4s"), ValueError, r"variant must be one of .*got '4s'"),
    (lambda: FCN(0), ValueError, r"num_classes must be an int >= 1, got 0"),
    (lambda: FCN(3, width=0), ValueError, r"width must be a number > 0.0, got 0"),
    (lambda: FCN(3, width=1e-4), ValueError, r"width must leave every layer at least 1 channel.*0.0001"),
    (lambda: FCN(3, dropout=1.0), ValueError, r"dropout must be a number in \[0, 1\), got 1.0"),
    (lambda: MobileNetV1(width_multiplier=0), ValueError, r"width_multiplier must be a number > 0.0, got 0"),
    (lambda: MobileNetV1(width_multiplier=-0.5), ValueError, r"width_multiplier .*got -0.5"),
    (lambda: MobileNetV1(width_multiplier=0.01), ValueError, r"width_multiplier=0.01"),
    (lambda: MobileNetV1(width_multiplier="1"), TypeError, r"width_multiplier must be a number, got str"),
    (lambda: MobileNetV1(num_classes=0), ValueError, r"num_classes must be an int >= 1, got 0"),
    (lambda: MobileNetV1(depthwise=1), TypeError, r"depthwise must be a bool, got int 1"),
    (lambda: UNet(3, 2, depth=0), ValueError, r"depth must be an int >= 1, got 0"),
    (lambda: UNet(3, 0), ValueError, r"num_classes must be an int >= 1, got 0"),
    (lambda: UNet(3, 2, base_channels=2.5), TypeError, r"base_channels must be an int, got float 2.5"),
    (lambda: SegNet(0), ValueError, r"num_classes must be an int >= 1, got 0"),
    (lambda: SegNet(2, in_channels=0), ValueError, r"in_channels must be an int >= 1, got 0"),
    (lambda: LeNet5(num_classes=0), ValueError, r"num_classes must be an int >= 1, got 0"),
    (lambda: resnet18(num_classes=0), ValueError, r"num_classes must be an int >= 1, got 0"),
    (lambda: models.ResNet(BasicBlock, [2, 2, 2]), ValueError, r"layers must be a list of 4 ints"),
    (lambda: models.ResNet(nn.Conv2d, [2, 2, 2, 2]), TypeError, r"block must be a residual block class"),
    (lambda: BasicBlock(64, 0), ValueError, r"planes must be an int >= 1, got 0"),
    (lambda: Bottleneck(64, 64, stride=0), ValueError, r"stride must be an int >= 1, got 0"),
    (lambda: InceptionModule(192, 64, 96, 128, 16, 32, 32, big_kernel_size=7), ValueError,
     r"big_kernel_size must be one of 3, 5, got 7"),
    (lambda: InceptionModule(192, 64, 0, 128, 16, 32, 32), ValueError, r"ch3x3red must be an int >= 1, got 0"),
    (lambda: AsymmetricConv(4, 4, kernel_size=4), ValueError, r"kernel_size must be an odd int .*got 4"),
    (lambda: FactorizedConv5x5(4, 4, mid_channels=0), ValueError, r"mid_channels must be an int >= 1, got 0"),
    (lambda: DenseBlock(0, 16), ValueError, r"num_layers must be an int >= 1, got 0"),
    (lambda: DenseBlock(2, 16, drop_rate=1.0), ValueError, r"drop_rate must be a number in \[0, 1\), got 1.0"),
    (lambda: FireModule(96, 16, 64, -1), ValueError, r"expand3x3_channels must be an int >= 1, got -1"),
    (lambda: DepthwiseSeparableConv(32, 64, stride=True), TypeError, r"stride must be an int, got bool True"),
    (lambda: vgg16(num_classes=0), ValueError, r"num_classes must be an int >= 1, got 0"),
])
def test_bad_arguments_name_the_argument_and_value(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize("net, x", [
    (lambda: LeNet5(), torch.zeros(1, 1, 30, 30)),
    (lambda: LeNet5(in_channels=3), torch.zeros(1, 1, 32, 32)),
    (lambda: FCN(2, width=1 / 32), torch.zeros(1, 1, 32, 32)),
    (lambda: SegNet(2, base_channels=2), torch.zeros(3, 32, 32)),
    (lambda: UNet(3, 2, base_channels=2, depth=1), torch.zeros(1, 4, 8, 8)),
])
def test_bad_input_shape_names_x_and_shape(net, x):
    with pytest.raises(ValueError, match=r"x must have shape .*got \(" + ", ".join(map(str, x.shape))):
        net()(x)


# --------------------------------------------------------------------------- MobileNet v2

def _copy_in_order(ours: torch.nn.Module, theirs: torch.nn.Module) -> None:
    """Load ``theirs``' state into ``ours`` entry by entry (same layers in the same order, other names)."""
    keys, values = list(ours.state_dict()), list(theirs.state_dict().values())
    assert len(keys) == len(values)
    ours.load_state_dict(dict(zip(keys, values, strict=True)))


@pytest.mark.parametrize("in_channels, out_channels, stride, t, tv_index", [
    (32, 16, 1, 1, 1),    # t = 1: no expansion layer
    (16, 24, 2, 6, 2),    # stride 2, no shortcut
    (24, 24, 1, 6, 3),    # the shortcut
    (160, 320, 1, 6, 17),
])
def test_inverted_residual_computes_torchvisions_block(in_channels, out_channels, stride, t, tv_index):
    from course.models import InvertedResidual

    theirs = torchvision.models.mobilenet_v2().features[tv_index].eval()
    ours = InvertedResidual(in_channels, out_channels, stride=stride, expand_ratio=t).eval()
    assert ours.use_residual == theirs.use_res_connect
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    _copy_in_order(ours, theirs)
    x = torch.randn(2, in_channels, 9, 7, generator=torch.Generator().manual_seed(tv_index))
    torch.testing.assert_close(ours(x), theirs(x))
    assert ours(x).shape == (2, out_channels, -(-9 // stride), -(-7 // stride))


def test_inverted_residual_projection_is_linear():
    """The linear bottleneck: the block's last layer is BN, no ReLU, so outputs can be negative."""
    from course.models import InvertedResidual

    block = InvertedResidual(8, 16, expand_ratio=6)   # no shortcut: the output is the projection's
    assert not any(isinstance(m, (torch.nn.ReLU, torch.nn.ReLU6)) for m in block.project.modules())
    assert block(torch.randn(2, 8, 5, 5)).min() < 0   # a ReLU there would clip these
    with pytest.raises(ValueError, match="stride"):
        InvertedResidual(8, 8, stride=3)
    with pytest.raises(ValueError, match="expand_ratio"):
        InvertedResidual(8, 8, expand_ratio=0)


def test_mobilenet_v2_is_torchvisions_network():
    from course.models import mobilenet_v2
    from course.receptive import receptive_field

    ours, theirs = mobilenet_v2().eval(), torchvision.models.mobilenet_v2().eval()
    assert sum(p.numel() for p in ours.parameters()) == 3_504_872
    _copy_in_order(ours, theirs)
    x = torch.randn(2, 3, 64, 48, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ours(x), theirs(x))
    field = receptive_field(ours.features, input_size=(1, 3, 224, 224))
    assert (field.size, field.stride) == (491, 32)


def test_fcn_batch_norm_trunk_is_vgg16_bn_layout():
    """FCN(batch_norm=True).features has the layers and parameter shapes of torchvision's vgg16_bn."""
    from course.models import FCN

    with torch.device("meta"):
        ours = FCN(21, "8s", batch_norm=True).features
        theirs = torchvision.models.vgg16_bn(weights=None).features
    assert [type(m) for m in ours] == [type(m) for m in theirs]
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]
    assert FCN(3, "8s", width=1 / 16)._pool3_end == 17 and FCN(3, "8s", width=1 / 16)._pool4_end == 24
