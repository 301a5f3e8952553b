"""Bad input through the command line: exit code 2, one line, no traceback, nothing left behind.

Every case is one row of `CASES`: the command (``{t}`` is the test's folder, where `world` has put small
images, weights files good and bad, a file named ``afile`` and a folder named ``adir``), a fragment of the
expected message, and optionally what to simulate (a read-only folder, a full disk, little memory).
"""

from __future__ import annotations

import errno
import http.server
import json
import math
import os
import re
import socket
import threading
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from srlib import datasets, files, images, inference, upscale_files
from srlib.backbones import backbone_weights
from srlib.cli import main
from srlib.errors import UserError
from srlib.images import modcrop, sample_image, save_image
from srlib.imresize import imresize, upscale, upscale_nearest
from srlib.inference import upscale_image
from srlib.metrics import psnr
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

    # round 2: metadata that breaks a JSON parser, junk and incomplete checkpoints, non-regular files,
    # symlinks to nowhere, folders where files go, an input named like another input's output
    weights_with(t / "deep.safetensors", "[" * 100_000)
    weights_with(t / "nested.safetensors", '{"a":' * 5000 + "1" + "}" * 5000)
    weights_with(t / "digits.safetensors", "1" * 5000)
    (t / "junk4").write_bytes(b"Jxyz")  # struct.error inside torch.load
    (t / "abcd").write_bytes(b"abcd")  # IndexError inside torch.load
    (t / "junkrun").mkdir()
    (t / "junkrun" / "checkpoint.pt").write_bytes(b"Jxyz")
    torch.save({"config": {**tiny.config(), "model": "srresnet"}, "step": 2}, t / "nogen.pt")
    os.mkfifo(t / "fifo.png")
    (t / "empty.png").write_bytes(b"")
    (t / "dangling").symlink_to(t / "nowhere" / "up")
    (t / "loop").symlink_to(t / "loop")
    (t / "clash" / "c_x4.png").mkdir(parents=True)
    (t / "lockdir" / ".lock").mkdir(parents=True)
    (t / "configdir" / "config.json").mkdir(parents=True)
    save_image(coffee[:, :16, :16], t / "pair" / "p.png")
    save_image(coffee[:, 16:32, :16], t / "pair" / "p_x4.png")  # upscaling p.png would write over it
    Image.new("L", (200, 1)).save(t / "strip.png")  # 1 x 200: runs padded to 16 x 200
    # own audit: a generator of numbers, an output name beyond the file system's 255 bytes, a long name
    numbers = {k: 5 for k in tiny.state_dict()}
    torch.save(
        {"generator": numbers, "config": {**tiny.config(), "model": "srresnet"}, "step": 2}, t / "ints.pt"
    )
    save_image(coffee[:, :16, :16], t / "long" / ("x" * 251 + ".png"))
    integers = {k: (v * 100).long() if v.is_floating_point() else v for k, v in state.items()}
    weights_with(t / "integers.safetensors", tiny.config(), integers)
    safetensors.torch.save_file(
        {k: v.contiguous() for k, v in tiny.state_dict().items()},
        str(t / "arch.safetensors"),
        metadata={"architecture": "X" * 100_000, "config": "{}"},
    )
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
        mp.setattr(upscale_files, "available_memory", lambda device: n)

    return apply


def out_of_memory(mp: pytest.MonkeyPatch, t: Path) -> None:
    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    mp.setattr(upscale_files, "upscale_image", oom)


def training_out_of_memory(mp: pytest.MonkeyPatch, t: Path) -> None:
    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")

    mp.setattr("srlib.train.train", oom)


def pixel_limit(n: int) -> Callable:
    def apply(mp: pytest.MonkeyPatch, t: Path) -> None:
        mp.setattr(Image, "MAX_IMAGE_PIXELS", n)

    return apply


def data_folder(mp: pytest.MonkeyPatch, t: Path) -> None:
    mp.setenv("SRLIB_DATA", str(t / "store"))
    (t / "store").mkdir(exist_ok=True)


def corrupt_local_file(mp: pytest.MonkeyPatch, t: Path) -> None:
    data_folder(mp, t)
    first = t / "store" / datasets.dataset_files("Set5", "HR")[0]
    first.parent.mkdir(parents=True)
    first.write_bytes(b"not the registered file")


def oversized_server(mp: pytest.MonkeyPatch, t: Path) -> None:
    """A mirror whose first Set5 file is one byte longer than the registry says; its URL goes in {mirror}."""
    data_folder(mp, t)
    path = datasets.dataset_files("Set5", "HR")[0]
    served = t / "served" / path
    served.parent.mkdir(parents=True)
    served.write_bytes(b"x" * (datasets.registry()[path].size + 1))
    mp.setenv("MIRROR", serve(t / "served"))


def unreadable_data(mp: pytest.MonkeyPatch, t: Path) -> None:
    """SRLIB_DATA on a folder that cannot be read: by its mode, and for root by os.access."""
    data_folder(mp, t)
    (t / "store").chmod(0o000)
    real = os.access
    mp.setattr(os, "access", lambda p, mode: False if Path(p) == t / "store" else real(p, mode))


def unreachable_data(mp: pytest.MonkeyPatch, t: Path) -> None:
    """SRLIB_DATA under a folder that cannot be entered (for root too: srlib.datasets' paths say so)."""
    data_folder(mp, t)

    class Unreachable(type(t)):
        def stat(self, *args, **kwargs):
            if self == t / "store":
                raise PermissionError(13, "Permission denied")
            return super().stat(*args, **kwargs)

    mp.setattr(datasets, "Path", Unreachable)


def empty_server(mp: pytest.MonkeyPatch, t: Path) -> None:
    """A reachable mirror that holds none of the files (404); its URL goes in {mirror}."""
    data_folder(mp, t)
    (t / "served").mkdir()
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
        "export {t}/checkpoint.pt {t}/old.safetensors --overwrite",
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
    (
        "train --lr nan",
        TRAIN + " --out {t}/run --lr nan",
        "the learning rate must be a positive number",
        None,
    ),
    (
        "train --lr inf",
        TRAIN + " --out {t}/run --lr inf",
        "the learning rate must be a positive number",
        None,
    ),
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
    ("upscale beyond memory", UPSCALE + " --out {t}/up --overlap 0", "--tile 32", free_memory(1_000_000)),
    (
        "upscale result beyond memory",
        UPSCALE + " --out {t}/up",
        "makes a 192x192 image",
        free_memory(100_000),
    ),
    ("upscale out of memory", UPSCALE + " --out {t}/up", "out of memory upscaling 48x48", out_of_memory),
    (
        "train out of memory",
        TRAIN + " --out {t}/run",
        "out of memory (CUDA out of memory.",
        training_out_of_memory,
    ),
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
    # round 2, lost work: no command writes over its own inputs, nor over an existing file unasked
    ("export over its checkpoint", "export {t}/checkpoint.pt {t}/checkpoint.pt", "is also an input", None),
    (
        "export over its checkpoint by another name",
        "export {t}/checkpoint.pt {t}/adir/../checkpoint.pt --overwrite",
        "is also an input",
        None,
    ),
    (
        "export over an existing file",
        "export {t}/checkpoint.pt {t}/old.safetensors",
        "old.safetensors exists; pass --overwrite",
        None,
    ),
    (
        "interpolate over its input",
        "interpolate {t}/tiny.safetensors {t}/checkpoint.pt --alpha 1 --overwrite --out {t}/tiny.safetensors",
        "is also an input",
        None,
    ),
    (
        "interpolate over an existing file",
        "interpolate {t}/tiny.safetensors {t}/checkpoint.pt --alpha 0.5 --out {t}/old.safetensors",
        "old.safetensors exists; pass --overwrite",
        None,
    ),
    (
        "upscale an output onto another input",
        "upscale {t}/pair/p.png {t}/pair/p_x4.png --weights {t}/tiny.safetensors --out {t}/pair --overwrite",
        "pair/p_x4.png is also an input",
        None,
    ),
    (
        "evaluate --json over its weights",
        "evaluate --weights {t}/tiny.safetensors --json {t}/tiny.safetensors",
        "is also an input",
        None,
    ),
    # round 2, hangs: a FIFO is not read; the memory check counts the padding of thin images
    (
        "upscale a FIFO",
        UPSCALE.replace("val/c.png", "fifo.png") + " --out {t}/up",
        "not a regular file",
        None,
    ),
    (
        "upscale a 1-pixel-high strip beyond memory",
        UPSCALE.replace("val/c.png", "strip.png") + " --out {t}/up",
        "makes a 800x4 image",
        free_memory(500_000),
    ),
    # round 2, tracebacks that are now one line
    (
        "metadata config [ x 100000",
        UPSCALE.replace("tiny", "deep") + " --out {t}/up",
        "100,000 characters",
        None,
    ),
    (
        "metadata config 5000-digit number",
        UPSCALE.replace("tiny", "digits") + " --out {t}/up",
        "5,000 characters",
        None,
    ),
    (
        "interpolate, metadata config nested 5000 deep",
        "interpolate {t}/nested.safetensors {t}/tiny.safetensors --alpha 0.5 --out {t}/i.safetensors",
        "not an SRResNet config",
        None,
    ),
    ("export a 4-byte junk file", "export {t}/junk4 {t}/x.safetensors", "unreadable checkpoint", None),
    ("export 'abcd'", "export {t}/abcd {t}/x.safetensors", "unreadable checkpoint", None),
    (
        "upscale --weights a 4-byte junk file",
        UPSCALE.replace("tiny.safetensors", "junk4") + " --out {t}/up",
        "unreadable checkpoint",
        None,
    ),  # fmt: skip
    (
        "resume from a 4-byte junk checkpoint",
        TRAIN + " --out {t}/junkrun --resume",
        "unreadable checkpoint",
        None,
    ),
    (
        "export a checkpoint without generator",
        "export {t}/nogen.pt {t}/x.safetensors",
        "no 'generator'",
        None,
    ),
    (
        "upscale --overwrite onto a folder",
        UPSCALE + " --out {t}/clash --overwrite",
        "c_x4.png is a folder, where an output goes",
        None,
    ),
    ("train where .lock is a folder", TRAIN + " --out {t}/lockdir", ".lock is a folder", None),
    ("train where config.json is a folder", TRAIN + " --out {t}/configdir", "config.json is a folder", None),
    (
        "fetch with SRLIB_DATA under an unreadable folder",
        "fetch Set5 --mirror http://127.0.0.1:{port}",
        "cannot be reached (permissions)",
        unreachable_data,
    ),
    (
        "fetch with SRLIB_DATA unreadable",
        "fetch Set5 --mirror http://127.0.0.1:{port}",
        "is not readable",
        unreadable_data,
    ),
    ("fetch from 'http://[::1'", "fetch Set5 --mirror http://[::1", "unsupported mirror URL", None),
    # round 2: checked before, not after
    (
        "upscale a good image, then an empty file",
        "upscale {t}/val/c.png {t}/empty.png --weights {t}/tiny.safetensors --out {t}/up",
        "empty.png: not a readable image",
        None,
    ),
    ("upscale --out a dangling symlink", UPSCALE + " --out {t}/dangling", "symbolic link to nothing", None),
    ("upscale --out a symlink loop", UPSCALE + " --out {t}/loop", "symbolic link to nothing", None),
    (
        "export to a dangling symlink",
        "export {t}/checkpoint.pt {t}/dangling",
        "symbolic link to nothing",
        None,
    ),
    # own audit: never replace a device or a pipe; names too long; generators of numbers
    ("export onto a FIFO", "export {t}/checkpoint.pt {t}/fifo.png --overwrite", "not a regular file", None),
    (
        "evaluate --json onto a FIFO",
        "evaluate --datasets Set5 --json {t}/fifo.png",
        "not a regular file",
        None,
    ),
    (
        "upscale to an output name beyond 255 bytes",
        "upscale {t}/long/" + "x" * 251 + ".png --weights {t}/tiny.safetensors --out {t}/up",
        "too long for the file system",
        None,
    ),
    (
        "a generator of numbers",
        UPSCALE.replace("tiny.safetensors", "ints.pt") + " --out {t}/up",
        "no 'generator'",
        None,
    ),
    (
        "a 100,000-character architecture",
        UPSCALE.replace("tiny", "arch") + " --out {t}/up",
        "holds a " + "X" * 40 + "..., not",
        None,
    ),
    (
        "weights stored as integers",
        UPSCALE.replace("tiny", "integers") + " --out {t}/up",
        "of another kind (integer or float)",
        None,
    ),
    # round 2, smaller: a reachable mirror without the file is not "no network"
    (
        "fetch from a mirror without the file",
        "fetch Set5 --mirror {mirror}",
        "answered HTTP 404",
        empty_server,
    ),
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


# --- the API: shapes, dtypes and scales are checked (hypothesis) ----------------------------------------

DTYPES = st.sampled_from([torch.float32, torch.float64, torch.uint8, torch.int64, torch.bool])
SCALES = st.one_of(
    st.integers(-3, 5), st.sampled_from([0.0, -1.0, 0.5, 2.0, 2.5, math.nan, math.inf, -math.inf, True])
)
SHAPES = st.lists(st.integers(0, 7), min_size=0, max_size=5).map(tuple)


def whole(scale: object) -> bool:
    number = isinstance(scale, (int, float)) and not isinstance(scale, bool) and math.isfinite(scale)
    return number and scale >= 1 and scale == int(scale)


@settings(max_examples=150, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, scale=SCALES)
def test_resizing_either_gives_the_right_shape_or_a_user_error(shape, dtype, scale):
    x = torch.zeros(shape, dtype=dtype)
    images = len(shape) in (3, 4) and min(shape[-2:], default=0) >= 1
    valid = {
        "imresize": images
        and dtype.is_floating_point
        and isinstance(scale, (int, float))
        and not isinstance(scale, bool)
        and math.isfinite(scale)
        and scale * min(shape[-2:]) >= 1,  # at least one pixel out
        "upscale": images and dtype.is_floating_point and whole(scale),
        "upscale_nearest": len(shape) >= 2 and min(shape[-2:]) >= 1 and whole(scale),
        "modcrop": len(shape) >= 2 and whole(scale) and min(shape[-2:]) >= scale,
    }
    calls = {
        "imresize": lambda: imresize(x, scale),
        "upscale": lambda: upscale(x, scale, "bicubic"),
        "upscale_nearest": lambda: upscale_nearest(x, scale),
        "modcrop": lambda: modcrop(x, scale),
    }
    for name, call in calls.items():
        if not valid[name]:
            with pytest.raises(UserError):
                call()
            continue
        h, w = shape[-2:]
        expected = {
            "imresize": (math.ceil(scale * h), math.ceil(scale * w)),
            "upscale": (h * scale, w * scale),
            "upscale_nearest": (h * scale, w * scale),
            "modcrop": (h - h % scale, w - w % scale),
        }[name]
        assert call().shape == (*shape[:-2], *expected), name


@settings(max_examples=80, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, border=st.integers(-2, 4), other=st.booleans())
def test_psnr_either_scores_float_images_or_gives_a_user_error(shape, dtype, border, other):
    sr = torch.full(shape, 0.5).to(dtype)
    hr = torch.zeros(shape if not other or not shape else (*shape[:-1], shape[-1] + 1)).to(dtype)
    fits = len(shape) in (3, 4) and shape[-3] == 3 and min(shape[-2:]) > 2 * max(border, 0)
    if dtype.is_floating_point and not other and fits and border >= 0:
        value = psnr(sr, hr, border=border)
        assert value.shape == ((1,) if len(shape) == 3 else (shape[0],))  # one value per image
        assert torch.isfinite(value).all()
    else:
        with pytest.raises(UserError):
            psnr(sr, hr, border=border)


@settings(max_examples=40, deadline=None)
@given(shape=SHAPES, dtype=DTYPES)
def test_upscale_image_takes_one_float_rgb_image_or_gives_a_user_error(shape, dtype):
    model = SRResNet(2, 0, 4)
    x = torch.rand(shape).to(dtype) if shape else torch.tensor(0.5).to(dtype)
    if len(shape) == 3 and shape[0] == 3 and min(shape[1:]) >= 1 and dtype.is_floating_point:
        out = upscale_image(model, x)
        assert out.shape == (3, 2 * shape[1], 2 * shape[2]) and out.dtype == dtype
    else:
        with pytest.raises(UserError):
            upscale_image(model, x)


# --- images: no silent wrong results --------------------------------------------------------------------


def test_exif_orientation_is_applied_and_the_exif_kept(tmp_path):
    stored = np.zeros((16, 24, 3), np.uint8)
    stored[:8, :, 0] = 255  # a red top half as stored; orientation 6: turn 90 degrees clockwise to show
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=100)
    x = images.load_image(tmp_path / "phone.jpg")
    assert x.shape == (3, 24, 16)  # upright: taller than wide
    assert x[0, :, -4:].mean() > 0.9 and x[0, :, :4].mean() < 0.1  # the red half is now on the right
    out = upscale_files.upscale_file(SRResNet(2, 0, 4), tmp_path / "phone.jpg", tmp_path / "up")
    with Image.open(out) as img:
        assert img.size == (32, 48)
        assert img.getexif().get(0x010F) == "PhoneMaker" and img.getexif().get(0x0112) == 1


def test_multi_frame_files_warn_that_only_the_first_frame_is_used(tmp_path):
    frames = [Image.new("RGB", (5, 4), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    for name in ("anim.gif", "pages.tif"):
        with pytest.warns(UserWarning, match="holds 2 frames; only the first is used"):
            x = images.load_image(tmp_path / name)
        assert x[0].mean() > 0.9 and x[2].mean() < 0.1  # the first frame: red


def test_float_tiffs_in_unit_range_are_read_as_they_are(tmp_path):
    values = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    Image.fromarray(values).save(tmp_path / "f.tif")
    x = images.load_image(tmp_path / "f.tif")
    assert torch.allclose(x[1], torch.from_numpy(values))


def test_a_one_pixel_image_keeps_its_colour(tmp_path):
    torch.manual_seed(0)
    model = SRResNet(4, 1, 8)
    colour = torch.tensor([0.8, 0.1, 0.2]).view(3, 1, 1)
    one = inference.upscale_image(model, colour)
    wide = inference.upscale_image(model, colour.expand(3, 32, 32).contiguous())
    assert one.shape == (3, 4, 4)
    # a 1x1 image comes out as the middle of a constant image of its colour, not of zero-padding
    assert torch.allclose(one, wide[:, 60:64, 60:64], atol=0.02)


def test_psnr_refuses_8bit_tensors_instead_of_scoring_them_wrong():
    x = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    with pytest.raises(UserError, match="divide 8-bit images by 255"):
        psnr(x, x)
    assert torch.isinf(psnr(x.float() / 255, x.float() / 255))


# --- writes: a full disk keeps the old file; killed writers' temporaries are cleaned up ----------------


def test_a_full_disk_that_torch_reports_vaguely_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"the previous checkpoint")
    monkeypatch.setattr(files.shutil, "disk_usage", lambda folder: shutil_usage(total=10, used=10, free=0))
    with pytest.raises(
        UserError,
        match=re.escape(
            f"no space left on {tmp_path}: checkpoint.pt was not written (any earlier one is kept)"
        ),
    ):
        with files.atomic_path(target) as tmp:
            tmp.write_bytes(b"half a chec")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    assert target.read_bytes() == b"the previous checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def shutil_usage(total: int, used: int, free: int):
    import shutil

    return shutil._ntuple_diskusage(total, used, free)


def test_temporaries_of_a_killed_writer_are_removed_at_the_next_write(tmp_path):
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "from srlib.files import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'half')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(datasets.__file__).parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "big.pt")], stdout=subprocess.PIPE, env=env
    )
    assert child.stdout.readline() == b"writing\n"
    child.kill()  # kill -9: no finally block runs
    child.wait()
    (stale,) = tmp_path.glob(".big.pt.*")
    with files.atomic_path(tmp_path / "other.txt") as mine:  # the next write removes it
        mine.write_text("x")
        assert not stale.exists()
        assert files.remove_stale_temporaries(tmp_path) == [] and mine.exists()  # a live writer's stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]


def test_downloads_get_the_usual_file_permissions(data_root, tmp_path):
    path = datasets.dataset_files("Set5", "LR")[0]
    umask = os.umask(0o022)
    try:
        local = datasets.fetch_file(path, root=tmp_path / "dl", mirror=serve(data_root))
    finally:
        os.umask(umask)
    assert local.stat().st_mode & 0o777 == 0o644


# --- round 2: concurrent writers, the file-size limit, formats and warnings -----------------------------


def test_an_exclusive_write_never_replaces_a_file_that_appeared_meanwhile(tmp_path):
    target = tmp_path / "mid_x4.png"
    with pytest.raises(UserError, match="created by another writer while this one ran"):
        with files.atomic_path(target, exclusive=True) as tmp:
            tmp.write_bytes(b"mine")
            target.write_bytes(b"the other writer's")  # a second srlib finished first
    assert target.read_bytes() == b"the other writer's"
    assert [p.name for p in tmp_path.iterdir()] == ["mid_x4.png"]  # no temporary left


def test_a_second_upscale_onto_the_same_out_is_refused_in_one_line(world, monkeypatch, capsys):
    out = world / "conc" / "c_x4.png"
    save = Image.Image.save

    def other_writer_first(self, fp, *args, **kwargs):  # the other run writes between our check and rename
        out.write_bytes(b"the other run's result")
        return save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", other_writer_first)
    assert main((UPSCALE + " --out {t}/conc").format(t=world).split()) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlib: error: ") and err.count("\n") == 1 and "another writer" in err, err
    assert out.read_bytes() == b"the other run's result"


FILE_SIZE_LIMITED = [
    ("export", "export {t}/checkpoint.pt {t}/old.safetensors --overwrite", "old.safetensors"),
    ("upscale", UPSCALE + " --out {t}/done --overwrite", "done/c_x4.png"),
    (
        "interpolate",
        "interpolate {t}/tiny.safetensors {t}/checkpoint.pt --alpha 0.5 --out {t}/old.safetensors "
        "--overwrite",
        "old.safetensors",
    ),  # fmt: skip
    ("evaluate --json", "evaluate --datasets Set5 --json {t}/old.safetensors", "old.safetensors"),
]


@pytest.mark.parametrize("case,command,kept", FILE_SIZE_LIMITED, ids=[c[0] for c in FILE_SIZE_LIMITED])
def test_the_file_size_limit_ends_in_one_line_and_keeps_the_old_file(world, capsys, case, command, kept):
    """``ulimit -f``: a real EFBIG (Python ignores SIGXFSZ), not a simulated one."""
    resource = pytest.importorskip("resource")
    if case.startswith("evaluate"):
        from conftest import real_data_root

        if real_data_root() is None:
            pytest.skip("real datasets absent: set SRLIB_DATA to a folder holding benchmarks/")
    before = (world / kept).read_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, hard))  # bytes: every result here is larger
    try:
        code = main(command.format(t=world).split())
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("srlib: error: ") and err.count("\n") == 1, err
    assert "file too large for the file-size limit" in err, err
    assert (world / kept).read_bytes() == before
    assert not list(world.rglob("*.partial*"))


def test_a_16_bit_pgm_is_read_at_its_white_level(tmp_path):
    values = np.array([[0, 1000, 4095]], dtype=">u2")
    (tmp_path / "g.pgm").write_bytes(b"P5 3 1 4095\n" + values.tobytes())
    x = images.load_image(tmp_path / "g.pgm")
    assert torch.allclose(x[0, 0], torch.tensor([0, 1000, 4095]) / 4095, atol=1e-4)


def test_overlap_0_warns_about_seams_only_when_there_are_tiles():
    model, lr = SRResNet(2, 1, 8), torch.rand(3, 20, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an image that runs whole: no warning
        upscale_image(model, lr, overlap=0)
        upscale_image(model, lr[:, :3, :5], overlap=0)  # padded to 16 x 16, still whole
    with pytest.warns(UserWarning, match="tile seams may show"):
        upscale_image(model, lr, tile=10, overlap=0)


def test_torch_hub_still_loads_the_old_name_srgan_x4():
    root = Path(datasets.__file__).parents[1]
    old = torch.hub.load(str(root), "srgan_x4", source="local")
    new = torch.hub.load(str(root), "srgan_mse_x4", source="local")
    assert old.state_dict().keys() == new.state_dict().keys()
    assert all(torch.equal(old.state_dict()[k], v) for k, v in new.state_dict().items())


# --- own audit, round 2 ----------------------------------------------------------------------------------


def test_an_input_with_a_long_name_is_upscaled_although_its_temporary_is_longer(world):
    path = world / "long" / ("x" * 240 + ".png")
    (world / "long" / ("x" * 251 + ".png")).rename(path)
    out = upscale_files.upscale_file(SRResNet(2, 0, 4), path, world / "up")  # the temporary's name is cut
    assert out.name == "x" * 240 + "_x2.png" and out.is_file()


def test_a_newline_in_a_path_still_gives_one_line(world, capsys):
    assert (
        main(["upscale", f"{world}/no\nsuch.png", "--weights", f"{world}/tiny.safetensors", "--out", "x"])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no\\nsuch.png: no such file" in err, err


def test_a_closed_pipe_on_stdout_ends_quietly(world, capsys, monkeypatch):
    def closed(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("srlib.cli.cmd_export", closed)  # e.g. `srlib ... | head -1`
    assert main(["export", f"{world}/checkpoint.pt", f"{world}/e.safetensors"]) == 141
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("arch", ["alexnet", "vgg16", "vgg19"])
def test_backbone_weights_holding_a_list_are_refused_in_one_line(tmp_path, arch):
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(UserError, match="holds a list, not a state dict"):
        backbone_weights(arch, tmp_path / "list.pth")


def test_hidden_files_of_an_image_folder_are_left_out(tmp_path):
    save_image(torch.rand(3, 8, 8), tmp_path / "a.png")
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")  # what a Mac copy leaves
    (tmp_path / ".a.png.123.x1.partial.png").write_bytes(b"half")  # a killed writer's temporary
    assert images.image_files(tmp_path) == [tmp_path / "a.png"]


@pytest.mark.parametrize("what", ["safetensors", "checkpoint"])
def test_an_unreadable_weights_file_is_one_line(world, monkeypatch, what):
    from srlib import checkpoint, weights

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(weights if what == "safetensors" else checkpoint, "open", denied, raising=False)
    read = weights.read_weights if what == "safetensors" else checkpoint.load_checkpoint
    with pytest.raises(UserError, match="cannot be read \\(Permission denied\\)"):
        read(world / "checkpoint.pt")
