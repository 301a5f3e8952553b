"""srlib: single-image super-resolution (SRResNet, SRGAN) in PyTorch, the library beside the course."""

from srlib.data import load_image, modcrop, save_image
from srlib.errors import UserError
from srlib.imresize import imresize, upscale, upscale_nearest
from srlib.metrics import psnr, rgb_to_y, ssim

__all__ = [
    "UserError",
    "imresize",
    "load_image",
    "modcrop",
    "psnr",
    "rgb_to_y",
    "save_image",
    "ssim",
    "upscale",
    "upscale_nearest",
]
