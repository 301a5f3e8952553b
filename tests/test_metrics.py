import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.metrics import structural_similarity

from srlib.errors import UserError
from srlib.metrics import (
    _Y_WEIGHTS,
    gradient_magnitude,
    high_frequency_share,
    psnr,
    rgb_to_gray,
    rgb_to_y,
    ssim,
)


def test_y_channel_matches_matlab_rgb2ycbcr_range():
    black, white = torch.zeros(3, 1, 1), torch.ones(3, 1, 1)
    assert rgb_to_y(black).item() == pytest.approx(16.0)
    assert rgb_to_y(white).item() == pytest.approx(235.0)
    pure_green = torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1)
    assert rgb_to_y(pure_green).item() == pytest.approx(16 + 128.553)


def test_gray_of_an_rgb_grey_image_is_its_value():
    v = torch.rand(1, 8, 8)
    assert torch.allclose(rgb_to_gray(v.expand(3, 8, 8)), v, atol=1e-6)


def test_psnr_of_a_known_offset():
    hr = torch.full((3, 16, 16), 0.5, dtype=torch.float64)
    delta = 2 / 255
    expected = 10 * math.log10(255**2 / (219 * delta) ** 2)  # Y moves by 219 * delta on a 0-255 scale
    assert psnr(hr + delta, hr).item() == pytest.approx(expected)
    assert psnr(hr + delta, hr, y_only=False).item() == pytest.approx(10 * math.log10(255**2 / 2**2))


def test_psnr_ignores_the_shaved_border():
    hr = torch.rand(3, 20, 20)
    sr = hr.clone()
    sr[:, :4] = 0  # damage only the top 4 rows
    assert math.isinf(psnr(sr, hr, border=4).item())
    assert math.isfinite(psnr(sr, hr, border=3).item())


def test_psnr_and_ssim_return_one_value_per_image():
    hr = torch.rand(4, 3, 32, 32)
    sr = (hr + 0.05 * torch.randn_like(hr)).clamp(0, 1)
    p, s = psnr(sr, hr, border=4), ssim(sr, hr, border=4)
    assert p.shape == s.shape == (4,)
    assert torch.allclose(p[2], psnr(sr[2], hr[2], border=4))
    assert torch.allclose(s[1], ssim(sr[1], hr[1], border=4))


def test_ssim_of_identical_images_is_one():
    x = torch.rand(3, 24, 24)
    assert ssim(x, x).item() == pytest.approx(1.0)


@settings(max_examples=15, deadline=None)
@given(h=st.integers(19, 48), w=st.integers(19, 48), noise=st.floats(0.01, 0.3), seed=st.integers(0, 2**16))
def test_ssim_agrees_with_scikit_image(h, w, noise, seed):
    g = torch.Generator().manual_seed(seed)
    hr = torch.rand(3, h, w, generator=g)
    sr = (hr + noise * torch.randn(3, h, w, generator=g)).clamp(0, 1)
    y_sr = rgb_to_y(sr)[0, 4:-4, 4:-4].double().numpy()
    y_hr = rgb_to_y(hr)[0, 4:-4, 4:-4].double().numpy()
    ref = structural_similarity(
        y_sr, y_hr, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert ssim(sr, hr, border=4).item() == pytest.approx(ref, abs=1e-4)


def test_psnr_agrees_with_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio

    hr, sr = torch.rand(3, 30, 30), torch.rand(3, 30, 30)
    ref = peak_signal_noise_ratio(
        rgb_to_y(hr)[0].double().numpy(), rgb_to_y(sr)[0].double().numpy(), data_range=255
    )
    assert psnr(sr, hr).item() == pytest.approx(ref, abs=1e-6)


def test_metrics_work_in_float32_on_a_batch_like_training_validation():
    hr = torch.rand(2, 3, 40, 40, dtype=torch.float32)
    sr = (hr + 0.02).clamp(0, 1)
    assert np.isfinite(psnr(sr, hr, 4).numpy()).all() and (ssim(sr, hr, 4) < 1).all()


def test_too_small_images_and_shape_mismatch_give_user_errors():
    with pytest.raises(UserError, match="too small to shave 4"):
        psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 8), border=4)
    with pytest.raises(UserError, match="smaller than SSIM's 11x11 window"):
        ssim(torch.rand(3, 16, 16), torch.rand(3, 16, 16), border=4)
    with pytest.raises(UserError, match="shapes differ"):
        psnr(torch.rand(3, 16, 16), torch.rand(3, 16, 12))


def test_gradient_magnitude_is_the_slope_of_a_ramp_in_grey_levels_and_zero_when_flat():
    y_per_unit = sum(_Y_WEIGHTS)  # Y grey levels of an RGB step of 1 in all channels
    ramp = (torch.arange(32.0) / y_per_unit * 3).expand(3, 32, 32)  # Y rises 3 grey levels per column
    assert gradient_magnitude(ramp).item() == pytest.approx(3.0)
    assert gradient_magnitude(ramp.transpose(-1, -2)).item() == pytest.approx(3.0)
    assert gradient_magnitude(torch.full((2, 3, 16, 16), 0.4)).tolist() == pytest.approx([0.0, 0.0], abs=1e-9)


def test_high_frequency_share_separates_slow_and_fast_waves_and_blur_lowers_both_detail_measures():
    x = torch.arange(64.0)
    slow = (0.5 + 0.4 * torch.cos(2 * torch.pi * x / 32)).expand(3, 64, 64)  # 1/32 cycle per pixel
    fast = (0.5 + 0.4 * torch.cos(2 * torch.pi * x / 3)).expand(3, 64, 64)  # 1/3, above x4's 1/8
    assert high_frequency_share(slow, 4).item() < 0.01
    assert high_frequency_share(fast, 4).item() > 0.99
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    blurred = F.avg_pool2d(noise, 3, stride=1, padding=1, count_include_pad=False)
    assert gradient_magnitude(blurred) < gradient_magnitude(noise)
    assert high_frequency_share(blurred, 4) < high_frequency_share(noise, 4)
