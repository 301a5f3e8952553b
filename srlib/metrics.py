"""PSNR and SSIM the way SR papers report them: on the Y channel, with ``scale`` pixels shaved at each border.

Y is BT.601 luma as MATLAB's ``rgb2ycbcr`` computes it, in [16, 235] on a 0-255 scale. SSIM is Wang et al.'s
with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, population statistics and "valid" filtering,
which is what scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255)`` computes. All functions take float tensors in [0, 1] shaped
(3, H, W) or (N, 3, H, W) and work on the CPU or a GPU; on a batch they return one value per image.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor

from srlib.errors import UserError, check_type
from srlib.imresize import check_factor

# MATLAB rgb2ycbcr: Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in [0, 1]
_Y_WEIGHTS = (65.481, 128.553, 24.966)
SSIM_WINDOW = 11  # the side of SSIM's Gaussian window: an image must hold one after shaving
# how far outside [0, 1] an image may reach: an unclamped generator output overshoots a little, while an
# image on a 0-255 scale goes far beyond (and would be scored or saved wrong without a word)
RANGE_SLACK = 0.25


def check_unit_range(x: Tensor, who: str) -> None:
    """A UserError when a float image holds NaN or inf, or values outside [0, 1] (give or take
    `RANGE_SLACK`): ``who`` names the function refusing it."""
    if x.numel() == 0:
        return
    if x.device.type == "meta":
        raise UserError(f"{who}: a tensor on the meta device holds no pixels; use cpu, cuda or mps")
    low, high = (float(v) for v in torch.aminmax(x.detach()))  # NaN anywhere makes both NaN
    if not (math.isfinite(low) and math.isfinite(high)):
        raise UserError(f"{who}: the image holds NaN or inf; check what made it")
    if low < -RANGE_SLACK or high > 1 + RANGE_SLACK:
        raise UserError(
            f"{who}: takes images in [0, 1], got values from {low:g} to {high:g}: divide an image on a "
            "0-255 scale by 255 first"
        )


def rgb_to_y(x: Tensor) -> Tensor:
    """BT.601 luma (MATLAB ``rgb2ycbcr``) on a 0-255 scale: (..., 3, H, W) in [0, 1] -> (..., 1, H, W)."""
    check_type(x, Tensor, "the image")
    if not x.is_floating_point() or x.dim() < 3 or x.shape[-3] != 3:
        raise UserError(
            f"expected float RGB images (..., 3, H, W) in [0, 1], got {x.dtype} {tuple(x.shape)}: divide "
            "8-bit images by 255 first"
        )
    w = torch.tensor(_Y_WEIGHTS, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return 16.0 + (x * w).sum(dim=-3, keepdim=True)


def rgb_to_gray(x: Tensor) -> Tensor:
    """BT.601 luma in [0, 1] (Y without MATLAB's 16-235 offset and range): a grey image's own values.

    Benchmarks score single-channel files (Set14's bridge) on the grey values themselves; scoring them on
    Y would shrink every error by 219/255 and add about 1.3 dB.
    """
    return (rgb_to_y(x) - 16.0) / 219.0


def check_border(border: object) -> None:
    """A UserError unless ``border`` is a whole number of pixels, 0 or more."""
    if not isinstance(border, numbers.Integral) or isinstance(border, bool) or border < 0:
        raise UserError(f"border must be 0 or more pixels (a whole number), got {border!r}")


def shave(x: Tensor, border: int) -> Tensor:
    """Cut ``border`` pixels from every side; SR papers shave ``scale`` pixels before measuring."""
    check_border(border)
    h, w = x.shape[-2:]
    if border and (h <= 2 * border or w <= 2 * border):
        raise UserError(f"image of {h}x{w} pixels is too small to shave {border} pixels from each border")
    return x[..., border : h - border, border : w - border] if border else x


def _prepare(sr: Tensor, hr: Tensor, border: int, y_only: bool) -> tuple[Tensor, Tensor]:
    check_type(sr, Tensor, "the SR image")
    check_type(hr, Tensor, "the HR image")
    check_type(y_only, bool, "y_only")
    if not (sr.is_floating_point() and hr.is_floating_point()):
        raise UserError(
            f"PSNR and SSIM take float images in [0, 1], got {sr.dtype} and {hr.dtype}: divide 8-bit images "
            "by 255 first (x.float() / 255)"
        )
    if sr.shape != hr.shape:
        raise UserError(f"SR and HR shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    if sr.dim() not in (3, 4) or (y_only and sr.shape[-3] != 3):
        raise UserError(
            f"expected (3, H, W) or (N, 3, H, W) images (or any channels with y_only=False), got "
            f"{tuple(sr.shape)}"
        )
    check_border(border)
    if min(sr.shape[-2:]) < 1:
        raise UserError(f"the images are empty: {tuple(sr.shape)}")
    check_unit_range(sr, "PSNR and SSIM (SR image)")
    check_unit_range(hr, "PSNR and SSIM (HR image)")
    if sr.dim() == 3:
        sr, hr = sr[None], hr[None]
    sr, hr = sr.double(), hr.double()
    if y_only:
        sr, hr = rgb_to_y(sr), rgb_to_y(hr)
    else:
        sr, hr = sr * 255, hr * 255
    return shave(sr, border), shave(hr, border)


def psnr(sr: Tensor, hr: Tensor, border: int = 0, y_only: bool = True) -> Tensor:
    """Peak signal-to-noise ratio in dB (peak 255) per image; ``border`` pixels are shaved first."""
    sr, hr = _prepare(sr, hr, border, y_only)
    mse = ((sr - hr) ** 2).mean(dim=(-3, -2, -1))
    return 10 * torch.log10(255.0**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    """The normalised 1-D Gaussian of SSIM's window in float64; the 2-D window is its outer product."""
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(sr: Tensor, hr: Tensor, border: int = 0, y_only: bool = True) -> Tensor:
    """Structural similarity per image (mean SSIM map, Gaussian window); ``border`` pixels shaved first."""
    sr, hr = _prepare(sr, hr, border, y_only)
    if min(sr.shape[-2:]) < SSIM_WINDOW:
        raise UserError(
            f"image of {sr.shape[-2]}x{sr.shape[-1]} pixels after shaving is smaller than SSIM's 11x11 window"
        )
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    # Local weighted means of x, y, x^2, y^2, xy in one pass: the Gaussian is separable, so blur the
    # columns and then the rows, keeping only "valid" positions (the window fully inside the image).
    stack = torch.cat([sr, hr, sr * sr, hr * hr, sr * hr], dim=1)  # (N, 5C, H, W)
    g = gaussian_window().to(stack.device)
    k = stack.shape[1]
    stack = F.conv2d(stack, g.view(1, 1, 11, 1).expand(k, 1, 11, 1), groups=k)
    stack = F.conv2d(stack, g.view(1, 1, 1, 11).expand(k, 1, 1, 11), groups=k)
    mu_x, mu_y, xx, yy, xy = stack.chunk(5, dim=1)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(-3, -2, -1))


def checkerboard_energy(x: Tensor, period: int = 2) -> Tensor:
    """The fraction of an image's variance in a pattern that repeats every ``period`` pixels, per image.

    Upsampling layers that treat the ``period x period`` sub-pixel positions differently (a transposed
    convolution with uneven overlap, a randomly initialised sub-pixel convolution) add the same offset to
    every cell: a checkerboard. Averaging the image over all cells, position by position, gives that
    periodic pattern; its variance over the ``period**2`` positions, divided by the image's variance, is
    the share of the image's (non-DC) Fourier energy at the frequencies that are multiples of 1/period,
    the Nyquist frequency included. It is 0 for a nearest-neighbour upsampled image (every cell constant),
    close to 0 for natural images and smooth upsampling, and 1 for a pure checkerboard.

    Takes (C, H, W) or (N, C, H, W); rows and columns past the last whole cell are left out. Channels are
    pooled (energies summed); a constant image scores 0.
    """
    check_type(x, Tensor, "checkerboard_energy: the image")
    whole = isinstance(period, numbers.Integral) and not isinstance(period, bool)
    if x.dim() not in (3, 4) or not whole or period < 1:
        raise UserError(
            f"checkerboard_energy: expected (C, H, W) or (N, C, H, W) and period >= 1, "
            f"got {tuple(x.shape)} and {period}"
        )
    single = x.dim() == 3
    x = (x[None] if single else x).double()
    h, w = x.shape[-2:]
    if h < period or w < period:
        raise UserError(f"image of {h}x{w} pixels is smaller than one {period}x{period} cell")
    x = x[..., : h - h % period, : w - w % period]
    n, c = x.shape[:2]
    phases = F.pixel_unshuffle(x, period).view(n, c, period * period, -1)  # (N, C, r^2, cells)
    pattern = phases.mean(dim=-1)  # the mean image of one cell, (N, C, r^2)
    periodic = pattern.var(dim=-1, unbiased=False).sum(dim=1)
    total = x.flatten(2).var(dim=-1, unbiased=False).sum(dim=1)
    ratio = torch.where(total > 0, periodic / total.clamp(min=1e-300), torch.zeros_like(total))
    return ratio[0] if single else ratio


def _luma(x: Tensor, border: int) -> Tensor:
    """(N, 1, H, W) float64 Y on a 0-255 scale, shaved; (3, H, W) input becomes a batch of one."""
    check_type(x, Tensor, "the image")
    if not x.is_floating_point():
        raise UserError(f"expected float images in [0, 1], got {x.dtype}: divide 8-bit images by 255 first")
    return shave(rgb_to_y((x[None] if x.dim() == 3 else x).double()), border)


def gradient_magnitude(x: Tensor, border: int = 0) -> Tensor:
    """Mean Sobel gradient magnitude of the Y channel, in grey levels per pixel, one value per image.

    A measure of fine detail (edges, texture): blur lowers it, invented texture raises it. Compare an SR
    image's value with its HR image's: MSE training wins PSNR by giving detail up, a GAN puts some back.
    """
    y = _luma(x, border)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=y.dtype) / 8
    kernels = torch.stack([sobel, sobel.T])[:, None].to(y.device)  # d/dx, d/dy; /8: a ramp of 1 gives 1
    g = F.conv2d(y, kernels)  # "valid": no made-up border values
    return g.pow(2).sum(dim=1).sqrt().mean(dim=(-2, -1))


def high_frequency_share(x: Tensor, scale: int, border: int = 0) -> Tensor:
    """The share of the Y channel's spectral power above the LR image's Nyquist frequency, per image.

    An image downscaled by ``scale`` keeps only frequencies below 0.5 / scale cycles per pixel (in both
    axes); whatever power an upscaler puts above that, it had to create. A Hann window keeps the image's
    borders from adding power at every frequency; the mean (DC) is removed first.
    """
    check_factor(scale)
    y = _luma(x, border)
    h, w = y.shape[-2:]
    window = torch.hann_window(h, periodic=False, dtype=y.dtype)[:, None]
    window = window * torch.hann_window(w, periodic=False, dtype=y.dtype)[None]
    y = (y - y.mean(dim=(-2, -1), keepdim=True)) * window.to(y.device)
    power = torch.fft.rfft2(y).abs().pow(2)[:, 0]  # (N, H, W // 2 + 1)
    fy = torch.fft.fftfreq(h, dtype=y.dtype).abs()[:, None]
    fx = torch.fft.rfftfreq(w, dtype=y.dtype)[None]
    high = (torch.maximum(fy, fx) > 0.5 / scale).to(y.device)
    total = power.sum(dim=(-2, -1))
    return torch.where(total > 0, (power * high).sum(dim=(-2, -1)) / total.clamp(min=1e-300), 0.0)
