"""Choose which SRGAN-MSE run ships, on validation images only (the scikit-image samples, never a benchmark).

    python scripts/pick_srgan.py SRRESNET.safetensors CANDIDATE.safetensors [...]

For each candidate: validation PSNR (Y, 4 px shaved), mean gradient magnitude and the period-4 checkerboard
energy of Y, beside the SRResNet's and the HR images'. The rule, fixed before any run: keep the candidates
within 1.5 dB of the SRResNet's PSNR and sharper than it (mean gradient), then take the one whose
checkerboard energy is lowest relative to the HR images'. Prints the table and the chosen file.
"""

from __future__ import annotations

import sys

from srlib.evaluate import evaluate_images, sample_images
from srlib.inference import as_upscaler
from srlib.metrics import checkerboard_energy, gradient_magnitude, rgb_to_y
from srlib.weights import load_generator


def main(paths: list[str]) -> str:
    upscalers = {path: as_upscaler(load_generator(path)) for path in paths}
    scores, outputs = evaluate_images(upscalers, sample_images(), scale=4)
    rows, n = {}, len(outputs)
    for method in [*paths, "HR"]:
        psnr = sum(s[method]["psnr"] for s in scores.values()) / n if method != "HR" else float("inf")
        grad = sum(gradient_magnitude(o[method], 4).item() for o in outputs.values()) / n
        grid = sum(checkerboard_energy(rgb_to_y(o[method]), 4).item() for o in outputs.values()) / n
        rows[method] = (psnr, grad, grid)
    print(f"{'weights':<44} {'val PSNR':>8} {'gradient':>8} {'grid %':>7} {'grid/HR':>7}")
    for method, (psnr, grad, grid) in rows.items():
        print(f"{method:<44} {psnr:8.2f} {grad:8.3f} {100 * grid:7.4f} {grid / rows['HR'][2]:7.2f}")
    base_psnr, base_grad, _ = rows[paths[0]]
    fit = [p for p in paths[1:] if rows[p][0] >= base_psnr - 1.5 and rows[p][1] > base_grad]
    if not fit:
        print("no candidate is within 1.5 dB of the SRResNet and sharper than it")
        return ""
    chosen = min(fit, key=lambda p: rows[p][2])
    print(f"chosen: {chosen}")
    return chosen


if __name__ == "__main__":
    main(sys.argv[1:])
