"""Run profiles: how big the course's experiments are, picked by the environment variable ``SRLIB_PROFILE``.

- ``smoke``: continuous integration. Tiny models and a handful of steps, so that every notebook finishes in
  under a minute on a 2-core CPU. The numbers it produces only show that the code runs.
- ``cpu``: a laptop with 2 cores, each training notebook in at most 15 minutes, evaluation included. The
  SRResNet keeps the paper's shape but is shrunk to 8 residual blocks of 32 channels, trained on batches of
  16 64x64 HR crops (16x16 LR): a step then costs about 0.125 s on 2 quiet cores of an AMD EPYC against about
  2 s for the paper's network on 96x96 crops. Where it departs from the paper's constant 1e-4, and why: a
  one-cycle learning rate peaking at 1e-3 (`srlib.train.lr_factor`), and a wall-clock budget of
  ``budget_seconds`` (720) besides the step count (5,700, what 720 s hold at that speed). A run this short
  learns faster with a high rate, and only an annealed rate ends on a good step (the constant 3e-4 of the
  previous recipe ended its 3,000 steps at 28.89 dB on the validation images, below bicubic's 28.90, after
  29.21 at step 2,250). Under the budget the schedule follows the larger of steps done and time spent, so a
  slower laptop stops on time and still anneals. Measured at a fixed 400 steps (one thread, a loaded
  machine; benchmarks/cpu_recipe_trials.md has every trial), seeds 0 and 1: Set5 26.83 and 27.05 dB with
  one-cycle 1e-3 against 26.50 and 24.31 dB with the constant 3e-4; seed 0 with L1 instead of MSE: 26.56
  dB, so the loss stays the paper's MSE. The whole run (`benchmarks/cpu_profile.py --seed S`, 2 threads on
  the 2-core AMD EPYC): seed 0 trained 5,700 steps in 703 s (723 s with evaluation), Set5 29.93 dB, +1.50
  dB over bicubic (Set14 +1.08, BSD100 +0.74); seed 1 5,700 steps in 701 s, Set5 30.04 dB, +1.61 (Set14
  +1.12, BSD100 +0.78): Set5 +1.56 +- 0.05 dB. Both stopped at the step cap just before the budget.
  SRGAN under ``cpu`` trains with VGG16's phi_{5,3} content loss (ImageNet weights offline): its step, batch
  8 of 64x64 from the 8x32 generator, is about 10x the SRResNet step, some 1.3 s on 2 quiet cores
  (benchmarks/cpu_recipe_trials.md, "SRGAN step under cpu"), so 400 steps, capped at ``minutes``, at the
  paper's 1e-4 (tenfold lower after 200): at 3e-4 the colours washed out and the validation PSNR fell from
  29.6 to 13.6 dB within 134 steps; at 1e-4 it was 28.2 dB after 60 steps (vgg16_22: 20.8 dB).
- ``gpu``: Colab and up. The paper's networks (16 blocks, 64 channels), batch 16 of 96x96 HR crops and its
  learning rates. The paper trains SRResNet for 10^6 steps, too long for a Colab session; we take a fifth,
  2 x 10^5 steps (several hours on a T4), since most of the PSNR is gained early. SRGAN is the paper's
  10^5 steps at learning rate 1e-4 followed by 10^5 at 1e-5, starting from the trained SRResNet.
- ``colab``: a free Colab T4, each training notebook in about 20 minutes. The paper's networks and batch,
  trained for ``minutes`` (14) of wall time: the step counts are what `srlib.flops` estimates fits in that
  time on a T4 with fp16 autocast (the precision the trainer picks there), and the run also stops on time,
  with a checkpoint, should the T4 be slower. The other 6 minutes go to installing srlib, downloading the
  data (and VGG19), validation and evaluation. `colab_estimate` prints the derivation.

Without ``SRLIB_PROFILE`` the profile is ``colab`` on Colab with a GPU, ``gpu`` with CUDA elsewhere, else
``cpu``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace

import torch

from srlib.errors import UserError
from srlib.flops import GPUS, STEP_FLOOR_S, UTILISATION, step_flops, step_seconds, steps_in

ENV_VAR = "SRLIB_PROFILE"


@dataclass(frozen=True)
class Profile:
    """The sizes of one run profile. HR crop sides are in pixels and multiples of ``scale``."""

    name: str
    device: str  # "cuda" when available, else "cpu"; every profile runs on either
    # SRResNet and SRGAN (notebooks 04 and 05)
    n_blocks: int  # residual blocks of the generator (paper: 16)
    channels: int  # feature channels of the generator (paper: 64)
    batch_size: int  # SRResNet batch (paper: 16)
    crop: int  # HR crop side; the LR crop is crop // scale (paper: 96)
    train_steps: int  # SRResNet (MSE) steps (paper: 10^6)
    lr: float  # Adam learning rate of SRResNet (its peak, under a schedule) and of SRGAN's first phase (1e-4)
    srgan_batch_size: int
    srgan_steps: int  # SRGAN steps in all (paper: 2 x 10^5)
    srgan_decay_step: int  # the learning rate drops tenfold after this many SRGAN steps (paper: 10^5)
    train_images: int | None  # how many of the 291 training images to use; None: all
    eval_datasets: tuple[str, ...]  # benchmark sets the notebooks score on
    log_every: int  # steps between logged training losses
    # the small experiments of notebooks 02 (plain vs residual stacks) and 03 (upsampling layers)
    experiment_steps: int
    experiment_blocks: int  # residual blocks (two convs each) of the deep stacks of notebook 02
    experiment_channels: int
    experiment_batch: int
    experiment_crop: int  # HR crop side of the experiments
    scale: int = 4
    minutes: float | None = None  # wall-clock budget of each training run (time limit); None: no limit
    schedule: str = "constant"  # SRResNet's learning-rate schedule (`srlib.train.lr_factor`; paper: constant)
    budget_seconds: float | None = None  # SRResNet's training budget: the run stops, annealed, when spent
    srgan_lr: float | None = None  # SRGAN's first-phase learning rate; None: ``lr``

    def describe(self) -> str:
        """One line for the top of a notebook: which profile runs, on what, and how to change it."""
        budget = f", each at most {self.minutes:g} minutes" if self.minutes else ""
        schedule = f" ({self.schedule} learning rate)" if self.schedule != "constant" else ""
        if self.budget_seconds:
            schedule += f" or {self.budget_seconds / 60:g} minutes"
        return (
            f"profile {self.name!r} on {self.device}: SRResNet {self.n_blocks} blocks x {self.channels} "
            f"channels, batch {self.batch_size} of {self.crop}x{self.crop}, {self.train_steps:,} steps"
            f"{schedule}; "
            f"SRGAN {self.srgan_steps:,} steps{budget} (set {ENV_VAR}={'|'.join(PROFILES)} to change)"
        )


_PROFILES = {
    "smoke": Profile(
        name="smoke",
        device="cpu",
        n_blocks=2,
        channels=16,
        batch_size=4,
        crop=48,
        train_steps=20,
        lr=1e-4,
        srgan_batch_size=2,
        srgan_steps=6,
        srgan_decay_step=3,
        train_images=8,
        eval_datasets=("Set5",),
        log_every=5,
        experiment_steps=30,
        experiment_blocks=4,
        experiment_channels=16,
        experiment_batch=8,
        experiment_crop=32,
    ),
    "cpu": Profile(
        name="cpu",
        device="cpu",
        n_blocks=8,
        channels=32,
        batch_size=16,
        crop=64,
        train_steps=5_700,  # 720 s at 0.127 s a step on 2 quiet cores; slower machines stop at budget_seconds
        lr=1e-3,
        srgan_batch_size=8,
        srgan_steps=400,
        srgan_decay_step=200,
        train_images=None,
        eval_datasets=("Set5", "Set14", "BSD100"),
        log_every=50,
        experiment_steps=400,
        experiment_blocks=10,
        experiment_channels=32,
        experiment_batch=16,
        experiment_crop=32,
        schedule="onecycle",
        budget_seconds=720.0,
        srgan_lr=1e-4,  # the paper's; at 3e-4 the VGG16 SRGAN washed its colours out within 134 steps
        minutes=12.0,  # SRGAN: 400 steps, about 9 min on 2 quiet cores; SRResNet: as its 720 s budget
    ),
    "gpu": Profile(
        name="gpu",
        device="cuda",
        n_blocks=16,
        channels=64,
        batch_size=16,
        crop=96,
        train_steps=200_000,
        lr=1e-4,
        srgan_batch_size=16,
        srgan_steps=200_000,
        srgan_decay_step=100_000,
        train_images=None,
        eval_datasets=("Set5", "Set14", "BSD100"),
        log_every=500,
        experiment_steps=3_000,
        experiment_blocks=16,
        experiment_channels=64,
        experiment_batch=16,
        experiment_crop=64,
    ),
}
COLAB_MINUTES = 14.0  # of training per notebook; the rest of the ~20 minutes: install, downloads, evaluation
COLAB_PRECISION = "fp16"  # what the trainer's "auto" picks on a T4 (compute capability 7.5)
_srresnet = step_flops("srresnet", 16, 96)
_srgan = step_flops("srgan", 16, 96, content="vgg54")
_colab_srgan_steps = steps_in(COLAB_MINUTES, _srgan, "T4", COLAB_PRECISION)
_PROFILES["colab"] = replace(
    _PROFILES["gpu"],
    name="colab",
    train_steps=steps_in(COLAB_MINUTES, _srresnet, "T4", COLAB_PRECISION),
    srgan_steps=_colab_srgan_steps,
    srgan_decay_step=_colab_srgan_steps // 2,
    log_every=100,
    experiment_steps=1_500,
    minutes=COLAB_MINUTES,
)
PROFILES = tuple(_PROFILES)


def colab_estimate(gpu: str = "T4") -> str:
    """How the colab profile's step counts follow from FLOPs and the GPU's throughput, one line per model,
    then the range of step times a T4 is likely to give: an estimate from `srlib.flops`, not a measurement
    (no T4 timing has been recorded here). Its fast end is the fp16 estimate, floored at the per-step
    overhead measured on an H200; its slow end the fp32 rate, should the tensor cores gain nothing on the
    64-channel layers."""
    colab = _PROFILES["colab"]
    lines = []
    runs = ("SRResNet", _srresnet, colab.train_steps), ("SRGAN", _srgan, colab.srgan_steps)
    for model, flops, steps in runs:
        rates = []
        for precision in ("fp16", "fp32"):
            t = step_seconds(flops, gpu, precision)
            floor = " (the per-step floor)" if t == STEP_FLOOR_S else ""
            peak = f"{GPUS[gpu][precision] / 1e12:g} TFLOP/s x {UTILISATION[precision]:.0%}"
            rates.append(f"{precision}: {peak} -> {t * 1e3:.0f} ms{floor}")
        minutes = steps * step_seconds(flops, gpu, COLAB_PRECISION) / 60
        lines.append(
            f"{model}: {flops / 1e9:,.0f} GFLOP per step (batch 16 of 96x96); on a {gpu}, "
            f"{'; '.join(rates)}; {steps:,} steps = {minutes:.1f} min in {COLAB_PRECISION}"
        )
    for model, flops, steps in runs:
        fast, slow = (step_seconds(flops, gpu, precision) for precision in ("fp16", "fp32"))
        fewest = steps_in(COLAB_MINUTES, flops, gpu, "fp32")
        lines.append(
            f"estimate, not a measurement: a {gpu} likely takes {fast * 1e3:.0f}-{slow * 1e3:.0f} ms per "
            f"{model} step (fp16 estimate to fp32 rate, by srlib.flops), so {fewest:,}-{steps:,} steps in "
            f"{COLAB_MINUTES:g} minutes; the run stops on time either way"
        )
    return "\n".join(lines)


def on_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def get_profile(name: str | None = None) -> Profile:
    """The profile ``name``, else ``$SRLIB_PROFILE``, else ``colab`` on Colab with CUDA, ``gpu`` with CUDA
    elsewhere and ``cpu`` without.

    The device is CUDA whenever it is available, whatever the profile (``gpu`` without CUDA runs, slowly,
    on the CPU). An unknown name is a UserError that lists the choices.
    """
    chosen = name or os.environ.get(ENV_VAR) or None
    cuda = torch.cuda.is_available()
    if chosen is None:
        chosen = ("colab" if on_colab() else "gpu") if cuda else "cpu"
    key = chosen.strip().lower()
    if key not in _PROFILES:
        where = "" if name else f" (from {ENV_VAR})"
        raise UserError(f"unknown profile {chosen!r}{where}; choose from {', '.join(PROFILES)}")
    return replace(_PROFILES[key], device="cuda" if cuda else "cpu")
