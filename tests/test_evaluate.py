import json
import types

import pytest
import torch

from srlib.cli import main
from srlib.datasets import benchmark_pairs
from srlib.errors import UserError
from srlib.evaluate import baseline, evaluate, evaluate_images
from srlib.images import load_image, modcrop
from srlib.models import SRResNet
from srlib.tables import format_table
from srlib.weights import save_generator

DETAIL = {"gradient", "hf_share", "hr_gradient", "hr_hf_share"}


@pytest.mark.parametrize("name", ["Set5", "Set14", "BSD100"])
def test_the_evaluation_lr_is_every_value_of_the_matlab_made_lr_files(data_root, name):
    """`evaluate_images` degrades each HR image to exactly the benchmark's MATLAB-made LR file (`make_lr`):
    one float pass of `imresize`, or torch's ``interpolate(antialias=True)``, misses about 1 value in 9."""
    pairs = benchmark_pairs(name)
    _, outputs = evaluate_images({"nearest": baseline("nearest")}, {n: load_image(hr) for n, hr, _ in pairs})
    for image, _, lr_path in pairs:
        ours = (outputs[image]["LR"][0] * 255).round()
        matlab = (load_image(lr_path) * 255).round()
        assert torch.equal(ours, matlab), f"{image}: {(ours != matlab).sum()} of {ours.numel()} values differ"


@pytest.mark.parametrize(
    "name,published,ssim", [("Set5", 28.42, 0.8113), ("Set14", 26.00, 0.7030), ("BSD100", 25.96, 0.6682)]
)
def test_bicubic_baseline_reproduces_the_published_psnr(data_root, name, published, ssim):
    """PSNR as published for MATLAB bicubic; SSIM (ours: Gaussian, Y) pinned, as it is deterministic."""
    result = evaluate(baseline("bicubic"), [name])[name]
    assert result["psnr"] == pytest.approx(published, abs=0.02)
    assert result["ssim"] == pytest.approx(ssim, abs=1e-4)
    assert set(result["images"]) == {n for n, _, _ in benchmark_pairs(name)}


def test_sr_methods_rank_as_expected_on_set5(data_root):
    scores = {m: evaluate(baseline(m), ["Set5"])["Set5"]["psnr"] for m in ("nearest", "bilinear", "bicubic")}
    assert scores["nearest"] < scores["bilinear"] < scores["bicubic"]


def test_an_upscaler_of_the_wrong_scale_is_a_user_error(data_root):
    with pytest.raises(UserError, match="made for x4"):
        evaluate(baseline("bicubic", scale=2), ["Set5"])


def test_evaluate_cli_prints_a_table_and_writes_json(data_root, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["evaluate", "--method", "nearest", "--datasets", "Set5", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["machine"]["device"] == "cpu" and result["machine"]["torch"] == torch.__version__
    assert result["machine"]["threads"] == torch.get_num_threads() and result["machine"]["cpu"]
    row = next(line.split() for line in printed.splitlines() if line.startswith("Set5"))
    ours, paper = row[1:3], row[4:6]
    assert ours == [f"{result['Set5']['psnr']:.2f}", f"{result['Set5']['ssim']:.4f}"]
    assert ours[1] == "0.7380"  # our SSIM of nearest: not the paper's 0.7552 (another SSIM implementation)
    assert paper == ["26.26", "0.7552"]  # the paper's nearest, in its own columns
    assert set(result["Set5"]) == {"psnr", "ssim", "seconds_per_image", "images"} | DETAIL
    assert len(result["Set5"]["images"]) == 5


@pytest.mark.parametrize("content,paper", [("mse", ["30.64", "0.8701"]), ("vgg54", ["29.40", "0.8472"])])
def test_evaluate_cli_puts_an_srgan_beside_the_papers_row_for_its_content_loss(
    data_root, tmp_path, capsys, content, paper
):
    """SRGAN-MSE weights meet the paper's SRGAN-MSE (table 1); VGG54 weights its SRGAN (table 2)."""
    torch.manual_seed(0)
    weights = save_generator(
        SRResNet(n_blocks=1, channels=8), tmp_path / "g.safetensors", {"model": "srgan", "content": content}
    )
    assert main(["evaluate", "--weights", str(weights), "--datasets", "Set5", "--device", "cpu"]) == 0
    row = next(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("Set5"))
    assert row[4:6] == paper


@pytest.mark.parametrize(
    "argv,message",
    [
        (["evaluate", "--datasets", "Set5", "Urban100"], "'Urban100' is not a known benchmark"),
        (["evaluate", "--datasets", "T91"], "'T91' is a training set, not a benchmark"),
        (["evaluate", "--datasets", "Set5", "--scale", "3"], "no x3 low-resolution files"),
    ],
)
def test_evaluate_cli_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "datasets,scale,message",
    [
        (["Set5", "Urban100"], 4, "'Urban100' is not a known benchmark"),
        (["T91"], 4, "'T91' is a training set, not a benchmark"),
        (["Set5"], 3, "no x3 low-resolution files"),
    ],
)
def test_evaluate_rejects_unknown_sets_and_scales_with_a_user_error(datasets, scale, message):
    """The UserError that the CLI turns into exit code 2 and one line."""
    with pytest.raises(UserError, match=message):
        evaluate(baseline("bicubic", scale), datasets, scale)


def test_evaluate_cli_missing_data_folder(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="SRLIB_DATA=.*nowhere is not a folder"):
        evaluate(baseline("bicubic"), ["Set5"])
    assert main(["evaluate", "--datasets", "Set5"]) == 2
    assert "SRLIB_DATA" in capsys.readouterr().err


def test_evaluate_images_scores_every_method_on_every_image():
    images = {"a": torch.rand(3, 40, 44), "b": torch.rand(3, 48, 32)}
    scores, outputs = evaluate_images({m: baseline(m) for m in ("nearest", "bicubic")}, images)
    assert set(scores) == {"a", "b"} and set(scores["a"]) == {"nearest", "bicubic"}
    assert list(outputs["a"]) == ["LR", "nearest", "bicubic", "HR"]
    assert outputs["a"]["HR"].shape == modcrop(images["a"][None], 4).shape
    assert outputs["a"]["LR"].shape == (1, 3, 10, 11)


def test_format_table_shows_paper_numbers():
    table = format_table({"Set5": {"psnr": 28.4, "ssim": 0.81, "seconds_per_image": 0.01}}, paper="bicubic")
    assert "28.40" in table and "28.43" in table and "0.8211" in table


def test_demo_writes_a_figure_per_sample_image(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "astronaut.png",
        "chelsea.png",
        "coffee.png",
        "rocket.png",
    ]
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert (
        sum(
            r[:2] == [image, "bicubic"]
            for r in rows
            for image in ("astronaut", "chelsea", "coffee", "rocket")
        )
        == 4
    )


def test_bicubic_has_less_fine_detail_than_the_hr_images(data_root):
    """The detail measures see interpolation's blur: lower gradients and almost no power above LR Nyquist."""
    r = evaluate(baseline("bicubic"), ["Set5"])["Set5"]
    assert r["gradient"] < 0.8 * r["hr_gradient"]
    assert r["hf_share"] < 0.25 * r["hr_hf_share"]


def test_evaluate_warms_up_on_each_image_size_so_set_up_is_not_timed(tmp_path, monkeypatch):
    """An upscaler that is slow the first time it sees a size (as CUDA is) is timed only once warm.

    A fake clock, advanced by the upscaler (100 s on a size's first call, 1 s after), so the test checks which
    calls are timed, not how long they take on this machine."""
    from srlib import evaluate as ev
    from srlib.images import save_image

    pairs = []
    for i, size in enumerate([(8, 8), (8, 8), (12, 8), (8, 12)]):
        hr, lr = tmp_path / f"hr{i}.png", tmp_path / f"lr{i}.png"
        save_image(torch.rand(3, 4 * size[0], 4 * size[1]), hr)
        save_image(torch.rand(3, *size), lr)
        pairs.append((f"img{i}", hr, lr))
    monkeypatch.setattr(ev, "check_benchmark", lambda name: None)
    monkeypatch.setattr(ev, "benchmark_pairs", lambda name, scale, root: pairs)
    clock = [0.0]
    monkeypatch.setattr(ev, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    calls = []

    def slow_on_a_new_size(lr):
        clock[0] += 1.0 if lr.shape in calls else 100.0
        calls.append(lr.shape)
        return baseline("bicubic")(lr)

    result = evaluate(slow_on_a_new_size, ["Set5"])["Set5"]
    assert len(calls) == 4 + 3 and len(set(calls)) == 3  # each image once, plus one warm-up per size
    assert len(result["images"]) == 4
    assert result["seconds_per_image"] == 1.0  # no timed call was a size's first
