"""Network interpolation (Wang et al., ESRGAN, 2018): theta(alpha) = (1 - alpha) theta_A + alpha theta_B.

Two generators of one architecture, A trained for PSNR (SRResNet) and B fine-tuned from it with a GAN
(SRGAN), are averaged weight by weight. Because B starts from A, the weights stay in one basin and the
mixture works: alpha walks from A's smooth outputs to B's textured ones, a dial along the
perception-distortion trade-off (Blau and Michaeli, 2018) without training anything.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from pathlib import Path

from torch import Tensor

from srlib.errors import UserError
from srlib.files import refuse_overwriting_inputs
from srlib.models import SRResNet, check_same_size
from srlib.weights import load_generator, read_weights, save_generator, trained_as


def _check_alpha(alpha: float) -> None:
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not 0 <= alpha <= 1:
        raise UserError(f"alpha must be between 0 (the first network) and 1 (the second), got {alpha!r}")


def interpolate_weights(a: Mapping[str, Tensor], b: Mapping[str, Tensor], alpha: float) -> dict[str, Tensor]:
    """``(1 - alpha) * a + alpha * b`` for every floating-point tensor of two state dicts of one network.

    Integer tensors (BatchNorm's step counters) are taken from the nearer end, so alpha 0 and 1 give
    back ``a`` and ``b`` exactly.
    """
    _check_alpha(alpha)
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise UserError("the two networks have different tensors (names or shapes): not one architecture")
    return {
        k: (1 - alpha) * a[k] + alpha * b[k] if a[k].is_floating_point() else (a if alpha < 0.5 else b)[k]
        for k in a
    }


def interpolate_models(a: SRResNet, b: SRResNet, alpha: float) -> SRResNet:
    """A new SRResNet whose weights are ``(1 - alpha) a + alpha b``, in eval mode; both must be one size."""
    check_same_size({"A": a, "B": b}, "different architectures: cannot interpolate")
    model = SRResNet(**a.config())
    model.load_state_dict(interpolate_weights(a.state_dict(), b.state_dict(), alpha))
    return model.to(next(a.parameters()).device).eval()


def interpolate_files(
    a: str | Path, b: str | Path, alpha: float, out: str | Path, overwrite: bool = True
) -> Path:
    """Write the interpolation of two generator files (``.safetensors`` or ``checkpoint.pt``) to ``out``.

    Its metadata says what it is: ``model`` "interpolation", ``alpha``, and under ``interpolation`` (JSON)
    alpha with each input's file name, label and metadata. ``out`` may not be ``a`` or ``b``; ``overwrite``
    as in `save_generator`.
    """
    _check_alpha(alpha)
    refuse_overwriting_inputs([out], [a, b])
    model_a, model_b = load_generator(a), load_generator(b)
    check_same_size({a: model_a, b: model_b}, "different architectures: cannot interpolate")
    ends = {
        name: {"file": Path(p).name, "label": trained_as(p), "metadata": read_weights(p)[1]}
        for name, p in (("a", a), ("b", b))
    }
    model = interpolate_models(model_a, model_b, alpha)
    metadata = {
        "model": "interpolation",
        "alpha": f"{alpha:g}",
        "interpolation": json.dumps({"formula": "(1 - alpha) * a + alpha * b", "alpha": alpha, **ends}),
    }
    return save_generator(model, out, metadata, overwrite)
