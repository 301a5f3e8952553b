"""Seconds per SRGAN training step (data included) at the cpu profile's sizes, content losses side by side
(issue 24, part 3): the trainer's `train_step` on its own batches, setups interleaved round after round, so
that a drifting machine speed hits them alike; the median of the timed steps after ``--warmup``. The
generator is the cpu profile's SRResNet (8 x 32, random weights: the speed does not depend on them) or, with
``--shipped``, the shipped 16 x 64 one; the discriminator is the paper's (base 64). Also times one
validation (what each chunk of notebook 05 ends with) and NIQE of the four validation images. On a busy
machine, ``--reference`` also times the cpu profile's SRResNet step (batch 16) among them: its time on 2
quiet cores is known (the profile's 0.127 s), so the ratio carries the SRGAN steps over to a quiet machine.

    SRLIB_DATA=../shared/data python benchmarks/srgan_cpu_step.py [--contents vgg16_22 vgg16_53] \\
        [--batch-size 8] [--crop 64] [--steps 5] [--warmup 2] [--threads 2] [--shipped] [--reference]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from srlib.course import train_config
from srlib.evaluate import sample_images
from srlib.models import SRResNet
from srlib.niqe import niqe
from srlib.profiles import get_profile
from srlib.runtime import cpu_model
from srlib.train import make_trainer
from srlib.weights import pretrained_path, save_generator


def main() -> None:
    profile = get_profile("cpu")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contents", nargs="+", default=["vgg16_22", "vgg16_53"])
    parser.add_argument("--batch-size", type=int, default=profile.srgan_batch_size)
    parser.add_argument("--crop", type=int, default=profile.crop)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per setup")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps per setup")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--shipped", action="store_true", help="the shipped 16 x 64 SRResNet, not 8 x 32")
    parser.add_argument("--reference", action="store_true", help="also time the cpu profile's SRResNet step")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(tempfile.mkdtemp())
    if args.shipped:
        init = pretrained_path("srresnet_x4")
    else:
        init = folder / "srresnet.safetensors"
        save_generator(SRResNet(4, profile.n_blocks, profile.channels), init, {"model": "srresnet"})
    trainers = {
        content: make_trainer(train_config(
            profile, folder / content, "srgan", init=str(init), content=content, batch_size=args.batch_size,
            crop=args.crop, device="cpu",
        ))
        for content in args.contents
    }
    if args.reference:
        reference = train_config(profile, folder / "srresnet", device="cpu")
        trainers["SRResNet (reference)"] = make_trainer(reference)
    seconds: dict[str, list[float]] = {content: [] for content in trainers}
    for _ in range(args.warmup + args.steps):
        for content, trainer in trainers.items():
            began = time.perf_counter()
            trainer.train_step(*trainer.next_batch())
            trainer.step += 1
            seconds[content].append(time.perf_counter() - began)
    size = "16 x 64 (shipped)" if args.shipped else f"{profile.n_blocks} x {profile.channels}"
    print(f"{cpu_model()}, {args.threads} threads; SRResNet {size}, batch {args.batch_size} of "
          f"{args.crop} x {args.crop}, discriminator base 64")
    for content, times in seconds.items():
        timed = times[args.warmup :]
        print(f"{content}: median {statistics.median(timed):.3f} s per step over {len(timed)} steps "
              f"({', '.join(f'{t:.2f}' for t in times)} s, warm-up first)")
    if args.reference:
        reference = statistics.median(seconds.pop("SRResNet (reference)")[args.warmup :])
        for content, times in seconds.items():
            ratio = statistics.median(times[args.warmup :]) / reference
            print(f"{content}: {ratio:.2f} x the SRResNet step ({reference:.3f} s here)")
    trainer = next(iter(trainers.values()))
    began = time.perf_counter()
    trainer.validate()
    print(f"one validation (4 sample images, panel included): {time.perf_counter() - began:.2f} s")
    began = time.perf_counter()
    for image in sample_images().values():
        niqe(image, 4)
    print(f"NIQE of the 4 sample images: {time.perf_counter() - began:.2f} s")


if __name__ == "__main__":
    main()
