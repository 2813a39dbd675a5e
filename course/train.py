"""A small training loop: :func:`fit` a model, :func:`evaluate` it, :func:`predict` with it.

One epoch of supervised training is always the same four lines per batch::

    output = model(x)                 # forward
    loss = loss_fn(output, y)         # how wrong are we?
    optimizer.zero_grad()
    loss.backward()                   # d loss / d every weight
    optimizer.step()                  # w <- w - lr * (a function of the gradient)

:func:`fit` wraps them with what a lecture needs around them: batching and
shuffling, a progress bar, a validation pass after each epoch, a metric
(``"accuracy"``, ``"miou"`` or your own function) and a :class:`History`
of every number, which :func:`plot_history` draws. After training a
network with BatchNorm, :func:`reestimate_batchnorm` measures its running
statistics again on the final weights.

It handles classification and segmentation alike: the model's output is
``(N, C)`` scores for class labels ``(N,)``, or ``(N, C, H, W)`` scores for
label maps ``(N, H, W)``; the default loss, cross-entropy, and the metrics
work on both.

>>> import torch
>>> from torch.utils.data import TensorDataset
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.cat([torch.randn(50, 2, generator=g) - 3, torch.randn(50, 2, generator=g) + 3])
>>> y = torch.cat([torch.zeros(50), torch.ones(50)]).long()     # two blobs, two classes
>>> blobs = TensorDataset(x, y)
>>> _ = torch.manual_seed(0); model = torch.nn.Linear(2, 2)
>>> history = fit(model, blobs, epochs=3, lr=0.1, progress=False)
>>> history.epochs, history.train_loss[-1] < history.train_loss[0]
(3, True)
>>> evaluate(model, blobs)["metric"]
1.0

Reproducibility: ``fit`` is deterministic given ``seed`` (and the model's
initial weights): the shuffling uses its own ``torch.Generator`` seeded with
``seed``, and anything else random during training (dropout, random
augmentation drawn from torch's global generator) runs inside
``torch.random.fork_rng`` after ``torch.manual_seed(seed)``, so the global
random state is the same after ``fit`` as before it.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Union

import torch

from ._checks import check_bool, check_choice, check_float, check_int

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch.utils.data import DataLoader, Dataset

    # A Dataset of (input, target) pairs, or a DataLoader of such batches.
    Data = Union[Dataset[Any], DataLoader[Any]]

# loss(output, target) -> scalar tensor
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# metric(output, target) -> float (or a one-element tensor)
MetricFunction = Callable[[torch.Tensor, torch.Tensor], Union[float, torch.Tensor]]
# a learning-rate scheduler (ReduceLROnPlateau is one too)
Scheduler = torch.optim.lr_scheduler.LRScheduler

__all__ = ["History", "fit", "evaluate", "predict", "reestimate_batchnorm", "plot_history"]

OPTIMIZERS = ("adam", "sgd")
METRICS = ("accuracy", "miou")
SCHEDULERS = ("cosine", "onecycle")
_METRIC_LABELS = {"accuracy": "accuracy", "miou": "mIoU"}


# --------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------

@dataclasses.dataclass
class History:
    """Everything :func:`fit` measured, one list entry per epoch.

    Attributes:
        metric: the metric's name (``"accuracy"``, ``"miou"`` or the function's name).
        train_loss: mean training loss of each epoch (averaged over the
            batches as they were trained, weighted by batch size).
        train_metric: the metric on the training batches of each epoch, as
            they were trained: in training mode (BatchNorm with batch statistics,
            dropout on), see :func:`fit`.
        val_loss, val_metric: the same on ``val_data`` after each epoch, in
            eval mode without gradients (empty lists when there is no ``val_data``).
        seconds: wall time of each epoch, validation included.
        lr: the learning rate at the start of each epoch (first parameter group).

    Epochs are numbered from 1, as the progress bar counts them:
    ``history.val_metric[history.best_epoch() - 1] == history.best()``.

    >>> h = History(metric="accuracy", train_loss=[0.9, 0.5, 0.4], train_metric=[0.6, 0.8, 0.9],
    ...             val_loss=[0.8, 0.6, 0.7], val_metric=[0.7, 0.85, 0.8])
    >>> h.epochs, h.best_epoch(), h.best(), h.best_epoch("val_loss")
    (3, 2, 0.85, 2)
    """

    metric: str = "accuracy"
    train_loss: list[float] = dataclasses.field(default_factory=list)
    train_metric: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    val_metric: list[float] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)
    lr: list[float] = dataclasses.field(default_factory=list)

    _KEYS = ("train_loss", "train_metric", "val_loss", "val_metric")

    @property
    def epochs(self) -> int:
        """Number of epochs trained (fewer than asked for if training stopped early)."""
        return len(self.train_loss)

    @property
    def total_seconds(self) -> float:
        """Wall time of the whole training run."""
        return float(sum(self.seconds))

    def _values(self, key: str | None) -> tuple[str, list[float]]:
        if key is None:
            key = "val_metric" if self.val_metric else "train_metric"
        check_choice("key", key, self._KEYS)
        values = getattr(self, key)
        if not values:
            raise ValueError(f"key {key!r} has no values (was fit called without val_data?)")
        return key, values

    def best_epoch(self, key: str | None = None) -> int:
        """The epoch (counted from 1) with the best ``key``.

        ``key`` is one of ``"train_loss"``, ``"train_metric"``, ``"val_loss"``,
        ``"val_metric"`` (default: ``"val_metric"``, or ``"train_metric"``
        without validation data). Losses are best when lowest, metrics when
        highest; ``nan`` counts as worst; ties go to the earliest epoch.
        """
        key, values = self._values(key)
        sign = -1.0 if key.endswith("loss") else 1.0
        scores = [-math.inf if math.isnan(v) else sign * v for v in values]
        return max(range(len(scores)), key=scores.__getitem__) + 1

    def best(self, key: str | None = None) -> float:
        """The best value of ``key`` over the epochs (see :meth:`best_epoch`)."""
        key, values = self._values(key)
        return values[self.best_epoch(key) - 1]

    def __str__(self) -> str:
        """A table, one row per epoch."""
        label = _METRIC_LABELS.get(self.metric, self.metric)
        head = f"{'epoch':>5}  {'train loss':>10}  {'train ' + label:>14}"
        if self.val_loss:
            head += f"  {'val loss':>10}  {'val ' + label:>14}"
        rows = [head + f"  {'seconds':>8}"]
        for i in range(self.epochs):
            row = f"{i + 1:>5}  {self.train_loss[i]:>10.4f}  {self.train_metric[i]:>14.4f}"
            if self.val_loss:
                row += f"  {self.val_loss[i]:>10.4f}  {self.val_metric[i]:>14.4f}"
            rows.append(row + f"  {self.seconds[i]:>8.2f}")
        return "\n".join(rows)


# --------------------------------------------------------------------------
# Helpers: argument checks, data, loss, metric
# --------------------------------------------------------------------------

def _check_model(model: object) -> torch.nn.Module:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_device(device: object) -> torch.device | None:
    if device is None:
        return None
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be None, a str such as 'cpu' or a torch.device, got {type(device).__name__}")
    try:
        return torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device must name a torch device such as 'cpu' or 'cuda', got {device!r}") from error


def _model_device(model: torch.nn.Module) -> torch.device:
    """Where the model's weights live (CPU for a model without any)."""
    for parameter in model.parameters():
        return parameter.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


def _check_metric(metric: object) -> str:
    """Return the metric's display name; raise naming ``metric`` if it is unknown."""
    if isinstance(metric, str):
        return check_choice("metric", metric, METRICS)
    if callable(metric):
        return getattr(metric, "__name__", type(metric).__name__)
    raise TypeError(f"metric must be one of {', '.join(map(repr, METRICS))} or a function, got {type(metric).__name__}")


def _check_loss(loss: object, ignore_index: int | None) -> LossFunction:
    """The loss function to call as ``loss(output, target)``."""
    if loss is None:
        index = -100 if ignore_index is None else ignore_index   # -100: F.cross_entropy's "ignore nothing"

        def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.cross_entropy(output, target, ignore_index=index)
        return cross_entropy
    if not callable(loss):
        raise TypeError(f"loss must be None (cross-entropy) or a function loss(output, target), "
                        f"got {type(loss).__name__}")
    return loss


def _metric_ignore_index(loss: object, ignore_index: int | None) -> int | None:
    """Pixels the metric skips: ``ignore_index``, else the loss's own (``nn.CrossEntropyLoss(ignore_index=255)``)."""
    if ignore_index is not None:
        return ignore_index
    index = getattr(loss, "ignore_index", None)
    return index if isinstance(index, int) and index >= 0 else None


def _as_loader(name: str, data: object, *, batch_size: int, shuffle: bool = False,
               generator: torch.Generator | None = None) -> DataLoader[Any]:
    """A DataLoader over ``data`` (a Dataset), or ``data`` itself if it already is one."""
    from torch.utils.data import DataLoader, IterableDataset

    if isinstance(data, DataLoader):
        return data
    if isinstance(data, torch.Tensor):
        raise TypeError(f"{name} must be a Dataset of (input, target) pairs or a DataLoader, got a Tensor "
                        f"(wrap inputs and targets as torch.utils.data.TensorDataset(x, y))")
    if isinstance(data, IterableDataset):
        return DataLoader(data, batch_size=batch_size)
    if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        raise TypeError(f"{name} must be a Dataset or a DataLoader, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{name} must not be empty, got a dataset of length 0")
    # Any sized, indexable object works (a list of pairs too); DataLoader's annotation asks for a Dataset.
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)  # type: ignore[arg-type]


def _split_batch(batch: object, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        got = f"a {type(batch).__name__}" + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
        raise ValueError(f"data must yield (inputs, targets) pairs, got {got}")
    x, y = batch
    return x.to(device), y.to(device)


def _batch_inputs(name: str, batch: object) -> torch.Tensor:
    """The inputs of one batch that is ``inputs`` or ``(inputs, targets, ...)``; ``name`` is the argument."""
    inputs = batch[0] if isinstance(batch, (tuple, list)) and len(batch) > 0 else batch
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"{name} must yield Tensors or (inputs, targets) pairs, got a batch of "
                        f"type {type(batch).__name__}")
    return inputs


class _Meter:
    """Sums up the loss and the metric over one pass through the data.

    ``"accuracy"`` counts correct predictions (pixels, for label maps) and
    ``"miou"`` adds up a confusion matrix, so both are exact over the whole
    pass, not an average of per-batch scores. A metric function
    ``metric(output, target) -> float`` is averaged over the batches,
    weighted by batch size.
    """

    def __init__(self, metric: str | MetricFunction, num_classes: int | None, ignore_index: int | None) -> None:
        self.metric, self.num_classes, self.ignore_index = metric, num_classes, ignore_index
        self.loss_sum, self.count = 0.0, 0
        self.correct, self.total = 0, 0
        self.metric_sum = 0.0
        self.matrix: torch.Tensor | None = None

    def update(self, loss: float, output: torch.Tensor, target: torch.Tensor) -> None:
        n = len(target)
        self.loss_sum += loss * n
        self.count += n
        if callable(self.metric):
            self.metric_sum += float(self.metric(output, target)) * n
            return
        if output.dim() < 2:
            raise ValueError(f"model output must have shape (N, C) or (N, C, H, W) for metric "
                             f"{self.metric!r}, got {tuple(output.shape)}")
        pred = output.argmax(dim=1)                      # the class with the highest score
        if pred.shape != target.shape:
            raise ValueError(f"targets must have shape {tuple(pred.shape)} to match the model output "
                             f"{tuple(output.shape)}, got {tuple(target.shape)}")
        keep = torch.ones_like(target, dtype=torch.bool) if self.ignore_index is None else target != self.ignore_index
        if self.metric == "accuracy":
            self.correct += int(((pred == target) & keep).sum())
            self.total += int(keep.sum())
        else:                                            # "miou"
            from .metrics import confusion_matrix

            if self.num_classes is None:
                self.num_classes = output.shape[1]       # one score channel per class
            matrix = confusion_matrix(pred, target, self.num_classes, self.ignore_index)
            self.matrix = matrix if self.matrix is None else self.matrix + matrix

    @property
    def loss(self) -> float:
        return self.loss_sum / self.count if self.count else math.nan

    @property
    def value(self) -> float:
        if callable(self.metric):
            return self.metric_sum / self.count if self.count else math.nan
        if self.metric == "accuracy":
            return self.correct / self.total if self.total else math.nan
        if self.matrix is None:
            return math.nan
        from .metrics import iou_from_confusion

        return iou_from_confusion(self.matrix)[0]        # the summed matrix: exact over the pass


def _make_optimizer(optimizer: object, model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if not isinstance(optimizer, str):
        raise TypeError(f"optimizer must be 'adam', 'sgd' or a torch.optim.Optimizer, got {type(optimizer).__name__}")
    check_choice("optimizer", optimizer, OPTIMIZERS)
    if optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def _make_scheduler(scheduler: object, optimizer: torch.optim.Optimizer, epochs: int,
                    steps_per_epoch: int | None) -> tuple[Scheduler | None, bool]:
    """Return ``(scheduler or None, steps every batch?)``."""
    if scheduler is None:
        return None, False
    if isinstance(scheduler, str):
        check_choice("scheduler", scheduler, SCHEDULERS)
        if steps_per_epoch is None:
            raise ValueError(f"scheduler={scheduler!r} needs train_data with a length (it spreads over all batches)")
        total = epochs * steps_per_epoch
        if scheduler == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), True
        max_lr = [group["lr"] for group in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total), True
    if isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler):
        return scheduler, False
    if callable(scheduler):
        made = scheduler(optimizer)
        if not isinstance(made, torch.optim.lr_scheduler.LRScheduler):
            raise TypeError(f"scheduler(optimizer) must return a torch.optim.lr_scheduler scheduler, "
                            f"got {type(made).__name__}")
        return made, False
    raise TypeError(f"scheduler must be None, 'cosine', 'onecycle', a scheduler or a function "
                    f"optimizer -> scheduler, got {type(scheduler).__name__}")


def _run_pass(model: torch.nn.Module, loader: Iterable[object], loss_fn: LossFunction, meter: _Meter,
              device: torch.device, *, progress: bool, desc: str) -> _Meter:
    """One pass over ``loader`` without training: eval mode, no gradients."""
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in tqdm(loader, desc=desc, unit="batch", leave=False, disable=not progress):
                x, y = _split_batch(batch, device)
                output = model(x)
                meter.update(float(loss_fn(output, y)), output, y)
    finally:
        model.train(was_training)
    return meter


# --------------------------------------------------------------------------
# fit, evaluate, predict
# --------------------------------------------------------------------------

def fit(model: torch.nn.Module, train_data: Data, val_data: Data | None = None, *, epochs: int = 5,
        lr: float = 1e-3, optimizer: str | torch.optim.Optimizer = "adam", loss: LossFunction | None = None,
        metric: str | MetricFunction = "accuracy", num_classes: int | None = None,
        ignore_index: int | None = None, batch_size: int = 32, seed: int = 0,
        device: str | torch.device | None = None, progress: bool = True,
        scheduler: str | Scheduler | Callable[[torch.optim.Optimizer], Scheduler] | None = None,
        stop_at: float | None = None, callback: Callable[[History], object] | None = None) -> History:
    """Train ``model`` on ``train_data`` for ``epochs`` epochs; return the :class:`History`.

    Each epoch goes once through the training data in shuffled batches
    (forward, loss, backward, optimizer step), then, if ``val_data`` is
    given, once through the validation data in eval mode without gradients.

    Args:
        model: any ``nn.Module`` mapping a batch of inputs to class scores
            (logits): ``(N, C)`` for classification, ``(N, C, H, W)`` for
            segmentation. It is trained in place, moved to ``device``.
        train_data: a Dataset of ``(input, target)`` pairs (targets: int64
            class indices, ``()`` per image or ``(H, W)`` label maps), or a
            DataLoader, which is used as it is (its own batch size and order;
            ``batch_size`` and the shuffling seed apply to Datasets).
            If the training dataset has a ``set_epoch`` method (the
            ``course.data`` datasets do), it is called with 0, 1, ... at the
            start of each epoch, so random augmentations differ between epochs.
        val_data: validation data, as ``train_data`` (never shuffled), or None.
        epochs: passes over ``train_data``, >= 1.
        lr: learning rate > 0 of the named optimizers.
        optimizer: ``"adam"`` (``torch.optim.Adam``), ``"sgd"`` (SGD with
            momentum 0.9), or an optimizer already built on
            ``model.parameters()`` (then ``lr`` is not used).
        loss: a function ``loss(output, target) -> scalar tensor``;
            default cross-entropy (``F.cross_entropy``, for ``(N, C)`` and
            ``(N, C, H, W)`` outputs alike, skipping ``ignore_index``).
        metric: ``"accuracy"`` (fraction of correct labels, or of correct
            pixels for label maps), ``"miou"`` (mean IoU of the label maps,
            from a confusion matrix summed over the whole pass: the same
            number as ``course.metrics.mean_iou`` on all predictions at once),
            or a function ``metric(output, target) -> float``, averaged over
            batches weighted by their size.
        num_classes: classes for ``"miou"``; default: the model output's
            channel count ``C``.
        ignore_index: a target value (e.g. 255 on object borders) that the
            default loss and the metrics skip. With ``loss=nn.CrossEntropyLoss(ignore_index=255)``
            the metrics pick up the loss's ``ignore_index``.
        batch_size: batch size for Datasets, >= 1.
        seed: seeds the shuffling and torch's random numbers during training
            (dropout, random augmentation); see "Reproducibility" below.
        device: ``"cpu"``, ``"cuda"``, a ``torch.device``, or None: CUDA if
            available, else the CPU.
        progress: show tqdm progress bars (epochs, and the batches of the
            current epoch with the running loss and metric). False: print nothing.
        scheduler: None (constant ``lr``), ``"cosine"`` (decay along a half
            cosine to 0 over all batches), ``"onecycle"`` (``OneCycleLR``:
            warm up to ``lr``, then anneal), both stepped after every batch;
            or a scheduler, or a function ``optimizer -> scheduler``, stepped
            once after each epoch (``ReduceLROnPlateau`` is given the
            validation loss, or the training loss without ``val_data``).
        stop_at: stop after the first epoch whose metric reaches this value
            (the validation metric, or the training metric without ``val_data``).
        callback: a function called as ``callback(history)`` after each epoch;
            if it returns True, training stops.

    Returns:
        A :class:`History` of per-epoch losses, metrics, times and learning rates.

    At the end the model is in **eval mode**, on ``device`` (ready for
    :func:`predict`; call ``model.train()`` to train it further by hand).

    The training loss and metric are measured on each batch as it is trained,
    in **training mode**: BatchNorm normalises with the statistics of the batch
    and dropout is on. Validation (and :func:`evaluate`) runs in eval mode, where
    BatchNorm uses its running averages; after a short run these lag behind the
    weights, and a model can score far lower in eval mode than ``train_metric``
    says, even on its training data. :func:`reestimate_batchnorm` measures the
    running statistics again on the final weights.

    Reproducibility: two calls with the same model weights, data and
    ``seed`` give identical histories (times aside) and identical weights
    on the CPU. Shuffling draws from a ``torch.Generator`` seeded with
    ``seed``; the rest of training runs inside ``torch.random.fork_rng``
    after ``torch.manual_seed(seed)``, so ``fit`` leaves torch's global
    random state as it found it. Python's ``random`` and NumPy are not touched.

    >>> from torch.utils.data import TensorDataset
    >>> x = torch.tensor([[-2.0], [-1.0], [1.0], [2.0]])
    >>> y = torch.tensor([0, 0, 1, 1])
    >>> h = fit(torch.nn.Linear(1, 2), TensorDataset(x, y), TensorDataset(x, y),
    ...         epochs=20, lr=0.1, progress=False)
    >>> h.epochs, h.val_metric[-1]
    (20, 1.0)
    """
    _check_model(model)
    epochs = check_int("epochs", epochs, minimum=1)
    lr = check_float("lr", lr, minimum=0.0, exclusive=True)
    metric_name = _check_metric(metric)
    if num_classes is not None:
        num_classes = check_int("num_classes", num_classes, minimum=1)
    if ignore_index is not None:
        ignore_index = check_int("ignore_index", ignore_index)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed = check_int("seed", seed)
    device = _check_device(device)
    check_bool("progress", progress)
    if stop_at is not None:
        stop_at = check_float("stop_at", stop_at)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be None or a function callback(history), got {type(callback).__name__}")
    loss_fn = _check_loss(loss, ignore_index)
    metric_ignore = _metric_ignore_index(loss, ignore_index)

    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    train_loader = _as_loader("train_data", train_data, batch_size=batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(seed))
    val_loader = None if val_data is None else _as_loader("val_data", val_data, batch_size=batch_size)
    opt = _make_optimizer(optimizer, model, lr)
    try:
        steps_per_epoch = len(train_loader)
    except TypeError:                                   # an IterableDataset without a length
        steps_per_epoch = None
    sched, step_every_batch = _make_scheduler(scheduler, opt, epochs, steps_per_epoch)
    # Datasets with random augmentation (course.data's, given a transform) draw new
    # augmentations each epoch when told the epoch number.
    set_epoch = getattr(train_loader.dataset, "set_epoch", None)

    from tqdm.auto import tqdm

    history = History(metric=metric_name)
    label = _METRIC_LABELS.get(metric_name, metric_name)
    rng_devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(seed)
        epoch_bar = tqdm(range(epochs), desc="fit", unit="epoch", disable=not progress)
        for epoch in epoch_bar:
            start = time.perf_counter()
            history.lr.append(float(opt.param_groups[0]["lr"]))
            if callable(set_epoch):
                set_epoch(epoch)

            # --- train: forward, loss, backward, step ---
            model.train()
            train = _Meter(metric, num_classes, metric_ignore)
            batch_bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                             leave=False, disable=not progress)
            for batch in batch_bar:
                x, y = _split_batch(batch, device)
                output = model(x)
                batch_loss = loss_fn(output, y)
                opt.zero_grad(set_to_none=True)
                batch_loss.backward()
                opt.step()
                if sched is not None and step_every_batch:
                    sched.step()
                train.update(batch_loss.item(), output.detach(), y)
                if progress:
                    batch_bar.set_postfix({"loss": f"{train.loss:.4f}", label: f"{train.value:.4f}"}, refresh=False)
            history.train_loss.append(train.loss)
            history.train_metric.append(train.value)
            postfix = {"loss": f"{train.loss:.4f}", label: f"{train.value:.4f}"}

            # --- validate: eval mode, no gradients ---
            if val_loader is not None:
                val = _run_pass(model, val_loader, loss_fn, _Meter(metric, num_classes, metric_ignore),
                                device, progress=progress, desc="validating")
                history.val_loss.append(val.loss)
                history.val_metric.append(val.value)
                postfix.update({"val_loss": f"{val.loss:.4f}", f"val_{label}": f"{val.value:.4f}"})

            if sched is not None and not step_every_batch:
                if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    sched.step(history.val_loss[-1] if history.val_loss else history.train_loss[-1])
                else:
                    sched.step()
            history.seconds.append(time.perf_counter() - start)
            if progress:
                epoch_bar.set_postfix(postfix)

            stop = callback is not None and callback(history) is True
            watched = history.val_metric[-1] if history.val_metric else history.train_metric[-1]
            if stop or (stop_at is not None and watched >= stop_at):
                break
        epoch_bar.close()
    model.eval()
    return history


def evaluate(model: torch.nn.Module, data: Data, *, loss: LossFunction | None = None,
             metric: str | MetricFunction = "accuracy", num_classes: int | None = None,
             ignore_index: int | None = None, device: str | torch.device | None = None, batch_size: int = 64,
             progress: bool = False) -> dict[str, float]:
    """Loss and metric of ``model`` on ``data``, in eval mode without gradients.

    Args:
        model: as in :func:`fit`.
        loss: as in :func:`fit`.
        metric: as in :func:`fit`.
        num_classes: as in :func:`fit`.
        ignore_index: as in :func:`fit`.
        data: a Dataset of ``(input, target)`` pairs, or a DataLoader.
        device: where to run; None: where the model's weights already are
            (the model is moved if a device is given).
        batch_size: batch size for a Dataset.
        progress: show a progress bar over the batches.

    Returns:
        ``{"loss": float, "metric": float}``; the loss is the mean of the
        batch losses weighted by batch size. The model's train/eval mode is
        restored afterwards.

    >>> from torch.utils.data import TensorDataset
    >>> model = torch.nn.Linear(1, 2)
    >>> sorted(evaluate(model, TensorDataset(torch.randn(8, 1), torch.zeros(8).long())))
    ['loss', 'metric']
    """
    _check_model(model)
    _check_metric(metric)
    if num_classes is not None:
        num_classes = check_int("num_classes", num_classes, minimum=1)
    if ignore_index is not None:
        ignore_index = check_int("ignore_index", ignore_index)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = _check_device(device)
    check_bool("progress", progress)
    loss_fn = _check_loss(loss, ignore_index)
    if device is None:
        device = _model_device(model)
    model.to(device)
    loader = _as_loader("data", data, batch_size=batch_size)
    meter = _run_pass(model, loader, loss_fn, _Meter(metric, num_classes, _metric_ignore_index(loss, ignore_index)),
                      device, progress=progress, desc="evaluating")
    return {"loss": meter.loss, "metric": meter.value}


def predict(model: torch.nn.Module, data: torch.Tensor | Data, *, logits: bool = False, batch_size: int = 64,
            device: str | torch.device | None = None, progress: bool = False) -> torch.Tensor:
    """Run ``model`` over ``data`` in eval mode without gradients; return the predictions on the CPU.

    Args:
        model: an ``nn.Module`` producing class scores ``(N, C)`` or ``(N, C, H, W)``.
        data: a batch of inputs as one Tensor ``(N, ...)``, a Dataset of
            inputs or of ``(input, target)`` pairs (targets are not used), or
            a DataLoader of either.
        logits: False: the predicted classes, ``output.argmax(dim=1)``, int64
            ``(N,)`` or ``(N, H, W)``. True: the raw outputs ``(N, C, ...)``.
        batch_size: batch size for a Tensor or a Dataset.
        device: where to run; None: where the model's weights are.
        progress: show a progress bar over the batches.

    The model's train/eval mode is restored afterwards.

    >>> model = torch.nn.Conv2d(3, 4, kernel_size=1)          # 4 classes per pixel
    >>> predict(model, torch.randn(2, 3, 5, 5)).shape
    torch.Size([2, 5, 5])
    """
    from torch.utils.data import DataLoader

    _check_model(model)
    check_bool("logits", logits)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = _check_device(device)
    check_bool("progress", progress)
    if device is None:
        device = _model_device(model)
    model.to(device)
    if isinstance(data, torch.Tensor):
        if data.dim() == 0:
            raise ValueError("data must be a batch of inputs (N, ...), got a 0-D tensor")
        loader = data.split(batch_size)                  # plain batches, no pairs
    elif isinstance(data, DataLoader):
        loader = data
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        loader = DataLoader(data, batch_size=batch_size)
    else:
        raise TypeError(f"data must be a Tensor, a Dataset or a DataLoader, got {type(data).__name__}")

    from tqdm.auto import tqdm

    outputs = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in tqdm(loader, desc="predicting", unit="batch", leave=False, disable=not progress):
                output = model(_batch_inputs("data", batch).to(device))
                outputs.append((output if logits else output.argmax(dim=1)).cpu())
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("data must not be empty, got no batches")
    return torch.cat(outputs)


BATCHNORM_LAYERS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)


def reestimate_batchnorm(model: torch.nn.Module, loader: Iterable[object], *,
                         device: str | torch.device | None = None) -> torch.nn.Module:
    """Recompute the running mean and variance of ``model``'s BatchNorm layers over one pass of ``loader``.

    During training a BatchNorm layer normalises with the statistics of the current batch and
    keeps running averages of them (``momentum`` 0.1) for evaluation mode. After a short
    training run those averages lag behind the weights, and the model does much worse in
    evaluation mode than in training mode, even on its own training images. This function
    resets them and measures them again on the current weights: in training mode, without
    gradients, with ``momentum=None``, so each layer's running mean (variance) becomes the
    plain average over the batches of the batch means (unbiased batch variances):

        running_mean = (1 / B) * sum_b mean_b,    running_var = (1 / B) * sum_b var_b

    For a single batch they are exactly its mean and unbiased variance; for batches of equal
    size the mean is the mean of all the data.

    Which layers: the ``BatchNorm1d/2d/3d`` layers that are in training mode after
    ``model.train()``. A layer that the model's ``train()`` keeps in evaluation mode (a frozen
    block, as lecture 05's ``PartlyFrozen`` does) keeps its statistics. ``requires_grad`` does
    not matter: a layer whose parameters are frozen but which trains its statistics is
    re-estimated. No parameter changes; each layer's ``momentum`` and the model's train/eval
    mode are restored; if the pass fails, the statistics are put back as they were.

    Unlike ``torch.optim.swa_utils.update_bn`` (same cumulative average): ``update_bn(loader,
    model)`` resets every BatchNorm layer, also those that stay in evaluation mode, which then
    keep the reset statistics (mean 0, variance 1); it takes the loader first, returns None, does
    not move the model, and leaves the statistics reset when a batch fails.

    Args:
        model: any ``nn.Module``; without BatchNorm layers nothing happens.
        loader: an iterable of batches, each ``images`` or ``(images, targets)`` (a list or
            tuple whose first element is the input): a DataLoader, or ``images.split(256)``.
        device: where to run; None: where the model's weights already are (the model is
            moved if a device is given).

    Returns:
        ``model``, with new running statistics.

    Raises:
        TypeError: ``loader`` is a Tensor, a Dataset or not iterable, or a batch is not a
            Tensor or a list/tuple starting with one.
        ValueError: ``loader`` yields no batch.

    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    >>> x = torch.randn(32, 3)
    >>> _ = reestimate_batchnorm(model, [x])                       # one batch
    >>> torch.allclose(model[1].running_mean, model[0](x).mean(dim=0).detach())
    True
    >>> model[1].momentum, model.training
    (0.1, True)
    """
    from torch.utils.data import DataLoader, Dataset

    _check_model(model)
    if isinstance(loader, torch.Tensor):
        raise TypeError("loader must yield batches, got a Tensor (iterating it gives single rows); "
                        "pass [images], images.split(256) or a DataLoader")
    if isinstance(loader, Dataset) and not isinstance(loader, DataLoader):
        raise TypeError(f"loader must yield batches, got a Dataset ({type(loader).__name__}); "
                        f"wrap it as torch.utils.data.DataLoader(dataset, batch_size=...)")
    if not hasattr(loader, "__iter__"):
        raise TypeError(f"loader must be an iterable of batches (a DataLoader, a list of Tensors), "
                        f"got {type(loader).__name__}")
    checked_device = _check_device(device)

    was_training = model.training
    model.train()
    layers = [m for m in model.modules() if isinstance(m, BATCHNORM_LAYERS) and m.training]
    if not layers:
        model.train(was_training)
        return model
    if checked_device is None:
        checked_device = _model_device(model)
    model.to(checked_device)
    momenta = [layer.momentum for layer in layers]
    saved = [{name: buffer.clone() for name, buffer in layer.named_buffers(recurse=False)} for layer in layers]
    done = False
    try:
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None                      # a cumulative average instead of a running one
        batches = 0
        with torch.no_grad():
            for batch in loader:
                model(_batch_inputs("loader", batch).to(checked_device))
                batches += 1
        if batches == 0:
            raise ValueError("loader must yield at least one batch, got none")
        done = True
    finally:
        for layer, momentum, buffers in zip(layers, momenta, saved, strict=True):
            layer.momentum = momentum
            if not done:                               # leave the model as it was
                for name, value in buffers.items():
                    getattr(layer, name).copy_(value)
        model.train(was_training)
    return model


# --------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------

def plot_history(history: History, *, figsize: tuple[float, float] = (6.0, 2.5)) -> Figure:
    """Loss and metric per epoch, training vs validation: a Figure with two axes.

    Left: the loss (lower is better); right: the metric. Training curves are
    solid, validation curves dashed. A validation loss that rises while the
    training loss keeps falling is the picture of overfitting.

    The figure is closed in pyplot (no duplicate when a notebook cell both
    draws and returns it): leave it as the last value of a cell, or call
    ``display(fig)`` or ``fig.savefig(path)``.

    >>> fig = plot_history(History(train_loss=[1.0, 0.5], train_metric=[0.5, 0.8]))
    >>> len(fig.axes)
    2
    """
    if not isinstance(history, History):
        raise TypeError(f"history must be a course.train.History (what fit returns), got {type(history).__name__}")
    if history.epochs == 0:
        raise ValueError("history must hold at least one epoch, got an empty History")
    import matplotlib.pyplot as plt

    label = _METRIC_LABELS.get(history.metric, history.metric)
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    for ax, key, title in ((ax_loss, "loss", "loss"), (ax_metric, "metric", label)):
        train = getattr(history, f"train_{key}")
        val = getattr(history, f"val_{key}")
        ax.plot(range(1, len(train) + 1), train, "-", marker=".", label="train")
        if val:
            ax.plot(range(1, len(val) + 1), val, "--", marker=".", label="val")
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize="medium")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    plt.close(fig)
    return fig
