"""Training's bad input and lost work: refused before any work (nothing left in the folder), every stop
signal writes a checkpoint, and a run folder can always be resumed or started again."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from srlib.checkpoint import load_checkpoint
from srlib.cli import main
from srlib.errors import UserError
from srlib.images import sample_image, save_image
from srlib.train import TrainConfig, make_trainer

TINY = "--steps 2 --batch-size 2 --crop 24 --n-blocks 1 --channels 8"


@pytest.fixture
def world(tmp_path: Path) -> Path:
    coffee = sample_image("coffee")
    save_image(coffee[:, :40, :48], tmp_path / "data" / "a.png")
    save_image(coffee[:, 100:140, 200:248], tmp_path / "data" / "b.png")
    save_image(coffee[:, 200:248, 300:348], tmp_path / "val" / "c.png")
    save_image(coffee[:, :40, :40], tmp_path / "small" / "ok.png")
    save_image(coffee[:, :18, :40], tmp_path / "small" / "thin.png")  # 16 rows at x4, 8 after shaving: < 11
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "c.png").write_bytes((tmp_path / "val" / "c.png").read_bytes()[:80])
    return tmp_path


def train(out: str, more: str = "", val: str = "val") -> str:
    return f"train srresnet --data {{t}}/data --val-dir {{t}}/{val} --out {{t}}/{out} {TINY} {more}"


CASES = [
    ("val image too small for SSIM", train("run", val="small"), "small/thin.png: 18x40 pixels is too small"),
    ("val image unreadable", train("run", val="cut"), "not a readable image"),
    ("batch size 1e9", train("run", "--batch-size 1000000000"), "batch_size 1000000000 of 24x24 crops needs"),
    ("seed 2**70", train("run", f"--seed {2**70}"), "seed must be a whole number from 0 to 2**63 - 1"),
    ("seed -1", train("run", "--seed -1"), "seed must be a whole number"),
]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("case,command,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_training_input_is_refused_before_any_work(world, capsys, case, command, fragment):
    before = snapshot(world)
    assert main(command.format(t=world).split()) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlib: error: ") and err.count("\n") == 1 and fragment in err, err
    assert snapshot(world) == before and not (world / "run").exists()  # no config.json, no .lock


def test_a_folder_refused_for_its_validation_images_can_start_again(world, capsys):
    assert main(train("run", val="small").format(t=world).split()) == 2
    assert main(train("run").format(t=world).split()) == 0  # the same --out, good validation images
    assert load_checkpoint(world / "run" / "checkpoint.pt")["step"] == 2


@pytest.mark.parametrize("name", ["SIGHUP", "SIGQUIT", "SIGTERM"])
def test_hangup_and_quit_write_a_checkpoint_like_sigterm(world, monkeypatch, name):
    sig = getattr(signal, name, None)
    if sig is None:
        pytest.skip(f"no {name} on this platform")
    config = TrainConfig(
        out=str(world / "run"), data=str(world / "data"), val_dir=str(world / "val"), steps=100,
        batch_size=2, crop=24, n_blocks=1, channels=8, checkpoint_every=1000, log_every=1000,
    )  # fmt: skip
    trainer = make_trainer(config)
    step = trainer.train_step

    def step_then_signal(lr, hr):
        losses = step(lr, hr)
        if trainer.step == 2:  # the third step: the ssh session closes while it runs
            os.kill(os.getpid(), sig)
        return losses

    monkeypatch.setattr(trainer, "train_step", step_then_signal)
    ignore = lambda signum, frame: None  # noqa: E731  (the run's handler replaces it; were it not, the
    before = signal.signal(sig, ignore)  # default action would end pytest itself)
    try:
        with pytest.raises(KeyboardInterrupt):
            trainer.run(progress=False)
        assert signal.getsignal(sig) is ignore  # the handler is restored
    finally:
        signal.signal(sig, before)
    assert load_checkpoint(world / "run" / "checkpoint.pt")["step"] == 3
    assert make_trainer(config, resume=True).step == 3


def test_resume_takes_the_same_data_folder_spelled_another_way(world, monkeypatch, capsys):
    assert main(train("run").format(t=world).split()) == 0
    monkeypatch.chdir(world)
    resume = "train srresnet --out run --resume --steps 3 --data data --val-dir ./val/ --seed 0"
    assert main(resume.split()) == 0, capsys.readouterr().err
    assert load_checkpoint(world / "run" / "checkpoint.pt")["step"] == 3
    assert main(f"train srresnet --out run --resume --steps 4 --data {world / 'val'}".split()) == 2
    assert "other settings: data" in capsys.readouterr().err  # another folder is still refused


RUN_CASES = [
    ("until 1.5", {"until": 1.5}, "until must be a step number"),
    ("until '1'", {"until": "1"}, "until must be a step number"),
    ("until -5", {"until": -5}, "until must be a step number"),
    ("time_limit '5'", {"time_limit": "5"}, "time_limit must be a number of seconds"),
    ("time_limit NaN", {"time_limit": float("nan")}, "time_limit must be a number of seconds"),
    ("progress 'no'", {"progress": "no"}, "progress must be True, False or None"),
]


def tiny_config(world: Path, **settings) -> TrainConfig:
    return TrainConfig(
        out=str(world / "run"), data=str(world / "data"), val_dir=str(world / "val"), steps=2, batch_size=2,
        crop=24, n_blocks=1, channels=8, device="cpu", **settings,
    )  # fmt: skip


@pytest.mark.parametrize("case,kwargs,fragment", RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_bad_run_arguments_are_refused_before_any_work(world, case, kwargs, fragment):
    trainer = make_trainer(tiny_config(world))
    with pytest.raises(UserError, match=re.escape(fragment)):
        trainer.run(**kwargs)
    assert not (world / "run").exists()  # no config.json, no .lock


def test_validation_images_with_one_stem_are_all_used(world):
    save_image(sample_image("coffee")[:, :48, :48], world / "val" / "c.jpg")
    save_image(sample_image("coffee")[:, 48:96, :48], world / "val" / "sub" / "c.png")
    trainer = make_trainer(tiny_config(world))
    assert sorted(trainer.val_images) == ["c.jpg", "c.png", "sub/c.png"]  # not one "c" for all three
