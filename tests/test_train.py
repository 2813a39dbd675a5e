"""course.train (fit, evaluate, predict, History, plot_history) and course.pretrained."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.metrics import mean_iou, pixel_accuracy
from course.train import History, evaluate, fit, plot_history, predict, reestimate_batchnorm

# --------------------------------------------------------------------------
# Toy problems
# --------------------------------------------------------------------------

def blobs(n_per_class: int = 64, seed: int = 0, spread: float = 3.0) -> TensorDataset:
    """Two Gaussian blobs in 2-D, centred at (-spread, -spread) and (+spread, +spread)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.cat([torch.randn(n_per_class, 2, generator=g) - spread,
                   torch.randn(n_per_class, 2, generator=g) + spread])
    y = torch.cat([torch.zeros(n_per_class), torch.ones(n_per_class)]).long()
    return TensorDataset(x, y)


def mlp(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 2))


def toy_segmentation(n: int = 24, size: int = 12, seed: int = 0, ignore_index: int | None = None) -> TensorDataset:
    """3 classes per pixel, readable from the pixel's color: 0 background, 1 where red > 0, 2 where green > red."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, size, size, generator=g)
    red, green = images[:, 0], images[:, 1]
    masks = torch.zeros(n, size, size, dtype=torch.long)
    masks[red > 0] = 1
    masks[(green > red) & (green > 0.5)] = 2
    if ignore_index is not None:
        masks[:, 0, :] = ignore_index                # the first row of every image is "don't care"
    return TensorDataset(images, masks)


def pixel_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 3, 1))


def same_history(a: History, b: History) -> bool:
    keys = ("train_loss", "train_metric", "val_loss", "val_metric", "lr")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --------------------------------------------------------------------------
# fit: learning, history, determinism, progress
# --------------------------------------------------------------------------

def test_fit_learns_two_blobs_and_records_every_epoch():
    train, val = blobs(seed=0), blobs(seed=1)
    model = mlp()
    history = fit(model, train, val, epochs=4, lr=0.01, batch_size=16, progress=False)
    assert isinstance(history, History)
    for key in ("train_loss", "train_metric", "val_loss", "val_metric", "seconds", "lr"):
        assert len(getattr(history, key)) == 4, key
    assert history.epochs == 4 and history.metric == "accuracy"
    assert all(later < earlier for earlier, later in zip(history.train_loss, history.train_loss[1:], strict=False))
    assert history.val_loss[-1] < history.val_loss[0]
    assert history.val_metric[-1] == 1.0
    assert all(s > 0 for s in history.seconds) and history.lr == [0.01] * 4
    assert not model.training                          # left in eval mode
    assert evaluate(model, val)["metric"] == history.val_metric[-1]


def test_fit_accepts_dataloaders_and_an_optimizer_instance():
    model = mlp()
    sgd = torch.optim.SGD(model.parameters(), lr=0.05)
    loader = DataLoader(blobs(), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    history = fit(model, loader, DataLoader(blobs(seed=1), batch_size=50), epochs=3, optimizer=sgd,
                  lr=123.0, progress=False)
    assert history.lr == [0.05] * 3                    # the instance's lr, not the argument
    assert history.val_metric[-1] == 1.0


def test_same_seed_same_history_and_weights_different_seed_differs():
    train, val = blobs(), blobs(seed=1)
    runs = []
    for seed in (0, 0, 1):
        model = mlp(seed=0, dropout=0.3)               # dropout: training draws random numbers
        runs.append((fit(model, train, val, epochs=2, seed=seed, batch_size=16, progress=False), model))
    (h0, m0), (h0_again, m0_again), (h1, m1) = runs
    assert same_history(h0, h0_again) and same_weights(m0, m0_again)
    assert h0.train_loss != h1.train_loss and not same_weights(m0, m1)


def test_fit_leaves_the_global_random_state_alone_and_does_not_depend_on_it():
    train = blobs()
    model_a, model_b = mlp(dropout=0.3), mlp(dropout=0.3)   # the same initial weights
    torch.manual_seed(123)
    before = torch.get_rng_state()
    h_a = fit(model_a, train, epochs=2, progress=False)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(456)                              # another global state: same training
    h_b = fit(model_b, train, epochs=2, progress=False)
    assert same_history(h_a, h_b)


def test_progress_false_prints_nothing(capsys):
    fit(mlp(), blobs(), blobs(seed=1), epochs=2, progress=False)
    evaluate(mlp(), blobs())
    predict(mlp(), blobs())
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_progress_true_draws_tqdm_bars_on_stderr(capsys):
    fit(mlp(), blobs(), blobs(seed=1), epochs=2, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "fit" in err and "2/2" in err and "epoch" in err   # the epoch bar, finished
    assert "val_accuracy" in err                               # its postfix


def test_stop_at_and_callback_end_training_early():
    train, val = blobs(), blobs(seed=1)
    seen = []
    history = fit(mlp(), train, val, epochs=50, lr=0.01, stop_at=1.0, progress=False,
                  callback=lambda h: seen.append(h.epochs))
    assert history.epochs < 50 and history.val_metric[-1] == 1.0
    assert all(v < 1.0 for v in history.val_metric[:-1])
    assert seen == list(range(1, history.epochs + 1))      # the callback saw every epoch, the last too
    history = fit(mlp(), train, epochs=50, callback=lambda h: h.epochs == 3, progress=False)
    assert history.epochs == 3 and history.val_loss == []


def test_fit_tells_an_augmented_dataset_the_epoch():
    class Recording(TensorDataset):
        def set_epoch(self, epoch):
            self.epochs_seen.append(epoch)

    data = Recording(*blobs().tensors)
    data.epochs_seen = []
    fit(mlp(), data, epochs=3, progress=False)
    assert data.epochs_seen == [0, 1, 2]


def test_schedulers():
    train = blobs()
    cosine = fit(mlp(), train, epochs=4, lr=0.1, scheduler="cosine", progress=False)
    assert cosine.lr[0] == 0.1 and all(b < a for a, b in zip(cosine.lr, cosine.lr[1:], strict=False))
    onecycle = fit(mlp(), train, epochs=4, lr=0.1, scheduler="onecycle", progress=False)
    assert max(onecycle.lr) <= 0.1 and onecycle.lr[0] < onecycle.lr[1]   # warm-up
    step = fit(mlp(), train, epochs=4, lr=0.1, progress=False,
               scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5))
    assert step.lr == [0.1, 0.1, 0.05, 0.05]
    plateau = fit(mlp(), train, epochs=3, lr=0.1, progress=False,
                  scheduler=lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0))
    assert len(plateau.lr) == 3


def test_custom_loss_and_metric_functions():
    def error_rate(output, target):
        return (output.argmax(1) != target).float().mean().item()

    history = fit(mlp(), blobs(), blobs(seed=1), epochs=3, lr=0.01, loss=nn.CrossEntropyLoss(label_smoothing=0.1),
                  metric=error_rate, progress=False)
    assert history.metric == "error_rate" and history.val_metric[-1] == 0.0


# --------------------------------------------------------------------------
# Segmentation: the metric is the mIoU of the predictions
# --------------------------------------------------------------------------

def test_segmentation_val_miou_equals_mean_iou_of_the_predictions():
    train, val = toy_segmentation(n=48, seed=0), toy_segmentation(seed=1)
    model = pixel_net()
    history = fit(model, train, val, epochs=2, lr=0.05, metric="miou", batch_size=8, progress=False)
    pred = predict(model, val)
    assert pred.shape == val.tensors[1].shape and pred.dtype == torch.int64
    expected, _ = mean_iou(pred, val.tensors[1], num_classes=3)
    assert history.val_metric[-1] == pytest.approx(expected, abs=1e-12)
    assert history.val_metric[-1] > 0.5                # it learned something in 2 epochs
    result = evaluate(model, val, metric="miou", batch_size=5)
    assert result["metric"] == pytest.approx(expected, abs=1e-12)
    assert result["loss"] == pytest.approx(history.val_loss[-1], rel=1e-5)
    accuracy = evaluate(model, val, metric="accuracy")["metric"]
    assert accuracy == pytest.approx(pixel_accuracy(pred, val.tensors[1]), abs=1e-12)


def test_segmentation_with_ignore_index():
    train, val = toy_segmentation(seed=0, ignore_index=255), toy_segmentation(seed=1, ignore_index=255)
    model = pixel_net()
    history = fit(model, train, val, epochs=2, lr=0.05, metric="miou", ignore_index=255, progress=False)
    expected, _ = mean_iou(predict(model, val), val.tensors[1], num_classes=3, ignore_index=255)
    assert history.val_metric[-1] == pytest.approx(expected, abs=1e-12)
    # The loss's own ignore_index reaches the metric too.
    loss = nn.CrossEntropyLoss(ignore_index=255)
    assert evaluate(model, val, loss=loss, metric="miou")["metric"] == pytest.approx(expected, abs=1e-12)
    # Without ignore_index, 255 is not a class: the metric says so, naming the value.
    with pytest.raises(ValueError, match="target values must be class indices.*255"):
        evaluate(model, val, loss=lambda output, target: output.mean(), metric="miou")


def test_predict_inputs_and_outputs():
    model = pixel_net()
    model.train()
    images = toy_segmentation(n=5).tensors[0]
    labels = predict(model, images, batch_size=2)
    logits = predict(model, images, logits=True)
    assert labels.shape == (5, 12, 12) and logits.shape == (5, 3, 12, 12)
    assert torch.equal(logits.argmax(1), labels)
    assert torch.equal(predict(model, toy_segmentation(n=5)), labels)     # (image, mask) pairs
    assert model.training                                                 # mode restored


# --------------------------------------------------------------------------
# History and plot_history
# --------------------------------------------------------------------------

def test_history_best_helpers_and_table():
    h = History(metric="miou", train_loss=[0.9, 0.5, 0.4], train_metric=[0.6, 0.8, 0.9],
                val_loss=[0.8, 0.6, 0.7], val_metric=[0.7, math.nan, 0.8], seconds=[1.0, 1.5, 1.0])
    assert h.epochs == 3 and h.total_seconds == 3.5
    assert (h.best_epoch(), h.best()) == (3, 0.8)
    assert (h.best_epoch("val_loss"), h.best("val_loss")) == (2, 0.6)
    assert h.best_epoch("train_loss") == 3
    table = str(h).splitlines()
    assert len(table) == 4 and "val mIoU" in table[0]
    with pytest.raises(ValueError, match="key must be one of"):
        h.best("accuracy")
    with pytest.raises(ValueError, match="val_metric"):
        History(train_loss=[1.0], train_metric=[0.5]).best("val_metric")
    assert History(train_loss=[1.0], train_metric=[0.5]).best() == 0.5


@pytest.mark.parametrize("with_val", [True, False])
def test_plot_history_has_two_axes_and_a_line_per_curve(with_val):
    import matplotlib.figure
    import matplotlib.pyplot as plt

    h = History(train_loss=[1.0, 0.6, 0.5], train_metric=[0.5, 0.7, 0.8])
    if with_val:
        h.val_loss, h.val_metric = [1.1, 0.8, 0.9], [0.4, 0.6, 0.6]
    fig = plot_history(h)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 2
    lines = 2 if with_val else 1
    assert [len(ax.lines) for ax in fig.axes] == [lines, lines]
    assert list(fig.axes[0].lines[0].get_ydata()) == h.train_loss
    assert list(fig.axes[1].lines[0].get_xdata()) == [1, 2, 3]
    assert tuple(fig.get_size_inches()) == (6.0, 2.5)
    assert not plt.get_fignums()                       # not left open in pyplot
    with pytest.raises(TypeError, match="history must be"):
        plot_history({"train_loss": [1.0]})


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    ({"epochs": 0}, ValueError, r"epochs must be an int >= 1, got 0"),
    ({"epochs": 2.5}, TypeError, r"epochs must be an int"),
    ({"lr": 0}, ValueError, r"lr must be a number > 0.0, got 0"),
    ({"lr": -1e-3}, ValueError, r"lr must be .*-0.001"),
    ({"optimizer": "adamw"}, ValueError, r"optimizer must be one of 'adam', 'sgd', got 'adamw'"),
    ({"optimizer": 3}, TypeError, r"optimizer must be"),
    ({"metric": "f1"}, ValueError, r"metric must be one of 'accuracy', 'miou', got 'f1'"),
    ({"metric": 0.5}, TypeError, r"metric must be"),
    ({"loss": "dice"}, TypeError, r"loss must be"),
    ({"batch_size": 0}, ValueError, r"batch_size must be an int >= 1, got 0"),
    ({"num_classes": 0}, ValueError, r"num_classes must be an int >= 1, got 0"),
    ({"scheduler": "step"}, ValueError, r"scheduler must be one of 'cosine', 'onecycle', got 'step'"),
    ({"device": "gpu"}, ValueError, r"device must name a torch device.*'gpu'"),
    ({"progress": "yes"}, TypeError, r"progress must be a bool, got str 'yes'"),
    ({"seed": None}, TypeError, r"seed must be an int"),
])
def test_fit_bad_arguments_name_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        fit(mlp(), blobs(), **{"progress": False, **kwargs})


def test_fit_bad_model_and_data():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        fit(lambda x: x, blobs())
    with pytest.raises(TypeError, match="train_data must be a Dataset.*TensorDataset"):
        fit(mlp(), torch.randn(4, 2))
    with pytest.raises(TypeError, match="val_data must be a Dataset or a DataLoader, got int"):
        fit(mlp(), blobs(), 3)
    with pytest.raises(ValueError, match="train_data must not be empty"):
        fit(mlp(), TensorDataset(torch.empty(0, 2), torch.empty(0).long()))
    with pytest.raises(ValueError, match=r"data must yield \(inputs, targets\) pairs"):
        fit(mlp(), TensorDataset(torch.randn(4, 2)), progress=False)
    with pytest.raises(ValueError, match=r"targets must have shape \(4,\)"):
        fit(mlp(), TensorDataset(torch.randn(4, 2), torch.zeros(4, 1).long()), progress=False,
            loss=lambda out, y: out.sum())


def test_import_course_train_is_light():
    code = "import sys, course.train; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout.split())
    assert not {"matplotlib", "torchvision", "sklearn"} & loaded


# --------------------------------------------------------------------------
# course.pretrained: shipped weights, loaded offline
# --------------------------------------------------------------------------

@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test."""
    import socket

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", NoSocket)
    monkeypatch.setattr(socket, "create_connection", NoSocket)


def test_pretrained_weights_load_offline_and_score_what_their_metadata_says(no_network):
    from course.data import DigitsClassification
    from course.pretrained import DigitsCNN, load_pretrained, pretrained_info

    model = load_pretrained("digits_cnn")
    assert isinstance(model, DigitsCNN) and not model.training
    info = pretrained_info("digits_cnn")
    assert model.pretrained_info == info
    assert info["classes"] == [0, 1, 2, 3, 4] and info["seed"] == 0
    assert {"torch_version", "epochs", "lr", "train_examples", "script"} <= set(info)
    assert all(p.dtype == torch.float32 for p in model.state_dict().values() if p.is_floating_point())

    # Recompute the held-out accuracy: the test split's digits 0-4.
    test = DigitsClassification("test", image_size=info["image_size"])
    keep = test.labels < 5
    pred = predict(model, test.images[keep])
    accuracy = (pred == test.labels[keep]).double().mean().item()
    assert int(keep.sum()) == info["test_examples"]
    assert accuracy == pytest.approx(info["test_accuracy"], abs=0.01)
    assert accuracy >= 0.95


def test_pretrained_file_is_small_and_safe_to_load():
    from course.pretrained import WEIGHTS_DIR, available_pretrained

    assert "digits_cnn" in available_pretrained()
    path = WEIGHTS_DIR / "digits_cnn.pt"
    assert path.stat().st_size < 5 * 1024 * 1024
    data = torch.load(path, map_location="cpu", weights_only=True)     # tensors and plain values only
    assert set(data) == {"state_dict", "metadata"}


def test_pretrained_trunk_and_new_head_for_transfer():
    from course.pretrained import load_pretrained

    model = load_pretrained()
    assert model.features(torch.zeros(2, 1, 28, 28)).shape == (2, 64, 7, 7)
    model.classifier[-1] = nn.Linear(model.classifier[-1].in_features, 3)
    assert model(torch.zeros(2, 1, 40, 40)).shape == (2, 3)          # any image size
    with pytest.raises(ValueError, match=r"x must be a batch of images \(N, 1, H, W\), got \(2, 3, 28, 28\)"):
        model(torch.zeros(2, 3, 28, 28))


def test_save_pretrained_round_trip_and_bad_names(tmp_path):
    from course.pretrained import DigitsCNN, load_pretrained, save_pretrained

    torch.manual_seed(0)
    model = DigitsCNN(num_classes=4, width=4)
    path = save_pretrained(model, "tiny", {"seed": 0}, directory=tmp_path)
    data = torch.load(path, weights_only=True)
    assert data["metadata"] == {"architecture": "DigitsCNN",
                                "config": {"num_classes": 4, "in_channels": 1, "width": 4}, "seed": 0}
    assert same_weights(model, _rebuilt(data))
    with pytest.raises(ValueError, match="name must be one of 'digits_cnn'.*got 'imagenet'"):
        load_pretrained("imagenet")
    with pytest.raises(TypeError, match="model must be one of DigitsCNN"):
        save_pretrained(nn.Linear(2, 2), "linear", {}, directory=tmp_path)


def test_save_pretrained_rejects_a_lookalike_class_without_config(tmp_path):
    from course.pretrained import save_pretrained

    class DigitsCNN(nn.Module):                       # the registered name, but not the course's network
        pass

    with pytest.raises(TypeError, match="model must be one of DigitsCNN, got DigitsCNN"):
        save_pretrained(DigitsCNN(), "lookalike", {}, directory=tmp_path)
    assert not (tmp_path / "lookalike.pt").exists()


def _rebuilt(data) -> nn.Module:
    from course.pretrained import DigitsCNN

    model = DigitsCNN(**data["metadata"]["config"])
    model.load_state_dict(data["state_dict"])
    return model


# --------------------------------------------------------------------------
# reestimate_batchnorm
# --------------------------------------------------------------------------

def bn_net(seed: int = 0) -> nn.Sequential:
    """conv -> BatchNorm2d -> ReLU -> conv -> BatchNorm2d, with stale running statistics."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 5, 3), nn.BatchNorm2d(5))
    with torch.no_grad():
        for layer in (model[1], model[4]):
            layer.running_mean.fill_(7.0)
            layer.running_var.fill_(9.0)
            layer.weight.uniform_(0.5, 2.0)
            layer.bias.uniform_(-1.0, 1.0)
    return model


def bn_inputs(n: int = 24, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 + 0.5


def channel_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and unbiased variance of (N, C, H, W) features, as BatchNorm stores them."""
    flat = features.transpose(0, 1).flatten(1)
    return flat.mean(dim=1), flat.var(dim=1, unbiased=True)


def test_reestimate_batchnorm_one_batch_gives_the_statistics_of_the_data():
    model, x = bn_net(), bn_inputs()
    model.eval()
    weights = {k: v.clone() for k, v in model.named_parameters()}
    assert reestimate_batchnorm(model, DataLoader(TensorDataset(x, torch.zeros(24).long()), batch_size=24)) is model
    mean, var = channel_stats(model[0](x).detach())          # the input of the first BN layer
    torch.testing.assert_close(model[1].running_mean, mean)
    torch.testing.assert_close(model[1].running_var, var)
    with torch.no_grad():                                    # the second layer sees the first one in train mode
        second_input = model[3](model[2](nn.functional.batch_norm(
            model[0](x), None, None, model[1].weight, model[1].bias, training=True)))
    mean2, var2 = channel_stats(second_input)
    torch.testing.assert_close(model[4].running_mean, mean2)
    torch.testing.assert_close(model[4].running_var, var2)
    assert not model.training and model[1].momentum == 0.1 and model[4].momentum == 0.1
    assert all(torch.equal(weights[k], v) for k, v in model.named_parameters())
    assert all(p.grad is None for p in model.parameters())


def test_reestimate_batchnorm_equal_batches_average_the_batch_statistics():
    model, x = bn_net(), bn_inputs(n=30)
    model.train()
    model[1].momentum = 0.3
    reestimate_batchnorm(model, x.split(10))                 # plain Tensors, no targets
    features = model[0](x).detach()
    per_batch = [channel_stats(part) for part in features.split(10)]
    torch.testing.assert_close(model[1].running_mean, channel_stats(features)[0])    # equal sizes: the mean of all
    torch.testing.assert_close(model[1].running_var, torch.stack([v for _, v in per_batch]).mean(dim=0))
    assert model.training and model[1].momentum == 0.3 and model[4].momentum == 0.1
    assert int(model[1].num_batches_tracked) == 3


def test_reestimate_batchnorm_matches_update_bn_on_a_plain_model():
    from torch.optim.swa_utils import update_bn

    ours, theirs, x = bn_net(), bn_net(), bn_inputs(n=32)
    loader = DataLoader(TensorDataset(x, torch.zeros(32).long()), batch_size=8)
    reestimate_batchnorm(ours, loader)
    update_bn(loader, theirs)
    for name, buffer in theirs.named_buffers():
        torch.testing.assert_close(dict(ours.named_buffers())[name], buffer)


class _FrozenFirstBlock(nn.Sequential):
    """Keeps its first conv + BatchNorm in eval mode, as lecture 05's PartlyFrozen does."""

    def train(self, mode: bool = True) -> _FrozenFirstBlock:
        super().train(mode)
        self[1].eval()
        return self


def test_reestimate_batchnorm_leaves_layers_kept_in_eval_mode_and_reestimates_requires_grad_false():
    model = _FrozenFirstBlock(*bn_net())
    for p in model[4].parameters():
        p.requires_grad_(False)                              # frozen weights, statistics still train
    reestimate_batchnorm(model, [bn_inputs()])
    assert torch.equal(model[1].running_mean, torch.full((4,), 7.0))      # kept in eval mode: untouched
    assert not torch.equal(model[4].running_mean, torch.full((5,), 7.0))  # re-estimated
    assert model[1].momentum == 0.1 and model[4].momentum == 0.1


def test_reestimate_batchnorm_without_batchnorm_is_a_no_op():
    model = mlp()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert reestimate_batchnorm(model, [torch.randn(4, 2)]) is model
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items()) and model.training


@pytest.mark.parametrize("loader, error, message", [
    (torch.randn(4, 3, 8, 8), TypeError, "loader must yield batches, got a Tensor"),
    (TensorDataset(torch.randn(4, 3, 8, 8)), TypeError, "got a Dataset .TensorDataset.; wrap it"),
    (3, TypeError, "loader must be an iterable of batches .*got int"),
    ([], ValueError, "loader must yield at least one batch, got none"),
    ([bn_inputs(4), "images"], TypeError, "loader must yield Tensors or .inputs, targets. pairs, got .* str"),
])
def test_reestimate_batchnorm_bad_loaders_leave_the_model_as_it_was(loader, error, message):
    model = bn_net()
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=message):
        reestimate_batchnorm(model, loader)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert not model.training and model[1].momentum == 0.1
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        reestimate_batchnorm("model", [bn_inputs(4)])
    with pytest.raises(ValueError, match="device must name a torch device"):
        reestimate_batchnorm(model, [bn_inputs(4)], device="gpu0")
