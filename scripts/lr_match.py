"""How many values of the benchmarks' MATLAB-made LR files `srlib.imresize.make_lr` reproduces from their HR.

    python scripts/lr_match.py [Set5 Set14 BSD100 ...] [--scale 4]

Prints, per set and over all of them, the share of equal 8-bit values, the share inside a border of 2 LR
pixels, the largest difference in grey levels, and how many files come out identical.
"""

from __future__ import annotations

import argparse

import torch

from srlib.datasets import benchmark_pairs
from srlib.images import load_image, modcrop
from srlib.imresize import make_lr


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sets", nargs="*", default=["Set5", "Set14"])
    parser.add_argument("--scale", type=int, default=4)
    args = parser.parse_args()
    total = torch.zeros(5)  # equal, values, equal inside, values inside, identical files
    worst, files = 0, 0
    for name in args.sets:
        counts = torch.zeros(5)
        pairs = benchmark_pairs(name, args.scale)
        for _, hr_path, lr_path in pairs:
            ours = (make_lr(modcrop(load_image(hr_path), args.scale), args.scale) * 255).round()
            matlab = (load_image(lr_path) * 255).round()
            equal = ours == matlab
            inside = equal[:, 2:-2, 2:-2]
            counts += torch.tensor(
                [equal.sum(), equal.numel(), inside.sum(), inside.numel(), equal.all()], dtype=torch.float
            )
            worst = max(worst, int((ours - matlab).abs().max()))
        files += len(pairs)
        total += counts
        print(
            f"{name}: {100 * counts[0] / counts[1]:.3f}% equal ({100 * counts[2] / counts[3]:.3f}% inside), "
            f"{int(counts[4])}/{len(pairs)} files identical"
        )
    print(
        f"all: {100 * total[0] / total[1]:.3f}% equal ({100 * total[2] / total[3]:.3f}% inside), "
        f"{int(total[4])}/{files} files identical, largest difference {worst} grey levels"
    )


if __name__ == "__main__":
    main()
