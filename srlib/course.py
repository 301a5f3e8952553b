"""What the course notebooks share: the datasets each one reads, where runs live, a run's config from the
profile, chunked live training with progress bars and curves, saved panels as figures, the shipped runs'
records and the no-GPU notice.

A notebook names a run ``<notebook>_<profile>`` (e.g. ``04_srresnet_cpu``) under ``runs/`` at the top of the
project, so that notebook 05 finds notebook 04's generator and notebook 06 finds both.
"""

from __future__ import annotations

import math
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import fields, replace
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image
from tqdm.auto import tqdm

from srlib.checkpoint import load_checkpoint
from srlib.colab import check_gpu, runs_folder
from srlib.datasets import TRAINING, ensure_data
from srlib.errors import UserError, check_type
from srlib.profiles import Profile, get_profile, on_colab
from srlib.runtime import cpu_model
from srlib.train import TrainConfig, make_trainer, read_history
from srlib.weights import PRETRAINED_DIR, load_generator, pretrained_path, trained_as

# config, history, val.csv and validation panels of the shipped generators' runs (package data)
SHIPPED_RECORDS = PRETRAINED_DIR / "training"
EVAL = "eval"  # in NOTEBOOK_DATA: the profile's benchmark sets (`Profile.eval_datasets`)
# notebook -> the datasets it reads (benchmarks with their x4 LR files); 04 and 05 train on all 291 images
NOTEBOOK_DATA = {
    "01": ("Set5", EVAL),
    "02": ("Set5", "T91"),
    "03": ("Set5",),
    "04": (EVAL, *TRAINING),
    "05": TRAINING,
    "06": (EVAL,),
    "07": ("Set14", "BSD100"),
    "01 solutions": ("Set5",),
    "02 solutions": ("Set5", "T91"),
    "03 solutions": ("Set5",),
    "04 solutions": ("Set5", *TRAINING),
    "06 solutions": ("Set5",),
    "07 solutions": ("Set14", "BSD100"),
}
SMOKE_BANNER = (
    "SMOKE PROFILE: the networks trained here get a few steps at a tiny size; their numbers only show that "
    "the code runs, not what the method reaches."
)


def project_root(cwd: str | Path | None = None) -> Path:
    """The project folder: the parent of ``notebooks/`` when run from there (or from a folder inside it,
    like ``notebooks/solutions``), else the working folder (e.g. ``/content`` on Colab)."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    return next((p.parent for p in (cwd, *cwd.parents) if p.name == "notebooks"), cwd)


def run_folder(name: str, profile: Profile, root: str | Path | None = None, drive: bool = False) -> Path:
    """The folder of a notebook's run, ``runs/<name>_<profile>``: each profile keeps its own runs. With
    ``drive`` on Colab, under Google Drive instead (`srlib.colab.runs_folder`), where runs outlive the VM
    and every notebook's VM finds them."""
    check_type(profile, Profile, "run_folder: the profile (srlib.profiles.get_profile)")
    runs = runs_folder(project_root(root) / "runs", drive) if drive else project_root(root) / "runs"
    return runs / f"{name}_{profile.name}"


def notebook_datasets(notebook: str, profile: Profile | None = None) -> tuple[str, ...]:
    """The datasets notebook ``notebook`` ("01" to "07", "01 solutions", ...) reads under ``profile``
    (default: `get_profile`), each named once."""
    if notebook not in NOTEBOOK_DATA:
        raise ValueError(f"unknown notebook {notebook!r}; choose from {', '.join(NOTEBOOK_DATA)}")
    entries = NOTEBOOK_DATA[notebook]
    benchmarks = (profile or get_profile()).eval_datasets if EVAL in entries else ()
    return tuple(dict.fromkeys(n for e in entries for n in (benchmarks if e == EVAL else (e,))))


def fetch_data(notebook: str, profile: Profile | None = None) -> None:
    """Make sure the datasets of ``notebook`` are in the data folder (`srlib.datasets.ensure_data`): what
    is missing is downloaded, from ``$SRLIB_MIRROR`` when set, and sha256-checked, with a progress bar per
    dataset; one line says which are ready. Offline with files missing, the one-line UserError that names
    the fix stops the set-up cell. Notebooks 04 and 05 fetch both training sets, so that the T91 that notebook
    02 fetched alone never leaves them training on 91 of the 291 images. Returns None, so that a set-up cell
    ending with it displays nothing more."""
    names = notebook_datasets(notebook, profile)
    ensure_data(*names)
    images = " (the 291 training images)" if set(TRAINING) <= set(names) else ""
    print(f"datasets ready: {', '.join(names)}{images}")


def smoke_banner(profile: Profile) -> str:
    """The warning line a notebook prints under the smoke profile (empty for the others)."""
    return SMOKE_BANNER if profile.name == "smoke" else ""


def train_config(
    profile: Profile, out: str | Path, model: str = "srresnet", chunks: int = 4, **overrides
) -> TrainConfig:
    """The run of a training notebook, sized by ``profile``: validation and a checkpoint after each of
    ``chunks`` equal pieces. SRResNet takes the profile's schedule and time budget; SRGAN takes the profile's
    SRGAN batch and steps, and the generator's size from ``init`` when given (it must match). ``overrides``
    are further TrainConfig fields."""
    if not isinstance(chunks, int) or isinstance(chunks, bool) or chunks < 1:
        raise UserError(f"chunks must be a whole number of at least 1, got {chunks!r}")
    unknown = set(overrides) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise UserError(f"unknown TrainConfig settings: {', '.join(sorted(unknown))}")
    srgan = model == "srgan"
    steps = overrides.pop("steps", profile.srgan_steps if srgan else profile.train_steps)
    every = math.ceil(steps / chunks)
    size = {"n_blocks": profile.n_blocks, "channels": profile.channels}
    if overrides.get("init"):
        size = {k: v for k, v in load_generator(overrides["init"]).config().items() if k in size}
    config = TrainConfig(
        out=str(out),
        model=model,
        steps=steps,
        batch_size=profile.srgan_batch_size if srgan else profile.batch_size,
        crop=profile.crop,
        learning_rate=(profile.srgan_lr or profile.lr) if srgan else profile.lr,
        max_images=profile.train_images,
        log_every=min(profile.log_every, every),
        val_every=every,
        checkpoint_every=every,
        device=profile.device,
        **({} if srgan else {"schedule": profile.schedule, "budget_seconds": profile.budget_seconds}),
        **size,
    )
    return replace(config, **overrides)


def saved_step(run_dir: str | Path) -> int:
    """The step of a run's checkpoint; 0 when there is none."""
    check_type(run_dir, (str, PathLike), "saved_step: the run folder")
    path = Path(run_dir) / "checkpoint.pt"
    return int(load_checkpoint(path)["step"]) if path.is_file() else 0


def live_train(
    config: TrainConfig,
    plot: Callable[[dict[str, list[float]]], Figure],
    start_over: bool = False,
    minutes: float | None = None,
    show: Callable[[object], object] | None = None,
) -> Path:
    """Train ``config`` in chunks of ``config.val_every`` steps, continuing the run in ``config.out`` when it
    has a checkpoint: re-running a cell continues, and only ``start_over=True`` deletes the run first.

    After each chunk (validation and checkpoint done) the figure ``plot(history)`` is redrawn in place; a
    progress bar (``tqdm.auto``) counts the steps. ``minutes`` (e.g. the colab profile's) stops this call,
    with a checkpoint, once that much time has passed; running it again continues. ``show`` displays an
    object (default: IPython's ``display``, updated in place). Returns the run folder.
    """
    number = isinstance(minutes, (int, float)) and not isinstance(minutes, bool)
    if not (minutes is None or (number and not math.isnan(minutes))):  # 0 or less: stop at the first log
        raise UserError(f"minutes must be a number or None, got {minutes!r}")
    run_dir = Path(config.out)
    if start_over and run_dir.exists():
        shutil.rmtree(run_dir)
    step = saved_step(run_dir)
    if step >= config.steps:
        print(f"{run_dir.name}: already trained ({step:,} steps); start_over=True trains it again")
        _show(plot(read_history(run_dir / "history.csv")), show)
        return run_dir
    print(f"{run_dir.name}: {'continuing from step ' + format(step, ',') if step else 'new run'}")
    trainer = make_trainer(config, resume=step > 0)
    handle, began = None, time.perf_counter()
    with tqdm(total=config.steps, initial=step, unit="step") as bar:
        while step < config.steps:
            until = min((step // config.val_every + 1) * config.val_every, config.steps)
            left = None if minutes is None else minutes * 60 - (time.perf_counter() - began)
            trainer.run(until=until, progress=False, time_limit=left)
            bar.update(trainer.step - step)
            step = trainer.step
            handle = _show(plot(read_history(run_dir / "history.csv")), show, handle)
            if trainer.finished:  # its steps done or its budget (config.budget_seconds) spent
                break
            if step < until:  # stopped by the time limit
                print(f"{run_dir.name}: {minutes:g} minutes used; run the cell again to continue")
                break
    spent = step < config.steps and trainer.finished
    spent = f" (its budget of {config.budget_seconds:g} s spent)" if spent else ""
    print(f"{run_dir.name}: trained to step {step:,} of {config.steps:,}{spent}, checkpoint saved")
    return run_dir


def _show(obj: object, show: Callable[[object], object] | None, handle: object = None) -> object:
    """Display ``obj`` with ``show``, or with IPython in place of ``handle``'s object; returns the handle."""
    if show is not None:
        show(obj)
        return None
    from IPython.display import display

    if handle is None:
        return display(obj, display_id=True)
    handle.update(obj)
    return handle


def show_panel(path: str | Path, title: str = "") -> Figure:
    """A saved PNG panel (a run's ``val/step_*.png``) as a figure: the notebook stores it as a small JPEG."""
    img = np.asarray(Image.open(path).convert("RGB"))
    fig = Figure(figsize=(10, 10 * img.shape[0] / img.shape[1] + 0.4), layout="constrained")
    ax = fig.subplots()
    ax.imshow(img)
    ax.set_axis_off()
    ax.set_title(title or Path(path).stem)
    return fig


def shipped_record(name: str) -> dict[str, object] | None:
    """The training record of a shipped generator (``srresnet_x4`` or ``srgan_mse_x4``): its ``history`` and
    ``val`` columns (`read_history`) and the paths of its validation ``panels``. The records travel with the
    package (``srlib/pretrained/training/``), so Colab's pip install has them too; None, with a line saying
    so, where they are missing (a package built without its data)."""
    folder = SHIPPED_RECORDS / name
    if not (folder / "history.csv").is_file():
        print(f"no training record of {name} in {SHIPPED_RECORDS}: reinstall srlib with its package data")
        return None
    return {
        "history": read_history(folder / "history.csv"),
        "val": read_history(folder / "val.csv"),
        "panels": sorted((folder / "val").glob("step_*.png")),
    }


def own_generators(profile: Profile, root: str | Path | None = None, drive: bool = False) -> dict[str, Path]:
    """The generators the student exported in notebooks 04 and 05 under this profile, by label:
    ``"your srresnet"``, ``"your srgan-mse"`` (how it was trained, from the file's metadata), ..."""
    found = {}
    for run, file in (("04_srresnet", "srresnet.safetensors"), ("05_srgan", "srgan.safetensors")):
        path = run_folder(run, profile, root, drive) / file
        if path.is_file():
            found[f"your {trained_as(path) or run.split('_')[1]}"] = path
    return found


def start_generator(
    profile: Profile, root: str | Path | None = None, drive: bool = False
) -> tuple[Path, str]:
    """Where SRGAN training starts: the student's notebook-04 SRResNet when there is one, else the shipped
    SRResNet; returns the file and a sentence saying which."""
    own = run_folder("04_srresnet", profile, root, drive) / "srresnet.safetensors"
    if own.is_file():
        return own, f"starting from your SRResNet of notebook 04 ({own.parent.name})"
    return pretrained_path("srresnet_x4"), (
        f"no SRResNet from notebook 04 under profile {profile.name!r}: starting from the shipped SRResNet "
        "(srresnet_x4, 16 blocks x 64 channels)"
    )


_started: list[float] = []  # when `introduce` ran: `finish` measures the notebook's wall time from there
# the line `finish` prints, read back from executed notebooks: profile, machine, minutes, seconds
FINISHED = re.compile(r"^this notebook ran under profile '(\w+)' on (.+) in (\d+) min (\d\d) s$")


def where_it_runs() -> str:
    """The machine a notebook runs on, for its first and last lines: the GPU, else the CPU model; torch's
    threads and version."""
    chip = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu_model()
    return f"{chip}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def introduce(profile: Profile, trains: bool = True) -> None:
    """Print what a notebook prints first: the profile, the machine, the smoke banner when the notebook
    ``trains`` a network, and, when a GPU was expected (the gpu or colab profile, or Colab) but is missing,
    the one line that says how to get one (`srlib.colab.check_gpu`). Under the smoke profile it also sets one
    torch thread: tiny tensors run fastest, and steadiest on a busy machine, that way. Starts the clock that
    `finish` reads."""
    if profile.name == "smoke":
        torch.set_num_threads(1)
    print(profile.describe())
    print(f"machine: {where_it_runs()}")
    if trains and profile.name == "smoke":
        print(SMOKE_BANNER)
    check_gpu(expected=profile.name in ("gpu", "colab") or on_colab())
    _started[:] = [time.perf_counter()]


def finish(profile: Profile) -> None:
    """Print the line that ends every notebook: its profile, the machine and the wall time since `introduce`
    (the whole notebook but its imports), so that a committed run says where and how fast it ran."""
    if not _started:
        raise UserError("finish() measures from introduce(profile); run the notebook's setup cell first")
    seconds = time.perf_counter() - _started[0]
    minutes, rest = divmod(round(seconds), 60)
    took = f"{minutes} min {rest:02d} s"
    print(f"this notebook ran under profile {profile.name!r} on {where_it_runs()} in {took}")
