"""What a training step costs: its FLOPs, counted from the layer shapes, and the time that makes on a GPU.

A k x k convolution from ``c_in`` to ``c_out`` channels does ``k*k*c_in*c_out`` multiply-adds per output
pixel, 2 FLOPs each. Convolutions are nearly all of SRResNet's, the discriminator's and VGG19's
arithmetic, so the counts below leave out batch norm, activations and the optimiser (memory traffic, not
FLOPs). A backward pass costs about twice its forward pass: the gradient of the input and the gradient of
the weights each cost one forward. A frozen network (VGG19, or the discriminator during the generator's
update) only needs the gradient of its input: one forward more.

The time of a step is then ``FLOPs / (peak x utilisation)``, but not less than the step's fixed overhead
(kernel launches, optimiser). ``GPUS`` holds the datasheet peaks; ``UTILISATION`` the share of the peak
that a convolutional network reaches on a T4 in NVIDIA's published ResNet-50 v1.5 inference throughput
(PyTorch, DeepLearningExamples: 428 images/s in fp32 and 1,190 with mixed precision at batches of 64 and
more, at 8.2 GFLOP per image: 3.5 and 9.8 TFLOP/s, i.e. 43% of 8.1 and 15% of 65). We assume training
reaches the same share. SRResNet's 64-channel layers use tensor cores less well than ResNet-50's wider
ones, so the fp16 estimate is optimistic; the colab profile also stops on time.
"""

from __future__ import annotations

import math

# peak dense throughput in FLOP/s: NVIDIA T4 datasheet (fp32 CUDA cores; fp16 on tensor cores)
GPUS = {"T4": {"fp32": 8.1e12, "fp16": 65e12}}
UTILISATION = {"fp32": 0.43, "fp16": 0.15}
# The least a step costs, whatever its FLOPs: on an H200, an SRResNet step (batch 16, 96x96, fp32) took
# 17 ms and one of batch 64 took 18 ms (srlib/pretrained/training/step_speed_h200_round1.txt): four times
# the arithmetic in about the same time, so those 17 ms are per-step overhead. We assume the same floor on
# other GPUs: an assumption, not a T4 measurement (a T4's overhead may well be larger, so a T4 step is
# estimated as a range, `srlib.profiles.colab_estimate`).
STEP_FLOOR_S = 0.017
# VGG19's convolutions (output channels) and max-pools ("M") up to conv5_4
VGG19_TO_5_4 = (64, 64, "M", 128, 128, "M", *[256] * 4, "M", *[512] * 4, "M", *[512] * 4)


def conv_flops(c_in: int, c_out: int, k: int, pixels: float) -> float:
    """FLOPs of a k x k convolution producing ``pixels`` output pixels."""
    return 2.0 * k * k * c_in * c_out * pixels


def srresnet_flops(lr_pixels: float, n_blocks: int = 16, channels: int = 64, scale: int = 4) -> float:
    """Forward FLOPs of SRResNet for ``lr_pixels`` LR pixels (e.g. 24 * 24 for one 96x96 HR crop at x4)."""
    c = channels
    flops = conv_flops(3, c, 9, lr_pixels)  # head
    flops += n_blocks * 2 * conv_flops(c, c, 3, lr_pixels)  # residual blocks: two 3x3 convs each
    flops += conv_flops(c, c, 3, lr_pixels)  # the conv before the long skip
    pixels = lr_pixels
    for _ in range(int(math.log2(scale))):  # sub-pixel convs: C -> 4C channels, then the shuffle doubles H, W
        flops += conv_flops(c, 4 * c, 3, pixels)
        pixels *= 4
    return flops + conv_flops(c, 3, 9, pixels)  # tail, at the HR size


def discriminator_flops(hr_pixels: float, base: int = 64) -> float:
    """Forward FLOPs of the SRGAN discriminator for ``hr_pixels`` pixels of a square image (96x96: 9216)."""
    flops, c_in, pixels = 0.0, 3, hr_pixels
    for i in range(8):  # eight 3x3 convs; every second has stride 2 and quarters the pixels
        c_out = base * 2 ** (i // 2)
        pixels /= 4 if i % 2 else 1
        flops += conv_flops(c_in, c_out, 3, pixels)
        c_in = c_out
    return flops + 2.0 * (c_in * 6 * 6 * 1024 + 1024)  # the two dense layers on the 6x6 map


def vgg54_flops(hr_pixels: float) -> float:
    """Forward FLOPs of VGG19 up to conv5_4 (the paper's VGG54 features) for ``hr_pixels`` pixels."""
    flops, c_in, pixels = 0.0, 3, hr_pixels
    for layer in VGG19_TO_5_4:
        if layer == "M":
            pixels /= 4
        else:
            flops += conv_flops(c_in, layer, 3, pixels)
            c_in = layer
    return flops


def step_flops(
    model: str,
    batch_size: int = 16,
    crop: int = 96,
    n_blocks: int = 16,
    channels: int = 64,
    scale: int = 4,
    content: str = "vgg54",
    d_channels: int = 64,
) -> float:
    """FLOPs of one training step of ``model`` ("srresnet" or "srgan") on a batch of HR crops.

    SRResNet: generator forward + backward = 3 forwards. SRGAN adds, per crop, the discriminator's update
    on HR and SR (2 x 3 forwards) and its judgement of SR in the generator's update (forward + input
    gradient: 2), and for a VGG content loss VGG19 on HR (1) and on SR (forward + input gradient: 2).
    """
    hr_pixels = crop * crop
    g = srresnet_flops(hr_pixels / scale**2, n_blocks, channels, scale)
    if model == "srresnet":
        return batch_size * 3 * g
    d = discriminator_flops(hr_pixels, d_channels)
    vgg = vgg54_flops(hr_pixels) if content == "vgg54" else 0.0  # vgg22 is cheap; mse needs no VGG
    return batch_size * (3 * g + 8 * d + 3 * vgg)


def step_seconds(flops: float, gpu: str = "T4", precision: str = "fp16") -> float:
    """Estimated seconds of a training step of ``flops`` FLOPs (see the module's docstring)."""
    return max(STEP_FLOOR_S, flops / (GPUS[gpu][precision] * UTILISATION[precision]))


def steps_in(minutes: float, flops: float, gpu: str = "T4", precision: str = "fp16") -> int:
    """How many steps of ``flops`` FLOPs fit in ``minutes``, rounded down to hundreds."""
    return int(minutes * 60 / step_seconds(flops, gpu, precision)) // 100 * 100
