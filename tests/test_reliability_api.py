"""Bad input through the Python API: a one-line `UserError` naming the argument, never another exception, a
NaN passed through, or a wrong number.

Every case is one row of `CASES`: what is called (on small tensors), and a fragment of the expected message.
The CLI's rows are in tests/test_reliability.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import safetensors.torch
import torch

from srlib import course
from srlib.errors import UserError
from srlib.evaluate import baseline
from srlib.images import load_image, save_image
from srlib.imresize import imresize, quantize, upscale_nearest
from srlib.inference import upscale_image
from srlib.interpolate import interpolate_models
from srlib.losses import discriminator_loss
from srlib.metrics import checkerboard_energy, gradient_magnitude, high_frequency_share, psnr, rgb_to_y, ssim
from srlib.models import Discriminator, SRResNet
from srlib.niqe import niqe
from srlib.profiles import get_profile
from srlib.train import TrainConfig, make_trainer
from srlib.weights import load_generator, load_pretrained, save_generator

NAN = float("nan")


def tiny() -> SRResNet:
    torch.manual_seed(0)
    return SRResNet(4, 1, 8).eval()


def image(h: int = 16, w: int = 16, fill: float | None = None) -> torch.Tensor:
    x = torch.rand(3, h, w, generator=torch.Generator().manual_seed(0))
    return x if fill is None else x.fill_(fill)


def with_nan(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    x[0, 1, 1] = NAN
    return x


def no_gpu(call):
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: device='cuda' works")
    return call()


CASES = [
    # imresize: sizes and scales that cannot make an image, or would fill the memory
    ("imresize scale 1e-9", lambda t: imresize(image(), 1e-9), "shrinks the 16x16 image below one pixel"),
    ("imresize scale 1e-6", lambda t: imresize(image(), 1e-6), "below one pixel"),
    ("imresize scale 1e-300", lambda t: imresize(image(), 1e-300), "below one pixel"),
    ("imresize scale 1e300", lambda t: imresize(image(), 1e300), "more than the"),
    ("imresize size of floats", lambda t: imresize(image(), size=(2.5, 3)), "size must be two whole"),
    ("imresize size of one number", lambda t: imresize(image(), size=8), "size must be two whole"),
    ("imresize size 0", lambda t: imresize(image(), size=(0, 3)), "of at least 1"),
    ("imresize NaN", lambda t: imresize(with_nan(image()), 2), "holds NaN or inf"),
    ("imresize inf", lambda t: imresize(image(fill=math.inf), 0.5), "holds NaN or inf"),
    # upscale_image
    ("upscale_image overlap 2.5", lambda t: upscale_image(tiny(), image(), overlap=2.5), "overlap=2.5"),
    ("upscale_image tile 2.5", lambda t: upscale_image(tiny(), image(), tile=2.5), "tile=2.5"),
    ("upscale_image overlap True", lambda t: upscale_image(tiny(), image(), overlap=True), "overlap=True"),
    ("upscale_image NaN", lambda t: upscale_image(tiny(), with_nan(image())), "holds NaN or inf"),
    # metrics: floats on a 0-255 scale, NaN, 8-bit tensors
    ("psnr 0-255 floats", lambda t: psnr(image() * 255, image() * 255), "divide an image on a 0-255"),
    ("ssim 0-255 floats", lambda t: ssim(image() * 255, image() * 255), "divide an image on a 0-255"),
    ("psnr NaN", lambda t: psnr(with_nan(image()), image()), "holds NaN or inf"),
    ("ssim NaN", lambda t: ssim(image(), with_nan(image())), "holds NaN or inf"),
    ("psnr border 1.5", lambda t: psnr(image(), image(), border=1.5), "border must be"),
    ("niqe uint8", lambda t: niqe((image(200, 200) * 255).byte()), "divide 8-bit images by 255"),
    ("niqe NaN", lambda t: niqe(with_nan(image(200, 200))), "holds NaN or inf"),
    ("niqe 0-255 floats", lambda t: niqe(image(200, 200) * 255), "divide an image on a 0-255"),
    ("niqe (2, H, W)", lambda t: niqe(torch.rand(2, 200, 200)), "expected (3, H, W)"),
    ("niqe border -1", lambda t: niqe(image(200, 200), border=-1), "border must be"),
    # save_image
    ("save_image uint8", lambda t: save_image((image() * 255).byte(), t / "a.png"), "divide 8-bit"),
    ("save_image NaN", lambda t: save_image(with_nan(image()), t / "a.png"), "holds NaN or inf"),
    ("save_image 0-255 floats", lambda t: save_image(image() * 255, t / "a.png"), "0-255 scale"),
    ("save_image (1, H, W)", lambda t: save_image(torch.rand(1, 4, 4), t / "a.png"), "got (1, 4, 4)"),
    ("save_image empty", lambda t: save_image(torch.rand(3, 0, 4), t / "a.png"), "got (3, 0, 4)"),
    ("save_image a list", lambda t: save_image([[0.5]], t / "a.png"), "got list"),
    ("save_image no suffix", lambda t: save_image(image(), t / "a"), "unknown image suffix ''"),
    ("save_image .partial", lambda t: save_image(image(), t / "a.partial"), "suffix '.partial'"),
    # models and weights
    ("SRResNet scale 4.0", lambda t: SRResNet(4.0, 1, 8), "not 4.0"),
    ("SRResNet scale True", lambda t: SRResNet(True, 1, 8), "not True"),
    ("SRResNet n_blocks -1", lambda t: SRResNet(n_blocks=-1), "n_blocks must be a whole number from 0"),
    ("SRResNet n_blocks 2.0", lambda t: SRResNet(4, 2.0, 8), "got 2.0"),
    ("SRResNet channels 0", lambda t: SRResNet(channels=0), "channels must be a whole number from 1"),
    ("SRResNet channels 1e5", lambda t: SRResNet(channels=100_000), "to 1024"),
    (
        "load_pretrained on a missing GPU",
        lambda t: no_gpu(lambda: load_pretrained("srresnet_x4", "cuda")),
        "CUDA",
    ),
    (
        "load_generator device 'gpu0'",
        lambda t: load_pretrained("srresnet_x4", "gpu0"),
        "unknown device 'gpu0'",
    ),
    # the course's helpers
    (
        "train_config chunks 0",
        lambda t: course.train_config(get_profile("smoke"), t, chunks=0),
        "chunks must",
    ),
    (
        "train_config chunks 1.5",
        lambda t: course.train_config(get_profile("smoke"), t, chunks=1.5),
        "got 1.5",
    ),
    ("saved_step on a junk file", lambda t: course.saved_step(junk_run(t)), "unreadable checkpoint"),
    # --- our own audit: types, dtypes, devices, huge values ---
    ("imresize a numpy array", lambda t: imresize(image().numpy(), 0.5), "must be a Tensor, got ndarray"),
    ("imresize kernel a list", lambda t: imresize(image(), 2, kernel=["cubic"]), "unknown kernel"),
    ("imresize on the meta device", lambda t: imresize(torch.rand(3, 4, 4, device="meta"), 2), "meta device"),
    ("upscale_nearest x1e9", lambda t: upscale_nearest(image(), 10**9), "more than the"),
    ("upscale_nearest x1e30", lambda t: upscale_nearest(image(), 10**30), "more than the"),
    ("upscale_nearest NaN", lambda t: upscale_nearest(with_nan(image()), 2), "holds NaN or inf"),
    ("quantize uint8", lambda t: quantize((image() * 255).byte()), "divide 8-bit"),
    ("upscale_image model None", lambda t: upscale_image(None, image()), "the model must be a SRResNet"),
    (
        "upscale_image a Discriminator",
        lambda t: upscale_image(Discriminator(base=4), image()),
        "got Discriminator",
    ),
    ("upscale_image 0-255 floats", lambda t: upscale_image(tiny(), image() * 255), "0-255 scale"),
    ("upscale_image below 0", lambda t: upscale_image(tiny(), image() - 5), "0-255 scale"),
    ("psnr a list", lambda t: psnr([1.0], [1.0]), "the SR image must be a Tensor"),
    ("psnr y_only None", lambda t: psnr(image(), image(), y_only=None), "y_only must be a bool"),
    ("rgb_to_y 2 channels", lambda t: rgb_to_y(torch.rand(2, 4, 4)), "expected float RGB images"),
    ("rgb_to_y uint8", lambda t: rgb_to_y((image() * 255).byte()), "divide 8-bit"),
    ("gradient_magnitude uint8", lambda t: gradient_magnitude((image() * 255).byte()), "divide 8-bit"),
    ("checkerboard_energy period 0", lambda t: checkerboard_energy(image(), 0), "period >= 1"),
    ("checkerboard_energy period 2.5", lambda t: checkerboard_energy(image(), 2.5), "period >= 1"),
    ("high_frequency_share scale 0", lambda t: high_frequency_share(image(), 0), "scale must be"),
    ("save_image path None", lambda t: save_image(image(), None), "the path must be a str or PathLike"),
    (
        "save_image 1x70000 WebP",
        lambda t: save_image(torch.rand(3, 1, 70000), t / "a.webp"),
        "WEBP cannot hold",
    ),
    ("save_image onto a folder", lambda t: save_image(image(), folder(t / "a.png")), "is a folder"),
    ("load_image None", lambda t: load_image(None), "the path must be"),
    ("Discriminator base 0", lambda t: Discriminator(base=0), "base must be a whole number from 1"),
    ("Discriminator base 1e6", lambda t: Discriminator(base=10**6), "to 1024"),
    ("Discriminator in_channels 0", lambda t: Discriminator(in_channels=0), "in_channels must be"),
    ("save_generator a Discriminator", lambda t: save_generator(Discriminator(base=4), t / "a"), "SRResNet"),
    ("save_generator NaN weights", lambda t: save_generator(nan_model(), t / "a.safetensors"), "NaN or inf"),
    ("save_generator onto a folder", lambda t: save_generator(tiny(), folder(t / "a")), "is a folder"),
    ("load_generator None", lambda t: load_generator(None), "the weights file must be"),
    ("interpolate alpha '0.5'", lambda t: interpolate_models(tiny(), tiny(), "0.5"), "got '0.5'"),
    ("interpolate alpha True", lambda t: interpolate_models(tiny(), tiny(), True), "got True"),
    (
        "discriminator_loss real_label 2",
        lambda t: discriminator_loss(torch.ones(2), torch.ones(2), 2.0),
        "(0.5, 1]",
    ),
    ("baseline scale 0", lambda t: baseline("bicubic", 0), "scale must be"),
    ("TrainConfig steps 1.5", lambda t: config(t, steps=1.5), "steps must be a whole number"),
    ("TrainConfig steps '2'", lambda t: config(t, steps="2"), "steps must be a whole number"),
    ("TrainConfig batch_size None", lambda t: config(t, batch_size=None), "batch_size must be a whole"),
    ("TrainConfig log_every 1.5", lambda t: config(t, log_every=1.5), "log_every must be a whole"),
    (
        "TrainConfig learning_rate '1e-4'",
        lambda t: config(t, learning_rate="1e-4"),
        "learning_rate must be a",
    ),
    ("TrainConfig budget '600'", lambda t: config(t, budget_seconds="600"), "budget_seconds must be a"),
    ("TrainConfig vgg_rescale '7'", lambda t: config(t, vgg_rescale="7"), "vgg_rescale must be a number"),
    ("TrainConfig betas (2, 0)", lambda t: config(t, betas=(2.0, 0.0)), "betas must be two numbers"),
    ("TrainConfig betas NaN", lambda t: config(t, betas=(NAN, 0.9)), "betas must be two numbers"),
    ("TrainConfig betas 1", lambda t: config(t, betas=1), "betas must be two numbers"),
    ("TrainConfig quantize_lr 'no'", lambda t: config(t, quantize_lr="no"), "quantize_lr must be True or"),
    ("TrainConfig d_steps 1e9", lambda t: config(t, d_steps=10**9), "d_steps must be at most 100"),
    ("TrainConfig out None", lambda t: config(t, out=None), "out must be a path"),
    ("TrainConfig crop 1e9", lambda t: make_trainer(config(t, crop=10**9, batch_size=1)), "crops needs over"),
    ("saved_step None", lambda t: course.saved_step(None), "the run folder must be"),
    ("live_train minutes '5'", lambda t: course.live_train(config(t), print, minutes="5"), "minutes must be"),
    ("live_train minutes NaN", lambda t: course.live_train(config(t), print, minutes=NAN), "minutes must be"),
    (
        "train_config unknown setting",
        lambda t: course.train_config(get_profile("smoke"), t, colour=3),
        "colour",
    ),
    ("run_folder a profile name", lambda t: course.run_folder("04", "smoke"), "got str"),
]


def folder(path: Path) -> Path:
    path.mkdir()
    return path


def nan_model() -> SRResNet:
    model = tiny()
    with torch.no_grad():
        model.tail.weight.fill_(NAN)
    return model


def config(t: Path, **settings) -> TrainConfig:
    """A small TrainConfig with ``settings`` changed, checked."""
    base = dict(out=str(t / "run"), data=str(t), steps=2, batch_size=2, crop=24, n_blocks=1, channels=8)
    c = TrainConfig(**{**base, "device": "cpu", **settings})
    c.check()
    return c


def junk_run(t: Path) -> Path:
    (t / "run").mkdir()
    (t / "run" / "checkpoint.pt").write_bytes(b"abcd")
    return t / "run"


@pytest.mark.parametrize("case,call,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_api_input_raises_one_line_user_error(tmp_path, case, call, fragment):
    with pytest.raises(UserError) as caught:  # any other exception fails the test
        call(tmp_path)
    message = str(caught.value)
    assert fragment in message and "\n" not in message, message
    assert [p for p in tmp_path.glob("a*") if not p.is_dir()] == []  # nothing written


# --- silent wrong results -----------------------------------------------------------------------------


def weights_file(path: Path, change) -> Path:
    """A tiny generator's file with one change made to its state dict."""
    state = {k: v.clone().contiguous() for k, v in tiny().state_dict().items()}
    change(state)
    meta = {"architecture": "SRResNet", "config": '{"scale": 4, "n_blocks": 1, "channels": 8}'}
    safetensors.torch.save_file(state, str(path), metadata=meta)
    return path


def test_a_negative_batchnorm_variance_is_refused_at_load(tmp_path):
    path = weights_file(tmp_path / "bn.safetensors", lambda s: s["blocks.0.body.1.running_var"].fill_(-1))
    with pytest.raises(UserError, match="negative variance .*blocks.0.body.1.running_var"):
        load_generator(path)


@pytest.mark.parametrize("tail", [3e38, 1e30], ids=["tail 3e38 (inf out)", "tail 1e30 (white out)"])
def test_broken_weights_are_an_error_not_a_blank_image(tail):
    model = tiny()
    with torch.no_grad():
        model.tail.weight.fill_(tail)
    with pytest.raises(UserError, match="the generator's output reaches .* weights are broken"):
        upscale_image(model, image())


def test_broken_batchnorm_statistics_in_memory_are_an_error_not_black():
    model = tiny()
    with torch.no_grad():
        model.blocks[0].body[1].running_var.fill_(-1)
    with pytest.raises(UserError, match="weights are broken"):
        upscale_image(model, image())


def test_a_generator_built_with_numpy_integers_saves_a_file_that_loads(tmp_path):
    import numpy as np

    model = SRResNet(np.int64(2), np.int32(1), np.int64(8))
    assert model.config() == {"scale": 2, "n_blocks": 1, "channels": 8}
    assert load_generator(save_generator(model, tmp_path / "g.safetensors")).config() == model.config()


def test_metrics_still_take_an_unclamped_generator_output():
    hr = image(32, 32)
    overshoot = (hr * 1.2 - 0.1).clamp(-0.2, 1.2)  # a generator's output overshoots [0, 1] a little
    assert torch.isfinite(psnr(overshoot, hr, 4)).all() and torch.isfinite(ssim(overshoot, hr, 4)).all()


def test_save_image_writes_the_format_of_the_final_suffix(tmp_path):
    x = image(8, 8)
    save_image(x, tmp_path / "a.JPG")
    save_image(x, tmp_path / "b.png")
    assert (tmp_path / "a.JPG").read_bytes()[:2] == b"\xff\xd8"  # JPEG, though written to a .partial name
    assert torch.equal(load_image(tmp_path / "b.png"), (x * 255).round() / 255)


def test_hub_pretrained_takes_only_true_or_false():
    root = str(Path(__file__).resolve().parents[1])
    for flag in ("no", "False", 0, None):
        with pytest.raises(UserError, match="pretrained must be True or False"):
            torch.hub.load(root, "srresnet_x4", source="local", pretrained=flag)
    fresh = torch.hub.load(root, "srresnet_x4", source="local", pretrained=False)
    assert not torch.equal(fresh.head[0].weight, load_pretrained("srresnet_x4").head[0].weight)


def test_save_image_takes_half_and_bfloat16_images(tmp_path):
    x = image(8, 8)
    for dtype in (torch.float16, torch.bfloat16):
        save_image(x.to(dtype), tmp_path / f"{dtype}.png")
        assert (load_image(tmp_path / f"{dtype}.png") - x).abs().max() < 0.01


def test_train_config_takes_paths_and_keeps_them_as_strings(tmp_path):
    c = config(tmp_path, out=tmp_path / "run", data=tmp_path)
    assert c.out == str(tmp_path / "run") and c.data == str(tmp_path)  # config.json can hold them
