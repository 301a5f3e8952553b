"""Figures of the course: side-by-side reconstructions with zoomed crops, and training curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from srlib.data import atomic_path


def to_numpy(x: Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) float tensor in [0, 1] -> (H, W, 3) array for ``imshow``."""
    x = x.detach().float().cpu()
    if x.dim() == 4:
        x = x[0]
    return x.clamp(0, 1).permute(1, 2, 0).numpy()


def default_box(h: int, w: int, frac: float = 0.25) -> tuple[int, int, int, int]:
    """A centred (top, left, height, width) crop box covering ``frac`` of each side."""
    bh, bw = max(1, int(h * frac)), max(1, int(w * frac))
    return (h - bh) // 2, (w - bw) // 2, bh, bw


def comparison_figure(
    panels: Mapping[str, Tensor],
    box: tuple[int, int, int, int] | None = None,
    captions: Mapping[str, str] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Images side by side (top) with a zoomed crop of each (bottom), like figure 2 of the SRGAN paper.

    ``panels`` maps a title to an image; images smaller than the largest (an LR input) are shown stretched to
    the same size, and their crop box is scaled to match. ``box`` is (top, left, height, width) in the
    largest image's pixels. ``captions`` adds a line under a title (e.g. its PSNR/SSIM).
    """
    arrays = {k: to_numpy(v) for k, v in panels.items()}
    big_h, big_w = max(a.shape[0] for a in arrays.values()), max(a.shape[1] for a in arrays.values())
    top, left, bh, bw = box or default_box(big_h, big_w)
    n = len(arrays)
    fig = Figure(figsize=(3 * n, 6 * big_h / big_w + 0.8), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    for i, (title, a) in enumerate(arrays.items()):
        sy, sx = a.shape[0] / big_h, a.shape[1] / big_w  # an LR panel is smaller
        crop = a[int(top * sy) : int((top + bh) * sy), int(left * sx) : int((left + bw) * sx)]
        axes[0, i].imshow(a, extent=(0, big_w, big_h, 0), interpolation="nearest")
        axes[0, i].add_patch(Rectangle((left, top), bw, bh, fill=False, edgecolor="red", linewidth=1.5))
        axes[0, i].set_title(
            title + (f"\n{captions[title]}" if captions and title in captions else ""), fontsize=10
        )
        axes[1, i].imshow(crop, interpolation="nearest")
        for ax in axes[:, i]:
            ax.set_axis_off()
    if path is not None:
        save_figure(fig, path)
    return fig


def curves_figure(
    history: Mapping[str, Sequence[float]],
    x: str = "step",
    keys: Sequence[str] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """One panel per logged quantity against ``x`` (a training history as column lists, e.g. from CSV)."""
    keys = [k for k in (keys or history) if k != x]
    fig = Figure(figsize=(4 * len(keys), 3), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, k in zip(axes, keys, strict=True):
        ax.plot(history[x], history[k])
        ax.set_xlabel(x)
        ax.set_title(k)
        ax.grid(alpha=0.3)
    if path is not None:
        save_figure(fig, path)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Save a figure atomically (the format comes from the suffix)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    return Path(path)
