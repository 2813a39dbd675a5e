"""course: the support library of the CNN architectures and segmentation course.

Submodules are imported on first use, so ``import course`` stays cheap::

    import course
    course.conv.conv_output_size(32, 3, padding=1)   # imports course.conv now

Modules: conv, upsample, receptive, complexity, boxes, detection, metrics,
losses, models, data, train, pretrained, viz, grading, lab.
"""
from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBMODULES = (
    "conv", "upsample", "receptive", "complexity",
    "boxes", "detection", "metrics", "explain", "losses", "models", "data", "train", "pretrained", "viz",
    "grading", "lab",
)

__all__ = list(_SUBMODULES)


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'course' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
