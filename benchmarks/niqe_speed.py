"""Seconds per image of `srlib.metrics.niqe` on a benchmark set's HR images (loaded beforehand, so only
NIQE is timed), and the set's mean NIQE.

    SRLIB_DATA=../shared/data python benchmarks/niqe_speed.py [--dataset BSD100] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch

from srlib.data import benchmark_pairs, load_image, modcrop
from srlib.metrics import niqe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="BSD100")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    images = [modcrop(load_image(hr), 4) for _, hr, _ in benchmark_pairs(args.dataset)]
    niqe(images[0])  # warm-up
    start = time.perf_counter()
    scores = [niqe(x).item() for x in images]
    seconds = time.perf_counter() - start
    print(
        f"{args.dataset}: {len(images)} HR images, NIQE {sum(scores) / len(scores):.4f}, "
        f"{seconds:.2f} s in all, {seconds / len(images):.4f} s per image on {torch.get_num_threads()} threads"
    )


if __name__ == "__main__":
    main()
