"""Bad input through the command line: exit code 2, one line, no traceback, nothing left behind.

Every case is one row of `CASES`: the command (``{t}`` is the test's folder, where `world` has put small
images, weights files good and bad, a file named ``afile`` and a folder named ``adir``), a fragment of the
expected message, and optionally what to simulate (a read-only folder, a full disk, little memory).
"""

from __future__ import annotations

import errno
import http.server
import json
import os
import socket
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from srlib import data, inference
from srlib.cli import main
from srlib.data import sample_image, save_image
from srlib.models import SRResNet
from srlib.weights import save_generator

TINY = "--steps 2 --batch-size 2 --crop 24 --n-blocks 1 --channels 8"
TRAIN = f"train srresnet --data {{t}}/data --val-dir {{t}}/val {TINY}"
UPSCALE = "upscale {t}/val/c.png --weights {t}/tiny.safetensors"


def weights_with(path: Path, config: object, tensors: dict | None = None) -> None:
    """A generator file whose metadata config is ``config`` (any JSON, or a raw string)."""
    state = tensors or {k: v.contiguous() for k, v in SRResNet(4, 1, 8).state_dict().items()}
    text = config if isinstance(config, str) else json.dumps(config)
    safetensors.torch.save_file(state, str(path), metadata={"architecture": "SRResNet", "config": text})


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """Small images, a tiny generator, bad weights and bad images, a file and a folder to misuse."""
    t = tmp_path
    coffee = sample_image("coffee")
    save_image(coffee[:, :40, :48], t / "data" / "a.png")
    save_image(coffee[:, 100:140, 200:248], t / "data" / "b.png")
    save_image(coffee[:, 200:248, 300:348], t / "val" / "c.png")
    torch.manual_seed(0)
    tiny = SRResNet(4, 1, 8)
    save_generator(tiny, t / "tiny.safetensors")
    torch.save(
        {"generator": tiny.state_dict(), "config": {**tiny.config(), "model": "srresnet"}, "step": 2},
        t / "checkpoint.pt",
    )
    (t / "afile").write_text("a file, not a folder")
    (t / "adir").mkdir()
    (t / "done").mkdir()
    (t / "done" / "c_x4.png").write_bytes(b"an earlier result")
    (t / "old.safetensors").write_bytes(b"an earlier export")

    state = {k: v.contiguous() for k, v in tiny.state_dict().items()}
    for name, value in (("nan", float("nan")), ("inf", float("inf"))):
        bad = dict(state)
        bad["tail.weight"] = bad["tail.weight"].clone().fill_(value)
        weights_with(t / f"{name}.safetensors", tiny.config(), bad)
    weights_with(t / "blocks1e9.safetensors", {"scale": 4, "n_blocks": 10**9, "channels": 8})
    weights_with(t / "channels1e5.safetensors", {"scale": 4, "n_blocks": 1, "channels": 100_000})
    weights_with(t / "notjson.safetensors", "{scale: 4")
    weights_with(t / "list.safetensors", [4, 1, 8])
    weights_with(t / "strings.safetensors", {"scale": 4, "n_blocks": "1", "channels": 8})
    weights_with(t / "twoblocks.safetensors", {"scale": 4, "n_blocks": 2, "channels": 8})
    weights_with(t / "x3.safetensors", {"scale": 3, "n_blocks": 1, "channels": 8})

    Image.fromarray(np.full((4, 4), 2.5, np.float32)).save(t / "hdr.tif")
    Image.fromarray(np.full((4, 4), 100_000, np.int32)).save(t / "int32.tif")
    (t / "cut.png").write_bytes((t / "val" / "c.png").read_bytes()[:80])
    (t / "folder.png").mkdir()
    save_image(torch.rand(3, 48, 48), t / "big" / "big.png")  # a "bomb" once the pixel limit is lowered
    return t


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve(folder: Path) -> str:
    """An HTTP server on 127.0.0.1 for ``folder`` (a daemon thread; it ends with the test process)."""
    handler = partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


# --- what some cases simulate --------------------------------------------------------------------------


def read_only(folder: str) -> Callable:
    """``folder`` made read-only: by its mode, and for root (who writes anyway) by os.access."""

    def apply(mp: pytest.MonkeyPatch, t: Path) -> None:
        path = t / folder
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o555)
        real = os.access
        mp.setattr(os, "access", lambda p, mode: False if Path(p) == path else real(p, mode))

    return apply


def disk_full(target: str) -> Callable:
    """Writes through ``target`` (an object path) write a few bytes and then fail with ENOSPC."""

    def apply(mp: pytest.MonkeyPatch, t: Path) -> None:
        def full(*args, **kwargs):
            path = next(a for a in (*args, *kwargs.values()) if isinstance(a, (str, Path)))
            Path(path).write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")

        mp.setattr(target, full)

    return apply


def free_memory(n: int) -> Callable:
    def apply(mp: pytest.MonkeyPatch, t: Path) -> None:
        mp.setattr(inference, "available_memory", lambda device: n)

    return apply


def out_of_memory(mp: pytest.MonkeyPatch, t: Path) -> None:
    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    mp.setattr(inference, "upscale_image", oom)


def pixel_limit(n: int) -> Callable:
    def apply(mp: pytest.MonkeyPatch, t: Path) -> None:
        mp.setattr(Image, "MAX_IMAGE_PIXELS", n)

    return apply


def data_folder(mp: pytest.MonkeyPatch, t: Path) -> None:
    mp.setenv("SRLIB_DATA", str(t / "store"))
    (t / "store").mkdir(exist_ok=True)


def corrupt_local_file(mp: pytest.MonkeyPatch, t: Path) -> None:
    data_folder(mp, t)
    first = t / "store" / data.dataset_files("Set5", "HR")[0]
    first.parent.mkdir(parents=True)
    first.write_bytes(b"not the registered file")


def oversized_server(mp: pytest.MonkeyPatch, t: Path) -> None:
    """A mirror whose first Set5 file is one byte longer than the registry says; its URL goes in {mirror}."""
    data_folder(mp, t)
    path = data.dataset_files("Set5", "HR")[0]
    served = t / "served" / path
    served.parent.mkdir(parents=True)
    served.write_bytes(b"x" * (data.registry()[path].size + 1))
    mp.setenv("MIRROR", serve(t / "served"))


CASES = [
    # output destinations, checked before any work
    ("upscale --out is a file", UPSCALE + " --out {t}/afile", "is a file, not a folder", None),
    ("upscale --out under a file", UPSCALE + " --out {t}/afile/up", "afile is a file, not a folder", None),
    ("upscale --out read-only", UPSCALE + " --out {t}/ro/up", "is read-only", read_only("ro")),
    ("upscale over an earlier result", UPSCALE + " --out {t}/done", "pass --overwrite", None),
    (
        "evaluate --json is a folder",
        "evaluate --datasets Set5 --json {t}/adir",
        "is a folder; give a file",
        None,
    ),
    ("evaluate --json under a file", "evaluate --datasets Set5 --json {t}/afile/r.json", "is a file", None),
    (
        "evaluate --json read-only",
        "evaluate --datasets Set5 --json {t}/ro/r.json",
        "read-only",
        read_only("ro"),
    ),
    (
        "reproduce --out is a file",
        "reproduce --datasets Set5 --out {t}/afile",
        "is a file, not a folder",
        None,
    ),
    ("reproduce --out under a file", "reproduce --out {t}/afile/results", "is a file, not a folder", None),
    ("demo --out is a file", "demo --out {t}/afile", "is a file, not a folder", None),
    ("demo --out under a file", "demo --out {t}/afile/demo", "is a file, not a folder", None),
    ("export to a folder", "export {t}/checkpoint.pt {t}/adir", "is a folder; give a file name", None),
    ("export under a file", "export {t}/checkpoint.pt {t}/afile/x.safetensors", "is a file", None),
    ("export read-only", "export {t}/checkpoint.pt {t}/ro/x.safetensors", "read-only", read_only("ro")),
    ("train --out is a file", TRAIN + " --out {t}/afile", "is a file, not a folder", None),
    ("train --out under a file", TRAIN + " --out {t}/afile/run", "is a file, not a folder", None),
    ("train --out read-only", TRAIN + " --out {t}/ro/run", "read-only", read_only("ro")),
    # a full disk: one line, and the earlier file is kept
    (
        "export onto a full disk",
        "export {t}/checkpoint.pt {t}/old.safetensors",
        "no space left on",
        disk_full("safetensors.torch.save_file"),
    ),
    (
        "upscale onto a full disk",
        UPSCALE + " --out {t}/up",
        "no space left on",
        disk_full("PIL.Image.Image.save"),
    ),
    # numeric flags
    ("train --lr 0", TRAIN + " --out {t}/run --lr 0", "the learning rate must be a positive number", None),
    ("train --lr -1", TRAIN + " --out {t}/run --lr -1", "the learning rate must be a positive number", None),
    ("train --lr nan", TRAIN + " --out {t}/run --lr nan", "the learning rate must be a positive number", None),
    ("train --lr inf", TRAIN + " --out {t}/run --lr inf", "the learning rate must be a positive number", None),
    ("train --crop 0", TRAIN + " --out {t}/run --crop 0", "crop must be at least 1", None),
    ("train --crop -24", TRAIN + " --out {t}/run --crop -24", "crop must be at least 1", None),
    ("train --channels 0", TRAIN + " --out {t}/run --channels 0", "channels must be at least 1", None),
    (
        "train --channels 100000",
        TRAIN + " --out {t}/run --channels 100000",
        "channels must be at most 1024",
        None,
    ),
    ("train --n-blocks -1", TRAIN + " --out {t}/run --n-blocks -1", "n_blocks must be 0 or more", None),
    (
        "train --n-blocks 1e9",
        TRAIN + " --out {t}/run --n-blocks 1000000000",
        "n_blocks must be at most 256",
        None,
    ),
    ("train --scale 3", TRAIN + " --out {t}/run --scale 3", "scale must be 2, 4 or 8", None),
    ("train --steps 0", TRAIN + " --out {t}/run --steps 0", "steps must be at least 1", None),
    (
        "train --batch-size 0",
        TRAIN + " --out {t}/run --batch-size 0",
        "batch_size must be at least 1",
        None,
    ),
    (
        "train --time-limit nan",
        TRAIN + " --out {t}/run --time-limit nan",
        "--time-limit must be a positive",
        None,
    ),
    (
        "train --time-limit 0",
        TRAIN + " --out {t}/run --time-limit 0",
        "--time-limit must be a positive",
        None,
    ),
    (
        "train --time-limit -1",
        TRAIN + " --out {t}/run --time-limit -1",
        "--time-limit must be a positive",
        None,
    ),
    ("upscale --tile 0", UPSCALE + " --out {t}/up --tile 0", "--tile must be at least 1", None),
    ("upscale --overlap -1", UPSCALE + " --out {t}/up --overlap -1", "--overlap 0 or more", None),
    # devices
    ("upscale --device meta", UPSCALE + " --out {t}/up --device meta", "does not run on device 'meta'", None),
    ("upscale --device xpu", UPSCALE + " --out {t}/up --device xpu", "does not run on device 'xpu'", None),
    ("upscale --device cuda:7", UPSCALE + " --out {t}/up --device cuda:7", "cuda:7 asked for", None),
    ("upscale --device gpu0", UPSCALE + " --out {t}/up --device gpu0", "unknown device 'gpu0'", None),
    ("train --device meta", TRAIN + " --out {t}/run --device meta", "does not run on device 'meta'", None),
    ("evaluate --device xpu", "evaluate --weights {t}/tiny.safetensors --device xpu", "device 'xpu'", None),
    # weights: metadata checked against the tensors before a network is built; NaN and inf refused
    ("weights with NaN", UPSCALE.replace("tiny", "nan") + " --out {t}/up", "hold NaN or inf", None),
    ("weights with inf", UPSCALE.replace("tiny", "inf") + " --out {t}/up", "hold NaN or inf", None),
    (
        "metadata n_blocks 1e9",
        UPSCALE.replace("tiny", "blocks1e9") + " --out {t}/up",
        "n_blocks must be",
        None,
    ),
    (
        "metadata channels 1e5",
        UPSCALE.replace("tiny", "channels1e5") + " --out {t}/up",
        "channels must be",
        None,
    ),
    ("metadata not JSON", UPSCALE.replace("tiny", "notjson") + " --out {t}/up", "is not JSON", None),
    ("metadata a list", UPSCALE.replace("tiny", "list") + " --out {t}/up", "must hold exactly", None),
    ("metadata strings", UPSCALE.replace("tiny", "strings") + " --out {t}/up", "whole numbers", None),
    ("metadata vs tensors", UPSCALE.replace("tiny", "twoblocks") + " --out {t}/up", "do not fit", None),
    ("metadata scale 3", UPSCALE.replace("tiny", "x3") + " --out {t}/up", "scale must be 2, 4 or 8", None),
    (
        "srgan --init not JSON",
        "train srgan --init {t}/notjson.safetensors --out {t}/gan",
        "is not JSON",
        None,
    ),
    (
        "srgan --init a list",
        "train srgan --init {t}/list.safetensors --out {t}/gan",
        "must hold exactly",
        None,
    ),
    (
        "srgan --init 1e9 blocks",
        "train srgan --init {t}/blocks1e9.safetensors --out {t}/gan",
        "n_blocks",
        None,
    ),
    ("srgan --init with NaN", "train srgan --init {t}/nan.safetensors --out {t}/gan", "NaN or inf", None),
    ("srgan --init missing", "train srgan --init {t}/none.safetensors --out {t}/gan", "no such file", None),
    # images
    (
        "upscale a bomb",
        "upscale {t}/big/big.png --weights {t}/tiny.safetensors --out {t}/up",
        "48x48 pixels",
        pixel_limit(2000),
    ),
    (
        "train on a bomb",
        TRAIN.replace("{t}/data", "{t}/big") + " --out {t}/run",
        "megapixel limit",
        pixel_limit(2000),
    ),
    (
        "upscale a bomb beyond twice the limit",
        "upscale {t}/big/big.png --weights {t}/tiny.safetensors --out {t}/up",
        "2304 pixels",
        pixel_limit(1000),
    ),
    ("upscale beyond memory", UPSCALE + " --out {t}/up --overlap 0", "--tile 32", free_memory(2_000_000)),
    (
        "upscale result beyond memory",
        UPSCALE + " --out {t}/up",
        "makes a 192x192 image",
        free_memory(100_000),
    ),
    ("upscale out of memory", UPSCALE + " --out {t}/up", "out of memory upscaling 48x48", out_of_memory),
    (
        "upscale float TIFF beyond 1",
        UPSCALE.replace("val/c.png", "hdr.tif") + " --out {t}/up",
        "float pixels",
        None,
    ),
    (
        "upscale 32-bit TIFF",
        UPSCALE.replace("val/c.png", "int32.tif") + " --out {t}/up",
        "32-bit integer",
        None,
    ),
    (
        "upscale a cut PNG",
        UPSCALE.replace("val/c.png", "cut.png") + " --out {t}/up",
        "not a readable image",
        None,
    ),
    (
        "upscale a folder",
        UPSCALE.replace("val/c.png", "folder.png") + " --out {t}/up",
        "a folder, not an image",
        None,
    ),
    # downloads: "check the connection" only for network failures
    (
        "fetch from an ftp2 mirror",
        "fetch Set5 --mirror ftp2://example.org/data",
        "unsupported mirror URL",
        None,
    ),
    ("fetch from a mirror without scheme", "fetch Set5 --mirror example.org", "unsupported mirror URL", None),
    (
        "fetch, server down",
        "fetch Set5 --mirror http://127.0.0.1:{port}",
        "check the connection",
        data_folder,
    ),
    (
        "fetch over a corrupt file, server down",
        "fetch Set5 --mirror http://127.0.0.1:{port}",
        "does not match its sha256 (corrupt",
        corrupt_local_file,
    ),
    (
        "fetch into a read-only folder",
        "fetch Set5 --mirror http://127.0.0.1:{port}",
        "set SRLIB_DATA",
        read_only("ro"),
    ),
    ("fetch a file larger than listed", "fetch Set5 --mirror {mirror}", "more than the", oversized_server),
]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content (the test's files are small)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("case,command,fragment,simulate", CASES, ids=[c[0] for c in CASES])
def test_bad_input_ends_in_one_line_exit_2_and_leaves_nothing(
    world, monkeypatch, capsys, case, command, fragment, simulate
):
    monkeypatch.delenv("SRLIB_DATA", raising=False)
    if simulate is not None:
        simulate(monkeypatch, world)
    if case == "fetch into a read-only folder":
        monkeypatch.setenv("SRLIB_DATA", str(world / "ro"))
    before = snapshot(world)
    mirror = os.environ.get("MIRROR", "")
    argv = command.format(t=world, port=closed_port(), mirror=mirror).split()
    code = main(argv)  # an exception other than UserError escapes here: a traceback, and the test fails
    err = capsys.readouterr().err
    assert code == 2, f"exit code {code}, stderr {err!r}"
    assert err.startswith("srlib: error: ") and err.count("\n") == 1, err
    assert fragment in err and "Traceback" not in err, err
    assert snapshot(world) == before  # nothing written, nothing half-written, earlier files kept
