"""Benchmark evaluation as in the SRGAN paper's table 2: mean PSNR / SSIM (Y channel, `scale` pixels shaved)
and seconds per image on Set5, Set14 and BSD100, upscaling the MATLAB-made low-resolution files.

An *upscaler* is any function from a (1, 3, h, w) LR batch in [0, 1] to a (1, 3, h*s, w*s) SR batch in
[0, 1]: an interpolation baseline, or a trained network wrapped by the caller.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import torch
from torch import Tensor

from srlib.data import (
    BENCHMARKS,
    benchmark_pairs,
    check_benchmark,
    is_grayscale,
    load_image,
    modcrop,
    quantize,
    sample_image,
    write_text,
)
from srlib.errors import UserError
from srlib.imresize import METHODS, imresize, upscale
from srlib.metrics import gradient_magnitude, high_frequency_share, niqe, psnr, rgb_to_gray, ssim

Upscaler = Callable[[Tensor], Tensor]

# What `evaluate` can measure; PSNR and SSIM always. NIQE needs no reference; LPIPS needs the optional
# package lpips and AlexNet's weights (srlib.lpips). The PIRM 2018 Perceptual Index, ((10 - Ma) + NIQE) / 2,
# and Ma et al.'s score need Ma's trained regression model, a file that cannot be had offline, so they are
# not offered.
METRICS = ("psnr", "ssim", "niqe", "lpips")


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
    lpips: torch.nn.Module | None = None,
) -> dict:
    """The perceptual measures asked for in ``metrics`` for one SR image: ``niqe`` and its HR image's
    ``hr_niqe`` (the target), both with ``scale`` pixels shaved, on Y or on the grey values (``gray``);
    ``lpips`` (needs the ``lpips`` model from `srlib.lpips.lpips_model`), on RGB, shaved alike."""
    scores = {}
    if "niqe" in metrics:
        a, b = (rgb_to_gray(sr), rgb_to_gray(hr)) if gray else (sr, hr)
        scores["niqe"], scores["hr_niqe"] = niqe(a, scale).item(), niqe(b, scale).item()
    if "lpips" in metrics:
        from srlib.lpips import lpips_distance

        if lpips is None:
            raise ValueError("perceptual_scores: 'lpips' needs the network, from srlib.lpips.lpips_model")
        scores["lpips"] = lpips_distance(lpips, sr, hr, scale).item()
    return scores


# Ledig et al. (CVPR 2017), x4, PSNR (dB) / SSIM, keyed by our method labels (`srlib.weights.trained_as`):
# table 2 for the interpolations, SRResNet and SRGAN (whose content loss is VGG54), table 1 for SRGAN-MSE
# (table 1 reports Set5 and Set14 only).
PAPER = {
    "nearest": {"Set5": (26.26, 0.7552), "Set14": (24.64, 0.7100), "BSD100": (25.02, 0.6606)},
    "bicubic": {"Set5": (28.43, 0.8211), "Set14": (25.99, 0.7486), "BSD100": (25.94, 0.6935)},
    "srresnet": {"Set5": (32.05, 0.9019), "Set14": (28.49, 0.8184), "BSD100": (27.58, 0.7620)},
    "srgan": {"Set5": (29.40, 0.8472), "Set14": (26.02, 0.7397), "BSD100": (25.16, 0.6688)},
    "srgan-mse": {"Set5": (30.64, 0.8701), "Set14": (26.92, 0.7611)},
}
PAPER_SOURCE = {
    "nearest": "Ledig et al., table 2",
    "bicubic": "Ledig et al., table 2",
    "srresnet": "Ledig et al., table 2",
    "srgan": "Ledig et al., table 2 (SRGAN-VGG54)",
    "srgan-mse": "Ledig et al., table 1 (SRGAN-MSE)",
}


def baseline(method: str, scale: int = 4) -> Upscaler:
    """The interpolation baseline ``method`` (nearest, bilinear, bicubic) as an upscaler."""
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    return partial(upscale, scale=scale, method=method)


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
) -> dict:
    """Score ``upscaler`` on benchmark sets; returns ``{set: {psnr, ssim, seconds_per_image, images, ...}}``.

    Besides PSNR and SSIM, each set gets two measures of fine detail, of the SR images and of their HR
    originals (``hr_`` prefix): `gradient_magnitude` and `high_frequency_share`, both shaved like PSNR;
    and the perceptual measures named in ``metrics`` (see `perceptual_scores`); LPIPS's AlexNet comes from
    ``lpips_weights`` (a file), else torchvision's download.
    The first image of each size is run once untimed before it is timed, so that set-up (CUDA kernels and
    cuDNN's choice of algorithm per shape, oneDNN's primitives, caches) is not counted as seconds per image.
    """
    device = torch.device(device)
    check_metrics(metrics)
    for name in datasets:  # check every name before spending time on the first set
        check_benchmark(name)
    lpips = None
    if "lpips" in metrics:
        from srlib.lpips import lpips_model

        lpips = lpips_model(lpips_weights, device=device)
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


def evaluate_images(
    upscalers: Mapping[str, Upscaler],
    images: Mapping[str, Tensor],
    scale: int = 4,
    device: str | torch.device = "cpu",
) -> tuple[dict, dict]:
    """Degrade each HR image with MATLAB bicubic, upscale it with every upscaler and score the results.

    Returns ``(scores, outputs)``: ``scores[image][method] = {psnr, ssim, seconds}`` and
    ``outputs[image] = {"LR": lr, method: sr, ..., "HR": hr}`` for figures.
    """
    device = torch.device(device)
    scores, outputs = {}, {}
    for name, img in images.items():
        hr = modcrop(img[None], scale)
        lr = quantize(imresize(hr, 1 / scale)).to(device)
        outputs[name], scores[name] = {"LR": lr.cpu()}, {}
        for method, up in upscalers.items():
            sr, p, s, seconds = measure(up, lr, hr, scale)
            outputs[name][method] = sr
            scores[name][method] = {"psnr": p, "ssim": s, "seconds": seconds}
        outputs[name]["HR"] = hr
    return scores, outputs


def sample_images() -> dict[str, Tensor]:
    """The bundled scikit-image colour samples as HR images."""
    from srlib.data import SAMPLE_IMAGES

    return {name: sample_image(name) for name in SAMPLE_IMAGES}


def format_table(results: Mapping[str, Mapping], title: str = "", paper: str | None = None) -> str:
    """A plain-text table, one row per set; ``paper`` adds that method's published numbers.

    Perceptual measures in the results get columns: NIQE (lower is better) beside the HR images' NIQE,
    LPIPS (lower is better).
    """
    first = next(iter(results.values()), {})
    extra = [
        (k, label)
        for k, label in (("niqe", "NIQE"), ("hr_niqe", "HR NIQE"), ("lpips", "LPIPS"))
        if k in first
    ]
    head = f"{'dataset':<8} {'PSNR (dB)':>9} {'SSIM':>7}" + "".join(f" {label:>7}" for _, label in extra)
    head += f" {'s/image':>9}"
    if paper:
        head += f"   {'paper PSNR':>10} {'paper SSIM':>10}"
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    for name, r in results.items():
        line = f"{name:<8} {r['psnr']:>9.2f} {r['ssim']:>7.4f}" + "".join(f" {r[k]:>7.3f}" for k, _ in extra)
        line += f" {r['seconds_per_image']:>9.4f}"
        if paper and name in PAPER.get(paper, {}):
            p, s = PAPER[paper][name]
            line += f"   {p:>10.2f} {s:>10.4f}"
        lines.append(line)
    return "\n".join(lines)


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine(device: str | torch.device = "cpu") -> dict[str, str | int]:
    """Where timings were taken, recorded beside them: device, torch version, threads, CPU (and GPU) model."""
    device = torch.device(device)
    info: dict[str, str | int] = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def write_json(results: Mapping, path: str | Path, device: str | torch.device = "cpu") -> Path:
    """Write results as JSON, atomically, with a ``machine`` entry saying where the ``device`` timings ran."""
    return write_text(path, json.dumps({"machine": machine(device), **results}, indent=2) + "\n")


# The seed report this course started from: a student's reproduction of the paper's SRGAN, not the paper's
# numbers. Its table 4.1: PSNR, SSIM and seconds per image on an RTX 2080 Ti.
SEED_REPORT_SRGAN = {
    "Set5": (29.057, 0.839, 0.103),
    "Set14": (25.426, 0.688, 0.070),
    "BSD100": (24.248, 0.628, 0.039),
}
SEED_REPORT_SOURCE = "seed report: a student's reproduction (RTX 2080 Ti)"


def _published_rows(method: str, sets: Sequence[str]) -> list[str]:
    """The rows of the numbers published for ``method``: the paper's; for SRGAN, the seed report's too."""

    def row(source: str, numbers: Mapping[str, tuple], fmt: str) -> str:
        cells = [fmt.format(*numbers[s]) if s in numbers else "not reported" for s in sets]
        return f"| {method} | {source} | " + " | ".join(cells) + " |"

    rows = [row(PAPER_SOURCE[method], PAPER[method], "{:.2f} / {:.4f}")] if method in PAPER else []
    if method == "srgan":
        rows.append(row(SEED_REPORT_SOURCE, SEED_REPORT_SRGAN, "{:.3f} / {:.3f} / {:.3f} s"))
    return rows


def reproduction_table(results: Mapping[str, Mapping[str, Mapping]], device: str = "") -> str:
    """A Markdown table with a row for each method of ours and, under it, the published numbers of that model.

    Cells are PSNR (dB) / SSIM / seconds per image; the paper gives no timings, the seed report does. Each
    method is paired with its own row of the paper: "srgan-mse" with table 1's SRGAN-MSE, "srgan" (VGG54)
    with table 2. A variant such as "srgan-mse" is not the paper's SRGAN, whose rows (the paper's and the
    seed report's) then follow at the end, for reference.
    """
    sets = list(next(iter(results.values())))
    lines = ["| method | source | " + " | ".join(sets) + " |", "| --- | --- |" + " --- |" * len(sets)]
    for method, by_set in results.items():
        ours = [
            f"{by_set[s]['psnr']:.2f} / {by_set[s]['ssim']:.4f} / {by_set[s]['seconds_per_image']:.3f} s"
            for s in sets
        ]
        lines.append(f"| {method} | ours{f' ({device})' if device else ''} | " + " | ".join(ours) + " |")
        lines += _published_rows(method, sets)
    families = dict.fromkeys(m.split("-")[0] for m in results)  # "srgan" for "srgan-mse", in order
    for family in families:
        if family not in results:
            lines += _published_rows(family, sets)
    return "\n".join(lines)


def detail_table(results: Mapping[str, Mapping[str, Mapping]]) -> str:
    """A Markdown table of the fine-detail measures: mean gradient magnitude and high-frequency share.

    PSNR favours blur; these say how much detail each method puts back, beside the HR images' own values.
    """
    sets = list(next(iter(results.values())))
    lines = ["| method | " + " | ".join(sets) + " |", "| --- |" + " --- |" * len(sets)]
    rows = {name: {s: (r[s]["gradient"], r[s]["hf_share"]) for s in sets} for name, r in results.items()}
    first = next(iter(results.values()))
    rows["HR"] = {s: (first[s]["hr_gradient"], first[s]["hr_hf_share"]) for s in sets}
    for name, by_set in rows.items():
        cells = [f"{g:.2f} / {100 * h:.2f}%" for g, h in by_set.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def niqe_table(results: Mapping[str, Mapping[str, Mapping]]) -> str:
    """A Markdown table of mean NIQE per method and set (lower: more natural), with the HR images' row."""
    sets = list(next(iter(results.values())))
    lines = ["| method | " + " | ".join(sets) + " |", "| --- |" + " --- |" * len(sets)]
    rows = {name: [r[s]["niqe"] for s in sets] for name, r in results.items()}
    rows["HR"] = [next(iter(results.values()))[s]["hr_niqe"] for s in sets]
    lines += [f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |" for name, row in rows.items()]
    return "\n".join(lines)


def reproduction_markdown(results: Mapping[str, Mapping[str, Mapping]], device: str = "") -> str:
    """The text of ``reproduction.md``: the reproduction table, what its rows are, the detail table and,
    when the results hold NIQE, the NIQE table."""
    return (
        "# Reproduction: x4 super-resolution on the benchmarks\n\n"
        "PSNR (dB) / SSIM on the Y channel with 4 pixels shaved, and seconds per image, made by "
        "`srlib reproduce`. SSIM implementations differ between papers (see the README): compare SSIM "
        "within one row source only. Under each row of ours is the paper's row for the same model (Ledig "
        "et al., table 1 for SRGAN-MSE, table 2 otherwise); the seed report rows are the numbers of a "
        "student's reproduction of SRGAN that this course started from, timed on an RTX 2080 Ti, not "
        "the paper's.\n\n" + reproduction_table(results, device) + "\n\n"
        "## Fine detail\n\n"
        "Mean gradient magnitude of Y (Sobel, grey levels per pixel) / share of Y's spectral power above the "
        "LR images' Nyquist frequency (1/8 cycle per pixel at x4), both with 4 pixels shaved: detail that "
        "the LR input cannot hold, so an upscaler must create it. The HR row is the target.\n\n"
        + detail_table(results)
        + "\n"
        + (niqe_section(results) if "niqe" in next(iter(next(iter(results.values())).values())) else "")
    )


def niqe_section(results: Mapping[str, Mapping[str, Mapping]]) -> str:
    """The NIQE part of ``reproduction.md``: what NIQE is, why PI is missing, and `niqe_table`."""
    return (
        "\n## NIQE\n\n"
        "Mean NIQE (Mittal et al. 2012, the LIVE release's pristine model; no reference needed, lower is "
        "more natural) of Y with 4 pixels shaved. The PIRM 2018 Perceptual Index and Ma et al.'s score need "
        "Ma's trained model, which cannot be had offline, so they are not given.\n\n"
        + niqe_table(results)
        + "\n"
    )


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
) -> dict:
    """Evaluate every upscaler on the benchmarks and write the reproduction table, JSON and crop figures.

    Writes ``out/reproduction.md`` (the table beside the paper's and the seed report's numbers, the
    fine-detail and NIQE tables),
    ``out/reproduction.json`` and ``out/crops_<set>_<image>.png`` (LR, each method, HR, zoomed).
    """
    from srlib.plot import comparison_figure

    out = Path(out)
    device = torch.device(device)
    metrics = ("psnr", "ssim", "niqe")
    results = {name: evaluate(up, datasets, 4, device, metrics=metrics) for name, up in upscalers.items()}
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
