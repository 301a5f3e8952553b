"""Sharpness and grid texture of generators: PSNR (Y, 4 px shaved), mean gradient magnitude and the period-4
checkerboard energy of Y, beside bicubic and the HR images.

    python scripts/texture_check.py WEIGHTS.safetensors [...] [--set Set14]

Without --set it scores the validation images (the scikit-image samples), which is what may guide a choice
between runs; --set scores a benchmark, to report (never to choose).
"""

from __future__ import annotations

import argparse

import torch

from srlib.datasets import benchmark_pairs
from srlib.evaluate import baseline, evaluate_images, sample_images
from srlib.images import load_image, modcrop
from srlib.inference import as_upscaler
from srlib.metrics import checkerboard_energy, gradient_magnitude, rgb_to_y
from srlib.weights import load_generator


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights", nargs="+")
    parser.add_argument(
        "--set", help="a benchmark set instead of the validation images"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    images = sample_images()
    if args.set:
        images = {name: modcrop(load_image(hr), 4) for name, hr, _ in benchmark_pairs(args.set)}
    upscalers = {"bicubic": baseline("bicubic"), **{w: as_upscaler(load_generator(w)) for w in args.weights}}
    scores, outputs = evaluate_images(upscalers, images, scale=4)
    n = len(outputs)
    rows = {}
    for method in [*upscalers, "HR"]:
        psnr = sum(s[method]["psnr"] for s in scores.values()) / n if method != "HR" else float("inf")
        grad = sum(gradient_magnitude(o[method], 4).item() for o in outputs.values()) / n
        grid = sum(checkerboard_energy(rgb_to_y(o[method]), 4).item() for o in outputs.values()) / n
        rows[method] = (psnr, grad, grid)
    print(f"{args.set or 'validation images'}: {n} images, MATLAB-bicubic LR made from the HR")
    print(f"{'method':<44} {'PSNR':>6} {'gradient':>8} {'grid %':>7} {'grid/HR':>7}")
    for method, (psnr, grad, grid) in rows.items():
        print(f"{method:<44} {psnr:6.2f} {grad:8.3f} {100 * grid:7.4f} {grid / rows['HR'][2]:7.2f}")


if __name__ == "__main__":
    main()
