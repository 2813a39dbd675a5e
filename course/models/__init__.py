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
from course.models.blocks import (
    AsymmetricConv,
    BasicBlock,
    Bottleneck,
    DenseBlock,
    DepthwiseSeparableConv,
    FactorizedConv5x5,
    FireModule,
    InceptionModule,
    InvertedResidual,
    conv_bn_relu,
)
from course.models.classic import LeNet5, ResNet, resnet18, resnet50, vgg16
from course.models.detector import BOX_WEIGHTS, TinySSD, detection_loss, positive_accuracy
from course.models.mobilenet import MOBILENET_V1_LAYERS, MOBILENET_V2_SETTINGS, MobileNetV1, MobileNetV2, mobilenet_v2
from course.models.segmentation import FCN, VGG16_CONFIG, SegNet, UNet, bilinear_kernel

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
    "LeNet5",
    "ResNet",
    "resnet18",
    "resnet50",
    "vgg16",
    "MobileNetV1",
    "MOBILENET_V1_LAYERS",
    "MobileNetV2",
    "mobilenet_v2",
    "MOBILENET_V2_SETTINGS",
    "FCN",
    "SegNet",
    "UNet",
    "bilinear_kernel",
    "VGG16_CONFIG",
    "TinySSD",
    "detection_loss",
    "positive_accuracy",
    "BOX_WEIGHTS",
]
