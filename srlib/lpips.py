"""LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018).

A learned full-reference distance: both images go through AlexNet; at five layers the features are
normalised, their squared differences weighted per channel by linear layers trained on human judgements of
image patches, averaged over space and summed. 0 for identical images; larger is more different.

We use the authors' package ``lpips`` (optional: ``pip install "srlib[lpips]"``). Its wheel ships the
linear layers (``lpips/weights/v0.1/alex.pth``, 6 KB); the AlexNet backbone's ImageNet weights are not in
it. They come from torchvision's download (``ALEXNET_URL``, cached under ``$TORCH_HOME/hub/checkpoints``), or
from a file the user passes (``weights=PATH``, ``--lpips-weights PATH``): a torchvision AlexNet state dict,
``.pth`` or ``.safetensors``, read without unpickling objects.
"""

from __future__ import annotations

import urllib.error
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from srlib.checkpoint import read_state_dict
from srlib.errors import UserError
from srlib.metrics import shave

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"  # torchvision's IMAGENET1K_V1


def _backbone_weights(weights: str | Path | None) -> dict[str, Tensor]:
    """AlexNet's ``features.*`` tensors from the user's file, else from torchvision's download (or cache)."""
    how = "pass --lpips-weights PATH, a torchvision AlexNet state dict such as alexnet-owt-7be5be79.pth"
    if weights is None:
        try:
            state = torch.hub.load_state_dict_from_url(
                ALEXNET_URL, map_location="cpu", progress=False, weights_only=True
            )
        except (urllib.error.URLError, OSError, RuntimeError) as e:
            raise UserError(
                f"LPIPS needs AlexNet's ImageNet weights and the download from {ALEXNET_URL} failed "
                f"({type(e).__name__}); {how}"
            ) from None
    else:
        state = read_state_dict(weights, how)
    features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    if not features:
        raise UserError(f"{weights or ALEXNET_URL}: no AlexNet 'features.*' weights in it; {how}")
    return features


def lpips_model(
    weights: str | Path | None = None, random_backbone: bool = False, device: str | torch.device = "cpu"
) -> nn.Module:
    """The LPIPS-AlexNet network (v0.1), in eval mode.

    The backbone comes from ``weights`` (a file), else torchvision's download; ``random_backbone=True``
    leaves it randomly initialised, which only tests the plumbing (its distances mean nothing).
    """
    try:
        import lpips
    except ImportError:
        raise UserError('LPIPS needs the optional package lpips: pip install "srlib[lpips]"') from None
    with warnings.catch_warnings():  # lpips asks torchvision for AlexNet with the deprecated `pretrained=`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    if not random_backbone:
        features = _backbone_weights(weights)
        slices = model.net.state_dict()  # "slice1.0.weight": AlexNet's features.0.weight, and so on
        try:
            model.net.load_state_dict({k: features[k.split(".", 1)[1]] for k in slices})
        except (KeyError, RuntimeError) as e:
            raise UserError(f"{weights or ALEXNET_URL}: not AlexNet's feature weights ({e})") from None
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
