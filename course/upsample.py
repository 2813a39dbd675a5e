"""Upsampling: unpooling and transposed convolution.

The decoder of a segmentation network (FCN, SegNet, U-Net) grows a small
feature map back to the size of the image:

- ``unpool_nearest``: copy each value into an ``s x s`` block.
- ``unpool_bed_of_nails``: each value in the top-left corner of its block,
  zeros elsewhere.
- ``max_unpool2d``: each value back where max pooling found it (SegNet),
  zeros elsewhere.
- ``conv_transpose2d``: learnable upsampling (implemented in ``course.conv``).

Images are ``(N, C, H, W)`` tensors of any dtype (so label maps and masks
work too). ``scale_factor`` is an int or a pair ``(s_h, s_w)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from course._checks import check_int, check_pair, check_tensor
from course.conv import conv_transpose2d

__all__ = ["unpool_nearest", "unpool_bed_of_nails", "max_unpool2d", "conv_transpose2d"]


def unpool_nearest(x: torch.Tensor, scale_factor: int | Sequence[int] = 2) -> torch.Tensor:
    """Nearest-neighbour upsampling; equals ``F.interpolate(x, scale_factor=s, mode="nearest")``.

    Shapes: ``x`` ``(N, C, H, W)`` -> ``(N, C, s*H, s*W)``, with
    ``out[n, c, i, j] = x[n, c, i // s, j // s]``.

    Example::

        >>> x = torch.tensor([[[[1, 2], [3, 4]]]])
        >>> unpool_nearest(x, 2)
        tensor([[[[1, 1, 2, 2],
                  [1, 1, 2, 2],
                  [3, 3, 4, 4],
                  [3, 3, 4, 4]]]])
    """
    check_tensor("x", x, ndim=4)
    sH, sW = check_pair("scale_factor", scale_factor, minimum=1)
    # Repeat every row s_h times, then every column s_w times.
    return x.repeat_interleave(sH, dim=2).repeat_interleave(sW, dim=3)


def unpool_bed_of_nails(x: torch.Tensor, scale_factor: int | Sequence[int] = 2) -> torch.Tensor:
    """Bed-of-nails unpooling: each value at the top-left of its ``s x s`` block, zeros elsewhere.

    Shapes: ``x`` ``(N, C, H, W)`` -> ``(N, C, s*H, s*W)``, with
    ``out[n, c, s*i, s*j] = x[n, c, i, j]`` and 0 everywhere else.

    Example::

        >>> x = torch.tensor([[[[1, 2], [3, 4]]]])
        >>> unpool_bed_of_nails(x, 2)
        tensor([[[[1, 0, 2, 0],
                  [0, 0, 0, 0],
                  [3, 0, 4, 0],
                  [0, 0, 0, 0]]]])
    """
    check_tensor("x", x, ndim=4)
    sH, sW = check_pair("scale_factor", scale_factor, minimum=1)
    N, C, H, W = x.shape
    out = x.new_zeros(N, C, H * sH, W * sW)
    out[:, :, ::sH, ::sW] = x
    return out


def max_unpool2d(x: torch.Tensor, indices: torch.Tensor, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] | None = None, padding: int | Sequence[int] = 0,
                 output_size: Sequence[int] | None = None) -> torch.Tensor:
    """Max unpooling, the partial inverse of ``max_pool2d``; equals ``F.max_unpool2d``.

    Shapes: ``x`` ``(N, C, H, W)`` (or ``(C, H, W)``), ``indices`` integer,
    same shape (from ``max_pool2d(..., return_indices=True)``) ->
    ``(N, C, H_out, W_out)``. Each value goes back to the position its index
    names in the flattened ``H_out x W_out`` plane of its channel; all other
    positions are 0::

        out.view(N, C, H_out * W_out)[n, c, indices[n, c, i, j]] = x[n, c, i, j]

    By default ``H_out = (H - 1)*stride - 2*padding + kernel_size``, the
    output size of a transposed convolution. Pooling maps several sizes to
    the same one (5x5 and 4x4 both pool to 2x2 with kernel 2), so pass
    ``output_size`` as ``(H_out, W_out)`` or as the full size of the pooled
    input (``(N, C, H_out, W_out)``; only the last two are used, as in torch).
    Like torch, it must lie strictly within ``stride`` of the default.

    Example::

        >>> x = torch.tensor([[[[4., 5.], [6., 0.]]]])
        >>> indices = torch.tensor([[[[5, 7], [13, 10]]]])
        >>> max_unpool2d(x, indices, 2)
        tensor([[[[0., 0., 0., 0.],
                  [0., 4., 0., 5.],
                  [0., 0., 0., 0.],
                  [0., 6., 0., 0.]]]])
    """
    check_tensor("x", x, ndim=(3, 4))
    check_tensor("indices", indices, integer=True)
    if indices.shape != x.shape:
        raise ValueError(
            f"indices must have the shape of x {tuple(x.shape)}, got shape {tuple(indices.shape)}"
        )
    kH, kW = check_pair("kernel_size", kernel_size, minimum=1)
    sH, sW = (kH, kW) if stride is None else check_pair("stride", stride, minimum=1)
    pH, pW = check_pair("padding", padding, minimum=0)

    unbatched = x.dim() == 3
    if unbatched:
        x, indices = x.unsqueeze(0), indices.unsqueeze(0)
    N, C, H, W = x.shape

    # By default, the output size of a transposed convolution with this kernel, stride and padding.
    default_size = ((H - 1) * sH - 2 * pH + kH, (W - 1) * sW - 2 * pW + kW)
    if output_size is None:
        if min(default_size) < 1:
            raise ValueError(
                f"with kernel_size={kernel_size}, stride={stride} and padding={padding} the default "
                f"output size is {default_size}: pass output_size, the size of the pooled input"
            )
        H_out, W_out = default_size
    else:
        H_out, W_out = _check_output_size(output_size, default_size, (sH, sW))

    outside = (indices < 0) | (indices >= H_out * W_out)
    if outside.any():
        raise ValueError(
            f"indices must lie in [0, {H_out * W_out}), the flat positions of the "
            f"{H_out}x{W_out} output, got {indices[outside][0].item()}"
        )

    # Scatter the values into a zero plane per channel at their flat positions.
    out = x.new_zeros(N, C, H_out * W_out)
    out.scatter_(2, indices.reshape(N, C, H * W).long(), x.reshape(N, C, H * W))
    out = out.view(N, C, H_out, W_out)
    return out[0] if unbatched else out


def _check_output_size(output_size: object, default_size: tuple[int, int],
                       stride: tuple[int, int]) -> tuple[int, int]:
    """Return ``(H_out, W_out)`` from ``output_size``, checked as torch does."""
    if not isinstance(output_size, (tuple, list, torch.Size)):
        raise TypeError(
            f"output_size must be a tuple (H, W) or (N, C, H, W), "
            f"got {type(output_size).__name__} {output_size!r}"
        )
    if len(output_size) not in (2, 4):
        raise ValueError(
            f"output_size must be (H, W) or (N, C, H, W), got {tuple(output_size)} "
            f"of length {len(output_size)}"
        )
    last = len(output_size) - 1
    sizes = (check_int(f"output_size[{last - 1}]", output_size[-2], minimum=1),
             check_int(f"output_size[{last}]", output_size[-1], minimum=1))
    for size, default, s in zip(sizes, default_size, stride, strict=True):
        if not default - s < size < default + s:
            raise ValueError(
                f"output_size {tuple(output_size)} does not fit the pooling: each of H, W must "
                f"lie strictly between default - stride and default + stride, here between "
                f"{default - s} and {default + s} (default {default}, stride {s}), got {size}"
            )
    return sizes
