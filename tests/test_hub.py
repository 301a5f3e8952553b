"""hubconf.py: the shipped generators through torch.hub, from the checkout (offline)."""

from pathlib import Path

import torch

from srlib.weights import load_pretrained

ROOT = Path(__file__).resolve().parents[1]


def test_torch_hub_loads_the_shipped_srresnet_from_the_local_checkout():
    hub = torch.hub.load(str(ROOT), "srresnet_x4", source="local")
    lr = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(hub(lr), load_pretrained("srresnet_x4")(lr))


def test_torch_hub_builds_an_untrained_srgan_generator_on_request():
    fresh = torch.hub.load(str(ROOT), "srgan_mse_x4", source="local", pretrained=False)
    shipped = load_pretrained("srgan_mse_x4")
    assert fresh.config() == shipped.config()
    assert not torch.equal(fresh.head[0].weight, shipped.head[0].weight)
