"""The trials behind the cpu profile's SRResNet recipe (issue 24): each trial changes one lever of a base
recipe, trains a fixed number of steps on one thread (step counts do not depend on how busy the machine
is; seconds do) and scores Set5 against bicubic. ``--time`` instead measures seconds per training step of
each trial, interleaved round after round so that a drifting machine speed hits them alike.

    SRLIB_DATA=../shared/data python benchmarks/cpu_recipe_trials.py --time [--steps 8] [--rounds 2] [TRIAL]
    SRLIB_DATA=../shared/data python benchmarks/cpu_recipe_trials.py --seed 0 --train-steps 600 TRIAL ...

Each trial prints one line and, with ``--jsonl PATH``, appends it there. The results are in
benchmarks/cpu_recipe_trials.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from srlib.evaluate import baseline, evaluate
from srlib.inference import as_upscaler
from srlib.runtime import Runtime, cpu_model
from srlib.train import TrainConfig, make_trainer
from srlib.weights import load_generator

# the starting point: the cpu profile before issue 24 (8 x 32, batch 16 of 64 x 64, constant 3e-4)
NCHW = "nchw"  # a trial key that is no TrainConfig field: train in the default layout, not channels-last
BASE = {"n_blocks": 8, "channels": 32, "batch_size": 16, "crop": 64, "learning_rate": 3e-4}
TRIALS: dict[str, dict] = {
    "base": {},
    "cosine1e-3": {"schedule": "cosine", "learning_rate": 1e-3},
    "onecycle1e-3": {"schedule": "onecycle", "learning_rate": 1e-3},
    "onecycle2e-3": {"schedule": "onecycle", "learning_rate": 2e-3},
    "onecycle1e-3_l1": {"schedule": "onecycle", "learning_rate": 1e-3, "loss": "l1"},
    "onecycle1e-3_8x48": {"schedule": "onecycle", "learning_rate": 1e-3, "channels": 48},
    "onecycle1e-3_16x32": {"schedule": "onecycle", "learning_rate": 1e-3, "n_blocks": 16},
    "onecycle1e-3_4x32": {"schedule": "onecycle", "learning_rate": 1e-3, "n_blocks": 4},
    "onecycle1e-3_crop48": {"schedule": "onecycle", "learning_rate": 1e-3, "crop": 48},
    "onecycle1e-3_crop96": {"schedule": "onecycle", "learning_rate": 1e-3, "crop": 96},
    "onecycle1e-3_crop48_b32": {"schedule": "onecycle", "learning_rate": 1e-3, "crop": 48, "batch_size": 32},
    "onecycle1e-3_b8": {"schedule": "onecycle", "learning_rate": 1e-3, "batch_size": 8},
    "onecycle1e-3_beta99": {"schedule": "onecycle", "learning_rate": 1e-3, "betas": (0.9, 0.99)},
    "onecycle1e-3_nchw": {"schedule": "onecycle", "learning_rate": 1e-3, NCHW: True},
}


class NCHWRuntime(Runtime):
    """The CPU runtime with PyTorch's default layout instead of channels-last."""

    channels_last = False


def config_of(name: str, out: str, steps: int, seed: int) -> TrainConfig:
    """The trial's run: the base recipe with its changes, validated only at the end."""
    changes = {k: v for k, v in TRIALS[name].items() if k != NCHW}
    return TrainConfig(
        out=out, steps=steps, seed=seed, device="cpu", log_every=max(1, steps // 4),
        val_every=10**9, checkpoint_every=10**9, **{**BASE, **changes},
    )  # fmt: skip


def trainer_of(name: str, out: str, steps: int, seed: int):
    """The trial's trainer (on the CPU, in the trial's layout)."""
    runtime = NCHWRuntime(torch.device("cpu"), "fp32") if TRIALS[name].get(NCHW) else None
    return make_trainer(config_of(name, out, steps, seed), runtime=runtime)


def seconds_per_step(names: list[str], steps: int, rounds: int) -> dict[str, float]:
    """Median over rounds of the mean seconds of ``steps`` training steps (data included), per trial."""
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {n: trainer_of(n, f"{tmp}/{n}", 10**6, 0) for n in names}
        for t in trainers.values():  # warm-up: oneDNN picks its kernels per shape
            t.train_step(*t.next_batch())
        times: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(rounds):
            for n, t in trainers.items():
                start = time.perf_counter()
                for _ in range(steps):
                    t.train_step(*t.next_batch())
                times[n].append((time.perf_counter() - start) / steps)
    return {n: statistics.median(v) for n, v in times.items()}


def run_trial(name: str, steps: int, seed: int) -> dict:
    """Train the trial for ``steps`` steps and score Set5: PSNR, gain over bicubic, seconds of training."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = trainer_of(name, f"{tmp}/run", steps, seed).run(progress=False)
        seconds = time.perf_counter() - start
        model = load_generator(run / "checkpoint.pt")
    sr = evaluate(as_upscaler(model), ["Set5"])["Set5"]["psnr"]
    bicubic = evaluate(baseline("bicubic"), ["Set5"])["Set5"]["psnr"]
    return {"trial": name, "steps": steps, "seed": seed, "train_seconds": round(seconds, 1),
            "set5_psnr": round(sr, 3), "gain_db": round(sr - bicubic, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trials", nargs="*", default=list(TRIALS), help=", ".join(TRIALS))
    parser.add_argument("--time", action="store_true", help="measure seconds per step instead of training")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round (--time)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jsonl", type=Path, help="append each result as a JSON line")
    args = parser.parse_args()
    unknown = [n for n in args.trials if n not in TRIALS]
    if unknown:
        parser.error(f"unknown trial {unknown[0]!r}; choose from {', '.join(TRIALS)}")
    torch.set_num_threads(args.threads)
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"{cpu_model()}, {torch.get_num_threads()} thread(s), load average {load} at start")
    results = []
    if args.time:
        for n, s in seconds_per_step(args.trials, args.steps, args.rounds).items():
            results.append({"trial": n, "seconds_per_step": round(s, 4), "threads": args.threads})
        results = [{**r, "load": load} for r in results]
    else:
        results = [{**run_trial(n, args.train_steps, args.seed), "load": load} for n in args.trials]
    for r in results:
        print(json.dumps(r))
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
