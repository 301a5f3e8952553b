"""srlib.course (what the notebooks share) and srlib.plot's architecture diagrams."""

import time
from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from srlib.checkpoint import load_checkpoint
from srlib.course import (
    SMOKE_BANNER,
    finish,
    introduce,
    live_train,
    own_generators,
    project_root,
    run_folder,
    saved_step,
    shipped_record,
    show_panel,
    start_generator,
    train_config,
    where_it_runs,
)
from srlib.images import save_image
from srlib.models import Discriminator, SRResNet
from srlib.plot import SUM, architecture, architecture_figure
from srlib.profiles import get_profile
from srlib.train import read_history
from srlib.weights import pretrained_path, save_generator


def test_srresnet_architecture_reads_the_paper_notation_from_the_model():
    groups = architecture(SRResNet(scale=4, n_blocks=3, channels=8))
    labels = [g.labels for g in groups]
    assert labels[0] == ["Conv\nk9n8s1"] and labels[1] == ["PReLU"]
    block = groups[2]
    assert block.labels == ["Conv\nk3n8s1", "BN", "PReLU", "Conv\nk3n8s1", "BN", SUM]
    assert block.repeat == 3 and block.skip_from == 2  # a residual block's skip spans itself
    assert labels[3:6] == [["Conv\nk3n8s1"], ["BN"], [SUM]]
    assert groups[5].skip_from == 2  # the long skip: from the blocks' input to after the closing BN
    assert groups[6].labels == ["Conv\nk3n32s1", "Pixel\nShuffler x2", "PReLU"] and groups[6].repeat == 2
    assert labels[-1] == ["Conv\nk9n3s1"]
    assert architecture(SRResNet(scale=2, n_blocks=1, channels=8))[6].repeat == 1  # follows the scale


def test_discriminator_architecture_doubles_channels_and_strides_every_second_conv():
    convs = [g.labels[0] for g in architecture(Discriminator(base=8)) if g.labels[0].startswith("Conv")]
    expected = [f"Conv\nk3n{8 * 2 ** (i // 2)}s{1 + i % 2}" for i in range(8)]
    assert convs == expected
    tail = [g.labels[0] for g in architecture(Discriminator(base=8))][-3:]
    assert tail == ["Dense\n(1024)", "Leaky\nReLU", "Dense\n(1)"]


def test_architecture_figure_draws_every_layer_and_the_repeat_counts():
    fig = architecture_figure(SRResNet(n_blocks=5, channels=8), title="G")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "x 5" in texts and "x 2" in texts
    assert texts.count("Conv\nk3n8s1") == 3 and "Conv\nk9n8s1" in texts
    assert sum(g.repeat * len(g.labels) for g in architecture(SRResNet(n_blocks=5, channels=8))) > len(
        [t for t in texts if not t.startswith("x ")]
    )  # repeated blocks are drawn once


def test_run_folders_live_under_runs_of_the_project(tmp_path):
    (tmp_path / "notebooks").mkdir()
    assert project_root(tmp_path / "notebooks") == tmp_path
    assert project_root(tmp_path) == tmp_path
    assert project_root(tmp_path / "notebooks" / "solutions") == tmp_path
    assert run_folder("04_srresnet", get_profile("cpu"), tmp_path / "notebooks") == tmp_path / "runs" / (
        "04_srresnet_cpu"
    )


def test_introduce_prints_the_banner_and_the_no_gpu_line_where_they_apply(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    smoke, cpu, gpu = (get_profile(n) for n in ("smoke", "cpu", "gpu"))
    introduce(smoke)
    out = capsys.readouterr().out
    assert smoke.describe() in out and SMOKE_BANNER in out and "no GPU" not in out
    introduce(smoke, trains=False)  # e.g. notebook 01's baselines are real numbers
    assert SMOKE_BANNER not in capsys.readouterr().out
    introduce(cpu)
    assert capsys.readouterr().out.strip().splitlines() == [cpu.describe(), f"machine: {where_it_runs()}"]
    introduce(gpu)  # a GPU was expected: one line says how to get one
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[2].startswith("no GPU")


def test_finish_prints_the_profile_the_machine_and_the_seconds_since_introduce(capsys, monkeypatch):
    clock = iter([100.0, 225.4])
    monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
    cpu = get_profile("cpu")
    introduce(cpu, trains=False)
    capsys.readouterr()
    finish(cpu)
    line = capsys.readouterr().out.strip()
    assert line == f"this notebook ran under profile 'cpu' on {where_it_runs()} in 2 min 05 s"


def test_train_config_takes_the_profile_sizes_and_the_init_generators(tmp_path):
    smoke = get_profile("smoke")
    c = train_config(smoke, tmp_path / "run", chunks=3)
    assert (c.steps, c.batch_size, c.n_blocks, c.channels) == (20, 4, 2, 16)
    assert c.val_every == c.checkpoint_every == 7 and c.max_images == smoke.train_images
    init = save_generator(SRResNet(n_blocks=3, channels=8), tmp_path / "g.safetensors")
    g = train_config(smoke, tmp_path / "gan", "srgan", chunks=2, init=str(init), content="mse")
    assert (g.steps, g.batch_size, g.n_blocks, g.channels, g.content) == (6, 2, 3, 8, "mse")
    assert g.val_every == 3
    assert train_config(smoke, tmp_path / "r", steps=9, learning_rate=1e-3).learning_rate == 1e-3


def test_the_cpu_profiles_srresnet_takes_its_schedule_and_budget_and_srgan_its_own_rate(tmp_path):
    cpu = get_profile("cpu")
    c = train_config(cpu, tmp_path / "run")
    assert (c.schedule, c.budget_seconds, c.learning_rate) == (cpu.schedule, cpu.budget_seconds, cpu.lr)
    assert c.schedule != "constant" and c.budget_seconds  # the cpu recipe (issue 24)
    init = save_generator(SRResNet(n_blocks=cpu.n_blocks, channels=cpu.channels), tmp_path / "g.safetensors")
    g = train_config(cpu, tmp_path / "gan", "srgan", init=str(init))
    assert (g.schedule, g.budget_seconds, g.learning_rate) == ("constant", None, cpu.srgan_lr)


def _tiny_run(tmp_path, steps=4, chunks=2):
    for i in range(3):
        img = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(i))
        save_image(img, tmp_path / "d" / f"{i}.png")
    save_image(torch.rand(3, 64, 64), tmp_path / "v" / "v.png")  # SSIM needs more than its window
    return train_config(
        get_profile("smoke"), tmp_path / "run", chunks=chunks, steps=steps, data=str(tmp_path / "d"),
        val_dir=str(tmp_path / "v"), crop=16, batch_size=2, n_blocks=1, channels=4, device="cpu",
    )


def test_live_train_redraws_after_each_chunk_and_a_rerun_continues(tmp_path):
    config = _tiny_run(tmp_path, steps=4, chunks=2)
    shown = []
    live_train(replace(config, steps=2), lambda h: h["step"][-1], show=shown.append)
    assert shown == [2] and saved_step(config.out) == 2
    live_train(config, lambda h: h["step"][-1], show=shown.append)  # a longer run continues the first
    assert shown == [2, 4] and read_history(f"{config.out}/history.csv")["step"] == [2, 4]
    whole = replace(config, out=str(tmp_path / "whole"))
    live_train(whole, lambda h: None, show=lambda x: None)
    for a, b in zip(load_checkpoint(f"{config.out}/checkpoint.pt")["generator"].values(),
                    load_checkpoint(f"{whole.out}/checkpoint.pt")["generator"].values(), strict=True):
        assert torch.equal(a, b)  # continued in chunks == trained in one go
    live_train(config, lambda h: "done", show=shown.append)  # finished: shows the curves, trains nothing
    assert shown[-1] == "done" and saved_step(config.out) == 4
    live_train(replace(config, steps=2), lambda h: h["step"][-1], start_over=True, show=shown.append)
    assert saved_step(config.out) == 2 and read_history(f"{config.out}/history.csv")["step"][-1] == 2


def test_live_train_stops_on_its_time_budget_and_continues_when_run_again(tmp_path, capsys):
    config = _tiny_run(tmp_path, steps=4, chunks=1)  # one chunk of 4 steps, a log every 4
    config = replace(config, log_every=1)
    live_train(config, lambda h: None, minutes=0, show=lambda x: None)  # out of time at the first log
    assert saved_step(config.out) == 1 and "run the cell again" in capsys.readouterr().out
    live_train(config, lambda h: None, show=lambda x: None)
    assert saved_step(config.out) == 4


def test_live_train_ends_a_run_whose_budget_is_spent_and_a_rerun_trains_no_more(tmp_path, capsys):
    config = replace(_tiny_run(tmp_path, steps=100, chunks=1), budget_seconds=1e-9)  # spent after a step
    live_train(config, lambda h: None, show=lambda x: None)
    assert saved_step(config.out) == 1 and "budget of 1e-09 s spent" in capsys.readouterr().out
    live_train(config, lambda h: None, show=lambda x: None)
    assert saved_step(config.out) == 1


def test_show_panel_shows_a_saved_image_with_its_title(tmp_path):
    path = tmp_path / "step_000010.png"
    Image.fromarray(np.full((20, 40, 3), 200, np.uint8)).save(path)
    fig = show_panel(path)
    assert fig.axes[0].get_title() == "step_000010"
    assert fig.axes[0].images[0].get_array().shape == (20, 40, 3)


def test_shipped_records_hold_history_validation_and_panels(capsys):
    assert shipped_record("no_such_x4") is None and "reinstall srlib" in capsys.readouterr().out
    assert shipped_record("srgan_mse_x4")["history"]["d_fake"]
    record = shipped_record("srresnet_x4")
    history = record["history"]
    assert history["step"][0] > 0 and len(history["g_total"]) == len(history["step"])
    assert record["val"]["psnr"][-1] > record["val"]["bicubic_psnr"][-1]
    assert record["panels"] and all(p.suffix == ".png" for p in record["panels"])


def test_hand_over_prefers_the_students_runs_and_labels_them(tmp_path):
    smoke = get_profile("smoke")
    path, why = start_generator(smoke, tmp_path)
    assert path == pretrained_path("srresnet_x4") and "shipped" in why
    assert own_generators(smoke, tmp_path) == {}
    own = save_generator(SRResNet(n_blocks=1, channels=4), run_folder("04_srresnet", smoke, tmp_path) /
                         "srresnet.safetensors", {"model": "srresnet"})
    gan = save_generator(SRResNet(n_blocks=1, channels=4), run_folder("05_srgan", smoke, tmp_path) /
                         "srgan.safetensors", {"model": "srgan", "content": "mse"})
    path, why = start_generator(smoke, tmp_path)
    assert path == own and "notebook 04" in why
    assert own_generators(smoke, tmp_path) == {"your srresnet": own, "your srgan-mse": gan}
    assert own_generators(get_profile("cpu"), tmp_path) == {}  # another profile's runs are not mixed in


