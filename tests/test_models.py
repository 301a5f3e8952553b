"""SRResNet, its building blocks, the discriminator and the truncated VGG19, on small CPU inputs."""

import socket

import pytest
import safetensors.torch
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from srlib.errors import UserError
from srlib.models import (
    Discriminator,
    ResidualBlock,
    SRResNet,
    SubPixelConv,
    TruncatedVGG,
    TruncatedVGG19,
    fold_batchnorm,
    from_model_range,
    icnr_,
    to_model_range,
)


def test_srresnet_has_1549462_parameters_at_the_papers_size():
    model = SRResNet(scale=4, n_blocks=16, channels=64)
    assert sum(p.numel() for p in model.parameters()) == 1_549_462


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_srresnet_upscales_by_its_scale(scale):
    model = SRResNet(scale=scale, n_blocks=1, channels=8)
    assert model(torch.rand(2, 3, 6, 5)).shape == (2, 3, 6 * scale, 5 * scale)


@pytest.mark.parametrize("scale", [1, 3, 16])
def test_srresnet_rejects_scales_other_than_2_4_8(scale):
    with pytest.raises(UserError, match="2, 4 or 8"):
        SRResNet(scale=scale)


def test_srresnet_rejects_an_image_without_batch_dimension():
    with pytest.raises(UserError, match=r"\(N, 3, H, W\)"):
        SRResNet(scale=2, n_blocks=1, channels=8)(torch.rand(3, 8, 8))


def test_srresnet_config_rebuilds_the_same_architecture():
    model = SRResNet(scale=2, n_blocks=2, channels=8)
    assert model.config() == {"scale": 2, "n_blocks": 2, "channels": 8}
    SRResNet(**model.config()).load_state_dict(model.state_dict())  # strict: raises on any mismatch


def test_srresnet_long_skip_carries_the_first_features_past_the_blocks():
    model = SRResNet(scale=2, n_blocks=2, channels=8).eval()
    bn = model.body_end[1]
    nn.init.zeros_(bn.weight)
    nn.init.zeros_(bn.bias)  # the residual branch now adds exactly zero
    lr = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(model(lr), model.tail(model.upsample(model.head(lr))))


def _trained_looking_srresnet(scale: int = 4) -> SRResNet:
    """A small SRResNet whose BatchNorms have non-trivial statistics and affine maps, as after training."""
    torch.manual_seed(0)
    model = SRResNet(scale=scale, n_blocks=2, channels=8)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
    return model


@pytest.mark.parametrize("scale", [2, 4])
def test_folding_batchnorm_into_the_convs_gives_the_same_output_to_1e_5(scale):
    model = _trained_looking_srresnet(scale)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    lr = torch.rand(2, 3, 11, 13)
    with torch.no_grad():
        expected, got = model.eval()(lr), folded(lr)
    assert (got - expected).abs().max() < 1e-5
    assert (expected - model.train()(lr)).abs().max() > 1e-3  # batch statistics differ: the test could fail


def test_folding_batchnorm_leaves_the_model_and_its_state_dict_as_they_were():
    model = _trained_looking_srresnet().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fold_batchnorm(model)
    after = model.state_dict()
    assert model.training and any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


def test_residual_block_is_the_identity_when_its_last_batchnorm_outputs_zero():
    block = ResidualBlock(8).eval()
    nn.init.zeros_(block.body[4].weight)
    nn.init.zeros_(block.body[4].bias)
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(block(x), x)


def test_subpixel_conv_multiplies_height_and_width_by_upscale_and_keeps_channels():
    assert SubPixelConv(8, upscale=3)(torch.rand(2, 8, 4, 5)).shape == (2, 8, 12, 15)


@pytest.mark.parametrize("icnr", [True, False])
def test_subpixel_conv_starts_nearest_neighbour_like_only_with_icnr(icnr):
    torch.manual_seed(0)
    r = 2
    y = SubPixelConv(4, upscale=r, icnr=icnr)(torch.randn(1, 4, 6, 6))
    nearest = F.interpolate(y[..., ::r, ::r], scale_factor=r, mode="nearest")  # each r x r block constant
    assert torch.allclose(y, nearest) == icnr


def test_icnr_repeats_each_filter_upscale_squared_times():
    weight = icnr_(torch.empty(3 * 4, 5, 3, 3), upscale=2)
    for c in range(3):
        for i in range(4):
            assert torch.equal(weight[4 * c + i], weight[4 * c])
    assert not torch.equal(weight[0], weight[4])


def test_icnr_rejects_a_weight_whose_outputs_are_not_a_multiple_of_upscale_squared():
    with pytest.raises(UserError, match="multiple of upscale"):
        icnr_(torch.empty(6, 5, 3, 3), upscale=2)


def test_model_range_maps_0_1_to_minus1_1_and_back():
    x = torch.tensor([0.0, 0.25, 1.0])
    torch.testing.assert_close(to_model_range(x), torch.tensor([-1.0, -0.5, 1.0]))
    torch.testing.assert_close(from_model_range(to_model_range(x)), x)
    overshoot = torch.tensor([-1.2, 1.2])
    torch.testing.assert_close(from_model_range(overshoot), torch.tensor([-0.1, 1.1]))
    torch.testing.assert_close(from_model_range(overshoot, clamp=True), torch.tensor([0.0, 1.0]))


def test_discriminator_has_the_papers_eight_convs_and_dense_layers():
    d = Discriminator()
    convs = [m for m in d.features if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.stride[0]) for c in convs] == [
        (64, 1), (64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 2)
    ]  # fmt: skip
    assert not isinstance(d.features[1], nn.BatchNorm2d)  # no BN after the first conv
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.features) == 7
    dense = [m for m in d.classifier if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in dense] == [(512 * 6 * 6, 1024), (1024, 1)]


def test_discriminator_on_96x96_gives_one_logit_per_image_and_its_pool_is_the_identity():
    d = Discriminator()
    seen = {}
    d.pool.register_forward_hook(lambda module, inputs, output: seen.update(x=inputs[0], y=output))
    logits = d(torch.rand(2, 3, 96, 96) * 2 - 1)
    assert logits.shape == (2,)
    assert seen["x"].shape == (2, 512, 6, 6)
    assert torch.equal(seen["y"], seen["x"])


@pytest.mark.parametrize("size", [(32, 32), (48, 80), (128, 128)])
def test_discriminator_scores_other_crop_sizes(size):
    logits = Discriminator(base=8)(torch.rand(2, 3, *size) * 2 - 1)
    assert logits.shape == (2,)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(("layer", "i", "j"), [("2_2", 2, 2), ("5_4", 5, 4)])
def test_truncated_vgg_ends_with_the_relu_after_the_jth_conv_before_the_ith_pool(layer, i, j):
    """The paper's phi_i,j: the feature map after the j-th conv (and its ReLU) before the i-th max-pooling."""
    features = list(TruncatedVGG19(layer, weights=None).features)
    assert isinstance(features[-1], nn.ReLU) and isinstance(features[-2], nn.Conv2d)
    pools = [k for k, m in enumerate(features) if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == i - 1  # i - 1 pools passed: in block i
    after_last_pool = features[pools[-1] + 1 :]
    assert sum(isinstance(m, nn.Conv2d) for m in after_last_pool) == j  # its j-th conv
    assert sum(isinstance(m, nn.ReLU) for m in features) == sum(isinstance(m, nn.Conv2d) for m in features)
    assert features[-2].out_channels == 64 * 2 ** min(i - 1, 3)  # VGG19's widths: 64, 128, 256, 512, 512


@pytest.mark.parametrize(("layer", "shape"), [("2_2", (1, 128, 16, 16)), ("5_4", (1, 512, 2, 2))])
def test_truncated_vgg_feature_shapes(layer, shape):
    assert TruncatedVGG19(layer, weights=None)(torch.rand(1, 3, 32, 32)).shape == shape


def test_truncated_vgg_without_weights_is_initialised_like_torchvisions_vgg():
    torch.manual_seed(0)
    convs = [m for m in TruncatedVGG19("2_2", weights=None).features if isinstance(m, nn.Conv2d)]
    for conv in convs:  # kaiming normal, fan out, ReLU gain: std sqrt(2 / (out_channels * 3 * 3)); zero bias
        std = (2 / (conv.out_channels * 9)) ** 0.5
        assert conv.weight.std().item() == pytest.approx(std, rel=0.1)
        assert torch.equal(conv.bias, torch.zeros_like(conv.bias))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_truncated_vgg_computes_fp32_features_under_autocast(dtype):
    """Under AMP the VGG still runs in fp32: the same features as without autocast, in float32."""
    torch.manual_seed(0)
    vgg, x = TruncatedVGG19("2_2", weights=None), torch.rand(1, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = vgg(x.to(dtype))
    assert features.dtype == torch.float32
    torch.testing.assert_close(features, vgg(x.to(dtype).float()))


def test_truncated_vgg_is_frozen_and_stays_in_eval_mode():
    vgg = TruncatedVGG19("2_2", weights=None)
    vgg.train()
    assert not any(m.training for m in vgg.modules())
    assert not any(p.requires_grad for p in vgg.parameters())
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    vgg(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # frozen, but gradients reach its input


def test_truncated_vgg_rejects_an_unknown_layer():
    with pytest.raises(UserError, match="vgg19 layer must be one of"):
        TruncatedVGG19("3_4", weights=None)
    with pytest.raises(UserError, match=r"vgg16 layer must be one of \['2_2', '5_3'\]"):
        TruncatedVGG("vgg16", "5_4", weights=None)


@pytest.mark.parametrize(("layer", "cut"), [("5_3", 30), ("2_2", 9)])
def test_truncated_vgg16_ends_after_the_relu_of_its_layer_with_torchvisions_keys(layer, cut):
    with torch.device("meta"):
        theirs = torchvision.models.vgg16(weights=None).features[:cut]
    ours = TruncatedVGG("vgg16", layer, weights=None)
    assert isinstance(ours.features[-1], nn.ReLU) and isinstance(ours.features[-2], nn.Conv2d)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        f"features.{k}": v.shape for k, v in theirs.state_dict().items()
    }


@pytest.fixture(scope="module")
def vgg19_random():
    """A torchvision vgg19 with random weights, standing in for the ImageNet one."""
    torch.manual_seed(0)
    return torchvision.models.vgg19(weights=None).eval()


@pytest.mark.parametrize(("layer", "cut"), [("5_4", 36), ("2_2", 9)])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_vgg_loads_a_vgg19_state_dict_file_and_matches_torchvision(
    tmp_path, vgg19_random, suffix, layer, cut
):
    # all but the classifier's weight matrices (124M numbers), which TruncatedVGG19 ignores anyway
    state = vgg19_random.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("classifier.") or k.endswith("bias")}
    path = tmp_path / f"vgg19{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        safetensors.torch.save_file(state, path)
    vgg = TruncatedVGG19(layer, weights=path)
    x = torch.rand(1, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = vgg19_random.features[:cut]((x - mean) / std)
    torch.testing.assert_close(vgg(x), expected)


@pytest.mark.parametrize(("layer", "cut"), [("5_4", 36), ("2_2", 9)])
def test_truncated_vgg_state_dict_keys_are_torchvisions_vgg19_keys(vgg19_random, layer, cut):
    ours = TruncatedVGG19(layer, weights=None).state_dict()
    theirs = {f"features.{k}": v for k, v in vgg19_random.features[:cut].state_dict().items()}
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


def test_truncated_vgg_rejects_a_missing_file(tmp_path):
    with pytest.raises(UserError, match="nope.pth: no such file; pass --vgg-weights PATH"):
        TruncatedVGG19(weights=tmp_path / "nope.pth")


def test_truncated_vgg_rejects_a_state_dict_of_another_network(tmp_path):
    path = tmp_path / "srresnet.pth"
    torch.save(SRResNet(scale=2, n_blocks=1, channels=8).state_dict(), path)
    with pytest.raises(UserError, match="not a state dict of torchvision's vgg19"):
        TruncatedVGG19(weights=path)


def test_truncated_vgg19_offline_says_how_to_supply_a_file_and_what_works_offline(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    with pytest.raises(UserError, match="--vgg-weights PATH") as info:
        TruncatedVGG19(weights="imagenet")
    assert "vgg19-dcbb9e9d.pth" in str(info.value) and "--content vgg16_53" in str(info.value)
    assert "\n" not in str(info.value)
