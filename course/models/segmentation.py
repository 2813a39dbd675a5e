"""Semantic segmentation networks: FCN, SegNet and U-Net.

All three map an image ``(N, in_channels, H, W)`` to class scores
``(N, num_classes, H, W)`` (logits: apply ``softmax`` over dim 1 for
probabilities, ``argmax`` for a label map), for any ``H, W >= 1``. They
differ in how the decoder recovers the resolution the encoder gave away:

* :class:`FCN` (Long et al., 2015): a VGG-16 whose fully connected layers
  became convolutions scores every 32x32 cell; learned (transposed
  convolution) upsampling brings the scores back, helped by skip
  connections that *add* scores computed from the finer pool4 and pool3 maps.
* :class:`SegNet` (Badrinarayanan et al., 2017): a mirrored decoder that
  *unpools* with the max-pooling indices remembered by the encoder (no
  learned upsampling), then convolves.
* :class:`UNet` (Ronneberger et al., 2015): a symmetric encoder-decoder whose
  skip connections *concatenate* the encoder's feature maps to the decoder's.

Sizes that are not multiples of the network's total stride: FCN and U-Net
zero-pad the image at the bottom and right to the next multiple, and crop the
output back (padding only at the far sides keeps pixels aligned); SegNet pools
with ``ceil_mode=True`` (as Caffe did) and unpools to the exact size it
remembered (``output_size``), so it needs no padding.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from course._checks import check_bool, check_choice, check_float, check_int
from course.models.blocks import conv_bn_relu, scaled_channels

__all__ = ["bilinear_kernel", "FCN", "SegNet", "UNet", "VGG16_CONFIG"]

#: VGG-16 (configuration D): convolution channels, ``"M"`` for a 2x2 max pool.
VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the bottom and right of ``x`` so ``H`` and ``W`` are multiples of ``multiple``."""
    pad_h = -x.shape[-2] % multiple
    pad_w = -x.shape[-1] % multiple
    return F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x


def _check_image(x: object, in_channels: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(f"x must have shape (N, {in_channels}, H, W), got {tuple(x.shape)}")
    return x


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Weight ``(channels, channels, k, k)`` that makes a transposed convolution upsample bilinearly.

    Channel ``c`` is upsampled on its own (zero weights between channels)
    with the tent kernel ``(1 - |i - centre| / f) * (1 - |j - centre| / f)``,
    ``f = ceil(k / 2)``, as in the FCN paper's code. With ``k = 2s``,
    ``stride = s`` and ``padding = s // 2`` (``s`` even), the transposed
    convolution equals ``F.interpolate(x, scale_factor=s, mode="bilinear")``
    away from the borders; being weights, it can then be trained further.

    >>> bilinear_kernel(1, 4)[0, 0]
    tensor([[0.0625, 0.1875, 0.1875, 0.0625],
            [0.1875, 0.5625, 0.5625, 0.1875],
            [0.1875, 0.5625, 0.5625, 0.1875],
            [0.0625, 0.1875, 0.1875, 0.0625]])
    """
    channels = check_int("channels", channels, minimum=1)
    k = check_int("kernel_size", kernel_size, minimum=1)
    factor = (k + 1) // 2
    centre = factor - 1 if k % 2 == 1 else factor - 0.5
    tent = 1 - (torch.arange(k, dtype=torch.float32) - centre).abs() / factor
    weight = torch.zeros(channels, channels, k, k)
    weight[range(channels), range(channels)] = tent[:, None] * tent[None, :]
    return weight


def _upsampler(num_classes: int, factor: int) -> nn.ConvTranspose2d:
    """Transposed convolution ``x factor`` exactly (kernel 2f, stride f, padding f/2), bilinear start."""
    up = nn.ConvTranspose2d(num_classes, num_classes, 2 * factor, stride=factor, padding=factor // 2, bias=False)
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(num_classes, 2 * factor))
    return up


class FCN(nn.Module):
    """Fully convolutional network on a VGG-16 backbone: FCN-32s, FCN-16s or FCN-8s.

    ``.features`` is VGG-16's convolutional trunk, layer for layer (indices
    and shapes of ``torchvision.models.vgg16().features``, so its weights load
    into it); ``.classifier`` holds VGG's fc6 and fc7 *convolutionalised*: a
    7x7 convolution (padding 3) and a 1x1 convolution, each with ReLU and
    dropout. ``score_fr`` (1x1) turns them into ``num_classes`` scores at
    stride 32. Then::

        "32s": upsample the scores x32                                    (upscore)
        "16s": x2 (upscore2), + score_pool4(pool4), then x16             (upscore16)
        "8s":  as 16s to stride 16, x2 (upscore_pool4), + score_pool3(pool3), x8  (upscore8)

    Each upsampler is a ``ConvTranspose2d`` (kernel 2f, stride f, padding
    f/2: exactly ``x f``) initialised to bilinear interpolation
    (:func:`bilinear_kernel`) and trained with the rest, as in the paper. The
    skip scorers ``score_pool4``/``score_pool3`` start at zero (the paper's
    choice: a finer net starts from the coarser net's predictions).

    ``width`` scales every channel count (64 ... 512 and fc's 4096) to
    ``round(width * c)``: ``width=1/16`` gives a net small enough to train
    on 64x64 images on a CPU. Any input size works: the image is zero-padded at the
    bottom/right to a multiple of 32 and the scores are cropped back.
    (Long et al. padded conv1 by 100 pixels and cropped; padding every
    convolution instead is the common modern form.)

    ``batch_norm=True`` puts a ``BatchNorm2d`` after every convolution of the
    trunk, the layout of ``torchvision.models.vgg16_bn().features``. Long et
    al. started from ImageNet weights; trained from scratch, a narrow VGG
    trunk without batch norm learns very slowly, with it in a few epochs.

    Shapes: ``(N, in_channels, H, W) -> (N, num_classes, H, W)``.

    >>> net = FCN(num_classes=5, variant="8s", width=1/8)
    >>> net(torch.zeros(2, 3, 50, 70)).shape
    torch.Size([2, 5, 50, 70])
    >>> bn = FCN(num_classes=5, variant="8s", width=1/8, batch_norm=True)
    >>> sum(isinstance(m, nn.BatchNorm2d) for m in bn.features), bn(torch.zeros(2, 3, 50, 70)).shape
    (13, torch.Size([2, 5, 50, 70]))
    """

    def __init__(self, num_classes: int, variant: str = "8s", in_channels: int = 3, width: float = 1.0,
                 dropout: float = 0.5, batch_norm: bool = False) -> None:
        super().__init__()
        num_classes = check_int("num_classes", num_classes, minimum=1)
        self.variant = check_choice("variant", variant, ("32s", "16s", "8s"))
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        width = check_float("width", width, minimum=0.0, exclusive=True)
        dropout = check_float("dropout", dropout, minimum=0.0)
        if dropout >= 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout}")
        check_bool("batch_norm", batch_norm)

        def c(channels: int) -> int:
            return scaled_channels("width", width, channels)

        layers: list[nn.Module] = []
        channels = self.in_channels
        for v in VGG16_CONFIG:
            if isinstance(v, str):          # "M": a 2x2 max pool
                layers.append(nn.MaxPool2d(2, stride=2))
            else:
                norm: list[nn.Module] = [nn.BatchNorm2d(c(v))] if batch_norm else []
                layers += [nn.Conv2d(channels, c(v), 3, padding=1), *norm, nn.ReLU(inplace=True)]
                channels = c(v)
        self.features = nn.Sequential(*layers)
        # where .features is cut: just after pool3 (stride 8) and pool4 (stride 16)
        pools = [i for i, layer in enumerate(layers) if isinstance(layer, nn.MaxPool2d)]
        self._pool3_end, self._pool4_end = pools[2] + 1, pools[3] + 1
        self.classifier = nn.Sequential(   # fc6 and fc7 as convolutions
            nn.Conv2d(c(512), c(4096), 7, padding=3), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Conv2d(c(4096), c(4096), 1), nn.ReLU(inplace=True), nn.Dropout(dropout),
        )
        self.score_fr = nn.Conv2d(c(4096), num_classes, 1)
        if self.variant == "32s":
            self.upscore = _upsampler(num_classes, 32)
        else:
            self.score_pool4 = nn.Conv2d(c(512), num_classes, 1)
            self.upscore2 = _upsampler(num_classes, 2)
        if self.variant == "16s":
            self.upscore16 = _upsampler(num_classes, 16)
        if self.variant == "8s":
            self.score_pool3 = nn.Conv2d(c(256), num_classes, 1)
            self.upscore_pool4 = _upsampler(num_classes, 2)
            self.upscore8 = _upsampler(num_classes, 8)

        for m in [*self.features, *self.classifier]:   # torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for name in ("score_pool4", "score_pool3"):
            if hasattr(self, name):
                nn.init.zeros_(getattr(self, name).weight)
                nn.init.zeros_(getattr(self, name).bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class scores: ``(N, in_channels, H, W) -> (N, num_classes, H, W)``."""
        height, width = _check_image(x, self.in_channels).shape[-2:]
        x = _pad_to_multiple(x, 32)
        pool3 = self.features[:self._pool3_end](x)                        # stride 8
        pool4 = self.features[self._pool3_end:self._pool4_end](pool3)     # stride 16
        pool5 = self.features[self._pool4_end:](pool4)                    # stride 32
        score = self.score_fr(self.classifier(pool5))                     # stride 32
        if self.variant == "32s":
            score = self.upscore(score)
        else:
            score = self.upscore2(score) + self.score_pool4(pool4)             # stride 16
            if self.variant == "16s":
                score = self.upscore16(score)
            else:
                score = self.upscore_pool4(score) + self.score_pool3(pool3)    # stride 8
                score = self.upscore8(score)
        return score[..., :height, :width]


class SegNet(nn.Module):
    """SegNet: a VGG-16 encoder and a mirrored decoder that unpools with the encoder's pooling indices.

    Encoder: five stages of conv-BN-ReLU (3x3, padding 1; 2, 2, 3, 3, 3
    convolutions with ``b, 2b, 4b, 8b, 8b`` channels, ``b = base_channels``),
    each followed by 2x2 max pooling that also returns *where* each maximum
    was (``return_indices=True``). Decoder: five stages in reverse order, each
    starting with ``MaxUnpool2d``, which puts every value back at its
    remembered position (zeros elsewhere: a sparse map) to the remembered size
    (``output_size``), then conv-BN-ReLU layers that densify it; the last stage
    ends with ``classifier``, a 3x3 convolution to ``num_classes`` scores.
    No upsampling is learned and no feature maps are stored: only indices.

    Pooling uses ``ceil_mode=True``, so odd sizes keep their last row and
    column and every size ``>= 1`` works. ``base_channels=64`` is the paper's
    network (about 29.4 M parameters); 8 trains quickly on small images.

    Shapes: ``(N, in_channels, H, W) -> (N, num_classes, H, W)``.

    >>> SegNet(num_classes=3, base_channels=4)(torch.zeros(1, 3, 45, 61)).shape
    torch.Size([1, 3, 45, 61])
    """

    def __init__(self, num_classes: int, in_channels: int = 3, base_channels: int = 64) -> None:
        super().__init__()
        num_classes = check_int("num_classes", num_classes, minimum=1)
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        b = check_int("base_channels", base_channels, minimum=1)
        widths = [b, 2 * b, 4 * b, 8 * b, 8 * b]
        depths = [2, 2, 3, 3, 3]

        def stage(channels: list[int]) -> nn.Sequential:
            """conv-BN-ReLU layers through ``channels[0] -> channels[1] -> ...``."""
            return nn.Sequential(*[conv_bn_relu(c_in, c_out, 3, padding=1)
                                   for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)])

        self.encoder = nn.ModuleList()
        channels = self.in_channels
        for w, n in zip(widths, depths, strict=True):
            self.encoder.append(stage([channels] + [w] * n))
            channels = w
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, stride=2)
        # decoder stage i mirrors encoder stage i: n convolutions, the last one
        # going down to stage i-1's width; stage 1's last is the classifier
        self.decoder = nn.ModuleList()
        for i in reversed(range(5)):
            out = widths[i - 1] if i > 0 else widths[0]
            n = depths[i] if i > 0 else depths[i] - 1
            self.decoder.append(stage([widths[i]] * n + [out]))
        self.classifier = nn.Conv2d(widths[0], num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class scores: ``(N, in_channels, H, W) -> (N, num_classes, H, W)``."""
        _check_image(x, self.in_channels)
        sizes: list[torch.Size] = []
        indices: list[torch.Tensor] = []
        for stage in self.encoder:
            x = stage(x)
            sizes.append(x.shape[-2:])
            x, where = self.pool(x)
            indices.append(where)
        for stage in self.decoder:
            x = self.unpool(x, indices.pop(), output_size=sizes.pop())
            x = stage(x)
        return self.classifier(x)


def _double_conv(in_channels: int, out_channels: int, batch_norm: bool) -> nn.Sequential:
    """U-Net's unit: two 3x3 convolutions (padding 1), each with (BN and) ReLU."""
    return nn.Sequential(conv_bn_relu(in_channels, out_channels, 3, padding=1, batch_norm=batch_norm),
                         conv_bn_relu(out_channels, out_channels, 3, padding=1, batch_norm=batch_norm))


class UNet(nn.Module):
    """U-Net: a contracting path, an expanding path, and skip connections that concatenate.

    With ``c_i = base_channels * 2**i``::

        encoder[0]:  double conv  in_channels -> c_0          (full size)   --skip--+
        encoder[i]:  2x2 max pool, double conv c_{i-1} -> c_i (i = 1..depth)       |
        upsample[j]: c_{i} -> c_{i-1}, x2                                          |
        decoder[j]:  concatenate [skip c_{i-1}, upsampled c_{i-1}], double conv -> c_{i-1}
        head:        1x1 conv c_0 -> num_classes

    A double conv is two 3x3 convolutions (padding 1, so the size is kept;
    the paper used unpadded ones and cropped the skips) each followed by BN
    (``batch_norm=True``; the 2015 paper had none) and ReLU. Upsampling is
    a 2x2 transposed convolution with stride 2 (the paper's "up-conv", learned)
    or, with ``bilinear=True``, bilinear interpolation followed by a 1x1
    convolution halving the channels. ``base_channels=64, depth=4`` is the
    paper's network; ``UNet(3, 4, base_channels=8, depth=3)`` is a small one.

    ``H`` and ``W`` are best multiples of ``2**depth``; other sizes are zero-padded
    at the bottom/right to the next multiple, and the scores cropped back.

    Shapes: ``(N, in_channels, H, W) -> (N, num_classes, H, W)``.

    >>> UNet(3, 4, base_channels=8, depth=3)(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2, 4, 64, 64])
    """

    def __init__(self, in_channels: int, num_classes: int, base_channels: int = 64, depth: int = 4,
                 batch_norm: bool = True, bilinear: bool = False) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        num_classes = check_int("num_classes", num_classes, minimum=1)
        base = check_int("base_channels", base_channels, minimum=1)
        self.depth = check_int("depth", depth, minimum=1)
        check_bool("batch_norm", batch_norm)
        check_bool("bilinear", bilinear)
        widths = [base * 2**i for i in range(self.depth + 1)]

        self.encoder = nn.ModuleList([_double_conv(self.in_channels, widths[0], batch_norm)])
        self.encoder.extend(_double_conv(widths[i - 1], widths[i], batch_norm) for i in range(1, self.depth + 1))
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for i in reversed(range(1, self.depth + 1)):
            up: nn.Module
            if bilinear:
                up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                   nn.Conv2d(widths[i], widths[i - 1], 1))
            else:
                up = nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2)
            self.upsample.append(up)
            self.decoder.append(_double_conv(2 * widths[i - 1], widths[i - 1], batch_norm))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class scores: ``(N, in_channels, H, W) -> (N, num_classes, H, W)``."""
        height, width = _check_image(x, self.in_channels).shape[-2:]
        x = _pad_to_multiple(x, 2**self.depth)
        skips: list[torch.Tensor] = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()   # the bottom of the U is not a skip
        for up, block in zip(self.upsample, self.decoder, strict=True):
            x = block(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)[..., :height, :width]
