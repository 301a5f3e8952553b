"""The package as a user installs it: build the wheel, install it outside the checkout (not editable), and
upscale with the shipped weights there."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORD = ("config.json", "history.csv", "val.csv")  # of each shipped generator's training run


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, **kwargs)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.slow
def test_the_installed_wheel_carries_the_weights_and_upscales_outside_the_checkout(tmp_path):
    src = tmp_path / "src"  # a copy of what the build reads, so that the checkout gets no build/ folder
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "srlib", src / "srlib", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    offline = ["--no-deps", "--no-index"]  # the build uses the running environment's setuptools
    run([*pip, "wheel", *offline, "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)])
    (wheel,) = (tmp_path / "dist").glob("srlib-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for data in ("srresnet_x4.safetensors", "srgan_mse_x4.safetensors"):
        assert f"srlib/pretrained/{data}" in names
    assert {"srlib/registry.tsv", "srlib/py.typed"} <= set(names)
    assert {"srlib/assets/niqe/niqe_image_params.npz", "srlib/assets/niqe/NOTICE.txt"} <= set(names)
    records = [f"srlib/pretrained/training/{m}/{f}" for m in ("srresnet_x4", "srgan_mse_x4") for f in RECORD]
    assert set(records) <= set(names)  # notebooks 04 and 05 plot them, on Colab too
    print(f"wheel: {wheel.name}, {wheel.stat().st_size / 1e6:.1f} MB")

    site = tmp_path / "site"
    run([*pip, "install", *offline, "--target", str(site), str(wheel)])
    work = tmp_path / "work"  # neither the checkout nor the source copy is reachable from here
    work.mkdir()
    env = os.environ | {"PYTHONPATH": str(site), "SRLIB_DATA": str(work)}
    code = """
import srlib, torch
from srlib.images import sample_image, save_image
from srlib.niqe import niqe
assert srlib.__file__.startswith({site!r}), srlib.__file__
model = srlib.load_pretrained("srresnet_x4")
with torch.no_grad():
    print(tuple(model(torch.rand(1, 3, 8, 8)).shape))
save_image(sample_image("coffee")[:, :32, :40], "photo.png")
assert 0 < niqe(sample_image("coffee")).item() < 20  # the NIQE model is in the wheel
"""
    done = run([sys.executable, "-c", code.format(site=str(site))], cwd=work, env=env)
    assert done.stdout.strip() == "(1, 3, 32, 32)"
    cli = [str(site / "bin" / "srlib"), "upscale", "photo.png", "--model", "srresnet_x4", "--out", "up"]
    done = run(cli, cwd=work, env=env)
    assert "photo_x4.png" in done.stdout
    from PIL import Image

    assert Image.open(work / "up" / "photo_x4.png").size == (160, 128)
