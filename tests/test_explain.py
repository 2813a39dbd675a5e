"""Tests for course.explain and its figures (course.viz.explain).

Every map is checked against a definition written again here, without the
library's hooks: the networks are ``nn.Sequential``, so the output ``A`` of
layer ``k`` is ``net[:k + 1](x)`` and the scores are ``net[k + 1:](A)``;
gradients come from ``torch.autograd.grad`` on that split, saliency from one
image at a time, occlusion from a loop over patch positions and images.
Saliency and rank correlation are also checked against finite differences
and scipy. Then: no hooks are left (also after an error), no parameter gets a
``.grad``, each submodule's train/eval mode is restored, batch norm statistics
are not updated, and bad input raises an error that names the argument.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from matplotlib.figure import Figure
from torch import nn

import course.explain as explain
import course.viz as viz
from strategies import pair

NUM_CLASSES = 5


# ---------------------------------------------------------------------------
# Small networks and the definitions, written again
# ---------------------------------------------------------------------------

def randomize_batch_norm(net: nn.Module, seed: int) -> nn.Module:
    """Give every BatchNorm random running statistics and affine weights, so eval and train mode differ."""
    g = torch.Generator().manual_seed(seed)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(0.3 * torch.randn(n, generator=g))
            module.running_var.copy_(0.5 + torch.rand(n, generator=g))
            with torch.no_grad():
                module.weight.copy_(1 + 0.2 * torch.randn(n, generator=g))
                module.bias.copy_(0.1 * torch.randn(n, generator=g))
    return net


def gap_net(seed: int = 0, inplace: bool = False, in_channels: int = 3) -> nn.Sequential:
    """conv-bn-relu, pool, conv-bn-relu (index 6 is the last ReLU), GAP, flatten, linear: a CAM network."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(in_channels, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=inplace),   # 0 1 2
        nn.MaxPool2d(2),                                                                         # 3
        nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(inplace=inplace),             # 4 5 6
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, NUM_CLASSES),                       # 7 8 9
    )
    return randomize_batch_norm(net, seed).eval()


def dense_net(seed: int = 0) -> nn.Sequential:
    """Convolutions then a dense layer on the flattened 4x4 maps: not a CAM network."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1),
                         nn.Tanh(), nn.Flatten(), nn.Linear(4 * 4 * 4, NUM_CLASSES)).eval()


def images(seed: int, n: int = 3, size: int = 8, channels: int = 3) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def as_classes(class_idx, n: int, scores: torch.Tensor) -> torch.Tensor:
    if class_idx is None:
        return scores.argmax(dim=1)
    if isinstance(class_idx, int):
        return torch.full((n,), class_idx)
    return torch.as_tensor(class_idx)


def ref_grad_cam(net: nn.Sequential, x: torch.Tensor, k: int, class_idx=None) -> torch.Tensor:
    """Selvaraju et al. on the split net[:k + 1], net[k + 1:] (eval mode)."""
    A = net[:k + 1](x).detach().requires_grad_(True)
    scores = net[k + 1:](A)
    classes = as_classes(class_idx, len(x), scores)
    (dA,) = torch.autograd.grad(scores[torch.arange(len(x)), classes].sum(), A)
    alpha = dA.mean(dim=(2, 3))
    maps = torch.relu(torch.einsum("nk,nkhw->nhw", alpha, A.detach()))
    maps = F.interpolate(maps[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    top = maps.amax(dim=(1, 2), keepdim=True)
    return torch.where(top > 0, maps / torch.where(top > 0, top, 1.0), 0.0)


def ref_saliency(net: nn.Module, x: torch.Tensor, class_idx=None) -> torch.Tensor:
    """One image at a time: max over channels of |d y_c / d x|."""
    with torch.no_grad():
        classes = as_classes(class_idx, len(x), net(x))
    out = []
    for n in range(len(x)):
        xn = x[n:n + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(net(xn)[0, classes[n]], xn)
        out.append(g[0].abs().max(dim=0).values)
    return torch.stack(out)


def ref_occlusion(net: nn.Module, x: torch.Tensor, classes: torch.Tensor, patch, stride, fill) -> torch.Tensor:
    """Mean score drop over the patches covering each pixel, one image and one position at a time."""
    (ph, pw), (sh, sw) = patch, stride
    _, _, H, W = x.shape
    tops = sorted(set(range(0, H - ph + 1, sh)) | {H - ph})
    lefts = sorted(set(range(0, W - pw + 1, sw)) | {W - pw})
    out = torch.zeros(len(x), H, W)
    with torch.no_grad():
        for n in range(len(x)):
            base = net(x[n:n + 1])[0, classes[n]]
            total, count = torch.zeros(H, W), torch.zeros(H, W)
            for r in tops:
                for s in lefts:
                    covered = x[n:n + 1].clone()
                    covered[:, :, r:r + ph, s:s + pw] = fill
                    total[r:r + ph, s:s + pw] += base - net(covered)[0, classes[n]]
                    count[r:r + ph, s:s + pw] += 1
            out[n] = torch.where(count > 0, total / count.clamp(min=1), 0.0)     # uncovered pixels: 0
    return out


def all_hooks(net: nn.Module) -> list:
    hooks = []
    for module in net.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            hooks.extend(getattr(module, name).values())
    return hooks


def assert_untouched(net: nn.Module) -> None:
    assert all_hooks(net) == [], "a hook was left on the model"
    assert all(p.grad is None for p in net.parameters()), "a parameter got a .grad"


MAP_FUNCTIONS = {
    "grad_cam": lambda net, x, c=None: explain.grad_cam(net, x, net[6], c),
    "grad_cam_early": lambda net, x, c=None: explain.grad_cam(net, x, net[1], c),
    "cam": lambda net, x, c=None: explain.cam(net, x, c, target_layer=net[6]),
    "cam_raw": lambda net, x, c=None: explain.cam(net, x, c, target_layer=net[6], normalize=False),
    "saliency": lambda net, x, c=None: explain.saliency(net, x, c),
    "occlusion": lambda net, x, c=None: explain.occlusion(net, x, c, patch=3, stride=2),
    "feature_maps": lambda net, x, c=None: explain.feature_maps(net, x, net[5]),
}


# ---------------------------------------------------------------------------
# Grad-CAM
# ---------------------------------------------------------------------------

@settings(max_examples=12)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 4), size=st.sampled_from([6, 8, 11]),
       layer=st.sampled_from([1, 2, 4, 6]), classes=st.sampled_from(["none", "int", "tensor"]))
def test_grad_cam_is_the_definition(seed, n, size, layer, classes):
    net, x = gap_net(seed), images(seed, n, size)
    class_idx = {"none": None, "int": seed % NUM_CLASSES,
                 "tensor": torch.randint(0, NUM_CLASSES, (n,), generator=torch.Generator().manual_seed(seed))}[classes]
    got = explain.grad_cam(net, x, net[layer], class_idx)
    expected = ref_grad_cam(net, x, layer, class_idx)
    assert got.shape == (n, size, size) and got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    assert ((got >= 0) & (got <= 1 + 1e-6)).all()
    top = got.amax(dim=(1, 2))
    assert torch.all(((top - 1).abs() < 1e-6) | (top == 0))           # divided by the maximum
    assert_untouched(net)


def test_grad_cam_on_a_dense_network_and_in_float64():
    net, x = dense_net(3).double(), images(3).double()
    got = explain.grad_cam(net, x, net[4], class_idx=torch.tensor([0, 4, 2]))
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, ref_grad_cam(net, x, 4, torch.tensor([0, 4, 2])))


def test_grad_cam_batch_with_different_classes_is_each_image_alone():
    net, x = gap_net(1), images(1, n=4)
    classes = torch.tensor([3, 0, 0, 4])
    together = explain.grad_cam(net, x, net[4], classes)
    for n in range(4):
        alone = explain.grad_cam(net, x[n:n + 1], net[4], int(classes[n]))
        torch.testing.assert_close(together[n:n + 1], alone, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(together[1], explain.grad_cam(net, x[1:2], net[4], 3)[0])   # the class matters


def test_grad_cam_with_in_place_relu_after_the_layer_equals_without():
    """The layer's own output is explained, even when ReLU(inplace=True) overwrites it afterwards."""
    plain, inplace, x = gap_net(2), gap_net(2, inplace=True), images(2)
    for layer in (1, 5):                                    # batch norm outputs, each followed by an in-place ReLU
        torch.testing.assert_close(explain.grad_cam(inplace, x, inplace[layer]),
                                   explain.grad_cam(plain, x, plain[layer]))
        torch.testing.assert_close(explain.feature_maps(inplace, x, inplace[layer]),
                                   plain[:layer + 1](x).detach())
    assert (explain.feature_maps(inplace, x, inplace[5]) < 0).any()      # before the ReLU, negatives remain


def test_grad_cam_of_a_nested_module_and_a_torchvision_style_block():
    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    net = nn.Sequential(block, nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(5, 3)).eval()
    x = images(4)
    torch.testing.assert_close(explain.grad_cam(net, x, block), ref_grad_cam(net, x, 0))
    torch.testing.assert_close(explain.grad_cam(net, x, block[1]), ref_grad_cam(net, x, 0))


def test_an_all_zero_map_stays_zero():
    """At the GAP layer alpha_k = w_k / (hw); with every w_k < 0 and A >= 0 (after ReLU) nothing survives the ReLU."""
    net, x = gap_net(5), images(5)
    with torch.no_grad():
        net[9].weight.copy_(-net[9].weight.abs() - 0.1)
    for maps in (explain.grad_cam(net, x, net[6], class_idx=2), explain.cam(net, x, 2, target_layer=net[6])):
        assert torch.equal(maps, torch.zeros(3, 8, 8))
    assert torch.equal(explain.normalize_maps(torch.zeros(2, 3, 3)), torch.zeros(2, 3, 3))


# ---------------------------------------------------------------------------
# CAM, and the identity CAM = Grad-CAM at the pooled layer
# ---------------------------------------------------------------------------

@settings(max_examples=10)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 4), size=st.sampled_from([4, 8, 10]))
def test_cam_is_the_definition_and_grad_cam_at_the_gap_layer_equals_it(seed, n, size):
    net, x = gap_net(seed), images(seed, n, size)
    classes = torch.randint(0, NUM_CLASSES, (n,), generator=torch.Generator().manual_seed(seed))
    A = net[:7](x).detach()
    raw = explain.cam(net, x, classes, target_layer=net[6], normalize=False)
    w = net[9].weight[classes]                                               # (n, K): w_k^c for each image
    torch.testing.assert_close(raw, torch.einsum("nk,nkhw->nhw", w, A).detach())
    # The score is the mean of the raw CAM plus the bias (Zhou et al.).
    scores = net(x)[torch.arange(n), classes]
    torch.testing.assert_close(raw.mean(dim=(1, 2)) + net[9].bias[classes], scores.detach(), atol=1e-5, rtol=1e-5)
    # Grad-CAM's weights at the pooled layer are w_k^c / (h w) ...
    Aleaf = A.clone().requires_grad_(True)
    (dA,) = torch.autograd.grad(net[7:](Aleaf)[torch.arange(n), classes].sum(), Aleaf)
    h, w_ = A.shape[-2:]
    torch.testing.assert_close(dA.mean(dim=(2, 3)), (w / (h * w_)).detach(), atol=1e-6, rtol=1e-5)
    # ... so up to the normalisation (ReLU, upsampling, division by the maximum) Grad-CAM is CAM.
    expected = F.interpolate(torch.relu(raw)[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    top = expected.amax(dim=(1, 2), keepdim=True)
    expected = torch.where(top > 0, expected / torch.where(top > 0, top, 1.0), 0.0)
    torch.testing.assert_close(explain.grad_cam(net, x, net[6], classes), expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(explain.cam(net, x, classes, target_layer=net[6]), expected, atol=1e-5, rtol=1e-4)
    assert_untouched(net)


def test_cam_finds_features_and_the_last_linear_by_default():
    torch.manual_seed(0)
    model = nn.Module()
    model.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    model.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    model.forward = lambda x: model.classifier(model.features(x))
    x = images(0)
    torch.testing.assert_close(explain.cam(model, x), explain.cam(model, x, target_layer=model.features,
                                                                  linear=model.classifier[2]))


def test_cam_refuses_a_network_that_is_not_gap_then_linear():
    net, x = dense_net(0), images(0)
    with pytest.raises(ValueError, match=r"global average pooling.*use grad_cam"):
        explain.cam(net, x, target_layer=net[4])
    gap = gap_net(0)
    gap[9] = nn.Sequential(nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, NUM_CLASSES))     # GAP, then an MLP
    with pytest.raises(ValueError, match=r"global average pooling|must map"):
        explain.cam(gap, x, target_layer=gap[6])
    with pytest.raises(ValueError, match=r"target_layer must be given: model has no .features"):
        explain.cam(gap_net(0), x)


# ---------------------------------------------------------------------------
# Saliency and occlusion
# ---------------------------------------------------------------------------

@settings(max_examples=8)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 3), class_idx=st.one_of(st.none(), st.integers(0, 4)))
def test_saliency_is_the_definition(seed, n, class_idx):
    net, x = gap_net(seed), images(seed, n)
    got = explain.saliency(net, x, class_idx)
    assert got.shape == (n, 8, 8) and (got >= 0).all()
    torch.testing.assert_close(got, ref_saliency(net, x, class_idx), atol=1e-6, rtol=1e-5)
    assert_untouched(net)


def test_saliency_matches_finite_differences():
    net, x = dense_net(7).double(), images(7, n=1).double()
    got = explain.saliency(net, x, class_idx=1)[0]
    eps = 1e-6
    for i, j in [(0, 0), (3, 5), (7, 7)]:
        slopes = []
        for c in range(3):
            up, down = x.clone(), x.clone()
            up[0, c, i, j] += eps
            down[0, c, i, j] -= eps
            with torch.no_grad():
                slopes.append(((net(up) - net(down))[0, 1] / (2 * eps)).abs().item())
        assert got[i, j].item() == pytest.approx(max(slopes), rel=1e-5, abs=1e-8)


@settings(max_examples=8)
@given(seed=st.integers(0, 10_000), patch=st.sampled_from([1, 3, (2, 4), 8]), stride=st.sampled_from([1, 2, (3, 1)]),
       fill=st.sampled_from(["zero", "number", "channels", "images"]), batch_size=st.sampled_from([1, 5, 256]))
def test_occlusion_is_the_definition(seed, patch, stride, fill, batch_size):
    net, x = gap_net(seed), images(seed, n=2)
    fills = {"zero": 0.0, "number": 0.5, "channels": torch.tensor([0.1, 0.5, 0.9]),
             "images": torch.tensor([[0.2, 0.2, 0.2], [1.0, 0.0, 0.5]])}
    value = fills[fill]
    got = explain.occlusion(net, x, class_idx=torch.tensor([1, 4]), patch=patch, stride=stride, fill=value,
                            batch_size=batch_size)
    if isinstance(value, torch.Tensor):
        value = value.view(-1, 3, 1, 1) if value.dim() == 2 else value.view(3, 1, 1)
    expected = torch.stack([
        ref_occlusion(net, x[n:n + 1], torch.tensor([[1, 4][n]]), pair(patch), pair(stride),
                      value[n] if isinstance(value, torch.Tensor) and value.dim() == 4 else value)[0]
        for n in range(2)])
    assert got.shape == (2, 8, 8)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    assert_untouched(net)


def test_occlusion_of_a_pixel_reader():
    """A 'network' whose class-0 score is 2 x pixel (1, 1): only the patches covering that pixel lower it."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    with torch.no_grad():
        net[1].weight.zero_()
        net[1].bias.zero_()
        net[1].weight[0, 5] = 2.0
    x = torch.ones(1, 1, 4, 4)
    got = explain.occlusion(net, x, class_idx=0, patch=2, stride=1)
    # Pixel (r, c) is covered by up to 4 patches; the drop is 2 for the patches that also cover (1, 1).
    expected = torch.tensor([[2, 2, 1, 0], [2, 2, 1, 0], [1, 1, 0.5, 0], [0, 0, 0, 0]], dtype=torch.float32)
    torch.testing.assert_close(got[0], expected)


# ---------------------------------------------------------------------------
# Feature maps and filters
# ---------------------------------------------------------------------------

def test_feature_maps_are_the_layer_output_and_first_layer_filters_are_a_copy():
    net, x = gap_net(4), images(4)
    for k in (0, 3, 6):
        torch.testing.assert_close(explain.feature_maps(net, x, net[k]), net[:k + 1](x).detach())
    filters = explain.first_layer_filters(net)
    torch.testing.assert_close(filters, net[0].weight.detach())
    filters.zero_()
    assert net[0].weight.abs().sum() > 0
    assert_untouched(net)


# ---------------------------------------------------------------------------
# What every function leaves behind: hooks, .grad, modes, batch norm statistics
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(MAP_FUNCTIONS))
def test_no_hooks_no_grad_modes_and_statistics_restored(name):
    net, x = gap_net(6), images(6)
    net.train()
    net[5].eval()                                           # a mixed state must come back exactly as it was
    modes = [m.training for m in net.modules()]
    buffers = {k: v.clone() for k, v in net.state_dict().items()}
    eval_result = MAP_FUNCTIONS[name](gap_net(6).eval(), x)  # the same weights, in eval mode from the start
    with torch.no_grad():                                   # also works inside no_grad
        result = MAP_FUNCTIONS[name](net, x)
    torch.testing.assert_close(result, eval_result)         # computed in eval mode
    assert [m.training for m in net.modules()] == modes
    for key, value in net.state_dict().items():             # running statistics not updated
        assert torch.equal(value, buffers[key]), key
    assert_untouched(net)
    assert not result.requires_grad


def test_existing_grads_are_left_alone():
    net, x = gap_net(8), images(8)
    net(x).sum().backward()
    before = [p.grad.clone() for p in net.parameters()]
    explain.grad_cam(net, x, net[4])
    explain.saliency(net, x)
    assert all(torch.equal(p.grad, g) for p, g in zip(net.parameters(), before, strict=True))


def test_hooks_are_removed_when_the_forward_pass_fails():
    relu = nn.ReLU()
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), relu, nn.Conv2d(4, 4, 3, padding=1), relu,
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    x = images(0)
    with pytest.raises(ValueError, match=r"target_layer must be called once"):
        explain.grad_cam(net, x, relu)
    with pytest.raises(ValueError, match=r"layer must be called once"):
        explain.feature_maps(net, x, relu)
    assert_untouched(net)
    bad = gap_net(0)
    with pytest.raises(ValueError, match=r"class_idx must be class indices in \[0, 5\).*got 9"):
        explain.grad_cam(bad, x, bad[6], class_idx=9)
    assert_untouched(bad)


# ---------------------------------------------------------------------------
# Pointing game, rank correlation, cascading randomisation
# ---------------------------------------------------------------------------

@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), tolerance=st.sampled_from([0, 1, 2.5]))
def test_pointing_game_is_the_definition(seed, tolerance):
    g = torch.Generator().manual_seed(seed)
    maps = torch.rand(4, 7, 9, generator=g)
    masks = torch.rand(4, 7, 9, generator=g) > 0.7
    masks[3] = False                                                 # an empty mask: a miss
    got = explain.pointing_game(maps, masks, tolerance)
    for n in range(4):
        r, c = np.unravel_index(int(np.argmax(maps[n].numpy())), (7, 9))
        pixels = np.argwhere(masks[n].numpy())
        hit = len(pixels) > 0 and np.sqrt(((pixels - [r, c]) ** 2).sum(axis=1)).min() <= tolerance
        assert bool(got[n]) == hit
    assert explain.pointing_game(torch.zeros(1, 3, 3), torch.ones(1, 3, 3, dtype=torch.bool)).tolist() == [False]


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), ties=st.booleans())
def test_rank_correlation_equals_scipy(seed, ties):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(3, 5, 6, generator=g)
    b = 0.5 * a + torch.rand(3, 5, 6, generator=g)
    if ties:                                              # ReLU'd maps: many equal values
        a, b = torch.relu(a - 0.5).round(decimals=1), torch.relu(b - 0.6)
    got = explain.rank_correlation(a, b)
    for n in range(3):
        assert got[n].item() == pytest.approx(scipy.stats.spearmanr(a[n].flatten(), b[n].flatten()).statistic,
                                              abs=1e-12)
    assert torch.isnan(explain.rank_correlation(torch.zeros(1, 2, 2), a[:1, :2, :2]))[0]


def test_cascading_randomization_re_initialises_from_the_top():
    net = gap_net(9)
    original = {k: v.clone() for k, v in net.state_dict().items()}
    state = torch.random.get_rng_state()
    copies = explain.cascading_randomization(net, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)           # the global random state is untouched
    assert [name for name, _ in copies] == ["9", "4", "0"]            # linear, conv, conv: output first
    for key, value in net.state_dict().items():
        assert torch.equal(value, original[key])                       # the model itself is unchanged
    for k, (_, model) in enumerate(copies, start=1):
        changed = {name.split(".")[0] for name, value in model.state_dict().items()
                   if not torch.equal(value, original[name])}
        assert changed == {"9", "4", "0"}.intersection(["9", "4", "0"][:k])
    # A layer gets the same random weights in every copy, and the same seed gives the same copies.
    torch.testing.assert_close(copies[0][1][9].weight, copies[2][1][9].weight)
    again = explain.cascading_randomization(net, seed=3)
    torch.testing.assert_close(again[1][1][4].weight, copies[1][1][4].weight)
    custom = explain.cascading_randomization(net, layers=["5"], seed=0)
    assert [name for name, _ in custom] == ["5"] and torch.equal(custom[0][1][5].weight, torch.ones(6))


def test_randomized_network_changes_grad_cam():
    net, x = gap_net(10), images(10, n=4)
    trained = explain.grad_cam(net, x, net[6], class_idx=1)
    (_, top_random), *_ = explain.cascading_randomization(net, seed=0)
    rho = explain.rank_correlation(trained, explain.grad_cam(top_random, x, top_random[6], class_idx=1))
    assert rho.shape == (4,) and not torch.allclose(rho.nan_to_num(0), torch.ones(4, dtype=torch.float64))


# ---------------------------------------------------------------------------
# Bad input names the argument
# ---------------------------------------------------------------------------

NET = gap_net(0)
X = images(0)


@pytest.mark.parametrize("call, error, match", [
    (lambda: explain.grad_cam("net", X, NET[6]), TypeError, r"model must be a torch.nn.Module, got str"),
    (lambda: explain.grad_cam(NET, X[0], NET[6]), ValueError,
     r"x must be a batch of images \(N, C, H, W\), got shape \(3, 8, 8\)"),
    (lambda: explain.grad_cam(NET, X.long(), NET[6]), TypeError,
     r"x must be a floating-point tensor, got dtype torch.int64"),
    (lambda: explain.grad_cam(NET, X.numpy(), NET[6]), TypeError, r"x must be a torch.Tensor"),
    (lambda: explain.grad_cam(NET, X, nn.ReLU()), ValueError, r"target_layer must be a module inside model"),
    (lambda: explain.grad_cam(NET, X, "6"), TypeError, r"target_layer must be an nn.Module inside model.*got str"),
    (lambda: explain.grad_cam(NET, X, NET[9]), ValueError,
     r"target_layer must output feature maps \(N, K, h, w\), got shape \(3, 5\)"),
    (lambda: explain.grad_cam(NET, X, NET[6], class_idx=5), ValueError,
     r"class_idx must be class indices in \[0, 5\).*got 5"),
    (lambda: explain.grad_cam(NET, X, NET[6], class_idx=-1), ValueError, r"class_idx must be class indices.*got -1"),
    (lambda: explain.grad_cam(NET, X, NET[6], class_idx=torch.tensor([0, 1])), ValueError,
     r"class_idx must be an int or a tensor of shape \(3,\).*got shape \(2,\)"),
    (lambda: explain.grad_cam(NET, X, NET[6], class_idx=torch.tensor([0., 1., 2.])), TypeError,
     r"class_idx must be an integer tensor, got dtype torch.float32"),
    (lambda: explain.grad_cam(NET, X, NET[6], class_idx=True), TypeError, r"class_idx must be None, an int"),
    (lambda: explain.grad_cam(NET, X, NET[6], class_idx=1.0), TypeError, r"class_idx must be None, an int"),
    (lambda: explain.saliency(NET, X, class_idx=torch.zeros(3, 1, dtype=torch.long)), ValueError,
     r"class_idx must be an int or a tensor of shape \(3,\)"),
    (lambda: explain.saliency(nn.Conv2d(3, 2, 1), X), ValueError,
     r"model must return class scores of shape \(N, num_classes\)"),
    (lambda: explain.occlusion(NET, X, patch=9), ValueError, r"patch must fit in the image \(8, 8\), got \(9, 9\)"),
    (lambda: explain.occlusion(NET, X, stride=0), ValueError, r"stride must be an int >= 1, got 0"),
    (lambda: explain.occlusion(NET, X, fill=torch.zeros(2)), ValueError,
     r"fill must be a number or a tensor of shape \(3,\) or \(3, 3\)"),
    (lambda: explain.occlusion(NET, X, fill="grey"), TypeError, r"fill must be a number, got str"),
    (lambda: explain.cam(NET, X, target_layer=NET[6], linear=NET[0]), TypeError,
     r"linear must be an nn.Linear, got Conv2d"),
    (lambda: explain.cam(NET, X, target_layer=NET[6], normalize=1), TypeError, r"normalize must be a bool, got int 1"),
    (lambda: explain.cam(NET, X, target_layer=NET[3]), ValueError,
     r"global average pooling.*linear must map the 4 channels of target_layer to the 5 scores"),
    (lambda: explain.feature_maps(NET, X, nn.Conv2d(3, 4, 3)), ValueError, r"layer must be a module inside model"),
    (lambda: explain.feature_maps(nn.Sequential(nn.Flatten(), nn.Linear(192, 2)), X, nn.Sequential()), ValueError,
     r"layer must be a module inside model"),
    (lambda: explain.first_layer_filters(nn.Linear(2, 2)), ValueError, r"model must contain an nn.Conv2d"),
    (lambda: explain.pointing_game(torch.rand(2, 3, 3), torch.ones(2, 3, 3)), TypeError,
     r"masks must be a bool tensor"),
    (lambda: explain.pointing_game(torch.rand(2, 3, 3), torch.ones(2, 3, 4, dtype=torch.bool)), ValueError,
     r"masks must have the shape of maps \(2, 3, 3\), got \(2, 3, 4\)"),
    (lambda: explain.pointing_game(torch.rand(3, 3), torch.ones(3, 3, dtype=torch.bool)), ValueError,
     r"maps must have shape \(N, H, W\)"),
    (lambda: explain.pointing_game(torch.rand(1, 3, 3), torch.ones(1, 3, 3, dtype=torch.bool), tolerance=-1),
     ValueError,
     r"tolerance must be a number >= 0"),
    (lambda: explain.rank_correlation(torch.rand(2, 3, 3), torch.rand(2, 3, 2)), ValueError,
     r"b must have the shape of a"),
    (lambda: explain.cascading_randomization(NET, layers="9"), TypeError, r"layers must be a list of module names"),
    (lambda: explain.cascading_randomization(NET, layers=["10"]), ValueError,
     r"layers must name modules of model.*'10'"),
    (lambda: explain.cascading_randomization(NET, layers=["2"]), ValueError, r"reset_parameters.*'2' \(ReLU\)"),
    (lambda: explain.normalize_maps(torch.ones(3, dtype=torch.long)), TypeError,
     r"maps must be a floating-point tensor"),
])
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
    assert_untouched(NET)


class WithUnusedLayer(nn.Module):
    """A registered layer that forward never calls, and one whose output does not reach the scores."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Conv2d(3, 3, 1)
        self.side = nn.Conv2d(3, 3, 1)
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(4, 2))

    def forward(self, x):
        self.side(x)                                        # computed, then thrown away
        return self.body(x)


def test_a_layer_that_is_not_run_or_does_not_reach_the_scores():
    torch.manual_seed(0)
    net = WithUnusedLayer().eval()
    with pytest.raises(ValueError, match=r"target_layer was not called in model's forward pass"):
        explain.grad_cam(net, X, net.unused)
    with pytest.raises(ValueError, match=r"target_layer does not influence model's scores"):
        explain.grad_cam(net, X, net.side)
    with pytest.raises(ValueError, match=r"layer was not called"):
        explain.feature_maps(net, X, net.unused)
    assert_untouched(net)


# ---------------------------------------------------------------------------
# Figures (course.viz.explain)
# ---------------------------------------------------------------------------


def test_show_maps_draws_the_scaled_maps_their_peaks_and_the_masks(no_figure_left_open):
    x = images(1, n=3)
    g = torch.Generator().manual_seed(1)
    positive, signed = torch.rand(3, 8, 8, generator=g), torch.randn(3, 8, 8, generator=g)
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[:, 2:5, 2:6] = True
    fig = viz.show_maps(x, {"positive": positive, "signed": signed}, masks=masks, titles=["a", "b", "c"])
    assert isinstance(fig, Figure) and len(fig.axes) == 9
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    for row, maps in enumerate([positive, signed], start=1):
        for i in range(3):
            ax = fig.axes[3 * row + i]
            (overlay,) = [image for image in ax.images if image.get_gid() == "map"]
            np.testing.assert_allclose(overlay.get_array(), (maps[i] / maps[i].abs().max()).double().numpy())
            assert overlay.get_cmap().name == ("jet" if row == 1 else "RdBu_r")
            (peak,) = [line for line in ax.lines if line.get_gid() == "peak"]
            r, c = divmod(int(maps[i].argmax()), 8)
            assert peak.get_xydata().tolist() == [[c, r]]
    assert all(any(getattr(a, "get_gid", lambda: None)() == "mask" for a in ax.get_children()) for ax in fig.axes)
    one = viz.show_maps(x[0], positive[:1])                            # one image, one map tensor
    assert len(one.axes) == 2
    maps_only = viz.show_maps(x, {"m": positive}, titles=["a", "b", "c"], show_images=False)
    assert len(maps_only.axes) == 3 and [ax.get_title() for ax in maps_only.axes] == ["a", "b", "c"]
    assert all(len(ax.images) == 2 for ax in maps_only.axes)          # grey image and map, no image row


def test_filters_and_feature_maps_figures(no_figure_left_open):
    weight = torch.randn(10, 3, 5, 5, generator=torch.Generator().manual_seed(2))
    fig = viz.filters_figure(weight, ncols=4)
    panels = [image for ax in fig.axes for image in ax.images if image.get_gid() == "filter"]
    assert len(panels) == 10 == len(fig.axes)
    np.testing.assert_allclose(panels[3].get_array(),
                               (0.5 + 0.5 * weight[3] / weight[3].abs().max()).permute(1, 2, 0).double().numpy(),
                               rtol=1e-6)
    grey = viz.filters_figure(weight[:, :1], scale="all")
    np.testing.assert_allclose(grey.axes[0].images[0].get_array(),
                               (0.5 + 0.5 * weight[0, 0] / weight[:, :1].abs().max()).double().numpy(), rtol=1e-6)
    maps = torch.rand(1, 20, 4, 4)
    fig = viz.feature_maps_figure(maps, max_maps=12, title="conv")
    assert len(fig.axes) == 12 and fig.axes[11].get_title() == "11" and fig.get_suptitle() == "conv"
    np.testing.assert_allclose(fig.axes[5].images[0].get_array(), maps[0, 5].double().numpy(), rtol=1e-6)


def test_randomization_figure_plots_one_line_per_method(no_figure_left_open):
    fig = viz.randomization_figure(["trained", "fc", "conv"], {"Grad-CAM": [1.0, 0.2, -0.1], "edges": [1, 1, 1]})
    (ax,) = fig.axes
    lines = {line.get_gid(): line.get_ydata().tolist() for line in ax.lines if line.get_gid()}
    assert lines == {"Grad-CAM": [1.0, 0.2, -0.1], "edges": [1.0, 1.0, 1.0]}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["trained", "fc", "conv"]


@pytest.mark.parametrize("call, error, match", [
    (lambda: viz.show_maps(images(0), {"m": torch.rand(3, 8, 7)}), ValueError,
     r"maps\['m'\] must have shape \(3, 8, 8\)"),
    (lambda: viz.show_maps(images(0), [torch.rand(3, 8, 8)]), TypeError, r"maps must be a non-empty dict"),
    (lambda: viz.show_maps(images(0), torch.rand(3, 8, 8), masks=torch.ones(3, 8, 8)), ValueError,
     r"masks must be a bool tensor"),
    (lambda: viz.show_maps(images(0), torch.rand(3, 8, 8), titles=["a"]), ValueError,
     r"titles must have one entry per image \(3\)"),
    (lambda: viz.show_maps(images(0), torch.rand(3, 8, 8), show_images=0), TypeError,
     r"show_images must be a bool"),
    (lambda: viz.filters_figure(torch.rand(4, 2, 3, 3)), ValueError,
     r"weight must be convolution filters .*C_in = 1 or 3"),
    (lambda: viz.filters_figure(torch.rand(4, 3, 3, 3), scale="each"), ValueError, r"scale must be one of"),
    (lambda: viz.feature_maps_figure(torch.rand(2, 3, 4, 4)), ValueError,
     r"maps must be the feature maps \(K, h, w\) of one image"),
    (lambda: viz.randomization_figure(["a", "b"], {"m": [1.0]}), ValueError,
     r"correlations\['m'\] must have one value per layer name \(2\)"),
])
def test_figures_bad_input_names_the_argument(call, error, match, no_figure_left_open):
    with pytest.raises(error, match=match):
        call()


