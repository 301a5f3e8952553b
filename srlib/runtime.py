"""Where a training run executes: the device, the processes (DistributedDataParallel), the precision.

Kept apart from the training loop so that the loop reads as the paper's algorithm. Nothing here changes
global state when imported or constructed: `Runtime.start` joins the process group, and `Runtime.tuned`
turns cuDNN's autotuner on only for the block it wraps (left on, it would also skew later timings).

Precision (``amp``): "auto" picks bf16 autocast on GPUs that compute bf16 natively (compute capability
8.0 and up: A100, H100, L4, RTX 30xx...), fp16 autocast with loss scaling on older GPUs (T4, V100: cuDNN
has no bf16 convolutions there, even when ``torch.cuda.is_bf16_supported()`` says True through emulation),
and fp32 on the CPU and MPS. "bf16", "fp16" and "off" (fp32) force a choice.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from srlib.constants import AMP_CHOICES
from srlib.errors import UserError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


# Running out of memory, told by the exception's type: Python's MemoryError, torch's OutOfMemoryError (a
# GPU's). torch's CPU allocator raises a plain RuntimeError, not caught as such: `check_memory`
# (srlib.upscale_files) refuses oversized work on the CPU before it starts.
OUT_OF_MEMORY = (MemoryError, torch.OutOfMemoryError)


def pick_device(name: str | None = None) -> torch.device:
    """``name`` when given ("cpu", "cuda", "cuda:1", "mps"), else the best there is: CUDA, MPS, then CPU.

    A device that srlib cannot run on (meta, xpu, a GPU that is not there or does not work) is a UserError.
    """
    if name:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise UserError(f"unknown device {name!r}; use cpu, cuda, cuda:N or mps") from None
        if device.type not in ("cpu", "cuda", "mps"):
            raise UserError(f"srlib does not run on device {name!r}; use cpu, cuda, cuda:N or mps")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"device {name} asked for, but torch sees no CUDA GPU; use --device cpu")
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise UserError(
                f"device {name} asked for, but torch sees {torch.cuda.device_count()} CUDA GPU(s)"
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise UserError(f"device {name} asked for, but MPS is not available here; use --device cpu")
        try:
            torch.zeros(1, device=device) + 1  # a GPU can be seen and still not work (driver, capability)
        except RuntimeError as e:
            reason = str(e).splitlines()[0]
            raise UserError(f"device {name} does not work here ({reason}); use --device cpu") from None
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def available_memory(device: torch.device) -> int | None:
    """Bytes free for new tensors on ``device``: a GPU's free memory, the CPU's MemAvailable (Linux), or None
    where it cannot be known."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as f:
                return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
        except (OSError, StopIteration, ValueError):
            return None
    return None


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine(device: str | torch.device = "cpu") -> dict[str, str | int]:
    """Where timings were taken, recorded beside them: device, torch version, threads, CPU (and GPU) model."""
    device = torch.device(device)
    info: dict[str, str | int] = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def choose_precision(device: torch.device, amp: str = "auto") -> str:
    """ "bf16", "fp16" or "fp32": the arithmetic of training on ``device`` for the ``amp`` setting."""
    if amp not in AMP_CHOICES:
        raise UserError(f"amp must be one of {', '.join(AMP_CHOICES)}, not {amp!r}")
    if amp == "off" or device.type != "cuda":
        if amp in ("bf16", "fp16") and device.type != "cuda":
            raise UserError(f"--amp {amp} needs a CUDA GPU, but training runs on {device}; use --amp off")
        return "fp32"
    if amp != "auto":
        return amp
    major, _ = torch.cuda.get_device_capability(device)
    return "bf16" if major >= 8 else "fp16"


def device_name(device: torch.device) -> str:
    """The card's name on CUDA, else the CPU's model (as `platform` knows it) or the device type."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return cpu_model()
    return device.type


@dataclass
class Runtime:
    """The device, process rank and world size, and precision of one training process."""

    device: torch.device
    precision: str  # "bf16", "fp16" or "fp32"
    rank: int = 0
    world: int = 1

    @classmethod
    def start(cls, device: str | None = None, amp: str = "auto") -> Runtime:
        """Pick the device and precision; under ``torchrun`` (WORLD_SIZE > 1), join the process group."""
        rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        where = pick_device(device)
        if world > 1:
            if where.type == "cuda":
                where = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
                torch.cuda.set_device(where)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if where.type == "cuda" else "gloo")
        return cls(where, choose_precision(where, amp), rank, world)

    @property
    def channels_last(self) -> bool:
        """Channels-last convolutions: faster on tensor cores and on x86 CPUs (benchmarks/)."""
        return self.device.type in ("cuda", "cpu")

    @property
    def main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    def describe(self) -> dict[str, str | int]:
        """What a run's config.json records about where it ran."""
        return {
            "device": str(self.device),
            "device_name": device_name(self.device),
            "precision": self.precision,
            "processes": self.world,
            "torch": torch.__version__,
        }

    def wrap(self, module: nn.Module) -> nn.Module:
        """Move a network to the device (channels-last where it pays); wrap it in DDP on several processes.

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
            nn.SyncBatchNorm.convert_sync_batchnorm(module)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def autocast(self) -> AbstractContextManager:
        """Mixed precision for the forward passes (a no-op in fp32)."""
        dtype = DTYPES[self.precision]
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaling, which fp16 needs against underflow; a pass-through otherwise."""
        return torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")

    def all_mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of a tensor over all processes (itself on one process)."""
        if self.world > 1:
            dist.all_reduce(values)
            values = values / self.world
        return values

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is True on any: lets all processes stop together."""
        if self.world == 1:
            return flag
        t = torch.tensor(float(flag), device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t)

    @contextmanager
    def tuned(self) -> Iterator[None]:
        """cuDNN autotuning for the block (training's batch shape never changes), restored afterwards."""
        before = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = self.device.type == "cuda" or before
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = before
