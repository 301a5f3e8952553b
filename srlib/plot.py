"""Figures of the course: side-by-side reconstructions with zoomed crops, and training curves."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor, nn

from srlib.files import atomic_path


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


def zoom_figure(
    panels: Mapping[str, Tensor],
    box: tuple[int, int, int, int],
    captions: Mapping[str, str] | None = None,
    overview: str = "HR",
    title: str = "",
    path: str | Path | None = None,
    note: str = "",
) -> Figure:
    """One image whole with a red box, then that box zoomed in every panel: a small figure for a README.

    ``panels`` maps a title to an image, as in `comparison_figure` (an LR panel, smaller, is cropped at
    its scale); ``box`` is (top, left, height, width) in the largest image's pixels; the panel named
    ``overview`` is the one shown whole, titled ``title`` (default: its name). ``note`` is stored in the
    PNG's Description (e.g. which weights made it), so a test can tell a stale figure.
    """
    arrays = {k: to_numpy(v) for k, v in panels.items()}
    big_h, big_w = max(a.shape[0] for a in arrays.values()), max(a.shape[1] for a in arrays.values())
    top, left, bh, bw = box
    n = len(arrays)
    fig = Figure(figsize=(1.9 * (n + big_w / big_h * bh / bw), 2.3), layout="constrained")
    axes = fig.subplots(1, n + 1, width_ratios=[big_w / big_h * bh / bw] + [1] * n)
    axes[0].imshow(arrays[overview], interpolation="antialiased")
    axes[0].add_patch(Rectangle((left, top), bw, bh, fill=False, edgecolor="red", linewidth=1.5))
    axes[0].set_title(title or overview, fontsize=9)
    for ax, (title, a) in zip(axes[1:], arrays.items(), strict=True):
        sy, sx = a.shape[0] / big_h, a.shape[1] / big_w  # an LR panel is smaller
        crop = a[int(top * sy) : int((top + bh) * sy), int(left * sx) : int((left + bw) * sx)]
        ax.imshow(crop, interpolation="nearest")
        ax.set_title(title + (f"\n{captions[title]}" if captions and title in captions else ""), fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    if path is not None:
        save_figure(fig, path, metadata={"Description": note} if note else None)
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


def save_figure(
    fig: Figure, path: str | Path, dpi: int = 100, metadata: Mapping[str, str] | None = None
) -> Path:
    """Save a figure atomically (the format comes from the suffix); ``metadata``: the file's text fields."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png", metadata=metadata)
    return Path(path)


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """The trailing mean of the last ``window`` values at each position (fewer at the start): smooths noisy
    per-step losses without shifting or shortening the curve."""
    if window < 1:
        raise ValueError(f"moving_average: window must be at least 1, got {window}")
    csum = np.concatenate([[0.0], np.cumsum(np.asarray(values, dtype=np.float64))])
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(idx - window, 0)
    return ((csum[idx] - csum[start]) / (idx - start)).tolist()


def compare_curves(
    history: Mapping[str, Sequence[float]],
    x: str = "step",
    keys: Sequence[str] | None = None,
    smooth: int = 1,
    ylabel: str = "",
    references: Mapping[str, float] | None = None,
    title: str = "",
    path: str | Path | None = None,
) -> Figure:
    """Several logged quantities against ``x`` on one set of axes, e.g. the losses of rival networks.

    ``smooth`` > 1 plots the trailing `moving_average` over that many points (the raw values faintly behind);
    ``references`` draws a dashed horizontal line per entry (e.g. the bicubic baseline).
    """
    keys = [k for k in (keys or history) if k != x]
    fig = Figure(figsize=(6.5, 3.5), layout="constrained")
    ax = fig.subplots()
    for i, k in enumerate(keys):
        colour = f"C{i}"
        if smooth > 1:
            ax.plot(history[x], history[k], color=colour, alpha=0.2, linewidth=0.8)
            ax.plot(history[x], moving_average(history[k], smooth), color=colour, label=k)
        else:
            ax.plot(history[x], history[k], color=colour, label=k)
    for j, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, color=f"C{len(keys) + j}", linestyle="--", linewidth=1, label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig


def pixel_shuffle_figure(upscale: int = 2, height: int = 3, width: int = 3) -> Figure:
    """How PixelShuffle interleaves ``upscale**2`` feature maps into one image ``upscale`` times larger.

    Left: the maps, numbered in reading order, each in its own colour. Right: ``nn.PixelShuffle(upscale)``
    applied to them: every ``upscale x upscale`` cell of the output takes one pixel from each map.
    """
    r2 = upscale * upscale
    values = torch.arange(r2 * height * width, dtype=torch.float32).view(1, r2, height, width)
    source = torch.arange(r2, dtype=torch.float32).view(1, r2, 1, 1).expand(1, r2, height, width)
    shuffled = F.pixel_shuffle(values, upscale)[0, 0].long().numpy()
    shuffled_source = F.pixel_shuffle(source.contiguous(), upscale)[0, 0].long().numpy()
    colours = np.array([to_rgb(f"C{i % 10}") for i in range(r2)]) * 0.55 + 0.45  # light tints
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    grid = fig.add_gridspec(upscale, 2 * upscale)
    for m in range(r2):
        ax = fig.add_subplot(grid[m // upscale, m % upscale])
        _annotated_grid(ax, np.broadcast_to(colours[m], (height, width, 3)), values[0, m].long().numpy())
        ax.set_title(f"map {m}", fontsize=9)
    ax = fig.add_subplot(grid[:, upscale:])
    _annotated_grid(ax, colours[shuffled_source], shuffled)
    ax.set_title(f"PixelShuffle({upscale}): {height * upscale} x {width * upscale}", fontsize=10)
    return fig


def _annotated_grid(ax, rgb: np.ndarray, numbers: np.ndarray) -> None:
    ax.imshow(rgb, interpolation="nearest")
    for (row, col), v in np.ndenumerate(numbers):
        ax.text(col, row, str(v), ha="center", va="center", fontsize=8)
    for row in range(1, numbers.shape[0]):
        ax.axhline(row - 0.5, color="white", linewidth=1)
    for col in range(1, numbers.shape[1]):
        ax.axvline(col - 0.5, color="white", linewidth=1)
    ax.set_xticks([])
    ax.set_yticks([])



def layer_label(module: nn.Module) -> str | None:
    """A layer in the paper's notation (its figure 4): ``Conv k9n64s1`` is a 9x9 convolution to 64 channels
    with stride 1. None for modules that only hold others, and for Flatten, which only reshapes."""
    if isinstance(module, nn.Conv2d):
        return f"Conv\nk{module.kernel_size[0]}n{module.out_channels}s{module.stride[0]}"
    if isinstance(module, nn.PixelShuffle):
        return f"Pixel\nShuffler x{module.upscale_factor}"
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return f"Adaptive\npool {module.output_size}"
    if isinstance(module, nn.Linear):
        return f"Dense\n({module.out_features})"
    labels = {nn.BatchNorm2d: "BN", nn.PReLU: "PReLU", nn.LeakyReLU: "Leaky\nReLU"}
    return next((text for kind, text in labels.items() if isinstance(module, kind)), None)


SUM = "Elementwise\nSum"


@dataclass
class Group:
    """Layers drawn together: one layer, or one block (a residual block, a sub-pixel stage) that the network
    stacks ``repeat`` times. With ``skip_from``, the group ends in an elementwise sum whose other input is
    the input of group ``skip_from`` (itself for a residual block)."""

    labels: list[str]
    repeat: int = 1
    skip_from: int | None = None


def architecture(model: nn.Module) -> list[Group]:
    """The layers of ``model`` in the paper's notation, in forward order, read from its modules (so the
    diagram follows the code). Residual blocks and sub-pixel stages are single groups with a repeat count;
    SRResNet's long skip (from the head's output to after the blocks' closing BN) is a sum group."""
    groups: list[Group] = []

    def walk(module: nn.Module) -> None:
        kind = type(module).__name__
        if kind in ("ResidualBlock", "SubPixelConv"):
            labels = [text for m in module.modules() if (text := layer_label(m))]
            labels += [SUM] if kind == "ResidualBlock" else []
            if groups and groups[-1].labels == labels:
                groups[-1].repeat += 1
            else:
                groups.append(Group(labels, 1, len(groups) if kind == "ResidualBlock" else None))
        elif text := layer_label(module):
            groups.append(Group([text]))
        for child in () if kind in ("ResidualBlock", "SubPixelConv") else module.children():
            walk(child)
            if child is getattr(model, "body_end", None):  # SRResNet: the long skip closes after body_end
                first_block = next(i for i, g in enumerate(groups) if g.skip_from is not None)
                groups.append(Group([SUM], 1, first_block))

    walk(model)
    return groups


_COLOURS = {"Conv": "#9ecae1", "BN": "#c7e9c0", "PReLU": "#fdd0a2", "Leaky": "#fdd0a2", "Pixel": "#dadaeb",
            "Dense": "#fcbba1"}


def architecture_figure(model: nn.Module, title: str = "", per_row: int = 16) -> Figure:
    """A diagram of `architecture`: one box per layer, a bracket with "x N" under a repeated block and an
    arrow from where a skip connection leaves to its elementwise sum. Boxes wrap after ``per_row``."""
    groups = architecture(model)
    boxes = [(label, g) for g, group in enumerate(groups) for label in group.labels]
    width, rows = min(len(boxes), per_row), math.ceil(len(boxes) / per_row)
    fig = Figure(figsize=(0.72 * width + 0.3, 1.7 * rows + 0.4), layout="constrained")
    ax = fig.subplots()
    spots: dict[int, list[tuple[int, float]]] = {}
    for i, (label, g) in enumerate(boxes):
        x, y = i % per_row, -1.8 * (i // per_row)
        colour = _COLOURS.get(label.split("\n")[0], "#f0f0f0")
        ax.add_patch(Rectangle((x + 0.05, y - 0.5), 0.9, 1.0, facecolor=colour, edgecolor="black", lw=0.7))
        ax.text(x + 0.5, y, label, ha="center", va="center", fontsize=6.5)
        spots.setdefault(g, []).append((x, y))
    for g, group in enumerate(groups):
        (x0, y), x1 = spots[g][0], spots[g][-1][0] + 1
        if group.repeat > 1:
            ax.plot([x0 + 0.05, x0 + 0.05, x1 - 0.05, x1 - 0.05], [y - 0.55, y - 0.65, y - 0.65, y - 0.55],
                    color="black", lw=0.7)
            ax.text((x0 + x1) / 2, y - 0.7, f"x {group.repeat}", ha="center", va="top", fontsize=8)
        if group.skip_from is not None:  # from the input of the skip's first group to this group's sum
            xs, ys = spots[group.skip_from][0]
            ax.annotate("", xy=(x1 - 0.5, y + 0.5), xytext=(xs + 0.05, ys + 0.5), arrowprops={
                "arrowstyle": "->", "connectionstyle": "arc3,rad=-0.25", "lw": 0.8,
                "color": "black" if group.skip_from == g else "C3"})
    ax.set_xlim(-0.1, width + 0.1)
    ax.set_ylim(-1.8 * (rows - 1) - 1.0, 1.7)
    ax.set_axis_off()
    ax.set_title(title or type(model).__name__, fontsize=10)
    return fig


# the SRGAN training graph: box name -> (its text, x, y, colour); arrows between named boxes, some labelled
SRGAN_BOXES = {
    "LR": ("LR", 0.0, 2.0, "#f0f0f0"),
    "G": ("G\n(SRResNet)", 1.5, 2.0, "#9ecae1"),
    "SR": ("SR", 3.0, 2.0, "#f0f0f0"),
    "HR": ("HR", 3.0, 0.0, "#f0f0f0"),
    "D": ("D", 4.7, 3.0, "#fcbba1"),
    "VGG": ("VGG\n(frozen)", 4.7, 1.0, "#c7e9c0"),
    "adversarial loss": ("adversarial loss\n-log D(SR)", 6.6, 3.0, "#fdd0a2"),
    "D loss": ("D loss\nBCE(D(HR), 1) + BCE(D(SR), 0)", 6.6, 4.2, "#fdd0a2"),
    "content loss": ("content loss\nMSE(phi(SR), phi(HR))", 6.6, 1.0, "#fdd0a2"),
    "perceptual loss": ("perceptual loss\ncontent + 1e-3 adversarial", 8.9, 2.0, "#fdd0a2"),
    "G's Adam": ("G's Adam", 8.9, 0.4, "#dadaeb"),
    "D's Adam": ("D's Adam", 8.9, 4.2, "#dadaeb"),
}
SRGAN_ARROWS = (  # (from, to, label); the optimisers' updates of G and D are drawn apart, dashed
    ("LR", "G", ""),
    ("G", "SR", ""),
    ("SR", "D", ""),
    ("HR", "D", ""),
    ("SR", "VGG", ""),
    ("HR", "VGG", ""),
    ("D", "adversarial loss", "D(SR)"),
    ("D", "D loss", "D(HR), D(SR.detach())"),
    ("VGG", "content loss", "phi(SR), phi(HR)"),
    ("adversarial loss", "perceptual loss", ""),
    ("content loss", "perceptual loss", ""),
    ("perceptual loss", "G's Adam", ""),
    ("D loss", "D's Adam", ""),
)


def srgan_graph_figure() -> Figure:
    """The SRGAN training graph: LR -> G -> SR; SR and HR -> D and -> the frozen VGG; D's outputs -> the
    adversarial loss and D's own loss; the VGG features -> the content loss; the perceptual loss -> G's
    optimiser, D's loss -> D's optimiser. The optimisers' updates of G and D are dashed arrows."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax = fig.subplots()
    where = {name: (x, y) for name, (_, x, y, _) in SRGAN_BOXES.items()}
    boxes = {
        name: ax.text(x, y, text, ha="center", va="center", fontsize=8, bbox={
            "boxstyle": "round,pad=0.4", "facecolor": colour, "edgecolor": "black", "lw": 0.7})
        for name, (text, x, y, colour) in SRGAN_BOXES.items()
    }

    def arrow(start: str, end: str, **style: object) -> None:  # clipped to the two boxes' outlines
        ax.annotate("", xy=where[end], xytext=where[start], arrowprops={
            "arrowstyle": "->", "lw": 0.9, "shrinkA": 2, "shrinkB": 2,
            "patchA": boxes[start].get_bbox_patch(), "patchB": boxes[end].get_bbox_patch(), **style})

    for start, end, label in SRGAN_ARROWS:
        arrow(start, end)
        if label:
            (x0, y0), (x1, y1) = where[start], where[end]
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, label, ha="center", va="bottom", fontsize=6.5,
                    color="C3")
    for optimiser, network, bend in (("G's Adam", "G", -0.2), ("D's Adam", "D", 0.3)):
        arrow(optimiser, network, lw=0.8, ls="--", color="C0", connectionstyle=f"arc3,rad={bend}")
    ax.text(1.5, 4.3, "dashed: an optimiser updates its network\n(D's step uses SR.detach(): G is untouched;"
            "\nG's step goes through the frozen D and VGG)", ha="center", va="center", fontsize=7, color="C0")
    ax.set_xlim(-0.6, 10.2)
    ax.set_ylim(-0.4, 4.8)
    ax.set_axis_off()
    ax.set_title("One SRGAN training step: what feeds what", fontsize=10)
    return fig
