"""The command line of training, export, upscaling and weight evaluation, and its one-line errors."""

from pathlib import Path

import pytest
import safetensors.torch
import torch
from PIL import Image

from srlib.cli import main
from srlib.images import sample_image, save_image
from srlib.models import Discriminator, SRResNet
from srlib.weights import save_generator

TINY = "--steps 2 --batch-size 2 --crop 24 --n-blocks 1 --channels 8".split()


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    """Two small training images and one validation image."""
    coffee = sample_image("coffee")
    save_image(coffee[:, :40, :48], tmp_path / "data" / "a.png")
    save_image(coffee[:, 100:140, 200:248], tmp_path / "data" / "b.png")
    save_image(coffee[:, 200:248, 300:348], tmp_path / "val" / "c.png")
    return tmp_path


def data_args(folders: Path) -> list[str]:
    return ["--data", str(folders / "data"), "--val-dir", str(folders / "val")]


def one_line_error(capsys, fragment: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("srlib: error: ") and err.count("\n") == 1, err
    assert fragment in err and "Traceback" not in err


def test_train_export_upscale_and_then_srgan_from_the_export(folders, capsys):
    run = folders / "run"
    assert main(["train", "srresnet", "--out", str(run), *data_args(folders), *TINY]) == 0
    assert "validation PSNR" in capsys.readouterr().out
    assert {"checkpoint.pt", "config.json", "history.csv", "val.csv"} <= {p.name for p in run.iterdir()}

    weights = folders / "srresnet.safetensors"
    assert main(["export", str(run / "checkpoint.pt"), str(weights)]) == 0
    image, up = str(folders / "val" / "c.png"), str(folders / "up")
    assert main(["upscale", image, "--weights", str(weights), "--out", up, "--tile", "8"]) == 0
    with Image.open(folders / "up" / "c_x4.png") as img:
        assert img.size == (4 * 48, 4 * 48)

    # the generator's size comes from --init: no --n-blocks/--channels needed
    gan = ["train", "srgan", "--init", str(weights), "--out", str(folders / "gan"), *data_args(folders)]
    assert main([*gan, *"--steps 2 --batch-size 2 --crop 24 --content mse --d-channels 8".split()]) == 0
    assert (folders / "gan" / "checkpoint.pt").is_file()


def test_resume_continues_a_run_to_more_steps(folders, capsys):
    args = ["train", "srresnet", "--out", str(folders / "run"), *data_args(folders), *TINY]
    assert main(args) == 0
    assert main([*args, "--steps", "3", "--resume"]) == 0
    assert "step 3, validation PSNR" in capsys.readouterr().out


def bad_weights(folders: Path) -> dict[str, Path]:
    """Weights files that must be refused, by what is wrong with them."""
    paths = {name: folders / f"{name}.safetensors" for name in ("corrupt", "discriminator", "x2")}
    paths["corrupt"].write_bytes(b"\x20\x00\x00\x00\x00\x00\x00\x00{not json")
    d_state = {k: v.contiguous() for k, v in Discriminator(base=8).state_dict().items()}
    safetensors.torch.save_file(d_state, str(paths["discriminator"]))
    save_generator(SRResNet(scale=2, n_blocks=1, channels=8), paths["x2"])
    paths["pickled"] = folders / "checkpoint.pt"
    torch.save({"generator": {}, "config": {}, "hook": print}, paths["pickled"])
    return paths


@pytest.mark.parametrize(
    "case,fragment",
    [
        ("missing data", "nowhere: not a folder"),
        ("resume without checkpoint", "no checkpoint to resume; start without --resume"),
        ("resume from a corrupt checkpoint", "checkpoint.pt: unreadable checkpoint"),
        ("existing run", "already holds a run: continue it with --resume"),
        ("diverging", "loss became"),
        ("corrupt weights", "corrupt .safetensors file"),
        ("discriminator weights", "no srlib metadata"),
        ("pickled checkpoint", "refused: it holds pickled Python objects"),
        ("wrong scale", "the weights upscale x2, not x4"),
        ("srgan from discriminator", "no srlib metadata"),
        ("negative time limit", "--time-limit must be a positive number of minutes, got -1"),
    ],
)
def test_bad_input_ends_with_one_line_and_exit_code_2(folders, capsys, case, fragment):
    run, weights = str(folders / "run"), bad_weights(folders)
    train = ["train", "srresnet", "--out", run, *data_args(folders), *TINY]
    upscale = ["upscale", str(folders / "val" / "c.png"), "--out", run, "--weights"]
    if case == "existing run":
        assert main(train) == 0
        capsys.readouterr()
    if case == "resume from a corrupt checkpoint":
        (folders / "run").mkdir()
        (folders / "run" / "checkpoint.pt").write_bytes(b"PK\x03\x04 cut short")
    argv = {
        "missing data": ["train", "srresnet", "--out", run, "--data", str(folders / "nowhere"), *TINY],
        "resume without checkpoint": [*train, "--resume"],
        "resume from a corrupt checkpoint": [*train, "--resume"],
        "existing run": train,
        "diverging": [*train, "--lr", "1e30"],
        "corrupt weights": [*upscale, str(weights["corrupt"])],
        "discriminator weights": [*upscale, str(weights["discriminator"])],
        "pickled checkpoint": ["export", str(weights["pickled"]), str(folders / "out.safetensors")],
        "wrong scale": ["evaluate", "--weights", str(weights["x2"]), "--scale", "4", "--device", "cpu"],
        "srgan from discriminator": ["train", "srgan", "--init", str(weights["discriminator"]), "--out", run],
        "negative time limit": [*train, "--time-limit", "-1"],
    }[case]
    assert main(argv) == 2
    one_line_error(capsys, fragment)


def test_evaluate_with_weights_names_the_model_in_the_table(data_root, tmp_path, capsys):
    from srlib.cli import main
    from srlib.evaluate import evaluate
    from srlib.inference import as_upscaler
    from srlib.models import SRResNet
    from srlib.weights import save_generator

    torch.manual_seed(0)
    model = SRResNet(scale=4, n_blocks=1, channels=8)
    weights = save_generator(model, tmp_path / "tiny.safetensors", {"model": "srresnet"})
    assert main(["evaluate", "--weights", str(weights), "--datasets", "Set5", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "tiny.safetensors: SRResNet x4, 1 blocks, 8 channels (srresnet)" in out
    row = next(line.split() for line in out.splitlines() if line.startswith("Set5"))
    ours = evaluate(as_upscaler(model.eval()), ["Set5"])["Set5"]  # the same weights through the API
    assert row[1:3] == [f"{ours['psnr']:.2f}", f"{ours['ssim']:.4f}"]  # our columns: this model's scores
    assert row[4:6] == ["32.05", "0.9019"]  # beside them the paper's SRResNet, as the file says srresnet


def test_resume_without_lr_keeps_the_runs_learning_rate(folders, capsys):
    """The common Colab path: a run started at --lr 2e-4 and resumed without --lr stays at 2e-4."""
    from srlib.train import read_history

    run = folders / "run"
    args = ["train", "srresnet", "--out", str(run), *data_args(folders), *TINY, "--log-every", "1"]
    assert main([*args, "--lr", "2e-4"]) == 0
    assert main(["train", "srresnet", "--out", str(run), "--resume", "--steps", "4"]) == 0
    assert read_history(run / "history.csv")["learning_rate"] == pytest.approx([2e-4] * 4)


def test_resume_logs_each_changed_setting_in_one_line(folders, caplog):
    run = folders / "run"
    assert main(["train", "srresnet", "--out", str(run), *data_args(folders), *TINY]) == 0
    with caplog.at_level("INFO", logger="srlib"):
        assert main(["train", "srresnet", "--out", str(run), "--resume", "--steps", "3", "--lr", "5e-5"]) == 0
    changes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("resume:")]
    assert changes == ["resume: steps 2 -> 3", "resume: learning_rate 0.0001 -> 5e-05"]


@pytest.mark.parametrize("flag,value", [("--channels", "16"), ("--crop", "48"), ("--max-images", "1")])
def test_resume_refuses_a_change_of_architecture_or_data_in_one_line(folders, capsys, flag, value):
    run = str(folders / "run")
    assert main(["train", "srresnet", "--out", run, *data_args(folders), *TINY]) == 0
    capsys.readouterr()
    assert main(["train", "srresnet", "--out", run, "--resume", flag, value]) == 2
    one_line_error(capsys, "was trained with other settings")


def test_resume_refuses_the_other_model_in_one_line_both_ways(folders, capsys):
    """`srlib train srresnet --resume` on an SRGAN run, and `srgan --resume` on an SRResNet run, are refused
    before any step, naming the run's model (issue 19, B2: both went on as the saved model)."""
    runs = {"srresnet": folders / "res", "srgan": folders / "gan"}
    assert main(["train", "srresnet", "--out", str(runs["srresnet"]), *data_args(folders), *TINY]) == 0
    weights = folders / "init.safetensors"
    save_generator(SRResNet(scale=4, n_blocks=1, channels=8), weights)
    gan = ["train", "srgan", "--out", str(runs["srgan"]), "--init", str(weights), *data_args(folders)]
    assert main([*gan, *"--steps 2 --batch-size 2 --crop 24 --content mse --d-channels 8".split()]) == 0
    capsys.readouterr()
    for saved, other in (("srgan", "srresnet"), ("srresnet", "srgan")):
        checkpoint = (runs[saved] / "checkpoint.pt").read_bytes()
        assert main(["train", other, "--out", str(runs[saved]), "--resume", "--steps", "3"]) == 2
        one_line_error(
            capsys, f"a checkpoint of an {saved} run, not {other}: resume it with `srlib train {saved}"
        )
        assert (runs[saved] / "checkpoint.pt").read_bytes() == checkpoint


def test_a_new_srgan_run_without_init_is_a_one_line_error(folders, capsys):
    assert main(["train", "srgan", "--out", str(folders / "gan"), *data_args(folders)]) == 2
    one_line_error(capsys, "give --init")
