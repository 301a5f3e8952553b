"""What the cpu profile's SRResNet reaches on this machine: notebook 04's training run (its network, batch,
crops, schedule and wall-clock budget), then Set5 / Set14 / BSD100 against bicubic. Prints the CPU model,
threads, seconds (training and evaluation) and the steps the budget allowed; ``--json PATH`` writes the
same numbers. ``--budget`` (seconds) and ``--max-images`` make a short run possible.

    SRLIB_DATA=../shared/data python benchmarks/cpu_profile.py [--seed 0] [--budget SECONDS] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from srlib.course import train_config
from srlib.evaluate import baseline, evaluate
from srlib.files import write_text
from srlib.inference import as_upscaler
from srlib.profiles import get_profile
from srlib.runtime import cpu_model
from srlib.train import train
from srlib.weights import load_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    profile = get_profile("cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=profile.budget_seconds, help="training seconds")
    parser.add_argument("--datasets", nargs="+", default=list(profile.eval_datasets))
    parser.add_argument("--max-images", type=int, default=profile.train_images, help="training images")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        config = train_config(
            profile, f"{tmp}/run", seed=args.seed, budget_seconds=args.budget, max_images=args.max_images,
            device="cpu",
        )  # fmt: skip
        run = train(config, progress=False)
        train_seconds = time.perf_counter() - began
        model = load_generator(run / "checkpoint.pt")
        steps = int(torch.load(run / "checkpoint.pt", weights_only=True)["step"])
    sr = evaluate(as_upscaler(model), args.datasets)
    bicubic = evaluate(baseline("bicubic"), args.datasets)
    seconds = time.perf_counter() - began
    results = {
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "seed": args.seed,
        "budget_seconds": args.budget,
        "steps": steps,
        "train_seconds": round(train_seconds, 1),
        "seconds": round(seconds, 1),
        "sets": {
            name: {
                "psnr": round(sr[name]["psnr"], 3),
                "bicubic_psnr": round(bicubic[name]["psnr"], 3),
                "gain_db": round(sr[name]["psnr"] - bicubic[name]["psnr"], 3),
            }
            for name in args.datasets
        },
    }
    print(f"{results['cpu']}, {results['threads']} threads, seed {args.seed}")
    print(
        f"trained {steps:,} steps of SRResNet {config.n_blocks}x{config.channels} ({config.schedule}, peak "
        f"{config.learning_rate:g}) in {train_seconds:.0f} s (budget {args.budget} s); {seconds:.0f} s in all"
    )
    for name, r in results["sets"].items():
        gain = f"gain {r['gain_db']:+.2f} dB"
        print(f"{name:<6} {r['psnr']:.2f} dB, bicubic {r['bicubic_psnr']:.2f} dB, {gain}")
    if args.json:
        write_text(args.json, json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
