"""The training checkpoint format: one schema, written by `srlib.train`, read by training and `srlib.weights`.

``checkpoint.pt`` is a ``torch.save`` of plain containers and tensors only, so that it loads with
``torch.load(weights_only=True)``, which refuses pickled code:

    config        the run's TrainConfig as a dict (see `srlib.train`)
    step          steps done
    seconds       training time so far
    history       {column: [values]} of history.csv;  val_history: the same for val.csv
    rng           {"torch": CPU RNG state, "cuda": [per-GPU states], "data": [crop-sampler state per process]}
    generator     the generator's state dict; the optimisers', schedulers', scalers' (and for SRGAN the
                  discriminator's) state dicts under their names (`srlib.train.Trainer.state_objects`)
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from srlib.constants import ARCH_KEYS, RENAMED_SETTINGS
from srlib.errors import UserError
from srlib.files import atomic_path

REQUIRED = ("config", "step", "generator", "rng")


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write a checkpoint atomically: a crash while writing leaves the previous file intact."""
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise ValueError(f"a checkpoint needs {', '.join(missing)}")
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, hint: str = "start a new run") -> dict[str, Any]:
    """A checkpoint as a dict, or a one-line UserError (missing, corrupt, pickled objects, not srlib's).

    ``hint`` ends each error: what the caller's user should do instead. Old setting names are renamed
    (`srlib.constants.RENAMED_SETTINGS`), so checkpoints of earlier versions still resume and export.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {'not a regular file' if path.exists() else 'no such checkpoint'}; {hint}")
    try:
        with open(path, "rb") as f:
            zipped = f.read(2) == b"PK"
    except OSError as e:  # permissions
        raise UserError(f"{path}: cannot be read ({e.strerror}); fix its permissions, or {hint}") from None
    try:
        with open(path, "rb") as f:  # a file object: torch.load would hand a "*.safetensors" name elsewhere
            ckpt = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if zipped:  # a well-formed torch file whose pickle names classes or functions
            raise UserError(
                f"{path}: refused: it holds pickled Python objects, not only tensors, and loading them "
                f"could run arbitrary code (torch.load weights_only=True says no); {hint}"
            ) from None
        raise UserError(f"{path}: not a .safetensors file nor a checkpoint.pt (corrupt?); {hint}") from None
    except Exception as e:  # a malformed file fails anywhere in torch.load: struct.error, IndexError, ...
        raise UserError(f"{path}: unreadable checkpoint ({type(e).__name__}; truncated?); {hint}") from None
    config = ckpt.get("config") if isinstance(ckpt, dict) else None
    if not (
        isinstance(config, dict)
        and set(ARCH_KEYS) <= config.keys()
        and isinstance(ckpt.get("generator"), dict)
        and all(isinstance(v, torch.Tensor) for v in ckpt["generator"].values())
    ):
        raise UserError(f"{path}: not an srlib training checkpoint (no 'generator' and 'config'); {hint}")
    ckpt["config"] = new_names(config)
    if isinstance(ckpt.get("history"), dict):
        ckpt["history"] = new_names(ckpt["history"])
    return ckpt


def new_names(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` (a config, or history columns) with the names renamed since earlier versions
    (`srlib.constants.RENAMED_SETTINGS`, e.g. ``lr`` -> ``learning_rate``) under their new names."""
    for old, new in RENAMED_SETTINGS.items():
        if old in settings and new not in settings:
            settings[new] = settings.pop(old)
    return settings


def read_state_dict(path: str | Path, hint: str) -> dict[str, Any]:
    """The tensors of a state-dict file, ``.safetensors`` or torch's (never unpickling code), or a one-line
    UserError that ends with ``hint``, what the user should give instead."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; {hint}")
    try:
        if path.suffix == ".safetensors":
            return safetensors.torch.load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any unreadable or refused file: say which, in one line
        raise UserError(f"{path}: not a readable state dict ({type(e).__name__}); {hint}") from None
    if not isinstance(state, dict):
        raise UserError(f"{path}: holds a {type(state).__name__}, not a state dict; {hint}")
    return state
