"""The training crop sampler: random HR crops of the training images, drawn reproducibly on any device."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor

from srlib.datasets import refuse_benchmark_images
from srlib.errors import UserError
from srlib.images import image_files, load_image


class CropSampler:
    """Random HR crops of in-memory images, each turned by one of the 8 symmetries of the square.

    All images live in one flat uint8 buffer on ``device`` (a quarter of float32's memory), so a batch is
    one gather: no per-crop Python loop, and on a GPU the data never waits on the CPU. Which image, where,
    and which turn come from a private CPU generator seeded with ``seed``: a run draws the same batches on
    any device, and the generator's state goes into checkpoints so a resumed run draws what it would have.
    """

    def __init__(
        self,
        folder: str | Path,
        crop: int,
        seed: int,
        max_images: int | None = None,
        device: str | torch.device = "cpu",
    ):
        files = image_files(folder)
        if max_images is not None:
            if max_images < 1:
                raise UserError(f"max_images must be at least 1, got {max_images}")
            files = files[:max_images]
        refuse_benchmark_images(files)
        self.crop, images, small = crop, [], []
        for path in files:
            img = load_image(path)
            if min(img.shape[-2:]) < crop:
                small.append(path.name)
            else:
                images.append((img * 255).round().to(torch.uint8))
        if not images:
            raise UserError(
                f"{folder}: no image is at least {crop}x{crop} pixels; use a smaller crop or other images"
            )
        if small:
            warnings.warn(
                f"{folder}: skipped {len(small)} image(s) smaller than the {crop}x{crop} crop: "
                + ", ".join(small),
                stacklevel=2,
            )
        sizes = torch.tensor([img.shape[-2:] for img in images])  # (n, 2): height, width
        self.heights, self.widths = sizes[:, 0], sizes[:, 1]
        self.offsets = torch.cumsum(3 * self.heights * self.widths, 0) - 3 * self.heights * self.widths
        self.pixels = torch.cat([img.flatten() for img in images]).to(device)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.heights)

    def sample(self, batch: int) -> Tensor:
        """``batch`` HR crops (batch, 3, crop, crop), uint8, on the sampler's device."""
        c, g = self.crop, self.generator
        idx = torch.randint(len(self), (batch,), generator=g)
        h, w = self.heights[idx], self.widths[idx]
        top = (torch.rand(batch, generator=g, dtype=torch.float64) * (h - c + 1)).long()
        left = (torch.rand(batch, generator=g, dtype=torch.float64) * (w - c + 1)).long()
        turn = torch.randint(8, (batch,), generator=g)  # bits: transpose, flip rows, flip columns
        # draws come from the CPU (the same batches on any device); the index is built where the pixels are
        draws = torch.stack([self.offsets[idx], h, w, top, left, turn]).to(self.pixels.device)
        start, h, w, top, left, turn = (v.view(-1, 1, 1) for v in draws)
        # where output pixel (i, j) of each crop comes from: the window flipped, then transposed
        i = torch.arange(c, device=draws.device).view(1, c, 1)
        j = torch.arange(c, device=draws.device).view(1, 1, c)
        swap, flip_rows, flip_cols = ((turn >> b) & 1 == 1 for b in range(3))
        rows = torch.where(swap, j, i)
        cols = torch.where(swap, i, j)
        rows = torch.where(flip_rows, c - 1 - rows, rows)
        cols = torch.where(flip_cols, c - 1 - cols, cols)
        pixel = (top + rows) * w + left + cols  # (batch, c, c)
        plane = (h * w).unsqueeze(1) * torch.arange(3, device=draws.device).view(1, 3, 1, 1)
        return self.pixels[start.unsqueeze(1) + plane + pixel.unsqueeze(1)]  # (batch, 3, c, c)
