"""Training SRResNet (pixel MSE) and SRGAN (perceptual loss), as in Ledig et al. 2017, section 3.2.

A run is one `TrainConfig` and one folder, ``config.out``:

    config.json          the settings, and where the run executed (device, precision, torch)
    checkpoint.pt        weights, optimisers, step, RNG states and history: resuming continues bit-exactly
    history.csv          losses every ``log_every`` steps (`read_history` loads it for `srlib.plot`)
    val.csv              PSNR / SSIM on held-out images every ``val_every`` steps, beside bicubic's
    val/step_XXXXXX.png  an LR | bicubic | SR | HR panel of the first validation image
    snapshots/           generator snapshots every ``snapshot_every`` steps (optional)

Data (`srlib.sampler.CropSampler`, `srlib.imresize.make_lr`): random ``crop`` x ``crop`` HR crops of the
training images, each turned by one of the 8 symmetries of the square; the LR inputs are made per batch, on
the device, with MATLAB's bicubic and rounded to 8 bits, as the benchmarks' LR files were. The benchmarks
are never used here: validation uses other images.

The device, the processes and the precision are `srlib.runtime`'s; the checkpoint format is
`srlib.checkpoint`'s. Several GPUs: ``torchrun --nproc_per_node N -m srlib train ...``; each process draws
its own crops (seed + rank), ``batch_size`` is the total over all processes, only rank 0 writes files.

No lost work: a run holds its folder's lock (``.lock``; a second run on the folder is refused, a killed
run's lock is taken over); Ctrl-C or SIGTERM writes a checkpoint at the current step before stopping; a
checkpoint is written only when every weight is finite; a new run never replaces an earlier run's history.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import MultiStepLR
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from srlib.checkpoint import load_checkpoint, save_checkpoint
from srlib.datasets import BENCHMARKS, data_root
from srlib.errors import UserError
from srlib.evaluate import baseline, evaluate_images, sample_images
from srlib.files import folder_lock, remove_stale_temporaries, write_text
from srlib.images import image_files, load_image
from srlib.imresize import make_lr
from srlib.inference import as_upscaler
from srlib.losses import (
    CONTENT_LOSSES,
    PerceptualLoss,
    discriminator_loss,
    gradient_balance,
    pixel_mse,
)
from srlib.models import Discriminator, SRResNet, to_model_range
from srlib.plot import comparison_figure
from srlib.runtime import AMP_CHOICES, Runtime
from srlib.sampler import CropSampler
from srlib.weights import MAX_BLOCKS, MAX_CHANNELS, load_generator, save_generator

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = (
    "step",
    "g_content",
    "g_adversarial",
    "g_total",
    "d_loss",
    "d_real",
    "d_fake",
    "learning_rate",
    "seconds",
)
VAL_COLUMNS = ("step", "psnr", "ssim", "bicubic_psnr", "bicubic_ssim")
DEFAULT_STEPS = {"srresnet": 1_000_000, "srgan": 200_000}  # the paper: 10^6; 10^5 + 10^5


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as config.json and inside every checkpoint."""

    out: str  # the run folder
    model: str = "srresnet"  # "srresnet" (pixel MSE) or "srgan" (content + adversarial loss)
    data: str | None = None  # folder of HR training images; None: $SRLIB_DATA/train (T91 + BSDS200, 291)
    max_images: int | None = None  # use only the first N training images (sorted by path); None: all
    steps: int | None = None  # None: the paper's, DEFAULT_STEPS[model]
    batch_size: int = 16  # total over all processes
    crop: int = 96  # HR crop side; LR inputs are crop // scale
    scale: int = 4
    n_blocks: int = 16
    channels: int = 64
    learning_rate: float = 1e-4  # Adam; SRGAN drops it tenfold at decay_step
    betas: tuple[float, float] = (0.9, 0.999)
    seed: int = 0
    quantize_lr: bool = True  # round LR inputs to 8 bits, as the benchmarks' LR files are
    init: str | None = None  # generator weights to start from (.safetensors, checkpoint.pt); SRGAN needs it
    # SRGAN only
    content: str = "vgg54"  # "vgg54", "vgg22" (VGG19), "vgg16_22", "vgg16_53" (VGG16) or "mse"
    vgg_weights: str | None = "imagenet"  # "imagenet", a path to torchvision vgg19/vgg16 weights, or None
    vgg_rescale: float | None = None  # VGG features are divided by this; None: the loss's VGG_RESCALES value
    adv_weight: float = 1e-3
    d_channels: int = 64  # discriminator width (64 in the paper)
    decay_step: int | None = None  # both learning rates drop tenfold after this step; None: steps // 2
    real_label: float = 1.0  # D's target for HR images; 0.9 is one-sided label smoothing
    d_steps: int = 1  # discriminator updates per generator update (on the same batch)
    d_every: int = 1  # ... made every d_every steps (2: D learns half as often)
    # bookkeeping
    log_every: int = 100
    val_every: int = 1000
    checkpoint_every: int = 1000
    snapshot_every: int | None = None  # also keep the generator every this many steps, in snapshots/
    val_dir: str | None = None  # held-out HR images; None: the scikit-image samples (never the benchmarks)
    device: str | None = None  # None: CUDA, then MPS, then CPU
    amp: str = "auto"  # "auto" (bf16 on compute capability >= 8, fp16 below), "bf16", "fp16", "off"

    def __post_init__(self) -> None:
        if self.steps is None:
            self.steps = DEFAULT_STEPS.get(self.model, DEFAULT_STEPS["srresnet"])
        if isinstance(self.amp, bool):  # configs written before amp had choices
            self.amp = "auto" if self.amp else "off"
        self.betas = tuple(self.betas)

    def check(self) -> None:
        """A one-line UserError for settings no run can use, before anything is built."""
        if self.model not in DEFAULT_STEPS:
            raise UserError(f"unknown model {self.model!r}; choose from {', '.join(DEFAULT_STEPS)}")
        if self.content not in CONTENT_LOSSES:
            raise UserError(f"unknown content loss {self.content!r}; choose from {', '.join(CONTENT_LOSSES)}")
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
        if self.scale not in (2, 4, 8):
            raise UserError(f"scale must be 2, 4 or 8, got {self.scale}")
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
        if self.crop % self.scale:
            raise UserError(f"the crop ({self.crop}) must be a multiple of the scale ({self.scale})")
        if self.val_dir and set(Path(self.val_dir).resolve().parts) & {*BENCHMARKS, "benchmarks"}:
            raise UserError(
                f"{self.val_dir} is a benchmark set, kept for evaluation: validate on other images"
            )


# settings that may change when a run is resumed; a change to any other (architecture, data) is refused
RESUMABLE = {
    "out", "steps", "learning_rate", "device", "amp", "log_every", "val_every", "checkpoint_every",
    "snapshot_every", "adv_weight", "real_label", "d_steps", "d_every",
}  # fmt: skip


def load_resumable(path: Path) -> tuple[dict[str, Any], TrainConfig]:
    """A run's checkpoint and its saved TrainConfig (settings this version does not know are left out)."""
    if not path.is_file():
        raise UserError(f"{path}: no checkpoint to resume; start without --resume")
    ckpt = load_checkpoint(path)
    known = {f.name for f in fields(TrainConfig)}
    return ckpt, TrainConfig(**{k: v for k, v in ckpt["config"].items() if k in known})


def refuse_unresumable(path: Path, saved: TrainConfig, changes: dict[str, Any]) -> None:
    """A one-line UserError when ``changes`` touch a setting a resumed run keeps (architecture, data)."""
    refused = [
        f"{k} (saved {getattr(saved, k)!r}, now {v!r})" for k, v in changes.items() if k not in RESUMABLE
    ]
    if refused:
        raise UserError(
            f"{path} was trained with other settings: {', '.join(refused)}; resume with the same settings "
            "or start a new run"
        )


def resume_config(out: str | Path, **given: Any) -> TrainConfig:
    """The saved config of the run in ``out`` with only the settings ``given`` changed, each change logged.

    This is what ``srlib train --resume`` uses: a flag not given keeps its saved value (it does not fall back
    to a default), so resuming after a disconnect continues exactly the run that was started.
    """
    path = Path(out) / "checkpoint.pt"
    config = load_resumable(path)[1]
    changes = {k: v for k, v in given.items() if v != getattr(config, k) and k != "out"}
    refuse_unresumable(path, config, changes)
    for k, v in changes.items():
        logger.info("resume: %s %r -> %r", k, getattr(config, k), v)
    return replace(config, out=str(out), **changes)


def write_csv(path: Path, columns: dict[str, list[float]]) -> None:
    """Write column lists as CSV, atomically; NaN (nothing logged) becomes an empty cell."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for row in zip(*columns.values(), strict=True):
        writer.writerow("" if math.isnan(v) else f"{v:.8g}" for v in row)
    write_text(path, buf.getvalue())


def read_history(path: str | Path) -> dict[str, list[float]]:
    """A run's history.csv or val.csv as ``{column: values}``; empty cells are NaN, empty columns dropped.

    SRResNet runs leave the GAN columns empty, so they do not appear; feed the result to `curves_figure`.
    Files of earlier versions name the learning rate ``lr``; it is read as ``learning_rate``.
    """
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {k: [float(r[k]) if r[k] else math.nan for r in rows] for k in (rows[0] if rows else {})}
    if "lr" in columns:
        columns["learning_rate"] = columns.pop("lr")
    return {k: v for k, v in columns.items() if not all(math.isnan(x) for x in v)}


class Due(NamedTuple):
    """What to do after a step: append to the history, validate, write a checkpoint, stop."""

    log: bool
    validate: bool
    checkpoint: bool
    stop: bool


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Switch off a network's parameter gradients for the block, and back on even if the block raises."""
    module.requires_grad_(False)
    try:
        yield
    finally:
        module.requires_grad_(True)


class Trainer:
    """What SRResNet and SRGAN training share: data, logging, validation, checkpoints, and the loop.

    A subclass builds its networks and optimisers in `build`, names what a checkpoint holds in
    `state_objects`, and does one update in `train_step`. Constructing builds; only `run` writes files.
    """

    generator: SRResNet
    g_optimizer: torch.optim.Optimizer

    def __init__(self, config: TrainConfig, runtime: Runtime | None = None, resume: bool = False):
        config.check()
        self.config, self.rt = config, runtime or Runtime.start(config.device, config.amp)
        if config.batch_size % self.rt.world:
            raise UserError(f"batch size {config.batch_size} does not split over {self.rt.world} processes")
        self.run_dir = Path(config.out)
        self.checkpoint_path = self.run_dir / "checkpoint.pt"
        if not resume and self.checkpoint_path.exists():
            raise UserError(
                f"{self.run_dir} already holds a run: continue it with --resume or choose another --out"
            )
        history = [n for n in ("history.csv", "val.csv") if (self.run_dir / n).exists()]
        if not resume and history:  # a run stopped before its first checkpoint: its history is all there is
            raise UserError(
                f"{self.run_dir} holds an earlier run's {history[0]} (and no checkpoint to resume): choose "
                "another --out, or delete that folder to start over"
            )
        ckpt = self._resume_checkpoint() if resume else None
        self.resuming = ckpt is not None
        torch.manual_seed(config.seed)  # the same initial weights in every process and every run
        self.build()
        data = config.data or data_root() / "train"
        self.sampler = CropSampler(
            data, config.crop, config.seed + self.rt.rank, config.max_images, self.rt.device
        )
        self.val_images = {}
        if self.rt.main:
            self.val_images = (
                {p.stem: load_image(p) for p in image_files(config.val_dir)}
                if config.val_dir
                else sample_images()
            )
        self.step, self.seconds, self.saved_step = 0, 0.0, None
        self.interrupted: int | None = None  # the signal (SIGINT, SIGTERM) that asked the run to stop
        self.history: dict[str, list[float]] = {k: [] for k in HISTORY_COLUMNS}
        self.val_history: dict[str, list[float]] = {k: [] for k in VAL_COLUMNS}
        if ckpt is not None:
            self._restore(ckpt)

    # --- what subclasses define -----------------------------------------------------------------------
    def build(self) -> None:
        """Create the networks, optimisers and schedulers (on the runtime's device)."""
        raise NotImplementedError

    def state_objects(self) -> dict[str, Any]:
        """Everything with a ``state_dict`` that a checkpoint holds, by name."""
        raise NotImplementedError

    def train_step(self, lr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        """One update on an LR batch in [0, 1] and its HR batch in [-1, 1]; returns the losses to log."""
        raise NotImplementedError

    def new_generator(self) -> SRResNet:
        """The SRResNet of the config, with the weights of ``config.init`` when given (not on resume)."""
        c = self.config
        generator = SRResNet(c.scale, c.n_blocks, c.channels)
        if c.init and not self.resuming:  # a resumed run takes its weights from the checkpoint
            init = load_generator(c.init)
            if init.config() != generator.config():
                raise UserError(
                    f"{c.init} holds SRResNet({init.config()}), but this run is SRResNet"
                    f"({generator.config()}): give the same scale, blocks and channels"
                )
            generator.load_state_dict(init.state_dict())
        return generator

    @staticmethod
    def update(loss: Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
        """One optimiser step on ``loss`` (scaled against fp16 underflow when the scaler is enabled)."""
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    # --- the loop -------------------------------------------------------------------------------------
    def next_batch(self) -> tuple[Tensor, Tensor]:
        """This process's (LR in [0, 1], HR in [-1, 1]) batch, cropped and degraded on the device."""
        hr = self.sampler.sample(self.config.batch_size // self.rt.world).float() / 255
        lr = make_lr(hr, self.config.scale, self.config.quantize_lr)
        if self.rt.channels_last:
            lr, hr = (x.contiguous(memory_format=torch.channels_last) for x in (lr, hr))
        return lr, to_model_range(hr)

    def run(
        self, until: int | None = None, progress: bool | None = None, time_limit: float | None = None
    ) -> Path:
        """Train up to ``config.steps`` (or stop after step ``until``, with a checkpoint); returns the folder.

        ``progress``: show a progress bar (default: when stderr is a terminal). ``time_limit``: stop, with a
        checkpoint, at the first log step after this many seconds of this call (e.g. before a Colab session
        ends); resume later. The folder is locked meanwhile (`srlib.files.folder_lock`); Ctrl-C or SIGTERM
        stops after the current step with a checkpoint, then raises KeyboardInterrupt.
        """
        c = self.config
        last = c.steps if until is None else min(until, c.steps)
        show = self.rt.main and (sys.stderr.isatty() if progress is None else progress)
        self.interrupted = None
        with folder_lock(self.run_dir, "training run") if self.rt.main else nullcontext(), self.signals():
            self.begin()
            self.loop(last, show, time_limit)
        if self.interrupted is not None:
            logger.info(
                "stopped by %s at step %d, with a checkpoint: continue with --resume",
                signal.Signals(self.interrupted).name,
                self.step,
            )
            raise KeyboardInterrupt
        return self.run_dir

    @contextmanager
    def signals(self) -> Iterator[None]:
        """Ctrl-C (SIGINT) and SIGTERM ask the loop to stop after the current step, with a checkpoint.

        A second signal stops at once (the last checkpoint is intact: writes are atomic). Only the main
        thread can receive signals; elsewhere this does nothing.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def ask(signum: int, frame: object) -> None:
            if self.interrupted is not None:
                raise KeyboardInterrupt
            self.interrupted = signum

        before = {sig: signal.signal(sig, ask) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)

    def loop(self, last: int, show: bool, time_limit: float | None) -> None:
        """Train up to step ``last``: the steps, and the logs, validations and checkpoints they call for."""
        began = time.perf_counter()
        clock = began - self.seconds  # the run's own clock: seconds of training over all its calls
        bar = tqdm(total=last, initial=self.step, disable=not show, unit="step", dynamic_ncols=True)
        with self.rt.tuned(), logging_redirect_tqdm(), bar:
            while self.step < last:
                learning_rate = self.g_optimizer.param_groups[0]["lr"]
                losses = self.train_step(*self.next_batch())
                self.step += 1
                self.seconds = time.perf_counter() - clock
                bar.update()
                due = self.due(last, began, time_limit)
                if not any(due):
                    continue  # reading the losses waits for the device: only do it when writing something
                values = self.read_losses(losses)
                bar.set_postfix(loss=f"{values['g_total']:.4g}")
                if due.log:
                    self.log({**values, "learning_rate": learning_rate})
                if due.validate:
                    self.validate()
                if due.checkpoint:
                    self.save_checkpoint()
                if due.stop:
                    break

    def begin(self) -> None:
        """Write config.json (with where the run executes) and say it, before the first step; remove the
        temporary files of a killed run."""
        if self.rt.main:
            for folder in (self.run_dir, self.run_dir / "val", self.run_dir / "snapshots"):
                remove_stale_temporaries(folder)
            record = {**asdict(self.config), "runtime": self.rt.describe()}
            write_text(self.run_dir / "config.json", json.dumps(record, indent=2) + "\n")
            r = self.rt.describe()
            logger.info("training on %s (%s), %s arithmetic", r["device"], r["device_name"], r["precision"])

    def due(self, last: int, began: float, time_limit: float | None) -> Due:
        """What the step just done calls for; the end of the run or of the time limit does all of it."""
        c, s = self.config, self.step
        logs = s % c.log_every == 0
        late = time_limit is not None and time.perf_counter() - began >= time_limit
        asked = self.interrupted is not None
        # one late or interrupted process stops them all, together: several agree at log steps only
        check = logs or (asked and self.rt.world == 1)
        stop = s == last or (check and self.rt.any(late or asked))
        validate = s % c.val_every == 0 or (stop and not asked)  # a signal wants a quick end
        return Due(logs or stop, validate, s % c.checkpoint_every == 0 or stop, stop)

    def read_losses(self, losses: dict[str, Tensor]) -> dict[str, float]:
        """Losses as floats averaged over processes; NaN or inf stops the run, keeping the last checkpoint."""
        values = self.rt.all_mean(torch.stack([v.detach().float() for v in losses.values()]))
        out = dict(zip(losses, values.tolist(), strict=True))
        bad = [(k, v) for k, v in out.items() if not math.isfinite(v)]
        if bad:
            kept = (
                f"the last good checkpoint is {self.checkpoint_path} (step {self.saved_step})"
                if self.saved_step is not None
                else "no checkpoint was written yet"
            )
            raise UserError(
                f"loss became {bad[0][1]} at step {self.step} ({bad[0][0]}); {kept}; lower the learning rate "
                f"(--lr, now {self.config.learning_rate:g}) and resume from it, or start again"
            )
        return out

    def log(self, values: dict[str, float]) -> None:
        """Append a row to the history and rewrite history.csv."""
        row = {
            **dict.fromkeys(HISTORY_COLUMNS, math.nan),
            **values,
            "step": self.step,
            "seconds": self.seconds,
        }
        for k in HISTORY_COLUMNS:
            self.history[k].append(float(row[k]))
        if self.rt.main:
            write_csv(self.run_dir / "history.csv", self.history)
            shown = "  ".join(f"{k} {v:.4g}" for k, v in values.items())
            logger.info("step %d/%d  %s  (%.1f s)", self.step, self.config.steps, shown, self.seconds)

    def validate(self) -> None:
        """PSNR / SSIM (Y, shaved) of the generator and of bicubic on the held-out images, and a panel."""
        if not self.rt.main:
            return
        c, name = self.config, self.config.model
        upscalers = {"bicubic": baseline("bicubic", c.scale), name: as_upscaler(self.generator)}
        scores, outputs = evaluate_images(upscalers, self.val_images, c.scale, self.rt.device)
        self.generator.train()

        def mean(method: str, metric: str) -> float:
            return sum(s[method][metric] for s in scores.values()) / len(scores)

        row = {"step": self.step, "psnr": mean(name, "psnr"), "ssim": mean(name, "ssim")}
        row |= {"bicubic_psnr": mean("bicubic", "psnr"), "bicubic_ssim": mean("bicubic", "ssim")}
        for k in VAL_COLUMNS:
            self.val_history[k].append(float(row[k]))
        write_csv(self.run_dir / "val.csv", self.val_history)
        first = next(iter(outputs))
        captions = {m: f"{s['psnr']:.2f} dB / {s['ssim']:.3f}" for m, s in scores[first].items()}
        comparison_figure(
            outputs[first], captions=captions, path=self.run_dir / "val" / f"step_{self.step:06d}.png"
        )
        logger.info(
            "step %d: validation PSNR %.2f dB (bicubic %.2f dB)", self.step, row["psnr"], row["bicubic_psnr"]
        )

    # --- checkpoints ----------------------------------------------------------------------------------
    def check_finite(self) -> None:
        """A UserError, keeping the last checkpoint, when any weight or buffer of the networks is NaN or inf.

        A loss can stay finite while some weights are not (an overflowed update of a layer the loss barely
        uses): such a checkpoint would resume into garbage.
        """
        networks = {n: m for n, m in self.state_objects().items() if isinstance(m, nn.Module)}
        tensors = {
            f"{n}.{k}": t
            for n, m in networks.items()
            for k, t in m.state_dict().items()
            if t.is_floating_point()
        }
        finite = torch.stack([torch.isfinite(t).all() for t in tensors.values()])
        finite = self.rt.all_mean(finite.float())  # every process decides alike
        if not bool((finite == 1).all()):
            bad = [k for k, ok in zip(tensors, finite.tolist(), strict=True) if ok < 1]
            kept = (
                f"the last good checkpoint is {self.checkpoint_path} (step {self.saved_step})"
                if self.saved_step is not None
                else "no checkpoint was written yet"
            )
            raise UserError(
                f"{len(bad)} of {len(tensors)} weight tensors became NaN or inf by step {self.step} (e.g. "
                f"{bad[0]}); {kept}; lower the learning rate (--lr, now {self.config.learning_rate:g}) and "
                "resume from it, or start again"
            )

    def save_checkpoint(self) -> None:
        """Write checkpoint.pt atomically (`srlib.checkpoint`), and a generator snapshot when one is due.

        Only finite weights are written (`check_finite`)."""
        self.check_finite()
        data_states = [self.sampler.generator.get_state()]
        if self.rt.world > 1:  # every process draws its own crops: keep all their generator states
            data_states = [None] * self.rt.world
            torch.distributed.all_gather_object(data_states, self.sampler.generator.get_state())
        if self.rt.main:
            state = {name: obj.state_dict() for name, obj in self.state_objects().items()}
            state |= {
                "config": asdict(self.config),
                "step": self.step,
                "seconds": self.seconds,
                "history": self.history,
                "val_history": self.val_history,
                "rng": {
                    "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.rt.device.type == "cuda" else [],
                    "data": data_states,
                },
            }
            save_checkpoint(state, self.checkpoint_path)
            every = self.config.snapshot_every
            if every and self.step % every == 0:
                extra = {"model": self.config.model, "content": self.config.content, "step": self.step}
                path = self.run_dir / "snapshots" / f"generator_step_{self.step:07d}.safetensors"
                save_generator(self.generator, path, extra)
        self.saved_step = self.step

    def _resume_checkpoint(self) -> dict[str, Any]:
        ckpt, saved = load_resumable(self.checkpoint_path)
        changes = {k: v for k, v in asdict(self.config).items() if getattr(saved, k) != v}
        refuse_unresumable(self.checkpoint_path, saved, changes)
        return ckpt

    def _restore(self, ckpt: dict[str, Any]) -> None:
        for name, obj in self.state_objects().items():
            if ckpt.get(name):  # a disabled GradScaler saves an empty state
                obj.load_state_dict(ckpt[name])
        self.step, self.seconds, self.saved_step = ckpt["step"], ckpt["seconds"], ckpt["step"]
        self.history, self.val_history = ckpt["history"], ckpt["val_history"]
        if "lr" in self.history:  # checkpoints of earlier versions
            self.history["learning_rate"] = self.history.pop("lr")
        factor = self.config.learning_rate / ckpt["config"]["learning_rate"]  # a new rate scales the schedule
        for obj in self.state_objects().values():
            if isinstance(obj, torch.optim.Optimizer):
                for group in obj.param_groups:
                    group["lr"] *= factor
            elif isinstance(obj, torch.optim.lr_scheduler.LRScheduler):
                obj.base_lrs = [lr * factor for lr in obj.base_lrs]
        rng = ckpt["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and self.rt.device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        if len(rng["data"]) == self.rt.world:
            self.sampler.generator.set_state(rng["data"][self.rt.rank])
        else:
            logger.warning(
                "resumed with %d processes instead of %d: new crop draws", self.rt.world, len(rng["data"])
            )
            self.sampler.generator.manual_seed(self.config.seed + self.rt.rank + self.rt.world * self.step)


class SRResNetTrainer(Trainer):
    """SRResNet-MSE: the generator alone, pixel MSE in [-1, 1], Adam at a constant learning rate."""

    def build(self) -> None:
        c = self.config
        self.generator = self.new_generator()
        self.g = self.rt.wrap(self.generator)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=c.learning_rate, betas=c.betas)
        self.g_scaler = self.rt.grad_scaler()

    def state_objects(self) -> dict[str, Any]:
        return {"generator": self.generator, "g_optimizer": self.g_optimizer, "g_scaler": self.g_scaler}

    def train_step(self, lr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        with self.rt.autocast():
            loss = pixel_mse(self.g(lr), hr)
        self.update(loss, self.g_optimizer, self.g_scaler)
        return {"g_content": loss, "g_total": loss}


class SRGANTrainer(Trainer):
    """SRGAN: the discriminator learns to tell HR from SR, then the generator learns to fool it.

    Per step (the paper's min-max game, eq. 2): ``d_steps`` discriminator updates on (HR, detached SR)
    every ``d_every`` steps, then one generator update on content + ``adv_weight`` x adversarial loss with
    the discriminator frozen. The generator starts from trained SRResNet weights (``config.init``), which
    avoids poor local optima; both learning rates drop tenfold at ``decay_step`` (the paper: 10^5 steps at
    1e-4, then 10^5 at 1e-5).
    """

    def build(self) -> None:
        c = self.config
        self.generator = self.new_generator()
        self.discriminator = Discriminator(base=c.d_channels)
        self.g, self.d = self.rt.wrap(self.generator), self.rt.wrap(self.discriminator)
        self.loss = PerceptualLoss(c.content, c.vgg_weights, c.adv_weight, vgg_rescale=c.vgg_rescale).to(
            self.rt.device
        )
        if self.rt.channels_last:
            self.loss.to(memory_format=torch.channels_last)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=c.learning_rate, betas=c.betas)
        self.d_optimizer = torch.optim.Adam(
            self.discriminator.parameters(), lr=c.learning_rate, betas=c.betas
        )
        decay = c.decay_step or c.steps // 2  # fixed when the run starts: resuming with more steps keeps it
        self.g_scheduler = MultiStepLR(self.g_optimizer, [decay], gamma=0.1)
        self.d_scheduler = MultiStepLR(self.d_optimizer, [decay], gamma=0.1)
        self.g_scaler, self.d_scaler = self.rt.grad_scaler(), self.rt.grad_scaler()

    def state_objects(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "discriminator": self.discriminator,
            "g_optimizer": self.g_optimizer,
            "d_optimizer": self.d_optimizer,
            "g_scheduler": self.g_scheduler,
            "d_scheduler": self.d_scheduler,
            "g_scaler": self.g_scaler,
            "d_scaler": self.d_scaler,
        }

    def discriminator_step(self, sr: Tensor, hr: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One D update: HR is real (target ``real_label``), SR is fake; SR is detached, so G is untouched."""
        with self.rt.autocast():
            d_real, d_fake = self.d(hr), self.d(sr.detach())
            d_loss = discriminator_loss(d_real, d_fake, self.config.real_label)
        self.update(d_loss, self.d_optimizer, self.d_scaler)
        return d_loss, d_real, d_fake

    def generator_step(self, sr: Tensor, hr: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One G update on content + adversarial loss; D only judges, so its weights get no gradients.

        The plain discriminator is called: its DDP wrapper would wait for gradients that never come.
        """
        with frozen(self.discriminator), self.rt.autocast():
            total, content, adversarial = self.loss(sr, hr, self.discriminator(sr))
            if self.step == 0 and self.rt.main:  # a fresh run's first step: how hard each term pulls on SR
                ratio = gradient_balance(sr, content, adversarial, self.config.adv_weight)
                logger.info(
                    "gradient norms on SR: content / (%g x adversarial) = %.3g", self.config.adv_weight, ratio
                )
        self.update(total, self.g_optimizer, self.g_scaler)
        return total, content, adversarial

    def train_step(self, lr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        c = self.config
        with self.rt.autocast():
            sr = self.g(lr)
        d = None
        if self.step % c.d_every == 0:
            for _ in range(c.d_steps):
                d = self.discriminator_step(sr, hr)
        total, content, adversarial = self.generator_step(sr, hr)
        self.g_scheduler.step()
        self.d_scheduler.step()
        losses = {"g_content": content, "g_adversarial": adversarial, "g_total": total}
        if d is not None:  # a step without a D update logs no D values
            d_loss, d_real, d_fake = d
            losses["d_loss"] = d_loss
            losses["d_real"] = torch.sigmoid(d_real.float()).mean()  # D's mean belief that HR is real
            losses["d_fake"] = torch.sigmoid(d_fake.float()).mean()  # ... and that SR is real
        return losses


TRAINERS: dict[str, type[Trainer]] = {"srresnet": SRResNetTrainer, "srgan": SRGANTrainer}


def make_trainer(config: TrainConfig, resume: bool = False, runtime: Runtime | None = None) -> Trainer:
    """The trainer of ``config.model``, ready to `run` (resumed from the run's checkpoint with ``resume``)."""
    config.check()
    return TRAINERS[config.model](config, runtime, resume)


def train(
    config: TrainConfig,
    resume: bool = False,
    until: int | None = None,
    progress: bool | None = None,
    time_limit: float | None = None,
) -> Path:
    """Train (or with ``resume``, continue) the run of ``config``; returns its folder.

    ``until`` stops after that step, with a checkpoint, e.g. to look at the results in a notebook and
    resume later; ``progress`` shows a progress bar (default: when stderr is a terminal); ``time_limit``
    stops, with a checkpoint, at the first log step after that many seconds.
    """
    config.check()
    joined_here = not torch.distributed.is_initialized()
    runtime = Runtime.start(config.device, config.amp)
    try:
        return make_trainer(config, resume, runtime).run(until, progress, time_limit)
    finally:
        if joined_here and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
