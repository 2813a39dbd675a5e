"""Argument checks shared by the library.

Every public function validates its input with these helpers, so a student who
passes a wrong value gets a message that names the argument, says what was
expected and shows what was given, for example::

    ValueError: kernel_size must be an int >= 1, got 0
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import TypeVar

import torch

T = TypeVar("T")


def check_int(name: str, value: object, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise naming ``name``.

    ``bool`` is rejected even though it is an ``int`` subclass (``stride=True``
    is a bug, not a stride of 1).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return value


def check_float(name: str, value: object, *, minimum: float | None = None, exclusive: bool = False) -> float:
    """Return ``value`` as a float, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        relation = ">" if exclusive else ">="
        raise ValueError(f"{name} must be a number {relation} {minimum}, got {value}")
    return value


def check_pair(name: str, value: object, *, minimum: int | None = None) -> tuple[int, int]:
    """Return an ``(int, int)`` from an int or a pair, as torch's ``_pair`` does."""
    if isinstance(value, (tuple, list, torch.Size)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r} of length {len(value)}")
        return (
            check_int(f"{name}[0]", value[0], minimum=minimum),
            check_int(f"{name}[1]", value[1], minimum=minimum),
        )
    v = check_int(name, value, minimum=minimum)
    return (v, v)


def check_tensor(name: str, value: object, *, ndim: int | tuple[int, ...] | None = None,
                 floating: bool = False, integer: bool = False) -> torch.Tensor:
    """Return ``value`` if it is a tensor of the right rank and kind, else raise naming ``name``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.dim() not in allowed:
            expected = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be a {expected} tensor, got shape {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if integer and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise TypeError(f"{name} must be an integer tensor, got dtype {value.dtype}")
    return value


def check_choice(name: str, value: object, choices: Iterable[T]) -> T:
    """Return the one of ``choices`` that equals ``value``, else raise naming ``name``."""
    options = tuple(choices)
    for choice in options:
        if value == choice:
            return choice
    raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in options)}, got {value!r}")


def check_class_indices(name: str, value: torch.Tensor, num_classes: int,
                        ignore_index: int | None = None) -> torch.Tensor:
    """``value`` must be an integer tensor of classes in ``[0, num_classes)``, or ``ignore_index``."""
    check_tensor(name, value, integer=True)
    bad = (value < 0) | (value >= num_classes)
    if ignore_index is not None:
        bad &= value != ignore_index
    if bad.any():
        allowed = f"[0, {num_classes})"
        if ignore_index is not None:
            allowed += f" or ignore_index={ignore_index}"
        raise ValueError(f"{name} values must be class indices in {allowed}, got {value[bad][0].item()}")
    return value


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool (not 0 / 1, not a string), else raise naming ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def check_boxes(name: str, boxes: object, *, xyxy: bool = False) -> torch.Tensor:
    """Return ``boxes`` if it is an ``(N, 4)`` float tensor, else raise naming ``name``.

    With ``xyxy=True`` also check that every box has ``x1 <= x2`` and ``y1 <= y2``
    and report the first row that does not (a NaN coordinate fails too).
    """
    boxes = check_tensor(name, boxes, ndim=2, floating=True)
    if boxes.shape[1] != 4:
        raise ValueError(f"{name} must be a tensor of shape (N, 4), got shape {tuple(boxes.shape)}")
    if xyxy:
        x1, y1, x2, y2 = boxes.unbind(1)
        bad = ~((x1 <= x2) & (y1 <= y2))
        if bad.any():
            row = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"{name} must be xyxy boxes with x1 <= x2 and y1 <= y2, "
                f"got {name}[{row}] = {boxes[row].tolist()}"
            )
    return boxes
