"""Figures of lecture 09: what a network looks at.

- :func:`show_maps`: images in a row, and under them one row per method of
  their maps (saliency, occlusion, CAM, Grad-CAM, ... from
  :mod:`course.explain`) laid over the image, the maximum of each map
  marked, the object's mask outlined.
- :func:`filters_figure`: the filters of a first convolution layer as small
  images (colour for RGB input).
- :func:`feature_maps_figure`: the channels of one layer's output for one image.
- :func:`randomization_figure`: the rank correlation between the maps of a
  trained network and of copies with more and more layers re-initialised
  (the sanity check of Adebayo et al.).
- :func:`grad_cam_explorer`: image, class and layer controls over
  :func:`course.explain.grad_cam`.

Each returns a ``Figure``, closed in pyplot. Artists carry gids so tests can
find them: ``"map"`` (the overlaid map image), ``"peak"`` (the marker at the
map's maximum), ``"mask"`` (the mask outline), ``"filter"`` and
``"feature-map"`` (the small images), and one line per method in
:func:`randomization_figure`, with the method's name as gid.

>>> images = torch.rand(2, 3, 8, 8)
>>> maps = torch.zeros(2, 8, 8); maps[:, 2, 5] = 1.0
>>> fig = show_maps(images, {"a method": maps})
>>> [line.get_xydata().tolist() for line in fig.axes[2].lines if line.get_gid() == "peak"]
[[[5.0, 2.0]]]
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import torch

from course._checks import check_bool, check_choice, check_float, check_int
from course.viz.explorer import Explorer, Values, View, dropdown, slider
from course.viz.images import to_picture

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["show_maps", "filters_figure", "feature_maps_figure", "randomization_figure", "grad_cam_explorer"]


def _as_batch(name: str, value: object, ndim: int) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dim() == ndim - 1:
        value = value[None]
    if value.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions (a batch), got shape {tuple(value.shape)}")
    return value.detach().cpu()


def _grey(picture: np.ndarray) -> np.ndarray:
    """The luminance of an ``(H, W, 3)`` image (or the ``(H, W)`` image itself)."""
    return picture if picture.ndim == 2 else picture @ np.array([0.299, 0.587, 0.114])


def show_maps(images: torch.Tensor, maps: torch.Tensor | dict[str, torch.Tensor], *, masks: torch.Tensor | None = None,
              titles: Sequence[object] | None = None, mark_peak: bool = True, alpha: float = 0.6,
              size: float = 1.1, show_images: bool = True) -> Figure:
    """Images in the first row, then one row per method: its maps over the images.

    Args:
        images: ``(N, C, H, W)`` (or one ``(C, H, W)``) images, C = 1 or 3.
        maps: a dict ``{row name: (N, H, W) tensor}``, or one ``(N, H, W)``
            tensor (a row named ``"map"``). Each map is drawn over the image
            in grey, scaled by its own largest absolute value: non-negative
            maps with the ``"jet"`` colour map from 0 (transparent-looking blue)
            to the maximum (red), signed maps (an occlusion map can be
            negative) with ``"RdBu_r"``, white at 0.
        masks: ``(N, H, W)`` bool, outlined in white on every panel (gid ``"mask"``), or None.
        titles: one string per image (column titles), or None.
        mark_peak: mark each map's maximum (the first in row-major order, as
            :func:`course.explain.pointing_game` picks it) with a ``+`` (gid ``"peak"``).
        alpha: opacity of the maps over the images.
        size: width of one panel in inches (the figure stays <= 8 in wide).
        show_images: False leaves out the first row (for instance when every
            column shows the same image, with maps of different classes).

    Returns a ``Figure``; ``fig.axes`` runs row by row. The overlay is the
    axes' second image (gid ``"map"``), holding the scaled map.
    """
    images = _as_batch("images", images, 4)
    n = len(images)
    if isinstance(maps, torch.Tensor):
        maps = {"map": maps}
    if not isinstance(maps, dict) or not maps:
        raise TypeError(f"maps must be a non-empty dict {{name: (N, H, W) tensor}} or a tensor, "
                        f"got {type(maps).__name__}")
    shape = (n,) + tuple(images.shape[2:])
    rows = {}
    for name, value in maps.items():
        value = _as_batch(f"maps[{name!r}]", value, 3)
        if tuple(value.shape) != shape:
            raise ValueError(f"maps[{name!r}] must have shape {shape} (one map per image), got {tuple(value.shape)}")
        rows[str(name)] = value.double()
    if masks is not None:
        masks = _as_batch("masks", masks, 3)
        if masks.dtype != torch.bool or tuple(masks.shape) != shape:
            raise ValueError(f"masks must be a bool tensor of shape {shape}, got {masks.dtype} {tuple(masks.shape)}")
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != n:
            raise ValueError(f"titles must have one entry per image ({n}), got {len(titles)}")
    alpha = check_float("alpha", alpha, minimum=0.0)
    check_bool("show_images", show_images)
    size = min(check_float("size", size, minimum=0, exclusive=True), 7.0 / n)

    label_width = 0.9
    first = 1 if show_images else 0                 # the row of the first map
    nrows = first + len(rows)
    title_space = 0.3 if titles is not None else 0.08
    fig, axes = plt.subplots(nrows, n, figsize=(label_width + size * n, size * nrows + title_space), squeeze=False)
    plt.close(fig)
    fig.subplots_adjust(left=label_width / fig.get_figwidth(), right=0.995, bottom=0.01,
                        top=1 - title_space / fig.get_figheight(), wspace=0.04, hspace=0.04)
    pictures = [to_picture(f"images[{i}]", image) for i, image in enumerate(images)]
    for i, picture in enumerate(pictures):
        if show_images:
            axes[0, i].imshow(picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        if titles is not None:
            axes[0, i].set_title(titles[i], fontsize=8)
    if show_images:
        axes[0, 0].text(-0.06, 0.5, "image", transform=axes[0, 0].transAxes, ha="right", va="center", fontsize=8)
    for r, (name, values) in enumerate(rows.items(), start=first):
        axes[r, 0].text(-0.06, 0.5, name, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=8,
                        gid="row-title")
        for i in range(n):
            ax = axes[r, i]
            shown = values[i].numpy()
            scale = np.abs(shown).max()
            scaled = shown / scale if scale > 0 else np.zeros_like(shown)
            ax.imshow(_grey(pictures[i]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if shown.min() < 0:
                ax.imshow(scaled, cmap="RdBu_r", vmin=-1, vmax=1, alpha=alpha, interpolation="nearest", gid="map")
            else:
                ax.imshow(scaled, cmap="jet", vmin=0, vmax=1, alpha=alpha, interpolation="nearest", gid="map")
            if mark_peak and shown.max() > shown.min():
                row, col = divmod(int(shown.argmax()), shown.shape[1])
                ax.plot([col], [row], "+", color="white", markersize=9, markeredgewidth=2, gid="peak")
    for r in range(nrows):
        for i in range(n):
            ax = axes[r, i]
            ax.set_xticks([])
            ax.set_yticks([])
            if masks is not None and masks[i].any():
                contour = ax.contour(masks[i].double().numpy(), levels=[0.5], colors="white", linewidths=0.8)
                contour.set_gid("mask")
    return fig


def filters_figure(weight: torch.Tensor, *, ncols: int = 8, scale: str = "filter", size: float = 0.55) -> Figure:
    """The filters of a convolution layer, ``(C_out, C_in, kH, kW)`` with ``C_in`` 1 or 3, as small images.

    A weight of 0 is mid-grey; positive weights are bright, negative dark (for
    RGB filters, per colour channel: a filter that is red in the picture
    responds to red). ``scale="filter"``: each filter is scaled by its own
    largest absolute weight, to show its pattern; ``"all"``: one scale for
    all, to compare their strengths. Each panel is an image with gid ``"filter"``.

    Returns a ``Figure`` with one axes per filter, ``ncols`` per row.
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4 or weight.shape[1] not in (1, 3):
        got = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"weight must be convolution filters (C_out, C_in, kH, kW) with C_in = 1 or 3, got {got}")
    check_choice("scale", scale, ("filter", "all"))
    ncols = check_int("ncols", ncols, minimum=1)
    size = check_float("size", size, minimum=0, exclusive=True)
    w = weight.detach().cpu().double()
    count = len(w)
    if scale == "filter":
        largest = w.abs().flatten(1).amax(dim=1).view(-1, 1, 1, 1)
    else:
        largest = w.abs().max().expand(count, 1, 1, 1)
    shown = 0.5 + 0.5 * w / torch.where(largest > 0, largest, torch.ones_like(largest))
    ncols = min(ncols, count)
    nrows = -(-count // ncols)
    size = min(size, 8.0 / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    plt.close(fig)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99, wspace=0.08, hspace=0.08)
    for k, ax in enumerate(axes.flat):
        if k >= count:
            fig.delaxes(ax)
            continue
        picture = shown[k, 0].numpy() if w.shape[1] == 1 else shown[k].permute(1, 2, 0).numpy()
        ax.imshow(picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest", gid="filter")
        ax.set_axis_off()
    return fig


def feature_maps_figure(maps: torch.Tensor, *, max_maps: int = 16, ncols: int = 8, size: float = 0.8,
                        title: str | None = None) -> Figure:
    """The first ``max_maps`` channels of one image's feature maps ``(K, h, w)`` (or ``(1, K, h, w)``).

    All channels share one colour scale (``"viridis"``, from the smallest to
    the largest value shown), so a channel that stays dark is one this image
    does not excite. Each panel (gid ``"feature-map"``) is titled with its
    channel number. ``title`` goes above the figure.
    """
    if isinstance(maps, torch.Tensor) and maps.dim() == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3:
        got = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(f"maps must be the feature maps (K, h, w) of one image, got {got}")
    max_maps = check_int("max_maps", max_maps, minimum=1)
    ncols = check_int("ncols", ncols, minimum=1)
    size = check_float("size", size, minimum=0, exclusive=True)
    shown = maps.detach().cpu().double()[:max_maps]
    count = len(shown)
    low, high = float(shown.min()), float(shown.max())
    ncols = min(ncols, count)
    nrows = -(-count // ncols)
    size = min(size, 8.0 / ncols)
    top_space = 0.25 + (0.25 if title is not None else 0.0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.2) * nrows + top_space - 0.2),
                             squeeze=False)
    plt.close(fig)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - top_space / fig.get_figheight(),
                        wspace=0.06, hspace=0.3)
    for k, ax in enumerate(axes.flat):
        if k >= count:
            fig.delaxes(ax)
            continue
        ax.imshow(shown[k].numpy(), cmap="viridis", vmin=low, vmax=high if high > low else low + 1,
                  interpolation="nearest", gid="feature-map")
        ax.set_title(str(k), fontsize=7, pad=2)
        ax.set_axis_off()
    if title is not None:
        fig.suptitle(str(title), fontsize=9)
    return fig


def randomization_figure(layer_names: Sequence[str], correlations: dict[str, Sequence[float] | torch.Tensor], *,
                         title: str | None = None) -> Figure:
    """Rank correlation with the trained network's maps, against the layers re-initialised so far.

    Args:
        layer_names: the x axis, left to right: for example ``["trained",
            "classifier.fc", "features.conv3.conv", ...]``, the last layer
            re-initialised at each step of :func:`course.explain.cascading_randomization`.
        correlations: ``{method name: one number per layer name}`` (mean rank
            correlations, in ``[-1, 1]``; ``nan`` leaves a gap). One line per
            method, with the method's name as gid.
        title: axes title.

    Returns a ``Figure`` with one axes.
    """
    names = [str(name) for name in layer_names]
    if not names:
        raise ValueError("layer_names must name at least one step, got none")
    if not isinstance(correlations, dict) or not correlations:
        raise TypeError(f"correlations must be a non-empty dict {{method: values}}, got {type(correlations).__name__}")
    fig, ax = plt.subplots(figsize=(6.0, 2.8))
    plt.close(fig)
    for k, (method, given) in enumerate(correlations.items()):
        values = np.asarray(torch.as_tensor(given, dtype=torch.float64).cpu(), dtype=float)
        if values.shape != (len(names),):
            raise ValueError(f"correlations[{method!r}] must have one value per layer name ({len(names)}), "
                             f"got shape {values.shape}")
        ax.plot(range(len(names)), values, marker="o", color=f"C{k}", label=str(method), gid=str(method))
    ax.axhline(0.0, color="0.5", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("rank correlation\nwith the trained maps", fontsize=8)
    ax.set_xlabel("re-initialised down to this layer (top first)", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    if title is not None:
        ax.set_title(str(title), fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- Grad-CAM explorer

PREDICTED = "predicted"   # the class control's first option: each image's predicted class


def _layer_dict(model: torch.nn.Module,
                layers: dict[str, torch.nn.Module] | Sequence[str]) -> dict[str, torch.nn.Module]:
    """``layers`` as ``{name: module}``: a dict, or a list of names of ``model.named_modules()``."""
    named = dict(model.named_modules())
    if isinstance(layers, dict):
        if not layers:
            raise ValueError("layers must name at least one layer, got an empty dict")
        result = {}
        for name, module in layers.items():
            if not isinstance(module, torch.nn.Module) or not any(module is m for m in named.values()):
                raise ValueError(f"layers[{name!r}] must be a module inside model, got {type(module).__name__}")
            result[str(name)] = module
        return result
    if isinstance(layers, str) or not isinstance(layers, (list, tuple)):
        raise TypeError(f"layers must be a dict {{name: module}} or a list of module names, "
                        f"got {type(layers).__name__} {layers!r}")
    if not layers:
        raise ValueError("layers must name at least one layer, got an empty list")
    for name in layers:
        if not isinstance(name, str) or name not in named:
            raise ValueError(f"layers must name modules of model (see model.named_modules()), got {name!r}")
    return {name: named[name] for name in layers}


def _probabilities(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``softmax(model(images))`` in eval mode without gradients, ``(N, num_classes)``; modes restored."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            scores = model(images)
    finally:
        for module, training in modes:
            module.training = training
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or scores.shape[0] != len(images):
        got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"model must return class scores (N, num_classes) for images of shape "
                         f"{tuple(images.shape)}, got {got}")
    return scores.softmax(dim=1)


def grad_cam_explorer(model: torch.nn.Module, images: torch.Tensor, layers: dict[str, torch.nn.Module] | Sequence[str],
                      class_names: Sequence[str] | None = None, *, masks: torch.Tensor | None = None,
                      alpha: float = 0.6) -> Explorer:
    """Pick an image, a class and a layer; see the Grad-CAM map of ``course.explain.grad_cam``.

    Args:
        model: a classifier, ``(N, C, H, W)`` images to ``(N, num_classes)`` scores.
        images: ``(N, C, H, W)`` float images (C = 1 or 3), or one ``(C, H, W)`` image.
        layers: the layers to choose from: ``{name: module}`` or a list of names
            from ``model.named_modules()`` (such as ``["features.conv1", "features.conv3"]``).
        class_names: one name per class (default ``"class 0"``, ...).
        masks: optional ``(N, H, W)`` bool masks of the objects: outlined, and the
            label says whether the map's peak falls inside (``explain.pointing_game``).
        alpha: opacity of the map over the image.

    Controls: ``"image"`` (a slider over the batch), ``"class"`` (a dropdown:
    ``"predicted"``, then each class index, shown by name) and ``"layer"`` (a
    dropdown of the layer names). Left panel: the image; right panel: the map
    over the image in grey, its peak marked with a ``+`` (gids ``"map"`` and
    ``"peak"`` as in :func:`show_maps`). The label names the image, the class
    with its predicted probability, the layer with the size of its feature
    maps, and the peak's ``(row, col)``. ``explorer.state()`` holds ``map``
    (``(H, W)``, exactly ``grad_cam(model, images[i:i+1], layer, class)[0]``),
    ``class_idx``, ``class_name``, ``probability``, ``predicted``,
    ``layer_shape`` (``(K, h, w)``), ``peak`` (or None for an all-zero map) and
    ``hit`` (with masks). Maps are computed once per (image, class, layer) and cached.
    """
    from course import explain

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    images = _as_batch("images", images, 4)
    if not images.is_floating_point():
        raise TypeError(f"images must be a floating-point tensor, got dtype {images.dtype}")
    if len(images) == 0:
        raise ValueError(f"images must hold at least one image, got shape {tuple(images.shape)}")
    layer_modules = _layer_dict(model, layers)
    probabilities = _probabilities(model, images)
    num_classes = probabilities.shape[1]
    if class_names is None:
        class_names = [f"class {k}" for k in range(num_classes)]
    elif isinstance(class_names, str) or not isinstance(class_names, (list, tuple)):
        raise TypeError(f"class_names must be a list of {num_classes} strings, got {type(class_names).__name__}")
    class_names = [str(name) for name in class_names]
    if len(class_names) != num_classes:
        raise ValueError(f"class_names must have one name per class ({num_classes}, the model's scores), "
                         f"got {len(class_names)}")
    if masks is not None:
        masks = _as_batch("masks", masks, 3)
        if masks.dtype != torch.bool or tuple(masks.shape) != (len(images),) + tuple(images.shape[2:]):
            raise ValueError(f"masks must be a bool tensor of shape {(len(images),) + tuple(images.shape[2:])}, "
                             f"got {masks.dtype} {tuple(masks.shape)}")
    alpha = check_float("alpha", alpha, minimum=0.0)
    predicted = probabilities.argmax(dim=1)
    pictures: dict[int, np.ndarray] = {}                         # image index -> picture
    maps: dict[tuple[int, int, str], torch.Tensor] = {}          # (image, class, layer) -> Grad-CAM map
    layer_shapes: dict[str, tuple[int, ...]] = {}                # layer -> (K, h, w)

    controls = {
        "image": slider("image", 0, 0, len(images) - 1),
        "class": dropdown("class", [(PREDICTED, PREDICTED)] + [(name, k) for k, name in enumerate(class_names)]),
        "layer": dropdown("layer", list(layer_modules)),
    }

    def update(values: Values) -> View:
        i, layer = values["image"], values["layer"]
        c = int(predicted[i]) if values["class"] == PREDICTED else int(values["class"])
        key = (i, c, layer)
        if key not in maps:
            maps[key] = explain.grad_cam(model, images[i:i + 1], layer_modules[layer], class_idx=c)[0]
        if layer not in layer_shapes:
            layer_shapes[layer] = tuple(explain.feature_maps(model, images[:1], layer_modules[layer]).shape[1:])
        if i not in pictures:
            pictures[i] = to_picture(f"images[{i}]", images[i])
        cam = maps[key]
        K, h, w = layer_shapes[layer]
        which = "predicted" if c == int(predicted[i]) else f"predicted: {class_names[int(predicted[i])]}"
        text = (f"image {i}: class {class_names[c]} (p = {float(probabilities[i, c]):.2f}, {which}), "
                f"layer {layer} ({K} maps of {h}×{w})")
        peak: tuple[int, int] | None = None
        hit: bool | None = None
        if cam.max() > cam.min():
            peak = divmod(int(cam.argmax()), cam.shape[1])
            text += f": peak at (row {peak[0]}, col {peak[1]})"
            if masks is not None:
                hit = bool(explain.pointing_game(cam[None], masks[i:i + 1])[0])
                text += ", on the object" if hit else ", off the object"
        else:
            text += ": the map is all zero (no positive evidence for this class at this layer)"
        fig = _grad_cam_figure(pictures[i], cam, peak, None if masks is None else masks[i], alpha,
                               f"image {i}", f"Grad-CAM {layer}, {class_names[c]}")
        state = {"class_idx": c, "class_name": class_names[c], "probability": float(probabilities[i, c]),
                 "predicted": int(predicted[i]), "layer_shape": (K, h, w), "map": cam, "peak": peak, "hit": hit}
        return View(text, fig, state)

    return Explorer(controls, update, name="grad-cam")


def _grad_cam_figure(picture: np.ndarray, cam: torch.Tensor, peak: tuple[int, int] | None, mask: torch.Tensor | None,
                     alpha: float, image_title: str, map_title: str) -> Figure:
    """Two small panels: the image, and the map over the image in grey with its peak marked."""
    fig, axes = plt.subplots(1, 2, figsize=(3.6, 2.0), dpi=80)
    plt.close(fig)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.88, wspace=0.05)
    axes[0].imshow(picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_title(image_title, fontsize=8)
    axes[1].imshow(_grey(picture), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[1].imshow(cam.double().numpy(), cmap="jet", vmin=0, vmax=1, alpha=alpha, interpolation="nearest",
                   gid="map")
    axes[1].set_title(map_title, fontsize=8)
    if peak is not None:
        axes[1].plot([peak[1]], [peak[0]], "+", color="white", markersize=9, markeredgewidth=2, gid="peak")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        if mask is not None and mask.any():
            ax.contour(mask.double().numpy(), levels=[0.5], colors="white", linewidths=0.8).set_gid("mask")
    return fig
