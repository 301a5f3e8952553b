"""MATLAB-compatible image resizing in torch, and the interpolation baselines of chapter 1.

Resizing is a linear map along each axis: every output pixel is a weighted sum of a few input pixels.
`resize_matrix` builds that map the way MATLAB's `imresize` does (Keys' cubic kernel with a = -0.5, the
kernel stretched to anti-alias when shrinking, mirrored borders, output size ``ceil(scale * size)``), and
`imresize` applies it to a batch as two matrix products, so it runs on the CPU or a GPU alike.

The low-resolution images of the SR benchmarks were made with MATLAB's ``imresize(hr, 1/4)`` on 8-bit
images: it resizes the rows, rounds to 8 bits, then resizes the columns and rounds again, and the MATLAB
that made them repeated the edge pixel past the borders (the older ``imresize.m`` clamps its indices, where
later ones mirror). `make_lr` does all of this and gives every value of the Set5, Set14 and BSD100 x4 LR
files; it is the degradation we train and evaluate with. (MATLAB's NIQE, whose published values
`srlib.niqe` matches, mirrors: so `imresize` keeps the mirrored border by default.)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from srlib.constants import METHODS
from srlib.errors import UserError, check_type
from srlib.runtime import available_memory


def check_factor(scale: object, integer: bool = True) -> float:
    """``scale`` (an int with ``integer``), or a UserError unless it is a finite number above 0 (with
    ``integer``, a whole number >= 1: 2.0 passes as 2)."""
    ok = (
        isinstance(scale, numbers.Real) and not isinstance(scale, bool) and math.isfinite(scale) and scale > 0
    )
    if ok and integer:
        ok = float(scale).is_integer() and scale >= 1
    if not ok:
        kind = "a whole number of at least 1" if integer else "a finite number above 0"
        raise UserError(f"scale must be {kind}, got {scale!r}")
    return int(scale) if integer else float(scale)


def cubic(x: Tensor, a: float = -0.5) -> Tensor:
    """Keys' cubic convolution kernel; MATLAB and PIL use a = -0.5, torch and OpenCV a = -0.75."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = ((a + 2) * ax3 - (a + 3) * ax2 + 1) * (ax <= 1)
    far = (a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a) * ((ax > 1) & (ax <= 2))
    return near + far


def triangle(x: Tensor) -> Tensor:
    """The linear-interpolation (tent) kernel."""
    return (1 - x.abs()).clamp(min=0)


# kernel name -> (function, support width in input pixels at scale 1)
KERNELS: dict[str, tuple[Callable[[Tensor], Tensor], float]] = {
    "cubic": (cubic, 4.0),
    "linear": (triangle, 2.0),
}


BORDERS = ("symmetric", "replicate")


def resize_matrix(
    in_size: int,
    out_size: int,
    scale: float,
    kernel: str = "cubic",
    antialias: bool = True,
    border: str = "symmetric",
) -> Tensor:
    """The (out_size, in_size) float64 matrix that resizes one axis as MATLAB's ``imresize`` does.

    Past an edge, ``border="symmetric"`` mirrors the image (the edge pixel repeated once), as recent MATLAB
    does; ``"replicate"`` repeats the edge pixel, as the MATLAB that made the benchmarks' LR files did.
    """
    if border not in BORDERS:
        raise UserError(f"resize_matrix: unknown border {border!r}; use one of {', '.join(BORDERS)}")
    fn, width = KERNELS[kernel]
    if scale < 1 and antialias:  # shrinking: stretch the kernel so it also low-pass filters
        base = fn
        fn = lambda t: scale * base(scale * t)  # noqa: E731
        width = width / scale
    out = torch.arange(1, out_size + 1, dtype=torch.float64)
    centre = out / scale + 0.5 * (1 - 1 / scale)  # where output pixel i falls on the input (1-based)
    left = torch.floor(centre - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None]  # (out, taps), 1-based
    weights = fn(centre[:, None] - idx)
    weights = weights / weights.sum(dim=1, keepdim=True)
    idx0 = idx.long() - 1
    if border == "replicate":
        idx0 = idx0.clamp(0, in_size - 1)
    else:
        idx0 = idx0 % (2 * in_size)
        idx0 = torch.where(idx0 >= in_size, 2 * in_size - 1 - idx0, idx0)
    matrix = torch.zeros(out_size, in_size, dtype=torch.float64)
    return matrix.scatter_add_(1, idx0, weights)


def imresize(
    x: Tensor,
    scale: float | None = None,
    *,
    size: tuple[int, int] | None = None,
    kernel: str = "cubic",
    antialias: bool = True,
    border: str = "symmetric",
) -> Tensor:
    """Resize a float image batch (N, C, H, W) or image (C, H, W) like MATLAB's ``imresize``.

    Give either ``scale`` (output size ``ceil(scale * H), ceil(scale * W)``, as MATLAB) or ``size=(H, W)``.
    Values are not clamped: bicubic overshoots a little at edges, as it does in MATLAB before rounding.
    ``border``: see `resize_matrix`.
    """
    out_h, out_w, scale_h, scale_w = _plan(x, scale, size, kernel)
    if not torch.isfinite(x).all():
        raise UserError("imresize: the image holds NaN or inf; check what made it")
    return _resize(x, out_h, out_w, scale_h, scale_w, kernel, antialias, border)


def _plan(x: Tensor, scale: object, size: object, kernel: str) -> tuple[int, int, float, float]:
    """The checked output size and per-axis scales of `imresize`, or a one-line UserError: a float image,
    one of ``scale`` and ``size``, at least one pixel out, and a result that fits in the free memory."""
    check_type(x, Tensor, "imresize: the image")
    if (scale is None) == (size is None):
        raise UserError("imresize: give exactly one of scale or size")
    if x.dim() not in (3, 4) or not x.is_floating_point():
        raise UserError(
            f"imresize: expected a float tensor (C, H, W) or (N, C, H, W), got {x.dtype} {tuple(x.shape)}"
        )
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise UserError(f"imresize: unknown kernel {kernel!r}; use one of {sorted(KERNELS)}")
    h, w = x.shape[-2:]
    if min(h, w) < 1:
        raise UserError(f"imresize: the image is empty, {tuple(x.shape)}")
    if size is None:
        scale = check_factor(scale, integer=False)
        if scale * min(h, w) < 1:  # MATLAB would give 1 pixel, through a kernel 4 / scale pixels wide
            raise UserError(
                f"imresize: scale {scale:g} shrinks the {h}x{w} image below one pixel; give a scale of at "
                f"least 1/{min(h, w)}, or size=(H, W)"
            )
        scale_h = scale_w = float(scale)
        out_h, out_w = scale * h, scale * w  # floats until their size is checked (1e300 * h is no int)
    else:
        whole = [isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in _pair(size)]
        if len(whole) != 2 or not all(whole) or min(size) < 1:
            raise UserError(f"imresize: size must be two whole numbers (H, W) of at least 1, got {size!r}")
        out_h, out_w = int(size[0]), int(size[1])
        scale_h, scale_w = out_h / h, out_w / w
    check_fits(x, out_h, out_w, "imresize")
    return math.ceil(out_h), math.ceil(out_w), scale_h, scale_w


def check_fits(x: Tensor, out_h: float, out_w: float, who: str) -> None:
    """A UserError when resizing ``x`` (..., H, W) to out_h x out_w would take more than the free memory."""
    if x.device.type == "meta":
        raise UserError(f"{who}: a tensor on the meta device holds no pixels; use cpu, cuda or mps")
    h, w = x.shape[-2:]
    need = x.element_size() * x.numel() / (h * w) * out_h * out_w
    free = available_memory(x.device)
    if free is not None and need > free:
        raise UserError(
            f"{who}: the {out_h:.0f}x{out_w:.0f} result takes {need / 1e9:.3g} GB, more than the "
            f"{free / 1e9:.3g} GB free on {x.device}; resize less, or fewer images at a time"
        )


def _pair(size: object) -> list[object]:
    """The entries of a (H, W) size given as a tuple or list; anything else has none."""
    return list(size) if isinstance(size, (tuple, list)) else []


def _resize(
    x: Tensor,
    out_h: int,
    out_w: int,
    scale_h: float,
    scale_w: float,
    kernel: str,
    antialias: bool,
    border: str,
) -> Tensor:
    """`imresize` without its checks: the two matrix products."""
    h, w = x.shape[-2:]
    rows = resize_matrix(h, out_h, scale_h, kernel, antialias, border).to(x.device, x.dtype)  # (out_h, h)
    cols = resize_matrix(w, out_w, scale_w, kernel, antialias, border).to(x.device, x.dtype)  # (out_w, w)
    return rows @ x @ cols.T  # (..., h, w) -> (..., out_h, out_w)


def upscale_nearest(x: Tensor, scale: int) -> Tensor:
    """Nearest-neighbour upscaling written from the mapping ``src = dst / scale``, rounded down.

    For an integer scale, rounding down gives the same pixel as the centre-aligned rule
    ``round((dst + 0.5) / scale - 0.5)`` that MATLAB, PIL and torch use: each input pixel becomes a
    ``scale x scale`` block.
    """
    scale = check_factor(scale)
    check_type(x, Tensor, "upscale_nearest: the image")
    if x.dim() < 2 or min(x.shape[-2:]) < 1:
        raise UserError(f"upscale_nearest: expected images (..., H, W) of at least 1x1, got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    check_fits(x, h * scale, w * scale, "upscale_nearest")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise UserError("upscale_nearest: the image holds NaN or inf; check what made it")
    src_y = torch.div(torch.arange(h * scale, device=x.device), scale, rounding_mode="floor")
    src_x = torch.div(torch.arange(w * scale, device=x.device), scale, rounding_mode="floor")
    return x[..., src_y[:, None], src_x[None, :]]


def upscale(x: Tensor, scale: int, method: str = "bicubic") -> Tensor:
    """Upscale by an integer factor with an interpolation baseline (MATLAB rules), clamped to [0, 1]."""
    scale = check_factor(scale)
    if method == "nearest":
        return upscale_nearest(x, scale)
    if method == "bilinear":
        return imresize(x, scale, kernel="linear").clamp(0, 1)
    if method == "bicubic":
        return imresize(x, scale, kernel="cubic").clamp(0, 1)
    raise UserError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")


def resize_torch(x: Tensor, scale: float, mode: str = "bicubic") -> Tensor:
    """torch's own interpolation (a = -0.75 for bicubic, clamped borders), for comparison in the course."""
    batched = x if x.dim() == 4 else x[None]
    out = F.interpolate(
        batched, scale_factor=scale, mode=mode, align_corners=False if mode != "nearest" else None
    )
    return (out if x.dim() == 4 else out[0]).clamp(0, 1)


def resize_pil(x: Tensor, scale: float, resample: int = Image.BICUBIC) -> Tensor:
    """PIL's resize of one (3, H, W) image through 8 bits, for comparison in the course."""
    arr = (x.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    img = Image.fromarray(arr)
    out = img.resize((round(img.width * scale), round(img.height * scale)), resample=resample)
    return torch.from_numpy(np.asarray(out, dtype=np.float32) / 255).permute(2, 0, 1)


def quantize(x: Tensor) -> Tensor:
    """Clamp to [0, 1] and round to 8-bit levels, as saving the image would."""
    if not x.is_floating_point():
        raise UserError(f"quantize takes float images in [0, 1], got {x.dtype}: divide 8-bit images by 255")
    return (x.clamp(0, 1) * 255).round() / 255


def round_half_up(levels: Tensor) -> Tensor:
    """Grey levels rounded to 8 bits as MATLAB converts to uint8: halves away from zero, clamped to 0-255.
    (torch's ``round`` sends halves to the even level, which misses some of MATLAB's values.)"""
    return torch.floor(levels + 0.5).clamp(0, 255)


def make_lr(hr: Tensor, scale: int, quantize_lr: bool = True) -> Tensor:
    """The LR batch (N, C, H, W) or image (C, H, W) of 8-bit HR in [0, 1], as MATLAB's
    ``imresize(hr, 1/scale)`` makes it from a uint8 image: the rows resized first and rounded to 8 bits, then
    the columns, rounded again.

    This is the degradation that made the benchmarks' LR files, and it gives every value of the Set5, Set14
    and BSD100 x4 files (tests/test_imresize.py, scripts/lr_match.py): past the borders the edge pixel is
    repeated, not mirrored as `imresize` does by default (see the module's docstring). The files are 8-bit,
    so the rounding is kept: a network never shown rounding noise meets it at test time. Without
    ``quantize_lr`` the LR is resized in one float pass (same weights and borders), clamped to [0, 1] and not
    rounded. The arithmetic is float64 (float32 on MPS, which has no float64), so that the halfway values
    MATLAB rounds up are found.
    """
    scale = check_factor(scale)
    if not quantize_lr:
        return imresize(hr, 1 / scale, border="replicate").clamp(0, 1)
    if hr.dim() not in (3, 4) or not hr.is_floating_point():
        raise UserError(
            f"make_lr: expected a float tensor (C, H, W) or (N, C, H, W), got {hr.dtype} {tuple(hr.shape)}"
        )
    h, w = hr.shape[-2:]
    if min(h, w) < 1:
        raise UserError(f"make_lr: the image is empty, {tuple(hr.shape)}")
    dtype = torch.float32 if hr.device.type == "mps" else torch.float64
    rows = resize_matrix(h, math.ceil(h / scale), 1 / scale, border="replicate").to(hr.device, dtype)
    cols = resize_matrix(w, math.ceil(w / scale), 1 / scale, border="replicate").to(hr.device, dtype)
    levels = round_half_up(hr.to(dtype) * 255)  # the uint8 image MATLAB was given
    levels = round_half_up(rows @ levels)  # MATLAB's first pass: dimension 1 (the rows), to uint8
    levels = round_half_up(levels @ cols.T)  # then along the columns, to uint8 again
    return (levels / 255).to(hr.dtype)
