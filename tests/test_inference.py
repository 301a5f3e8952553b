"""Running a generator: whole and tiled inference, image files of every kind, devices."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from srlib import inference
from srlib.errors import UserError
from srlib.imresize import upscale
from srlib.inference import (
    InferenceSRResNet,
    as_upscaler,
    auto_tiles,
    conv_before_shuffle,
    receptive_radius,
    upscale_image,
)
from srlib.models import SRResNet
from srlib.runtime import pick_device
from srlib.upscale_files import upscale_file


def trained_looking(scale: int = 4) -> SRResNet:
    """A small SRResNet whose BatchNorm statistics are not the identity, as after training."""
    torch.manual_seed(0)
    model = SRResNet(scale=scale, n_blocks=2, channels=8)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    for m in model.modules():
        if isinstance(m, torch.nn.PReLU):
            m.weight.data.uniform_(0.1, 0.4)  # a slope of its own per PReLU, so that mixing them up shows
    return model.eval()


@pytest.fixture
def model() -> SRResNet:
    return trained_looking()


def whole_image(model: SRResNet, lr: torch.Tensor) -> torch.Tensor:
    """The plain model in eval mode on the whole image: what every faster path must reproduce."""
    with torch.no_grad():
        return ((model.eval()(lr[None])[0] + 1) / 2).clamp(0, 1)


def test_tiled_inference_equals_whole_image_inference_with_the_default_overlap(model):
    lr = torch.rand(3, 29, 37)
    whole = whole_image(model, lr)
    tiled = upscale_image(model, lr, tile=8)
    assert tiled.shape == whole.shape == (3, 4 * 29, 4 * 37)
    assert (tiled - whole).abs().max() < 1e-5  # float rounding: the convs sum in another order
    with pytest.warns(UserWarning, match="far below the receptive radius 12"):
        seams = upscale_image(model, lr, tile=8, overlap=0)  # without context the tile borders show
    assert (seams - whole).abs().max() > 1e-3


def test_upscale_image_picks_tiles_for_a_large_image_and_still_equals_whole_image_inference(
    model, monkeypatch
):
    monkeypatch.setattr(inference, "AUTO_PIECE_PIXELS", 40 * 40)  # "large" for the test: above 1600 pixels
    assert auto_tiles(40, 40, 12) == (1, 1)  # fits in one piece: whole
    assert auto_tiles(41, 40, 12) == (2, 1)  # two rows of tiles, pieces of 21 + 12 = 33 rows; 40 columns fit
    # 28 + 12 = 40 rows fit; columns: 29 + 12 = 41 and 19 + 2 * 12 = 43 do not fit, 15 + 2 * 12 = 39 does
    assert auto_tiles(56, 57, 12) == (2, 4)
    pieces = []
    monkeypatch.setattr(InferenceSRResNet, "forward", lambda self, x: pieces.append(x.shape) or self.net(x))
    lr = torch.rand(3, 56, 57)
    tiled = upscale_image(model, lr)
    assert len(pieces) == 2 * 4 and max(h * w for *_, h, w in pieces) <= 40 * 40
    assert (tiled - whole_image(model, lr)).abs().max() < 1e-5


@pytest.mark.parametrize(("scale", "band_pixels"), [(2, 256**2), (4, 256**2), (8, 256**2), (4, 60)])
def test_the_inference_form_computes_what_the_model_in_eval_mode_computes(scale, band_pixels, monkeypatch):
    monkeypatch.setattr(inference, "BAND_PIXELS", band_pixels)  # 60: the last stage runs in bands of 3 rows
    model = trained_looking(scale).train()
    lr = torch.rand(2, 3, 13, 11)
    with torch.no_grad():
        got = InferenceSRResNet(model)(lr)
        expected = model.eval()(lr)
    assert got.shape == expected.shape == (2, 3, 13 * scale, 11 * scale)
    assert (got - expected).abs().max() < 1e-5


@pytest.mark.parametrize(("k", "r"), [(9, 2), (3, 2), (5, 3)])
def test_a_conv_after_a_pixel_shuffle_equals_its_conv_before_shuffle_then_the_shuffle(k, r):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 3, k, padding=k // 2)
    x = torch.randn(2, 4 * r * r, 7, 6)
    with torch.no_grad():
        after = conv(F.pixel_shuffle(x, r))
        before = F.pixel_shuffle(conv_before_shuffle(conv, r)(x), r)
    assert (after - before).abs().max() < 1e-5


def test_an_lr_pixel_changes_no_sr_pixel_beyond_the_receptive_radius(model):
    lr = torch.rand(3, 40, 40)
    poked = lr.clone()
    pixel = poked[:, 20, 20]
    poked[:, 20, 20] = torch.where(pixel < 0.5, pixel + 0.5, pixel - 0.5)  # by 0.5, staying in [0, 1]
    changed = (upscale_image(model, poked) - upscale_image(model, lr)).abs().amax(dim=0) > 0
    rows, cols = changed.nonzero(as_tuple=True)
    r, s = receptive_radius(model), model.scale
    assert s * (20 - r) <= rows.min() and rows.max() < s * (21 + r)
    assert s * (20 - r) <= cols.min() and cols.max() < s * (21 + r)
    # and it reaches beyond r - 1 LR pixels, so that no smaller overlap would be exact
    assert rows.min() < s * (20 - (r - 1)) and rows.max() >= s * (21 + r - 1)


def test_the_receptive_radius_is_40_lr_pixels_for_the_papers_generator():
    assert receptive_radius(SRResNet(scale=4, n_blocks=16)) == 40  # 39.5, rounded up
    assert receptive_radius(SRResNet(scale=2, n_blocks=16)) == 40


def test_upscale_image_returns_values_in_01_and_leaves_the_model_as_it_was(model):
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sr = upscale_image(model, torch.rand(3, 6, 7))
    assert sr.shape == (3, 24, 28) and 0 <= sr.min() and sr.max() <= 1
    assert model.training and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_upscale_image_rejects_a_batch_and_a_bad_tile(model):
    with pytest.raises(UserError, match=r"one RGB image \(3, h, w\)"):
        upscale_image(model, torch.rand(1, 3, 6, 6))
    with pytest.raises(UserError, match="tile must be >= 1"):
        upscale_image(model, torch.rand(3, 6, 6), tile=0)


def test_as_upscaler_maps_an_lr_batch_to_an_sr_batch_in_01_with_the_running_statistics(model):
    lr = torch.rand(2, 3, 16, 17)  # MIN_SIDE: smaller images are edge-padded first
    sr = as_upscaler(model.train())(lr)
    assert sr.shape == (2, 3, 64, 68) and 0 <= sr.min() and sr.max() <= 1
    assert (sr[1] - whole_image(model, lr[1])).abs().max() < 1e-5  # eval mode: BatchNorm's running statistics


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


def test_srlib_upscale_tiles_a_large_image_by_itself_and_writes_the_whole_image_result(
    model, tmp_path, monkeypatch, capsys
):
    from srlib.cli import main
    from srlib.images import load_image, save_image
    from srlib.weights import save_generator

    monkeypatch.setattr(inference, "AUTO_PIECE_PIXELS", 30 * 30)  # "large" for the test
    pieces = []
    forward = InferenceSRResNet.forward
    monkeypatch.setattr(
        InferenceSRResNet, "forward", lambda self, x: pieces.append(x.shape) or forward(self, x)
    )
    weights = save_generator(model, tmp_path / "g.safetensors")
    save_image(torch.rand(3, 34, 40), tmp_path / "in.png")
    assert main(["upscale", str(tmp_path / "in.png"), "--weights", str(weights), "--out", str(tmp_path)]) == 0
    assert len(pieces) > 1
    got = load_image(tmp_path / "in_x4.png")
    expected = (whole_image(model, load_image(tmp_path / "in.png")) * 255).round() / 255
    assert got.shape == expected.shape == (3, 136, 160)
    # 8-bit values: a rounding difference of 1e-6 can flip a grey level where a value sits on a .5
    assert (got - expected).abs().max() <= 1 / 255 + 1e-6 and (
        (got - expected).abs() > 1e-6
    ).float().mean() < 1e-3
