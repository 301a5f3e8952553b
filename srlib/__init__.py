"""srlib: single-image super-resolution (SRResNet, SRGAN) in PyTorch, the library beside the course."""

from srlib.datasets import ensure_data
from srlib.errors import UserError
from srlib.images import load_image, modcrop, save_image
from srlib.imresize import imresize, upscale, upscale_nearest
from srlib.metrics import psnr, rgb_to_y, ssim
from srlib.models import SRResNet
from srlib.weights import load_generator, load_pretrained, save_generator

__all__ = [
    "SRResNet",
    "UserError",
    "ensure_data",
    "imresize",
    "load_generator",
    "load_image",
    "load_pretrained",
    "modcrop",
    "psnr",
    "rgb_to_y",
    "save_generator",
    "save_image",
    "ssim",
    "upscale",
    "upscale_nearest",
]
