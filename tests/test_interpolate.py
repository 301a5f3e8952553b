import json

import pytest
import torch

from srlib.cli import main
from srlib.interpolate import interpolate_files, interpolate_models
from srlib.models import SRResNet
from srlib.weights import load_generator, read_weights, save_generator


def tiny(seed: int, channels: int = 8) -> SRResNet:
    torch.manual_seed(seed)
    model = SRResNet(scale=4, n_blocks=1, channels=channels)
    with torch.no_grad():  # BatchNorm statistics that differ between the two networks
        model.body_end[1].running_mean.normal_()
        model.body_end[1].num_batches_tracked.fill_(seed + 1)
    return model


@pytest.fixture
def pair(tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_generator(tiny(0), a, {"model": "srresnet"})
    save_generator(tiny(1), b, {"model": "srgan", "content": "mse"})
    return a, b


@pytest.mark.parametrize("alpha, end", [(0.0, 0), (1.0, 1)])
def test_alpha_0_and_1_give_back_the_inputs_exactly(pair, tmp_path, alpha, end):
    out = interpolate_files(*pair, alpha, tmp_path / "c.safetensors")
    got, want = read_weights(out)[0], read_weights(pair[end])[0]
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_alpha_half_is_the_mean_of_the_weights_and_the_model_runs(pair):
    a, b = (load_generator(p) for p in pair)
    mid = interpolate_models(a, b, 0.5)
    wa, wb, wm = a.state_dict(), b.state_dict(), mid.state_dict()
    assert torch.allclose(wm["tail.weight"], (wa["tail.weight"] + wb["tail.weight"]) / 2)
    assert torch.equal(wm["body_end.1.num_batches_tracked"], wb["body_end.1.num_batches_tracked"])
    assert not torch.allclose(wm["tail.weight"], wa["tail.weight"])
    assert mid(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)


def test_cli_writes_an_interpolation_labelled_with_alpha_and_its_inputs(pair, tmp_path, capsys):
    out = tmp_path / "c.safetensors"
    assert main(["interpolate", str(pair[0]), str(pair[1]), "--alpha", "0.25", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    metadata = read_weights(out)[1]
    assert metadata["model"] == "interpolation" and metadata["alpha"] == "0.25"
    info = json.loads(metadata["interpolation"])
    assert info["alpha"] == 0.25
    assert (info["a"]["file"], info["a"]["label"]) == ("a.safetensors", "srresnet")
    assert (info["b"]["label"], info["b"]["metadata"]["content"]) == ("srgan-mse", "mse")
    assert load_generator(out).config() == {"scale": 4, "n_blocks": 1, "channels": 8}


def test_cli_refuses_different_architectures_in_one_line(pair, tmp_path, capsys):
    wide = tmp_path / "wide.safetensors"
    save_generator(tiny(2, channels=16), wide)
    out = tmp_path / "c.safetensors"
    assert main(["interpolate", str(pair[0]), str(wide), "--alpha", "0.5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "different architectures" in err and err.count("\n") == 1
    assert not out.exists()


def test_cli_refuses_alpha_outside_0_1(pair, tmp_path, capsys):
    out = tmp_path / "c.safetensors"
    assert main(["interpolate", str(pair[0]), str(pair[1]), "--alpha", "1.5", "--out", str(out)]) == 2
    assert "alpha must be between 0" in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_a_folder_as_out_before_any_work(pair, tmp_path, capsys):
    assert main(["interpolate", str(pair[0]), str(pair[1]), "--alpha", "0.5", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and err.count("\n") == 1
