"""MobileNet v1 (Howard et al., 2017): a stack of depthwise separable convolutions.

The body is Table 1 of the paper, at input 224 x 224::

    conv 3x3, 32, stride 2                       112 x 112 x 32
    dw-separable  64                             112 x 112 x 64
    dw-separable 128, stride 2  |  128            56 x  56 x 128
    dw-separable 256, stride 2  |  256            28 x  28 x 256
    dw-separable 512, stride 2  |  512 x 5        14 x  14 x 512
    dw-separable 1024, stride 2 |  1024            7 x   7 x 1024
    global average pool, fully connected         num_classes

(Table 1 prints "s2" for the last separable layer as well; its output stays
7 x 7, so the stride there is 1, as in every released implementation.)

Two knobs trade accuracy for cost (section 3.3, 3.4):

* width multiplier ``a``: every layer gets ``round(a * c)`` channels. For
  ``a`` in {1, 0.75, 0.5, 0.25} every ``a * c`` is an integer, so the
  rounding convention does not matter for the paper's tables; Python's
  ``round`` is the one of ``course.complexity.depthwise_separable_cost``.
  Cost and parameters fall roughly as ``a**2``.
* resolution multiplier ``r``: simply feed a smaller image (192, 160, 128);
  the global pool makes the network size-agnostic. Cost falls as ``r**2``,
  parameters do not change.

Measured with ``course.complexity`` (``count_mult_adds``, ``count_parameters``),
this module reproduces Tables 6 and 7 (569, 325, 149, 41 M mult-adds; 4.2,
2.6, 1.3, 0.5 M parameters; 418, 290, 186 M mult-adds at 192, 160, 128) and,
with ``depthwise=False`` (every separable layer a full 3x3 convolution),
Table 4 (4866 M mult-adds, 29.3 M parameters).
"""
from __future__ import annotations

import torch
from torch import nn

from course._checks import check_float, check_int
from course.models.blocks import DepthwiseSeparableConv, InvertedResidual, conv_bn_relu, scaled_channels

__all__ = ["MobileNetV1", "MOBILENET_V1_LAYERS", "MobileNetV2", "mobilenet_v2", "MOBILENET_V2_SETTINGS"]

#: ``(out_channels, stride)`` of the 13 depthwise separable layers of Table 1.
MOBILENET_V1_LAYERS = (
    (64, 1),
    (128, 2), (128, 1),
    (256, 2), (256, 1),
    (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)


class MobileNetV1(nn.Module):
    """MobileNet v1 classifier: ``.features`` (conv + 13 separable layers), global pool, ``.classifier``.

    Arguments: ``width_multiplier`` ``a > 0`` (channels ``round(a * c)``, each
    at least 1), ``num_classes``, ``in_channels``, and ``depthwise``: ``True``
    for the MobileNet of the paper, ``False`` for the "Conv MobileNet" of
    Table 4 with standard 3x3 convolutions (conv-BN-ReLU) in their place.
    Convolutions have no bias (BN follows); the classifier is one ``nn.Linear``.

    Shapes: ``(N, in_channels, H, W) -> (N, num_classes)``; ``.features`` maps
    224 x 224 to 7 x 7 (stride 32).

    >>> from course.complexity import count_parameters
    >>> net = MobileNetV1(width_multiplier=0.25)
    >>> net(torch.zeros(1, 3, 128, 128)).shape, count_parameters(net)
    (torch.Size([1, 1000]), 470072)
    """

    def __init__(self, width_multiplier: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                 depthwise: bool = True) -> None:
        super().__init__()
        a = check_float("width_multiplier", width_multiplier, minimum=0.0, exclusive=True)
        num_classes = check_int("num_classes", num_classes, minimum=1)
        in_channels = check_int("in_channels", in_channels, minimum=1)
        if not isinstance(depthwise, bool):
            raise TypeError(f"depthwise must be a bool, got {type(depthwise).__name__} {depthwise!r}")

        def width(c: int) -> int:
            return scaled_channels("width_multiplier", a, c)

        self.width_multiplier = a
        channels = width(32)
        layers: list[nn.Module] = [conv_bn_relu(in_channels, channels, 3, stride=2, padding=1)]
        for out, stride in MOBILENET_V1_LAYERS:
            if depthwise:
                layers.append(DepthwiseSeparableConv(channels, width(out), stride=stride))
            else:
                layers.append(conv_bn_relu(channels, width(out), 3, stride=stride, padding=1))
            channels = width(out)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores: ``(N, in_channels, H, W) -> (N, num_classes)``."""
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


# --------------------------------------------------------------------------- MobileNet v2

#: Table 2 of Sandler et al. (2018): ``(t, c, n, s)`` = expansion ratio, output
#: channels, repeats, stride of the first repeat, for the 7 bottleneck stages.
MOBILENET_V2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class MobileNetV2(nn.Module):
    """MobileNet v2 classifier, Table 2 of the paper: ``.features``, global pool, ``.classifier``.

    ``.features``: conv 3x3 (32, stride 2), then the 17 ``InvertedResidual``
    blocks of :data:`MOBILENET_V2_SETTINGS`, then a 1x1 conv to 1280 channels
    (convolutions with BN and ReLU6). ``.classifier``: dropout 0.2 and one
    ``nn.Linear``. At width 1 it has torchvision's 3,504,872 parameters and the
    same function (the tests copy torchvision's weights into it).
    Shapes: ``(N, in_channels, H, W) -> (N, num_classes)``.

    >>> sum(p.numel() for p in MobileNetV2().parameters())
    3504872
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        num_classes = check_int("num_classes", num_classes, minimum=1)
        in_channels = check_int("in_channels", in_channels, minimum=1)
        layers: list[nn.Module] = [_conv_bn_relu6(in_channels, 32, 3, stride=2)]
        channels = 32
        for t, c, n, s in MOBILENET_V2_SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(channels, c, stride=s if i == 0 else 1, expand_ratio=t))
                channels = c
        layers.append(_conv_bn_relu6(channels, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores: ``(N, in_channels, H, W) -> (N, num_classes)``."""
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def _conv_bn_relu6(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                   padding=kernel_size // 2, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU6(inplace=True))


def mobilenet_v2(num_classes: int = 1000, in_channels: int = 3) -> MobileNetV2:
    """MobileNet v2 at width 1 (3,504,872 parameters for 1000 classes); see :class:`MobileNetV2`."""
    return MobileNetV2(num_classes=num_classes, in_channels=in_channels)
