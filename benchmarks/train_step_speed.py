"""Seconds per SRResNet training step (batch 16, 96x96 HR crops, MSE, Adam) on this machine, for several
settings side by side in one run (CPU speed drifts from hour to hour, so only ratios within a run count).

    python benchmarks/train_step_speed.py [--steps 5] [--batch-size 16] [--variants eager channels_last ...]
    python benchmarks/train_step_speed.py --device cuda --variants eager channels_last bf16 bf16_channels_last
"""

from __future__ import annotations

import argparse
import time

import torch

from srlib.evaluate import synchronize
from srlib.imresize import imresize
from srlib.losses import pixel_mse
from srlib.models import SRResNet, to_model_range

VARIANTS = (
    "eager",
    "channels_last",
    "compile",
    "compile_channels_last",
    "threads1",
    "bf16",  # autocast to bfloat16 (GPUs)
    "bf16_channels_last",
)


def step_time(variant: str, steps: int, batch_size: int, crop: int, device: torch.device) -> float:
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    if variant == "threads1":
        torch.set_num_threads(1)
    model = SRResNet().to(device)
    fmt = torch.channels_last if "channels_last" in variant else torch.contiguous_format
    model = model.to(memory_format=fmt)
    forward = torch.compile(model) if variant.startswith("compile") else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999))
    hr = torch.rand(batch_size, 3, crop, crop, device=device)
    amp = torch.autocast(device.type, torch.bfloat16, enabled=variant.startswith("bf16"))
    lr = imresize(hr, 1 / 4).clamp(0, 1).contiguous(memory_format=fmt)
    target = to_model_range(hr).contiguous(memory_format=fmt)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with amp:
            loss = pixel_mse(forward(lr), target)
        loss.backward()
        opt.step()

    step()  # warm-up (and compilation)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    seconds = (time.perf_counter() - start) / steps
    torch.set_num_threads(threads)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    where = torch.cuda.get_device_name(device) if cuda else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, batch {args.batch_size}, crop {args.crop}")
    base = None
    for v in args.variants:
        s = step_time(v, args.steps, args.batch_size, args.crop, device)
        base = base or s
        print(f"{v:<24} {s:7.3f} s/step   speed-up x{base / s:.2f}")


if __name__ == "__main__":
    main()
