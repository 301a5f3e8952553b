"""`srlib train`'s flags come from TrainConfig's fields: one description of the training settings."""

from dataclasses import fields

import pytest

from srlib.cli import build_parser, train_config, train_flags
from srlib.config import TrainConfig

CLI_ONLY = {"out", "resume", "time_limit", "func", "model", "command"}  # flags that are not settings


@pytest.mark.parametrize("model", ["srresnet", "srgan"])
def test_the_train_flags_are_the_described_fields_and_default_to_not_given(model):
    args = build_parser().parse_args(["train", model, "--out", "run"])
    described = {
        f.name for f in fields(TrainConfig) if "help" in f.metadata and model in f.metadata["models"]
    }
    assert set(vars(args)) - CLI_ONLY == described == {f.name for f in train_flags(model)}
    assert all(getattr(args, name) is None for name in described)  # --resume changes only what is typed
    gan_only = {"content", "vgg_weights", "vgg_rescale", "adv_weight", "d_channels", "decay_step"}
    assert gan_only <= described if model == "srgan" else not gan_only & described


@pytest.mark.parametrize("model", ["srresnet", "srgan"])
def test_each_train_flag_parses_its_default_to_the_fields_value_and_type(model):
    argv = ["train", model, "--out", "run"]
    for f in train_flags(model):
        if f.default is not None:
            argv += [f"--{f.name.replace('_', '-')}", str(f.default)]
    args = build_parser().parse_args(argv)
    for f in train_flags(model):
        if f.default is not None:
            assert getattr(args, f.name) == f.default and type(getattr(args, f.name)) is type(f.default)
    if model == "srresnet":  # (a new srgan run reads --init)
        assert train_config(args) == TrainConfig(out="run")


def test_the_train_help_shows_the_defaults_of_train_config(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "srgan", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 16)" in text and "(default: 0.0001)" in text and "(default: vgg54)" in text
    assert "(default: the paper's, 200,000)" in text  # what None means, from DEFAULT_STEPS
    assert "--lr" in text  # the old flag name still works


def test_the_old_lr_flag_sets_the_learning_rate():
    assert (
        build_parser().parse_args(["train", "srresnet", "--out", "r", "--lr", "2e-4"]).learning_rate == 2e-4
    )
