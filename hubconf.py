"""torch.hub entry points: ``torch.hub.load("owner/srlib", "srresnet_x4")``, or from a checkout
``torch.hub.load(".", "srresnet_x4", source="local")``.

Each returns the paper's SRResNet generator (x4, 16 blocks, 64 channels) in eval mode, with the weights
shipped in ``srlib/pretrained/`` (see weights/README.md for how they were trained), or freshly initialised
with ``pretrained=False``.
"""

dependencies = ["torch", "torchvision", "safetensors", "numpy", "PIL", "requests"]

from srlib.errors import UserError  # noqa: E402  (torch.hub reads `dependencies` first)
from srlib.models import SRResNet  # noqa: E402
from srlib.weights import load_pretrained  # noqa: E402


def _pretrained(flag: object) -> bool:
    """``pretrained``, which must be True or False: any non-empty string, "no" included, is truthy."""
    if not isinstance(flag, bool):
        raise UserError(f"pretrained must be True or False, got {flag!r}")
    return flag


def srresnet_x4(pretrained: bool = True) -> SRResNet:
    """SRResNet-MSE x4: trained with the pixel MSE (the paper's PSNR-oriented generator)."""
    return load_pretrained("srresnet_x4") if _pretrained(pretrained) else SRResNet(scale=4).eval()


def srgan_mse_x4(pretrained: bool = True) -> SRResNet:
    """SRGAN-MSE x4: the generator fine-tuned with pixel MSE + 1e-3 adversarial loss (not SRGAN-VGG54)."""
    return load_pretrained("srgan_mse_x4") if _pretrained(pretrained) else SRResNet(scale=4).eval()


def srgan_x4(pretrained: bool = True) -> SRResNet:
    """The old name of `srgan_mse_x4`, still loaded (with a notice), as the README says."""
    return load_pretrained("srgan_x4") if _pretrained(pretrained) else SRResNet(scale=4).eval()
