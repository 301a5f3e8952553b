"""Seconds per training step of srlib's trainers, split into data time (crops + LR making) and compute time
(forward, backward, Adam), beside two peers: "peer data", the per-crop Python sampler that srlib used before
(crops cut and turned one by one on the CPU, then copied to the device) feeding the same training step; and
"peer" (SRResNet only), that sampler feeding a tutorial-style eager SRResNet (benchmarks/inference_speed.py's
PeerSRResNet: conv biases, BatchNorm, PReLU, NCHW) with pixel MSE and Adam, the step tutorials write.
Setups run interleaved, round after round, so that a drifting machine speed hits them alike.

    SRLIB_DATA=../shared/data python benchmarks/trainer_step_speed.py [--steps 10] [--rounds 3] \\
        [--device cpu|cuda] [--batch-sizes 16 64] [--amp off bf16] [--setups srresnet srgan-mse] \\
        [--max-images 40]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from srlib.evaluate import synchronize
from srlib.imresize import make_lr
from srlib.models import to_model_range
from srlib.runtime import device_name
from srlib.train import TrainConfig, make_trainer

SETUPS = {
    "srresnet": {"model": "srresnet"},
    "srgan-mse": {"model": "srgan", "content": "mse"},
    "srgan-vgg54": {"model": "srgan", "content": "vgg54", "vgg_weights": None},
}


def peer_batch(trainer, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The tutorial-style data path: one crop at a time in Python on the CPU, then one copy to the device."""
    s, c, g = trainer.sampler, trainer.config.crop, trainer.sampler.generator
    crops = []
    for _ in range(batch):
        i = int(torch.randint(len(s), (1,), generator=g))
        h, w, start = int(s.heights[i]), int(s.widths[i]), int(s.offsets[i])
        img = s.pixels[start : start + 3 * h * w].view(3, h, w).cpu()
        top, left = (
            int(torch.randint(h - c + 1, (1,), generator=g)),
            int(torch.randint(w - c + 1, (1,), generator=g)),
        )
        k = int(torch.randint(8, (1,), generator=g))
        patch = img[:, top : top + c, left : left + c]
        crops.append(torch.rot90(patch.flip(-1) if k >= 4 else patch, k % 4, dims=(-2, -1)))
    hr = torch.stack(crops).to(trainer.rt.device).float() / 255
    return make_lr(hr, trainer.config.scale), to_model_range(hr)


class PeerStep:
    """The tutorial's SRResNet step: eager NCHW model, MSE, Adam; fed by `peer_batch`."""

    def __init__(self, device: torch.device):
        from inference_speed import PeerSRResNet  # beside this script

        self.model = PeerSRResNet().to(device).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4)

    def __call__(self, lr: torch.Tensor, hr: torch.Tensor) -> None:
        loss = torch.nn.functional.mse_loss(self.model(lr.contiguous()), hr.contiguous())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def time_steps(trainer, steps: int, peer: bool, step=None) -> tuple[float, float]:
    """Mean (data seconds, compute seconds) per step over ``steps`` steps."""
    data = compute = 0.0
    device = trainer.rt.device
    for _ in range(steps):
        synchronize(device)
        t0 = time.perf_counter()
        batch = peer_batch(trainer, trainer.config.batch_size) if peer else trainer.next_batch()
        synchronize(device)
        t1 = time.perf_counter()
        (step or trainer.train_step)(*batch)
        synchronize(device)
        data, compute = data + t1 - t0, compute + time.perf_counter() - t1
    return data / steps, compute / steps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16])
    parser.add_argument(
        "--amp", nargs="+", default=["off"], help="precisions to compare (auto, bf16, fp16, off)"
    )
    parser.add_argument("--setups", nargs="+", choices=list(SETUPS), default=["srresnet"])
    parser.add_argument("--max-images", type=int, default=40, help="training images to load (speed only)")
    parser.add_argument("--no-peer", action="store_true", help="skip the peer data path")
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    cpu = device_name(torch.device("cpu"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU {cpu}, crop 96")
    trainers, times = {}, {}
    with tempfile.TemporaryDirectory() as out:
        for name in args.setups:
            for batch in args.batch_sizes:
                for amp in args.amp:
                    config = TrainConfig(
                        out=f"{out}/{name}{batch}{amp}", device=args.device, batch_size=batch, amp=amp,
                        max_images=args.max_images, **SETUPS[name],
                    )  # fmt: skip
                    trainer = make_trainer(config)
                    trainer.train_step(*trainer.next_batch())  # warm-up (cuDNN picks its algorithms)
                    for peer in (False,) if args.no_peer else (False, True):
                        key = (name, batch, trainer.rt.precision, "peer data" if peer else "srlib")
                        trainers[key], times[key] = (trainer, peer, None), []
                    if name == "srresnet" and amp == "off" and not args.no_peer:
                        key = (name, batch, "fp32", "peer")
                        trainers[key], times[key] = (trainer, True, PeerStep(trainer.rt.device)), []
        for _ in range(args.rounds):
            for key, (trainer, peer, step) in trainers.items():
                times[key].append(time_steps(trainer, args.steps, peer, step))
    device = next(iter(trainers.values()))[0].rt.describe()
    print(
        f"device {device['device']} ({device['device_name']}); medians of {args.rounds} x {args.steps} steps"
    )
    head = ("setup", "batch", "prec", "data path", "data ms", "compute ms", "steps/s")
    print("{:<12} {:>5} {:>5} {:<10} {:>8} {:>10} {:>8}".format(*head))
    total = {k: statistics.median(sum(r) for r in rows) for k, rows in times.items()}
    for (name, batch, precision, path), rows in times.items():
        data, compute = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        print(
            f"{name:<12} {batch:>5} {precision:>5} {path:<10} {1e3 * data:8.2f} {1e3 * compute:10.2f} "
            f"{1 / (data + compute):8.2f}"
        )
    for (name, batch, precision, path), seconds in total.items():
        if path == "peer":
            ours = total[(name, batch, precision, "srlib")]
            print(
                f"{name} batch {batch}: the peer's step takes {seconds / ours:.2f}x srlib's (medians)"
            )


if __name__ == "__main__":
    main()
