"""Helpers that the training notebooks (04-06) use: training on only the first N images."""

import pytest
import torch

from srlib.errors import UserError
from srlib.images import save_image
from srlib.sampler import CropSampler
from srlib.train import TrainConfig, make_trainer


def _folder(tmp_path, n, side=16):
    for i in range(n):
        save_image(torch.full((3, side, side), i / 10), tmp_path / "imgs" / f"{i:02d}.png")
    return tmp_path / "imgs"


def test_crop_sampler_keeps_only_the_first_max_images(tmp_path):
    folder = _folder(tmp_path, 5)
    assert len(CropSampler(folder, 8, 0)) == 5
    sampler = CropSampler(folder, 8, 0, max_images=2)
    assert len(sampler) == 2
    values = {int(v) for v in sampler.pixels[sampler.offsets]}  # each image's first pixel
    assert values == {0, round(0.1 * 255)}  # the first two files by name
    assert len(CropSampler(folder, 8, 0, max_images=50)) == 5
    with pytest.raises(UserError, match="at least 1"):
        CropSampler(folder, 8, 0, max_images=0)


def test_train_config_max_images_reaches_the_sampler(tmp_path):
    """With max_images=1 of four images (flat grey levels 0, 0.1, 0.2, 0.3, by name), every crop the trainer
    draws is of the first image: black, -1 in the model's range; and the run saves the setting."""
    folder = _folder(tmp_path, 4)
    val = _folder(tmp_path / "v", 1, side=64)  # SSIM needs more than its 11x11 window
    config = TrainConfig(
        out=str(tmp_path / "run"),
        data=str(folder),
        max_images=1,
        steps=1,
        batch_size=8,
        crop=16,
        n_blocks=1,
        channels=4,
        val_dir=str(val),
        device="cpu",
    )
    trainer = make_trainer(config)
    assert len(trainer.sampler) == 1
    for _ in range(3):
        lr, hr = trainer.next_batch()
        assert torch.equal(hr, torch.full_like(hr, -1.0)) and torch.equal(lr, torch.zeros_like(lr))
    run = trainer.run(progress=False)
    saved = torch.load(run / "checkpoint.pt", weights_only=True)
    assert saved["config"]["max_images"] == 1
