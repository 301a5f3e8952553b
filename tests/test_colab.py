"""FLOP counts behind the colab profile, and the Colab helpers (GPU check, runs on Google Drive)."""

import sys
import types

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from srlib import colab, flops
from srlib.models import Discriminator, SRResNet, TruncatedVGG19
from srlib.profiles import COLAB_MINUTES, ENV_VAR, colab_estimate, get_profile


def counted(fn) -> int:
    """FLOPs of the matrix products and convolutions that ``fn`` runs, as torch counts them."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize("scale,n_blocks,channels", [(4, 2, 8), (2, 1, 16)])
def test_srresnet_flops_equal_torchs_count(scale, n_blocks, channels):
    model = SRResNet(scale, n_blocks, channels)
    lr = torch.rand(2, 3, 6, 5)
    with torch.no_grad():
        assert counted(lambda: model(lr)) == flops.srresnet_flops(2 * 6 * 5, n_blocks, channels, scale)


def test_discriminator_and_vgg54_flops_equal_torchs_count():
    d = Discriminator(base=8)
    vgg = TruncatedVGG19("5_4", weights=None)
    with torch.no_grad():
        assert counted(lambda: d(torch.rand(1, 3, 96, 96))) == flops.discriminator_flops(96 * 96, base=8)
        assert counted(lambda: vgg(torch.rand(1, 3, 32, 32))) == flops.vgg54_flops(32 * 32)


def test_a_training_step_costs_about_three_forwards():
    model = SRResNet(4, 2, 8)
    lr = torch.rand(4, 3, 12, 12)
    step = counted(lambda: model(lr).square().mean().backward())
    estimate = flops.step_flops("srresnet", batch_size=4, crop=48, n_blocks=2, channels=8)
    assert step == pytest.approx(estimate, rel=0.02)  # the head needs no gradient of its input image


def test_srgan_steps_cost_more_with_vgg54_than_with_mse_and_both_more_than_srresnet():
    srresnet = flops.step_flops("srresnet")
    assert srresnet < flops.step_flops("srgan", content="mse") < flops.step_flops("srgan", content="vgg54")


def test_the_colab_profile_fits_its_minutes_on_a_t4_by_the_estimate():
    colab_profile = get_profile("colab")
    assert colab_profile.minutes == COLAB_MINUTES and (colab_profile.n_blocks, colab_profile.crop) == (16, 96)
    for model, steps in ("srresnet", colab_profile.train_steps), ("srgan", colab_profile.srgan_steps):
        seconds = steps * flops.step_seconds(flops.step_flops(model), "T4", "fp16")
        assert 0.95 * COLAB_MINUTES * 60 < seconds <= COLAB_MINUTES * 60
    assert colab_profile.srgan_decay_step == colab_profile.srgan_steps // 2
    estimate = colab_estimate()
    for steps in colab_profile.train_steps, colab_profile.srgan_steps:
        assert f"{steps:,} steps" in estimate


def test_the_t4_step_is_given_as_a_labelled_range_from_the_fp16_estimate_to_the_fp32_rate():
    lines = colab_estimate().splitlines()[2:]
    assert all(line.startswith("estimate, not a measurement: a T4 likely takes ") for line in lines)
    srresnet = flops.step_flops("srresnet")
    fast, slow = (round(flops.step_seconds(srresnet, "T4", p) * 1e3) for p in ("fp16", "fp32"))
    assert fast < slow and f"{fast}-{slow} ms per SRResNet step" in lines[0]
    fewest = flops.steps_in(COLAB_MINUTES, srresnet, "T4", "fp32")
    assert f"{fewest:,}-{get_profile('colab').train_steps:,} steps in 14 minutes" in lines[0]


@pytest.fixture
def fake_colab(monkeypatch, tmp_path):
    """A `google.colab` module whose drive.mount creates MyDrive under tmp_path; yields the mount calls."""
    mounts = []

    def mount(path):
        mounts.append(path)
        (tmp_path / "drive" / "MyDrive").mkdir(parents=True)

    package = types.ModuleType("google.colab")
    package.drive = types.SimpleNamespace(mount=mount)
    monkeypatch.setitem(sys.modules, "google.colab", package)
    monkeypatch.setattr(colab, "DRIVE", tmp_path / "drive")
    return mounts


def test_on_colab_the_default_profile_is_colab_with_a_gpu(fake_colab, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_profile().name == "colab"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_profile().name == "cpu"


def test_check_gpu_says_how_to_switch_only_where_a_gpu_was_expected(fake_colab, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert colab.check_gpu() is False
    assert capsys.readouterr().out == colab.NO_GPU + "\n"
    assert colab.check_gpu(expected=False) is False and capsys.readouterr().out == ""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert colab.check_gpu() is True and capsys.readouterr().out == ""


def test_runs_go_to_google_drive_only_on_colab_and_only_when_asked(fake_colab, tmp_path, monkeypatch, capsys):
    assert colab.runs_folder(tmp_path / "runs") == tmp_path / "runs" and fake_colab == []
    folder = colab.runs_folder(tmp_path / "runs", drive=True)
    assert folder == tmp_path / "drive" / "MyDrive" / "srlib-runs" and folder.is_dir()
    assert colab.runs_folder(tmp_path / "runs", drive=True) == folder and len(fake_colab) == 1  # mounted once
    monkeypatch.delitem(sys.modules, "google.colab")
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert colab.runs_folder(tmp_path / "here", drive=True) == tmp_path / "here"
    assert capsys.readouterr().out.count("\n") == 1 and len(fake_colab) == 1
