"""The SRGAN losses (Ledig et al. 2017, section 2.2): a content loss plus 1e-3 times the adversarial loss.

SR and HR images are in the model range [-1, 1] (see `srlib.models`); discriminator outputs are logits, so
the adversarial losses use BCE-with-logits, which is numerically safer than a sigmoid followed by log.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib.constants import CONTENT_LOSSES, VGG_RESCALE
from srlib.errors import UserError
from srlib.models import TruncatedVGG, from_model_range

# The default rescaling factor of each VGG content loss. The paper chose 1/12.75 "to obtain VGG losses of a
# scale that is comparable to the MSE loss". For VGG16 we measured the factor that does just that:
# sqrt(mean feature MSE / mean pixel MSE) of the shipped SRResNet's outputs against HR on Set5, pixels in the
# model range [-1, 1], where SRGAN training starts: `python scripts/vgg_rescale.py` printed 21.343 for
# phi_{2,2} and 7.657 for phi_{5,3} (bicubic's outputs would give 17.625 and 5.740). VGG19 keeps the
# paper's 12.75: its torchvision weights cannot be had offline here, so it was not measured.
VGG_RESCALES = {"vgg54": VGG_RESCALE, "vgg22": VGG_RESCALE, "vgg16_22": 21.34, "vgg16_53": 7.66}


def _check_same_shape(sr: Tensor, hr: Tensor) -> None:
    if sr.shape != hr.shape:
        raise UserError(f"SR and HR shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}: crop them alike")


def pixel_mse(sr: Tensor, hr: Tensor) -> Tensor:
    """The paper's l_MSE: mean squared error over all pixels (SRResNet-MSE, SRGAN-MSE)."""
    _check_same_shape(sr, hr)
    return F.mse_loss(sr, hr)


def pixel_l1(sr: Tensor, hr: Tensor) -> Tensor:
    """Mean absolute error over all pixels: not the paper's, but what later SR networks (EDSR) train with."""
    _check_same_shape(sr, hr)
    return F.l1_loss(sr, hr)


def vgg_content_loss(vgg: TruncatedVGG, sr: Tensor, hr: Tensor, rescale: float = VGG_RESCALE) -> Tensor:
    """The paper's l_VGG/i.j: MSE between the VGG feature maps of SR and HR, each divided by ``rescale``.

    SR and HR are in [-1, 1] and go to the VGG in [0, 1] (not clamped: clamping would stop the gradient where
    the generator overshoots). The HR features are constants; the SR path keeps its gradient, which is what
    trains the generator: detaching it would silently switch the content loss off. The loss is in fp32, as
    the VGG features are, also under autocast.
    """
    _check_same_shape(sr, hr)
    with torch.no_grad():
        target = vgg(from_model_range(hr)) / rescale
    return F.mse_loss(vgg(from_model_range(sr)) / rescale, target)


def adversarial_loss(d_fake_logits: Tensor) -> Tensor:
    """The generator's adversarial loss -log D(G(LR)), averaged over the batch: BCE of D(SR) against "real".

    This is the paper's non-saturating form: it still gives strong gradients when D rejects SR confidently.
    """
    return F.binary_cross_entropy_with_logits(d_fake_logits, torch.ones_like(d_fake_logits))


def discriminator_loss(d_real_logits: Tensor, d_fake_logits: Tensor, real_label: float = 1.0) -> Tensor:
    """The discriminator's loss: BCE of D(HR) against "real" plus BCE of D(SR) against "fake".

    ``real_label`` below 1 (e.g. 0.9) is one-sided label smoothing (Salimans et al. 2016): D is never
    asked to be fully sure that HR is real, which keeps it from growing overconfident; "fake" stays 0.
    """
    if not 0.5 < real_label <= 1:  # NaN too
        raise UserError(f"real_label must be in (0.5, 1] (0.9 is one-sided smoothing), got {real_label}")
    real = F.binary_cross_entropy_with_logits(d_real_logits, torch.full_like(d_real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(d_fake_logits, torch.zeros_like(d_fake_logits))
    return real + fake


class PerceptualLoss(nn.Module):
    """The SRGAN generator loss l^SR = content + adv_weight * adversarial (the paper's eq. 3, weight 1e-3).

    ``content``: "vgg54" (the paper's SRGAN), "vgg22" (SRGAN-VGG22), "vgg16_22" or "vgg16_53" (VGG16's
    phi_{2,2} or phi_{5,3}, after the ReLU) or "mse" (SRGAN-MSE: pixel MSE, no VGG is built).
    ``vgg_weights`` goes to `TruncatedVGG`: "imagenet", the path of a vgg19/vgg16 state dict, or None
    (random). ``vgg_rescale`` divides the VGG feature maps, by default the content loss's `VGG_RESCALES`
    entry: the paper's 12.75 was calibrated for the Caffe VGG19 (see `VGG_RESCALE`); a larger value weakens
    the content term against the adversarial one, by its square.
    """

    def __init__(
        self,
        content: str = "vgg54",
        vgg_weights: str | Path | None = "imagenet",
        adv_weight: float = 1e-3,
        vgg_rescale: float | None = None,
    ):
        super().__init__()
        if content not in CONTENT_LOSSES:
            raise UserError(f"content loss must be one of {list(CONTENT_LOSSES)}, not {content!r}")
        if vgg_rescale is None:
            vgg_rescale = VGG_RESCALES.get(content, VGG_RESCALE)
        if not vgg_rescale > 0:
            raise UserError(f"the VGG rescaling factor must be positive, not {vgg_rescale}")
        where = CONTENT_LOSSES[content]
        self.vgg = TruncatedVGG(*where, vgg_weights) if where else None
        self.adv_weight, self.vgg_rescale = adv_weight, vgg_rescale

    def forward(self, sr: Tensor, hr: Tensor, d_fake_logits: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Returns (total, content, adversarial): train on the total, log all three."""
        if self.vgg is None:
            content = pixel_mse(sr, hr)
        else:
            content = vgg_content_loss(self.vgg, sr, hr, self.vgg_rescale)
        adversarial = adversarial_loss(d_fake_logits)
        return content + self.adv_weight * adversarial, content, adversarial


def gradient_balance(sr: Tensor, content: Tensor, adversarial: Tensor, adv_weight: float) -> float:
    """||d content / d SR|| / ||d (adv_weight * adversarial) / d SR||: how hard each term pulls on SR.

    ``sr`` is the generator's output that both losses were computed from. Logged at the start of SRGAN
    training, it shows how far the content term outweighs the weighted adversarial term with this VGG, its
    rescaling factor and ``adv_weight``: the paper chose 1e-3 and 1/12.75 for the Caffe VGG19 (see
    `VGG_RESCALE`). The graph is kept, so the caller can still backpropagate the total loss; inf when the
    adversarial gradient is zero.
    """
    if not sr.requires_grad:
        raise UserError("gradient_balance needs the generator output with its graph (sr.requires_grad)")
    g_content = torch.autograd.grad(content, sr, retain_graph=True)[0]
    g_adversarial = torch.autograd.grad(adversarial, sr, retain_graph=True)[0]
    return (g_content.norm() / (adv_weight * g_adversarial.norm())).item()
