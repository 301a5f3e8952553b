import dataclasses

import pytest
import torch

from srlib.data import BENCHMARKS
from srlib.errors import UserError
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


def test_profile_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_profile("cpu").train_steps = 1


@pytest.mark.parametrize("name", PROFILES)
def test_profile_values_are_consistent(name):
    p: Profile = get_profile(name)
    assert p.crop % p.scale == 0 and p.experiment_crop % p.scale == 0
    assert 0 < p.srgan_decay_step <= p.srgan_steps
    assert p.train_steps > 0 and p.experiment_steps > 0 and 0 < p.log_every <= p.train_steps
    assert set(p.eval_datasets) <= set(BENCHMARKS)
    assert name in p.describe()


def test_profiles_grow_from_smoke_to_gpu():
    smoke, cpu, gpu = (get_profile(n) for n in ("smoke", "cpu", "gpu"))
    assert smoke.eval_datasets == ("Set5",)
    assert cpu.eval_datasets == gpu.eval_datasets == tuple(BENCHMARKS)
    for field in ("train_steps", "srgan_steps", "experiment_steps", "n_blocks", "channels", "crop"):
        assert getattr(smoke, field) < getattr(cpu, field) <= getattr(gpu, field), field
    # the gpu profile is the paper's network and batch
    assert (gpu.n_blocks, gpu.channels, gpu.batch_size, gpu.crop) == (16, 64, 16, 96)
    assert (gpu.srgan_steps, gpu.srgan_decay_step) == (200_000, 100_000)
