"""Convolution arithmetic and reference implementations.

Every function here mirrors its ``torch.nn.functional`` counterpart (same
name, same argument order) and is tested against it, so the two can be read
side by side. The code is written to be read, not to be fast:

- ``conv_output_size`` / ``conv_transpose_output_size``: the size formulas.
- ``conv2d``: im2col (``F.unfold``) followed by a matrix multiply.
- ``convolution_matrix``: a whole convolution written as one matrix.
- ``conv_transpose2d``: transposed convolution, computed three ways.
- ``max_pool2d``: the windows from ``F.unfold``, then the max of each.

Images are float tensors ``(N, C, H, W)``. Like torch, ``conv2d``,
``conv_transpose2d`` and ``max_pool2d`` also accept one unbatched image
``(C, H, W)`` and then return an unbatched result. Arguments such as
``stride`` are an int (same for height and width) or a pair ``(h, w)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import torch
import torch.nn.functional as F

from course._checks import check_choice, check_int, check_pair, check_tensor

__all__ = [
    "conv_output_size",
    "conv_transpose_output_size",
    "conv2d",
    "convolution_matrix",
    "conv_transpose2d",
    "max_pool2d",
]

_CONV_TRANSPOSE_METHODS = ("scatter", "matrix", "zero_insertion")


# --------------------------------------------------------------------------
# Output sizes
# --------------------------------------------------------------------------

def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution (or pooling) along one spatial dimension.

    ``floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``

    Read it as: a dilated kernel spans ``dilation*(kernel_size - 1) + 1``
    pixels, and slides over the padded input of ``size + 2*padding`` pixels
    in steps of ``stride``.

    Example::

        >>> conv_output_size(5, 3, stride=2)
        2
        >>> conv_output_size(5, 3, stride=2, padding=1)
        3
        >>> conv_output_size(3, 3, stride=2, padding=1)
        2

    Raises ``ValueError`` when the kernel does not fit into the padded input
    (the result would be < 1).
    """
    size = check_int("size", size, minimum=1)
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    stride = check_int("stride", stride, minimum=1)
    padding = check_int("padding", padding, minimum=0)
    dilation = check_int("dilation", dilation, minimum=1)

    span = dilation * (kernel_size - 1) + 1
    padded = size + 2 * padding
    if span > padded:
        raise ValueError(
            f"kernel_size={kernel_size} with dilation={dilation} spans {span} pixels, "
            f"but the padded input is only {padded} (size={size}, padding={padding})"
        )
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one spatial dimension.

    ``(size - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1``

    A strided convolution maps several input sizes to the same output size
    (with kernel 3 and stride 2, both 5 and 6 give 3). ``output_padding``
    (smaller than ``stride`` or ``dilation``, as PyTorch requires) picks the
    larger ones; with 0 the transposed convolution returns the smallest.

    Example::

        >>> conv_transpose_output_size(2, 3, stride=2)      # the 2x2 -> 5x5 figure
        5
        >>> conv_transpose_output_size(3, 3, stride=2, padding=1, output_padding=1)
        6

    Raises ``ValueError`` when ``output_padding >= max(stride, dilation)`` or
    the result would be < 1.
    """
    size = check_int("size", size, minimum=1)
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    stride = check_int("stride", stride, minimum=1)
    padding = check_int("padding", padding, minimum=0)
    output_padding = check_int("output_padding", output_padding, minimum=0)
    dilation = check_int("dilation", dilation, minimum=1)

    if output_padding >= max(stride, dilation):
        raise ValueError(
            f"output_padding must be smaller than stride or dilation "
            f"(stride={stride}, dilation={dilation}), got output_padding={output_padding}"
        )
    result = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if result < 1:
        uncropped = result + 2 * padding
        raise ValueError(
            f"padding={padding} crops 2*{padding} pixels from an output of only {uncropped} "
            f"(size={size}, kernel_size={kernel_size}, stride={stride}, dilation={dilation}), "
            f"leaving {result}"
        )
    return result


# --------------------------------------------------------------------------
# Private helpers: argument checks shared by the functions below
# --------------------------------------------------------------------------

def _as_batch(name: str, x: object) -> tuple[torch.Tensor, bool]:
    """Check ``x`` is a float ``(N, C, H, W)`` batch or one ``(C, H, W)`` image.

    Returns the batch and whether a batch dimension was added (to remove it
    from the result again).
    """
    x = check_tensor(name, x, ndim=(3, 4), floating=True)
    if x.dim() == 3:
        return x.unsqueeze(0), True
    return x, False


def _check_weight(weight: object, x: torch.Tensor) -> torch.Tensor:
    """Check ``weight`` is a 4-D tensor of the same dtype as ``x``."""
    weight = check_tensor("weight", weight, ndim=4, floating=True)
    if weight.dtype != x.dtype:
        raise TypeError(f"weight must have the dtype of x ({x.dtype}), got {weight.dtype}")
    return weight


def _check_bias(bias: object, out_channels: int, x: torch.Tensor) -> None:
    """Check ``bias`` is None or a ``(out_channels,)`` tensor of the dtype of ``x``."""
    if bias is None:
        return
    bias = check_tensor("bias", bias, ndim=1, floating=True)
    if bias.shape[0] != out_channels:
        raise ValueError(
            f"bias must have shape ({out_channels},), one value per output channel, "
            f"got shape {tuple(bias.shape)}"
        )
    if bias.dtype != x.dtype:
        raise TypeError(f"bias must have the dtype of x ({x.dtype}), got {bias.dtype}")


def _output_hw(name: str, hw: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
               padding: Sequence[int], dilation: Sequence[int]) -> tuple[int, int]:
    """``conv_output_size`` for height and width; the error names the input ``name``."""
    try:
        return (conv_output_size(hw[0], kernel[0], stride[0], padding[0], dilation[0]),
                conv_output_size(hw[1], kernel[1], stride[1], padding[1], dilation[1]))
    except ValueError as error:
        raise ValueError(f"{name} of spatial size {tuple(hw)} is too small: {error}") from None


def _conv_arguments(x: object, weight: object, stride: int | Sequence[int], padding: int | Sequence[int],
                    dilation: int | Sequence[int]
                    ) -> tuple[torch.Tensor, bool, torch.Tensor, tuple[int, int], tuple[int, int], tuple[int, int]]:
    """The checks ``conv2d`` and ``conv_transpose2d`` share.

    Returns ``x`` as a batch, whether it was one image, ``weight``, and
    ``stride``, ``padding`` and ``dilation`` as ``(h, w)`` pairs.
    """
    x, unbatched = _as_batch("x", x)
    weight = _check_weight(weight, x)
    return (x, unbatched, weight, check_pair("stride", stride, minimum=1),
            check_pair("padding", padding, minimum=0), check_pair("dilation", dilation, minimum=1))


# --------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------

def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
           dilation: int | Sequence[int] = 1, groups: int = 1) -> torch.Tensor:
    """2-D convolution written as im2col + matrix multiply; equals ``F.conv2d``.

    Shapes: ``x`` ``(N, C_in, H, W)`` (or ``(C_in, H, W)``), ``weight``
    ``(C_out, C_in // groups, kH, kW)``, ``bias`` ``(C_out,)`` or None
    -> ``(N, C_out, H_out, W_out)`` with
    ``H_out = conv_output_size(H, kH, stride, padding, dilation)``.

    Like every deep-learning library, this is a cross-correlation (the kernel
    is not flipped)::

        out[n, o, i, j] = bias[o] + sum_{c, a, b} weight[o, c, a, b]
                          * x_padded[n, g*C_in/groups + c, i*stride + a*dilation, j*stride + b*dilation]

    where ``g = o // (C_out/groups)`` is the group of output channel ``o``
    (always 0 when ``groups=1``): each group of kernels only sees its group
    of input channels. Three steps:

    1. im2col: ``F.unfold`` copies every (padded, strided, dilated) window of
       ``x`` into a column: ``(N, C_in*kH*kW, H_out*W_out)``.
    2. Matrix multiply: each row of the reshaped weight is one kernel, and
       each column one window; with groups, one multiply per group.
    3. Reshape the columns back into an image and add the bias.

    Example::

        >>> x = torch.randn(1, 3, 32, 32)
        >>> w = torch.randn(8, 3, 3, 3)
        >>> conv2d(x, w, padding=1).shape
        torch.Size([1, 8, 32, 32])
        >>> conv2d(x, w, stride=2).shape
        torch.Size([1, 8, 15, 15])
    """
    x, unbatched, weight, stride, padding, dilation = _conv_arguments(x, weight, stride, padding, dilation)
    groups = check_int("groups", groups, minimum=1)

    N, C_in, H, W = x.shape
    C_out, C_in_per_group, kH, kW = weight.shape
    if C_in != C_in_per_group * groups:
        raise ValueError(
            f"x has {C_in} channels, but weight of shape {tuple(weight.shape)} with groups={groups} "
            f"expects weight.shape[1] * groups = {C_in_per_group} * {groups} = {C_in_per_group * groups}"
        )
    if C_out % groups != 0:
        raise ValueError(
            f"weight.shape[0] (output channels) = {C_out} must be divisible by groups, got groups={groups}"
        )
    _check_bias(bias, C_out, x)
    H_out, W_out = _output_hw("x", (H, W), (kH, kW), stride, padding, dilation)

    # 1. im2col: one column of C_in*kH*kW values per output pixel.
    columns = F.unfold(x, (kH, kW), dilation=dilation, padding=padding, stride=stride)
    # The channels of a group are consecutive, so the column splits into groups.
    K = C_in_per_group * kH * kW
    columns = columns.view(N, groups, K, H_out * W_out)

    # 2. One row per kernel; (groups, C_out/groups, K) @ (N, groups, K, L)
    #    -> (N, groups, C_out/groups, L), a matrix multiply per group.
    kernels = weight.reshape(groups, C_out // groups, K)
    out = kernels @ columns

    # 3. Back to an image.
    out = out.reshape(N, C_out, H_out, W_out)
    if bias is not None:
        out = out + bias.view(1, C_out, 1, 1)
    return out[0] if unbatched else out


def convolution_matrix(weight: torch.Tensor, input_size: int | Sequence[int], stride: int | Sequence[int] = 1,
                       padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1) -> torch.Tensor:
    """The convolution as one dense matrix ``M``.

    Shapes: ``weight`` ``(C_out, C_in, kH, kW)``, ``input_size`` ``(H, W)``
    -> ``M`` ``(C_out*H_out*W_out, C_in*H*W)`` with::

        conv2d(x, weight, stride=stride, padding=padding, dilation=dilation).flatten(1)
            == x.flatten(1) @ M.T

    Row ``(o, i, j)`` of ``M`` computes output pixel ``(i, j)`` of channel
    ``o``: kernel entry ``weight[o, c, a, b]`` sits in the column of input
    pixel ``(c, i*stride - padding + a*dilation, j*stride - padding + b*dilation)``,
    zeros elsewhere. Entries that fall on padding multiply a zero and are
    left out.

    Example: a 3x3 kernel on a 4x4 input gives a 4x16 matrix; row 0 is
    ``w00 w01 w02 0 w10 w11 w12 0 w20 w21 w22 0 0 0 0 0``, and rows 1, 2, 3
    are the same row shifted right by 1, 4 and 5 columns::

        >>> w = torch.arange(1., 10.).view(1, 1, 3, 3)
        >>> M = convolution_matrix(w, (4, 4))
        >>> M.shape
        torch.Size([4, 16])
        >>> M[0]
        tensor([1., 2., 3., 0., 4., 5., 6., 0., 7., 8., 9., 0., 0., 0., 0., 0.])

    ``M`` has ``C_out*C_in*(H_out*W_out)*(H*W)`` entries: small inputs only.
    """
    check_tensor("weight", weight, ndim=4, floating=True)
    H, W = check_pair("input_size", input_size, minimum=1)
    sH, sW = check_pair("stride", stride, minimum=1)
    pH, pW = check_pair("padding", padding, minimum=0)
    dH, dW = check_pair("dilation", dilation, minimum=1)

    C_out, C_in, kH, kW = weight.shape
    H_out, W_out = _output_hw("input_size", (H, W), (kH, kW), (sH, sW), (pH, pW), (dH, dW))

    # M[o, i, j, c, row, col]: the weight that input pixel (c, row, col) gets in output (o, i, j).
    M = weight.new_zeros(C_out, H_out, W_out, C_in, H, W)
    for i in range(H_out):
        for j in range(W_out):
            for a in range(kH):
                for b in range(kW):
                    row = i * sH - pH + a * dH
                    col = j * sW - pW + b * dW
                    if 0 <= row < H and 0 <= col < W:  # otherwise the entry is on padding
                        M[:, i, j, :, row, col] = weight[:, :, a, b]
    return M.reshape(C_out * H_out * W_out, C_in * H * W)


# --------------------------------------------------------------------------
# Transposed convolution
# --------------------------------------------------------------------------

def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                     output_padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                     method: str = "scatter") -> torch.Tensor:
    """Transposed convolution (learnable upsampling); equals ``F.conv_transpose2d`` (groups=1).

    Shapes: ``x`` ``(N, C_in, H, W)`` (or ``(C_in, H, W)``), ``weight``
    ``(C_in, C_out, kH, kW)`` (input channels first, as in torch), ``bias``
    ``(C_out,)`` or None -> ``(N, C_out, H_out, W_out)`` with
    ``H_out = (H - 1)*stride - 2*padding + dilation*(kH - 1) + output_padding + 1``
    (``conv_transpose_output_size``).

    It is the transpose (in the sense of matrices) of ``conv2d`` with the
    same weight, stride, padding and dilation, which maps ``H_out`` back to
    ``H``. Three ways to compute it, all equal (``method=``):

    - ``"scatter"``: every input pixel ``x[:, :, i, j]`` scales the kernel
      and adds it ("stamps" it) into the output with its top-left corner at
      ``(i*stride - padding, j*stride - padding)``; overlapping stamps add up.
    - ``"matrix"``: ``x.flatten(1) @ M`` with ``M = convolution_matrix`` of the
      forward convolution (the transposed convolution multiplies by ``M``, the
      convolution by ``M.T``).
    - ``"zero_insertion"``: insert ``stride - 1`` zeros between input pixels,
      zero-pad ``dilation*(k - 1) - padding`` on each side (plus
      ``output_padding`` at the bottom and right; a negative amount crops),
      then an ordinary stride-1 convolution with the kernel flipped and its
      in/out channels swapped.

    Example, 2x2 -> 5x5 with a 3x3 kernel of ones and stride 2 (the
    overlapping stamps add up in row and column 2)::

        >>> x = torch.tensor([[[[1., 2.], [3., 4.]]]])
        >>> conv_transpose2d(x, torch.ones(1, 1, 3, 3), stride=2)
        tensor([[[[ 1.,  1.,  3.,  2.,  2.],
                  [ 1.,  1.,  3.,  2.,  2.],
                  [ 4.,  4., 10.,  6.,  6.],
                  [ 3.,  3.,  7.,  4.,  4.],
                  [ 3.,  3.,  7.,  4.,  4.]]]])
    """
    x, unbatched, weight, stride, padding, dilation = _conv_arguments(x, weight, stride, padding, dilation)
    output_padding = check_pair("output_padding", output_padding, minimum=0)
    check_choice("method", method, _CONV_TRANSPOSE_METHODS)

    N, C_in, H, W = x.shape
    if weight.shape[0] != C_in:
        raise ValueError(
            f"x has {C_in} channels, but weight of shape {tuple(weight.shape)} "
            f"(C_in, C_out, kH, kW) expects weight.shape[0] = {weight.shape[0]}"
        )
    C_out, kH, kW = weight.shape[1:]
    _check_bias(bias, C_out, x)
    out_hw = (
        conv_transpose_output_size(H, kH, stride[0], padding[0], output_padding[0], dilation[0]),
        conv_transpose_output_size(W, kW, stride[1], padding[1], output_padding[1], dilation[1]),
    )

    if method == "scatter":
        out = _conv_transpose_scatter(x, weight, stride, padding, dilation, out_hw)
    elif method == "matrix":
        out = _conv_transpose_matrix(x, weight, stride, padding, dilation, out_hw)
    else:
        out = _conv_transpose_zero_insertion(x, weight, stride, padding, output_padding, dilation)

    if bias is not None:
        out = out + bias.view(1, C_out, 1, 1)
    return out[0] if unbatched else out


def _conv_transpose_scatter(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                            padding: tuple[int, int], dilation: tuple[int, int],
                            out_hw: tuple[int, int]) -> torch.Tensor:
    """Every input pixel stamps the kernel, scaled by its value, into the output."""
    N, C_in, H, W = x.shape
    C_out, kH, kW = weight.shape[1:]
    (sH, sW), (pH, pW), (dH, dW) = stride, padding, dilation
    H_out, W_out = out_hw

    # The output before `padding` is cropped from each side. (With
    # output_padding its last rows/columns receive no stamp and stay 0.)
    full = x.new_zeros(N, C_out, H_out + 2 * pH, W_out + 2 * pW)
    for i in range(H):
        for j in range(W):
            # x[:, :, i, j] (N, C_in) times weight (C_in, C_out, kH, kW),
            # summed over C_in: one stamp (N, C_out, kH, kW) per image.
            stamp = torch.einsum("nc,cokl->nokl", x[:, :, i, j], weight)
            # Its top-left corner goes to (i*stride, j*stride); kernel taps are `dilation` apart.
            top, left = i * sH, j * sW
            full[:, :, top:top + dH * (kH - 1) + 1:dH, left:left + dW * (kW - 1) + 1:dW] += stamp
    return full[:, :, pH:pH + H_out, pW:pW + W_out]


def _conv_transpose_matrix(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                           padding: tuple[int, int], dilation: tuple[int, int],
                           out_hw: tuple[int, int]) -> torch.Tensor:
    """Multiply by the convolution matrix of the forward convolution (not by its transpose)."""
    N, C_in, H, W = x.shape
    C_out, kH, kW = weight.shape[1:]
    H_out, W_out = out_hw

    # The forward convolution goes the other way, (C_out, H_out, W_out) -> (C_in, H, W),
    # and `weight` (C_in, C_out, kH, kW) is exactly its (out, in, kH, kW) weight.
    M = convolution_matrix(weight, (H_out, W_out), stride, padding, dilation)

    # When output_padding >= stride (allowed if dilation > stride), the forward
    # convolution of an H_out-sized input has more than H outputs: keep the
    # rows of the first H x W of them.
    H_forward = conv_output_size(H_out, kH, stride[0], padding[0], dilation[0])
    W_forward = conv_output_size(W_out, kW, stride[1], padding[1], dilation[1])
    M = M.view(C_in, H_forward, W_forward, C_out * H_out * W_out)[:, :H, :W]
    M = M.reshape(C_in * H * W, C_out * H_out * W_out)

    out = x.reshape(N, C_in * H * W) @ M
    return out.view(N, C_out, H_out, W_out)


def _conv_transpose_zero_insertion(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                                   padding: tuple[int, int], output_padding: tuple[int, int],
                                   dilation: tuple[int, int]) -> torch.Tensor:
    """Insert zeros, pad, and convolve with the flipped kernel."""
    N, C_in, H, W = x.shape
    C_out, kH, kW = weight.shape[1:]
    (sH, sW), (pH, pW), (opH, opW), (dH, dW) = stride, padding, output_padding, dilation

    # 1. stride - 1 zeros between neighbouring input pixels.
    spread = x.new_zeros(N, C_in, (H - 1) * sH + 1, (W - 1) * sW + 1)
    spread[:, :, ::sH, ::sW] = x

    # 2. dilation*(k - 1) - padding zeros on each side, output_padding more at
    #    the bottom and right. F.pad takes (left, right, top, bottom) and crops
    #    where an amount is negative (padding larger than dilation*(k - 1)).
    qH = dH * (kH - 1) - pH
    qW = dW * (kW - 1) - pW
    spread = F.pad(spread, (qW, qW + opW, qH, qH + opH))

    # 3. A plain convolution with the kernel flipped in space and the channel
    #    axes swapped to (C_out, C_in, kH, kW).
    flipped = weight.flip(2, 3).transpose(0, 1)
    return conv2d(spread, flipped, dilation=dilation)


# --------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------
# The overloads only tell a type checker that return_indices=True gives a pair.

@overload
def max_pool2d(x: torch.Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = ...,
               padding: int | Sequence[int] = ..., return_indices: Literal[False] = ...) -> torch.Tensor: ...


@overload
def max_pool2d(x: torch.Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = ...,
               padding: int | Sequence[int] = ..., *, return_indices: Literal[True]
               ) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def max_pool2d(x: torch.Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None,
               padding: int | Sequence[int], return_indices: Literal[True]) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def max_pool2d(x: torch.Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = ...,
               padding: int | Sequence[int] = ..., return_indices: bool = ...
               ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...


def max_pool2d(x: torch.Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, return_indices: bool = False
               ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Max pooling; equals ``F.max_pool2d``, indices included.

    Shapes: ``x`` float ``(N, C, H, W)`` (or ``(C, H, W)``) -> values
    ``(N, C, H_out, W_out)`` with ``H_out = conv_output_size(H, kH, stride, padding)``;
    ``stride`` defaults to ``kernel_size`` (non-overlapping windows).

    ``out[n, c, i, j] = max_{a, b} x_padded[n, c, i*stride + a, j*stride + b]``

    With ``return_indices=True`` also returns int64 indices of the same shape:
    where each maximum came from, as ``row * W + col`` in the flattened
    ``H x W`` plane of its channel (what ``max_unpool2d`` needs).

    Padding is ``-inf``, so it is never the maximum; torch allows at most
    half a kernel of it. Of equal maxima, the first in the window (row by
    row) wins, as in torch. (One difference: in a window with several NaNs
    the value is NaN as in torch, but torch reports the last NaN's index,
    this function the first's.)

    Example (the bottom-right window is all zeros: the first one wins)::

        >>> x = torch.tensor([[[[1., 2., 0., 0.],
        ...                     [3., 4., 0., 5.],
        ...                     [0., 0., 0., 0.],
        ...                     [0., 6., 0., 0.]]]])
        >>> values, indices = max_pool2d(x, 2, return_indices=True)
        >>> values
        tensor([[[[4., 5.],
                  [6., 0.]]]])
        >>> indices
        tensor([[[[ 5,  7],
                  [13, 10]]]])
    """
    x, unbatched = _as_batch("x", x)
    kH, kW = check_pair("kernel_size", kernel_size, minimum=1)
    sH, sW = (kH, kW) if stride is None else check_pair("stride", stride, minimum=1)
    pH, pW = check_pair("padding", padding, minimum=0)
    if 2 * pH > kH or 2 * pW > kW:
        raise ValueError(
            f"padding must be at most half of kernel_size, got padding={padding} "
            f"with kernel_size={kernel_size}"
        )
    if not isinstance(return_indices, bool):
        raise TypeError(
            f"return_indices must be a bool, got {type(return_indices).__name__} {return_indices!r}"
        )

    N, C, H, W = x.shape
    H_out, W_out = _output_hw("x", (H, W), (kH, kW), (sH, sW), (pH, pW), (1, 1))

    # 1. Pad with -inf: a padded position is never larger than a real one.
    padded = F.pad(x, (pW, pW, pH, pH), value=float("-inf"))
    # 2. Every window as a column of kH*kW values: (N, C, kH*kW, H_out*W_out).
    windows = F.unfold(padded, (kH, kW), stride=(sH, sW)).view(N, C, kH * kW, H_out * W_out)
    # 3. The maximum of each window and its position k in the window
    #    (torch.max returns the first of equal maxima).
    values, k = windows.max(dim=2)
    values = values.view(N, C, H_out, W_out)
    if not return_indices:
        return values[0] if unbatched else values

    # 4. Window (i, j) starts at (i*stride - padding, j*stride - padding);
    #    position k in it is kernel offset (k // kW, k % kW).
    k = k.view(N, C, H_out, W_out)
    i = torch.arange(H_out, device=x.device).view(H_out, 1)
    j = torch.arange(W_out, device=x.device).view(1, W_out)
    rows = i * sH - pH + k // kW
    cols = j * sW - pW + k % kW
    # Only if every real value of a window is -inf can the -inf padding tie
    # and win (at k = 0); clamping moves it to the window's first real pixel,
    # which is what torch reports. Otherwise the clamp changes nothing.
    rows = rows.clamp(0, H - 1)
    cols = cols.clamp(0, W - 1)
    indices = rows * W + cols
    if unbatched:
        return values[0], indices[0]
    return values, indices
