"""The receptive-field explorer (lecture 04): one unit's theoretical and effective field over an image.

- :func:`receptive_field_explorer`: choose a layer of a network and a unit of
  its output map; the figure draws the unit's theoretical receptive field
  (``course.receptive.receptive_field(...).region(i, j)``) as a rectangle on
  the image, with the effective receptive field of the same unit
  (``course.receptive.effective_receptive_field(..., unit=(i, j))``) laid
  over it, and the label gives the numbers.
- :func:`example_network`: the small network it explores by default (the
  lecture's ``small`` network: two 3x3 convolutions, 2x2 max pooling, a
  3x3 convolution, a stride-2 one and a dilated one).

Example::

    >>> w = receptive_field_explorer()
    >>> w.set_values(layer="pool", row=0, col=0)
    >>> w.state()["size_hw"], w.state()["region"]
    ((6, 6), (-2, -2, 3, 3))
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle
from torch import nn

from course._checks import check_int
from course.receptive import effective_receptive_field, fraction_inside, receptive_field
from course.viz.explorer import Controls, Explorer, Values, View, dropdown, slider

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import ColorType, LineStyleType

    from course.receptive import ReceptiveField

Region = tuple[int, int, int, int]      # (top, left, bottom, right), inclusive, as ReceptiveField.region returns

__all__ = ["example_network", "receptive_field_explorer"]

REGION_COLOR = "cyan"


def example_network(seed: int = 0) -> nn.Sequential:
    """The explorer's default network, with random weights from ``seed`` (the global RNG is untouched).

    ``conv1`` 3x3, ``conv2`` 3x3, ``pool`` 2x2 max, ``conv3`` 3x3, ``conv4``
    3x3 stride 2, ``conv5`` 3x3 dilation 2, with ReLUs between; 3 input
    channels, "same" padding. Receptive fields 3, 5, 6, 10, 14, 30 pixels,
    strides 1, 1, 2, 2, 4, 4 (lecture 04, section 2).

    >>> [receptive_field(example_network()[:k], (1, 3, 32, 32)).size for k in (1, 3, 5, 6, 8, 10)]
    [3, 5, 6, 10, 14, 30]
    """
    seed = check_int("seed", seed, minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, 8, 3, padding=1)), ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(8, 8, 3, padding=1)), ("relu2", nn.ReLU()),
            ("pool", nn.MaxPool2d(2)),
            ("conv3", nn.Conv2d(8, 16, 3, padding=1)), ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(16, 16, 3, stride=2, padding=1)), ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(16, 16, 3, padding=2, dilation=2)),
        ])).eval()


def _check_image(image: object) -> torch.Tensor:
    """``(C, H, W)`` float32 from a ``(C, H, W)``, ``(1, C, H, W)`` or ``(H, W)`` tensor."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch.Tensor (C, H, W), got {type(image).__name__}")
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    elif image.dim() == 2:
        image = image[None]
    if image.dim() != 3 or image.shape[0] not in (1, 3) or min(image.shape[1:]) < 1:
        raise ValueError(f"image must have shape (3, H, W) or (1, H, W) (or (H, W)), got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise TypeError(f"image must be a floating-point tensor with values in [0, 1], got dtype {image.dtype}")
    return image.detach().to(torch.float32).cpu()


def _show_pair(pair: Sequence[int], unit: str = "") -> str:
    """``14`` when both axes agree, ``7×13`` (height × width) when not."""
    return f"{pair[0]}{unit}" if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}{unit}"


def _middle(region: Region, size_hw: tuple[int, int]) -> Region:
    """The middle of ``region``: half its height and half its width (rounded up), centred."""
    top, left, bottom, right = region
    cut_h, cut_w = (size - (size + 1) // 2 for size in size_hw)       # rows and columns left out
    return (top + cut_h // 2, left + cut_w // 2, bottom - (cut_h - cut_h // 2), right - (cut_w - cut_w // 2))


def receptive_field_explorer(model: nn.Sequential | None = None, image: torch.Tensor | None = None,
                             layers: Sequence[str] | None = None, *, seed: int = 0, batch: int = 4) -> Explorer:
    """Pick a layer and one of its units; see its theoretical and effective receptive field on an image.

    Args:
        model: an ``nn.Sequential`` with real weights (default
            :func:`example_network`); its children are the layers to choose from.
        image: ``(3, H, W)`` (or ``(1, H, W)``) float tensor in ``[0, 1]``
            (default: the ``"china"`` photo of ``course.data`` at 64x64). The
            fields are computed for inputs of this size and drawn on it.
        layers: names of children of ``model`` to offer; default: every child
            after which the receptive field changes (convolutions and pooling,
            not activations), stopping at the first layer it is not defined for.
        seed: seeds the random inputs of the effective receptive field.
        batch: the effective receptive field sums the gradients of ``batch``
            random inputs (a smoother map than one gives).

    Controls: ``"layer"`` (a dropdown of the names), ``"row"`` and ``"col"``
    (the output unit; their range follows the chosen layer's map, and a new
    layer keeps the unit at the same relative place: corners stay corners). The label says the
    layer, the unit, the receptive field size and stride (``h×w`` when the
    axes differ), the rows and columns of ``rf.region(row, col)``, and how
    much of the effective field's mass (:func:`course.receptive.fraction_inside`)
    lies inside that region and inside its middle (half the height, half the
    width). ``state()`` holds ``layer``, ``unit``, ``output_size``,
    ``size_hw``, ``stride_hw``, ``region``, ``middle``, ``mass_inside``,
    ``mass_middle`` and ``erf`` (the ``(H, W)`` map of
    ``effective_receptive_field(model[:k], (batch, C, H, W), unit=(row, col), seed=seed)``
    with ``model[:k]`` the layers up to the chosen one).
    Truncated models, receptive fields and gradient maps are cached.
    """
    seed = check_int("seed", seed, minimum=0)
    batch = check_int("batch", batch, minimum=1)
    if model is None:
        model = example_network()
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential whose children are the layers to explore "
                        f"(e.g. torchvision's vgg16().features), got {type(model).__name__}")
    if any(p.device.type == "meta" for p in model.parameters()):
        raise ValueError("model is on the meta device (it has no weights); the effective receptive field "
                         "needs real weights")
    if image is None:
        from course.data import sample_photo

        image = sample_photo("china", size=64)
    image = _check_image(image)
    channels, height, width = image.shape
    input_size = (1, channels, height, width)
    names = [name for name, _ in model.named_children()]

    def field_of(name: str) -> ReceptiveField:
        return receptive_field(model[:names.index(name) + 1], input_size)

    fields: dict[str, ReceptiveField] = {}
    if layers is None:
        previous = None
        for name in names:
            try:
                rf = field_of(name)
            except ValueError as error:
                if not fields:
                    raise ValueError(f"model: the receptive field of its first layer {name!r} is not defined "
                                     f"for image of shape {tuple(image.shape)}: {error}") from error
                break
            key = (rf.size_hw, rf.stride_hw, rf.start_hw, rf.output_shape[-2:])
            if key != previous:
                fields[name] = rf
            previous = key
    else:
        if isinstance(layers, str) or not isinstance(layers, (list, tuple)) or not layers:
            raise TypeError(f"layers must be a non-empty list of names of model's children {names}, got {layers!r}")
        for name in layers:
            if name not in names:
                raise ValueError(f"layers must name children of model {names}, got {name!r}")
            try:
                fields[name] = field_of(name)
            except ValueError as error:
                raise ValueError(f"layers: the receptive field of {name!r} is not defined: {error}") from error
    if len(fields) == 0:
        raise ValueError("model has no layer whose receptive field can be computed")

    last = list(fields)[-1]
    out_h, out_w = fields[last].output_shape[-2:]
    controls = {
        "layer": dropdown("layer", list(fields), last),
        "row": slider("unit row", out_h // 2, 0, out_h - 1),
        "col": slider("unit col", out_w // 2, 0, out_w - 1),
    }
    shown = {"layer": last}
    erf_cache: dict[tuple[str, tuple[int, int]], torch.Tensor] = {}

    def adjust(controls: Controls) -> None:
        """Row and column range over the chosen layer's map; a new layer keeps the unit's relative place."""
        name = controls["layer"].value
        new_h, new_w = fields[name].output_shape[-2:]
        old_h, old_w = fields[shown["layer"]].output_shape[-2:]
        for control, old, new in ((controls["row"], old_h, new_h), (controls["col"], old_w, new_w)):
            place = control.value / (old - 1) if old > 1 else 0.5    # 0 at the first unit, 1 at the last
            control.max = new - 1
            if name != shown["layer"]:
                control.value = round(place * (new - 1))
        shown["layer"] = name

    def erf_of(name: str, unit: tuple[int, int]) -> torch.Tensor:
        if (name, unit) not in erf_cache:
            erf_cache[(name, unit)] = effective_receptive_field(
                model[:names.index(name) + 1], (batch, channels, height, width), unit=unit, seed=seed)
        return erf_cache[(name, unit)]

    def update(values: Values) -> View:
        name, unit = values["layer"], (values["row"], values["col"])
        rf = fields[name]
        map_h, map_w = rf.output_shape[-2:]
        if not (0 <= unit[0] < map_h and 0 <= unit[1] < map_w):
            raise ValueError(f"unit {unit} is outside the {map_h}×{map_w} map of layer {name!r}")
        region = rf.region(*unit)
        middle = _middle(region, rf.size_hw)
        erf = erf_of(name, unit)
        inside, in_middle = fraction_inside(erf, region), fraction_inside(erf, middle)
        top, left, bottom, right = region
        padding = " (partly padding)" if top < 0 or left < 0 or bottom >= height or right >= width else ""
        text = (f"{name}: unit ({unit[0]}, {unit[1]}) of its {map_h}×{map_w} map · receptive field "
                f"{rf.size_hw[0]}×{rf.size_hw[1]} pixels, stride {_show_pair(rf.stride_hw)} · "
                f"rows {top}..{bottom}, columns {left}..{right}{padding} · effective field: "
                f"{inside:.0%} of its mass inside the field, {in_middle:.0%} inside its middle "
                f"{middle[2] - middle[0] + 1}×{middle[3] - middle[1] + 1}")
        fig = _figure(image, erf, region, middle, rf, unit, name)
        state = {"layer": name, "unit": unit, "output_size": (map_h, map_w), "size_hw": rf.size_hw,
                 "stride_hw": rf.stride_hw, "region": region, "middle": middle, "mass_inside": inside,
                 "mass_middle": in_middle, "erf": erf}
        return View(text, fig, state)

    return Explorer(controls, update, adjust, name="receptive-field")


def _outline(ax: Axes, region: Region, *, color: ColorType, gid: str, linestyle: LineStyleType = "-",
             linewidth: float = 1.8) -> None:
    top, left, bottom, right = region
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False,
                           edgecolor=color, linewidth=linewidth, linestyle=linestyle, gid=gid, zorder=3))


def _figure(image: torch.Tensor, erf: torch.Tensor, region: Region, middle: Region, rf: ReceptiveField,
            unit: tuple[int, int], name: str) -> Figure:
    """Left: the image, the effective field laid over it, the theoretical field framed. Right: the field alone."""
    channels, height, width = image.shape
    top, left, bottom, right = region
    y0, x0 = min(top, 0) - 0.5, min(left, 0) - 0.5
    y1, x1 = max(bottom + 1, height) - 0.5, max(right + 1, width) - 0.5

    fig, (ax_image, ax_erf) = plt.subplots(1, 2, figsize=(6, 2.8), dpi=80)
    plt.close(fig)  # returned, not left open in pyplot
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.03, top=0.83, wspace=0.08)
    picture = image[0].numpy() if channels == 1 else image.permute(1, 2, 0).numpy()
    weights = erf.detach().to(torch.float64).numpy()
    overlay = plt.get_cmap("magma")(weights)
    overlay[..., 3] = 0.85 * np.sqrt(weights)          # transparent where the gradient is zero
    for ax in (ax_image, ax_erf):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="0.88", edgecolor="0.6", linestyle="--",
                               gid="padding", zorder=0))
    ax_image.imshow(picture, cmap="gray" if channels == 1 else None, vmin=0, vmax=1, zorder=1, gid="image")
    ax_image.imshow(overlay, zorder=2, gid="erf-overlay")
    ax_erf.imshow(np.sqrt(weights), cmap="magma", vmin=0, vmax=1, zorder=1, gid="erf")
    centre = (rf.start_hw[1] + unit[1] * rf.stride_hw[1], rf.start_hw[0] + unit[0] * rf.stride_hw[0])
    for ax in (ax_image, ax_erf):
        _outline(ax, region, color=REGION_COLOR, gid="region")
        _outline(ax, middle, color=REGION_COLOR, gid="middle", linestyle=":", linewidth=1.2)
        ax.plot(*centre, marker="+", color=REGION_COLOR, markersize=8, gid="centre", zorder=4)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y1, y0)
        ax.set_xticks([])
        ax.set_yticks([])
    ax_image.set_title(f"input {height}×{width}, field of unit {unit}", fontsize=9)
    ax_erf.set_title("effective field |∂unit/∂input| (√ scale)", fontsize=9)
    fig.suptitle(f"{name}: theoretical field {rf.size_hw[0]}×{rf.size_hw[1]} (cyan), stride "
                 f"{_show_pair(rf.stride_hw)}", fontsize=10)
    return fig
