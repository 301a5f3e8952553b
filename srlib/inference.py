"""Running a trained generator: on a tensor (whole or in tiles), on image files, as an evaluation upscaler."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import Tensor

from srlib.data import atomic_path, is_grayscale, load_image
from srlib.errors import UserError
from srlib.imresize import upscale
from srlib.metrics import rgb_to_gray
from srlib.models import SRResNet, from_model_range


def pick_device(name: str | None = None) -> torch.device:
    """``name`` when given ("cpu", "cuda", "cuda:1", "mps"), else the best there is: CUDA, MPS, then CPU.

    A device that srlib cannot run on (meta, xpu, a GPU that is not there or does not work) is a UserError.
    """
    if name:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise UserError(f"unknown device {name!r}; use cpu, cuda, cuda:N or mps") from None
        if device.type not in ("cpu", "cuda", "mps"):
            raise UserError(f"srlib does not run on device {name!r}; use cpu, cuda, cuda:N or mps")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"device {name} asked for, but torch sees no CUDA GPU; use --device cpu")
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise UserError(
                f"device {name} asked for, but torch sees {torch.cuda.device_count()} CUDA GPU(s)"
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise UserError(f"device {name} asked for, but MPS is not available here; use --device cpu")
        try:
            torch.zeros(1, device=device) + 1  # a GPU can be seen and still not work (driver, capability)
        except RuntimeError as e:
            reason = str(e).splitlines()[0]
            raise UserError(f"device {name} does not work here ({reason}); use --device cpu") from None
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


MIN_SIDE = 16  # LR images smaller than this are edge-padded to it (a 1x1 image keeps its colour)


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
    if lr01.dim() != 3 or lr01.shape[0] != 3 or min(lr01.shape[1:]) < 1 or not lr01.is_floating_point():
        raise UserError(
            f"upscale_image takes one RGB image (3, h, w) of floats, got {lr01.dtype} {tuple(lr01.shape)}"
        )
    if tile is not None and (tile < 1 or overlap < 0):
        raise UserError(f"tile must be >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    device = next(model.parameters()).device
    s, (h, w) = model.scale, lr01.shape[-2:]
    if min(h, w) < MIN_SIDE:  # the convs' zero padding would swamp a tiny image: repeat its edges instead
        top, left = max(MIN_SIDE - h, 0) // 2, max(MIN_SIDE - w, 0) // 2
        pad = (left, max(MIN_SIDE - w, 0) - left, top, max(MIN_SIDE - h, 0) - top)
        padded = F.pad(lr01[None], pad, mode="replicate")[0]
        return upscale_image(model, padded, tile, overlap)[
            :, s * top : s * (top + h), s * left : s * (left + w)
        ]

    def run(lr: Tensor) -> Tensor:
        sr = model(lr[None].to(device, next(model.parameters()).dtype))
        return from_model_range(sr, clamp=True)[0].to(lr01.device, lr01.dtype)

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
    """The alpha channel of an image file as (1, H, W) in [0, 1] (EXIF orientation applied), or None."""
    with Image.open(path) as img:
        if img.mode not in ("RGBA", "LA", "PA") and not (img.mode == "P" and "transparency" in img.info):
            return None
        img = ImageOps.exif_transpose(img)
        alpha = np.asarray(img.convert("RGBA").getchannel("A"), dtype=np.float32) / 255
    return torch.from_numpy(alpha)[None]


def output_path(path: str | Path, out_dir: str | Path, scale: int) -> Path:
    """Where `upscale_file` writes the result of ``path``: ``out_dir/<stem>_x<scale>.png``."""
    return Path(out_dir) / f"{Path(path).stem}_x{scale}.png"


def available_memory(device: torch.device) -> int | None:
    """Bytes free for new tensors on ``device``: a GPU's free memory, the CPU's MemAvailable (Linux), or None
    where it cannot be known."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as f:
                return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
        except (OSError, StopIteration, ValueError):
            return None
    return None


def memory_needed(model: SRResNet, h: int, w: int, tile: int | None = None, overlap: int = 16) -> int:
    """Rough peak bytes of `upscale_image` on an h x w LR image: on the model's device, the largest
    activations (channels x scale^2 floats per LR pixel, twice, at the last sub-pixel stage) of the whole
    image or of one tile with its overlap; the float result is counted too."""
    th, tw = (h, w) if tile is None else (min(h, tile + 2 * overlap), min(w, tile + 2 * overlap))
    return 4 * model.scale**2 * (2 * model.channels * th * tw + 3 * h * w)


def check_memory(model: SRResNet, h: int, w: int, tile: int | None = None, overlap: int = 16) -> None:
    """A UserError naming the size, and a tile that fits, when upscaling h x w pixels would exhaust memory."""
    device = next(model.parameters()).device
    free, need = available_memory(device), memory_needed(model, h, w, tile, overlap)
    if free is None or need <= free:
        return
    s, gb = model.scale, 1 << 30
    result = 4 * s * s * 3 * h * w
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


def upscale_file(
    model: SRResNet, path: str | Path, out_dir: str | Path, tile: int | None = None, overlap: int = 16
) -> Path:
    """Super-resolve an image file into ``out_dir/<stem>_x<scale>.png``, atomically; returns the path.

    Grey files go through the network as three equal channels and come back grey (L); an alpha channel
    (RGBA, LA, transparent palette) is upscaled with bicubic interpolation and kept. The EXIF orientation
    is applied and the other EXIF data are kept. An image that would exhaust memory is refused first
    (`check_memory`), and running out of memory anyway is a UserError saying how to tile.
    """
    path = Path(path)
    lr = load_image(path)  # (3, h, w); a one-line UserError when unreadable
    check_memory(model, *lr.shape[-2:], tile, overlap)
    try:
        sr = upscale_image(model, lr, tile, overlap)
    except (torch.OutOfMemoryError, RuntimeError) as e:
        if "memory" not in str(e):
            raise
        raise UserError(
            f"{path}: out of memory upscaling {lr.shape[2]}x{lr.shape[1]} pixels; "
            f"use smaller tiles (--tile {min(tile or 256, 256) // 2})"
        ) from None
    planes = [rgb_to_gray(sr) if is_grayscale(path) else sr]
    alpha = _read_alpha(path)
    if alpha is not None:
        planes.append(upscale(alpha, model.scale, "bicubic"))
    arr = (torch.cat(planes).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    with Image.open(path) as img:
        exif = img.getexif()
    if exif:
        exif[0x0112] = 1  # the pixels are upright now: orientation "normal"
    out = output_path(path, out_dir, model.scale)
    with atomic_path(out) as tmp:
        image = Image.fromarray(arr.squeeze(2) if arr.shape[2] == 1 else arr)
        image.save(tmp, format="PNG", **({"exif": exif.tobytes()} if exif else {}))
    return out
