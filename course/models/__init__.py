"""Blocks and networks built in the lectures.

* ``blocks``: ``BasicBlock``, ``Bottleneck`` (ResNet), ``InceptionModule``,
  ``FactorizedConv5x5``, ``AsymmetricConv`` (Inception v1/v3), ``DenseBlock``
  (DenseNet), ``FireModule`` (SqueezeNet), ``DepthwiseSeparableConv`` (MobileNet),
  ``InvertedResidual`` (MobileNet v2).
* ``classic``: ``LeNet5``, ``ResNet`` / ``resnet18`` / ``resnet50`` from the
  course's blocks, ``vgg16`` (torchvision's).
* ``mobilenet``: ``MobileNetV1`` (Tables 1, 4, 6 and 7 of the paper), ``MobileNetV2`` /
  ``mobilenet_v2`` (Table 2 of its paper; torchvision's parameters and function).
* ``segmentation``: ``FCN`` (32s/16s/8s), ``SegNet``, ``UNet``.
* ``detector``: ``TinySSD``, a small single-shot detector (lecture 10), and its
  ``detection_loss`` (hard-negative mining + smooth L1).

Classification networks expose their convolutional trunk as ``.features``, so
``course.receptive.receptive_field(net.features)`` answers for the trunk.
torchvision is imported only inside the functions that need it.
"""
from course.models import blocks, classic, detector, mobilenet, segmentation
from course.models.blocks import (
    AsymmetricConv as AsymmetricConv,
    BasicBlock as BasicBlock,
    Bottleneck as Bottleneck,
    DenseBlock as DenseBlock,
    DepthwiseSeparableConv as DepthwiseSeparableConv,
    FactorizedConv5x5 as FactorizedConv5x5,
    FireModule as FireModule,
    InceptionModule as InceptionModule,
    InvertedResidual as InvertedResidual,
    conv_bn_relu as conv_bn_relu,
    scaled_channels as scaled_channels,
)
from course.models.classic import (
    LeNet5 as LeNet5,
    ResNet as ResNet,
    resnet18 as resnet18,
    resnet50 as resnet50,
    vgg16 as vgg16,
)
from course.models.detector import (
    BOX_WEIGHTS as BOX_WEIGHTS,
    TinySSD as TinySSD,
    detection_loss as detection_loss,
    positive_accuracy as positive_accuracy,
)
from course.models.mobilenet import (
    MOBILENET_V1_LAYERS as MOBILENET_V1_LAYERS,
    MOBILENET_V2_SETTINGS as MOBILENET_V2_SETTINGS,
    MobileNetV1 as MobileNetV1,
    MobileNetV2 as MobileNetV2,
    mobilenet_v2 as mobilenet_v2,
)
from course.models.segmentation import (
    FCN as FCN,
    VGG16_CONFIG as VGG16_CONFIG,
    SegNet as SegNet,
    UNet as UNet,
    bilinear_kernel as bilinear_kernel,
)

# The public names are the submodules' own __all__ lists. The imports above name each of
# them (`name as name` marks a re-export for ruff and mypy); tests/test_package.py checks
# that none is missing.
__all__ = [*blocks.__all__, *classic.__all__, *detector.__all__, *mobilenet.__all__, *segmentation.__all__]
