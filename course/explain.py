"""What a network looks at: feature maps, saliency, occlusion, CAM and Grad-CAM.

A classifier maps an image ``x`` (N, C, H, W) to class scores ``y`` (N, num_classes),
the logits before the softmax. The functions here ask which pixels of ``x``
a score ``y_c`` depends on, each in its own way:

==========================  ====================================================  =====================
function                    the map for class ``c``                               paper
==========================  ====================================================  =====================
:func:`feature_maps`        the output ``A`` of one layer (not class-specific)    Zeiler & Fergus 2014
:func:`saliency`            ``max over channels |d y_c / d x|``                   Simonyan et al. 2014
:func:`occlusion`           drop of ``y_c`` when a patch of ``x`` is covered      Zeiler & Fergus 2014
:func:`cam`                 ``sum_k w_k^c A_k`` (global-average-pooling nets)     Zhou et al. 2016
:func:`grad_cam`            ``ReLU(sum_k alpha_k A_k)``, ``alpha_k`` the          Selvaraju et al. 2017
                            mean of ``d y_c / d A_k``
==========================  ====================================================  =====================

and two ways to check a map: :func:`pointing_game` (does its maximum fall on
the object?) and :func:`cascading_randomization` with :func:`rank_correlation`
(does the map change when the network's weights are destroyed? Adebayo et al. 2018).

Conventions shared by every function:

* ``class_idx`` is ``None`` (each image's predicted class, ``y.argmax(1)``),
  an int (the same class for every image), or an ``(N,)`` int tensor (one
  class per image: a batch can ask about different classes).
* The model runs in **eval mode** (batch norm uses its running statistics,
  dropout is off); afterwards every submodule is back in the train/eval mode
  it was in. No hook stays on the model and no parameter's ``.grad`` is
  created or changed: gradients are taken with ``torch.autograd.grad`` with
  respect to the input or to one layer's output only. The functions work
  inside ``torch.no_grad()`` too.
* The maps are detached tensors of ``x``'s dtype, on ``x``'s device.

>>> import torch
>>> from torch import nn
>>> _ = torch.manual_seed(0)
>>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
...                     nn.Linear(8, 4))
>>> x = torch.rand(2, 3, 16, 16)
>>> grad_cam(net, x, target_layer=net[1], class_idx=torch.tensor([0, 3])).shape
torch.Size([2, 16, 16])
>>> saliency(net, x).shape, occlusion(net, x, patch=4, stride=4).shape
(torch.Size([2, 16, 16]), torch.Size([2, 16, 16]))
>>> torch.allclose(cam(net, x, target_layer=net[1]), grad_cam(net, x, net[1]), atol=1e-6)   # a GAP network
True
"""
from __future__ import annotations

import contextlib
import copy
import numbers
from collections.abc import Iterator, Sequence
from typing import Union

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_bool, check_float, check_int, check_pair

__all__ = [
    "feature_maps", "first_layer_filters", "saliency", "occlusion", "cam", "grad_cam",
    "normalize_maps", "pointing_game", "rank_correlation", "cascading_randomization",
]

# None (each image's predicted class), an int, a list of ints or an (N,) integer tensor.
ClassIndex = Union[int, Sequence[int], torch.Tensor, None]


# --------------------------------------------------------------------------- argument checks

def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_images(x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of images (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.shape[0] == 0:
        raise ValueError(f"x must hold at least one image, got shape {tuple(x.shape)}")
    return x


def _check_layer(model: nn.Module, layer: object, name: str) -> nn.Module:
    if not isinstance(layer, nn.Module):
        raise TypeError(f"{name} must be an nn.Module inside model (such as model.features[-1]), "
                        f"got {type(layer).__name__}")
    if not any(module is layer for module in model.modules()):
        raise ValueError(f"{name} must be a module inside model (one of model.modules()), "
                         f"got a {type(layer).__name__} that is not part of it")
    return layer


def _class_indices(class_idx: object, scores: torch.Tensor) -> torch.Tensor:
    """``class_idx`` as an ``(N,)`` int64 tensor of classes in ``[0, num_classes)``."""
    n, num_classes = scores.shape
    if class_idx is None:
        return scores.detach().argmax(dim=1)
    if isinstance(class_idx, (list, tuple)):
        if not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in class_idx):
            raise TypeError(f"class_idx must be None, an int or an (N,) integer tensor, got {class_idx!r}")
        class_idx = torch.tensor(class_idx, dtype=torch.int64)
    if isinstance(class_idx, bool) or not isinstance(class_idx, (numbers.Integral, torch.Tensor)):
        raise TypeError(f"class_idx must be None, an int or an (N,) integer tensor, "
                        f"got {type(class_idx).__name__} {class_idx!r}")
    if isinstance(class_idx, torch.Tensor):
        if class_idx.is_floating_point() or class_idx.is_complex() or class_idx.dtype == torch.bool:
            raise TypeError(f"class_idx must be an integer tensor, got dtype {class_idx.dtype}")
        if class_idx.dim() == 0:
            class_idx = class_idx.expand(n)
        elif tuple(class_idx.shape) != (n,):
            raise ValueError(f"class_idx must be an int or a tensor of shape ({n},), one class per image, "
                             f"got shape {tuple(class_idx.shape)}")
        idx = class_idx.to(device=scores.device, dtype=torch.int64)
    else:
        idx = torch.full((n,), int(class_idx), dtype=torch.int64, device=scores.device)
    bad = (idx < 0) | (idx >= num_classes)
    if bad.any():
        raise ValueError(f"class_idx must be class indices in [0, {num_classes}) (the model has "
                         f"{num_classes} scores), got {int(idx[bad][0])}")
    return idx


def _check_scores(scores: object, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or scores.shape[0] != x.shape[0]:
        got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"model must return class scores of shape (N, num_classes) = ({x.shape[0]}, ...) "
                         f"for x of shape {tuple(x.shape)}, got {got}")
    return scores


def _selected(scores: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``y[n, idx[n]]`` for every image ``n``: shape (N,)."""
    return scores.gather(1, idx[:, None])[:, 0]


# --------------------------------------------------------------------------- running the model

@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode; afterwards restore each submodule's own ``training`` flag."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def _run(model: nn.Module, x: torch.Tensor, layer: nn.Module, name: str, *,
         track: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model(x)`` and catch the output ``A`` of ``layer``; return ``(scores, A)``.

    A forward hook (removed before returning) records ``A``. With ``track``,
    ``A`` is made a leaf that requires grad and the rest of the network runs
    on a copy of it, so ``torch.autograd.grad(score, A)`` is the gradient with
    respect to the layer's output, even if a later in-place operation (such
    as ``ReLU(inplace=True)``) overwrites the copy. Without ``track`` ``A`` is
    a detached copy.
    """
    caught: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: object) -> torch.Tensor | None:
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"{name} must output a tensor, got {type(output).__name__}")
        if caught:
            raise ValueError(f"{name} must be called once in model's forward pass, it was called more than once "
                             f"(pick a module that is used only once)")
        if track:
            leaf = output.detach().requires_grad_(True)
            caught.append(leaf)
            return leaf.clone()                 # the network goes on from a copy; gradients flow back to `leaf`
        caught.append(output.detach().clone())
        return None

    handle = layer.register_forward_hook(hook)
    try:
        scores = model(x)
    finally:
        handle.remove()
    scores = _check_scores(scores, x)
    if not caught:
        raise ValueError(f"{name} was not called in model's forward pass: pick a layer the input goes through")
    return scores, caught[0]


def _check_feature_map(a: torch.Tensor, name: str) -> torch.Tensor:
    if a.dim() != 4:
        raise ValueError(f"{name} must output feature maps (N, K, h, w), got shape {tuple(a.shape)}")
    return a


def _upsample(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear upsampling (``align_corners=False``) of ``(N, h, w)`` maps to ``size = (H, W)``."""
    return F.interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Divide each map by its largest absolute value: ``maps[n] / max |maps[n]|``.

    ``maps`` is ``(N, ...)``; a non-negative map ends in ``[0, 1]`` with maximum 1,
    a signed one in ``[-1, 1]``. An all-zero map stays zero (no division by zero).

    >>> normalize_maps(torch.tensor([[[0., 2.], [1., 4.]], [[0., 0.], [0., 0.]]])).tolist()
    [[[0.0, 0.5], [0.25, 1.0]], [[0.0, 0.0], [0.0, 0.0]]]
    """
    if not isinstance(maps, torch.Tensor) or not maps.is_floating_point() or maps.dim() < 2:
        got = (f"shape {tuple(maps.shape)}, dtype {maps.dtype}" if isinstance(maps, torch.Tensor)
               else type(maps).__name__)
        raise TypeError(f"maps must be a floating-point tensor (N, ...) of maps, got {got}")
    scale = maps.detach().abs().flatten(1).amax(dim=1).view(-1, *([1] * (maps.dim() - 1)))
    return torch.where(scale > 0, maps / torch.where(scale > 0, scale, torch.ones_like(scale)),
                       torch.zeros_like(maps))


# --------------------------------------------------------------------------- looking inside

def feature_maps(model: nn.Module, x: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """The output of ``layer`` when ``model`` runs on ``x``: usually ``(N, K, h, w)`` feature maps.

    A forward hook on ``layer`` records its output during ``model(x)`` (in
    eval mode, without gradients) and is removed afterwards. ``layer`` must be
    a module inside ``model`` that the input goes through exactly once.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    >>> feature_maps(net, torch.rand(2, 3, 8, 8), net[1]).shape
    torch.Size([2, 4, 8, 8])
    """
    model = _check_model(model)
    x = _check_images(x)
    _check_layer(model, layer, "layer")
    with _eval_mode(model), torch.no_grad():
        _, a = _run(model, x, layer, "layer", track=False)
    return a


def first_layer_filters(model: nn.Module) -> torch.Tensor:
    """The weights ``(C_out, C_in, kH, kW)`` of the first ``nn.Conv2d`` in ``model`` (a detached copy).

    "First" is the order of ``model.modules()``, which is the order of
    computation for ``nn.Sequential`` networks. With RGB input (``C_in = 3``)
    each filter can be drawn as a small colour image
    (:func:`course.viz.filters_figure`).

    >>> first_layer_filters(nn.Sequential(nn.Conv2d(3, 16, 5), nn.ReLU(), nn.Conv2d(16, 8, 3))).shape
    torch.Size([16, 3, 5, 5])
    """
    model = _check_model(model)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.weight.detach().clone()
    raise ValueError(f"model must contain an nn.Conv2d, got a {type(model).__name__} without one")


# --------------------------------------------------------------------------- gradient and occlusion maps

def saliency(model: nn.Module, x: torch.Tensor, class_idx: ClassIndex = None) -> torch.Tensor:
    """Gradient saliency: ``M[n, i, j] = max_channels |d y_c / d x[n, :, i, j]|``, shape ``(N, H, W)``.

    Simonyan et al. (2014): how much a small change of each pixel changes the
    class score ``y_c`` (the logit, before the softmax). Not normalised: the
    values are in score units per unit of pixel value (see :func:`normalize_maps`).

    Args:
        model: maps ``(N, C, H, W)`` images to ``(N, num_classes)`` scores.
        x: ``(N, C, H, W)`` float images.
        class_idx: None (each image's predicted class), an int, or an ``(N,)`` int tensor.

    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    >>> saliency(net, torch.rand(3, 1, 5, 5), class_idx=1).shape
    torch.Size([3, 5, 5])
    """
    model = _check_model(model)
    x = _check_images(x)
    with _eval_mode(model), torch.enable_grad():
        inputs = x.detach().clone().requires_grad_(True)
        scores = _check_scores(model(inputs), x)
        idx = _class_indices(class_idx, scores)
        if not scores.requires_grad:
            raise ValueError("model's scores do not depend on x through differentiable operations")
        # Images are independent in eval mode, so d(sum_n y[n, c_n]) / dx[n] = d y[n, c_n] / dx[n].
        (grad,) = torch.autograd.grad(_selected(scores, idx).sum(), inputs, allow_unused=True)
    if grad is None:
        return torch.zeros_like(x[:, 0])
    return grad.abs().amax(dim=1)


def _positions(size: int, patch: int, stride: int) -> list[int]:
    """Top (or left) edges of the patches: 0, stride, ..., and the last one flush with the border."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def _check_fill(fill: object, x: torch.Tensor) -> torch.Tensor:
    n, c = x.shape[:2]
    if isinstance(fill, torch.Tensor):
        fill = fill.detach().to(device=x.device, dtype=x.dtype)
        if fill.dim() == 0:
            return fill.view(1, 1, 1, 1)
        if tuple(fill.shape) == (c,):
            return fill.view(1, c, 1, 1)
        if tuple(fill.shape) == (n, c):
            return fill.view(n, c, 1, 1)
        raise ValueError(f"fill must be a number or a tensor of shape ({c},) or ({n}, {c}), "
                         f"got shape {tuple(fill.shape)}")
    return torch.tensor(check_float("fill", fill), dtype=x.dtype, device=x.device).view(1, 1, 1, 1)


def occlusion(model: nn.Module, x: torch.Tensor, class_idx: ClassIndex = None, patch: int | Sequence[int] = 8,
              stride: int | Sequence[int] = 4, fill: float | torch.Tensor = 0.0,
              batch_size: int = 256) -> torch.Tensor:
    """Occlusion sensitivity: how much ``y_c`` drops when a patch of the image is covered; ``(N, H, W)``.

    Zeiler & Fergus (2014). A ``patch`` (``ph x pw``) of every channel is set
    to ``fill`` at the positions ``(r, s)``, ``r = 0, stride, 2 stride, ...``
    (plus a last position flush with the bottom and right borders, so the
    borders are covered). For each position the **drop** of the class score is
    ``d(r, s) = y_c(x) - y_c(x with the patch at (r, s) filled)``, and each
    pixel gets the **mean drop over the patches that cover it**::

        M[i, j] = mean { d(r, s) : r <= i < r + ph, s <= j < s + pw }

    so the result has the input's size ``(N, H, W)`` (the patch grid itself has
    ``floor((H - ph) / sh) + 1`` rows, one more when the last is added).
    Pixels that no patch covers (possible when ``stride > patch``) get 0.
    Positive: covering these pixels lowers the score (the network uses them);
    negative: covering them raises it. Not normalised (score units).

    It costs one forward pass per patch position and image, with no gradients.

    Args:
        model: as in :func:`saliency`.
        x: as in :func:`saliency`.
        class_idx: as in :func:`saliency`.
        patch: the side of the grey square, an int or an ``(h, w)`` pair; it must fit in the image.
        stride: the step between patch positions, an int or an ``(h, w)`` pair.
        fill: the value that covers the patch: a number, a tensor ``(C,)``
            (one per channel, e.g. the data's mean colour) or ``(N, C)``.
        batch_size: at most this many occluded images per forward pass.

    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    >>> with torch.no_grad():
    ...     _ = net[1].weight.zero_(); net[1].weight[0, 5] = 1.0      # class 0 looks at pixel (1, 1) only
    >>> occlusion(net, torch.ones(1, 1, 4, 4), class_idx=0, patch=2, stride=2)[0]
    tensor([[1., 1., 0., 0.],
            [1., 1., 0., 0.],
            [0., 0., 0., 0.],
            [0., 0., 0., 0.]])
    """
    model = _check_model(model)
    x = _check_images(x)
    ph, pw = check_pair("patch", patch, minimum=1)
    sh, sw = check_pair("stride", stride, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n, _, height, width = x.shape
    if ph > height or pw > width:
        raise ValueError(f"patch must fit in the image ({height}, {width}), got ({ph}, {pw})")
    value = _check_fill(fill, x)
    positions = [(r, s) for r in _positions(height, ph, sh) for s in _positions(width, pw, sw)]
    total = torch.zeros(n, height, width, dtype=x.dtype, device=x.device)
    count = torch.zeros(height, width, dtype=x.dtype, device=x.device)
    with _eval_mode(model), torch.no_grad():
        scores = _check_scores(model(x), x)
        idx = _class_indices(class_idx, scores)
        base = _selected(scores, idx)
        per_pass = max(1, batch_size // n)               # patch positions per forward pass
        for start in range(0, len(positions), per_pass):
            chunk = positions[start:start + per_pass]
            covered = x.repeat(len(chunk), 1, 1, 1)      # (P * N, C, H, W): position-major
            for k, (r, s) in enumerate(chunk):
                covered[k * n:(k + 1) * n, :, r:r + ph, s:s + pw] = value
            drops = base.repeat(len(chunk)) - _selected(model(covered), idx.repeat(len(chunk)))
            for k, (r, s) in enumerate(chunk):
                total[:, r:r + ph, s:s + pw] += drops[k * n:(k + 1) * n, None, None]
                count[r:r + ph, s:s + pw] += 1
    return total / count.clamp(min=1)                  # a pixel no patch covers keeps 0


# --------------------------------------------------------------------------- CAM and Grad-CAM

def _last_linear(model: nn.Module) -> nn.Linear:
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError("model must end in global average pooling and an nn.Linear for CAM, "
                         "got a model without nn.Linear (use grad_cam)")
    return linears[-1]


def cam(model: nn.Module, x: torch.Tensor, class_idx: ClassIndex = None, *, target_layer: nn.Module | None = None,
        linear: nn.Linear | None = None, normalize: bool = True) -> torch.Tensor:
    """Class activation map (Zhou et al. 2016) of a network that ends in global average pooling.

    The model must compute ``y = W mean_ij A[:, :, i, j] + b``: the feature maps
    ``A`` (N, K, h, w) of ``target_layer``, averaged over their ``h x w``
    positions, then one linear layer ``W`` (num_classes, K). Moving the average
    out of the sum shows where each score comes from::

        y_c = sum_k w_k^c mean_ij A_k[i, j] + b_c = mean_ij M_c[i, j] + b_c,
        M_c = sum_k w_k^c A_k                      (the CAM, shape (h, w))

    Args:
        model: as in :func:`saliency`.
        x: as in :func:`saliency`.
        class_idx: as in :func:`saliency`.
        target_layer: the module whose output is pooled; default ``model.features``.
        linear: the final ``nn.Linear``; default the last ``nn.Linear`` in ``model.modules()``.
        normalize: True: ``ReLU(M_c)``, upsampled bilinearly (``align_corners=False``)
            to ``(H, W)`` and divided by its per-image maximum, exactly the
            post-processing of :func:`grad_cam`: ``(N, H, W)`` in ``[0, 1]``.
            False: the raw, signed ``M_c`` at the feature maps' resolution ``(N, h, w)``,
            whose mean plus ``b_c`` is the score.

    Raises ``ValueError`` when the model's scores are not ``linear`` applied to
    the spatial mean of ``target_layer``'s output (then use :func:`grad_cam`,
    which works for any network).
    """
    model = _check_model(model)
    x = _check_images(x)
    if target_layer is None:
        target_layer = getattr(model, "features", None)
        if not isinstance(target_layer, nn.Module):
            raise ValueError("target_layer must be given: model has no .features module "
                             "(pass the layer whose output is globally average-pooled)")
    _check_layer(model, target_layer, "target_layer")
    final = _last_linear(model) if linear is None else _check_layer(model, linear, "linear")
    if not isinstance(final, nn.Linear):
        raise TypeError(f"linear must be an nn.Linear, got {type(final).__name__}")
    check_bool("normalize", normalize)
    with _eval_mode(model), torch.no_grad():
        scores, a = _run(model, x, target_layer, "target_layer", track=False)
        _check_feature_map(a, "target_layer")
        weight, bias = final.weight, final.bias
        if weight.shape != (scores.shape[1], a.shape[1]):
            raise ValueError(f"model must end in global average pooling of target_layer and linear for CAM: "
                             f"linear must map the {a.shape[1]} channels of target_layer to the {scores.shape[1]} "
                             f"scores, got weight of shape {tuple(weight.shape)} (use grad_cam for this network)")
        expected = a.mean(dim=(2, 3)) @ weight.T + (0 if bias is None else bias)
        gap = (scores - expected).abs().max().item()
        if gap > 1e-4 * (1 + scores.abs().max().item()):
            raise ValueError(f"model must end in global average pooling of target_layer and linear for CAM: "
                             f"its scores differ from linear(mean over (h, w) of target_layer's output) by "
                             f"{gap:.3g} (use grad_cam for this network)")
        idx = _class_indices(class_idx, scores)
        raw = torch.einsum("nk,nkhw->nhw", weight[idx], a)
    if not normalize:
        return raw
    return normalize_maps(_upsample(F.relu(raw), x.shape[-2:]))


def grad_cam(model: nn.Module, x: torch.Tensor, target_layer: nn.Module, class_idx: ClassIndex = None) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017): where ``target_layer``'s features raise the score ``y_c``; ``(N, H, W)``.

    With ``A`` (N, K, h, w) the output of ``target_layer`` and ``y_c`` the
    model's score (logit) for class ``c``::

        alpha_k = mean_ij  d y_c / d A_k[i, j]          (one weight per channel)
        map     = ReLU( sum_k alpha_k A_k )             (h, w)

    upsampled bilinearly (``align_corners=False``) to the input's ``(H, W)``
    and divided by its per-image maximum (an all-zero map stays zero), so
    values are in ``[0, 1]``. For a global-average-pooling network at the
    pooled layer, ``alpha_k = w_k^c / (h w)`` and Grad-CAM equals :func:`cam`.

    Args:
        model: maps ``(N, C, H, W)`` images to ``(N, num_classes)`` scores.
        x: ``(N, C, H, W)`` float images.
        target_layer: an ``nn.Module`` inside ``model`` with a 4-D output, run
            once per forward pass (for example ``model.features[-1]``).
        class_idx: None (each image's predicted class), an int, or an ``(N,)`` int tensor.

    Leaves no hooks on the model and no ``.grad`` on its parameters.
    """
    model = _check_model(model)
    x = _check_images(x)
    _check_layer(model, target_layer, "target_layer")
    with _eval_mode(model), torch.enable_grad():
        scores, a = _run(model, x, target_layer, "target_layer", track=True)
        _check_feature_map(a, "target_layer")
        idx = _class_indices(class_idx, scores)
        if not scores.requires_grad:
            raise ValueError("target_layer does not influence model's scores: pick a layer before the output")
        (grad,) = torch.autograd.grad(_selected(scores, idx).sum(), a, allow_unused=True)
        if grad is None:
            raise ValueError("target_layer does not influence model's scores: pick a layer before the output")
        alpha = grad.mean(dim=(2, 3), keepdim=True)                  # (N, K, 1, 1)
        maps = F.relu((alpha * a).sum(dim=1)).detach()               # (N, h, w)
    return normalize_maps(_upsample(maps, x.shape[-2:]))


# --------------------------------------------------------------------------- checking the maps

def _check_maps(name: str, maps: object) -> torch.Tensor:
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (N, H, W), got {type(maps).__name__}")
    if maps.dim() != 3:
        raise ValueError(f"{name} must have shape (N, H, W), got {tuple(maps.shape)}")
    return maps


def pointing_game(maps: torch.Tensor, masks: torch.Tensor, tolerance: float = 0) -> torch.Tensor:
    """Does each map's maximum fall on the object? ``(N,)`` bool.

    Zhang et al. (2016): a hit when the pixel where ``maps[n]`` is largest
    lies inside ``masks[n]`` (or within ``tolerance`` pixels of it, Euclidean
    distance between pixel centres; the paper uses 15 pixels on full-size
    images). The hit rate is ``pointing_game(maps, masks).float().mean()``.
    Ties go to the first maximum in row-major order; a constant map (no
    maximum at all, e.g. all zero) and an empty mask count as misses.

    >>> maps = torch.zeros(2, 4, 4); maps[0, 1, 1] = 1; maps[1, 3, 3] = 1
    >>> masks = torch.zeros(2, 4, 4, dtype=torch.bool); masks[:, :2, :2] = True
    >>> pointing_game(maps, masks).tolist(), pointing_game(maps, masks, tolerance=2.9).tolist()
    ([True, False], [True, True])
    """
    maps = _check_maps("maps", maps)
    if not isinstance(masks, torch.Tensor) or masks.dtype != torch.bool:
        got = f"dtype {masks.dtype}" if isinstance(masks, torch.Tensor) else type(masks).__name__
        raise TypeError(f"masks must be a bool tensor (N, H, W), got {got}")
    if masks.shape != maps.shape:
        raise ValueError(f"masks must have the shape of maps {tuple(maps.shape)}, got {tuple(masks.shape)}")
    tolerance = check_float("tolerance", tolerance, minimum=0.0)
    flat = maps.detach().flatten(1)
    peak = flat.argmax(dim=1)
    rows, cols = peak // maps.shape[2], peak % maps.shape[2]
    hits = torch.zeros(len(maps), dtype=torch.bool)
    for n in range(len(maps)):
        if flat[n].max() == flat[n].min():
            continue
        inside = masks[n].nonzero().to(torch.float64)           # (P, 2) mask pixels
        if len(inside):
            distance = (inside - torch.tensor([float(rows[n]), float(cols[n])], dtype=torch.float64)).norm(dim=1)
            hits[n] = bool(distance.min() <= tolerance)
    return hits


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..P of a 1-D tensor, tied values sharing the mean of their ranks (as scipy.stats.rankdata)."""
    unique, inverse, counts = torch.unique(values, sorted=True, return_inverse=True, return_counts=True)
    last = counts.cumsum(0).to(torch.float64)                   # rank of the last copy of each value
    return (last - (counts.to(torch.float64) - 1) / 2)[inverse]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation between ``a[n]`` and ``b[n]`` over all pixels; ``(N,)`` float64.

    Each map is flattened and its values replaced by their ranks (ties share
    the mean rank); the result is the Pearson correlation of the ranks::

        rho = cov(rank a, rank b) / (std(rank a) std(rank b))

    1: the same ordering of pixels; 0: unrelated; ``nan`` where a map is
    constant. Equals ``scipy.stats.spearmanr`` image by image.

    >>> a = torch.tensor([[[1., 2.], [3., 4.]]])
    >>> rank_correlation(a, a ** 3).item(), rank_correlation(a, -a).item()
    (1.0, -1.0)
    """
    a, b = _check_maps("a", a), _check_maps("b", b)
    if a.shape != b.shape:
        raise ValueError(f"b must have the shape of a {tuple(a.shape)}, got {tuple(b.shape)}")
    out = torch.empty(len(a), dtype=torch.float64)
    for n in range(len(a)):
        ra = _average_ranks(a[n].detach().flatten().cpu())
        rb = _average_ranks(b[n].detach().flatten().cpu())
        ra, rb = ra - ra.mean(), rb - rb.mean()
        denominator = (ra.square().sum() * rb.square().sum()).sqrt()
        out[n] = (ra * rb).sum() / denominator if denominator > 0 else float("nan")
    return out


def cascading_randomization(model: nn.Module, layers: Sequence[str] | None = None,
                            seed: int = 0) -> list[tuple[str, nn.Module]]:
    """Copies of ``model`` with its layers re-initialised one more at a time, from the top down.

    The model-parameter randomisation test of Adebayo et al. (2018): a map
    that explains the *model* must change when the model's learned weights
    are replaced by random ones. Copy ``k`` (k = 1, 2, ...) has the ``k``
    layers nearest the output re-initialised (their ``reset_parameters()``,
    the same random initialisation a new network gets) and the layers below
    them still trained. Compare each copy's maps with the trained model's,
    for example with :func:`rank_correlation`. ``model`` itself is not changed.

    Args:
        model: the trained network.
        layers: names (as in ``model.named_modules()``) of the modules to
            re-initialise, **output first**; default every ``nn.Conv2d`` and
            ``nn.Linear``, in reverse order of ``model.named_modules()``.
        seed: layer ``j`` of ``layers`` is re-initialised after
            ``torch.manual_seed(seed + j)`` (in a forked random state, so the
            global one is untouched): a layer gets the same random weights in
            every copy.

    Returns ``[(name, copy), ...]``: the name of the last layer re-initialised
    and the copy, one entry per layer.

    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    >>> _ = net(torch.zeros(1, 1, 5, 5))
    >>> [name for name, _ in cascading_randomization(net)]
    ['3', '0']
    """
    model = _check_model(model)
    seed = check_int("seed", seed)
    named = dict(model.named_modules())
    if layers is None:
        layers = [name for name, module in reversed(list(named.items()))
                  if isinstance(module, (nn.Conv2d, nn.Linear))]
    elif isinstance(layers, str) or not isinstance(layers, (list, tuple)):
        raise TypeError(f"layers must be a list of module names, got {type(layers).__name__} {layers!r}")
    if not layers:
        raise ValueError("layers must name at least one module; model has no nn.Conv2d or nn.Linear")
    for name in layers:
        if not isinstance(name, str) or name not in named:
            raise ValueError(f"layers must name modules of model (see model.named_modules()), got {name!r}")
        if not callable(getattr(named[name], "reset_parameters", None)):
            raise ValueError(f"layers must name modules with a reset_parameters() method, got {name!r} "
                             f"({type(named[name]).__name__})")
    copies: list[tuple[str, nn.Module]] = []
    for k in range(1, len(layers) + 1):
        copied = copy.deepcopy(model)
        modules = dict(copied.named_modules())
        for j, name in enumerate(layers[:k]):
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(seed + j)
                reset = getattr(modules[name], "reset_parameters", None)     # a method: checked above
                if callable(reset):
                    reset()
        copies.append((layers[k - 1], copied))
    return copies
