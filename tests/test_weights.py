"""Saving, loading and exporting generators, and every kind of bad weights file."""

import dataclasses
import json

import pytest
import safetensors.torch
import torch
from safetensors import safe_open

from srlib.errors import UserError
from srlib.models import Discriminator, SRResNet
from srlib.train import TrainConfig
from srlib.weights import check_scale, export_generator, load_generator, save_generator


class NotATensor:
    """Any Python object: pickling it into a checkpoint is what weights_only loading refuses."""


def tiny_srresnet(scale: int = 4) -> SRResNet:
    torch.manual_seed(0)
    return SRResNet(scale=scale, n_blocks=1, channels=8).eval()


def fake_checkpoint(model: SRResNet, path, **extra) -> None:
    """A checkpoint.pt as `srlib.train` writes it, reduced to what loading a generator reads."""
    config = dataclasses.asdict(TrainConfig(out="run", n_blocks=1, channels=8, scale=model.scale))
    torch.save({"config": config, "step": 7, "generator": model.state_dict(), **extra}, path)


def test_save_and_load_give_the_same_network_and_outputs(tmp_path):
    model = tiny_srresnet()
    path = save_generator(model, tmp_path / "g.safetensors")
    loaded = load_generator(path)
    assert loaded.config() == {"scale": 4, "n_blocks": 1, "channels": 8}
    assert not loaded.training
    lr = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        assert torch.equal(loaded(lr), model(lr))
    assert [p.name for p in tmp_path.iterdir()] == ["g.safetensors"]  # no temporary file left


def test_a_saved_generator_carries_its_architecture_config_and_extra_metadata(tmp_path):
    path = save_generator(tiny_srresnet(), tmp_path / "g.safetensors", {"step": 12, "model": "srgan"})
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    assert metadata["architecture"] == "SRResNet"
    assert json.loads(metadata["config"]) == {"scale": 4, "n_blocks": 1, "channels": 8}
    assert metadata["step"] == "12" and metadata["model"] == "srgan"


def test_a_training_checkpoint_loads_as_a_generator_and_exports_to_safetensors(tmp_path):
    model = tiny_srresnet(scale=2)
    fake_checkpoint(model, tmp_path / "checkpoint.pt")
    assert torch.equal(load_generator(tmp_path / "checkpoint.pt").tail.weight, model.tail.weight)
    out = export_generator(tmp_path / "checkpoint.pt", tmp_path / "g.safetensors", {"profile": "colab"})
    with safe_open(str(out), framework="pt") as f:
        assert f.metadata()["step"] == "7" and f.metadata()["model"] == "srresnet"  # trained 7 steps
        assert json.loads(f.metadata()["train_config"])["steps"] != 7  # of more planned
        assert f.metadata()["profile"] == "colab"
    assert load_generator(out).scale == 2


def test_a_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"nope\.safetensors: no such file; give a \.safetensors file"):
        load_generator(tmp_path / "nope.safetensors")


@pytest.mark.parametrize(
    "content,message",
    [
        (b"not weights at all, just text", "not a .safetensors file nor a checkpoint.pt"),
        (b"\x20\x00\x00\x00\x00\x00\x00\x00{broken header", "corrupt .safetensors file"),
        (b"PK\x03\x04 a truncated zip", "unreadable checkpoint"),
    ],
)
def test_corrupt_bytes_are_a_user_error(tmp_path, content, message):
    (tmp_path / "w.safetensors").write_bytes(content)
    with pytest.raises(UserError, match=message):
        load_generator(tmp_path / "w.safetensors")


def test_a_truncated_export_is_a_user_error(tmp_path):
    path = save_generator(tiny_srresnet(), tmp_path / "g.safetensors")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UserError, match="corrupt .safetensors file"):
        load_generator(path)


def test_a_checkpoint_with_a_pickled_object_is_refused(tmp_path):
    fake_checkpoint(tiny_srresnet(), tmp_path / "checkpoint.pt", note=NotATensor())
    with pytest.raises(UserError, match="refused: it holds pickled Python objects"):
        load_generator(tmp_path / "checkpoint.pt")


@pytest.mark.parametrize("content", ["state dict", "empty config"])
def test_a_torch_file_that_is_not_a_training_checkpoint_is_a_user_error(tmp_path, content):
    state = tiny_srresnet().state_dict()
    torch.save(state if content == "state dict" else {"generator": state, "config": {}}, tmp_path / "x.pt")
    with pytest.raises(UserError, match="not an srlib training checkpoint"):
        load_generator(tmp_path / "x.pt")


def test_discriminator_weights_are_refused(tmp_path):
    d_state = {k: v.contiguous() for k, v in Discriminator(base=8).state_dict().items()}
    generator_metadata = {"architecture": "SRResNet", "config": json.dumps(tiny_srresnet().config())}
    cases = {
        "no_metadata": (None, "no srlib metadata"),
        "labelled": (
            {"architecture": "Discriminator", "config": "{}"},
            "holds a Discriminator, not an SRResNet",
        ),
        "mislabelled": (generator_metadata, r"do not fit SRResNet.*missing.*unexpected.*a discriminator\?"),
    }
    for name, (metadata, message) in cases.items():
        safetensors.torch.save_file(d_state, str(tmp_path / f"{name}.safetensors"), metadata=metadata)
        with pytest.raises(UserError, match=message):
            load_generator(tmp_path / f"{name}.safetensors")


def test_weights_of_another_width_are_refused(tmp_path):
    state = {k: v.contiguous() for k, v in SRResNet(scale=4, n_blocks=1, channels=16).state_dict().items()}
    metadata = {"architecture": "SRResNet", "config": json.dumps({"scale": 4, "n_blocks": 1, "channels": 8})}
    safetensors.torch.save_file(state, str(tmp_path / "w.safetensors"), metadata=metadata)
    with pytest.raises(UserError, match=r"of another shape \(e\.g\. head\.0\.weight\)"):
        load_generator(tmp_path / "w.safetensors")


def test_check_scale_accepts_the_models_scale_and_names_both_otherwise():
    model = tiny_srresnet(scale=2)
    check_scale(model, 2)
    with pytest.raises(UserError, match="upscale x2, not x4"):
        check_scale(model, 4)
