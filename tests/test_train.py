"""Training: data, SRResNet and SRGAN steps, logs, checkpoints, exact resume, NaN stops, DDP, learning."""

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch

from srlib.checkpoint import load_checkpoint
from srlib.errors import UserError
from srlib.images import load_image, modcrop, sample_image, save_image
from srlib.imresize import imresize, quantize, upscale
from srlib.inference import upscale_image
from srlib.losses import discriminator_loss
from srlib.metrics import psnr
from srlib.runtime import Runtime, choose_precision
from srlib.sampler import CropSampler
from srlib.train import TrainConfig, make_trainer, read_history, train
from srlib.weights import load_generator


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Three small training crops of a photo and one held-out validation crop, as PNG files."""
    coffee = sample_image("coffee")
    for i in range(3):
        save_image(coffee[:, 40 * i : 40 * i + 40, 50 * i : 50 * i + 48], tmp_path / "data" / f"im{i}.png")
    save_image(coffee[:, 200:248, 300:348], tmp_path / "val" / "held_out.png")
    return tmp_path


def tiny(images: Path, out: str, model: str = "srresnet", **changes) -> TrainConfig:
    """A run small enough for a test: one residual block of 8 channels, 24x24 crops, batches of 2."""
    config = TrainConfig(
        out=str(images / out),
        model=model,
        data=str(images / "data"),
        val_dir=str(images / "val"),
        steps=4,
        batch_size=2,
        crop=24,
        n_blocks=1,
        channels=8,
        d_channels=8,
        content="mse",
        log_every=1,
        val_every=100,
        checkpoint_every=100,
    )
    return dataclasses.replace(config, **changes)


def test_crops_are_reproducible_from_the_seed_and_take_all_eight_flips_and_rotations(tmp_path):
    asymmetric = torch.arange(3 * 24 * 24, dtype=torch.float32).view(3, 24, 24) / (3 * 24 * 24)
    save_image(asymmetric, tmp_path / "a.png")
    crops = CropSampler(tmp_path, crop=24, seed=0).sample(64)  # the image is one crop: only the turn varies
    assert crops.shape == (64, 3, 24, 24) and crops.dtype == torch.uint8
    assert torch.equal(crops, CropSampler(tmp_path, crop=24, seed=0).sample(64))
    assert not torch.equal(crops, CropSampler(tmp_path, crop=24, seed=1).sample(64))
    assert len({c.numpy().tobytes() for c in crops}) == 8


def test_images_smaller_than_the_crop_are_skipped_with_a_warning(tmp_path):
    save_image(torch.rand(3, 30, 30), tmp_path / "big.png")
    save_image(torch.rand(3, 16, 40), tmp_path / "small.png")
    with pytest.warns(UserWarning, match=r"skipped 1 image.*small\.png"):
        sampler = CropSampler(tmp_path, crop=24, seed=0)
    assert len(sampler) == 1


def test_a_folder_of_only_too_small_images_is_a_user_error(tmp_path):
    save_image(torch.rand(3, 16, 16), tmp_path / "small.png")
    with pytest.raises(UserError, match="no image is at least 24x24"):
        CropSampler(tmp_path, crop=24, seed=0)


def test_benchmark_images_are_refused_for_training(tmp_path):
    save_image(torch.rand(3, 32, 32), tmp_path / "Set5" / "baby.png")
    with pytest.raises(UserError, match="benchmark image"):
        CropSampler(tmp_path, crop=24, seed=0)


def test_the_trainers_lr_inputs_are_matlabs_lr_of_its_hr_crops(images, monkeypatch):
    """Fed the golden HR crop of Set5's butterfly (tests/golden/), the trainer's LR batch holds the values of
    MATLAB's LR file there: it trains on the degradation that made the benchmarks."""
    with np.load(Path(__file__).parent / "golden" / "set5_img_003_x4_crop.npz") as golden:
        hr, matlab = (torch.from_numpy(golden[k]).permute(2, 0, 1) for k in ("hr", "lr"))
    trainer = make_trainer(tiny(images, "run"))
    monkeypatch.setattr(trainer.sampler, "sample", lambda n: hr.expand(n, -1, -1, -1))
    lr, _ = trainer.next_batch()
    assert lr.shape == (2, 3, 12, 12)
    assert torch.equal((lr[:, :, 2:-2, 2:-2] * 255).round().byte(), matlab.expand(2, -1, -1, -1))


def test_a_run_writes_config_history_validation_panels_and_a_safe_checkpoint(images):
    config = tiny(images, "run", log_every=2, val_every=2)
    run = train(config, progress=False)
    assert json.loads((run / "config.json").read_text())["n_blocks"] == 1
    history = read_history(run / "history.csv")
    assert history["step"] == [2.0, 4.0]
    assert set(history) == {"step", "g_content", "g_total", "learning_rate", "seconds"}  # no GAN columns
    assert all(v > 0 for v in history["g_total"])
    val = read_history(run / "val.csv")
    assert val["step"] == [2.0, 4.0] and all(20 < p < 60 for p in val["bicubic_psnr"])
    assert sorted(p.name for p in (run / "val").iterdir()) == ["step_000002.png", "step_000004.png"]
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)  # only tensors and plain containers
    assert ckpt["step"] == 4 and ckpt["config"] == dataclasses.asdict(config)
    assert ckpt["history"]["g_total"] == pytest.approx(history["g_total"])  # the CSV keeps 8 digits


@pytest.mark.parametrize("model", ["srresnet", "srgan"])
def test_stopping_and_resuming_gives_bit_identical_weights(images, model):
    one_go = load_checkpoint(train(tiny(images, "one_go", model), progress=False) / "checkpoint.pt")
    config = tiny(images, "two_goes", model)
    train(config, until=2, progress=False)
    assert load_checkpoint(images / "two_goes" / "checkpoint.pt")["step"] == 2
    two_goes = load_checkpoint(train(config, resume=True, progress=False) / "checkpoint.pt")
    for part in ("generator", "discriminator") if model == "srgan" else ("generator",):
        for name, tensor in one_go[part].items():
            assert torch.equal(tensor, two_goes[part][name]), f"{part}.{name}"
    assert one_go["history"]["g_total"] == two_goes["history"]["g_total"]


def test_resuming_with_other_settings_is_refused(images):
    train(tiny(images, "run"), until=1, progress=False)
    with pytest.raises(UserError, match=r"other settings: channels \(saved 8, now 16\)"):
        train(tiny(images, "run", channels=16), resume=True, progress=False)


def test_resuming_with_a_lower_learning_rate_scales_the_srgan_schedule(images):
    config = tiny(images, "gan", "srgan")
    train(config, until=1, progress=False)
    run = train(dataclasses.replace(config, learning_rate=1e-5), resume=True, progress=False)
    assert read_history(run / "history.csv")["learning_rate"] == pytest.approx([1e-4, 1e-5, 1e-6, 1e-6])


def test_srgan_logs_gan_losses_and_drops_the_learning_rate_tenfold_at_half_the_steps(images):
    history = read_history(train(tiny(images, "gan", "srgan"), progress=False) / "history.csv")
    assert history["learning_rate"] == pytest.approx([1e-4, 1e-4, 1e-5, 1e-5])
    for g_total, content, adversarial in zip(
        history["g_total"], history["g_content"], history["g_adversarial"], strict=True
    ):
        assert g_total == pytest.approx(content + 1e-3 * adversarial, rel=1e-5)


def test_an_srgan_step_updates_generator_and_discriminator_but_not_the_vgg(images):
    trainer = make_trainer(tiny(images, "gan", "srgan", content="vgg54", vgg_weights=None))
    nets = {"generator": trainer.generator, "discriminator": trainer.discriminator, "vgg": trainer.loss.vgg}
    before = {k: [p.detach().clone() for p in net.parameters()] for k, net in nets.items()}
    trainer.train_step(*trainer.next_batch())
    changed = {
        k: any(not torch.equal(a, b) for a, b in zip(before[k], net.parameters(), strict=True))
        for k, net in nets.items()
    }
    assert changed == {"generator": True, "discriminator": True, "vgg": False}
    assert all(p.grad is None for p in trainer.loss.vgg.parameters())


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(images):
    config = tiny(images, "run", learning_rate=1e30, checkpoint_every=1)  # step 1 blows the weights up
    with pytest.raises(
        UserError, match=r"loss became (nan|inf) at step 2 .*; the last good checkpoint is .*\(step 1\)"
    ):
        train(config, progress=False)
    ckpt = load_checkpoint(images / "run" / "checkpoint.pt")
    assert ckpt["step"] == 1
    assert all(torch.isfinite(t).all() for t in ckpt["generator"].values())


def test_srgan_logs_the_discriminators_mean_belief_on_this_steps_hr_and_sr(images):
    """d_real / d_fake are the mean sigmoid of D, as it was before its update, on the step's HR and SR."""
    trainer = make_trainer(tiny(images, "gan", "srgan"))
    lr, hr = trainer.next_batch()
    g_before, d_before = copy.deepcopy(trainer.generator), copy.deepcopy(trainer.discriminator)
    losses = trainer.train_step(lr, hr)
    with torch.no_grad():
        torch.testing.assert_close(losses["d_real"], torch.sigmoid(d_before(hr)).mean())
        torch.testing.assert_close(losses["d_fake"], torch.sigmoid(d_before(g_before(lr))).mean())
        # and D's update moved it the right way on this batch: HR more real, SR less
        assert torch.sigmoid(trainer.discriminator(hr)).mean() > losses["d_real"]
        assert torch.sigmoid(trainer.discriminator(g_before(lr))).mean() < losses["d_fake"]


DDP_SCRIPT = """
import os, sys, torch, torch.distributed as dist
from srlib.train import TrainConfig, make_trainer
root = sys.argv[1]
trainer = make_trainer(TrainConfig(out=f"{root}/run", model="srgan", data=f"{root}/data",
    val_dir=f"{root}/val", steps=3, batch_size=4, crop=24, n_blocks=1, channels=8, d_channels=8,
    content="mse", log_every=1))
state = trainer.sampler.generator.get_state()
first_crops = trainer.sampler.sample(2)  # this rank's first batch, drawn again by the run
trainer.sampler.generator.set_state(state)
nets = {"g": trainer.generator, "d": trainer.discriminator}
init = {f"{n}.{k}": p.detach().clone() for n, net in nets.items() for k, p in net.named_parameters()}
trainer.run(progress=False)
params = {f"{n}.{k}": p for n, net in nets.items() for k, p in net.named_parameters()}
rank = os.environ["RANK"]
torch.save({"params": params, "init": init, "first_crops": first_crops}, f"{root}/rank{rank}.pt")
dist.destroy_process_group()
"""


def test_two_ddp_processes_draw_different_crops_and_end_with_identical_trained_weights(images):
    (images / "ddp.py").write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*launch, str(images / "ddp.py"), str(images)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rank0, rank1 = (torch.load(images / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert not torch.equal(rank0["first_crops"], rank1["first_crops"])  # each rank trains on its own crops
    for net in ("g.", "d."):  # both networks trained: the weights moved from where they started ...
        assert any(
            not torch.equal(p, rank0["init"][k]) for k, p in rank0["params"].items() if k.startswith(net)
        )
    for name, p in rank0["params"].items():  # ... and by the same averaged gradients on both ranks
        assert torch.equal(p, rank1["params"][name]), name
    assert read_history(images / "run" / "history.csv")["step"] == [1.0, 2.0, 3.0]  # written once, by rank 0


@pytest.mark.slow
def test_a_short_training_run_beats_bicubic_on_a_held_out_crop(tmp_path):
    """600 steps of a small SRResNet on text: 500 at lr 2e-3, then 100 at 2e-4 to settle (a resume with a
    lower lr). Measured: +1.4 dB over bicubic (seeds 1 and 2: +1.9, +1.0) in about 70 s on 2 busy cores."""
    text = torch.from_numpy(skimage.data.text()).float().div(255).expand(3, -1, -1)  # 172 x 448, grey
    page = torch.from_numpy(skimage.data.page()).float().div(255).expand(3, -1, -1)
    save_image(text[:, :, :320], tmp_path / "data" / "text.png")
    save_image(page, tmp_path / "data" / "page.png")
    save_image(text[:, :, 320:], tmp_path / "val" / "held_out.png")  # columns never trained on
    config = TrainConfig(
        out=str(tmp_path / "run"),
        data=str(tmp_path / "data"),
        val_dir=str(tmp_path / "val"),
        steps=600,
        crop=48,
        n_blocks=2,
        channels=16,
        learning_rate=2e-3,
        log_every=100,
        val_every=10**6,
        checkpoint_every=10**6,
    )
    train(config, until=500, progress=False)
    run = train(dataclasses.replace(config, learning_rate=2e-4), resume=True, progress=False)
    assert read_history(run / "history.csv")["learning_rate"][-1] == pytest.approx(2e-4)
    hr = modcrop(load_image(tmp_path / "val" / "held_out.png"), 4)
    lr = quantize(imresize(hr, 1 / 4))
    model = load_generator(run / "checkpoint.pt")
    gain = psnr(upscale_image(model, lr), hr, 4).item() - psnr(upscale(lr, 4), hr, 4).item()
    assert gain > 0.5, f"only {gain:+.2f} dB over bicubic"


def test_a_time_limit_stops_at_the_next_log_step_with_a_checkpoint_that_resumes(images):
    config = tiny(images, "timed", steps=1000, log_every=3)
    train(config, progress=False, time_limit=0)  # already out of time: stop at the first log step
    ckpt = load_checkpoint(images / "timed" / "checkpoint.pt")
    assert ckpt["step"] == 3 and ckpt["history"]["step"] == [3.0]
    assert read_history(images / "timed" / "val.csv")["step"] == [3.0]
    train(dataclasses.replace(config, steps=5), resume=True, progress=False)
    assert load_checkpoint(images / "timed" / "checkpoint.pt")["step"] == 5


def test_vectorised_crops_are_the_windows_and_turns_drawn_from_the_seed(tmp_path):
    """Each crop equals its image's window at the drawn position, flipped then transposed as drawn."""
    for i, (h, w) in enumerate([(30, 41), (52, 33), (24, 24)]):
        save_image(torch.rand(3, h, w), tmp_path / f"im{i}.png")
    sampler = CropSampler(tmp_path, crop=24, seed=3)
    images = [(load_image(p) * 255).round().to(torch.uint8) for p in sorted(tmp_path.glob("*.png"))]
    g = torch.Generator().manual_seed(3)  # the sampler's draws, in its order
    crops = sampler.sample(16)
    idx = torch.randint(3, (16,), generator=g)
    sizes = torch.tensor([img.shape[-2:] for img in images])[idx]
    top = (torch.rand(16, generator=g, dtype=torch.float64) * (sizes[:, 0] - 23)).long()
    left = (torch.rand(16, generator=g, dtype=torch.float64) * (sizes[:, 1] - 23)).long()
    turn = torch.randint(8, (16,), generator=g)
    for b in range(16):
        want = images[idx[b]][:, top[b] : top[b] + 24, left[b] : left[b] + 24]
        if turn[b] & 2:
            want = want.flip(-2)
        if turn[b] & 4:
            want = want.flip(-1)
        if turn[b] & 1:
            want = want.transpose(-2, -1)
        assert torch.equal(crops[b], want), b


def test_a_renamed_copy_of_a_benchmark_file_is_refused_by_its_content(tmp_path, monkeypatch):
    save_image(torch.rand(3, 32, 32), tmp_path / "holiday.png")
    digest = __import__("hashlib").sha256((tmp_path / "holiday.png").read_bytes()).hexdigest()
    monkeypatch.setattr(
        "srlib.datasets.benchmark_hashes", lambda: {digest: "benchmarks/Set5/HR/baby_SRF_4_HR.png"}
    )
    with pytest.raises(UserError, match=r"holiday\.png is the benchmark file benchmarks/Set5/HR/baby"):
        CropSampler(tmp_path, crop=24, seed=0)


def test_a_real_set5_file_copied_under_another_name_is_refused(data_root, tmp_path):
    source = next((data_root / "benchmarks" / "Set5" / "HR").iterdir())
    (tmp_path / "my_photo.png").write_bytes(source.read_bytes())
    with pytest.raises(UserError, match="my_photo.png is the benchmark file benchmarks/Set5"):
        CropSampler(tmp_path, crop=24, seed=0)


def test_constructing_a_trainer_writes_nothing_and_leaves_cudnn_autotune_as_it_was(images):
    before = torch.backends.cudnn.benchmark
    trainer = make_trainer(tiny(images, "run"))
    assert not (images / "run").exists()
    trainer.run(until=1, progress=False)
    assert (images / "run" / "config.json").is_file()
    assert torch.backends.cudnn.benchmark == before


def test_the_cudnn_autotuner_is_on_only_inside_a_cuda_run():
    torch.backends.cudnn.benchmark = False
    with Runtime(torch.device("cuda"), "fp32").tuned():
        assert torch.backends.cudnn.benchmark
    assert not torch.backends.cudnn.benchmark


@pytest.mark.parametrize(
    "capability,amp,chosen",
    [((7, 5), "auto", "fp16"), ((8, 0), "auto", "bf16"), ((9, 0), "auto", "bf16"), ((7, 0), "off", "fp32"),
     ((8, 6), "fp16", "fp16")],
)  # fmt: skip
def test_precision_is_bf16_only_where_the_card_has_it_natively(monkeypatch, capability, amp, chosen):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert choose_precision(torch.device("cuda"), amp) == chosen
    assert choose_precision(torch.device("cpu"), "auto") == "fp32"
    with pytest.raises(UserError, match="--amp bf16 needs a CUDA GPU"):
        choose_precision(torch.device("cpu"), "bf16")


def test_the_chosen_precision_is_saved_in_the_runs_config(images):
    run = train(tiny(images, "run", steps=1), progress=False)
    runtime = json.loads((run / "config.json").read_text())["runtime"]
    assert runtime["precision"] == "fp32" and runtime["device"] == "cpu"
    assert runtime["torch"] == torch.__version__


def test_a_process_other_than_rank_0_writes_no_file(images, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("rank 1 wrote a file")

    for name in ("write_text", "write_csv", "save_checkpoint", "comparison_figure", "save_generator"):
        monkeypatch.setattr(f"srlib.train.{name}", refuse)
    config = tiny(images, "run", val_every=2, checkpoint_every=2, snapshot_every=2)
    trainer = make_trainer(config, runtime=Runtime(torch.device("cpu"), "fp32", rank=1, world=1))
    trainer.run(progress=False)
    assert trainer.step == 4 and len(trainer.history["step"]) == 4  # it trained and kept its own history
    assert not (images / "run").exists()


def test_the_discriminator_is_unfrozen_even_when_the_generator_step_fails(images):
    trainer = make_trainer(tiny(images, "gan", "srgan"))
    lr, hr = trainer.next_batch()
    with pytest.raises(UserError, match="shapes differ"):
        trainer.generator_step(trainer.g(lr), hr[..., :-4])
    assert all(p.requires_grad for p in trainer.discriminator.parameters())


def test_label_smoothing_is_the_bce_against_the_smoothed_real_target():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5])
    smooth = discriminator_loss(real, fake, real_label=0.9)
    expected = -(0.9 * torch.log(torch.sigmoid(real)) + 0.1 * torch.log(1 - torch.sigmoid(real))).mean()
    expected += -torch.log(1 - torch.sigmoid(fake)).mean()
    assert smooth.item() == pytest.approx(expected.item(), rel=1e-6)
    assert smooth.item() > discriminator_loss(real, fake).item()  # a confident D pays for its certainty


def test_the_trainer_trains_the_discriminator_against_its_configured_real_label(images):
    """The D step's loss is the BCE against ``real_label`` (0.9: one-sided smoothing), not against 1."""
    trainer = make_trainer(tiny(images, "gan", "srgan", real_label=0.9))
    lr, hr = trainer.next_batch()
    d_loss, d_real, d_fake = trainer.discriminator_step(trainer.g(lr), hr)
    smoothed = discriminator_loss(d_real, d_fake, real_label=0.9).item()
    assert d_loss.item() == pytest.approx(smoothed, rel=1e-6)
    assert abs(smoothed - discriminator_loss(d_real, d_fake).item()) > 1e-3  # the two targets differ here


def test_srgan_drops_both_learning_rates_at_the_decay_step(images):
    """After decay_step=2 of 3 steps, the discriminator's Adam runs at a tenth of the rate, as the
    generator's: both schedulers step."""
    trainer = make_trainer(tiny(images, "gan", "srgan", steps=3, decay_step=2))
    rates = []
    step = trainer.train_step

    def step_and_note_the_rates(lr, hr):
        rates.append([o.param_groups[0]["lr"] for o in (trainer.g_optimizer, trainer.d_optimizer)])
        return step(lr, hr)

    trainer.train_step = step_and_note_the_rates
    trainer.run(progress=False)
    assert rates == [[1e-4, 1e-4], [1e-4, 1e-4], [pytest.approx(1e-5)] * 2]


@pytest.mark.parametrize("d_steps,d_every,updates", [(1, 1, 4), (2, 1, 8), (1, 2, 2)])
def test_the_discriminator_is_updated_d_steps_times_every_d_every_steps(images, d_steps, d_every, updates):
    trainer = make_trainer(tiny(images, "gan", "srgan", d_steps=d_steps, d_every=d_every))
    trainer.run(progress=False)
    adam_steps = {int(s["step"]) for s in trainer.d_optimizer.state.values()}
    assert adam_steps == {updates}
    assert int(next(iter(trainer.g_optimizer.state.values()))["step"]) == 4  # G: once a step, always


def test_snapshots_keep_the_generator_every_n_steps_also_between_checkpoints(images):
    """snapshot_every=3 with checkpoint_every=2 keeps steps 3 and 6: a snapshot is due on its own steps, not
    only on those that also write a checkpoint (issue 19, B1: only step 6 was kept)."""
    config = tiny(images, "run", steps=6, checkpoint_every=2, snapshot_every=3)
    run = train(config, progress=False)
    snaps = sorted(p.name for p in (run / "snapshots").iterdir())
    assert snaps == ["generator_step_0000003.safetensors", "generator_step_0000006.safetensors"]
    last = load_generator(run / "snapshots" / snaps[-1])
    for name, tensor in load_checkpoint(run / "checkpoint.pt")["generator"].items():
        assert torch.equal(last.state_dict()[name], tensor), name
    trainer = make_trainer(dataclasses.replace(config, out=str(images / "again"), steps=3))
    trainer.run(progress=False)  # the same run stopped at step 3: its generator is the step-3 snapshot
    third = load_generator(run / "snapshots" / snaps[0]).state_dict()
    assert all(torch.equal(third[k], v) for k, v in trainer.generator.state_dict().items())


def test_an_srgan_run_of_one_step_trains_at_the_full_learning_rate(images):
    """With steps=1 the default decay step (steps // 2) would be 0: the run would start at a tenth of the rate
    (issue 19, B4). Both networks train at the configured rate."""
    trainer = make_trainer(tiny(images, "gan", "srgan", steps=1))
    assert [o.param_groups[0]["lr"] for o in (trainer.g_optimizer, trainer.d_optimizer)] == [1e-4, 1e-4]
    trainer.run(progress=False)
    assert trainer.history["learning_rate"] == [1e-4]


def test_srgan_learning_rates_drop_at_the_configured_decay_step(images):
    history = read_history(train(tiny(images, "gan", "srgan", decay_step=1), progress=False) / "history.csv")
    assert history["learning_rate"] == pytest.approx([1e-4, 1e-5, 1e-5, 1e-5])


def test_srgan_runs_default_to_the_papers_two_hundred_thousand_steps():
    assert TrainConfig(out="x", model="srgan").steps == 2 * 10**5
    assert TrainConfig(out="x").steps == 10**6


def test_a_checkpoint_of_the_previous_format_still_resumes(images):
    config = tiny(images, "old")
    train(config, until=2, progress=False)
    path = images / "old" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["lr"] = ckpt["config"].pop("learning_rate")  # as written before the rename
    ckpt["config"]["amp"] = True
    ckpt["history"]["lr"] = ckpt["history"].pop("learning_rate")
    torch.save(ckpt, path)
    run = train(config, resume=True, progress=False)
    assert read_history(run / "history.csv")["learning_rate"] == pytest.approx([1e-4] * 4)


def test_a_new_srgan_run_logs_the_content_to_adversarial_gradient_ratio_once(images, caplog):
    with caplog.at_level("INFO", logger="srlib"):
        train(tiny(images, "gan", "srgan", steps=2), progress=False)
    lines = [r.getMessage() for r in caplog.records if "gradient norms on SR" in r.getMessage()]
    assert len(lines) == 1 and float(lines[0].rsplit("=", 1)[1]) > 0
