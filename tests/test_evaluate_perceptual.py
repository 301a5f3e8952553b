import json

import pytest

from srlib.cli import main
from srlib.datasets import benchmark_pairs
from srlib.errors import UserError
from srlib.evaluate import baseline, evaluate, reproduce
from srlib.images import load_image, modcrop
from srlib.niqe import niqe
from srlib.tables import format_table, niqe_table


@pytest.mark.data
def test_evaluate_cli_adds_niqe_columns_to_the_table_and_json(data_root, tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["evaluate", "--method", "bicubic", "--datasets", "Set5", "--metrics", "psnr", "ssim", "niqe"]
    assert main([*argv, "--json", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "NIQE" in table[1] and "HR NIQE" in table[1]
    r = json.loads(out.read_text())["Set5"]
    hr_niqe = [niqe(modcrop(load_image(hr), 4), 4).item() for _, hr, _ in benchmark_pairs("Set5")]
    assert r["hr_niqe"] == pytest.approx(sum(hr_niqe) / len(hr_niqe), rel=1e-9)
    assert set(r["images"]["img_001"]) >= {"psnr", "ssim", "niqe", "hr_niqe"}
    assert r["niqe"] > r["hr_niqe"] + 1  # bicubic blur is far from natural statistics
    assert f"{r['niqe']:.3f}" in table[3]


@pytest.mark.data
def test_evaluate_without_niqe_keeps_the_old_columns(data_root):
    r = evaluate(baseline("nearest"), ["Set5"])["Set5"]
    assert "niqe" not in r and "NIQE" not in format_table({"Set5": r})


def test_unknown_metric_is_a_user_error_naming_the_choices():
    with pytest.raises(UserError, match="unknown metric 'pi'; choose from psnr, ssim, niqe"):
        evaluate(baseline("bicubic"), ["Set5"], metrics=["psnr", "pi"])


def test_niqe_table_has_a_row_per_method_and_the_hr_row():
    r = {"niqe": 7.0, "hr_niqe": 3.0}
    table = niqe_table({"bicubic": {"Set5": r, "Set14": {**r, "niqe": 6.5}}}).splitlines()
    assert table[0] == "| method | Set5 | Set14 |"
    assert table[2:] == ["| bicubic | 7.000 | 6.500 |", "| HR | 3.000 | 3.000 |"]


@pytest.mark.data
def test_reproduce_writes_the_niqe_table_and_says_why_pi_is_missing(data_root, tmp_path):
    reproduce({"bicubic": baseline("bicubic")}, ["Set5"], tmp_path, figure_images=[])
    md = (tmp_path / "reproduction.md").read_text()
    assert "## NIQE" in md and "| HR |" in md.split("## NIQE")[1]
    assert "Perceptual Index" in md and "offline" in md
