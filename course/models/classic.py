"""Classic classification networks: LeNet-5, and ResNets built from the course's blocks.

* :class:`LeNet5` (LeCun et al., 1998): two convolution + pooling stages and
  three fully connected layers, 61,706 parameters for 10 classes.
* :class:`ResNet`, :func:`resnet18`, :func:`resnet50` (He et al., 2016),
  assembled from :class:`~course.models.blocks.BasicBlock` and
  :class:`~course.models.blocks.Bottleneck`. Same layers and names as
  torchvision's, hence the same parameter counts (11,689,512 and
  25,557,032) and interchangeable weights.
* :func:`vgg16`: torchvision's VGG-16 (random weights), 138,357,544 parameters.

Every network exposes its convolutional trunk as ``.features`` (as
torchvision's VGG and MobileNet do) and its head as ``.classifier`` or ``.fc``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from course._checks import check_int, check_tensor
from course.models.blocks import BasicBlock, Bottleneck

__all__ = ["LeNet5", "ResNet", "resnet18", "resnet50", "vgg16"]


class LeNet5(nn.Module):
    """LeNet-5 for 32x32 (or 28x28, e.g. MNIST) images, modernised with ReLU and max pooling.

    ======================  ====================  ==============
    layer                   output (32x32 input)  parameters
    ======================  ====================  ==============
    conv 5x5, 6 (C1)        6 x 28 x 28           156 (1 channel)
    max pool 2 (S2)         6 x 14 x 14
    conv 5x5, 16 (C3)       16 x 10 x 10          2,416
    max pool 2 (S4)         16 x 5 x 5
    linear 400 -> 120 (C5)  120                   48,120
    linear 120 -> 84 (F6)   84                    10,164
    linear 84 -> classes    num_classes           850 (10 classes)
    ======================  ====================  ==============

    ``.features`` is the convolutional trunk (C1-S4), ``.classifier`` the
    rest. The 1998 network used tanh-like activations and trainable average
    pooling; ReLU and max pooling train faster and are what courses use today.
    As in the paper, 28x28 digits are placed in a 32x32 field: a 28x28 input
    is zero-padded by 2 pixels on each side before C1.

    Shapes: ``(N, in_channels, 32, 32)`` or ``(N, in_channels, 28, 28)`` -> ``(N, num_classes)``.

    >>> LeNet5()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        num_classes = check_int("num_classes", num_classes, minimum=1)
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.features = nn.Sequential(
            nn.Conv2d(self.in_channels, 6, kernel_size=5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True),
            nn.Linear(120, 84), nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores: ``(N, in_channels, 32, 32) -> (N, num_classes)``."""
        check_tensor("x", x, ndim=4, floating=True)
        if x.shape[1] != self.in_channels or tuple(x.shape[2:]) not in ((28, 28), (32, 32)):
            raise ValueError(f"x must have shape (N, {self.in_channels}, 32, 32) or (N, {self.in_channels}, 28, 28), "
                             f"got {tuple(x.shape)}")
        if x.shape[-1] == 28:
            x = F.pad(x, (2, 2, 2, 2))   # 28x28 digit in the middle of a 32x32 field
        return self.classifier(self.features(x))


class ResNet(nn.Module):
    """A residual network: stem, four stages of residual blocks, global average pool, linear.

    ==========  =============================================  ============
    stage       layers                                         output (224)
    ==========  =============================================  ============
    stem        7x7 conv 64 /2, BN, ReLU, 3x3 max pool /2      64 x 56 x 56
    ``layer1``  ``layers[0]`` blocks, 64 planes                56 x 56
    ``layer2``  ``layers[1]`` blocks, 128 planes, stride 2     28 x 28
    ``layer3``  ``layers[2]`` blocks, 256 planes, stride 2     14 x 14
    ``layer4``  ``layers[3]`` blocks, 512 planes, stride 2     7 x 7
    head        global average pool, linear ``fc``             num_classes
    ==========  =============================================  ============

    (``/2``: stride 2.) ``block`` is :class:`BasicBlock` (ResNet-18: ``[2, 2, 2, 2]``, -34:
    ``[3, 4, 6, 3]``) or :class:`Bottleneck` (-50: ``[3, 4, 6, 3]``, -101:
    ``[3, 4, 23, 3]``); a stage's output has ``planes * block.expansion``
    channels. The first block of a stage changes the shape, so its shortcut is a
    1x1 projection. Module names and initialisation are torchvision's:
    ``ours.load_state_dict(torchvision.models.resnet18().state_dict())`` works.

    ``.features`` returns the trunk (stem to ``layer4``) as an ``nn.Sequential``
    sharing these modules, for ``course.receptive.receptive_field``. It is built
    on each access, so the parameter names stay torchvision's.
    ``zero_init_residual=True`` starts each block's last BN at zero, so every
    block starts as the identity.

    Shapes: ``(N, in_channels, H, W) -> (N, num_classes)``.
    """

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: Sequence[int], num_classes: int = 1000,
                 in_channels: int = 3, zero_init_residual: bool = False) -> None:
        super().__init__()
        if not (isinstance(block, type) and issubclass(block, nn.Module) and hasattr(block, "expansion")):
            raise TypeError(f"block must be a residual block class such as BasicBlock or Bottleneck, got {block!r}")
        if not isinstance(layers, (list, tuple)) or len(layers) != 4:
            raise ValueError(f"layers must be a list of 4 ints (blocks per stage), got {layers!r}")
        layers = [check_int(f"layers[{i}]", n, minimum=1) for i, n in enumerate(layers)]
        num_classes = check_int("num_classes", num_classes, minimum=1)
        in_channels = check_int("in_channels", in_channels, minimum=1)
        if not isinstance(zero_init_residual, bool):
            raise TypeError(f"zero_init_residual must be a bool, got {zero_init_residual!r}")

        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():   # He initialisation, BN as the identity (torchvision's choice)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _make_layer(self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int,
                    stride: int = 1) -> nn.Sequential:
        """One stage: a block that may change the shape, then ``blocks - 1`` that keep it."""
        stage: list[nn.Module] = [block(self.inplanes, planes, stride=stride)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    @property
    def features(self) -> nn.Sequential:
        """The convolutional trunk, stem to ``layer4``: ``(N, C, H, W) -> (N, 512*expansion, H/32, W/32)``."""
        return nn.Sequential(self.conv1, self.bn1, self.relu, self.maxpool,
                             self.layer1, self.layer2, self.layer3, self.layer4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores: ``(N, in_channels, H, W) -> (N, num_classes)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet18(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-18: :class:`BasicBlock`, ``[2, 2, 2, 2]``; 11,689,512 parameters (1000 classes).

    >>> sum(p.numel() for p in resnet18().parameters())
    11689512
    """
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, zero_init_residual)


def resnet50(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-50: :class:`Bottleneck`, ``[3, 4, 6, 3]``; 25,557,032 parameters (1000 classes)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, zero_init_residual)


def vgg16(num_classes: int = 1000, batch_norm: bool = False) -> nn.Module:
    """Torchvision's VGG-16 (configuration D) with random weights; nothing is downloaded.

    13 3x3 convolutions in five stages (64, 128, 256, 512, 512 channels, each
    stage ending in a 2x2 max pool) and three fully connected layers (4096,
    4096, ``num_classes``): 138,357,544 parameters for 1000 classes, of which
    14,714,688 in the convolutions (``.features``). ``batch_norm=True`` gives
    ``vgg16_bn``. Tip: build it under ``with torch.device("meta"):`` when only
    the shapes matter (counting, receptive fields).
    """
    import torchvision  # lazy: keeps ``import course.models`` light

    num_classes = check_int("num_classes", num_classes, minimum=1)
    if not isinstance(batch_norm, bool):
        raise TypeError(f"batch_norm must be a bool, got {batch_norm!r}")
    build = torchvision.models.vgg16_bn if batch_norm else torchvision.models.vgg16
    return build(weights=None, num_classes=num_classes)
