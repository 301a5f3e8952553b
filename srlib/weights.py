"""Saving and loading trained generators.

A generator is shipped as a ``.safetensors`` file: plain tensors (no pickled code, safe to load from anyone)
plus string metadata holding ``architecture`` ("SRResNet") and ``config`` (the JSON of ``SRResNet.config()``),
so that `load_generator` can rebuild the network without being told its size. `load_generator` also reads a
training ``checkpoint.pt`` directly, with ``torch.load(weights_only=True)``, which refuses pickled objects.
"""

from __future__ import annotations

import hashlib
import json
import logging
from os import PathLike
from pathlib import Path

import safetensors.torch
import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor, nn

from srlib.checkpoint import load_checkpoint
from srlib.constants import (
    ARCH_KEYS,
    MAX_BLOCKS,
    MAX_CHANNELS,
    PRETRAINED,
    RENAMED_PRETRAINED,
    SCALES,
    SCALES_TEXT,
)
from srlib.errors import UserError, check_type
from srlib.files import atomic_path, refuse_overwriting_inputs
from srlib.models import SRResNet
from srlib.runtime import pick_device

ARCHITECTURE = "SRResNet"
MAX_CONFIG_CHARS = 1000  # the metadata config is parsed only below this: no deep nesting, no huge numbers
_WHAT_TO_GIVE = "give a .safetensors file written by `srlib export` or a run's checkpoint.pt"


def save_generator(
    model: nn.Module, path: str | Path, extra_metadata: dict[str, str] | None = None, overwrite: bool = True
) -> Path:
    """Write an SRResNet's weights and config as ``.safetensors``, atomically; returns the path.

    ``extra_metadata`` (strings) is stored beside, e.g. the training step or which loss trained it. Without
    ``overwrite``, a file already at ``path`` (even one another process wrote meanwhile) is a UserError.
    """
    model = getattr(model, "module", model)  # a DistributedDataParallel wrapper holds the model in .module
    check_type(model, SRResNet, "save_generator: the model")
    if Path(path).is_dir():
        raise UserError(f"{path} is a folder; give a file name")
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:  # load_generator would refuse the file
        raise UserError(f"save_generator: {len(bad)} tensors hold NaN or inf (e.g. {bad[0]}); not written")
    metadata = {"architecture": ARCHITECTURE, "config": json.dumps(model.config())}
    metadata.update({k: str(v) for k, v in (extra_metadata or {}).items()})
    with atomic_path(path, exclusive=not overwrite) as tmp:
        safetensors.torch.save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def _read_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The generator of a training checkpoint and the metadata an export of it would carry."""
    ckpt = load_checkpoint(path, hint=_WHAT_TO_GIVE)
    config = ckpt["config"]
    metadata = {
        "architecture": ARCHITECTURE,
        "config": json.dumps({k: config[k] for k in ARCH_KEYS}),
        "model": str(config.get("model", "")),
        "step": str(ckpt.get("step", "")),
        "train_config": json.dumps(config),  # how it was trained, kept in the export too
    }
    if config.get("model") == "srgan":
        metadata["content"] = str(config.get("content", ""))  # "mse" marks the SRGAN-MSE variant
    return ckpt["generator"], metadata


def read_weights(path: str | Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The tensors and metadata of a ``.safetensors`` export or a ``checkpoint.pt``, told apart by content.

    Bad files raise a one-line UserError naming the path: missing, corrupt, or holding pickled objects.
    """
    check_type(path, (str, PathLike), "the weights file")
    path = Path(path)
    if not path.is_file():
        what = "not a regular file" if path.exists() else "no such file"
        raise UserError(f"{path}: {what}; {_WHAT_TO_GIVE}")
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError as e:  # permissions
        raise UserError(f"{path}: cannot be read ({e.strerror}); fix its permissions") from None
    if head[8:9] == b"{":  # safetensors: an 8-byte header length, then the JSON header
        try:
            with safe_open(str(path), framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
        except (SafetensorError, OSError, ValueError) as e:
            raise UserError(f"{path}: corrupt .safetensors file ({e}); export it again") from None
    return _read_checkpoint(path)


def _mismatch(model: nn.Module, tensors: dict[str, Tensor]) -> str:
    """One line saying how a state dict differs from the model's: missing, unexpected, other shapes."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    shapes = [k for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    kinds = [  # integer weights would be cast to floats without a word
        k
        for k in expected
        if k in tensors and tensors[k].is_floating_point() != expected[k].is_floating_point()
    ]
    parts = [
        f"{len(v)} {what} (e.g. {v[0]})"
        for what, v in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("of another shape", shapes),
            ("of another kind (integer or float)", kinds),
        )
        if v
    ]
    return ", ".join(parts)


def check_architecture(config: object, where: str = "") -> dict[str, int]:
    """The SRResNet config ``{"scale", "n_blocks", "channels"}``, or a one-line UserError when it is not one.

    Whole numbers only, scale 2, 4 or 8, 0 to `MAX_BLOCKS` blocks and 1 to `MAX_CHANNELS` channels: a
    file or a flag asking for a billion blocks is refused before any memory is taken.
    """
    prefix = f"{where}: " if where else ""
    keys = ARCH_KEYS
    if not (isinstance(config, dict) and set(config) == set(keys)):
        raise UserError(f"{prefix}the config must hold exactly {', '.join(keys)}, got {config!r}")
    if not all(isinstance(config[k], int) and not isinstance(config[k], bool) for k in keys):
        raise UserError(f"{prefix}the config must hold whole numbers, got {config!r}")
    bounds = {"scale": (min(SCALES), max(SCALES)), "n_blocks": (0, MAX_BLOCKS), "channels": (1, MAX_CHANNELS)}
    for k, (low, high) in bounds.items():
        if not low <= config[k] <= high:
            raise UserError(f"{prefix}{k} must be from {low} to {high}, got {config[k]}")
    if config["scale"] not in SCALES:
        raise UserError(f"{prefix}scale must be {SCALES_TEXT}, got {config['scale']}")
    return {k: config[k] for k in keys}


def _architecture_of(
    path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, str]
) -> dict[str, int]:
    """The checked config of a weights file: within bounds, and fitting its tensors' names and shapes.

    The fit is checked on a network built on the "meta" device, which takes no memory: a file cannot make
    srlib build a network that its tensors do not fill.
    """
    arch = metadata.get("architecture")
    if arch is None or "config" not in metadata:
        raise UserError(f"{path}: no srlib metadata (architecture, config); {_WHAT_TO_GIVE}")
    if arch != ARCHITECTURE:
        arch = arch if len(arch) <= 40 else f"{arch[:40]}..."  # the name as written, a long one shortened
        raise UserError(f"{path}: holds a {arch}, not an {ARCHITECTURE} generator; {_WHAT_TO_GIVE}")
    text = metadata["config"]
    if len(text) > MAX_CONFIG_CHARS:  # a real one is ~50 characters; this bounds nesting and digits too
        raise UserError(
            f"{path}: its config metadata holds {len(text):,} characters: not an SRResNet config; "
            f"{_WHAT_TO_GIVE}"
        )
    try:
        config = json.loads(text)
    except (json.JSONDecodeError, ValueError, RecursionError):
        raise UserError(f"{path}: its config {text[:80]!r} is not JSON; {_WHAT_TO_GIVE}") from None
    config = check_architecture(config, f"{path}")
    with torch.device("meta"):
        problem = _mismatch(SRResNet(**config), tensors)
    if problem:
        raise UserError(
            f"{path}: these weights do not fit SRResNet({metadata['config']}): {problem}; "
            f"are they another network's (a discriminator?) {_WHAT_TO_GIVE}"
        )
    return config


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> SRResNet:
    """Rebuild the SRResNet saved in ``path`` (``.safetensors`` or ``checkpoint.pt``), in eval mode.

    The config is checked against the tensors before the network is built; NaN or inf weights and negative
    BatchNorm variances are refused, and so is a ``device`` that is not there.
    """
    tensors, metadata = read_weights(path)
    config = _architecture_of(path, tensors, metadata)
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise UserError(
            f"{path}: {len(bad)} of {len(tensors)} tensors hold NaN or inf (e.g. {bad[0]}): the run that "
            "made them diverged; use an earlier checkpoint"
        )
    negative = [k for k, v in tensors.items() if k.endswith("running_var") and bool((v < 0).any())]
    if negative:  # a variance is never negative: such a BatchNorm divides by sqrt(< 0) and outputs NaN
        raise UserError(
            f"{path}: {len(negative)} BatchNorm statistics hold a negative variance (e.g. {negative[0]}): "
            "the file is corrupt; export it again or use other weights"
        )
    where = pick_device(str(device))  # a GPU that is not there: a one-line error, not torch's
    model = SRResNet(**config)
    model.load_state_dict(tensors)
    return model.to(where).eval()


def check_scale(model: SRResNet, scale: int) -> None:
    """A UserError when a generator upscales by another factor than the one asked for."""
    if model.scale != scale:
        raise UserError(
            f"the weights upscale x{model.scale}, not x{scale}: ask for x{model.scale} or give x{scale} "
            "weights"
        )


def export_generator(
    checkpoint: str | Path,
    out: str | Path,
    extra_metadata: dict[str, str] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write the generator of a training checkpoint as ``.safetensors``, with its training config and the
    step it was trained to (the checkpoint's, not the planned ``steps``: a run stopped on time has fewer),
    and ``extra_metadata`` (e.g. the notebook's profile).

    ``out`` may not be ``checkpoint`` itself; ``overwrite`` as in `save_generator`."""
    refuse_overwriting_inputs([out], [checkpoint])
    _, metadata = read_weights(checkpoint)
    model = load_generator(checkpoint)
    extra = {k: metadata[k] for k in ("model", "content", "step", "train_config") if metadata.get(k)}
    return save_generator(model, out, extra | dict(extra_metadata or {}), overwrite)


# Generators shipped inside the package (`srlib.constants.PRETRAINED`); their model card is weights/README.md.
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
log = logging.getLogger(__name__)


def pretrained_path(name: str) -> Path:
    """The file of a shipped generator, or a UserError saying which names exist and how to make one."""
    if name in RENAMED_PRETRAINED:
        name, old = RENAMED_PRETRAINED[name], name
        log.warning(f"srlib: {old!r} is now called {name!r} (it is SRGAN-MSE); old name to go")
    if name not in PRETRAINED:
        raise UserError(f"unknown pretrained model {name!r}; choose from {', '.join(PRETRAINED)}")
    path = PRETRAINED_DIR / f"{name}.safetensors"
    if not path.is_file():
        raise UserError(
            f"{path} is not there (an installation without srlib's package data?); reinstall srlib, or "
            "train your own with `srlib train` and `srlib export`, then pass --weights"
        )
    return path


def pretrained_sha256(name: str) -> str:
    """The sha256 of a shipped generator's file: which weights a figure or table was made with."""
    return hashlib.sha256(pretrained_path(name).read_bytes()).hexdigest()


def load_pretrained(name: str, device: str | torch.device = "cpu") -> SRResNet:
    """A shipped generator by name ("srresnet_x4" or "srgan_mse_x4"), in eval mode."""
    return load_generator(pretrained_path(name), device)


def trained_as(path: str | Path) -> str:
    """How a generator file was trained, from its metadata: "srresnet", "srgan" (the paper's VGG54 content
    loss), "srgan-mse" or "srgan-vgg22"; "" when the file does not say."""
    metadata = read_weights(path)[1]
    model, content = metadata.get("model", ""), metadata.get("content", "")
    return f"{model}-{content}" if model == "srgan" and content not in ("", "vgg54") else model


def pretrained_label(name: str) -> str:
    """The label of a shipped generator in tables and figures, e.g. "srgan-mse" for ``srgan_mse_x4``."""
    return trained_as(pretrained_path(name)) or name.removesuffix("_x4")
