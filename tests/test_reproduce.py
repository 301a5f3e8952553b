import json

import pytest
import torch

from srlib.cli import main
from srlib.evaluate import PAPER, SEED_REPORT_SRGAN, baseline, reproduce, reproduction_table
from srlib.inference import as_upscaler
from srlib.models import SRResNet
from srlib.weights import PRETRAINED, WEIGHTS_DIR, load_pretrained


def test_reproduction_table_puts_the_papers_rows_under_ours():
    r = {"psnr": 30.0, "ssim": 0.9, "seconds_per_image": 0.5}
    table = reproduction_table({"bicubic": {"Set5": r}, "srgan": {"Set5": r}}, "cpu").splitlines()
    assert table[0] == "| method | source | Set5 |"
    assert table[2] == "| bicubic | ours (cpu) | 30.00 / 0.9000 / 0.500 s |"
    assert table[3] == f"| bicubic | Ledig et al., table 2 | {PAPER['bicubic']['Set5'][0]:.2f} / 0.8211 |"
    assert table[-1].startswith("| srgan | seed report (RTX 2080 Ti) | 29.057 / 0.839 / 0.103 s")
    assert SEED_REPORT_SRGAN["BSD100"] == (24.248, 0.628, 0.039)


def test_reproduce_writes_table_json_and_crop_figures(data_root, tmp_path):
    torch.manual_seed(0)
    tiny = SRResNet(n_blocks=1, channels=8)
    ups = {"bicubic": baseline("bicubic"), "srresnet": as_upscaler(tiny)}
    results = reproduce(ups, ["Set5"], tmp_path, figure_images=[("Set5", "img_002")])
    assert results["bicubic"]["Set5"]["psnr"] == pytest.approx(28.43, abs=0.02)
    assert json.loads((tmp_path / "reproduction.json").read_text())["srresnet"]["Set5"]["images"]
    md = (tmp_path / "reproduction.md").read_text()
    assert "| srresnet | ours (cpu) |" in md and "| srresnet | Ledig et al., table 2 | 32.05" in md
    assert (tmp_path / "crops_Set5_img_002.png").stat().st_size > 10_000


@pytest.mark.skipif(
    any((WEIGHTS_DIR / f"{n}.safetensors").exists() for n in PRETRAINED), reason="shipped weights exist"
)
def test_missing_shipped_weights_are_a_one_line_error(tmp_path, capsys):
    with pytest.raises(Exception, match="srresnet_x4.safetensors is not there"):
        load_pretrained("srresnet_x4")
    assert main(["upscale", "x.png", "--model", "srresnet_x4", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlib: error:") and err.count("\n") == 1


def test_unknown_pretrained_name_is_rejected():
    with pytest.raises(Exception, match="unknown pretrained model 'edsr'"):
        load_pretrained("edsr")
