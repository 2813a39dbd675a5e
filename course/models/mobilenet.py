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

import torch  # noqa: F401  (the docstring example uses it)
from torch import nn

from course._checks import check_float, check_int
from course.models.blocks import DepthwiseSeparableConv, _scaled_channels, conv_bn_relu

__all__ = ["MobileNetV1", "MOBILENET_V1_LAYERS"]

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

    def __init__(self, width_multiplier=1.0, num_classes=1000, in_channels=3, depthwise=True):
        super().__init__()
        a = check_float("width_multiplier", width_multiplier, minimum=0.0, exclusive=True)
        num_classes = check_int("num_classes", num_classes, minimum=1)
        in_channels = check_int("in_channels", in_channels, minimum=1)
        if not isinstance(depthwise, bool):
            raise TypeError(f"depthwise must be a bool, got {type(depthwise).__name__} {depthwise!r}")

        def width(c: int) -> int:
            return _scaled_channels("width_multiplier", a, c)

        self.width_multiplier = a
        channels = width(32)
        layers = [conv_bn_relu(in_channels, channels, 3, stride=2, padding=1)]
        for out, stride in MOBILENET_V1_LAYERS:
            if depthwise:
                layers.append(DepthwiseSeparableConv(channels, width(out), stride=stride))
            else:
                layers.append(conv_bn_relu(channels, width(out), 3, stride=stride, padding=1))
            channels = width(out)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))
