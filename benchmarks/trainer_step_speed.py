"""Seconds per training step of srlib's own trainers (batch 16, 96x96 HR crops, the paper's networks) on
the real training images: SRResNet, SRGAN-MSE and SRGAN-VGG54 (random VGG weights: same cost as ImageNet's).
Each step includes drawing the crops and making the LR batch, as in training.

    SRLIB_DATA=../shared/data python benchmarks/trainer_step_speed.py [--steps 3] [--device cpu] \\
        [--batch-size 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from srlib.evaluate import synchronize
from srlib.train import TrainConfig, make_trainer

SETUPS = {
    "srresnet": {"model": "srresnet"},
    "srgan-mse": {"model": "srgan", "content": "mse"},
    "srgan-vgg54": {"model": "srgan", "content": "vgg54", "vgg_weights": None},
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--setups", nargs="+", choices=list(SETUPS), default=list(SETUPS))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, crop 96")
    for name in args.setups:
        with tempfile.TemporaryDirectory() as out:
            config = TrainConfig(out=out, device=args.device, batch_size=args.batch_size, **SETUPS[name])
            trainer = make_trainer(config)
            trainer.train_step(*trainer.next_batch())  # warm-up
            synchronize(trainer.rt.device)
            start = time.perf_counter()
            for _ in range(args.steps):
                trainer.train_step(*trainer.next_batch())
            synchronize(trainer.rt.device)
            seconds = (time.perf_counter() - start) / args.steps
        print(f"{name:<12} {seconds:8.4f} s/step on {trainer.rt.device}")


if __name__ == "__main__":
    main()
