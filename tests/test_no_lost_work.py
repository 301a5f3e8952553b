"""No lost work: the run folder's lock, a checkpoint on Ctrl-C or SIGTERM, only finite weights in a
checkpoint, no history replaced, and kill -9 at any moment followed by --resume equal to a straight run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from srlib import files
from srlib.checkpoint import load_checkpoint
from srlib.cli import main
from srlib.errors import UserError
from srlib.images import sample_image, save_image
from srlib.train import TrainConfig, make_trainer, read_history

TINY = "--batch-size 2 --crop 24 --n-blocks 1 --channels 8 --log-every 1 --val-every 1000".split()
SRC = str(Path(files.__file__).parents[1])


@pytest.fixture
def images(tmp_path: Path) -> Path:
    coffee = sample_image("coffee")
    save_image(coffee[:, :40, :48], tmp_path / "data" / "a.png")
    save_image(coffee[:, 100:140, 200:248], tmp_path / "data" / "b.png")
    save_image(coffee[:, 200:248, 300:348], tmp_path / "val" / "c.png")
    return tmp_path


def train_args(images: Path, out: str, *more: str) -> list[str]:
    return ["train", "srresnet", "--out", str(images / out), "--data", str(images / "data")] + [
        "--val-dir",
        str(images / "val"),
        *TINY,
        *more,
    ]


def one_line_error(capsys, fragment: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("srlib: error: ") and err.count("\n") == 1, err
    assert fragment in err, err


def start(argv: list[str]) -> subprocess.Popen:
    """``srlib`` in a child process (its own session, so that signals reach only it)."""
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "srlib", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(condition, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def logged_steps(run: Path) -> int:
    try:
        return len(read_history(run / "history.csv").get("step", []))
    except (FileNotFoundError, KeyError):
        return 0


def test_a_second_run_on_a_locked_folder_is_refused_in_one_line(images, capsys):
    with files.folder_lock(images / "run", "training run"):
        assert main(train_args(images, "run", "--steps", "2")) == 2
    one_line_error(capsys, f"in use by another training run (process {os.getpid()})")
    assert not (images / "run" / "history.csv").exists()
    assert main(train_args(images, "run", "--steps", "2")) == 0  # released at the end of the block


def test_the_lock_of_a_killed_run_is_taken_over(images, capsys):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    (images / "run").mkdir()
    (images / "run" / ".lock").write_text(gone.stdout.decode())  # what a kill -9 leaves: its pid, no lock
    assert main(train_args(images, "run", "--steps", "2")) == 0
    assert f"took over the lock of process {gone.stdout.decode().strip()}" in capsys.readouterr().err


def test_sigint_writes_a_checkpoint_at_the_current_step(images, monkeypatch):
    config = TrainConfig(
        out=str(images / "run"),
        data=str(images / "data"),
        val_dir=str(images / "val"),
        steps=100,
        batch_size=2,
        crop=24,
        n_blocks=1,
        channels=8,
        checkpoint_every=1000,
        log_every=1000,
    )
    trainer = make_trainer(config)
    step = trainer.train_step

    def step_then_ctrl_c(lr, hr):
        losses = step(lr, hr)
        if trainer.step == 2:  # the third step: Ctrl-C arrives while it runs
            os.kill(os.getpid(), signal.SIGINT)
        return losses

    monkeypatch.setattr(trainer, "train_step", step_then_ctrl_c)
    # the handlers found before the run, whatever they are: started in the background (`make test &`),
    # Python inherits SIG_IGN for SIGINT, and the trainer must put back what it found
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(KeyboardInterrupt):
        trainer.run(progress=False)
    assert load_checkpoint(images / "run" / "checkpoint.pt")["step"] == 3
    assert {sig: signal.getsignal(sig) for sig in before} == before  # handlers restored
    resumed = make_trainer(config, resume=True)
    assert resumed.step == 3


def test_sigterm_to_srlib_train_writes_a_checkpoint_and_resume_continues(images, capsys):
    run = images / "run"
    child = start(train_args(images, "run", "--steps", "100000", "--checkpoint-every", "100000"))
    wait_for(lambda: logged_steps(run) >= 3 or child.poll() is not None)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "stopped by SIGTERM at step" in err and "Traceback" not in err, err
    step = load_checkpoint(run / "checkpoint.pt")["step"]
    assert step >= 3  # not the 0 steps a checkpoint every 100,000 would have kept
    assert main(train_args(images, "run", "--steps", str(step + 1), "--resume")) == 0
    assert f"step {step + 1}, validation PSNR" in capsys.readouterr().out


def test_a_checkpoint_with_non_finite_weights_is_never_written(images, monkeypatch):
    config = TrainConfig(
        out=str(images / "run"),
        data=str(images / "data"),
        val_dir=str(images / "val"),
        steps=4,
        batch_size=2,
        crop=24,
        n_blocks=1,
        channels=8,
        checkpoint_every=1,
        log_every=1,
        val_every=1000,
    )
    trainer = make_trainer(config)
    step = trainer.train_step

    def poisoning_step(lr, hr):
        losses = step(lr, hr)
        if trainer.step == 1:  # at step 2: a BatchNorm statistic overflows; training mode never reads it
            trainer.generator.blocks[0].body[1].running_var[0] = float("inf")
        return losses

    monkeypatch.setattr(trainer, "train_step", poisoning_step)
    with pytest.raises(UserError, match=r"1 of \d+ weight tensors became NaN or inf by step 2 .*\(step 1\)"):
        trainer.run(progress=False)
    ckpt = load_checkpoint(images / "run" / "checkpoint.pt")
    assert ckpt["step"] == 1 and all(torch.isfinite(t).all() for t in ckpt["generator"].values())


def test_a_new_run_never_replaces_an_earlier_runs_history(images, capsys):
    assert main(train_args(images, "run", "--steps", "2")) == 0
    (images / "run" / "checkpoint.pt").unlink()  # as a run killed before its first checkpoint leaves it
    history = (images / "run" / "history.csv").read_text()
    capsys.readouterr()
    assert main(train_args(images, "run", "--steps", "2")) == 2
    one_line_error(capsys, "holds an earlier run's history.csv (and no checkpoint to resume)")
    assert (images / "run" / "history.csv").read_text() == history


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_equals_a_straight_run(images):
    """The audit's soak test, bounded: up to 5 kill -9s (many during checkpoint writes, one per step)."""
    steps = ["--steps", "12", "--checkpoint-every", "1"]
    assert main(train_args(images, "straight", *steps)) == 0
    run, rng, kills, began = images / "run", random.Random(0), 0, time.monotonic()
    while True:
        resume = ["--resume"] if (run / "checkpoint.pt").exists() else []
        child = start(train_args(images, "run", *steps, *resume))
        if kills < 5 and time.monotonic() - began < 40:
            wait_for(lambda c=child: (run / "checkpoint.pt").exists() or c.poll() is not None)
            time.sleep(rng.uniform(0, 0.4))
            if child.poll() is None:
                child.kill()  # SIGKILL: no handler, no finally
                kills += 1
        _, err = child.communicate(timeout=120)
        if child.returncode == 0:
            break
        assert child.returncode == -signal.SIGKILL, err
        load_checkpoint(run / "checkpoint.pt")  # whatever the moment, the checkpoint loads
    assert kills >= 1
    assert not list(run.glob(".*.partial*"))  # killed writes' temporaries were cleaned up
    straight = load_checkpoint(images / "straight" / "checkpoint.pt")
    resumed = load_checkpoint(run / "checkpoint.pt")
    assert resumed["step"] == straight["step"] == 12
    for name, tensor in straight["generator"].items():
        assert torch.equal(tensor, resumed["generator"][name]), name
