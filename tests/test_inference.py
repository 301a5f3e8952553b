"""Running a generator: whole and tiled inference, image files of every kind, devices."""

import numpy as np
import pytest
import torch
from PIL import Image

from srlib.errors import UserError
from srlib.imresize import upscale
from srlib.inference import as_upscaler, pick_device, receptive_radius, upscale_file, upscale_image
from srlib.models import SRResNet


@pytest.fixture
def model() -> SRResNet:
    """A small SRResNet whose BatchNorm statistics are not the identity, as after training."""
    torch.manual_seed(0)
    model = SRResNet(scale=4, n_blocks=2, channels=8)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_tiled_inference_equals_whole_image_inference_when_the_overlap_covers_the_receptive_field(model):
    lr = torch.rand(3, 29, 37)
    whole = upscale_image(model, lr)
    tiled = upscale_image(model, lr, tile=8, overlap=receptive_radius(model))
    assert tiled.shape == whole.shape == (3, 4 * 29, 4 * 37)
    assert (tiled - whole).abs().max() < 1e-5
    seams = upscale_image(model, lr, tile=8, overlap=0)  # without context the tile borders show
    assert (seams - whole).abs().max() > 1e-3


def test_an_lr_pixel_changes_no_sr_pixel_beyond_the_receptive_radius(model):
    lr = torch.rand(3, 40, 40)
    poked = lr.clone()
    poked[:, 20, 20] += 0.5
    changed = (upscale_image(model, poked) - upscale_image(model, lr)).abs().amax(dim=0) > 0
    rows, cols = changed.nonzero(as_tuple=True)
    r, s = receptive_radius(model), model.scale
    assert s * (20 - r) <= rows.min() and rows.max() < s * (21 + r)
    assert s * (20 - r) <= cols.min() and cols.max() < s * (21 + r)
    assert rows.max() - rows.min() > s * r  # and it does reach that far (more than half the window)


def test_upscale_image_returns_values_in_01_and_restores_the_training_mode(model):
    model.train()
    sr = upscale_image(model, torch.rand(3, 6, 7))
    assert sr.shape == (3, 24, 28) and 0 <= sr.min() and sr.max() <= 1
    assert model.training


def test_upscale_image_rejects_a_batch_and_a_bad_tile(model):
    with pytest.raises(UserError, match=r"one RGB image \(3, h, w\)"):
        upscale_image(model, torch.rand(1, 3, 6, 6))
    with pytest.raises(UserError, match="tile must be >= 1"):
        upscale_image(model, torch.rand(3, 6, 6), tile=0)


def test_as_upscaler_maps_an_lr_batch_to_an_sr_batch_in_01(model):
    sr = as_upscaler(model.train())(torch.rand(2, 3, 5, 6))
    assert sr.shape == (2, 3, 20, 24) and 0 <= sr.min() and sr.max() <= 1
    assert not model.training  # evaluation runs BatchNorm on its running statistics


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA"])
def test_upscale_file_keeps_grey_and_alpha(model, tmp_path, mode):
    rng = np.random.default_rng(0)
    channels = len(mode)
    pixels = rng.integers(0, 256, (9, 11, channels), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(2) if channels == 1 else pixels).convert(mode).save(tmp_path / "in.png")
    out = upscale_file(model, tmp_path / "in.png", tmp_path / "out", tile=4)
    assert out == tmp_path / "out" / "in_x4.png"
    with Image.open(out) as img:
        assert img.mode == mode and img.size == (44, 36)
        result = np.asarray(img)
    if mode.endswith("A"):  # alpha is upscaled with bicubic interpolation, not by the network
        alpha = torch.from_numpy(pixels[..., -1].astype(np.float32) / 255)[None]
        expected = (upscale(alpha, 4, "bicubic")[0] * 255).round().numpy()
        assert np.array_equal(result[..., -1], expected)


def test_an_unreadable_input_is_a_user_error(model, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="bad.png: not a readable image"):
        upscale_file(model, tmp_path / "bad.png", tmp_path / "out")


def test_pick_device_takes_a_name_and_refuses_unknown_ones():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device() in {torch.device("cuda"), torch.device("mps"), torch.device("cpu")}
    with pytest.raises(UserError, match="unknown device 'gpu0'"):
        pick_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_pick_device_refuses_cuda_where_there_is_none():
    with pytest.raises(UserError, match="no CUDA GPU; use --device cpu"):
        pick_device("cuda")
