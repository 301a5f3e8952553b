import math
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch
from scipy.ndimage import convolve
from scipy.special import gamma
from torchvision.transforms.functional import gaussian_blur

from srlib.datasets import benchmark_pairs
from srlib.errors import UserError
from srlib.images import load_image, modcrop, sample_image
from srlib.imresize import imresize, upscale
from srlib.metrics import rgb_to_y
from srlib.niqe import _ALPHAS, _RATIOS, MODEL, _nearest_ratio, niqe, pristine_model


def reference_niqe(y: np.ndarray) -> float:
    """NIQE written patch by patch after the LIVE release's computequality.m / estimateaggdparam.m,
    with SciPy's gamma and filters: the slow, literal version the vectorised one must equal."""
    gam = np.arange(0.2, 10.0005, 0.001)
    r_gam = gamma(2 / gam) ** 2 / (gamma(1 / gam) * gamma(3 / gam))

    def aggd(vec):
        left = np.sqrt(np.mean(vec[vec < 0] ** 2))
        right = np.sqrt(np.mean(vec[vec > 0] ** 2))
        g = left / right
        rhat = np.mean(np.abs(vec)) ** 2 / np.mean(vec**2)
        rhatnorm = rhat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
        alpha = gam[np.argmin((r_gam - rhatnorm) ** 2)]
        s = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
        return alpha, left * s, right * s

    def features(block):
        a, bl, br = aggd(block.ravel())
        feat = [a, (bl + br) / 2]
        for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
            a, bl, br = aggd((block * np.roll(block, shift, axis=(0, 1))).ravel())
            feat += [a, (br - bl) * gamma(2 / a) / gamma(1 / a), bl, br]
        return feat

    t = np.arange(7) - 3
    window = np.exp(-(t[:, None] ** 2 + t[None] ** 2) / (2 * (7 / 6) ** 2))
    window /= window.sum()  # fspecial('gaussian', 7, 7/6)
    rows, cols = y.shape[0] // 96, y.shape[1] // 96
    im = y[: rows * 96, : cols * 96]
    feat = []
    for scale in (1, 2):
        mu = convolve(im, window, mode="nearest")
        sigma = np.sqrt(np.abs(convolve(im * im, window, mode="nearest") - mu * mu))
        s = (im - mu) / (sigma + 1)
        b = 96 // scale
        blocks = [s[i * b : (i + 1) * b, j * b : (j + 1) * b] for i in range(rows) for j in range(cols)]
        feat.append([features(block) for block in blocks])
        im = imresize(torch.from_numpy(im)[None, None], 0.5)[0, 0].numpy()
    feat = np.concatenate([np.array(f) for f in feat], axis=1)
    mu_p, cov_p = (t.numpy() for t in pristine_model())
    d = mu_p - np.nanmean(feat, axis=0)
    cov = np.cov(feat[~np.isnan(feat).any(axis=1)], rowvar=False)
    return float(np.sqrt(d @ np.linalg.pinv((cov_p + cov) / 2) @ d))


@pytest.mark.data
def test_niqe_gives_matlabs_published_value_for_set14_baboon(data_root):
    # Published reference: BasicSR, basicsr/metrics/niqe.py (calculate_niqe docstring): "MATLAB R2021a result
    # for tests/data/baboon.png: 5.72957338" (the LIVE release's algorithm and pristine model, on the
    # BT.601 Y channel rounded to 8 bits). That file is not available here; Set14's baboon (img_001, 500x480)
    # is the same picture, and matching the value to 1e-6 says it holds the same pixels.
    hr = dict((n, h) for n, h, _ in benchmark_pairs("Set14"))["img_001"]
    assert niqe(load_image(hr)).item() == pytest.approx(5.72957338, abs=1e-5)


def test_vectorised_niqe_equals_the_patch_by_patch_reference():
    x = sample_image("chelsea")[:, :200, :300]  # 2 x 3 patches
    y = rgb_to_y(x.double()).round()[0].numpy()
    assert niqe(x).item() == pytest.approx(reference_niqe(y), rel=1e-9)


def test_nearest_ratio_equals_the_argmin_over_matlabs_grid():
    g = torch.Generator().manual_seed(0)
    r = torch.cat(
        [
            torch.rand(2000, generator=g, dtype=torch.float64) * 0.8,  # inside the grid and past both ends
            _RATIOS[[0, 17, 5000, -1]],  # on grid points
            (_RATIOS[[100, 101]].sum() / 2)[None],  # halfway: the first one, as argmin
            torch.tensor([math.nan], dtype=torch.float64),  # MATLAB's min of all-NaN: index 1
        ]
    )
    brute = ((_RATIOS[None] - r[:, None]) ** 2).nan_to_num(math.inf).argmin(dim=1)
    assert torch.equal(_nearest_ratio(r), brute)
    assert _ALPHAS[_nearest_ratio(r[-1:])].item() == pytest.approx(0.2)


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_blur_and_noise_raise_niqe_on_a_natural_image(name):
    x = sample_image(name)
    clean = niqe(x).item()
    blurred = niqe(gaussian_blur(x, 9, 2.0)).item()
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)) * 25 / 255
    noisy = niqe((x + noise).clamp(0, 1)).item()
    assert blurred > clean + 1 and noisy > clean + 1


def test_batch_equals_images_one_by_one_and_border_is_shaved():
    x = torch.stack([sample_image("astronaut")[:, :200, :300], sample_image("coffee")[:, :200, :300]])
    batch = niqe(x, border=4)
    single = torch.stack([niqe(img[:, 4:-4, 4:-4]) for img in x])
    assert torch.allclose(batch, single, rtol=1e-12)
    assert not torch.allclose(batch, niqe(x), rtol=1e-6)


def test_grey_images_are_scored_on_their_grey_values():
    x = sample_image("coffee")[:, :200, :300].mean(0, keepdim=True)
    y = (x.double() * 255).round()[0].numpy()
    assert niqe(x[None]).item() == pytest.approx(reference_niqe(y), rel=1e-9)


@pytest.mark.parametrize("size", [(95, 400), (150, 150), (191, 96)])
def test_image_smaller_than_two_patches_is_a_one_line_error(size):
    with pytest.raises(UserError, match="too small for NIQE") as e:
        niqe(torch.rand(3, *size))
    assert "\n" not in str(e.value)


@pytest.mark.data
def test_set14_hr_images_score_lower_than_bicubic_x4(data_root):
    for name, hr_path, lr_path in benchmark_pairs("Set14"):
        hr = modcrop(load_image(hr_path), 4)
        bicubic = upscale(load_image(lr_path)[None], 4)[0]
        assert niqe(hr) < niqe(bicubic), name


def test_pristine_model_ships_inside_the_package_with_its_notice():
    folder = MODEL.parent
    assert "Copyright (c) 2011 The University of Texas at Austin" in (folder / "NOTICE.txt").read_text()
    mu, cov = pristine_model()
    assert mu.shape == (36,) and cov.shape == (36, 36) and torch.equal(cov, cov.T)
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "assets/niqe/*" in pyproject["tool"]["setuptools"]["package-data"]["srlib"]
