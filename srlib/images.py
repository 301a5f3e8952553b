"""Image files and tensors: decoding any common file to an RGB float tensor (3, H, W) in [0, 1], saving one,
and the small image helpers the metrics protocol needs (8-bit rounding, cropping to a multiple of the scale).
"""

from __future__ import annotations

import os
import stat
import warnings
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from srlib.errors import UserError, check_type
from srlib.files import atomic_path
from srlib.imresize import check_factor
from srlib.metrics import check_unit_range

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SAMPLE_IMAGES = ("astronaut", "chelsea", "coffee", "rocket")


def check_pixels(path: str | Path, size: tuple[int, int], max_pixels: int | None = None) -> None:
    """A UserError naming the size when a ``(width, height)`` image has more pixels than ``max_pixels``.

    The default is PIL's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 megapixels): a
    small file can claim a huge image and fill the memory when decoded.
    """
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    w, h = size
    if limit and w * h > limit:
        raise UserError(
            f"{path}: refused: {w}x{h} pixels ({w * h / 1e6:.1f} megapixels) is more than the "
            f"{limit / 1e6:.1f}-megapixel limit (a decompression bomb?); shrink or crop the image first"
        )


def _pixels(img: Image.Image, path: str | Path, format: str | None) -> np.ndarray:
    """(H, W, 3) float64 in [0, 1] of a decoded image of file ``format``, each kind scaled by its own white
    level."""
    if img.mode.startswith("I;16"):
        arr = np.asarray(img, dtype=np.float64) / 65535.0
    elif img.mode == "I" and format in ("PNG", "PPM"):  # 16-bit PNG or PGM (Pillow scales to 65535)
        arr = np.asarray(img, dtype=np.float64) / 65535.0
    elif img.mode == "I":
        raise UserError(
            f"{path}: 32-bit integer pixels have no agreed white level; save the image with 8 or 16 bits"
        )
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if not (np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1):
            raise UserError(
                f"{path}: float pixels from {np.nanmin(arr):g} to {np.nanmax(arr):g} (or NaN); srlib reads "
                "float images in [0, 1]: scale it to [0, 1] or save it with 8 or 16 bits"
            )
    else:
        return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    return np.repeat(arr[..., None], 3, axis=2)


def load_image(path: str | Path, max_pixels: int | None = None) -> Tensor:
    """Read an image file as an RGB float tensor (3, H, W) in [0, 1].

    8- and 16-bit files are scaled by their own maximum, float files must hold [0, 1], 32-bit integer files
    are refused; grayscale is repeated to three channels; palette images are expanded; an alpha channel is
    dropped (the RGB values are kept as stored, not blended onto a background). The EXIF orientation is
    applied (phone photos come out upright). Of a multi-frame file (GIF, TIFF) only the first frame is
    read, with a warning. Images beyond ``max_pixels`` (see `check_pixels`) and unreadable files raise a
    one-line UserError naming the path.
    """
    check_type(path, (str, PathLike), "load_image: the path")
    try:
        kind = os.stat(path).st_mode
        if stat.S_ISDIR(kind):
            raise IsADirectoryError
        if not stat.S_ISREG(kind):  # reading a FIFO or a device would block forever or never end
            raise UserError(f"{path}: not a regular file (a pipe, socket or device); give an image file")
        with warnings.catch_warnings():  # PIL's own warning for large images: check_pixels refuses them
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            check_pixels(path, img.size, max_pixels)
            frames = getattr(img, "n_frames", 1)
            if frames > 1:
                warnings.warn(f"{path}: holds {frames} frames; only the first is used", stacklevel=2)
            img.load()
            arr = _pixels(ImageOps.exif_transpose(img), path, img.format)
    except UserError:
        raise
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: a folder, not an image file") from None
    except Image.DecompressionBombError as e:  # beyond twice PIL's limit: PIL refuses before we see the size
        raise UserError(f"{path}: refused: {e}; shrink or crop the image first") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UserError(f"{path}: not a readable image ({e.__class__.__name__}: {e})") from None
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1).contiguous()


def is_grayscale(path: str | Path) -> bool:
    """True when the file stores a single (grey) channel, with or without alpha."""
    with Image.open(path) as img:
        return img.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def save_image(x: Tensor, path: str | Path) -> Path:
    """Write a (3, H, W) float image in [0, 1] as an 8-bit file, atomically; the format is the suffix's.

    Values a little outside [0, 1] (a generator's overshoot) are clamped; an 8-bit tensor, NaN, or values
    far outside (an image on a 0-255 scale) are refused rather than written wrong.
    """
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[0] != 3 or min(x.shape[1:]) < 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise UserError(f"save_image takes one RGB image (3, H, W), got {shape}")
    if not x.is_floating_point():
        raise UserError(
            f"save_image takes float images in [0, 1], got {x.dtype}: divide 8-bit images by 255 first "
            "(x.float() / 255)"
        )
    check_unit_range(x, "save_image")
    check_type(path, (str, PathLike), "save_image: the path")
    if Path(path).is_dir():
        raise UserError(f"{path} is a folder; give a file name")
    image_format = Image.registered_extensions().get(Path(path).suffix.lower())
    if image_format is None or image_format not in Image.SAVE:
        raise UserError(
            f"{path}: unknown image suffix {Path(path).suffix!r}; use one of {', '.join(IMAGE_SUFFIXES)}"
        )
    arr = (x.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    with atomic_path(path) as tmp:
        try:
            Image.fromarray(arr).save(tmp, format=image_format)
        except (ValueError, OSError) as e:  # the format's own limits (WebP: 16383 px); a full disk goes on
            if isinstance(e, OSError) and e.errno is not None:
                raise
            raise UserError(
                f"{path}: {image_format} cannot hold this {arr.shape[1]}x{arr.shape[0]} image ({e})"
            ) from None
    return Path(path)


def modcrop(img: Tensor, scale: int) -> Tensor:
    """Crop the bottom/right so that height and width are multiples of ``scale``."""
    scale = check_factor(scale)
    if img.dim() < 2 or min(img.shape[-2:]) < scale:
        raise UserError(
            f"modcrop: expected images (..., H, W) of at least {scale}x{scale}, got {tuple(img.shape)}"
        )
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


def sample_image(name: str) -> Tensor:
    """One of the colour images that ship inside scikit-image, for offline demos: (3, H, W) in [0, 1]."""
    import skimage.data

    if name not in SAMPLE_IMAGES:
        raise UserError(f"unknown sample image {name!r}; choose from {', '.join(SAMPLE_IMAGES)}")
    arr = getattr(skimage.data, name)()[..., :3]
    return torch.from_numpy(arr.astype(np.float32) / 255).permute(2, 0, 1).contiguous()


def image_files(folder: str | Path) -> list[Path]:
    """Sorted image files of a folder (by suffix; not hidden ones), or a UserError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    files = sorted(  # not hidden files: macOS's "._name.png" companions, srlib's own temporaries
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
    if not files:
        raise UserError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    return files
