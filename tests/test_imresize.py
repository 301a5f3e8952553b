import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from srlib.datasets import benchmark_pairs, registry
from srlib.images import load_image, modcrop
from srlib.imresize import (
    cubic,
    imresize,
    make_lr,
    resize_matrix,
    resize_pil,
    upscale,
    upscale_nearest,
)


def test_cubic_kernel_is_interpolating_and_sums_to_one():
    t = torch.arange(-3, 4, dtype=torch.float64)
    assert torch.equal(cubic(t), (t == 0).double())  # 1 at 0, 0 at the other integers
    for shift in (0.1, 0.37, 0.5):
        assert cubic(torch.arange(-2, 3, dtype=torch.float64) + shift).sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("in_size,out_size,scale", [(16, 4, 0.25), (7, 28, 4.0), (10, 3, 0.25), (5, 5, 1.0)])
def test_resize_matrix_rows_are_normalised_weights(in_size, out_size, scale):
    m = resize_matrix(in_size, out_size, scale)
    assert m.shape == (out_size, in_size)
    assert torch.allclose(m.sum(dim=1), torch.ones(out_size, dtype=torch.float64))


def test_output_size_follows_matlab_ceil_rule():
    x = torch.rand(3, 10, 7)
    assert imresize(x, 0.25).shape == (3, 3, 2)  # ceil(2.5), ceil(1.75)
    assert imresize(x, size=(5, 9)).shape == (3, 5, 9)


@settings(max_examples=20, deadline=None)
@given(h=st.integers(2, 20), w=st.integers(2, 20), seed=st.integers(0, 2**16))
def test_scale_one_is_identity(h, w, seed):
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert torch.allclose(imresize(x, 1.0), x)


@pytest.mark.parametrize("scale", [0.25, 0.5, 2.0, 4.0])
def test_constant_image_stays_constant(scale):
    x = torch.full((1, 3, 12, 16), 0.3)
    assert torch.allclose(imresize(x, scale), torch.full_like(imresize(x, scale), 0.3), atol=1e-6)


def test_batched_equals_one_image_at_a_time():
    x = torch.rand(3, 3, 20, 24)
    batched = imresize(x, 0.25)
    for i in range(3):
        assert torch.allclose(batched[i], imresize(x[i], 0.25), atol=1e-6)


def test_downscale_agrees_with_pil_antialiased_bicubic_inside_the_border():
    # PIL uses the same a = -0.5 kernel stretched for antialiasing; only the borders are handled differently.
    rng = np.random.default_rng(0)
    arr = (rng.random((64, 64, 3)) * 255).round().astype(np.uint8)
    x = torch.from_numpy(arr.astype(np.float32) / 255).permute(2, 0, 1)
    ours = (imresize(x, 0.5).clamp(0, 1) * 255).round()
    pil = resize_pil(x, 0.5) * 255
    inner = (slice(None), slice(4, -4), slice(4, -4))
    assert (ours[inner] - pil[inner]).abs().max().item() <= 1.0


def test_bilinear_upscale_reproduces_a_linear_ramp_inside():
    ramp = torch.linspace(0, 1, 16).repeat(3, 16, 1)  # (3, 16, 16), values rise along x
    up = imresize(ramp, 4.0, kernel="linear")
    row = up[0, 20, 8:-8]
    assert torch.allclose(row.diff(), torch.full_like(row.diff(), row.diff().mean()), atol=1e-6)


def test_nearest_makes_blocks_and_matches_torch_and_pil():
    x = torch.rand(1, 3, 5, 7)
    up = upscale_nearest(x, 4)
    assert up.shape == (1, 3, 20, 28)
    assert torch.equal(up[..., 8:12, 12:16], x[..., 2:3, 3:4].expand(1, 3, 4, 4))
    assert torch.equal(up, F.interpolate(x, scale_factor=4, mode="nearest"))
    pil = resize_pil(x[0], 4, Image.NEAREST)
    assert torch.allclose(up[0], pil, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("method", ["nearest", "bilinear", "bicubic"])
def test_upscale_methods_keep_range_and_size(method):
    x = torch.rand(2, 3, 6, 9)
    y = upscale(x, 4, method)
    assert y.shape == (2, 3, 24, 36)
    assert y.min() >= 0 and y.max() <= 1


def test_bicubic_upscale_restores_a_smooth_image_better_than_nearest():
    yy, xx = torch.meshgrid(torch.linspace(0, 3, 64), torch.linspace(0, 3, 64), indexing="ij")
    hr = (0.5 + 0.4 * torch.sin(xx) * torch.cos(yy)).expand(1, 3, 64, 64)
    lr = imresize(hr, 0.25)
    err = {m: (upscale(lr, 4, m) - hr)[..., 8:-8, 8:-8].abs().mean().item() for m in ("nearest", "bicubic")}
    assert err["bicubic"] < err["nearest"] / 2


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="exactly one"):
        imresize(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="float tensor"):
        imresize(torch.zeros(3, 8, 8, dtype=torch.uint8), 0.5)
    with pytest.raises(ValueError, match="unknown kernel"):
        imresize(torch.rand(3, 8, 8), 0.5, kernel="lanczos")
    with pytest.raises(ValueError, match="unknown border"):
        imresize(torch.rand(3, 8, 8), 0.5, border="wrap")
    with pytest.raises(ValueError, match="unknown method"):
        upscale(torch.rand(3, 8, 8), 2, "spline")


# Crops of Set5's butterfly (img_003) and of its MATLAB-made x4 LR file, committed in tests/golden/ so that
# MATLAB fidelity is tested without the datasets; tests/golden/README.md says how they were made.
GOLDEN = Path(__file__).parent / "golden" / "set5_img_003_x4_crop.npz"
CORNER = Path(__file__).parent / "golden" / "set5_img_003_x4_corner.npz"
GOLDEN_FILES = (
    "benchmarks/Set5/HR/img_003_SRF_4_HR.png",
    "benchmarks/Set5/LR_bicubic/X4/img_003_SRF_4_LR.png",
)
LR_TOP, LR_LEFT, LR_SIZE = 4, 27, 8  # the LR crop: rows 4-11, columns 27-34 of the 64x64 LR image
MARGIN = 2  # LR pixels around it whose HR pixels the crop also holds: the x4 kernel reaches 8 HR pixels out
CORNER_LR, CORNER_HR = 4, 24  # the top-left 4x4 LR pixels depend on the top-left 22x22 HR pixels only


def golden_crop(hr: np.ndarray, lr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The golden arrays from the whole (H, W, 3) uint8 images: LR rows/columns [LR_TOP, LR_TOP + 8) x
    [LR_LEFT, LR_LEFT + 8), and the HR pixels of those rows/columns widened by MARGIN LR pixels (48 x 48)."""
    top, left, end_top, end_left = (
        4 * (LR_TOP - MARGIN),
        4 * (LR_LEFT - MARGIN),
        4 * (LR_TOP + LR_SIZE + MARGIN),
        4 * (LR_LEFT + LR_SIZE + MARGIN),
    )
    lr_crop = lr[LR_TOP : LR_TOP + LR_SIZE, LR_LEFT : LR_LEFT + LR_SIZE]
    return hr[top:end_top, left:end_left], lr_crop


def corner_crop(hr: np.ndarray, lr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The corner arrays from the whole images: the top-left 24 x 24 HR and 4 x 4 LR pixels."""
    return hr[:CORNER_HR, :CORNER_HR], lr[:CORNER_LR, :CORNER_LR]


def load_golden(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """A golden file's (3, h, w) HR and MATLAB LR crops, as float64 grey levels 0-255."""
    with np.load(path) as g:
        return tuple(torch.from_numpy(g[k]).permute(2, 0, 1).double() for k in ("hr", "lr"))


@pytest.fixture(scope="module")
def golden() -> tuple[torch.Tensor, torch.Tensor]:
    """The committed (3, 48, 48) HR crop and (3, 8, 8) MATLAB LR crop."""
    return load_golden(GOLDEN)


def test_imresize_agrees_with_matlab_on_the_golden_crop(golden):
    """Our one-pass float imresize of the HR crop is within one grey level of MATLAB's LR on every pixel.

    The inner 8 x 8 pixels' kernels lie wholly inside the crop, so borders play no part.
    """
    hr, matlab = golden
    ours = imresize(hr / 255, 0.25)[:, MARGIN:-MARGIN, MARGIN:-MARGIN] * 255
    assert (ours - matlab).abs().max() < 1
    assert (ours.round() == matlab).double().mean() > 0.85


def test_make_lr_gives_matlabs_lr_exactly_on_the_golden_crop(golden):
    """MATLAB resizes uint8 images one axis at a time, rows first, rounding to uint8 after each pass: so does
    `make_lr`, and it gives every value of MATLAB's LR crop (one float pass, or columns first, would not)."""
    hr, matlab = golden
    ours = make_lr(hr / 255, 4)[:, MARGIN:-MARGIN, MARGIN:-MARGIN] * 255
    assert torch.equal(ours.round(), matlab)


def test_make_lr_repeats_the_edge_pixel_past_the_border_as_the_benchmark_files_do():
    """The top-left corner of the butterfly: its first two LR rows and columns reach past the image's edge,
    where the MATLAB that made the files repeated the edge pixel; mirroring there misses 14 of 48 values."""
    hr, matlab = load_golden(CORNER)
    ours = make_lr(hr / 255, 4)[:, :CORNER_LR, :CORNER_LR] * 255
    assert torch.equal(ours.round(), matlab)


def test_make_lr_keeps_the_batch_shape_and_gives_8_bit_levels():
    hr = (torch.rand(2, 3, 20, 17, generator=torch.Generator().manual_seed(0)) * 255).round() / 255
    lr = make_lr(hr, 4)
    assert lr.shape == (2, 3, 5, 5) and lr.dtype == hr.dtype
    assert torch.equal(lr[1], make_lr(hr[1], 4))
    assert torch.equal(lr * 255, (lr * 255).round())
    float_lr = make_lr(hr, 4, quantize_lr=False)
    assert not torch.equal(float_lr * 255, (float_lr * 255).round())
    assert (float_lr * 255 - lr * 255).abs().max() <= 1  # rounding twice moves a value by at most 1 level


def test_make_lr_gives_every_value_of_the_set5_and_set14_lr_files(data_root):
    """All 19 Set5 and Set14 x4 LR files, every value (scripts/lr_match.py also counts BSD100: 100/100).

    The issue asked for at least 98.5% equal values; the rule of `make_lr` gives all of them, so any
    difference fails: one float pass gives 88.87%, mirrored borders 98.78%, torch's half-to-even rounding
    99.96% (measured with scripts/lr_match.py on those variants).
    """
    for name in ("Set5", "Set14"):
        for image, hr_path, lr_path in benchmark_pairs(name):
            ours = (make_lr(modcrop(load_image(hr_path), 4), 4) * 255).round()
            matlab = (load_image(lr_path) * 255).round()
            assert torch.equal(ours, matlab), f"{name} {image}: {(ours != matlab).sum()} values differ"


def test_golden_crops_are_the_stated_crops_of_the_registry_files(data_root):
    """tests/golden/ holds what `golden_crop` and `corner_crop` cut from the registry's Set5 files, checked by
    sha256."""
    images = []
    for path in GOLDEN_FILES:
        local = data_root / path
        assert hashlib.sha256(local.read_bytes()).hexdigest() == registry()[path].sha256
        images.append(np.asarray(Image.open(local).convert("RGB")))
    for cut, path in ((golden_crop, GOLDEN), (corner_crop, CORNER)):
        hr, lr = cut(*images)
        with np.load(path) as g:
            assert np.array_equal(g["hr"], hr) and np.array_equal(g["lr"], lr)
