"""Training SRResNet (pixel MSE) and SRGAN (perceptual loss), as in Ledig et al. 2017, section 3.2.

A run is one `TrainConfig` and one folder, ``config.out``:

    config.json          the settings, and where the run executed (device, precision, torch)
    checkpoint.pt        weights, optimisers, step, RNG states and history: resuming continues bit-exactly
                         on the CPU (on a GPU, cuDNN's kernels are not deterministic: last bits can differ)
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
run's lock is taken over); Ctrl-C, SIGTERM, SIGHUP (a closed ssh session) or SIGQUIT writes a checkpoint at
the current step before stopping; a checkpoint is written only when every weight is finite; a new run never
replaces an earlier run's history.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import numbers
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import MultiStepLR
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from srlib.checkpoint import load_checkpoint, new_names, save_checkpoint
from srlib.config import TrainConfig
from srlib.constants import SCHEDULES
from srlib.datasets import data_root
from srlib.errors import UserError
from srlib.evaluate import baseline, check_scorable, evaluate_images, sample_images
from srlib.files import folder_lock, remove_stale_temporaries, write_text
from srlib.images import image_files, load_image
from srlib.imresize import make_lr
from srlib.inference import as_upscaler
from srlib.losses import (
    PerceptualLoss,
    discriminator_loss,
    gradient_balance,
    pixel_l1,
    pixel_mse,
)
from srlib.models import Discriminator, SRResNet, check_same_size, to_model_range
from srlib.plot import comparison_figure
from srlib.runtime import Runtime, available_memory
from srlib.sampler import CropSampler
from srlib.weights import load_generator, save_generator

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
PIXEL_LOSSES = {"mse": pixel_mse, "l1": pixel_l1}  # SRResNet's loss: the paper's MSE, or L1
ONECYCLE_WARMUP = 0.3  # the one-cycle schedule climbs over this fraction of the run, then anneals


def lr_factor(schedule: str, progress: float) -> float:
    """The learning rate's multiplier at ``progress`` in [0, 1] of the run (clamped to it).

    "constant": 1 (the paper). "cosine": from 1 down to 0 along half a cosine. "onecycle": up from 1/25
    to 1 along half a cosine over the first `ONECYCLE_WARMUP` of the run, then down to 0 the same way
    (Smith's one-cycle, as torch's OneCycleLR): short runs learn faster with a high peak rate they could not
    keep, and end at a rate small enough to settle.
    """
    p = min(max(progress, 0.0), 1.0)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * p))
    if schedule == "onecycle":
        if p < ONECYCLE_WARMUP:
            start = 1 / 25
            return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * p / ONECYCLE_WARMUP))
        return 0.5 * (1 + math.cos(math.pi * (p - ONECYCLE_WARMUP) / (1 - ONECYCLE_WARMUP)))
    raise UserError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")


# settings that may change when a run is resumed; a change to any other (architecture, data) is refused
RESUMABLE = {
    "out", "steps", "learning_rate", "device", "amp", "log_every", "val_every", "checkpoint_every",
    "snapshot_every", "adv_weight", "real_label", "d_steps", "d_every", "budget_seconds",
}  # fmt: skip
PATH_SETTINGS = ("data", "val_dir", "init", "vgg_weights")  # compared as the files they name


def same_setting(name: str, saved: object, given: object) -> bool:
    """Whether a resumed run's ``given`` setting is its ``saved`` one: paths are the same when they name the
    same file or folder (``data`` and ``/home/me/data``, from the folder that holds it)."""
    if saved == given:
        return True
    paths = isinstance(saved, str) and isinstance(given, str) and "imagenet" not in (saved, given)
    return name in PATH_SETTINGS and paths and Path(saved).resolve() == Path(given).resolve()


RUN_FILES = (".lock", "config.json", "checkpoint.pt", "history.csv", "val.csv")  # the files a run writes


def load_resumable(path: Path) -> tuple[dict[str, Any], TrainConfig]:
    """A run's checkpoint and its saved TrainConfig (settings this version does not know are left out)."""
    if not path.is_file():
        raise UserError(f"{path}: no checkpoint to resume; start without --resume")
    ckpt = load_checkpoint(path)
    known = {f.name for f in fields(TrainConfig)}
    return ckpt, TrainConfig(**{k: v for k, v in ckpt["config"].items() if k in known})


def refuse_unresumable(path: Path, saved: TrainConfig, changes: dict[str, Any]) -> None:
    """A one-line UserError when ``changes`` touch a setting a resumed run keeps (model, architecture,
    data)."""
    if "model" in changes:
        raise UserError(
            f"{path} is a checkpoint of an {saved.model} run, not {changes['model']}: resume it with "
            f"`srlib train {saved.model} --resume`, or start the {changes['model']} run in another --out"
        )
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
    changes = {k: v for k, v in given.items() if not same_setting(k, getattr(config, k), v) and k != "out"}
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
    columns = new_names(columns)
    return {k: v for k, v in columns.items() if not all(math.isnan(x) for x in v)}


# the signals that stop a run with a checkpoint (SIGHUP and SIGQUIT do not exist on Windows)
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)


def batch_bytes(config: TrainConfig) -> int:
    """A floor on the bytes one training crop takes on the device in a step: the sampler's int64 gather
    index (3 x crop^2), and the generator's activations kept for the backward pass, counted at 2 bytes (bf16)
    for the residual blocks' six tensors and the two at the head. The real peak is higher (the sub-pixel
    stages, the optimiser, SRGAN's discriminator and VGG), so a batch this refuses could never run."""
    lr_pixels = (config.crop // config.scale) ** 2
    return 8 * 3 * config.crop**2 + 2 * config.channels * lr_pixels * (6 * config.n_blocks + 2)


def check_batch_memory(config: TrainConfig, runtime: Runtime) -> None:
    """A one-line UserError, before any work, when one process's share of the batch cannot fit in its
    device's free memory (`batch_bytes`): the kernel would otherwise kill the run minutes later, or a GPU
    fail at the first step, leaving a folder with a config and no checkpoint."""
    free = available_memory(runtime.device)
    share = config.batch_size // runtime.world
    need = share * batch_bytes(config)
    if free is not None and need > free:
        most = max(free // batch_bytes(config) * runtime.world, 1)
        raise UserError(
            f"batch_size {config.batch_size} of {config.crop}x{config.crop} crops needs over "
            f"{need / 1e9:.3g} GB on {runtime.device}, where {free / 1e9:.3g} GB is free: use a smaller "
            f"batch size (at most {most} by this estimate)"
        )


class Due(NamedTuple):
    """What to do after a step: append to the history, validate, write a checkpoint, keep a generator
    snapshot, stop."""

    log: bool
    validate: bool
    checkpoint: bool
    snapshot: bool
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
        check_batch_memory(config, self.rt)
        self.run_dir = Path(config.out)
        self.checkpoint_path = self.run_dir / "checkpoint.pt"
        for name in RUN_FILES:  # checked before the lock is taken: a failed start leaves nothing behind
            if (self.run_dir / name).is_dir():
                raise UserError(
                    f"{self.run_dir / name} is a folder, where the run keeps a file: move it away, or choose "
                    "another --out"
                )
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
                {  # by path: a.png and a.jpg, or two sub-folders' a.png, are two images, not one
                    p.relative_to(config.val_dir).as_posix(): load_image(p)
                    for p in image_files(config.val_dir)
                }
                if config.val_dir
                else sample_images()
            )
            check_scorable(self.val_images, config.scale, f"{config.val_dir}/" if config.val_dir else "")
        self.step, self.seconds, self.saved_step = 0, 0.0, None
        self.elapsed = 0.0  # the run's seconds as all processes agree on them (the budget's clock)
        self.interrupted: int | None = None  # the signal (SIGINT, SIGTERM...) that asked the run to stop
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

    def set_learning_rate(self) -> None:
        """Set the learning rates of the next step (a subclass with a schedule of its own does nothing)."""

    @property
    def progress(self) -> float:
        """How far the run is, in [0, 1]: steps done of ``steps``, or seconds of ``budget_seconds`` when that
        is further (so a slower machine still completes its schedule)."""
        c = self.config
        done = self.step / c.steps
        if c.budget_seconds is not None:
            done = max(done, self.elapsed / c.budget_seconds)
        return min(done, 1.0)

    @property
    def finished(self) -> bool:
        """Whether the run has done its steps or spent its budget."""
        return self.progress >= 1.0

    def new_generator(self) -> SRResNet:
        """The SRResNet of the config, with the weights of ``config.init`` when given (not on resume)."""
        c = self.config
        generator = SRResNet(c.scale, c.n_blocks, c.channels)
        if c.init and not self.resuming:  # a resumed run takes its weights from the checkpoint
            init = load_generator(c.init)
            check_same_size({c.init: init, "this run": generator}, "give the same scale, blocks and channels")
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
        ends); resume later. The folder is locked meanwhile (`srlib.files.folder_lock`); Ctrl-C or
        another stop signal (`signals`) stops after the current step with a checkpoint, then raises
        KeyboardInterrupt.
        """
        if not (until is None or (type(until) is int and until >= 0)):
            raise UserError(f"until must be a step number (0 or more) or None, got {until!r}")
        number = isinstance(time_limit, numbers.Real) and not isinstance(time_limit, bool)
        if not (time_limit is None or (number and not math.isnan(time_limit))):  # 0 or less: stop soon
            raise UserError(f"time_limit must be a number of seconds or None, got {time_limit!r}")
        if not (progress is None or isinstance(progress, bool)):
            raise UserError(f"progress must be True, False or None, got {progress!r}")
        c = self.config
        last = c.steps if until is None else min(until, c.steps)
        show = self.rt.main and (sys.stderr.isatty() if progress is None else progress)
        self.interrupted = None
        if self.finished:  # e.g. its budget was spent: resume with more steps or a larger budget
            logger.info("%s: already finished at step %d (%.1f s)", self.run_dir, self.step, self.seconds)
            return self.run_dir
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
        """Ctrl-C (SIGINT), SIGTERM, SIGHUP (the terminal or ssh session closed) and SIGQUIT (Ctrl-\\) ask
        the loop to stop after the current step, with a checkpoint: by default each would kill the run and
        lose the steps since the last checkpoint.

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

        before = {sig: signal.signal(sig, ask) for sig in STOP_SIGNALS}
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
                self.set_learning_rate()
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
                if due.snapshot:
                    self.save_snapshot()
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
        if c.budget_seconds is not None and (logs or self.rt.world == 1):  # processes agree at log steps
            self.elapsed = self.seconds
            if self.rt.world > 1:
                self.elapsed = self.rt.all_mean(torch.tensor([self.seconds], device=self.rt.device)).item()
        spent = c.budget_seconds is not None and self.elapsed >= c.budget_seconds
        late = spent or (time_limit is not None and time.perf_counter() - began >= time_limit)
        asked = self.interrupted is not None
        # one late or interrupted process stops them all, together: several agree at log steps only
        check = logs or ((asked or spent) and self.rt.world == 1)
        stop = s == last or (check and self.rt.any(late or asked))
        if stop and spent and self.rt.main:
            logger.info("budget of %g s spent at step %d (%.1f s)", c.budget_seconds, s, self.seconds)
        validate = s % c.val_every == 0 or (stop and not asked)  # a signal wants a quick end
        snapshot = c.snapshot_every is not None and s % c.snapshot_every == 0  # not only at checkpoints
        return Due(logs or stop, validate, s % c.checkpoint_every == 0 or stop, snapshot, stop)

    def read_losses(self, losses: dict[str, Tensor]) -> dict[str, float]:
        """Losses as floats averaged over processes; NaN or inf stops the run, keeping the last checkpoint."""
        values = self.rt.all_mean(torch.stack([v.detach().float() for v in losses.values()]))
        out = dict(zip(losses, values.tolist(), strict=True))
        bad = [(k, v) for k, v in out.items() if not math.isfinite(v)]
        if bad:
            raise self.diverged(f"loss became {bad[0][1]} at step {self.step} ({bad[0][0]})")
        return out

    def diverged(self, what: str) -> UserError:
        """The one-line error that ends a run whose numbers blew up: ``what``, and where to go on from."""
        kept = (
            f"the last good checkpoint is {self.checkpoint_path} (step {self.saved_step})"
            if self.saved_step is not None
            else "no checkpoint was written yet"
        )
        return UserError(
            f"{what}; {kept}; lower the learning rate (--lr, now {self.config.learning_rate:g}) and resume "
            "from it, or start again"
        )

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
        self.check_finite()  # broken weights: say so, and where the last good checkpoint is (every process)
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
            raise self.diverged(
                f"{len(bad)} of {len(tensors)} weight tensors became NaN or inf by step {self.step} (e.g. "
                f"{bad[0]})"
            )

    def save_checkpoint(self) -> None:
        """Write checkpoint.pt atomically (`srlib.checkpoint`); only finite weights are written
        (`check_finite`)."""
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
        self.saved_step = self.step

    def save_snapshot(self) -> None:
        """Keep the generator of this step in snapshots/ (finite weights only), for `snapshot_every`."""
        self.check_finite()
        if self.rt.main:
            extra = {"model": self.config.model, "content": self.config.content, "step": self.step}
            path = self.run_dir / "snapshots" / f"generator_step_{self.step:07d}.safetensors"
            save_generator(self.generator, path, extra)

    def _resume_checkpoint(self) -> dict[str, Any]:
        ckpt, saved = load_resumable(self.checkpoint_path)
        changes = {k: v for k, v in asdict(self.config).items() if not same_setting(k, getattr(saved, k), v)}
        refuse_unresumable(self.checkpoint_path, saved, changes)
        return ckpt

    def _restore(self, ckpt: dict[str, Any]) -> None:
        for name, obj in self.state_objects().items():
            if ckpt.get(name):  # a disabled GradScaler saves an empty state
                obj.load_state_dict(ckpt[name])
        self.step, self.seconds, self.saved_step = ckpt["step"], ckpt["seconds"], ckpt["step"]
        self.elapsed = self.seconds
        self.history, self.val_history = ckpt["history"], ckpt["val_history"]
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
    """SRResNet-MSE: the generator alone, pixel MSE in [-1, 1], Adam at a constant learning rate (the paper),
    or as ``config.schedule`` and ``config.loss`` say."""

    def build(self) -> None:
        c = self.config
        self.generator = self.new_generator()
        self.g = self.rt.wrap(self.generator)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=c.learning_rate, betas=c.betas)
        self.g_scaler = self.rt.grad_scaler()

    def state_objects(self) -> dict[str, Any]:
        return {"generator": self.generator, "g_optimizer": self.g_optimizer, "g_scaler": self.g_scaler}

    def set_learning_rate(self) -> None:
        """The config's rate times the schedule's factor at the run's progress (`lr_factor`)."""
        rate = self.config.learning_rate * lr_factor(self.config.schedule, self.progress)
        for group in self.g_optimizer.param_groups:
            group["lr"] = rate

    def train_step(self, lr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        with self.rt.autocast():
            loss = PIXEL_LOSSES[self.config.loss](self.g(lr), hr)
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
        # fixed when the run starts (resuming with more steps keeps it); at least 1, as a milestone at 0 would
        # start the run at the decayed rate (steps=1)
        decay = c.decay_step or max(1, c.steps // 2)
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
