"""Real photographs that ship inside installed wheels (no download).

=============  ==========================================================  ===========
name           file (inside the installed package)                          size (H, W)
=============  ==========================================================  ===========
china          scikit-learn: ``sklearn/datasets/images/china.jpg``          427 x 640
flower         scikit-learn: ``sklearn/datasets/images/flower.jpg``         427 x 640
grace_hopper   matplotlib: ``matplotlib/mpl-data/sample_data/grace_hopper.jpg``  600 x 512
=============  ==========================================================  ===========

(The two scikit-learn photos are what ``sklearn.datasets.load_sample_image``
returns; the portrait of Grace Hopper is matplotlib's sample image.) The files
are located with ``importlib.util.find_spec``, which finds an installed package
without importing it, and decoded with Pillow (a dependency of matplotlib;
torchvision's own decoders are deprecated since torchvision 0.29).

>>> list_photos()
('china', 'flower', 'grace_hopper')
>>> photo = sample_photo("china")
>>> photo.shape, photo.dtype
(torch.Size([3, 427, 640]), torch.float32)
>>> sample_photo("flower", size=64).shape            # shorter side to 64, centre crop
torch.Size([3, 64, 64])
>>> sample_photo("grace_hopper", size=(48, 32)).shape
torch.Size([3, 48, 32])
"""
from __future__ import annotations

import functools
import importlib.util
import pathlib

import torch

from .._checks import check_choice, check_pair

__all__ = ["PHOTOS", "list_photos", "photo_path", "sample_photo"]

# name -> (package, path of the file inside the package directory)
PHOTOS = {
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}


def list_photos() -> tuple[str, ...]:
    """The names accepted by :func:`sample_photo`."""
    return tuple(PHOTOS)


def photo_path(name: str) -> pathlib.Path:
    """Where the photo ``name`` lives on disk (inside its installed package).

    Raises ``ValueError`` for an unknown name, ``FileNotFoundError`` if the
    package is not installed or no longer ships the file.
    """
    check_choice("name", name, PHOTOS)
    package, relative = PHOTOS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"photo {name!r} ships with the package {package!r}, which is not installed")
    path = pathlib.Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise FileNotFoundError(f"photo {name!r} should be at {path}, but the file is missing "
                                f"(does this version of {package} still ship it?)")
    return path


@functools.lru_cache(maxsize=None)
def _decode(name: str) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    with Image.open(photo_path(name)) as photo:
        pixels = np.asarray(photo.convert("RGB"))             # (H, W, 3) uint8
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)  # (3, H, W) uint8


def sample_photo(name: str, size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """A real photograph as (3, H, W) float32 in [0, 1].

    Args:
        name: one of :func:`list_photos`.
        size: ``None`` keeps the original resolution. An int ``s`` gives a
            square ``(3, s, s)``: the shorter side is resized to ``s`` (bilinear,
            antialiased) and the centre is cropped, so nothing is stretched.
            A pair ``(h, w)`` does the same for an ``h x w`` output: resize just
            enough to cover it, then centre-crop.

    >>> sample_photo("china", size=32).shape
    torch.Size([3, 32, 32])
    """
    check_choice("name", name, PHOTOS)
    image = _decode(name).to(torch.float32) / 255.0
    if size is None:
        return image
    out_h, out_w = check_pair("size", size, minimum=1)
    from torchvision.transforms.v2 import functional as F

    height, width = image.shape[-2:]
    scale = max(out_h / height, out_w / width)                  # cover the output, keep the aspect ratio
    resized = (max(out_h, round(height * scale)), max(out_w, round(width * scale)))
    image = F.resize(image, list(resized), antialias=True)
    image = F.center_crop(image, [out_h, out_w])
    return image.clamp_(0.0, 1.0)
