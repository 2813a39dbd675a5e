"""Building blocks of classic CNN architectures, one class per idea.

=========================  ============================================  ==================
block                      idea                                          paper
=========================  ============================================  ==================
``BasicBlock``             ``relu(F(x) + x)``: learn a residual          ResNet-18/34
``Bottleneck``             1x1 reduce, 3x3, 1x1 expand, plus ``x``       ResNet-50/101/152
``InceptionModule``        parallel 1x1, 3x3, 5x5, pool branches         GoogLeNet (v1)
``FactorizedConv5x5``      two 3x3 convolutions instead of one 5x5       Inception v3
``AsymmetricConv``         1xn then nx1 instead of nxn                   Inception v3
``DenseBlock``             each layer sees all previous feature maps     DenseNet
``FireModule``             squeeze 1x1, expand 1x1 and 3x3               SqueezeNet
``DepthwiseSeparableConv`` per-channel 3x3, then 1x1 across channels     MobileNet v1
``InvertedResidual``       1x1 expand, depthwise 3x3, linear 1x1 + ``x`` MobileNet v2
=========================  ============================================  ==================

Every block maps ``(N, C_in, H, W)`` to ``(N, out_channels, H', W')`` with
``H' = H`` at stride 1 and ``H' = ceil(H / 2)`` at stride 2, and has an
``out_channels`` attribute, so blocks can be stacked. Where torchvision has
the same block, the submodules carry the same names, so
``ours.load_state_dict(theirs.state_dict())`` works and both compute the same
function (the tests check this).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from course._checks import check_bool, check_choice, check_float, check_int

__all__ = [
    "conv_bn_relu",
    "BasicBlock",
    "Bottleneck",
    "InceptionModule",
    "FactorizedConv5x5",
    "AsymmetricConv",
    "DenseBlock",
    "FireModule",
    "DepthwiseSeparableConv",
    "InvertedResidual",
    "scaled_channels",
]


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0, groups: int = 1,
                 batch_norm: bool = True, bn_eps: float = 1e-5) -> nn.Sequential:
    """Convolution, batch norm, ReLU: the unit most modern CNNs are made of.

    Returns ``nn.Sequential`` with children ``conv``, ``bn``, ``relu`` (the
    names of torchvision's ``BasicConv2d``). The convolution has no bias when
    batch norm follows (the norm's shift ``beta`` plays that role); with
    ``batch_norm=False`` it is ``conv`` (with bias) and ``relu`` only.

    >>> conv_bn_relu(3, 8, 3, padding=1)(torch.zeros(1, 3, 5, 5)).shape
    torch.Size([1, 8, 5, 5])
    """
    in_channels = check_int("in_channels", in_channels, minimum=1)
    out_channels = check_int("out_channels", out_channels, minimum=1)
    groups = check_int("groups", groups, minimum=1)
    check_bool("batch_norm", batch_norm)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["conv"] = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                               groups=groups, bias=not batch_norm)
    if batch_norm:
        layers["bn"] = nn.BatchNorm2d(out_channels, eps=bn_eps)
    layers["relu"] = nn.ReLU(inplace=True)
    return nn.Sequential(layers)


def scaled_channels(name: str, multiplier: float, channels: int) -> int:
    """``round(multiplier * channels)``, which must stay >= 1 (``name`` is the multiplier's argument)."""
    scaled = round(multiplier * channels)
    if scaled < 1:
        raise ValueError(f"{name} must leave every layer at least 1 channel, got {name}={multiplier}: "
                         f"round({multiplier} * {channels}) = {scaled}")
    return scaled


# --------------------------------------------------------------------------- ResNet

def _shortcut(in_channels: int, out_channels: int, stride: int, downsample: nn.Module | None) -> nn.Module | None:
    """The identity (``None``) when shapes agree, else a 1x1 convolution + BN projection."""
    if downsample is not None:
        if not isinstance(downsample, nn.Module):
            raise TypeError(f"downsample must be an nn.Module or None, got {type(downsample).__name__}")
        return downsample
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class BasicBlock(nn.Module):
    """ResNet's basic residual block (ResNet-18 and -34): ``relu(F(x) + shortcut(x))``.

    ``F`` is 3x3 conv (stride ``stride``) - BN - ReLU - 3x3 conv - BN. The
    layers only have to learn the *residual* ``F(x) = H(x) - x``; the
    identity path lets the signal and its gradient skip them, which is what
    makes networks of 100+ layers trainable (He et al., 2016).

    Shapes: ``(N, inplanes, H, W) -> (N, planes, ceil(H/stride), ceil(W/stride))``.
    The shortcut is the identity when the shape is unchanged; otherwise (stride 2
    or a new channel count) a 1x1 convolution with stride + BN, the "projection
    shortcut" (option B of the paper). Pass ``downsample`` to choose another.
    Arguments, attribute names and ``expansion = 1`` mirror
    ``torchvision.models.resnet.BasicBlock``.

    Parameters: ``9*inplanes*planes + 9*planes**2`` conv weights, ``4*planes``
    BN weights, plus ``inplanes*planes + 2*planes`` for a projection.

    >>> BasicBlock(64, 128, stride=2)(torch.zeros(1, 64, 56, 56)).shape
    torch.Size([1, 128, 28, 28])
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        inplanes = check_int("inplanes", inplanes, minimum=1)
        planes = check_int("planes", planes, minimum=1)
        stride = check_int("stride", stride, minimum=1)
        self.out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(inplanes, self.out_channels, stride, downsample)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(F(x) + shortcut(x))``: ``(N, inplanes, H, W) -> (N, planes, H', W')``."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """ResNet's bottleneck block (ResNet-50/101/152): 1x1 reduce, 3x3, 1x1 expand, plus shortcut.

    ``F`` is 1x1 conv to ``width`` channels - BN - ReLU - 3x3 conv (stride
    ``stride``) - BN - ReLU - 1x1 conv to ``planes * 4`` channels - BN, and
    the output is ``relu(F(x) + shortcut(x))``. The 3x3 convolution, the
    expensive one, works on the reduced ``width = planes * base_width/64 * groups``
    channels. The stride sits in the 3x3 convolution ("ResNet v1.5", as in
    torchvision; the original paper put it in the first 1x1, which throws away
    3/4 of the input unseen).

    Shapes: ``(N, inplanes, H, W) -> (N, 4*planes, ceil(H/stride), ceil(W/stride))``.
    Arguments (``groups`` and ``base_width`` give ResNeXt and Wide ResNet),
    attribute names and ``expansion = 4`` mirror torchvision's ``Bottleneck``.

    >>> Bottleneck(256, 64)(torch.zeros(1, 256, 56, 56)).shape   # conv2_x of ResNet-50
    torch.Size([1, 256, 56, 56])
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        inplanes = check_int("inplanes", inplanes, minimum=1)
        planes = check_int("planes", planes, minimum=1)
        stride = check_int("stride", stride, minimum=1)
        groups = check_int("groups", groups, minimum=1)
        base_width = check_int("base_width", base_width, minimum=1)
        width = int(planes * (base_width / 64.0)) * groups
        if width < 1:
            raise ValueError(f"planes * base_width / 64 must be >= 1, got planes={planes}, base_width={base_width}")
        self.out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, self.out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(self.out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(inplanes, self.out_channels, stride, downsample)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(F(x) + shortcut(x))``: ``(N, inplanes, H, W) -> (N, 4*planes, H', W')``."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


# --------------------------------------------------------------------------- Inception

class InceptionModule(nn.Module):
    """GoogLeNet's Inception module with dimension reductions (Szegedy et al., 2015, Fig. 2b).

    Four branches look at the same input at several scales; their outputs are
    concatenated on channels::

        branch1: 1x1 conv                          -> ch1x1
        branch2: 1x1 conv (ch3x3red) -> 3x3 conv   -> ch3x3
        branch3: 1x1 conv (ch5x5red) -> 5x5 conv   -> ch5x5
        branch4: 3x3 max pool (stride 1) -> 1x1    -> pool_proj

    The 1x1 "reductions" before the 3x3 and 5x5 convolutions shrink the
    channels those expensive kernels see: that is where GoogLeNet saves its
    parameters. Shapes: ``(N, in_channels, H, W) -> (N, out_channels, H, W)``
    with ``out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj``.

    Every convolution is conv-BN-ReLU (``batch_norm=True``, BN eps 0.001,
    Inception v2 style, as torchvision) or conv(+bias)-ReLU as in the v1 paper
    (``batch_norm=False``). ``big_kernel_size=5`` is the paper's 5x5;
    torchvision's GoogLeNet uses 3x3 there (a known slip kept for its
    pretrained weights, pytorch/vision#906): ``big_kernel_size=3`` with
    ``batch_norm=True`` reproduces its ``Inception`` exactly.

    >>> m = InceptionModule(192, 64, 96, 128, 16, 32, 32)    # GoogLeNet's inception (3a)
    >>> m.out_channels, m(torch.zeros(1, 192, 28, 28)).shape
    (256, torch.Size([1, 256, 28, 28]))
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int, batch_norm: bool = True, big_kernel_size: int = 5) -> None:
        super().__init__()
        names = ("in_channels", "ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")
        values = (in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
        in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj = (
            check_int(name, value, minimum=1) for name, value in zip(names, values, strict=True))
        check_bool("batch_norm", batch_norm)
        big = check_choice("big_kernel_size", big_kernel_size, (3, 5))

        def unit(c_in: int, c_out: int, k: int) -> nn.Sequential:
            return conv_bn_relu(c_in, c_out, k, padding=k // 2, batch_norm=batch_norm, bn_eps=1e-3)

        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branch1 = unit(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(unit(in_channels, ch3x3red, 1), unit(ch3x3red, ch3x3, 3))
        self.branch3 = nn.Sequential(unit(in_channels, ch5x5red, 1), unit(ch5x5red, ch5x5, big))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     unit(in_channels, pool_proj, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The four branches concatenated along channels.

        ``(N, C, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)``.
        """
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class FactorizedConv5x5(nn.Module):
    """Two 3x3 convolutions doing the job of one 5x5 (Inception v3, Szegedy et al., 2016).

    ``conv1`` (3x3, padding 1) - ReLU - ``conv2`` (3x3, padding 1, stride
    ``stride``). A unit of the output sees a 5x5 window of the input, as
    with ``nn.Conv2d(in_channels, out_channels, 5, stride, padding=2)``, and
    the shapes agree, so it is a drop-in replacement; with ``C`` channels
    everywhere it has ``2 * 9 = 18`` weights per (input, output) channel pair
    instead of 25: 28% fewer, and one more non-linearity. (The stride goes in
    the second convolution: in the first, the field would be 7x7.)

    ``mid_channels`` defaults to ``out_channels``. Shapes:
    ``(N, in_channels, H, W) -> (N, out_channels, ceil(H/stride), ceil(W/stride))``.

    >>> f = FactorizedConv5x5(64, 64, bias=False)
    >>> sum(p.numel() for p in f.parameters()), 25 * 64 * 64      # 18 vs 25 per channel pair
    (73728, 102400)
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None, stride: int = 1,
                 bias: bool = True) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, minimum=1)
        out_channels = check_int("out_channels", out_channels, minimum=1)
        mid = out_channels if mid_channels is None else check_int("mid_channels", mid_channels, minimum=1)
        stride = check_int("stride", stride, minimum=1)
        check_bool("bias", bias)
        self.out_channels = out_channels
        self.conv1 = nn.Conv2d(in_channels, mid, 3, padding=1, bias=bias)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(mid, out_channels, 3, stride=stride, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Two 3x3 convolutions: ``(N, in_channels, H, W) -> (N, out_channels, H', W')``."""
        return self.conv2(self.relu(self.conv1(x)))


class AsymmetricConv(nn.Module):
    """A 1 x n convolution, ReLU, then an n x 1 convolution, in place of one n x n (Inception v3).

    The output unit sees an ``n x n`` window, as with
    ``nn.Conv2d(in_channels, out_channels, n, padding=n // 2)`` (same shapes,
    a drop-in replacement), but each (input, output) channel pair costs
    ``2n`` weights instead of ``n**2``: for ``n = 7``, 14 instead of 49
    (71% fewer). ``kernel_size`` ``n`` is odd; ``mid_channels`` defaults to
    ``out_channels``. Shapes: ``(N, in_channels, H, W) -> (N, out_channels, H, W)``.

    ``course.receptive.receptive_field`` follows the two axes separately: the
    ``1 x n`` then ``n x 1`` pair sees ``n x n``, as the full kernel does.

    >>> a = AsymmetricConv(32, 32, kernel_size=7, bias=False)
    >>> sum(p.numel() for p in a.parameters()) // (32 * 32)          # 2n = 14 vs n**2 = 49
    14
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, mid_channels: int | None = None,
                 bias: bool = True) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, minimum=1)
        out_channels = check_int("out_channels", out_channels, minimum=1)
        n = check_int("kernel_size", kernel_size, minimum=1)
        if n % 2 == 0:
            raise ValueError(f"kernel_size must be an odd int (so the output keeps the input size), got {n}")
        mid = out_channels if mid_channels is None else check_int("mid_channels", mid_channels, minimum=1)
        check_bool("bias", bias)
        self.out_channels = out_channels
        self.conv1 = nn.Conv2d(in_channels, mid, (1, n), padding=(0, n // 2), bias=bias)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(mid, out_channels, (n, 1), padding=(n // 2, 0), bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """1 x n, ReLU, n x 1: ``(N, in_channels, H, W) -> (N, out_channels, H, W)``."""
        return self.conv2(self.relu(self.conv1(x)))


# --------------------------------------------------------------------------- DenseNet

class _DenseLayer(nn.Sequential):
    """BN-ReLU-1x1 conv (``bn_size * growth_rate``)-BN-ReLU-3x3 conv (``growth_rate``)."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int, drop_rate: float) -> None:
        super().__init__(OrderedDict([
            ("norm1", nn.BatchNorm2d(in_channels)),
            ("relu1", nn.ReLU(inplace=True)),
            ("conv1", nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)),
            ("norm2", nn.BatchNorm2d(bn_size * growth_rate)),
            ("relu2", nn.ReLU(inplace=True)),
            ("conv2", nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)),
            ("dropout", nn.Dropout(drop_rate)),
        ]))


class DenseBlock(nn.Module):
    """DenseNet's dense block (Huang et al., 2017): every layer sees every earlier feature map.

    Layer ``l`` gets the concatenation of the block's input and the outputs of
    layers ``1 .. l-1``, and adds ``growth_rate`` (``k``) new channels::

        x_l = H_l([x_0, x_1, ..., x_{l-1}])     H = BN-ReLU-1x1 conv (4k)-BN-ReLU-3x3 conv (k)

    The 1x1 "bottleneck" (``bn_size * k`` channels, DenseNet-B) keeps the 3x3
    cheap as the input grows. Shapes:
    ``(N, in_channels, H, W) -> (N, in_channels + num_layers * growth_rate, H, W)``.
    Children ``denselayer1 .. denselayerL`` with torchvision's names, so its
    ``_DenseBlock`` weights load into this block.

    >>> b = DenseBlock(num_layers=6, in_channels=64, growth_rate=32)   # DenseNet-121's first block
    >>> b.out_channels, b(torch.zeros(1, 64, 8, 8)).shape
    (256, torch.Size([1, 256, 8, 8]))
    """

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int = 32, bn_size: int = 4,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        num_layers = check_int("num_layers", num_layers, minimum=1)
        in_channels = check_int("in_channels", in_channels, minimum=1)
        growth_rate = check_int("growth_rate", growth_rate, minimum=1)
        bn_size = check_int("bn_size", bn_size, minimum=1)
        drop_rate = check_float("drop_rate", drop_rate, minimum=0.0)
        if drop_rate >= 1:
            raise ValueError(f"drop_rate must be a number in [0, 1), got {drop_rate}")
        self.out_channels = in_channels + num_layers * growth_rate
        for i in range(num_layers):
            layer = _DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each layer's output concatenated to its input.

        ``(N, C, H, W) -> (N, C + num_layers * growth_rate, H, W)``.
        """
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)   # keep everything, append k new channels
        return x


# --------------------------------------------------------------------------- SqueezeNet

class FireModule(nn.Module):
    """SqueezeNet's fire module (Iandola et al., 2016): squeeze with 1x1, expand with 1x1 and 3x3.

    ``squeeze``: 1x1 conv to ``squeeze_channels`` (``s``) + ReLU; then two
    parallel ``expand`` convolutions, 1x1 (``e1``) and 3x3 (``e3``), each with
    ReLU, concatenated. With ``s < e1 + e3`` the 3x3 filters see few input
    channels, and many filters are 1x1: two of the paper's three strategies for
    a small network. Parameters (with biases)::

        in*s + s  +  s*e1 + e1  +  9*s*e3 + e3

    Shapes: ``(N, in_channels, H, W) -> (N, e1 + e3, H, W)``. Names follow
    torchvision's ``Fire``.

    >>> fire2 = FireModule(96, 16, 64, 64)                 # SqueezeNet's fire2
    >>> sum(p.numel() for p in fire2.parameters())         # 96*16+16 + 16*64+64 + 9*16*64+64
    11920
    """

    def __init__(self, in_channels: int, squeeze_channels: int, expand1x1_channels: int,
                 expand3x3_channels: int) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, minimum=1)
        s = check_int("squeeze_channels", squeeze_channels, minimum=1)
        e1 = check_int("expand1x1_channels", expand1x1_channels, minimum=1)
        e3 = check_int("expand3x3_channels", expand3x3_channels, minimum=1)
        self.out_channels = e1 + e3
        self.squeeze = nn.Conv2d(in_channels, s, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(s, e1, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(s, e3, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Squeeze, then the two expands concatenated: ``(N, in_channels, H, W) -> (N, e1 + e3, H, W)``."""
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], dim=1)


# --------------------------------------------------------------------------- MobileNet

class DepthwiseSeparableConv(nn.Sequential):
    """MobileNet's depthwise separable convolution (Howard et al., 2017, Fig. 3 right).

    A standard 3x3 convolution filters and mixes channels in one step. Here:

    1. ``depthwise``: one 3x3 filter per input channel (``groups=in_channels``),
       stride ``stride``; then ``bn1``, ``relu1``.
    2. ``pointwise``: a 1x1 convolution mixing the channels; then ``bn2``, ``relu2``.

    Convolutions have no bias (BN follows). Weights::

        depthwise 9*M  +  pointwise M*N     vs   9*M*N for a 3x3 convolution

    a ratio of ``1/N + 1/9`` (``course.complexity.separable_cost_ratio``);
    mult-adds shrink by the same factor. BN adds ``2*M + 2*N`` parameters.
    Shapes: ``(N, in_channels, H, W) -> (N, out_channels, ceil(H/stride), ceil(W/stride))``.

    >>> dw = DepthwiseSeparableConv(512, 512)
    >>> dw.depthwise.weight.numel() + dw.pointwise.weight.numel()   # Table 3: 0.27M vs 2.36M
    266752
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, kernel_size: int = 3) -> None:
        in_channels = check_int("in_channels", in_channels, minimum=1)
        out_channels = check_int("out_channels", out_channels, minimum=1)
        stride = check_int("stride", stride, minimum=1)
        k = check_int("kernel_size", kernel_size, minimum=1)
        super().__init__(OrderedDict([
            ("depthwise", nn.Conv2d(in_channels, in_channels, k, stride=stride, padding=k // 2,
                                    groups=in_channels, bias=False)),
            ("bn1", nn.BatchNorm2d(in_channels)),
            ("relu1", nn.ReLU(inplace=True)),
            ("pointwise", nn.Conv2d(in_channels, out_channels, 1, bias=False)),
            ("bn2", nn.BatchNorm2d(out_channels)),
            ("relu2", nn.ReLU(inplace=True)),
        ]))
        self.out_channels = out_channels


class InvertedResidual(nn.Module):
    """MobileNet v2's inverted residual with a linear bottleneck (Sandler et al., 2018, Table 1).

    ResNet's bottleneck is wide -> narrow -> wide; this block is the inverse,
    narrow -> wide -> narrow, with ``t`` the expansion ratio:

    1. ``expand``: 1x1 convolution ``k -> t*k`` channels, BN, ReLU6 (absent when ``t = 1``);
    2. ``depthwise``: 3x3 per-channel convolution, stride ``s``, BN, ReLU6;
    3. ``project``: 1x1 convolution ``t*k -> k'``, BN and **no** activation: the
       *linear bottleneck*. A ReLU on a narrow layer would destroy information
       the next block cannot recover.

    The shortcut ``x + block(x)`` joins the narrow ends when ``s = 1`` and
    ``k = k'``. Cost on an ``h x w`` input (the paper's section 3.3)::

        mult-adds = h w t k^2  +  9 (h/s)(w/s) t k  +  (h/s)(w/s) t k k'

    Shapes: ``(N, k, H, W) -> (N, k', ceil(H/s), ceil(W/s))``.

    >>> block = InvertedResidual(24, 24, stride=1, expand_ratio=6)
    >>> block.use_residual, sum(p.numel() for p in block.parameters())
    (True, 8832)
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, expand_ratio: int = 6) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, minimum=1)
        out_channels = check_int("out_channels", out_channels, minimum=1)
        stride = check_choice("stride", check_int("stride", stride, minimum=1), (1, 2))
        expand_ratio = check_int("expand_ratio", expand_ratio, minimum=1)
        hidden = in_channels * expand_ratio
        self.expand: nn.Sequential | None = None
        if expand_ratio != 1:
            self.expand = nn.Sequential(OrderedDict([
                ("conv", nn.Conv2d(in_channels, hidden, 1, bias=False)),
                ("bn", nn.BatchNorm2d(hidden)),
                ("relu6", nn.ReLU6(inplace=True)),
            ]))
        self.depthwise = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False)),
            ("bn", nn.BatchNorm2d(hidden)),
            ("relu6", nn.ReLU6(inplace=True)),
        ]))
        self.project = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(hidden, out_channels, 1, bias=False)),
            ("bn", nn.BatchNorm2d(out_channels)),   # linear: no activation
        ]))
        self.use_residual = stride == 1 and in_channels == out_channels
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expand, depthwise, project (plus ``x`` when shapes match): ``(N, C_in, H, W) -> (N, C_out, H', W')``."""
        out = x if self.expand is None else self.expand(x)
        out = self.project(self.depthwise(out))
        return x + out if self.use_residual else out
