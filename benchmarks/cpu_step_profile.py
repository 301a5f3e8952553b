"""Where the cpu profile's SRResNet training step spends its time, by kind of operation (torch.profiler's
self CPU time: convolutions, BatchNorm, PReLU, pixel shuffle, Adam, the loss, the rest), and how Adam's
implementations compare: the plain loop (torch's default on the CPU), ``foreach`` and ``fused``; with
``--compile``, also the generator under ``torch.compile`` (default Adam), whose warm-up (the first steps,
compilation included) is printed apart. Setups run interleaved, round after round, so that a drifting
machine speed hits them alike.

    SRLIB_DATA=../shared/data python benchmarks/cpu_step_profile.py [--steps 10] [--rounds 3] [--threads 2]
        [--compile]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from srlib.profiles import get_profile
from srlib.runtime import cpu_model
from srlib.train import TrainConfig, make_trainer

# profiler op name (substring) -> kind; the first match wins
KINDS = (
    ("conv", "convolution"),
    ("batch_norm", "BatchNorm"),
    ("prelu", "PReLU"),
    ("shuffle", "pixel shuffle"),
    ("mse_loss", "loss"),
    ("l1_loss", "loss"),
)
ADAMS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def kind(event) -> str:
    """The kind of a profiled op: Adam when inside the optimiser's step, else that of the innermost op of
    its call chain with a known kind (so an aten::empty inside a convolution counts as convolution)."""
    chain = []
    while event is not None:
        chain.append(event.name.lower())
        event = event.cpu_parent
    if any("adam" in n or "optimizer" in n for n in chain):
        return "Adam"
    return next((k for n in chain for key, k in KINDS if key in n), "other")


def cpu_trainer(out: str, max_images: int | None, **adam):
    """A trainer of the cpu profile's SRResNet, with Adam built with ``adam``'s options."""
    p = get_profile("cpu")
    config = TrainConfig(
        out=out, n_blocks=p.n_blocks, channels=p.channels, batch_size=p.batch_size, crop=p.crop,
        learning_rate=p.lr, schedule=p.schedule, steps=10**6, device="cpu", max_images=max_images,
    )  # fmt: skip
    trainer = make_trainer(config)
    if adam:
        trainer.g_optimizer = torch.optim.Adam(
            trainer.generator.parameters(), lr=config.learning_rate, betas=config.betas, **adam
        )
    return trainer


def breakdown(trainer, steps: int) -> dict[str, float]:
    """Self CPU seconds per step by kind of operation, over ``steps`` profiled steps (data excluded)."""
    batches = [trainer.next_batch() for _ in range(steps)]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for lr, hr in batches:
            trainer.train_step(lr, hr)
    totals: dict[str, float] = defaultdict(float)
    for event in prof.events():
        totals[kind(event)] += event.self_cpu_time_total / 1e6 / steps
    return dict(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--max-images", type=int, default=20, help="training images to load")
    parser.add_argument("--compile", action="store_true", help="also time the generator under torch.compile")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"{cpu_model()}, {torch.get_num_threads()} thread(s), load average {load} at start")
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {n: cpu_trainer(f"{tmp}/{n}", args.max_images, **o) for n, o in ADAMS.items()}
        if args.compile:
            trainers["compiled"] = cpu_trainer(f"{tmp}/compiled", args.max_images)
            trainers["compiled"].g = torch.compile(trainers["compiled"].g)
        for n, t in trainers.items():
            start = time.perf_counter()
            t.train_step(*t.next_batch())  # warm-up: oneDNN picks its kernels per shape; compilation
            t.train_step(*t.next_batch())
            print(f"  warm-up, first 2 steps of {n}: {time.perf_counter() - start:.1f} s")
        parts = breakdown(trainers["loop"], args.steps)
        total = sum(parts.values())
        print(f"self CPU time per step, {total:.3f} s in all (Adam: the default loop):")
        for k, s in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"  {k:<14} {s:7.3f} s  {s / total:6.1%}")
        times: dict[str, list[float]] = {n: [] for n in trainers}
        for _ in range(args.rounds):
            for n, t in trainers.items():
                batches = [t.next_batch() for _ in range(args.steps)]
                start = time.perf_counter()
                for lr, hr in batches:
                    t.train_step(lr, hr)
                times[n].append((time.perf_counter() - start) / args.steps)
    base = statistics.median(times["loop"])
    print("seconds per training step (data excluded), median of rounds, and the ratio to the default loop:")
    for n, v in times.items():
        m = statistics.median(v)
        label = "generator compiled, Adam loop" if n == "compiled" else f"Adam {n}"
        print(f"  {label:<30} {m:.4f} s  x{m / base:.3f}")


if __name__ == "__main__":
    main()
