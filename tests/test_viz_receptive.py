"""Tests for the receptive-field explorer (course.viz.receptive).

Every number the explorer shows is compared with ``course.receptive`` called
directly on the truncated network: ``receptive_field(...)`` for the size,
stride and region, ``effective_receptive_field(..., unit=...)`` for the map.
"""
import base64

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere in this process

import ipywidgets as widgets
import pytest
import torch
from torch import nn

import course.viz as viz
from course.data import sample_photo
from course.receptive import effective_receptive_field, fraction_inside, receptive_field
from course.viz import receptive as receptive_viz
from figure_helpers import patches_with_gid

pytestmark = pytest.mark.usefixtures("no_figure_left_open")  # tests/conftest.py


@pytest.fixture(scope="module")
def image():
    """A small picture (the default is a 64x64 photo; a 32x32 input keeps the tests quick)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    return torch.stack([y, x, (x + y) / 2])


def png_of(explorer) -> bytes:
    (output,) = explorer.output.outputs
    assert output["output_type"] == "display_data"
    return base64.b64decode(output["data"]["image/png"])


def truncated(model, name):
    names = [n for n, _ in model.named_children()]
    return model[:names.index(name) + 1]


def check_against_library(w, model, image, batch=4, seed=0):
    """The label and state of the current setting equal the library's own results."""
    state = w.state()
    name, unit = state["layer"], (state["row"], state["col"])
    part = truncated(model, name)
    rf = receptive_field(part, (1, *image.shape))
    erf = effective_receptive_field(part, (batch, *image.shape), unit=unit, seed=seed)
    region = rf.region(*unit)
    assert state["error"] is None and state["unit"] == unit
    assert state["size_hw"] == rf.size_hw and state["stride_hw"] == rf.stride_hw
    assert state["output_size"] == rf.output_shape[-2:]
    assert state["region"] == region
    assert torch.equal(state["erf"], erf)
    assert state["mass_inside"] == fraction_inside(erf, region)
    assert state["mass_middle"] == fraction_inside(erf, state["middle"])
    assert state["mass_inside"] == pytest.approx(1.0, abs=1e-5)     # no gradient outside the theoretical field
    top, left, bottom, right = region
    text = w.label.value
    map_h, map_w = rf.output_shape[-2:]
    assert text.startswith(f"{name}: unit ({unit[0]}, {unit[1]}) of its {map_h}×{map_w} map")
    assert f"receptive field {rf.size_hw[0]}×{rf.size_hw[1]} pixels" in text
    assert f"rows {top}..{bottom}, columns {left}..{right}" in text
    assert f"{state['mass_inside']:.0%} of its mass inside the field" in text
    assert f"{state['mass_middle']:.0%} inside its middle" in text
    # the figure frames the same region (cell edges at -0.5)
    for ax in w.figure.axes:                                   # image with the overlay, and the map alone
        (frame,) = patches_with_gid(ax, "region")
        assert frame.get_xy() == (left - 0.5, top - 0.5)
        assert (frame.get_width(), frame.get_height()) == (right - left + 1, bottom - top + 1)
    return rf


def test_default_explorer_shows_the_library_numbers_for_every_layer():
    w = viz.receptive_field_explorer()
    model, image = receptive_viz.example_network(), sample_photo("china", size=64)     # the documented defaults
    assert image.shape == (3, 64, 64)
    assert set(w.controls) == {"layer", "row", "col"}
    assert isinstance(w.controls["layer"], widgets.Dropdown)
    assert isinstance(w.controls["row"], widgets.IntSlider) and isinstance(w.controls["col"], widgets.IntSlider)
    # the layers after which the field changes: no ReLUs
    assert list(w.controls["layer"].options) == ["conv1", "conv2", "pool", "conv3", "conv4", "conv5"]
    assert w.controls["layer"].value == "conv5" and (w.controls["row"].value, w.controls["col"].value) == (8, 8)
    sizes = []
    for name in w.controls["layer"].options:
        w.set_values(layer=name, row=3, col=5)
        sizes.append(check_against_library(w, model, image).size)
        assert "stride" in w.label.value
    assert sizes == [3, 5, 6, 10, 14, 30]                     # lecture 04, section 2
    assert "stride 4 ·" in w.label.value


def test_css_classes_and_text_form():
    w = viz.receptive_field_explorer()
    assert {"course-explorer", "course-explorer-receptive-field"} <= set(w._dom_classes)
    for name in ("layer", "row", "col"):
        assert f"course-control-{name}" in w.controls[name]._dom_classes
    assert "course-explorer-label" in w.label._dom_classes
    text = w._repr_mimebundle_()["text/plain"]
    assert text.startswith("receptive-field explorer (run the notebook to use its sliders): conv5: unit (8, 8)")
    assert repr(w).endswith(w.label.value) and "receptive field 30×30 pixels, stride 4" in repr(w)


def test_unit_sliders_follow_the_layer_and_keep_the_relative_place(image):
    model = receptive_viz.example_network()
    w = viz.receptive_field_explorer(model, image)
    maps = {name: receptive_field(truncated(model, name), (1, *image.shape)).output_shape[-2:]
            for name in w.controls["layer"].options}
    assert maps == {"conv1": (32, 32), "conv2": (32, 32), "pool": (16, 16), "conv3": (16, 16),
                    "conv4": (8, 8), "conv5": (8, 8)}
    for name, (h, w_) in maps.items():
        w.controls["layer"].value = name                       # one control, as a student moves it
        assert (w.controls["row"].max, w.controls["col"].max) == (h - 1, w_ - 1)
        assert w.state()["output_size"] == (h, w_)
    w.set_values(layer="conv1", row=31, col=0)                 # bottom-left unit of 32x32
    w.controls["layer"].value = "conv5"                       # ... stays bottom-left on the 8x8 map
    assert (w.controls["row"].value, w.controls["col"].value) == (7, 0)
    check_against_library(w, model, image)
    w.controls["layer"].value = "pool"
    assert (w.controls["row"].value, w.controls["col"].value) == (15, 0)
    check_against_library(w, model, image)


def test_units_at_the_border_reach_into_the_padding(image):
    model = receptive_viz.example_network()
    w = viz.receptive_field_explorer(model, image)
    w.set_values(layer="conv5", row=0, col=0)
    rf = check_against_library(w, model, image)
    assert rf.region(0, 0)[0] < 0 and "(partly padding)" in w.label.value
    w.set_values(row=4, col=4)
    assert "padding" not in w.label.value


def test_png_changes_with_the_unit_and_the_layer(image):
    w = viz.receptive_field_explorer(receptive_viz.example_network(), image)
    first = png_of(w)
    assert first.startswith(b"\x89PNG")
    w.controls["col"].value = 1
    second = png_of(w)
    assert second != first
    w.controls["layer"].value = "conv2"
    assert png_of(w) not in (first, second)
    w.set_values(layer="conv5", row=4, col=4)                  # back to the first setting: the same picture
    assert png_of(w) == first


def test_non_square_fields_are_shown_per_axis(image):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, (1, 7), padding=(0, 3)), nn.ReLU(), nn.MaxPool2d((2, 1)),
                          nn.Conv2d(4, 4, (3, 1), padding=(1, 0)))
    w = viz.receptive_field_explorer(model, image, layers=["0", "2", "3"])
    assert list(w.controls["layer"].options) == ["0", "2", "3"]
    w.set_values(layer="2", row=5, col=10)
    rf = check_against_library(w, model, image)
    assert rf.size_hw == (2, 7) and rf.stride_hw == (2, 1)
    assert "receptive field 2×7 pixels, stride 2×1" in w.label.value
    assert (w.controls["row"].max, w.controls["col"].max) == (15, 31)
    w.controls["layer"].value = "3"
    assert check_against_library(w, model, image).size_hw == (6, 7)


def test_grey_image_seed_and_batch(image):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.Conv2d(2, 2, 3, padding=1))
    grey = image[0]                                            # (H, W)
    w = viz.receptive_field_explorer(model, grey, seed=3, batch=2)
    assert list(w.controls["layer"].options) == ["0", "2"]
    check_against_library(w, model, grey[None], batch=2, seed=3)


def test_default_layers_stop_where_the_field_is_not_defined(image):
    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1),
                               nn.Flatten(), nn.Linear(4, 2))
    w = viz.receptive_field_explorer(classifier, image)
    assert list(w.controls["layer"].options) == ["0", "2"]


@pytest.mark.parametrize("make, error, message", [
    (lambda im: {"model": nn.Conv2d(3, 3, 3)}, TypeError, r"model must be an nn.Sequential.*got Conv2d"),
    (lambda im: {"model": nn.Sequential(nn.Conv2d(3, 3, 3, device="meta"))}, ValueError, "model is on the meta device"),
    (lambda im: {"image": im.numpy()}, TypeError, r"image must be a torch.Tensor \(C, H, W\), got ndarray"),
    (lambda im: {"image": im[:2]}, ValueError, r"image must have shape \(3, H, W\).*got \(2, 32, 32\)"),
    (lambda im: {"image": (im * 255).to(torch.uint8)}, TypeError, "image must be a floating-point tensor"),
    (lambda im: {"image": im, "layers": "conv1"}, TypeError, r"layers must be a non-empty list of names"),
    (lambda im: {"image": im, "layers": []}, TypeError, r"layers must be a non-empty list of names"),
    (lambda im: {"image": im, "layers": ["conv9"]}, ValueError,
     r"layers must name children of model \['conv1'.*'conv9'"),
    (lambda im: {"model": nn.Sequential(nn.Conv2d(3, 3, 3), nn.Flatten()), "image": im, "layers": ["1"]}, ValueError,
     r"layers: the receptive field of '1' is not defined.*Flatten"),
    (lambda im: {"model": nn.Sequential(nn.Flatten()), "image": im}, ValueError,
     r"model: the receptive field of its first layer '0' is not defined"),
    (lambda im: {"model": nn.Sequential(nn.Conv2d(1, 3, 3)), "image": im}, ValueError,
     r"model: the receptive field of its first layer '0'.*channels"),
    (lambda im: {"image": im, "seed": -1}, ValueError, "seed must be an int >= 0, got -1"),
    (lambda im: {"image": im, "batch": 0}, ValueError, "batch must be an int >= 1, got 0"),
])
def test_bad_arguments_name_the_argument(image, make, error, message):
    with pytest.raises(error, match=message):
        viz.receptive_field_explorer(**make(image))


def test_receptive_field_figure_draws_a_non_square_field():
    net = nn.Sequential(nn.Conv2d(1, 1, (1, 7), padding=(0, 3)), nn.MaxPool2d((2, 1)))
    rf = receptive_field(net, (1, 1, 12, 12))
    fig = viz.receptive_field_figure(rf, position=(2, 3))
    top, left, bottom, right = rf.region(2, 3)
    (region,) = patches_with_gid(fig.axes[0], "region")
    assert region.get_xy() == (left, top) and (region.get_height(), region.get_width()) == (2, 7)
    assert fig.get_suptitle().startswith("Receptive field of output unit (2, 3): 2×7 pixels, stride 2×1")
