"""Pretrained weights that ship with the course: no download, ever.

Transfer learning starts from a network somebody else trained on a large
labelled set. The course cannot download ImageNet weights (students are
often offline), so it brings its own, small and made in this repository:

* ``"digits_cnn"``: a :class:`DigitsCNN` trained by
  ``scripts/pretrain_backbone.py`` to classify the handwritten digits
  **0 to 4** (scikit-learn's digits, upscaled to 28x28, the training split
  of :class:`course.data.DigitsClassification`). The digits 5 to 9 were
  never shown to it, which is what the transfer-learning lecture uses: can
  features learned on 0-4 help to learn 5-9 from a handful of labels?

The weights live in ``course/weights/<name>.pt``, a file holding
``{"state_dict": ..., "metadata": {...}}`` that ``torch.load(weights_only=True)``
reads (tensors, numbers and strings only: loading it cannot run code).
The metadata says how the weights were made (data, epochs, seed, torch
version) and what they scored on the held-out digits.

>>> model = load_pretrained("digits_cnn")
>>> model(torch.zeros(2, 1, 28, 28)).shape          # scores for the digits 0..4
torch.Size([2, 5])
>>> model.features(torch.zeros(2, 1, 28, 28)).shape   # the trunk: 64 feature maps of 7x7
torch.Size([2, 64, 7, 7])
>>> pretrained_info("digits_cnn")["classes"]
[0, 1, 2, 3, 4]
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from ._checks import check_choice, check_int

__all__ = ["DigitsCNN", "WEIGHTS_DIR", "available_pretrained", "pretrained_info", "load_pretrained",
           "save_pretrained"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

_ARCHITECTURES: dict[str, type[nn.Module]] = {}
_Network = TypeVar("_Network", bound=type[nn.Module])


def _register(cls: _Network) -> _Network:
    _ARCHITECTURES[cls.__name__] = cls
    return cls


@_register
class DigitsCNN(nn.Module):
    """A small CNN for digit images: three conv stages, global average pooling, one linear layer.

    ==========================  ====================  ==========
    layer                       output (28x28 input)  parameters
    ==========================  ====================  ==========
    conv 3x3 + BN + ReLU, w      w x 28 x 28
    conv 3x3 + BN + ReLU, w      w x 28 x 28
    max pool 2                   w x 14 x 14
    conv 3x3 + BN + ReLU, 2w     2w x 14 x 14
    max pool 2                   2w x 7 x 7
    conv 3x3 + BN + ReLU, 4w     4w x 7 x 7
    global average pool          4w
    linear 4w -> classes         num_classes
    ==========================  ====================  ==========

    ``.features`` is the convolutional trunk (the part worth transferring),
    ``.classifier`` the pooling and the linear layer. The global average
    pooling makes the network work on any image size (>= 4 pixels), and
    ``classifier[-1]`` is the one layer to replace for a new set of classes::

        model.classifier[-1] = nn.Linear(model.classifier[-1].in_features, new_classes)

    Shapes: ``(N, in_channels, H, W) -> (N, num_classes)``.

    >>> DigitsCNN(num_classes=5, width=16)(torch.zeros(3, 1, 28, 28)).shape
    torch.Size([3, 5])
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 16) -> None:
        super().__init__()
        from .models import conv_bn_relu

        self.num_classes = check_int("num_classes", num_classes, minimum=1)
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.width = w = check_int("width", width, minimum=1)
        self.features = nn.Sequential(
            conv_bn_relu(self.in_channels, w, 3, padding=1),
            conv_bn_relu(w, w, 3, padding=1),
            nn.MaxPool2d(2),
            conv_bn_relu(w, 2 * w, 3, padding=1),
            nn.MaxPool2d(2),
            conv_bn_relu(2 * w, 4 * w, 3, padding=1),
        )
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, self.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores: ``(N, in_channels, H, W) -> (N, num_classes)``."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a batch of images (N, {self.in_channels}, H, W), got {got}")
        return self.classifier(self.features(x))

    def config(self) -> dict[str, int]:
        """The constructor arguments, to rebuild the same architecture."""
        return {"num_classes": self.num_classes, "in_channels": self.in_channels, "width": self.width}


def available_pretrained() -> list[str]:
    """Names of the weights shipped in ``course/weights``.

    >>> "digits_cnn" in available_pretrained()
    True
    """
    return sorted(path.stem for path in WEIGHTS_DIR.glob("*.pt"))


def _path(name: str) -> Path:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    check_choice("name", name, available_pretrained())
    return WEIGHTS_DIR / f"{name}.pt"


def _load_file(name: str, map_location: str | torch.device) -> dict[str, Any]:
    # weights_only=True: only tensors and plain containers are unpickled, never code.
    return torch.load(_path(name), map_location=map_location, weights_only=True)


def pretrained_info(name: str = "digits_cnn") -> dict[str, Any]:
    """The metadata stored with the weights ``name``: architecture, data, training, accuracy.

    Keys include ``architecture``, ``config`` (constructor arguments),
    ``classes``, ``image_size``, ``train_examples``, ``epochs``, ``seed``,
    ``test_accuracy`` (held-out digits), ``torch_version`` and ``script``.
    """
    return dict(_load_file(name, "cpu")["metadata"])


def load_pretrained(name: str = "digits_cnn", map_location: str | torch.device = "cpu") -> nn.Module:
    """Build the network ``name`` and load its shipped weights; in eval mode.

    Reads ``course/weights/<name>.pt`` from the installed package with
    ``torch.load(weights_only=True)``: no network access. The weights are
    stored as float32 and loaded as such.

    Args:
        name: one of :func:`available_pretrained`.
        map_location: where to put the weights (``"cpu"``, ``"cuda"``, ...), as in ``torch.load``.

    Returns:
        The model (for ``"digits_cnn"`` a :class:`DigitsCNN` with 5 outputs,
        the digits 0-4), in eval mode. Its metadata is ``model.pretrained_info``.
    """
    data = _load_file(name, map_location)
    metadata = data["metadata"]
    model = _ARCHITECTURES[metadata["architecture"]](**metadata["config"])
    model.load_state_dict(data["state_dict"])
    model.to(next(iter(data["state_dict"].values())).device)
    # A plain attribute; nn.Module's annotation of __setattr__ only knows tensors and modules.
    model.pretrained_info = dict(metadata)  # type: ignore[assignment]
    return model.eval()


def save_pretrained(model: nn.Module, name: str, metadata: dict[str, Any],
                    directory: Path | str | None = None) -> Path:
    """Write ``{"state_dict", "metadata"}`` to ``<directory>/<name>.pt`` (used by ``scripts/pretrain_backbone.py``).

    The state dict is saved as float32 on the CPU; ``metadata`` must hold
    plain values (str, int, float, bool, lists and dicts of them) so that
    ``torch.load(weights_only=True)`` can read it back. ``architecture`` and
    ``config`` are filled in from the model.
    """
    config = getattr(model, "config", None)          # the registered networks have one
    if type(model).__name__ not in _ARCHITECTURES or not callable(config):
        raise TypeError(f"model must be one of {', '.join(_ARCHITECTURES)}, got {type(model).__name__}")
    directory = WEIGHTS_DIR if directory is None else Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: (v.detach().float() if v.is_floating_point() else v.detach()).cpu().contiguous()
             for k, v in model.state_dict().items()}
    metadata = {"architecture": type(model).__name__, "config": config(), **metadata}
    path = directory / f"{name}.pt"
    torch.save({"state_dict": state, "metadata": metadata}, path)
    return path
