import hashlib
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srlib import datasets, files, images
from srlib.errors import UserError
from srlib.imresize import quantize


def test_registry_knows_every_dataset_file():
    counts = {name: len(datasets.dataset_files(name)) for name in datasets.DATASETS}
    assert counts == {"Set5": 5, "Set14": 14, "BSD100": 100, "T91": 91, "BSDS200": 200, "BSDS500_test": 200}
    assert [len(datasets.dataset_files(n, "LR")) for n in datasets.BENCHMARKS] == [5, 14, 100]
    assert all(len(e.sha256) == 64 and e.url.startswith("https://") for e in datasets.registry().values())


def test_unknown_dataset_and_unsupported_scale_give_user_errors():
    with pytest.raises(UserError, match="unknown dataset 'Set6'; choose from Set5"):
        datasets.dataset_files("Set6")
    with pytest.raises(UserError, match="no x3 low-resolution files; available: X4"):
        datasets.dataset_files("Set5", "LR", scale=3)


def test_data_root_follows_srlib_data(monkeypatch, tmp_path):
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path))
    assert datasets.data_root() == tmp_path
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "missing"))
    with pytest.raises(UserError, match="is not a folder"):
        datasets.data_root()


@pytest.mark.parametrize(
    "platform, env, expected",
    [
        ("linux", {"XDG_CACHE_HOME": "/xdg"}, "/xdg/srlib"),
        ("linux", {}, "~/.cache/srlib"),
        ("darwin", {}, "~/Library/Caches/srlib"),
        ("win32", {"LOCALAPPDATA": "C:/Users/u/AppData/Local"}, "C:/Users/u/AppData/Local/srlib/srlib/Cache"),
    ],
)
def test_the_user_cache_is_where_each_platform_keeps_caches(monkeypatch, platform, env, expected):
    monkeypatch.setattr(datasets.sys, "platform", platform)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert datasets.user_cache() == Path(expected).expanduser()  # where pooch.os_cache put it before


# --- image loading -----------------------------------------------------------------------------------


def _png_rgb16(path: Path, rgb: np.ndarray) -> None:
    """Write a 16-bit RGB PNG by hand (Pillow cannot write one)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


@pytest.fixture
def rgb8() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_load_8bit_rgb_is_exact(tmp_path, rgb8, suffix):
    Image.fromarray(rgb8).save(tmp_path / f"a{suffix}")
    x = images.load_image(tmp_path / f"a{suffix}")
    assert x.shape == (3, 6, 5) and x.dtype == torch.float32
    assert torch.equal((x * 255).round().byte(), torch.from_numpy(rgb8).permute(2, 0, 1))


def test_load_jpeg_is_close(tmp_path):
    smooth = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (32, 1))
    Image.fromarray(np.stack([smooth] * 3, axis=2)).save(tmp_path / "a.jpg", quality=95)
    x = images.load_image(tmp_path / "a.jpg")
    assert (x[0] * 255 - torch.from_numpy(smooth.astype(np.float32))).abs().mean() < 2


def test_load_grayscale_repeats_the_channel(tmp_path):
    g = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    Image.fromarray(g, mode="L").save(tmp_path / "g.png")
    x = images.load_image(tmp_path / "g.png")
    assert x.shape == (3, 4, 5) and torch.equal(x[0], x[2])
    assert torch.allclose(x[1] * 255, torch.from_numpy(g).float())
    assert images.is_grayscale(tmp_path / "g.png")


def test_load_16bit_grayscale_keeps_precision(tmp_path):
    g = np.array([[0, 1, 65535], [32768, 1000, 40000]], dtype=np.uint16)
    Image.fromarray(g).save(tmp_path / "g16.png")
    x = images.load_image(tmp_path / "g16.png")
    assert torch.allclose(x[0].double(), torch.from_numpy(g / 65535.0), atol=1e-7)


def test_load_16bit_rgb_is_read_to_within_8_bits(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 65536, (4, 3, 3)).astype(np.uint16)
    _png_rgb16(tmp_path / "c16.png", rgb)
    x = images.load_image(tmp_path / "c16.png")
    assert x.shape == (3, 4, 3)
    assert torch.allclose(x.permute(1, 2, 0).double(), torch.from_numpy(rgb / 65535.0), atol=1 / 255)


def test_load_palette_and_rgba(tmp_path, rgb8):
    Image.fromarray(rgb8).convert("P", palette=Image.ADAPTIVE, colors=8).save(tmp_path / "p.png")
    p = images.load_image(tmp_path / "p.png")
    assert p.shape == (3, 6, 5)
    rgba = np.concatenate([rgb8, np.zeros((6, 5, 1), np.uint8)], axis=2)  # fully transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    x = images.load_image(tmp_path / "a.png")
    assert torch.equal((x * 255).round().byte(), torch.from_numpy(rgb8).permute(2, 0, 1))  # alpha dropped


def test_unreadable_files_give_one_line_errors_naming_the_path(tmp_path, rgb8):
    Image.fromarray(rgb8).save(tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    (tmp_path / "notes.png").write_text("not an image")
    for name in ("cut.png", "notes.png", "missing.png"):
        with pytest.raises(UserError) as err:
            images.load_image(tmp_path / name)
        assert name in str(err.value) and "\n" not in str(err.value)


def test_save_image_round_trips_and_leaves_no_temporary_file(tmp_path):
    x = torch.rand(3, 7, 9)
    images.save_image(x, tmp_path / "out" / "x.png")
    assert torch.allclose(images.load_image(tmp_path / "out" / "x.png"), x, atol=0.5 / 255 + 1e-6)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["x.png"]


def test_modcrop_and_quantize():
    x = torch.rand(3, 10, 13)
    assert images.modcrop(x, 4).shape == (3, 8, 12)
    assert torch.equal(images.modcrop(x, 4), x[:, :8, :12])
    q = quantize(torch.tensor([-0.2, 0.5, 1.3, 0.1234]))
    assert torch.equal(q * 255, torch.tensor([0.0, 128.0, 255.0, 31.0]))


def test_sample_images_are_rgb_in_unit_range():
    x = images.sample_image("chelsea")
    assert x.shape[0] == 3 and 0 <= x.min() and x.max() <= 1


# --- downloading, for real, from a server on 127.0.0.1 -------------------------------------------------


def test_download_lands_and_verifies(data_root, serve, tmp_path):
    url = serve(data_root)
    dest = tmp_path / "dl"
    paths = datasets.fetch("Set5", "LR", root=dest, mirror=url)
    assert [p.name for p in paths] == [f"img_00{i}_SRF_4_LR.png" for i in range(1, 6)]
    for p in paths:
        expected = datasets.registry()[p.relative_to(dest).as_posix()].sha256
        assert hashlib.sha256(p.read_bytes()).hexdigest() == expected


def test_checksum_mismatch_is_an_error_and_leaves_no_file(serve, tmp_path):
    path = datasets.dataset_files("Set5", "LR")[0]
    served = tmp_path / "served" / path
    served.parent.mkdir(parents=True)
    served.write_bytes(b"this is not the registered file")
    dest = tmp_path / "dl"
    with pytest.raises(UserError, match="does not match its sha256"):
        datasets.fetch_file(path, root=dest, mirror=serve(tmp_path / "served"))
    assert not dest.exists() or not any(p.is_file() for p in dest.rglob("*"))


def test_unreachable_server_names_the_url_and_what_to_do(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = datasets.dataset_files("Set5", "LR")[0]
    with pytest.raises(UserError) as err:
        datasets.fetch_file(path, root=tmp_path, mirror=f"http://127.0.0.1:{port}")
    msg = str(err.value)
    assert f"http://127.0.0.1:{port}/{path}" in msg and "SRLIB_DATA" in msg
    assert not (tmp_path / path).exists()


def test_existing_verified_files_are_not_downloaded_again(data_root, tmp_path):
    path = datasets.dataset_files("Set5", "LR")[0]
    (tmp_path / path).parent.mkdir(parents=True)
    shutil.copy(data_root / path, tmp_path / path)
    # the mirror does not exist: a download attempt would fail
    assert datasets.fetch_file(path, root=tmp_path, mirror="http://127.0.0.1:9") == tmp_path / path


def test_benchmark_pairs_match_hr_and_lr(data_root):
    pairs = datasets.benchmark_pairs("Set14")
    assert len(pairs) == 14 and pairs[2][0] == "img_003"
    for _, hr, lr in pairs:
        assert hr.name.replace("_HR", "") == lr.name.replace("_LR", "")


def test_fetch_cli_downloads_from_a_mirror_into_srlib_data(data_root, serve, tmp_path, monkeypatch, capsys):
    from srlib.cli import main

    url = serve(data_root)
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path))
    assert main(["fetch", "Set5", "--mirror", url]) == 0
    assert "Set5: 10 files verified" in capsys.readouterr().out
    assert len(list((tmp_path / "benchmarks" / "Set5").rglob("*.png"))) == 10
    assert main(["fetch", "Set7"]) == 2


def test_atomic_writes_get_the_usual_file_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = files.write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


# --- data on demand: ensure_data and `srlib train`, with a small registry served on 127.0.0.1 -----------


@pytest.fixture
def small_registry(tmp_path, monkeypatch) -> Path:
    """A registry of two T91 and one BSDS200 image, whose files lie in tmp_path/served (for `serve`)."""
    entries = {}
    for i, path in enumerate(["train/T91/t1.png", "train/T91/t2.png", "train/BSDS200/1.png"]):
        served = tmp_path / "served" / path
        served.parent.mkdir(parents=True, exist_ok=True)
        save = images.sample_image("coffee")[:, i * 30 : i * 30 + 30, :40]
        images.save_image(save, served)
        blob = served.read_bytes()
        sha256 = hashlib.sha256(blob).hexdigest()
        entries[path] = datasets.RegistryEntry(path, "http://127.0.0.1:9/" + path, sha256, len(blob))
    monkeypatch.setattr(datasets, "registry", lambda: entries)
    return tmp_path / "served"


def test_ensure_data_downloads_what_is_missing_with_a_progress_bar(small_registry, serve, tmp_path, capsys):
    root = datasets.ensure_data("T91", "BSDS200", root=tmp_path / "dl", mirror=serve(small_registry))
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png")) == sorted(datasets.registry())
    err = capsys.readouterr().err
    assert "T91" in err and "BSDS200" in err and "100%" in err  # tqdm's bars, one per dataset
    (root / "train/T91/t2.png").write_bytes(b"damaged")  # a damaged file is fetched again, the rest kept
    datasets.ensure_data("T91", root=root, mirror=serve(small_registry))
    assert (root / "train/T91/t2.png").read_bytes() == (small_registry / "train/T91/t2.png").read_bytes()


def test_ensure_data_offline_is_one_line_naming_srlib_fetch_and_srlib_data(small_registry, tmp_path):
    with pytest.raises(datasets.DownloadError) as err:  # the registry's URLs point at a closed port
        datasets.ensure_data("T91", "BSDS200", root=tmp_path / "empty")
    msg = str(err.value)
    assert "\n" not in msg and "`srlib fetch T91 BSDS200`" in msg and "SRLIB_DATA" in msg
    assert not list((tmp_path / "empty").rglob("*.png"))


def test_srlib_train_offline_without_data_says_how_to_fetch_it(small_registry, tmp_path, monkeypatch, capsys):
    from srlib.cli import main

    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    argv = ["train", "srresnet", "--out", str(tmp_path / "run"), "--steps", "1", "--batch-size", "1"]
    assert main([*argv, "--crop", "24", "--n-blocks", "1", "--channels", "8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "`srlib fetch T91 BSDS200`" in err and "SRLIB_DATA" in err


def test_bsds500_test_is_registered_as_extra_training_images_not_in_the_default_set():
    files = datasets.dataset_files("BSDS500_test")
    assert len(files) == 200
    assert all(f.startswith("train_extra/BSDS500_test/") and f.endswith(".jpg") for f in files)
    assert not any(f.startswith("train/") for f in files)  # `srlib train`'s default stays the 291 images
    with pytest.raises(UserError, match="a training set, not a benchmark"):
        datasets.check_benchmark("BSDS500_test")


def test_srlib_fetch_bsds500_test_from_a_mirror(data_root, serve, tmp_path, monkeypatch, capsys):
    from srlib.cli import main

    if not (data_root / "train_extra" / "BSDS500_test").is_dir():
        pytest.skip("the data folder has no train_extra/BSDS500_test")
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path))
    assert main(["fetch", "BSDS500_test", "--mirror", serve(data_root)]) == 0
    assert "BSDS500_test: 200 files verified" in capsys.readouterr().out
    assert len(list((tmp_path / "train_extra" / "BSDS500_test").glob("*.jpg"))) == 200
