"""The SRGAN losses, with random-weight VGGs (no download) on small images."""

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision

from srlib.errors import UserError
from srlib.losses import (
    VGG_RESCALE,
    PerceptualLoss,
    adversarial_loss,
    discriminator_loss,
    gradient_balance,
    pixel_mse,
    vgg_content_loss,
)
from srlib.models import Discriminator, SRResNet, TruncatedVGG19


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


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory):
    """torchvision's vgg19 with random weights, and the file of its features' state dict."""
    torch.manual_seed(0)
    vgg19 = torchvision.models.vgg19(weights=None).eval()
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in vgg19.features.state_dict().items()}, path)
    return vgg19, path


@pytest.mark.parametrize(("content", "cut"), [("vgg54", 36), ("vgg22", 9)])
def test_perceptual_loss_content_is_the_mse_of_torchvisions_vgg19_features(vgg19_file, content, cut):
    """vgg54 / vgg22 compare vgg19().features[:36] / [:9] (phi_5,4 / phi_2,2), divided by 12.75, by MSE."""
    vgg19, path = vgg19_file
    sr, hr = images(1, 3, 32, 32), images(1, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        phi_sr, phi_hr = (vgg19.features[:cut](((x + 1) / 2 - mean) / std) for x in (sr, hr))
        content_loss = PerceptualLoss(content, vgg_weights=path)(sr, hr, torch.zeros(1))[1]
    torch.testing.assert_close(content_loss, F.mse_loss(phi_sr, phi_hr) / 12.75**2)


def test_vgg_rescale_divides_the_content_loss_by_its_square(vgg54):
    sr, hr = images(1, 3, 32, 32), images(1, 3, 32, 32)
    unscaled = vgg_content_loss(vgg54, sr, hr, rescale=1.0)
    assert VGG_RESCALE == 12.75  # the paper's factor is the default
    torch.testing.assert_close(vgg_content_loss(vgg54, sr, hr), unscaled / 12.75**2)
    loss = PerceptualLoss("vgg22", vgg_weights=None, vgg_rescale=2.0)
    content = loss(sr, hr, torch.zeros(1))[1]
    torch.testing.assert_close(content, vgg_content_loss(loss.vgg, sr, hr, rescale=1.0) / 4)


def test_perceptual_loss_rejects_a_vgg_rescale_that_is_not_positive():
    with pytest.raises(UserError, match="rescaling factor must be positive"):
        PerceptualLoss("mse", vgg_weights=None, vgg_rescale=0.0)


def test_vgg_content_loss_is_fp32_under_autocast(vgg54):
    sr, hr = images(1, 3, 32, 32), images(1, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = vgg_content_loss(vgg54, sr.bfloat16(), hr.bfloat16())
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, vgg_content_loss(vgg54, sr.bfloat16().float(), hr.bfloat16().float()))


def test_gradient_balance_is_the_ratio_of_the_terms_gradient_norms_on_sr():
    sr = torch.rand(2, 3, 4, 4, requires_grad=True)
    a, b = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    content, adversarial = (a * sr).sum(), (b * sr).sum()  # gradients a and b
    ratio = gradient_balance(sr, content, adversarial, adv_weight=1e-3)
    assert ratio == pytest.approx((a.norm() / (1e-3 * b.norm())).item(), rel=1e-5)
    (content + 1e-3 * adversarial).backward()  # the graph is kept for the training step
    torch.testing.assert_close(sr.grad, a + 1e-3 * b)


def test_gradient_balance_leaves_no_gradients_on_the_networks():
    torch.manual_seed(0)
    generator, discriminator = SRResNet(scale=2, n_blocks=1, channels=8), Discriminator(base=8)
    loss = PerceptualLoss("mse", vgg_weights=None)
    sr, hr = generator(torch.rand(2, 3, 16, 16)), images(2, 3, 32, 32)
    _, content, adversarial = loss(sr, hr, discriminator(sr))
    ratio = gradient_balance(sr, content, adversarial, loss.adv_weight)
    assert math.isfinite(ratio) and ratio > 0
    assert all(p.grad is None for net in (generator, discriminator) for p in net.parameters())


def test_gradient_balance_needs_the_graph_of_sr():
    sr = torch.rand(1, 3, 4, 4)
    with pytest.raises(UserError, match="requires_grad"):
        gradient_balance(sr, sr.sum(), sr.sum(), 1e-3)


def test_perceptual_loss_rejects_an_unknown_content_loss():
    with pytest.raises(UserError, match="content loss must be one of"):
        PerceptualLoss("vgg33", vgg_weights=None)
