"""Joint augmentation: move the image, its label map, its boxes and masks together.

A random crop or flip that changes the image must change its labels in the
same way, or the network learns from wrong answers. torchvision's
``transforms.v2`` does this when it knows *what* each tensor is, so we wrap
the sample in ``tv_tensors`` before calling the pipeline::

    image (3, H, W) float  -> tv_tensors.Image          interpolated (bilinear)
    mask  (H, W) int64     -> tv_tensors.Mask           nearest, so labels stay labels
    target["masks"] (K, H, W) bool -> tv_tensors.Mask
    target["boxes"] (K, 4) xyxy    -> tv_tensors.BoundingBoxes(format="XYXY", canvas_size=(H, W))
    target["labels"], ints         -> passed through (SanitizeBoundingBoxes filters them)

A plain tensor would not do: v2 treats the first plain tensor as the image and
passes the others through untouched, so the mask would silently *not* flip.

**Reproducible randomness.** v2 draws its random numbers (crop window, flip
or not, angle) from torch's *global* generator. :func:`apply_joint_transform`
runs the pipeline inside ``torch.random.fork_rng()`` after
``torch.manual_seed(seed)``: the augmentation of a sample is fixed by the seed
and the global random state is left as it was. The datasets derive that seed
from ``(dataset seed, index, epoch)``, so item ``i`` of epoch ``e`` always gets
the same crop; call ``dataset.set_epoch(e)`` at the start of each epoch to get
fresh augmentations (with DataLoader workers, keep the default
``persistent_workers=False`` so the workers see the new epoch).

**Boxes after rotation or crop.** v2 moves a box by moving its corners and
taking the box around them, which after a rotation is *larger* than the object,
and after a crop is the clipped old box, not the box of the visible part.
When instance masks are present, :class:`MasksToBoxes` recomputes each box
as the tight box of its transformed mask, and
``SanitizeBoundingBoxes`` then drops instances that the crop cut away (and
their labels and masks with them).

>>> import torch
>>> from course.data import ShapesDataset
>>> aug = segmentation_augmentation(48, scale=(0.5, 1.0))
>>> data = ShapesDataset(8, 64, seed=0, transform=aug)
>>> image, mask = data[0]
>>> image.shape, mask.shape, mask.dtype
(torch.Size([3, 48, 48]), torch.Size([48, 48]), torch.int64)
>>> torch.equal(data[0][1], mask)          # same seed, index and epoch: same crop
True
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

import torch

from .._checks import check_float, check_int, check_pair, check_tensor
from ._scene import derive_seed, tight_boxes

if TYPE_CHECKING:                      # torchvision is imported only when a pipeline is built
    from torchvision.transforms import v2

__all__ = [
    "apply_joint_transform",
    "augmentation_seed",
    "AugmentedDataset",
    "MasksToBoxes",
    "segmentation_augmentation",
    "detection_augmentation",
]

_AUGMENT = 0x417567  # a constant mixed into augmentation seeds so they differ from data seeds


def augmentation_seed(seed: int, index: int, epoch: int = 0) -> int:
    """The seed of the augmentation of item ``index`` in ``epoch`` for a dataset with ``seed``.

    >>> augmentation_seed(0, 5, epoch=1) == augmentation_seed(0, 5, epoch=1)
    True
    >>> augmentation_seed(0, 5, epoch=1) == augmentation_seed(0, 5, epoch=2)
    False
    """
    return derive_seed(seed, index, epoch, _AUGMENT)


def _wrap(image: torch.Tensor, target: Any) -> tuple[torch.Tensor, Any]:
    """Wrap a sample in tv_tensors so v2 knows how to move each part."""
    from torchvision import tv_tensors

    canvas_size = tuple(image.shape[-2:])
    wrapped_image = tv_tensors.Image(image)
    if isinstance(target, dict):
        wrapped = dict(target)
        if "boxes" in wrapped:
            wrapped["boxes"] = tv_tensors.BoundingBoxes(wrapped["boxes"], format="XYXY", canvas_size=canvas_size)
        if "masks" in wrapped:
            wrapped["masks"] = tv_tensors.Mask(wrapped["masks"])
        return wrapped_image, wrapped
    if isinstance(target, torch.Tensor) and target.dim() >= 2:
        return wrapped_image, tv_tensors.Mask(target)
    return wrapped_image, target          # a class label (int or 0-D tensor) passes through


def _unwrap(value: Any) -> Any:
    """tv_tensors back to plain tensors (dicts and tuples are rebuilt)."""
    if isinstance(value, torch.Tensor):
        return value.as_subclass(torch.Tensor)
    if isinstance(value, dict):
        return {key: _unwrap(v) for key, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_unwrap(v) for v in value)
    return value


def apply_joint_transform(transform: Callable[..., Any], image: torch.Tensor, target: Any, *,
                          seed: int | None = None) -> tuple[torch.Tensor, Any]:
    """Apply ``transform`` to ``(image, target)`` jointly; return plain tensors.

    ``image`` is (C, H, W) float32; ``target`` is a label map (H, W) int64, a
    detection dict ``{"boxes", "labels", "masks"}`` or a class label. The
    sample is wrapped in ``tv_tensors`` (see the module docstring), passed as
    ``transform(image, target)``, and unwrapped again. With ``seed`` the call
    runs under ``torch.random.fork_rng()`` + ``torch.manual_seed(seed)``:
    reproducible, and the global random state is unchanged afterwards.

    >>> from torchvision.transforms import v2
    >>> image = torch.zeros(1, 2, 3); image[0, 0, 0] = 1.0
    >>> mask = torch.tensor([[1, 0, 0], [0, 0, 0]])
    >>> flipped_image, flipped_mask = apply_joint_transform(v2.RandomHorizontalFlip(p=1.0), image, mask)
    >>> flipped_mask
    tensor([[0, 0, 1],
            [0, 0, 0]])
    >>> flipped_image[0]
    tensor([[0., 0., 1.],
            [0., 0., 0.]])
    """
    if not callable(transform):
        raise TypeError(f"transform must be callable, got {type(transform).__name__} {transform!r}")
    check_tensor("image", image, ndim=3, floating=True)
    sample = _wrap(image, target)
    if seed is None:
        out = transform(*sample)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = transform(*sample)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"transform must return a pair (image, target), got {type(out).__name__}")
    out_image, out_target = out
    return _unwrap(out_image), _unwrap(out_target)


class MapDataset(Protocol):
    """What :class:`AugmentedDataset` wraps: a map-style dataset, with ``len`` and indexing."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...


class AugmentedDataset(torch.utils.data.Dataset):
    """Wrap a dataset of ``(image, target)`` pairs with a joint, seeded transform.

    Item ``i`` is ``apply_joint_transform(transform, *dataset[i],
    seed=augmentation_seed(seed, i, epoch))``: the same ``(seed, i, epoch)``
    always gives the same augmentation, whatever the worker or the order.

    Args:
        dataset: any map-style dataset whose items are ``(image (C, H, W) float, target)``.
        transform: a callable ``(image, target) -> (image, target)``, for example
            :func:`segmentation_augmentation` or :func:`detection_augmentation`.
        seed: the augmentation seed (independent of the dataset's own seed).

    >>> from course.data import ShapesDataset
    >>> train = AugmentedDataset(ShapesDataset(100, 64), segmentation_augmentation(64), seed=1)
    >>> image, mask = train[3]
    >>> train.set_epoch(1)                   # new crops and flips for the next epoch
    >>> bool((train[3][0] == image).all())
    False
    """

    def __init__(self, dataset: MapDataset, transform: Callable[..., Any], *, seed: int = 0):
        if not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__} {transform!r}")
        self.dataset = dataset
        self.transform = transform
        self.seed = check_int("seed", seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the augmentations of ``epoch`` from now on."""
        self.epoch = check_int("epoch", epoch, minimum=0)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        image, target = self.dataset[index]
        return apply_joint_transform(self.transform, image, target,
                                     seed=augmentation_seed(self.seed, index, self.epoch))


class MasksToBoxes:
    """Recompute ``target["boxes"]`` as the tight boxes of ``target["masks"]``.

    Use after geometric transforms in a detection pipeline: a rotated or
    cropped box is no longer tight around its object, the transformed mask
    is. Boxes use continuous coordinates (``x2 = last column + 1``); an empty
    mask gives a degenerate box that ``SanitizeBoundingBoxes`` removes.
    Samples without masks pass through unchanged.
    """

    def __call__(self, image: Any, target: Any) -> tuple[Any, Any]:
        """Return ``(image, target)`` with ``target["boxes"]`` recomputed from ``target["masks"]``."""
        if not isinstance(target, dict) or "masks" not in target or "boxes" not in target:
            return image, target
        from torchvision import tv_tensors

        masks = target["masks"].as_subclass(torch.Tensor).bool()
        boxes = tight_boxes(masks).to(target["boxes"].dtype)
        target = dict(target)
        target["boxes"] = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=tuple(masks.shape[-2:]))
        return image, target

    def __repr__(self) -> str:
        return "MasksToBoxes()"


def _check_range(name: str, value: object, *, low: float, high: float) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (min, max), got {value!r}")
    a = check_float(f"{name}[0]", value[0])
    b = check_float(f"{name}[1]", value[1])
    if not (low <= a <= b <= high):
        raise ValueError(f"{name} must satisfy {low} <= min <= max <= {high}, got {value!r}")
    return a, b


def _geometric(image_size: int | tuple[int, int], scale: tuple[float, float], ratio: tuple[float, float],
               hflip: float, degrees: float) -> list[Callable[..., Any]]:
    """The geometric steps shared by both pipelines: crop-and-resize, then flip and rotation if asked."""
    from torchvision.transforms import v2

    size = check_pair("image_size", image_size, minimum=1)
    scale = _check_range("scale", scale, low=1e-6, high=1.0)
    ratio = _check_range("ratio", ratio, low=1e-6, high=float("inf"))
    hflip = check_float("hflip", hflip, minimum=0.0)
    if hflip > 1:
        raise ValueError(f"hflip must be a probability in [0, 1], got {hflip}")
    degrees = check_float("degrees", degrees, minimum=0.0)
    steps: list[Callable[..., Any]] = [v2.RandomResizedCrop(size, scale=scale, ratio=ratio, antialias=True)]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(p=hflip))
    if degrees > 0:
        # bilinear for the image; v2 always rotates masks with nearest. New corners are 0.
        steps.append(v2.RandomRotation(degrees, interpolation=v2.InterpolationMode.BILINEAR))
    return steps


def segmentation_augmentation(image_size: int | tuple[int, int], *, scale: tuple[float, float] = (0.5, 1.0),
                              ratio: tuple[float, float] = (3 / 4, 4 / 3), hflip: float = 0.5,
                              degrees: float = 0.0, color_jitter: float = 0.0) -> v2.Compose:
    """A v2 pipeline for (image, label map) pairs: crop-and-resize, flip, rotate, color.

    ``RandomResizedCrop(image_size, scale, ratio)`` (bilinear for the image,
    nearest for the label map), ``RandomHorizontalFlip(hflip)``, then, if
    ``degrees > 0``, ``RandomRotation(degrees)`` (new corners are 0: black
    image, background label) and, if ``color_jitter > 0``,
    ``ColorJitter(brightness=c, contrast=c, saturation=c)``, which only
    touches the image. Output: image (C, *image_size) float32, mask int64
    with the same labels as before.

    >>> aug = segmentation_augmentation(32, degrees=10)
    >>> [type(step).__name__ for step in aug.transforms]
    ['RandomResizedCrop', 'RandomHorizontalFlip', 'RandomRotation']
    """
    from torchvision.transforms import v2

    steps = _geometric(image_size, scale, ratio, hflip, degrees)
    color_jitter = check_float("color_jitter", color_jitter, minimum=0.0)
    if color_jitter > 0:
        steps.append(v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter))
    return v2.Compose(steps)


def detection_augmentation(image_size: int | tuple[int, int], *, scale: tuple[float, float] = (0.5, 1.0),
                           ratio: tuple[float, float] = (3 / 4, 4 / 3), hflip: float = 0.5,
                           degrees: float = 0.0, min_box_size: float = 2.0) -> v2.Compose:
    """A v2 pipeline for (image, {"boxes", "labels", "masks"}) samples.

    The geometric steps of :func:`segmentation_augmentation`, then
    :class:`MasksToBoxes` (tight boxes from the transformed masks) and
    ``SanitizeBoundingBoxes(min_size=min_box_size)``, which drops instances
    whose box became narrower or shorter than ``min_box_size`` pixels
    (cropped away) together with their labels and masks.

    >>> aug = detection_augmentation(48)
    >>> [type(step).__name__ for step in aug.transforms]
    ['RandomResizedCrop', 'RandomHorizontalFlip', 'MasksToBoxes', 'SanitizeBoundingBoxes']
    """
    from torchvision.transforms import v2

    steps = _geometric(image_size, scale, ratio, hflip, degrees)
    min_box_size = check_float("min_box_size", min_box_size, minimum=1.0)
    steps += [MasksToBoxes(), v2.SanitizeBoundingBoxes(min_size=min_box_size)]
    return v2.Compose(steps)
