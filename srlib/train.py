"""Training SRResNet (pixel MSE) and SRGAN (perceptual loss), as in Ledig et al. 2017, section 3.2.

A run is one `TrainConfig` and one folder, ``config.out``:

    config.json          the settings
    checkpoint.pt        weights, optimisers, step, RNG states and history: resuming continues bit-exactly
    history.csv          losses every ``log_every`` steps (`read_history` loads it for `srlib.plot`)
    val.csv              PSNR / SSIM on held-out images every ``val_every`` steps, beside bicubic's
    val/step_XXXXXX.png  an LR | bicubic | SR | HR panel of the first validation image

Data: random ``crop`` x ``crop`` HR crops of the training images (held in memory as uint8), each turned by
one of the 8 flips/rotations of the square. The LR inputs are made per batch, on the device, with MATLAB's
bicubic (`srlib.imresize`), the degradation that made the benchmarks' LR files, and rounded to 8 bits
(``quantize_lr``) because those files are 8-bit: a network never shown rounding noise meets it at test time.
The benchmarks (Set5, Set14, BSD100) are never used here: validation uses other images.

Several GPUs or machines: ``torchrun --nproc_per_node N -m srlib train ...``. Each process draws its own
crops (seed + rank), DistributedDataParallel averages the gradients, ``batch_size`` is the total over all
processes (so the settings mean the same on one GPU or eight), and only rank 0 writes files.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import sys
import time
import warnings
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LRScheduler, MultiStepLR
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from srlib.data import BENCHMARKS, atomic_path, data_root, image_files, load_image, quantize, write_text
from srlib.errors import UserError
from srlib.evaluate import baseline, evaluate_images, sample_images
from srlib.imresize import imresize
from srlib.inference import as_upscaler, pick_device
from srlib.losses import CONTENT_LOSSES, PerceptualLoss, discriminator_loss, pixel_mse
from srlib.models import Discriminator, SRResNet, to_model_range
from srlib.plot import comparison_figure
from srlib.weights import load_generator

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = (
    "step",
    "g_content",
    "g_adversarial",
    "g_total",
    "d_loss",
    "d_real",
    "d_fake",
    "lr",
    "seconds",
)
VAL_COLUMNS = ("step", "psnr", "ssim", "bicubic_psnr", "bicubic_ssim")
# settings that may change when a run is resumed (e.g. a lower lr after a divergence); others are refused
RESUMABLE = {"out", "steps", "lr", "device", "log_every", "val_every", "checkpoint_every"}


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as config.json and inside every checkpoint."""

    out: str  # the run folder
    model: str = "srresnet"  # "srresnet" (pixel MSE) or "srgan" (content + adversarial loss)
    data: str | None = None  # folder of HR training images; None: $SRLIB_DATA/train (T91 + BSDS200, 291)
    max_images: int | None = None  # use only the first N training images (sorted by path); None: all
    steps: int = 1_000_000  # the paper: 1e6 for SRResNet, 1e5 + 1e5 for SRGAN
    batch_size: int = 16  # total over all processes
    crop: int = 96  # HR crop side; LR inputs are crop // scale
    scale: int = 4
    n_blocks: int = 16
    channels: int = 64
    lr: float = 1e-4  # Adam; SRGAN drops it to lr / 10 for the second half of the steps
    betas: tuple[float, float] = (0.9, 0.999)
    seed: int = 0
    quantize_lr: bool = True  # round LR inputs to 8 bits, as the benchmarks' LR files are
    # SRGAN only
    init: str | None = None  # SRResNet weights to start the generator from (.safetensors or checkpoint.pt)
    content: str = "vgg54"  # "vgg54", "vgg22" or "mse"
    vgg_weights: str | None = "imagenet"  # "imagenet", a path to torchvision vgg19 weights, or None (random)
    adv_weight: float = 1e-3
    d_channels: int = 64  # discriminator width (64 in the paper)
    # bookkeeping
    log_every: int = 100
    val_every: int = 1000
    checkpoint_every: int = 1000
    val_dir: str | None = None  # held-out HR images; None: the scikit-image samples (never the benchmarks)
    device: str | None = None  # None: CUDA, then MPS, then CPU
    amp: bool = True  # mixed precision on CUDA (bf16, or fp16 with loss scaling); ignored elsewhere


class CropSampler:
    """Random HR crops of in-memory images, each turned by one of the 8 symmetries of the square.

    Crop positions and turns come from a private generator seeded with ``seed``: a run draws the same
    batches every time, and its state goes into checkpoints so a resumed run draws what it would have.
    """

    def __init__(self, folder: str | Path, crop: int, seed: int, max_images: int | None = None):
        files = image_files(folder)
        if max_images is not None:
            if max_images < 1:
                raise UserError(f"max_images must be at least 1, got {max_images}")
            files = files[:max_images]
        leaked = [p for p in files if set(p.parts) & {*BENCHMARKS, "benchmarks"}]
        if leaked:
            raise UserError(
                f"{leaked[0]} is a benchmark image, kept for evaluation only: train on other images"
            )
        self.crop, self.images, small = crop, [], []
        for path in files:
            img = load_image(path)
            if min(img.shape[-2:]) < crop:
                small.append(path.name)
            else:
                self.images.append((img * 255).round().to(torch.uint8))  # a quarter of float32's memory
        if not self.images:
            raise UserError(
                f"{folder}: no image is at least {crop}x{crop} pixels; use a smaller crop or other images"
            )
        if small:
            warnings.warn(
                f"{folder}: skipped {len(small)} image(s) smaller than the {crop}x{crop} crop: "
                + ", ".join(small),
                stacklevel=2,
            )
        self.generator = torch.Generator().manual_seed(seed)

    def _randint(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.generator))

    def sample(self, batch: int) -> Tensor:
        """``batch`` HR crops (batch, 3, crop, crop), uint8."""
        c, crops = self.crop, []
        for _ in range(batch):
            img = self.images[self._randint(len(self.images))]
            top, left = self._randint(img.shape[1] - c + 1), self._randint(img.shape[2] - c + 1)
            patch = img[:, top : top + c, left : left + c]
            k = self._randint(8)  # rotate by k * 90 degrees, mirrored first when k >= 4: all flips included
            crops.append(torch.rot90(patch.flip(-1) if k >= 4 else patch, k % 4, dims=(-2, -1)))
        return torch.stack(crops)


def make_lr(hr: Tensor, scale: int, quantize_lr: bool = True) -> Tensor:
    """The LR batch of an HR batch in [0, 1]: MATLAB bicubic by 1/scale, clamped, and rounded to 8 bits."""
    lr = imresize(hr, 1 / scale).clamp(0, 1)
    return quantize(lr) if quantize_lr else lr


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A training checkpoint as a dict (tensors and plain containers only: ``weights_only=True``)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path}: no such checkpoint") from None
    except Exception as e:  # corrupt, truncated, or holding pickled objects that weights_only refuses
        raise UserError(f"{path}: unreadable checkpoint ({type(e).__name__}); start a new run") from None
    if not (isinstance(ckpt, dict) and {"config", "step", "generator", "rng"} <= ckpt.keys()):
        raise UserError(f"{path}: not a checkpoint written by srlib training; start a new run")
    return ckpt


def _write_csv(path: Path, columns: dict[str, list[float]]) -> None:
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
    """
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {k: [float(r[k]) if r[k] else math.nan for r in rows] for k in (rows[0] if rows else {})}
    return {k: v for k, v in columns.items() if not all(math.isnan(x) for x in v)}


class Trainer:
    """What SRResNet and SRGAN training share: data, devices, logging, validation, checkpoints.

    A subclass builds its networks and optimisers in `build`, names what a checkpoint holds in
    `state_objects`, and does one update in `train_step`. Call `run` to train.
    """

    generator: SRResNet
    g_optimizer: torch.optim.Optimizer

    def __init__(self, config: TrainConfig, resume: bool = False):
        c = self.config = config
        self.rank, self.world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        if c.crop % c.scale:
            raise UserError(f"the crop ({c.crop}) must be a multiple of the scale ({c.scale})")
        if c.batch_size % self.world:
            raise UserError(f"batch size {c.batch_size} does not split over {self.world} processes")
        if min(c.steps, c.batch_size, c.log_every, c.val_every, c.checkpoint_every) < 1:
            raise UserError("steps, batch size and the log/val/checkpoint intervals must be at least 1")
        if c.val_dir and set(Path(c.val_dir).resolve().parts) & {*BENCHMARKS, "benchmarks"}:
            raise UserError(f"{c.val_dir} is a benchmark set, kept for evaluation: validate on other images")
        self.run_dir = Path(c.out)
        self.checkpoint_path = self.run_dir / "checkpoint.pt"
        ckpt = self._resume_checkpoint() if resume else None
        if not resume and self.checkpoint_path.exists():
            raise UserError(
                f"{self.run_dir} already holds a run: continue it with --resume or choose another --out"
            )

        self.device = pick_device(c.device)
        if self.world > 1:
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.amp_dtype = None
        if c.amp and self.device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        # channels-last convolutions: faster on tensor cores, and 1.4x faster per step on a 2-core AVX2 CPU
        # (benchmarks/train_step_speed.py)
        self.channels_last = self.device.type in ("cuda", "cpu")
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # the batch shape never changes: let cuDNN pick its fastest

        torch.manual_seed(c.seed)  # the same initial weights in every process and every run
        self.resuming = ckpt is not None
        self.build()
        self.sampler = CropSampler(c.data or data_root() / "train", c.crop, c.seed + self.rank, c.max_images)
        if self.rank == 0:
            self.val_images = (
                {p.stem: load_image(p) for p in image_files(c.val_dir)} if c.val_dir else sample_images()
            )
        self.step, self.seconds, self.saved_step = 0, 0.0, None
        self.history: dict[str, list[float]] = {k: [] for k in HISTORY_COLUMNS}
        self.val_history: dict[str, list[float]] = {k: [] for k in VAL_COLUMNS}
        if ckpt is not None:
            self._restore(ckpt)
        if self.rank == 0:
            write_text(self.run_dir / "config.json", json.dumps(asdict(c), indent=2) + "\n")

    # --- what subclasses define -----------------------------------------------------------------------
    def build(self) -> None:
        """Create the networks, optimisers and schedulers (on ``self.device``)."""
        raise NotImplementedError

    def state_objects(self) -> dict[str, Any]:
        """Everything with a ``state_dict`` that a checkpoint holds, by name."""
        raise NotImplementedError

    def train_step(self, lr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        """One update on an LR batch in [0, 1] and its HR batch in [-1, 1]; returns the losses to log."""
        raise NotImplementedError

    # --- helpers for subclasses -----------------------------------------------------------------------
    def wrap(self, module: nn.Module) -> nn.Module:
        """Move a network to the device (channels-last on CUDA); wrap it in DDP when several processes run.

        On several GPUs, BatchNorm becomes SyncBatchNorm (in place), so that its statistics are over the whole
        batch, as on one GPU. (SyncBatchNorm needs GPUs: on CPU processes each normalises its own share, and
        DDP copies rank 0's running statistics to the others at every forward.)
        """
        module.to(self.device)
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        if self.world == 1:
            return module
        if self.device.type == "cuda":
            nn.SyncBatchNorm.convert_sync_batchnorm(module)  # replaces the BatchNorm children in place
        return DistributedDataParallel(
            module, device_ids=[self.device.index] if self.device.type == "cuda" else None
        )

    def autocast(self) -> AbstractContextManager:
        """Mixed precision on CUDA, a no-op elsewhere."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaling, which fp16 needs against underflow; disabled (a pass-through) otherwise."""
        return torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

    @staticmethod
    def update(loss: Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
        """One optimiser step on ``loss``."""
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    # --- the loop -------------------------------------------------------------------------------------
    def next_batch(self) -> tuple[Tensor, Tensor]:
        """This process's (LR in [0, 1], HR in [-1, 1]) batch, made on the device."""
        hr = self.sampler.sample(self.config.batch_size // self.world)
        if self.device.type == "cuda":  # a copy from pinned memory runs beside the GPU's work, not before it
            hr = hr.pin_memory()
        hr = hr.to(self.device, non_blocking=True).float() / 255
        lr = make_lr(hr, self.config.scale, self.config.quantize_lr)
        if self.channels_last:
            lr, hr = (x.contiguous(memory_format=torch.channels_last) for x in (lr, hr))
        return lr, to_model_range(hr)

    def run(
        self, until: int | None = None, progress: bool | None = None, time_limit: float | None = None
    ) -> Path:
        """Train up to ``config.steps`` (or stop after step ``until``, with a checkpoint); returns the folder.

        ``progress``: show a progress bar (default: when stderr is a terminal). ``time_limit``: stop, with a
        checkpoint, at the first log step after this many seconds of this call (e.g. before a Colab session
        ends); resume later with the same settings.
        """
        c = self.config
        last = c.steps if until is None else min(until, c.steps)
        show = self.rank == 0 and (sys.stderr.isatty() if progress is None else progress)
        began = time.perf_counter()
        start = began - self.seconds
        bar = tqdm(total=last, initial=self.step, disable=not show, unit="step", dynamic_ncols=True)
        with logging_redirect_tqdm(), bar:
            while self.step < last:
                lr_now = self.g_optimizer.param_groups[0]["lr"]
                losses = self.train_step(*self.next_batch())
                self.step += 1
                self.seconds = time.perf_counter() - start
                bar.update()
                logs = self.step % c.log_every == 0
                done = self.step == last or (logs and self._out_of_time(began, time_limit))
                due = logs, self.step % c.val_every == 0, self.step % c.checkpoint_every == 0
                if not (done or any(due)):
                    continue  # reading the losses waits for the device: only do it when writing something
                values = self._reduce(losses)
                bar.set_postfix(loss=f"{values['g_total']:.4g}")
                if due[0] or done:
                    self.log({**values, "lr": lr_now})
                if due[1] or done:
                    self.validate()
                if due[2] or done:
                    self.save_checkpoint()
                if done:
                    break
        return self.run_dir

    def _out_of_time(self, began: float, time_limit: float | None) -> bool:
        """Whether ``time_limit`` seconds have passed since ``began``, agreed by all processes."""
        late = time_limit is not None and time.perf_counter() - began >= time_limit
        if self.world == 1:
            return late
        flag = torch.tensor(float(late), device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # one late process stops them all, together
        return bool(flag)

    def _reduce(self, losses: dict[str, Tensor]) -> dict[str, float]:
        """Losses as floats averaged over processes; NaN or inf stops the run, keeping the last checkpoint."""
        values = torch.stack([v.detach().float() for v in losses.values()])
        if self.world > 1:
            dist.all_reduce(values)  # every process sees the same values, so all stop together
            values /= self.world
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
                f"(--lr, now {self.config.lr:g}) and resume from it, or start again"
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
        if self.rank == 0:
            _write_csv(self.run_dir / "history.csv", self.history)
            shown = "  ".join(f"{k} {v:.4g}" for k, v in values.items())
            logger.info("step %d/%d  %s  (%.1f s)", self.step, self.config.steps, shown, self.seconds)

    def validate(self) -> None:
        """PSNR / SSIM (Y, shaved) of the generator and of bicubic on the held-out images, and a panel."""
        if self.rank != 0:
            return
        c, name = self.config, self.config.model
        upscalers = {"bicubic": baseline("bicubic", c.scale), name: as_upscaler(self.generator)}
        scores, outputs = evaluate_images(upscalers, self.val_images, c.scale, self.device)
        self.generator.train()

        def mean(method: str, metric: str) -> float:
            return sum(s[method][metric] for s in scores.values()) / len(scores)

        row = {"step": self.step, "psnr": mean(name, "psnr"), "ssim": mean(name, "ssim")}
        row |= {"bicubic_psnr": mean("bicubic", "psnr"), "bicubic_ssim": mean("bicubic", "ssim")}
        for k in VAL_COLUMNS:
            self.val_history[k].append(float(row[k]))
        _write_csv(self.run_dir / "val.csv", self.val_history)
        first = next(iter(outputs))
        captions = {m: f"{s['psnr']:.2f} dB / {s['ssim']:.3f}" for m, s in scores[first].items()}
        comparison_figure(
            outputs[first], captions=captions, path=self.run_dir / "val" / f"step_{self.step:06d}.png"
        )
        logger.info(
            "step %d: validation PSNR %.2f dB (bicubic %.2f dB)", self.step, row["psnr"], row["bicubic_psnr"]
        )

    # --- checkpoints ----------------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        """Write checkpoint.pt atomically: a crash while writing leaves the previous one intact."""
        data_states = [self.sampler.generator.get_state()]
        if self.world > 1:  # every process draws its own crops: keep all their generator states
            data_states = [None] * self.world
            dist.all_gather_object(data_states, self.sampler.generator.get_state())
        if self.rank == 0:
            state = {name: obj.state_dict() for name, obj in self.state_objects().items()}
            state |= {
                "config": asdict(self.config),
                "step": self.step,
                "seconds": self.seconds,
                "history": self.history,
                "val_history": self.val_history,
                "rng": {
                    "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                    "data": data_states,
                },
            }
            with atomic_path(self.checkpoint_path) as tmp:
                torch.save(state, tmp)
        self.saved_step = self.step

    def _resume_checkpoint(self) -> dict[str, Any]:
        if not self.checkpoint_path.is_file():
            raise UserError(f"{self.checkpoint_path}: no checkpoint to resume; start without --resume")
        ckpt = load_checkpoint(self.checkpoint_path)
        saved, given = ckpt["config"], asdict(self.config)
        changed = [
            f"{k} (saved {saved.get(k)!r}, now {v!r})"
            for k, v in given.items()
            if k not in RESUMABLE and saved.get(k) != v
        ]
        if changed:
            raise UserError(
                f"{self.checkpoint_path} was trained with other settings: {', '.join(changed)}; "
                "resume with the same settings or start a new run"
            )
        return ckpt

    def _restore(self, ckpt: dict[str, Any]) -> None:
        for name, obj in self.state_objects().items():
            if ckpt[name]:  # a disabled GradScaler saves an empty state
                obj.load_state_dict(ckpt[name])
        self.step, self.seconds, self.saved_step = ckpt["step"], ckpt["seconds"], ckpt["step"]
        self.history, self.val_history = ckpt["history"], ckpt["val_history"]
        factor = self.config.lr / ckpt["config"]["lr"]  # a new lr scales the restored schedule
        for obj in self.state_objects().values():
            if isinstance(obj, torch.optim.Optimizer):
                for group in obj.param_groups:
                    group["lr"] *= factor
            elif isinstance(obj, LRScheduler):
                obj.base_lrs = [lr * factor for lr in obj.base_lrs]
        rng = ckpt["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        if len(rng["data"]) == self.world:
            self.sampler.generator.set_state(rng["data"][self.rank])
        else:
            warnings.warn(
                f"resumed with {self.world} processes instead of {len(rng['data'])}: new crop draws",
                stacklevel=2,
            )
            self.sampler.generator.manual_seed(self.config.seed + self.rank + self.world * self.step)


class SRResNetTrainer(Trainer):
    """SRResNet-MSE: the generator alone, pixel MSE in [-1, 1], Adam at a constant learning rate."""

    def build(self) -> None:
        c = self.config
        self.generator = SRResNet(c.scale, c.n_blocks, c.channels)
        self.g = self.wrap(self.generator)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=c.lr, betas=c.betas)
        self.g_scaler = self.grad_scaler()

    def state_objects(self) -> dict[str, Any]:
        return {"generator": self.generator, "g_optimizer": self.g_optimizer, "g_scaler": self.g_scaler}

    def train_step(self, lr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        with self.autocast():
            loss = pixel_mse(self.g(lr), hr)
        self.update(loss, self.g_optimizer, self.g_scaler)
        return {"g_content": loss, "g_total": loss}


class SRGANTrainer(Trainer):
    """SRGAN: per step, one discriminator update, then one generator update on content + 1e-3 adversarial.

    The generator starts from trained SRResNet weights (``config.init``), which avoids poor local optima;
    both learning rates drop tenfold at half the steps (the paper: 1e5 steps at 1e-4, then 1e5 at 1e-5).
    """

    def build(self) -> None:
        c = self.config
        self.generator = SRResNet(c.scale, c.n_blocks, c.channels)
        if c.init and not self.resuming:  # a resumed run takes its weights from the checkpoint
            init = load_generator(c.init)
            if init.config() != self.generator.config():
                raise UserError(
                    f"{c.init} holds SRResNet({init.config()}), but this run is SRResNet"
                    f"({self.generator.config()}): give the same scale, blocks and channels"
                )
            self.generator.load_state_dict(init.state_dict())
        self.discriminator = Discriminator(base=c.d_channels)
        self.g, self.d = self.wrap(self.generator), self.wrap(self.discriminator)
        self.loss = PerceptualLoss(c.content, c.vgg_weights, c.adv_weight).to(self.device)
        if self.channels_last:
            self.loss.to(memory_format=torch.channels_last)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=c.lr, betas=c.betas)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr, betas=c.betas)
        # the milestone is fixed when the run starts: resuming with more steps keeps it
        self.g_scheduler = MultiStepLR(self.g_optimizer, [c.steps // 2], gamma=0.1)
        self.d_scheduler = MultiStepLR(self.d_optimizer, [c.steps // 2], gamma=0.1)
        self.g_scaler, self.d_scaler = self.grad_scaler(), self.grad_scaler()

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

    def train_step(self, lr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        # discriminator: HR is real, SR is fake; SR is detached, so this update leaves the generator alone
        with self.autocast():
            sr = self.g(lr)
            d_real, d_fake = self.d(hr), self.d(sr.detach())
            d_loss = discriminator_loss(d_real, d_fake)
        self.update(d_loss, self.d_optimizer, self.d_scaler)
        # generator: the (updated) discriminator only judges here, so its weights need no gradients; the
        # plain module is called, as a DDP wrapper would wait for gradients that never come
        self.discriminator.requires_grad_(False)
        with self.autocast():
            total, content, adversarial = self.loss(sr, hr, self.discriminator(sr))
        self.update(total, self.g_optimizer, self.g_scaler)
        self.discriminator.requires_grad_(True)
        self.g_scheduler.step()
        self.d_scheduler.step()
        return {
            "g_content": content,
            "g_adversarial": adversarial,
            "g_total": total,
            "d_loss": d_loss,
            "d_real": torch.sigmoid(d_real.float()).mean(),  # D's mean belief that HR is real
            "d_fake": torch.sigmoid(d_fake.float()).mean(),  # ... and that SR is real
        }


TRAINERS: dict[str, type[Trainer]] = {"srresnet": SRResNetTrainer, "srgan": SRGANTrainer}


def make_trainer(config: TrainConfig, resume: bool = False) -> Trainer:
    """The trainer of ``config.model``, ready to `run` (resumed from the run's checkpoint with ``resume``)."""
    if config.model not in TRAINERS:
        raise UserError(f"unknown model {config.model!r}; choose from {', '.join(TRAINERS)}")
    if config.content not in CONTENT_LOSSES:
        raise UserError(f"unknown content loss {config.content!r}; choose from {', '.join(CONTENT_LOSSES)}")
    return TRAINERS[config.model](config, resume)


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
    joined_here = int(os.environ.get("WORLD_SIZE", 1)) > 1 and not dist.is_initialized()
    try:
        return make_trainer(config, resume).run(until, progress, time_limit)
    finally:
        if joined_here and dist.is_initialized():
            dist.destroy_process_group()
