import json
import logging
import re
from pathlib import Path

import pytest
import torch

from srlib import plot, weights
from srlib.cli import main
from srlib.datasets import benchmark_pairs
from srlib.errors import UserError
from srlib.evaluate import baseline, reproduce
from srlib.images import load_image, modcrop, sample_image, save_image
from srlib.imresize import imresize, quantize
from srlib.inference import as_upscaler
from srlib.metrics import gradient_magnitude, psnr
from srlib.models import SRResNet
from srlib.tables import PAPER, SEED_REPORT_SRGAN, reproduction_markdown, reproduction_table
from srlib.train import read_history
from srlib.weights import PRETRAINED, load_pretrained, pretrained_label, pretrained_path, read_weights


def test_reproduction_table_puts_the_papers_rows_under_ours():
    r = {"psnr": 30.0, "ssim": 0.9, "seconds_per_image": 0.5}
    table = reproduction_table({"bicubic": {"Set5": r}, "srgan": {"Set5": r}}, "cpu").splitlines()
    assert table[0] == "| method | source | Set5 |"
    assert table[2] == "| bicubic | ours (cpu) | 30.00 / 0.9000 / 0.500 s |"
    assert table[3] == f"| bicubic | Ledig et al., table 2 | {PAPER['bicubic']['Set5'][0]:.2f} / 0.8211 |"
    assert table[4] == "| srgan | ours (cpu) | 30.00 / 0.9000 / 0.500 s |"
    assert table[5].startswith("| srgan | Ledig et al., table 2 (SRGAN-VGG54) | 29.40 / 0.8472")
    assert table[6].startswith("| srgan | seed report: a student's reproduction (RTX 2080 Ti) | 29.057")
    assert len(table) == 7  # our SRGAN is the paper's: its published rows are not repeated at the end


def test_reproduction_table_puts_each_published_number_in_its_sets_column():
    r = {"psnr": 30.0, "ssim": 0.9, "seconds_per_image": 0.5}
    table = reproduction_table({"srgan": {"BSD100": r, "Set14": r}}).splitlines()
    cells = {row.split(" | ")[1]: row.strip("| ").split(" | ")[2:] for row in table[2:]}
    assert table[0] == "| method | source | BSD100 | Set14 |"
    assert cells["Ledig et al., table 2 (SRGAN-VGG54)"] == ["25.16 / 0.6688", "26.02 / 0.7397"]
    seed = [SEED_REPORT_SRGAN[s] for s in ("BSD100", "Set14")]
    assert cells["seed report: a student's reproduction (RTX 2080 Ti)"] == [
        f"{p:.3f} / {s:.3f} / {t:.3f} s" for p, s, t in seed
    ]


def test_reproduction_table_pairs_our_srgan_mse_with_the_papers_srgan_mse():
    """SRGAN-MSE sits above table 1's SRGAN-MSE row; the paper's SRGAN (VGG54) follows at the end."""
    r = {"psnr": 30.0, "ssim": 0.9, "seconds_per_image": 0.5}
    by_set = {"Set5": r, "Set14": r, "BSD100": r}
    table = reproduction_table({"srgan-mse": by_set, "bicubic": by_set}).splitlines()
    assert table[2].startswith("| srgan-mse | ours |")
    assert table[3] == (
        "| srgan-mse | Ledig et al., table 1 (SRGAN-MSE) | 30.64 / 0.8701 | 26.92 / 0.7611 | not reported |"
    )
    assert [row.split(" | ")[:2] for row in table[4:]] == [
        ["| bicubic", "ours"],
        ["| bicubic", "Ledig et al., table 2"],
        ["| srgan", "Ledig et al., table 2 (SRGAN-VGG54)"],
        ["| srgan", "seed report: a student's reproduction (RTX 2080 Ti)"],
    ]


def test_reproduce_writes_table_json_and_crop_figures(data_root, backbone_cache, tmp_path, monkeypatch):
    """The JSON holds every Set5 image's scores and their means, the table shows those means beside the
    paper's, and the crop figure shows the LR file, each method captioned with its scores on that image, and
    the HR image."""
    figures = []
    drawn = plot.comparison_figure

    def note_the_figure(panels, captions=None, path=None, **kwargs):
        figures.append((dict(panels), dict(captions), Path(path)))
        return drawn(panels, captions=captions, path=path, **kwargs)

    monkeypatch.setattr(plot, "comparison_figure", note_the_figure)
    torch.manual_seed(0)
    tiny = SRResNet(n_blocks=1, channels=8)
    ups = {"bicubic": baseline("bicubic"), "srresnet": as_upscaler(tiny)}
    results = reproduce(ups, ["Set5"], tmp_path, figure_images=[("Set5", "img_002")], lpips_nets=["alex"])
    assert results["bicubic"]["Set5"]["psnr"] == pytest.approx(28.43, abs=0.02)
    saved = json.loads((tmp_path / "reproduction.json").read_text())
    md = (tmp_path / "reproduction.md").read_text()
    assert "| srresnet | Ledig et al., table 2 | 32.05" in md
    pairs = {name: (hr, lr) for name, hr, lr in benchmark_pairs("Set5")}
    for name in ups:
        scores = saved[name]["Set5"]
        assert set(scores["images"]) == set(pairs)
        for metric in ("psnr", "ssim"):
            mean = sum(s[metric] for s in scores["images"].values()) / len(pairs)
            assert scores[metric] == pytest.approx(mean)
        assert f"| {name} | ours (cpu) | {scores['psnr']:.2f} / {scores['ssim']:.4f} / " in md
    [(panels, captions, path)] = figures
    assert path == tmp_path / "crops_Set5_img_002.png" and path.stat().st_size > 0
    assert list(panels) == ["LR", "bicubic", "srresnet", "HR"]
    hr, lr = (load_image(p) for p in pairs["img_002"])
    assert torch.equal(panels["LR"][0], lr) and torch.equal(panels["HR"][0], modcrop(hr, 4))
    for name in ups:
        image = saved[name]["Set5"]["images"]["img_002"]
        assert captions[name] == f"{image['psnr']:.2f} dB / {image['ssim']:.3f}"
        assert panels[name].shape == panels["HR"].shape
    assert "### LPIPS-alex" in md and f"| bicubic | {results['bicubic']['Set5']['lpips_alex']:.4f} |" in md


def test_missing_shipped_weights_are_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(weights, "PRETRAINED_DIR", tmp_path / "pretrained")  # srlib without its package data
    with pytest.raises(UserError, match="srresnet_x4.safetensors is not there"):
        load_pretrained("srresnet_x4")
    assert main(["upscale", "x.png", "--model", "srresnet_x4", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlib: error:") and err.count("\n") == 1


def test_shipped_generators_are_the_last_step_of_their_committed_training_records():
    """Each shipped file's metadata matches srlib/pretrained/training/<name>/: its config, and its step is
    the last row of the run's history and validation (no checkpoint was picked by a score)."""
    records = Path(__file__).resolve().parents[1] / "srlib" / "pretrained" / "training"
    assert [pretrained_label(n) for n in PRETRAINED] == ["srresnet", "srgan-mse"]
    for name in PRETRAINED:
        metadata = read_weights(pretrained_path(name))[1]
        config = json.loads(metadata["train_config"])
        assert (config["model"], config["scale"], config["n_blocks"], config["channels"]) == (
            name.split("_")[0],
            4,
            16,
            64,
        )
        record = json.loads((records / name / "config.json").read_text())
        assert {k: record[k] for k in config} == config
        step = int(metadata["step"])
        assert read_history(records / name / "history.csv")["step"][-1] == step
        assert read_history(records / name / "val.csv")["step"][-1] == step
        assert (records / name / "val" / f"step_{step:06d}.png").is_file()


def test_shipped_srresnet_beats_bicubic_and_srgan_mse_puts_back_detail():
    """On a held-out crop (not a benchmark image): SRResNet gains PSNR, SRGAN-MSE has sharper gradients."""
    hr = modcrop(sample_image("coffee")[None, :, 100:292, 200:392], 4)
    lr = quantize(imresize(hr, 1 / 4))
    srresnet, srgan = (as_upscaler(load_pretrained(n)) for n in PRETRAINED)
    with torch.inference_mode():
        outputs = {"bicubic": baseline("bicubic")(lr), "srresnet": srresnet(lr), "srgan": srgan(lr)}
    score = {k: psnr(quantize(v), hr, 4).item() for k, v in outputs.items()}
    detail = {k: gradient_magnitude(quantize(v), 4).item() for k, v in outputs.items()}
    assert score["srresnet"] > score["bicubic"] + 1.0
    assert detail["srgan"] > detail["srresnet"] > detail["bicubic"]


def test_unknown_pretrained_name_is_rejected():
    with pytest.raises(UserError, match="unknown pretrained model 'edsr'"):
        load_pretrained("edsr")


@pytest.mark.parametrize("folder", ["results", "results/h200"])
def test_committed_reproduction_tables_are_the_ones_their_json_gives(folder):
    """results/*/reproduction.md is `reproduction_markdown` of the JSON beside it: no hand-edited number."""
    root = Path(__file__).resolve().parents[1] / folder
    md = (root / "reproduction.md").read_text()
    device = re.search(r"\| ours \((.*)\) \|", md).group(1)
    results = json.loads((root / "reproduction.json").read_text())
    results.pop("machine", None)  # where the timings ran, beside the methods' results
    assert md == reproduction_markdown(results, device)


def test_the_old_name_srgan_x4_loads_srgan_mse_x4_with_a_one_line_notice(caplog):
    with caplog.at_level(logging.WARNING, logger="srlib"):
        old = load_pretrained("srgan_x4")
    assert [r.getMessage().count("\n") for r in caplog.records] == [0]
    assert "'srgan_mse_x4'" in caplog.records[0].getMessage()
    new = load_pretrained("srgan_mse_x4")
    pairs = zip(old.state_dict().values(), new.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_the_cli_accepts_the_old_name(tmp_path, capsys):
    save_image(torch.rand(3, 12, 12), tmp_path / "photo.png")
    assert main(["upscale", str(tmp_path / "photo.png"), "--model", "srgan_x4", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "photo_x4.png").is_file()
