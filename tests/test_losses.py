"""The SRGAN losses, with random-weight VGGs (no download) on small images."""

import math

import pytest
import torch

from srlib.errors import UserError
from srlib.losses import (
    PerceptualLoss,
    adversarial_loss,
    discriminator_loss,
    pixel_mse,
    vgg_content_loss,
)
from srlib.models import SRResNet, TruncatedVGG19


@pytest.fixture(scope="module")
def vgg54():
    torch.manual_seed(0)
    return TruncatedVGG19("5_4", weights=None)


def images(*shape):
    """Random images in the model range [-1, 1]."""
    return torch.rand(*shape) * 2 - 1


def test_pixel_mse_is_the_mean_squared_difference():
    sr, hr = images(2, 3, 8, 8), images(2, 3, 8, 8)
    torch.testing.assert_close(pixel_mse(sr, hr), ((sr - hr) ** 2).mean())
    assert pixel_mse(hr, hr) == 0


def test_losses_reject_sr_and_hr_of_different_shapes(vgg54):
    sr, hr = images(1, 3, 32, 32), images(1, 3, 32, 30)
    with pytest.raises(UserError, match="shapes differ"):
        pixel_mse(sr, hr)
    with pytest.raises(UserError, match="shapes differ"):
        vgg_content_loss(vgg54, sr, hr)


def test_vgg_content_loss_is_zero_for_identical_images(vgg54):
    hr = images(1, 3, 32, 32)
    assert vgg_content_loss(vgg54, hr.clone(), hr) == 0


def test_vgg_content_loss_is_the_mse_of_features_rescaled_by_1_over_12_75(vgg54):
    sr, hr = images(1, 3, 32, 32), images(1, 3, 32, 32)
    phi_sr, phi_hr = vgg54((sr + 1) / 2), vgg54((hr + 1) / 2)  # the VGG takes [0, 1]
    expected = ((phi_sr - phi_hr) ** 2).mean() / 12.75**2
    loss = vgg_content_loss(vgg54, sr, hr)
    assert loss > 0
    torch.testing.assert_close(loss, expected)


def test_vgg_content_loss_trains_the_generator_and_leaves_the_vgg_unchanged(vgg54):
    torch.manual_seed(0)
    generator = SRResNet(scale=2, n_blocks=1, channels=8)
    first_conv = generator.head[0].weight  # the generator's layer farthest from the loss
    first_conv_before = first_conv.detach().clone()
    vgg_before = {k: v.clone() for k, v in vgg54.state_dict().items()}

    loss = vgg_content_loss(vgg54, generator(torch.rand(1, 3, 16, 16)), images(1, 3, 32, 32))
    loss.backward()
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg54.parameters())

    torch.optim.SGD(generator.parameters(), lr=0.1).step()
    assert not torch.equal(first_conv, first_conv_before)
    assert all(torch.equal(v, vgg_before[k]) for k, v in vgg54.state_dict().items())


def test_adversarial_loss_is_log2_at_zero_logits_and_falls_as_d_believes_sr_is_real():
    assert adversarial_loss(torch.zeros(4)).item() == pytest.approx(math.log(2))
    assert adversarial_loss(torch.full((4,), -3.0)) > adversarial_loss(torch.full((4,), 3.0))


def test_discriminator_loss_decreases_as_real_and_fake_logits_separate():
    def loss(margin: float) -> float:  # D(HR) = +margin, D(SR) = -margin
        return discriminator_loss(torch.full((4,), margin), torch.full((4,), -margin)).item()

    assert loss(0.0) == pytest.approx(2 * math.log(2))
    assert loss(-2.0) > loss(0.0) > loss(1.0) > loss(2.0) > loss(4.0)


@pytest.mark.parametrize("content", ["mse", "vgg22"])
def test_perceptual_loss_total_is_content_plus_1e_3_times_adversarial(content):
    loss = PerceptualLoss(content, vgg_weights=None)
    sr, hr, d_fake = images(2, 3, 32, 32), images(2, 3, 32, 32), torch.randn(2)
    total, content_loss, adversarial = loss(sr, hr, d_fake)
    expected_content = pixel_mse(sr, hr) if content == "mse" else vgg_content_loss(loss.vgg, sr, hr)
    torch.testing.assert_close(content_loss, expected_content)
    torch.testing.assert_close(adversarial, adversarial_loss(d_fake))
    torch.testing.assert_close(total, content_loss + 1e-3 * adversarial)


def test_perceptual_loss_mse_builds_no_vgg():
    loss = PerceptualLoss("mse", vgg_weights=None)
    assert loss.vgg is None
    assert not list(loss.parameters())


def test_perceptual_loss_vgg54_uses_the_conv5_4_features():
    assert PerceptualLoss("vgg54", vgg_weights=None).vgg.layer == "5_4"


def test_perceptual_loss_rejects_an_unknown_content_loss():
    with pytest.raises(UserError, match="content loss must be one of"):
        PerceptualLoss("vgg33", vgg_weights=None)
