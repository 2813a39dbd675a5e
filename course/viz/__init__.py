"""Figures and interactive explorers for the lectures.

Static figures return a matplotlib ``Figure`` (already closed in pyplot, so a
notebook shows it once: as the cell's value, or with ``display(fig)``).
Explorers return an ipywidgets box of sliders, a text line and the figure;
their ``controls``, ``label``, ``figure`` and ``state()`` can also be used
from code (see :mod:`course.viz.explorer`).

==============================  =============================================
convolution arithmetic          :func:`conv_arithmetic_figure`, :func:`conv_arithmetic_explorer`
convolution as a matrix         :func:`convolution_matrix_figure`
unpooling                       :func:`unpooling_figure`
transposed convolution          :func:`transposed_conv_steps_figure`, :func:`transposed_conv_stamp_figure`,
                                :func:`transposed_conv_explorer`
checkerboard artefacts          :func:`checkerboard_figure`, :func:`checkerboard_explorer`
images and segmentation         :func:`show_images`, :func:`show_segmentation`
receptive fields                :func:`receptive_field_figure`, :func:`receptive_field_explorer`
unpooling methods               :func:`unpooling_explorer`
detection                       :func:`show_boxes`, :func:`pr_curve_figure`, :func:`iou_explorer`,
                                :func:`pr_threshold_explorer`, :func:`nms_explorer`
interpreting networks           :func:`show_maps`, :func:`filters_figure`, :func:`feature_maps_figure`,
                                :func:`randomization_figure`, :func:`grad_cam_explorer`
object detectors                :func:`show_anchors`, :func:`show_matches`, :func:`detection_pr_curves`,
                                :func:`detection_pr_figure`
drawing helpers                 :mod:`course.viz.grids`
==============================  =============================================

Importing ``course.viz`` imports matplotlib and ipywidgets (``import course``
alone does not). The matplotlib backend is left as it is: inline in a
notebook, whatever matplotlib picks elsewhere.

>>> from course.viz import conv_arithmetic_figure
>>> fig = conv_arithmetic_figure(5, 3, stride=2, padding=1)
>>> len(fig.axes), fig.get_suptitle().endswith("= 3$")     # input and output; the size worked out
(2, True)
"""
from course.viz import grids
from course.viz.arithmetic import (
    conv_arithmetic_explorer,
    conv_arithmetic_figure,
    convolution_matrix_figure,
    kernel_window,
)
from course.viz.detection import pr_curve_figure, show_boxes
from course.viz.detectors import detection_pr_curves, detection_pr_figure, show_anchors, show_matches
from course.viz.evaluation import iou_explorer, nms_explorer, pr_threshold_explorer
from course.viz.explain import feature_maps_figure, filters_figure, grad_cam_explorer, randomization_figure, show_maps
from course.viz.explorer import Explorer, View
from course.viz.images import (
    receptive_field_figure,
    segmentation_cmap,
    segmentation_colors,
    show_images,
    show_segmentation,
)
from course.viz.receptive import receptive_field_explorer
from course.viz.upsampling import (
    TransposedConvSteps,
    checkerboard_explorer,
    checkerboard_figure,
    overlap_counts,
    transposed_conv_explorer,
    transposed_conv_stamp_figure,
    transposed_conv_steps,
    transposed_conv_steps_figure,
    unpooling_explorer,
    unpooling_figure,
)

__all__ = [
    "grids", "Explorer", "View",
    # lecture 01: convolutions
    "kernel_window", "conv_arithmetic_figure", "conv_arithmetic_explorer", "convolution_matrix_figure",
    # lecture 04: receptive fields
    "receptive_field_figure", "receptive_field_explorer",
    # lecture 06: upsampling
    "unpooling_figure", "unpooling_explorer",
    "TransposedConvSteps", "transposed_conv_steps", "transposed_conv_steps_figure", "transposed_conv_stamp_figure",
    "transposed_conv_explorer",
    "overlap_counts", "checkerboard_figure", "checkerboard_explorer",
    # lectures 07 and 08: images, segmentation, boxes and evaluation
    "show_images", "segmentation_colors", "segmentation_cmap", "show_segmentation",
    "show_boxes", "pr_curve_figure", "iou_explorer", "pr_threshold_explorer", "nms_explorer",
    # lecture 09: interpreting networks
    "show_maps", "filters_figure", "feature_maps_figure", "randomization_figure", "grad_cam_explorer",
    # lecture 10: object detectors
    "show_anchors", "show_matches", "detection_pr_curves", "detection_pr_figure",
]
