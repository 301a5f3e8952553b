"""srlib: single-image super-resolution (SRResNet, SRGAN) in PyTorch, the library beside the course.

``import srlib`` is light: the names below, and the submodules (``srlib.train``...), are imported on first
use (PEP 562), so that ``srlib --help`` does not wait for torch. ``srlib.imresize`` is the module; its
function is ``srlib.imresize.imresize``.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from srlib.errors import UserError

# public name -> the submodule that defines it
_HOMES = {
    "ensure_data": "datasets",
    "load_image": "images",
    "modcrop": "images",
    "save_image": "images",
    "upscale": "imresize",
    "upscale_nearest": "imresize",
    "psnr": "metrics",
    "rgb_to_y": "metrics",
    "ssim": "metrics",
    "SRResNet": "models",
    "load_generator": "weights",
    "load_pretrained": "weights",
    "save_generator": "weights",
}

__all__ = [
    "SRResNet",
    "UserError",
    "ensure_data",
    "imresize",
    "load_generator",
    "load_image",
    "load_pretrained",
    "modcrop",
    "psnr",
    "rgb_to_y",
    "save_generator",
    "save_image",
    "ssim",
    "upscale",
    "upscale_nearest",
]


def __getattr__(name: str) -> Any:
    """A public name or a submodule, imported when first asked for (PEP 562)."""
    if name in _HOMES:
        value = getattr(importlib.import_module(f"srlib.{_HOMES[name]}"), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"srlib.{name}") is not None:
        value = importlib.import_module(f"srlib.{name}")
    else:
        raise AttributeError(f"module 'srlib' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
