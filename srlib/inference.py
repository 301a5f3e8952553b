"""Running a trained generator on tensors: whole or in tiles, and as an evaluation upscaler.

Image files are `srlib.upscale_files`'s.
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings
from collections.abc import Callable
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib.errors import UserError, check_type
from srlib.metrics import check_unit_range
from srlib.models import SRResNet, SubPixelConv, fold_batchnorm, from_model_range


def receptive_radius(model: SRResNet) -> int:
    """How many LR pixels away an SR pixel can still see: the smallest tile overlap that makes tiling exact.

    Walks the layers in the order they run (SRResNet registers them in that order): a k x k conv reaches
    k // 2 pixels of the resolution it runs at, and each PixelShuffle(r) makes the later pixels r times
    smaller. In LR pixels, rounded up: for the paper's x4 generator with 16 blocks, 4 (9x9 head) + 2 * 16
    (two 3x3 per block) + 1 (3x3 after the blocks) + 1 + 1/2 (the sub-pixel convs) + 4/4 (9x9 tail) = 39.5,
    so 40.
    """
    radius, pixel = Fraction(0), Fraction(1)  # the size of the current resolution's pixels, in LR pixels
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            radius += m.kernel_size[0] // 2 * m.dilation[0] * pixel
        elif isinstance(m, nn.PixelShuffle):
            pixel /= m.upscale_factor
    return math.ceil(radius)


def conv_before_shuffle(conv: nn.Conv2d, r: int) -> nn.Conv2d:
    """The conv that, run before PixelShuffle(r), gives what ``conv`` gives run after it:
    ``shuffle(conv_before_shuffle(conv, r)(x)) == conv(shuffle(x))``, for a k x k ``conv`` with stride 1 and
    k // 2 zero padding.

    Output pixel (r*i + a, r*j + b) of ``conv`` reads the shuffled pixels (r*i + a + dy, r*j + b + dx), which
    the shuffle took from channel c*r^2 + p*r + q at (i + m, j + n) where r*m + p = a + dy (columns alike).
    So the new conv maps r^2 times the channels to r^2 times the channels (one per output phase a, b) with a
    kernel reaching ceil((k // 2) / r) pixels; the weights ``conv`` has no tap for stay zero. This is Shi et
    al.'s sub-pixel convolution (2016) read backwards: a conv at high resolution is one at low resolution.
    """
    (out_c, in_c), half = conv.weight.shape[:2], conv.kernel_size[0] // 2
    reach, r2 = -(-half // r), r * r
    new = nn.Conv2d(
        in_c * r2,
        out_c * r2,
        2 * reach + 1,
        padding=reach,
        bias=conv.bias is not None,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    with torch.no_grad():
        new.weight.zero_()
        for a, b, p, q in itertools.product(range(r), repeat=4):  # output phase (a, b), input phase (p, q)
            for m, n in itertools.product(range(-reach, reach + 1), repeat=2):
                dy, dx = r * m + p - a, r * n + q - b
                if abs(dy) <= half and abs(dx) <= half:
                    new.weight[a * r + b :: r2, p * r + q :: r2, m + reach, n + reach] = conv.weight[
                        :, :, dy + half, dx + half
                    ]
        if conv.bias is not None:
            new.bias.copy_(conv.bias.repeat_interleave(r2))
    return new


# Pixels of one band of the last sub-pixel stage's input (at half the output resolution): 64 MB of its
# 256-channel activations, which also stay nearer the caches.
BAND_PIXELS = 256 * 256


class _OutputBeforeShuffle(nn.Module):
    """The generator's last sub-pixel stage and its 9x9 output conv, with the output conv run before the
    shuffle: ``tail(prelu(shuffle(conv(x)))) == shuffle(tail'(prelu(conv(x))))``.

    PReLU has one slope, so it commutes with the shuffle, and tail' = `conv_before_shuffle` (tail, r). A 9x9
    conv to only 3 channels at the full output resolution runs far below the CPU's peak in oneDNN; tail' is a
    5x5 conv from 256 to 12 channels at half that resolution, which runs near it. The stage runs in bands of
    rows with the context its two convs need, so that its 256-channel tensor, the largest of the network,
    never exists for the whole image: 4 KB per LR pixel less memory at x4.
    """

    def __init__(self, stage: SubPixelConv, tail: nn.Conv2d):
        super().__init__()
        self.conv, self.r = stage.conv, stage.shuffle.upscale_factor
        self.slope = float(stage.act.weight)
        self.tail = conv_before_shuffle(tail, self.r)
        self.context = self.conv.padding[0] + self.tail.padding[0]  # rows each side a band's output reads

    def run(self, x: Tensor) -> Tensor:
        x = F.leaky_relu_(self.conv(x), self.slope)  # PReLU with its one learnt slope, in place
        return F.pixel_shuffle(self.tail(x), self.r)

    def forward(self, x: Tensor) -> Tensor:
        h, c, r = x.shape[-2], self.context, self.r
        rows = max(BAND_PIXELS // x.shape[-1], 2 * c)
        bands = []
        for top in range(0, h, rows):  # a band, read with c rows of context each side (zeros at the edges)
            t0, bottom = max(top - c, 0), min(top + rows, h)
            y = self.run(x[..., t0 : min(bottom + c, h), :])
            bands.append(y[..., r * (top - t0) : r * (bottom - t0), :])
        return bands[0] if len(bands) == 1 else torch.cat(bands, dim=-2)


class InferenceSRResNet(nn.Module):
    """A frozen copy of an SRResNet, rearranged to run faster; the same function as the model in eval mode
    (to float rounding): LR (N, 3, h, w) in [0, 1] -> SR (N, 3, scale*h, scale*w) in [-1, 1].

    - Each BatchNorm is folded into the conv before it (`fold_batchnorm`).
    - The last sub-pixel stage runs its 9x9 output conv before the pixel shuffle (`conv_before_shuffle`).
    - Tensors are channels-last, the layout oneDNN's CPU convs run fastest on.

    ``benchmarks/inference_speed.py`` measures it; the README's performance section has the figures. The copy
    holds the weights as they were: make a new one after more training.
    """

    def __init__(self, model: SRResNet):
        super().__init__()
        self.scale, self.channels, self.radius = model.scale, model.channels, receptive_radius(model)
        net = fold_batchnorm(model).requires_grad_(False)
        net.upsample[-1] = _OutputBeforeShuffle(net.upsample[-1], net.tail)
        net.tail = nn.Identity()
        self.net = net.to(memory_format=torch.channels_last)

    def forward(self, lr: Tensor) -> Tensor:
        return self.net(lr.contiguous(memory_format=torch.channels_last))


def for_inference(model: SRResNet | InferenceSRResNet) -> InferenceSRResNet:
    """``model`` prepared for inference (`InferenceSRResNet`); one already prepared is returned as it is."""
    return model if isinstance(model, InferenceSRResNet) else InferenceSRResNet(model)


def as_upscaler(model: SRResNet | InferenceSRResNet) -> Callable[[Tensor], Tensor]:
    """The generator as an `srlib.evaluate` upscaler: LR batch in [0, 1] -> SR batch in [0, 1].

    Each image goes through `upscale_image`, as ``srlib upscale`` runs it. The weights are those of the
    moment of the call (an `InferenceSRResNet` is made once); ``model`` itself is left as it is.
    """
    fast = for_inference(model)
    return lambda lr: torch.stack([upscale_image(fast, x) for x in lr])


# The most LR pixels one piece (a tile with its overlap) may hold when `upscale_image` picks the tiles: the
# x4 generator's activations take about 2.4 KB per LR pixel, so under 0.9 GB. Smaller images run whole.
AUTO_PIECE_PIXELS = 600 * 600


def auto_tiles(h: int, w: int, overlap: int) -> tuple[int, int]:
    """How many rows and columns of tiles `upscale_image` cuts an h x w image into when no tile is given.

    One (the whole image) when it holds at most `AUTO_PIECE_PIXELS`; else, along each axis, the fewest tiles
    whose pieces (a tile and its overlap, on the sides that have a neighbour) are at most
    sqrt(`AUTO_PIECE_PIXELS`) long: fewer, larger pieces recompute less overlap.
    """
    if h * w <= AUTO_PIECE_PIXELS:
        return 1, 1
    side = math.isqrt(AUTO_PIECE_PIXELS)

    def count(n: int) -> int:
        c = 1
        while c < n and -(-n // c) + overlap * min(c - 1, 2) > side:
            c += 1
        return c

    return count(h), count(w)


def tile_counts(h: int, w: int, tile: int | None, overlap: int) -> tuple[int, int]:
    """Rows and columns of tiles: `auto_tiles` when no ``tile`` is given, else enough ``tile``-long ones."""
    return auto_tiles(h, w, overlap) if tile is None else (-(-h // tile), -(-w // tile))


def _spans(n: int, count: int) -> list[tuple[int, int]]:
    """(start, length) of at most ``count`` near-equal spans that cover ``n`` pixels."""
    size = -(-n // count)
    return [(start, min(size, n - start)) for start in range(0, n, size)]


# A generator output beyond this (its range is [-1, 1]), or NaN, comes from broken weights, not an image
BROKEN_OUTPUT = 100.0
MIN_SIDE = 16  # LR images smaller than this are edge-padded to it (a 1x1 image keeps its colour)


def upscale_image(
    model: SRResNet | InferenceSRResNet, lr01: Tensor, tile: int | None = None, overlap: int | None = None
) -> Tensor:
    """Super-resolve one LR image (3, h, w) in [0, 1]; returns (3, scale*h, scale*w) in [0, 1].

    The image is cut into the fewest near-equal tiles of at most ``tile`` x ``tile`` LR pixels (by default
    `auto_tiles`: whole when small, else pieces whose activations stay under 1 GB), each run with
    ``overlap`` extra LR pixels of context on every side, and only each piece's own part of the output is
    kept. An SR pixel depends only on LR pixels within `receptive_radius` (40 for the paper's 16 blocks),
    and in eval mode BatchNorm is a fixed per-pixel affine map, so with the default overlap, that radius,
    the stitched result equals whole-image inference up to float rounding. Smaller overlaps change the
    output near tile seams; one below half the radius is warned about. The network runs as an
    `InferenceSRResNet`, made from ``model`` in each call unless given one (make it once for many images);
    ``model`` itself is left as it is.
    """
    check_type(model, (SRResNet, InferenceSRResNet), "upscale_image: the model")
    check_type(lr01, Tensor, "upscale_image: the LR image")
    if lr01.dim() != 3 or lr01.shape[0] != 3 or min(lr01.shape[1:]) < 1 or not lr01.is_floating_point():
        raise UserError(
            f"upscale_image takes one RGB image (3, h, w) of floats, got {lr01.dtype} {tuple(lr01.shape)}"
        )
    fast = for_inference(model)
    overlap = fast.radius if overlap is None else overlap
    whole = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (tile or 1, overlap))
    if not whole or (tile is not None and tile < 1) or overlap < 0:
        raise UserError(
            f"tile must be >= 1 (or None) and overlap >= 0, both whole numbers, got tile={tile!r}, "
            f"overlap={overlap!r}"
        )
    check_unit_range(lr01, "upscale_image")  # NaN, inf, or a 0-255 image would come out wrong
    weight = next(fast.parameters())
    s, (h, w) = fast.scale, lr01.shape[-2:]
    if min(h, w) < MIN_SIDE:  # the convs' zero padding would swamp a tiny image: repeat its edges instead
        top, left = max(MIN_SIDE - h, 0) // 2, max(MIN_SIDE - w, 0) // 2
        pad = (left, max(MIN_SIDE - w, 0) - left, top, max(MIN_SIDE - h, 0) - top)
        padded = F.pad(lr01[None], pad, mode="replicate")[0]
        return upscale_image(fast, padded, tile, overlap)[
            :, s * top : s * (top + h), s * left : s * (left + w)
        ]
    rows, cols = tile_counts(h, w, tile, overlap)
    if rows * cols > 1 and overlap < fast.radius / 2:  # an image that runs whole has no seams
        warnings.warn(
            f"tile overlap {overlap} is far below the receptive radius {fast.radius}: tile seams may show; "
            f"the default overlap ({fast.radius}) is exact",
            stacklevel=2,
        )
    out = lr01.new_empty(3, s * h, s * w)
    with torch.inference_mode():
        for top, th in _spans(h, rows):
            for left, tw in _spans(w, cols):
                t0, l0 = max(top - overlap, 0), max(left - overlap, 0)  # the piece with its context
                piece = lr01[:, t0 : min(top + th + overlap, h), l0 : min(left + tw + overlap, w)]
                sr = fast(piece[None].to(weight.device, weight.dtype))[0]
                reach = float(sr.abs().amax())  # NaN and inf are caught too: NaN <= x is False
                if not reach <= BROKEN_OUTPUT:  # saved, NaN would turn black and huge values white, silently
                    raise UserError(
                        f"the generator's output reaches {reach:g} (its range is [-1, 1]): its weights are "
                        "broken (BatchNorm statistics, overflowing weights?); use other weights"
                    )
                y, x = s * (top - t0), s * (left - l0)  # where the tile's own part starts in the piece's SR
                out[:, s * top : s * (top + th), s * left : s * (left + tw)] = from_model_range(
                    sr[:, y : y + s * th, x : x + s * tw], clamp=True
                )
    return out
