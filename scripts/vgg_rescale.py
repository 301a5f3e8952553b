"""Measure the VGG feature rescaling factor of each VGG16 content loss, as the paper meant its 1/12.75.

Ledig et al. divide VGG19 feature maps by 12.75 "to obtain VGG losses of a scale that is comparable to the
MSE loss", for Caffe's VGG19. For another network the factor that does that is measured here: over Set5,
sqrt(mean feature MSE / mean pixel MSE) between the shipped SRResNet's outputs and HR, pixels in the model
range [-1, 1], where SRGAN training starts. Bicubic's factor is printed beside it, and the content loss with
the factor, for both (SRResNet's should be lower).

    python scripts/vgg_rescale.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from srlib.datasets import benchmark_pairs
from srlib.images import load_image, modcrop
from srlib.imresize import upscale
from srlib.losses import CONTENT_LOSSES
from srlib.models import TruncatedVGG, to_model_range
from srlib.weights import load_pretrained


def main() -> None:
    generator = load_pretrained("srresnet_x4")
    images = []
    for _, hr_path, lr_path in benchmark_pairs("Set5"):
        lr, hr = load_image(lr_path)[None], modcrop(load_image(hr_path)[None], 4)
        with torch.inference_mode():
            sr = generator(lr).clamp(-1, 1)  # in the model range, as the content loss sees it
        images.append((to_model_range(hr), sr, to_model_range(upscale(lr, 4, "bicubic"))))
    for content in ("vgg16_22", "vgg16_53"):
        vgg = TruncatedVGG(*CONTENT_LOSSES[content])
        sums = {"srresnet": [0.0, 0.0], "bicubic": [0.0, 0.0]}  # [feature MSE, pixel MSE] summed over images
        with torch.inference_mode():
            for hr, sr, bicubic in images:
                target = vgg((hr + 1) / 2)
                for name, x in (("srresnet", sr), ("bicubic", bicubic)):
                    sums[name][0] += F.mse_loss(vgg((x + 1) / 2), target).item()
                    sums[name][1] += F.mse_loss(x, hr).item()
        factor = (sums["srresnet"][0] / sums["srresnet"][1]) ** 0.5
        print(f"{content}: rescale {factor:.3f} (SRResNet outputs; bicubic would give "
              f"{(sums['bicubic'][0] / sums['bicubic'][1]) ** 0.5:.3f})")  # fmt: skip
        for name, (feature, pixel) in sums.items():
            n = len(images)
            print(f"  {name}: mean pixel MSE {pixel / n:.5f}, mean content loss at {factor:.3f}: "
                  f"{feature / n / factor**2:.5f}")  # fmt: skip


if __name__ == "__main__":
    main()
