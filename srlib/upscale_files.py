"""Super-resolving image files: reading, checking the memory first, upscaling, and writing the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from srlib.errors import UserError
from srlib.files import atomic_path
from srlib.images import is_grayscale, load_image
from srlib.imresize import upscale
from srlib.inference import (
    MIN_SIDE,
    InferenceSRResNet,
    for_inference,
    receptive_radius,
    tile_counts,
    upscale_image,
)
from srlib.metrics import rgb_to_gray
from srlib.models import SRResNet
from srlib.runtime import OUT_OF_MEMORY, available_memory


def _read_alpha(path: Path) -> Tensor | None:
    """The alpha channel of an image file as (1, H, W) in [0, 1] (EXIF orientation applied), or None."""
    with Image.open(path) as img:
        if img.mode not in ("RGBA", "LA", "PA") and not (img.mode == "P" and "transparency" in img.info):
            return None
        img = ImageOps.exif_transpose(img)
        alpha = np.asarray(img.convert("RGBA").getchannel("A"), dtype=np.float32) / 255
    return torch.from_numpy(alpha)[None]


def _radius(model: SRResNet | InferenceSRResNet) -> int:
    return model.radius if isinstance(model, InferenceSRResNet) else receptive_radius(model)


def output_path(path: str | Path, out_dir: str | Path, scale: int) -> Path:
    """Where `upscale_file` writes the result of ``path``: ``out_dir/<stem>_x<scale>.png``."""
    return Path(out_dir) / f"{Path(path).stem}_x{scale}.png"


def memory_needed(
    model: SRResNet | InferenceSRResNet, h: int, w: int, tile: int | None = None, overlap: int | None = None
) -> int:
    """Rough peak bytes of `upscale_image` on an h x w LR image, on the model's device: the activations of
    its largest piece (the whole image, or a tile with its overlap) and the float result.

    Per LR pixel an `InferenceSRResNet` holds about 9 x channels floats at x4 (the first sub-pixel stage's
    output, before and after its shuffle: 2.35 KB measured at 64 channels), 5 x channels at x2 (the residual
    blocks') and 4 times 9 x channels at x8; its last stage runs in bands and adds little.
    """
    overlap = _radius(model) if overlap is None else overlap
    h, w = max(h, MIN_SIDE), max(w, MIN_SIDE)  # what runs: `upscale_image` pads small sides to MIN_SIDE
    rows, cols = tile_counts(h, w, tile, overlap)
    th, tw = (min(n, -(-n // c) + overlap * min(c - 1, 2)) for n, c in ((h, rows), (w, cols)))
    per_pixel = 4 * model.channels * max(5, 9 * model.scale**2 // 16)
    return per_pixel * th * tw + 4 * model.scale**2 * 3 * h * w


def check_memory(
    model: SRResNet | InferenceSRResNet, h: int, w: int, tile: int | None = None, overlap: int | None = None
) -> None:
    """A UserError naming the size, and a tile that fits, when upscaling h x w pixels would exhaust memory."""
    device = next(model.parameters()).device
    free, need = available_memory(device), memory_needed(model, h, w, tile, overlap)
    if free is None or need <= free:
        return
    s, gb = model.scale, 1 << 30
    result = 4 * s * s * 3 * max(h, MIN_SIDE) * max(w, MIN_SIDE)
    if result > free:  # the output alone does not fit: no tiling helps
        raise UserError(
            f"refused: {w}x{h} pixels x{s} makes a {s * w}x{s * h} image that needs {result / gb:.1f} GB, "
            f"and {free / gb:.1f} GB are free; crop or shrink the input"
        )
    fits = next((t for t in (512, 256, 128, 64, 32) if memory_needed(model, h, w, t, overlap) <= free), None)
    raise UserError(
        f"{w}x{h} pixels x{s} needs about {need / gb:.1f} GB at once and {free / gb:.1f} GB are free: "
        + (f"process it in tiles, e.g. --tile {fits} (tile=... in upscale_image)" if fits else "crop it")
    )


def check_input(
    model: SRResNet | InferenceSRResNet, path: str | Path, tile: int | None = None, overlap: int | None = None
) -> None:
    """A one-line UserError when `upscale_file` would fail on ``path``: unreadable, or beyond memory.

    ``srlib upscale`` checks every input so, before its first output."""
    lr = load_image(path)
    check_memory(model, *lr.shape[-2:], tile, overlap)


def upscale_file(
    model: SRResNet | InferenceSRResNet,
    path: str | Path,
    out_dir: str | Path,
    tile: int | None = None,
    overlap: int | None = None,
    overwrite: bool = True,
) -> Path:
    """Super-resolve an image file into ``out_dir/<stem>_x<scale>.png``, atomically; returns the path.

    Grey files go through the network as three equal channels and come back grey (L); an alpha channel
    (RGBA, LA, transparent palette) is upscaled with bicubic interpolation and kept. The EXIF orientation
    is applied and the other EXIF data are kept. ``tile`` and ``overlap`` as in `upscale_image`: by default
    memory stays bounded and the result is that of the whole image. An image that would exhaust memory
    anyway is refused first (`check_memory`), and running out of memory is a UserError saying how to tile.
    Without ``overwrite``, an output already there, or written by another process meanwhile, is a UserError.
    """
    path = Path(path)
    model = for_inference(model)  # made once here, not again in check_memory and upscale_image
    lr = load_image(path)  # (3, h, w); a one-line UserError when unreadable
    check_memory(model, *lr.shape[-2:], tile, overlap)
    try:
        sr = upscale_image(model, lr, tile, overlap)
    except OUT_OF_MEMORY:
        raise UserError(
            f"{path}: out of memory upscaling {lr.shape[2]}x{lr.shape[1]} pixels; "
            f"use smaller tiles (--tile {min(tile or 256, 256) // 2})"
        ) from None
    planes = [rgb_to_gray(sr) if is_grayscale(path) else sr]
    alpha = _read_alpha(path)
    if alpha is not None:
        planes.append(upscale(alpha, model.scale, "bicubic").clamp_(0, 1))
    image = planes[0] if len(planes) == 1 else torch.cat(planes)  # sr is in [0, 1] already
    arr = image.mul_(255).round_().to(torch.uint8).permute(1, 2, 0).numpy()  # in place: large images
    with Image.open(path) as img:
        exif = img.getexif()
    if exif:
        exif[0x0112] = 1  # the pixels are upright now: orientation "normal"
    out = output_path(path, out_dir, model.scale)
    with atomic_path(out, exclusive=not overwrite) as tmp:
        image = Image.fromarray(arr.squeeze(2) if arr.shape[2] == 1 else arr)
        image.save(tmp, format="PNG", **({"exif": exif.tobytes()} if exif else {}))
    return out
