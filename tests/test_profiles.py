import dataclasses

import pytest
import torch

from srlib.datasets import BENCHMARKS
from srlib.errors import UserError
from srlib.models import Discriminator, SRResNet
from srlib.profiles import ENV_VAR, PROFILES, Profile, get_profile


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.mark.parametrize("cuda,expected", [(True, "gpu"), (False, "cpu")])
def test_default_profile_follows_cuda(no_env, monkeypatch, cuda, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    profile = get_profile()
    assert profile.name == expected
    assert profile.device == ("cuda" if cuda else "cpu")


def test_environment_variable_picks_the_profile(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv(ENV_VAR, "smoke")
    profile = get_profile()
    assert profile.name == "smoke"
    assert profile.device == "cuda"  # the device follows the machine, not the profile


def test_an_explicit_name_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "gpu")
    assert get_profile("smoke").name == "smoke"
    assert get_profile(" CPU ").name == "cpu"


def test_gpu_profile_without_cuda_runs_on_the_cpu(no_env, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    profile = get_profile("gpu")
    assert (profile.name, profile.device) == ("gpu", "cpu")


def test_empty_environment_variable_means_default(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(ENV_VAR, "")
    assert get_profile().name == "cpu"


@pytest.mark.parametrize("source", ["argument", "environment"])
def test_unknown_profile_is_a_user_error_listing_the_choices(monkeypatch, source):
    if source == "environment":
        monkeypatch.setenv(ENV_VAR, "laptop")
        call = get_profile
    else:

        def call():
            return get_profile("laptop")

    with pytest.raises(UserError, match="laptop") as err:
        call()
    for name in PROFILES:
        assert name in str(err.value)
    assert (ENV_VAR in str(err.value)) == (source == "environment")


def test_describe_states_the_profiles_own_sizes():
    """The line a notebook prints is made from the profile's fields, not from fixed text."""
    p = dataclasses.replace(
        get_profile("cpu"), n_blocks=7, channels=24, batch_size=5, crop=44, train_steps=1234, srgan_steps=77,
        budget_seconds=540.0,
    )  # fmt: skip
    line = p.describe()
    assert "SRResNet 7 blocks x 24 channels, batch 5 of 44x44, 1,234 steps" in line
    assert "SRGAN 77 steps" in line and line.startswith("profile 'cpu' on ")
    assert "1,234 steps (onecycle learning rate) or 9 minutes;" in line  # the cpu recipe's schedule, budget


@pytest.mark.parametrize("name", PROFILES)
def test_profile_values_are_consistent(name):
    p: Profile = get_profile(name)
    assert p.crop % p.scale == 0 and p.experiment_crop % p.scale == 0
    assert 0 < p.srgan_decay_step <= p.srgan_steps
    assert p.train_steps > 0 and p.experiment_steps > 0 and 0 < p.log_every <= p.train_steps
    assert set(p.eval_datasets) <= set(BENCHMARKS)
    assert name in p.describe()


@pytest.mark.parametrize("name", PROFILES)
def test_each_profiles_networks_run_at_its_crop_sizes(name):
    """The generator maps the profile's LR crop to its HR crop; the discriminator scores that crop."""
    p = get_profile(name)
    generator, discriminator = SRResNet(p.scale, p.n_blocks, p.channels), Discriminator(base=8)
    lr = torch.rand(1, 3, p.crop // p.scale, p.crop // p.scale)
    with torch.no_grad():
        sr = generator(lr)
        assert sr.shape == (1, 3, p.crop, p.crop)
        assert discriminator(sr).shape == (1,)


def test_gpu_profile_trains_the_papers_networks_on_96_pixel_crops():
    """The paper's SRResNet (1,549,462 parameters) and a discriminator whose last map is 6x6 (no pooling)."""
    gpu = get_profile("gpu")
    generator = SRResNet(gpu.scale, gpu.n_blocks, gpu.channels)
    assert sum(q.numel() for q in generator.parameters()) == 1_549_462
    with torch.no_grad():
        last_map = Discriminator(base=8).features(torch.rand(1, 3, gpu.crop, gpu.crop))
    assert last_map.shape[-2:] == (6, 6)
    assert 2 * gpu.srgan_decay_step == gpu.srgan_steps  # the paper: 10^5 steps at 1e-4, then 10^5 at 1e-5


def test_profiles_grow_in_cost_from_smoke_to_gpu():
    """Training cost, as parameters x HR pixels per batch x steps, grows from one profile to the next."""

    def cost(p: Profile, steps: int, batch: int) -> float:
        params = sum(q.numel() for q in SRResNet(p.scale, p.n_blocks, p.channels).parameters())
        return params * batch * p.crop**2 * steps

    smoke, cpu, gpu = (get_profile(n) for n in ("smoke", "cpu", "gpu"))
    for steps, batch in (("train_steps", "batch_size"), ("srgan_steps", "srgan_batch_size")):
        costs = [cost(p, getattr(p, steps), getattr(p, batch)) for p in (smoke, cpu, gpu)]
        assert costs[0] < costs[1] < costs[2], steps
    assert smoke.eval_datasets == ("Set5",)  # CI scores on Set5 only
    assert cpu.eval_datasets == gpu.eval_datasets == tuple(BENCHMARKS)
