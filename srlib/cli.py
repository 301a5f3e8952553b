"""The ``srlib`` command line. Bad input ends with a one-line ``srlib: error: ...`` and exit code 2."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from srlib.data import BENCHMARKS
from srlib.errors import UserError
from srlib.imresize import METHODS


def cmd_evaluate(args: argparse.Namespace) -> None:
    from srlib.evaluate import baseline, evaluate, format_table, write_json

    results = evaluate(baseline(args.method, args.scale), args.datasets, args.scale)
    paper = args.method if args.scale == 4 else None
    print(format_table(results, title=f"{args.method} x{args.scale}", paper=paper))
    if args.json:
        write_json(results, args.json)
        print(f"wrote {args.json}")


def cmd_demo(args: argparse.Namespace) -> None:
    from srlib.evaluate import baseline, evaluate_images, sample_images
    from srlib.plot import comparison_figure

    start = time.perf_counter()
    upscalers = {m: baseline(m, 4) for m in METHODS}
    scores, outputs = evaluate_images(upscalers, sample_images(), scale=4)
    out = Path(args.out)
    print(f"{'image':<10} {'method':<9} {'PSNR (dB)':>9} {'SSIM':>7} {'seconds':>8}")
    for image, by_method in scores.items():
        for method, s in by_method.items():
            print(f"{image:<10} {method:<9} {s['psnr']:>9.2f} {s['ssim']:>7.4f} {s['seconds']:>8.4f}")
        captions = {m: f"{s['psnr']:.2f} dB / {s['ssim']:.3f}" for m, s in by_method.items()}
        comparison_figure(outputs[image], captions=captions, path=out / f"{image}.png")
    print(f"wrote {len(scores)} figures to {out}/ in {time.perf_counter() - start:.1f} s")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("evaluate", help="PSNR/SSIM/seconds per image on Set5, Set14, BSD100")
    p.add_argument("--method", choices=METHODS, default="bicubic", help="interpolation baseline")
    p.add_argument("--datasets", nargs="+", default=list(BENCHMARKS), metavar="SET", help="Set5 Set14 BSD100")
    p.add_argument("--scale", type=int, default=4, help="upscaling factor (the shipped LR files are x4)")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="upscale the bundled sample images and write comparison figures")
    p.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input, with a one-line message)."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as e:
        print(f"srlib: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("srlib: interrupted", file=sys.stderr)
        return 130
    return 0
