"""Running a trained generator: on a tensor (whole or in tiles), on image files, as an evaluation upscaler."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from srlib.data import atomic_path, is_grayscale, load_image
from srlib.errors import UserError
from srlib.imresize import upscale
from srlib.metrics import rgb_to_gray
from srlib.models import SRResNet, from_model_range


def pick_device(name: str | None = None) -> torch.device:
    """``name`` when given ("cpu", "cuda", "cuda:1", "mps"), else the best there is: CUDA, MPS, then CPU."""
    if name:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise UserError(f"unknown device {name!r}; use cpu, cuda, cuda:N or mps") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"device {name} asked for, but torch sees no CUDA GPU; use --device cpu")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise UserError(f"device {name} asked for, but MPS is not available here; use --device cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def as_upscaler(model: SRResNet) -> Callable[[Tensor], Tensor]:
    """The generator as an `srlib.evaluate` upscaler: LR batch in [0, 1] -> SR batch in [0, 1] (eval mode)."""
    model.eval()
    return lambda lr: from_model_range(model(lr), clamp=True)


def receptive_radius(model: SRResNet) -> int:
    """How many LR pixels away an SR pixel can still see: the overlap that makes tiling exact.

    In LR pixels: 4 (9x9 head) + 2 per residual block (two 3x3) + 1 (3x3 after the blocks), then each
    sub-pixel conv adds 1 pixel of its own resolution and the 9x9 tail 4 output pixels: at x4,
    1 + 1/2 + 4/4, so 2 * n_blocks + 7.5 in all; x2 gives 2 * n_blocks + 8 and x8 a little less than x4.
    """
    return 2 * model.n_blocks + 8


def upscale_image(model: SRResNet, lr01: Tensor, tile: int | None = None, overlap: int = 16) -> Tensor:
    """Super-resolve one LR image (3, h, w) in [0, 1]; returns (3, scale*h, scale*w) in [0, 1].

    With ``tile``, the image is cut into tile x tile LR pieces, each run with ``overlap`` extra LR pixels
    of context on every side, and only each piece's own part of the output is kept: memory on the device
    stays that of one tile. An SR pixel depends only on LR pixels within the receptive-field radius
    (`receptive_radius`, 40 for the paper's 16 blocks), and in eval mode BatchNorm is a fixed per-pixel
    affine map, so when ``overlap >= receptive_radius(model)`` the stitched result equals whole-image
    inference (up to float rounding). Smaller overlaps differ slightly near tile seams; the default 16 is a
    compromise that is visually seamless for trained models.
    """
    if lr01.dim() != 3 or lr01.shape[0] != 3:
        raise UserError(f"upscale_image takes one RGB image (3, h, w), got {tuple(lr01.shape)}")
    if tile is not None and (tile < 1 or overlap < 0):
        raise UserError(f"tile must be >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    device = next(model.parameters()).device
    s, (h, w) = model.scale, lr01.shape[-2:]

    def run(lr: Tensor) -> Tensor:
        return from_model_range(model(lr[None].to(device)), clamp=True)[0].to(lr01.device)

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            if tile is None:
                return run(lr01)
            out = lr01.new_empty(3, s * h, s * w)
            for top in range(0, h, tile):
                for left in range(0, w, tile):
                    t0, l0 = max(top - overlap, 0), max(left - overlap, 0)  # the piece with its context
                    sr = run(lr01[:, t0 : min(top + tile + overlap, h), l0 : min(left + tile + overlap, w)])
                    th, tw = min(tile, h - top), min(tile, w - left)  # the tile's own part, in LR pixels
                    y, x = s * (top - t0), s * (left - l0)
                    out[:, s * top : s * (top + th), s * left : s * (left + tw)] = sr[
                        :, y : y + s * th, x : x + s * tw
                    ]
            return out
    finally:
        model.train(was_training)


def _read_alpha(path: Path) -> Tensor | None:
    """The alpha channel of an image file as (1, H, W) in [0, 1], or None when it has none."""
    with Image.open(path) as img:
        if img.mode not in ("RGBA", "LA", "PA") and not (img.mode == "P" and "transparency" in img.info):
            return None
        alpha = np.asarray(img.convert("RGBA").getchannel("A"), dtype=np.float32) / 255
    return torch.from_numpy(alpha)[None]


def upscale_file(
    model: SRResNet, path: str | Path, out_dir: str | Path, tile: int | None = None, overlap: int = 16
) -> Path:
    """Super-resolve an image file into ``out_dir/<stem>_x<scale>.png``, atomically; returns the path.

    Grey files go through the network as three equal channels and come back grey (L); an alpha channel
    (RGBA, LA, transparent palette) is upscaled with bicubic interpolation and kept.
    """
    path = Path(path)
    lr = load_image(path)  # (3, h, w); a one-line UserError when unreadable
    sr = upscale_image(model, lr, tile, overlap)
    planes = [rgb_to_gray(sr) if is_grayscale(path) else sr]
    alpha = _read_alpha(path)
    if alpha is not None:
        planes.append(upscale(alpha, model.scale, "bicubic"))
    arr = (torch.cat(planes).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    out = Path(out_dir) / f"{path.stem}_x{model.scale}.png"
    with atomic_path(out) as tmp:
        Image.fromarray(arr.squeeze(2) if arr.shape[2] == 1 else arr).save(tmp, format="PNG")
    return out
