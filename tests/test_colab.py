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


def test_the_colab_profile_trains_the_steps_its_minutes_give_on_a_t4_worked_by_hand():
    """The step counts the README states, worked out by hand from the paper's network (batch 16 of 96x96) and
    the T4's fp16 rate, 65 TFLOP/s x 15% = 9.75 TFLOP/s, for 14 minutes = 840 s:

    - SRResNet: 3 forwards x 16 crops x 2,555,338,752 FLOPs (head 17,915,904; 33 3x3 64->64 convs on 24x24,
      42,467,328 each; upsampling 169,869,312 + 679,477,248; tail 286,654,464) = 122,656,260,096 FLOPs:
      12.6 ms, under the 17 ms floor, so 840 / 0.017 = 49,411 -> 49,400 steps (rounded down to hundreds);
    - SRGAN with VGG54: 692,983,300,096 FLOPs (counted against torch in the tests above): 71.07 ms, so
      840 / 0.07107 = 11,818 -> 11,800 steps, the learning rate dropping after 5,900.
    """
    colab_profile = get_profile("colab")
    assert colab_profile.minutes == COLAB_MINUTES == 14.0
    assert (colab_profile.n_blocks, colab_profile.channels, colab_profile.crop) == (16, 64, 96)
    assert flops.step_flops("srresnet") == 122_656_260_096
    assert flops.step_flops("srgan") == 692_983_300_096
    assert flops.step_seconds(flops.step_flops("srresnet")) == 0.017
    assert flops.step_seconds(flops.step_flops("srgan")) == pytest.approx(0.07107, abs=1e-5)
    assert (colab_profile.train_steps, colab_profile.srgan_steps) == (49_400, 11_800)
    assert colab_profile.srgan_decay_step == 5_900
    estimate = colab_estimate()
    assert "49,400 steps = 14.0 min in fp16" in estimate and "11,800 steps = 14.0 min in fp16" in estimate


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
