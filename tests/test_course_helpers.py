"""Helpers that the course notebooks use: the checkerboard measure and the figures of notebooks 02 and 03."""

import pytest
import torch

from srlib.errors import UserError
from srlib.imresize import upscale, upscale_nearest
from srlib.metrics import checkerboard_energy
from srlib.plot import compare_curves, moving_average, pixel_shuffle_figure


def fourier_share(x: torch.Tensor, period: int) -> float:
    """Share of the non-DC Fourier energy of a (C, H, W) image at the multiples of 1/period."""
    power = torch.fft.fft2(x.double()).abs() ** 2  # (C, H, W)
    power[:, 0, 0] = 0
    h, w = x.shape[-2:]
    on_grid = power[:, :: h // period, :: w // period]
    return (on_grid.sum() / power.sum()).item()


@pytest.mark.parametrize("period", [2, 4])
def test_equals_the_fourier_energy_at_multiples_of_the_cell_frequency(period):
    x = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0))
    assert checkerboard_energy(x, period).item() == pytest.approx(fourier_share(x, period), rel=1e-9)


def test_pure_checkerboard_scores_one_and_nearest_upsampling_zero():
    yy, xx = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    board = ((yy + xx) % 2).float().expand(3, 16, 16)
    assert checkerboard_energy(board, 2).item() == pytest.approx(1.0)
    lr = torch.rand(3, 10, 10, generator=torch.Generator().manual_seed(1))
    assert checkerboard_energy(upscale_nearest(lr, 4), 4).item() == pytest.approx(0.0, abs=1e-12)
    assert checkerboard_energy(upscale_nearest(lr, 4), 2).item() == pytest.approx(0.0, abs=1e-12)
    # a checkerboard added to a smooth image shows up; bicubic upsampling alone hardly does
    smooth = upscale(lr[None], 4, "bicubic")[0]
    assert checkerboard_energy(smooth, 2).item() < 0.05
    yy, xx = torch.meshgrid(torch.arange(40), torch.arange(40), indexing="ij")
    assert checkerboard_energy(smooth + 0.5 * ((yy + xx) % 2), 2).item() > 0.5


def test_batches_shapes_and_edge_cases():
    x = torch.rand(5, 3, 18, 18, generator=torch.Generator().manual_seed(2))
    batch = checkerboard_energy(x, 4)
    assert batch.shape == (5,)
    # rows and columns past the last whole cell are left out
    assert batch[1].item() == pytest.approx(checkerboard_energy(x[1, :, :16, :16], 4).item())
    assert checkerboard_energy(x[0], 4).shape == ()
    assert checkerboard_energy(torch.full((3, 8, 8), 0.3), 2).item() == 0.0
    assert checkerboard_energy(x, 1).abs().max().item() == 0.0  # a period of one pixel repeats nothing
    with pytest.raises(UserError, match="smaller than one"):
        checkerboard_energy(torch.rand(3, 3, 8), 4)
    with pytest.raises(ValueError):
        checkerboard_energy(torch.rand(8, 8), 2)


def test_moving_average_is_a_trailing_mean_of_the_same_length():
    assert moving_average([1, 3, 5, 7], 2) == [1.0, 2.0, 4.0, 6.0]
    assert moving_average([2.0, 4.0], 1) == [2.0, 4.0]
    assert moving_average([1, 2, 3], 10) == [1.0, 1.5, 2.0]
    assert moving_average([], 3) == []
    with pytest.raises(ValueError):
        moving_average([1.0], 0)


def test_compare_curves_draws_every_key_and_reference(tmp_path):
    history = {"step": [1, 2, 3], "plain": [20.0, 21.0, 21.5], "residual": [22.0, 24.0, 25.0]}
    fig = compare_curves(history, smooth=1, references={"bicubic": 23.0}, ylabel="PSNR (dB)")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["plain", "residual", "bicubic"]
    smoothed = compare_curves(history, keys=["residual"], smooth=2, path=tmp_path / "c.png")
    lines = smoothed.axes[0].get_lines()
    assert len(lines) == 2  # the raw curve faintly, then the smoothed one
    assert list(lines[1].get_ydata()) == [22.0, 23.0, 24.5]
    assert (tmp_path / "c.png").stat().st_size > 0


@pytest.mark.parametrize("r,h,w", [(2, 3, 3), (3, 2, 4)])
def test_pixel_shuffle_figure_shows_what_pixel_shuffle_does(r, h, w):
    fig = pixel_shuffle_figure(r, h, w)
    assert len(fig.axes) == r * r + 1
    big = fig.axes[-1]
    numbers = [int(t.get_text()) for t in big.texts]
    expected = torch.nn.PixelShuffle(r)(torch.arange(r * r * h * w).view(1, r * r, h, w).float())
    assert numbers == expected.flatten().long().tolist()  # texts are drawn in reading order
    for m, ax in enumerate(fig.axes[:-1]):
        assert [int(t.get_text()) for t in ax.texts] == list(range(m * h * w, (m + 1) * h * w))
