"""Concepts with one home each: told apart by type and errno, not by message text; shared checks shared."""

import errno
import os
import shutil

import pytest
import torch

from srlib import files, upscale_files
from srlib.checkpoint import read_state_dict
from srlib.config import TrainConfig
from srlib.constants import SCALES
from srlib.errors import UserError
from srlib.images import sample_image, save_image
from srlib.interpolate import interpolate_models
from srlib.models import SRResNet
from srlib.weights import check_architecture


def test_a_gpu_fault_that_mentions_memory_is_not_called_out_of_memory(tmp_path, monkeypatch):
    def fault(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(upscale_files, "upscale_image", fault)
    image = tmp_path / "a.png"
    save_image(sample_image("chelsea")[:, :16, :16], image)
    with pytest.raises(RuntimeError, match="illegal memory access"):  # a bug to report, not a tile size
        upscale_files.upscale_file(SRResNet(2, 1, 8).eval(), image, tmp_path / "out")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_or_quota_is_told_by_errno(tmp_path, code):
    with pytest.raises(UserError, match="no space left on"), files.atomic_path(tmp_path / "f") as tmp:
        tmp.write_bytes(b"half")
        raise OSError(code, os.strerror(code))


def test_an_error_that_only_says_no_space_is_not_a_full_disk(tmp_path):
    with pytest.raises(ValueError) as raised, files.atomic_path(tmp_path / "f"):  # the disk has room
        raise ValueError("No space left on device (os error 28)")
    assert type(raised.value) is ValueError  # not turned into UserError("no space left on ...")


def test_a_full_disk_without_an_errno_is_told_by_the_free_space_but_a_user_error_stays(tmp_path, monkeypatch):
    monkeypatch.setattr(files.shutil, "disk_usage", lambda folder: shutil_usage(10, 10, 0))
    with pytest.raises(UserError, match="no space left on"), files.atomic_path(tmp_path / "f"):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    with pytest.raises(UserError, match="larger than the registry says"), files.atomic_path(tmp_path / "f"):
        raise UserError("larger than the registry says")


def shutil_usage(total: int, used: int, free: int):
    return shutil._ntuple_diskusage(total, used, free)


def test_a_state_dict_file_holding_pickled_code_is_refused_in_one_line(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(1), "f": os.getcwd}, path)
    with pytest.raises(UserError, match=r"evil\.pth: not a readable state dict \(UnpicklingError\); give X"):
        read_state_dict(path, "give X")
    with pytest.raises(UserError, match=r"nope\.pth: no such file; give X"):
        read_state_dict(tmp_path / "nope.pth", "give X")
    torch.save({"weight": torch.ones(2)}, path)
    assert torch.equal(read_state_dict(path, "give X")["weight"], torch.ones(2))


@pytest.mark.parametrize("scale", [3, 16])
def test_every_check_of_the_scale_refuses_what_the_network_cannot_build(scale):
    with pytest.raises(UserError, match="2, 4 or 8"):
        SRResNet(scale, 1, 8)
    with pytest.raises(UserError, match="2, 4 or 8"):
        TrainConfig(out="x", scale=scale, crop=96).check()
    with pytest.raises(UserError):
        check_architecture({"scale": scale, "n_blocks": 1, "channels": 8})
    assert all(SRResNet(s, 0, 4).scale == s for s in SCALES)


def test_a_benchmark_folder_is_refused_for_validation(tmp_path):
    with pytest.raises(UserError, match="is a benchmark set, kept for evaluation"):
        TrainConfig(out="x", val_dir=str(tmp_path / "benchmarks" / "Set14" / "HR")).check()
    TrainConfig(out="x", val_dir=str(tmp_path / "val")).check()


def test_generators_of_two_sizes_are_refused_naming_both():
    with pytest.raises(UserError, match=r"A is SRResNet\(.*'channels': 8.*B is SRResNet.*: different arch"):
        interpolate_models(SRResNet(2, 1, 8), SRResNet(2, 1, 16), 0.5)
    assert isinstance(interpolate_models(SRResNet(2, 1, 8), SRResNet(2, 1, 8), 0.5), SRResNet)
