"""Tests for two explorers of issue 13: unpooling (lecture 06) and Grad-CAM (lecture 09).

Each explorer is driven from code (``controls[...].value``, ``set_values``);
its label, ``state()`` and figure are checked against the library
(``course.upsample``, ``course.explain``) and the library against torch.
"""
import base64
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere in this process

import ipywidgets as widgets
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import course.viz as viz
from course import explain
from course.viz.grids import format_value
from course.viz.upsampling import unpool, unpooling_input
from figure_helpers import grid_texts, patches_with_gid

pytestmark = pytest.mark.usefixtures("no_figure_left_open")  # tests/conftest.py


def png_of(explorer) -> bytes:
    """The PNG in the explorer's Output widget."""
    (output,) = explorer.output.outputs
    assert output["output_type"] == "display_data"
    return base64.b64decode(output["data"]["image/png"])


def labels_of(tensor):
    return {(r, c): format_value(v) for r, row in enumerate(tensor.tolist()) for c, v in enumerate(row)}


def xy_set(patches):
    return {(int(p.get_xy()[1]), int(p.get_xy()[0])) for p in patches}


# --------------------------------------------------------------------------- unpooling

def torch_unpooling(method, x, s):
    """What torch gives for the same pooling and unpooling (independent of course.upsample)."""
    batch = x[None, None]
    pooled, indices = F.max_pool2d(batch, s, return_indices=True)
    if method == "nearest":
        out = F.interpolate(pooled, scale_factor=s, mode="nearest")
    elif method == "bed_of_nails":        # a transposed convolution whose kernel is 1 at the top-left only
        nail = torch.zeros(1, 1, s, s)
        nail[0, 0, 0, 0] = 1
        out = F.conv_transpose2d(pooled, nail, stride=s)
    else:
        out = F.max_unpool2d(pooled, indices, s, output_size=x.shape)
    return pooled[0, 0], indices[0, 0], out[0, 0]


def test_unpooling_input_is_a_seeded_permutation():
    x = unpooling_input(5, seed=3)
    assert x.shape == (5, 5) and x.dtype == torch.float32
    assert sorted(x.flatten().tolist()) == list(range(1, 26))
    assert torch.equal(x, unpooling_input(5, seed=3)) and not torch.equal(x, unpooling_input(5, seed=4))


@pytest.mark.parametrize("method", ["nearest", "bed_of_nails", "max_unpool"])
@pytest.mark.parametrize("size, s, seed", [(4, 2, 0), (5, 2, 1), (6, 3, 2), (8, 4, 7), (3, 1, 5)])
def test_unpool_equals_torch(method, size, s, seed):
    x = unpooling_input(size, seed)
    result = unpool(method, x, s)
    pooled, indices, expected = torch_unpooling(method, x, s)
    assert torch.equal(result["pooled"], pooled) and torch.equal(result["indices"], indices)
    assert torch.equal(result["output"], expected)
    assert result["nonzero"] == int((expected != 0).sum())
    assert result["argmax"] == [divmod(int(i), size) for i in indices.flatten()]


def test_unpooling_explorer_follows_its_controls():
    w = viz.unpooling_explorer()
    assert set(w.controls) == {"method", "scale_factor", "size", "seed"}
    assert isinstance(w.controls["method"], widgets.Dropdown)
    assert all(isinstance(w.controls[name], widgets.IntSlider) for name in ("scale_factor", "size", "seed"))
    assert [value for _, value in w.controls["method"].options] == ["nearest", "bed_of_nails", "max_unpool"]
    seen = set()
    for method, size, s, seed in [("max_unpool", 4, 2, 0), ("nearest", 4, 2, 0), ("bed_of_nails", 4, 2, 0),
                                  ("bed_of_nails", 6, 3, 0), ("max_unpool", 6, 3, 4), ("max_unpool", 5, 2, 4),
                                  ("nearest", 5, 2, 4)]:
        w.set_values(method=method, size=size, scale_factor=s, seed=seed)
        state = w.state()
        x = unpooling_input(size, seed)
        pooled, indices, expected = torch_unpooling(method, x, s)
        assert state["error"] is None
        assert torch.equal(state["x"], x) and torch.equal(state["pooled"], pooled)
        assert torch.equal(state["output"], expected)
        h, w_ = pooled.shape
        H_out, W_out = expected.shape
        assert state["input_shape"] == (h, w_) and state["output_shape"] == (H_out, W_out)
        nonzero = int((expected != 0).sum())
        assert state["nonzero"] == nonzero
        assert f"input {h}×{w_} → output {H_out}×{W_out}" in w.label.value
        assert f"{nonzero} of {H_out * W_out} output cells non-zero" in w.label.value
        assert w.label.value.startswith({"nearest": "nearest neighbour", "bed_of_nails": "bed of nails",
                                         "max_unpool": "max unpooling"}[method])
        # The figure writes the library's numbers in the cells.
        fig = w.figure
        assert grid_texts(fig.axes[-1], "output") == labels_of(expected)
        assert grid_texts(fig.axes[1], "pooled") == labels_of(pooled)
        assert grid_texts(fig.axes[0], "x") == labels_of(x)
        if method == "max_unpool":
            assert len(fig.axes) == 4
            assert grid_texts(fig.axes[2], "indices") == labels_of(indices)
            argmax = {divmod(int(i), size) for i in indices.flatten()}
            assert xy_set(patches_with_gid(fig.axes[0], "argmax")) == argmax
            assert xy_set(patches_with_gid(fig.axes[-1], "landed")) == argmax
        else:
            assert len(fig.axes) == 3
        png = png_of(w)
        assert png.startswith(b"\x89PNG") and png not in seen
        seen.add(png)


def test_unpooling_explorer_explains_an_impossible_setting():
    w = viz.unpooling_explorer(size=4)
    w.set_values(scale_factor=4, size=3)
    assert w.label.value.startswith("⚠") and "at least the scale factor 4" in w.label.value
    assert w.figure is None and w.state()["error"]
    w.controls["size"].value = 4
    assert w.state()["error"] is None and w.state()["output_shape"] == (4, 4)


def test_unpooling_explorer_css_classes_and_repr():
    w = viz.unpooling_explorer("nearest")
    assert "course-explorer-unpooling" in w._dom_classes
    for name, control in w.controls.items():
        assert f"course-control-{name}" in control._dom_classes
    assert repr(w).startswith("unpooling explorer") and "nearest neighbour ×2" in repr(w)


@pytest.mark.parametrize("kwargs, name, error", [
    ({"method": "bilinear"}, "method", ValueError),
    ({"scale_factor": 0}, "scale_factor", ValueError),
    ({"size": 0}, "size", ValueError),
    ({"seed": -1}, "seed", ValueError),
    ({"size": 2.5}, "size", TypeError),
])
def test_unpooling_explorer_names_bad_arguments(kwargs, name, error):
    with pytest.raises(error, match=name):
        viz.unpooling_explorer(**kwargs)


def test_unpool_names_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        unpool("linear", unpooling_input(4), 2)
    with pytest.raises(ValueError, match="x must be at least"):
        unpool("nearest", unpooling_input(2), 3)


def test_unpooling_method_figure_default():
    fig = viz.upsampling.unpooling_method_figure("bed_of_nails")
    assert [ax.get_title().split("\n")[0] for ax in fig.axes][-1] == "unpool_bed_of_nails"
    assert xy_set(patches_with_gid(fig.axes[-1], "landed")) == {(0, 0), (0, 2), (2, 0), (2, 2)}


# --------------------------------------------------------------------------- Grad-CAM

def small_net():
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(3, 8, 3, padding=1), relu1=nn.ReLU(), pool=nn.MaxPool2d(2),
            conv2=nn.Conv2d(8, 8, 3, padding=1), relu2=nn.ReLU())),
        gap=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), fc=nn.Linear(8, 3)))


@pytest.fixture
def setting():
    net = small_net()
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    masks = torch.zeros(3, 16, 16, dtype=torch.bool)
    masks[:, 4:10, 4:10] = True
    return net, images, masks


def test_grad_cam_explorer_shows_explain_grad_cam(setting):
    net, images, masks = setting
    layers = {"conv1": net.features.conv1, "relu2": net.features.relu2}
    w = viz.grad_cam_explorer(net, images, layers, class_names=["a", "b", "c"], masks=masks)
    assert set(w.controls) == {"image", "class", "layer"}
    assert isinstance(w.controls["image"], widgets.IntSlider) and w.controls["image"].max == 2
    assert isinstance(w.controls["class"], widgets.Dropdown) and isinstance(w.controls["layer"], widgets.Dropdown)
    assert list(w.controls["layer"].options) == ["conv1", "relu2"]
    with torch.no_grad():
        probabilities = net.eval()(images).softmax(dim=1)
    predicted = probabilities.argmax(dim=1)
    seen = set()
    for i, c, layer in [(0, "predicted", "conv1"), (1, "predicted", "conv1"), (1, 2, "conv1"), (1, 2, "relu2"),
                        (2, 0, "relu2"), (2, "predicted", "relu2")]:
        w.set_values(image=i, layer=layer, **{"class": c})
        state = w.state()
        k = int(predicted[i]) if c == "predicted" else c
        expected = explain.grad_cam(net, images[i:i + 1], layers[layer], class_idx=k)[0]
        assert state["error"] is None and state["class_idx"] == k and state["predicted"] == int(predicted[i])
        assert torch.equal(state["map"], expected)
        assert state["probability"] == pytest.approx(float(probabilities[i, k]))
        shape = tuple(explain.feature_maps(net, images[:1], layers[layer]).shape[1:])
        assert state["layer_shape"] == shape
        peak = divmod(int(expected.argmax()), expected.shape[1])
        assert state["peak"] == peak
        assert state["hit"] == bool(explain.pointing_game(expected[None], masks[i:i + 1])[0])
        label = w.label.value
        assert label.startswith(f"image {i}: class {'abc'[k]} (p = {float(probabilities[i, k]):.2f}")
        assert f"layer {layer} ({shape[0]} maps of {shape[1]}×{shape[2]})" in label
        assert f"peak at (row {peak[0]}, col {peak[1]})" in label
        assert ("on the object" if state["hit"] else "off the object") in label
        # The figure: the map overlaid (scaled as drawn) and the peak marked.
        (overlay,) = [im for im in w.figure.axes[1].images if im.get_gid() == "map"]
        assert torch.allclose(torch.as_tensor(overlay.get_array().data), expected.double())
        (marker,) = [line for line in w.figure.axes[1].lines if line.get_gid() == "peak"]
        assert marker.get_xydata().tolist() == [[peak[1], peak[0]]]
        png = png_of(w)
        assert png.startswith(b"\x89PNG")
        seen.add(png)
    assert len(seen) >= 5          # each control changes the picture


def test_grad_cam_explorer_caches_maps_per_image_class_and_layer(setting, monkeypatch):
    net, images, _ = setting
    calls = []
    real = explain.grad_cam

    def counting(*args, **kwargs):
        calls.append(kwargs.get("class_idx"))
        return real(*args, **kwargs)

    monkeypatch.setattr(explain, "grad_cam", counting)
    w = viz.grad_cam_explorer(net, images, ["features.conv1", "features.conv2"])
    assert len(calls) == 1
    w.controls["layer"].value = "features.conv2"
    w.controls["layer"].value = "features.conv1"     # back: from the cache
    assert len(calls) == 2
    w.controls["class"].value = 1
    w.controls["class"].value = "predicted"
    assert len(calls) <= 4


def test_grad_cam_explorer_leaves_the_model_as_it_was(setting):
    net, images, _ = setting
    net.train()
    w = viz.grad_cam_explorer(net, images, ["features.conv2"])
    w.set_values(image=2, **{"class": 1})
    assert all(module.training for module in net.modules())
    assert all(not module._forward_hooks for module in net.modules())
    assert all(p.grad is None for p in net.parameters())


def test_grad_cam_explorer_all_zero_map_and_defaults(setting):
    net, images, _ = setting
    with torch.no_grad():
        net.fc.weight.zero_()                      # every class score is the bias: no gradient, an all-zero map
    w = viz.grad_cam_explorer(net, images[0], ["features.conv2"])
    assert w.controls["image"].max == 0
    assert [label for label, _ in w.controls["class"].options] == ["predicted", "class 0", "class 1", "class 2"]
    assert w.state()["peak"] is None and "the map is all zero" in w.label.value
    assert not [line for line in w.figure.axes[1].lines if line.get_gid() == "peak"]


def test_grad_cam_explorer_css_classes_and_repr(setting):
    net, images, _ = setting
    w = viz.grad_cam_explorer(net, images, ["features.conv1"], class_names=["a", "b", "c"])
    assert "course-explorer-grad-cam" in w._dom_classes
    for name, control in w.controls.items():
        assert f"course-control-{name}" in control._dom_classes
    assert repr(w).startswith("grad-cam explorer") and "layer features.conv1" in repr(w)


@pytest.mark.parametrize("change, name, error", [
    ({"model": "net"}, "model", TypeError),
    ({"images": torch.zeros(2, 3, 16, 16, dtype=torch.int64)}, "images", TypeError),
    ({"images": torch.zeros(16, 16)}, "images", ValueError),
    ({"layers": ["features.conv9"]}, "layers", ValueError),
    ({"layers": []}, "layers", ValueError),
    ({"layers": "features.conv1"}, "layers", TypeError),
    ({"layers": {"outside": nn.Conv2d(3, 3, 1)}}, "layers", ValueError),
    ({"class_names": ["a", "b"]}, "class_names", ValueError),
    ({"masks": torch.zeros(3, 8, 8, dtype=torch.bool)}, "masks", ValueError),
])
def test_grad_cam_explorer_names_bad_arguments(setting, change, name, error):
    net, images, _ = setting
    arguments = {"model": net, "images": images, "layers": ["features.conv1"], "class_names": None, "masks": None}
    arguments.update(change)
    with pytest.raises(error, match=name):
        viz.grad_cam_explorer(arguments.pop("model"), arguments.pop("images"), arguments.pop("layers"), **arguments)
