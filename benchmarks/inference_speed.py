"""Seconds to upscale one 128x128 LR image to 512x512 with the shipped SRResNet: srlib's `upscale_image`
beside a peer, a plain eager SRResNet written the way tutorials write it (the same layers, conv biases,
BatchNorm, PReLU; NCHW, ``torch.no_grad``), with the same weights. Interleaved over several rounds, in one
process (CPU speed drifts from hour to hour here, so only ratios within a run count); medians are printed,
with the achieved GFLOP/s (the network's FLOPs, counted from its layers) and the fraction of the sgemm peak
measured in the same run. The ratio to the peer is the median of the ratios within each round. The middle
rows add srlib's speed-ups one at a time, to show what each gives; the last row also prepares the model
(`InferenceSRResNet`) in each call, as ``upscale_image(model, lr)`` does when given a plain SRResNet.

    python benchmarks/inference_speed.py [--rounds 7] [--size 128] [--threads N] [--compile] [--device cpu]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from srlib.evaluate import synchronize
from srlib.inference import InferenceSRResNet, upscale_image
from srlib.models import fold_batchnorm
from srlib.runtime import cpu_model
from srlib.weights import load_pretrained


class PeerResidualBlock(nn.Module):
    def __init__(self, channels: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.prelu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return x + out


class PeerSRResNet(nn.Module):
    """The tutorials' SRResNet x4: the peer. Its parameters come in the same order as srlib's."""

    def __init__(self, n_blocks: int = 16, channels: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, channels, kernel_size=9, padding=4)
        self.prelu = nn.PReLU()
        self.res_blocks = nn.Sequential(*[PeerResidualBlock(channels) for _ in range(n_blocks)])
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)
        upsampling = []
        for _ in range(2):
            upsampling += [nn.Conv2d(channels, channels * 4, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU()]
        self.upsampling = nn.Sequential(*upsampling)
        self.conv3 = nn.Conv2d(channels, 3, kernel_size=9, padding=4)

    def forward(self, x: Tensor) -> Tensor:
        out1 = self.prelu(self.conv1(x))
        out = self.bn2(self.conv2(self.res_blocks(out1)))
        out = self.upsampling(out1 + out)
        return self.conv3(out)


def gflop(h: int, w: int, n_blocks: int = 16, c: int = 64, scale: int = 4) -> float:
    """The SRResNet's FLOPs on an h x w LR image (a multiply-add counts 2; biases, BN, PReLU not counted)."""
    macs = 3 * c * 9 * 9 * h * w  # 9x9 head
    macs += (2 * n_blocks + 1) * c * c * 3 * 3 * h * w  # the blocks' 3x3 convs and the one after them
    for i in range(int(math.log2(scale))):  # sub-pixel convs, C -> 4C, at 1x, 2x, ... the LR size
        macs += c * 4 * c * 3 * 3 * h * w * 4**i
    macs += c * 3 * 9 * 9 * h * w * scale**2  # 9x9 tail at the output size
    return 2 * macs / 1e9


def sgemm_gflops(device: torch.device, n: int = 2048) -> float:
    """The best of three fp32 n x n matrix products in GFLOP/s: the attainable peak, measured now."""
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    best = math.inf
    for _ in range(4):  # the first is a warm-up
        synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--size", type=int, default=128, help="LR side (default 128: 512x512 out)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of srlib's form")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    print(
        f"torch {torch.__version__}, {where}, {torch.get_num_threads()} threads, {args.size}x{args.size} LR"
    )

    model = load_pretrained("srresnet_x4", device)
    peer = PeerSRResNet().to(device)
    peer.load_state_dict(dict(zip(peer.state_dict(), model.state_dict().values(), strict=True)))
    peer.eval()
    torch.manual_seed(0)
    lr = torch.rand(3, args.size, args.size, device=device)

    def eager(net: nn.Module, memory_format: torch.memory_format = torch.contiguous_format) -> Tensor:
        with torch.no_grad():
            return ((net(lr[None].contiguous(memory_format=memory_format)) + 1) / 2).clamp(0, 1)[0]

    folded = fold_batchnorm(model)
    folded_cl = fold_batchnorm(model).to(memory_format=torch.channels_last)
    fast = InferenceSRResNet(model)  # what `srlib upscale` and `as_upscaler` make once
    runs: dict[str, Callable[[], Tensor]] = {
        "peer (tutorial eager)": lambda: eager(peer),
        "+ BatchNorm folded": lambda: eager(folded),
        "+ channels-last": lambda: eager(folded_cl, torch.channels_last),
        "srlib upscale_image": lambda: upscale_image(fast, lr),  # + the output conv before the shuffle
        "  with InferenceSRResNet(model)": lambda: upscale_image(model, lr),  # preparing it in each call
    }
    if args.compile:
        start = time.perf_counter()
        compiled = torch.compile(InferenceSRResNet(model))
        eager(compiled)
        print(f"torch.compile: {time.perf_counter() - start:.1f} s to compile")
        runs["srlib form, torch.compile"] = lambda: eager(compiled)

    reference = runs["peer (tutorial eager)"]()
    for name, run in runs.items():  # warm-up, and a check that every row computes the same image
        diff = (run() - reference).abs().max().item()
        assert diff < 1e-4, f"{name} differs from the peer by {diff}"
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    peaks = []
    for r in range(args.rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))  # alternate who goes first
        for name in order:
            synchronize(device)
            start = time.perf_counter()
            runs[name]()
            synchronize(device)
            seconds[name].append(time.perf_counter() - start)
        peaks.append(sgemm_gflops(device))

    flop, peak = gflop(args.size, args.size), max(peaks)
    peer = seconds["peer (tutorial eager)"]
    print(f"{flop:.1f} GFLOP per image; sgemm peak {peak:.0f} GFLOP/s (best of {args.rounds} rounds)")
    print("/ peer: the median over rounds of the ratio within a round; GFLOP/s and of peak: the best round")
    print(f"{'':<32} {'median s':>9} {'best s':>7} {'/ peer':>7} {'GFLOP/s':>8} {'of peak':>8}")
    for name, times in seconds.items():
        ratio = statistics.median(t / p for t, p in zip(times, peer, strict=True))
        s, best = statistics.median(times), min(times)
        print(
            f"{name:<32} {s:>9.3f} {best:>7.3f} {ratio:>7.2f} {flop / best:>8.0f} {flop / best / peak:>8.0%}"
        )


if __name__ == "__main__":
    main()
