"""Seconds per image of `srlib.niqe.niqe` on a benchmark set's HR images (loaded beforehand, so only
NIQE is timed), for one or more torch thread counts, interleaved round by round (CPU speed drifts on a
shared machine, so only values from one run compare), and the set's mean NIQE.

    SRLIB_DATA=../shared/data python benchmarks/niqe_speed.py [--dataset BSD100] [--threads 1 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from srlib.datasets import benchmark_pairs
from srlib.images import load_image, modcrop
from srlib.niqe import niqe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="BSD100")
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    images = [modcrop(load_image(hr), 4) for _, hr, _ in benchmark_pairs(args.dataset)]
    niqe(images[0])  # warm-up
    times: dict[int, list[float]] = {t: [] for t in args.threads}
    for _ in range(args.rounds):
        for t in args.threads:
            torch.set_num_threads(t)
            start = time.perf_counter()
            scores = [niqe(x).item() for x in images]
            times[t].append((time.perf_counter() - start) / len(images))
    print(f"{args.dataset}: {len(images)} HR images, mean NIQE {sum(scores) / len(scores):.4f}")
    for t, per_image in times.items():
        print(
            f"{t} thread(s): {statistics.median(per_image):.4f} s per image (median of {args.rounds} rounds; "
            f"all: {', '.join(f'{s:.4f}' for s in per_image)})"
        )


if __name__ == "__main__":
    main()
