"""Running the course on Google Colab: is there a GPU, and where runs survive a disconnect.

A Colab VM forgets ``/content`` when it disconnects, and each notebook may get its own VM. `runs_folder`
keeps runs on Google Drive instead, but only when asked and only on Colab: mounting Drive opens an
authorisation dialog. `check_gpu` says in one line how to get a GPU when a notebook expected one.
"""

from __future__ import annotations

from pathlib import Path

import torch

from srlib.profiles import on_colab

DRIVE = Path("/content/drive")  # where Colab mounts Google Drive
NO_GPU = "no GPU found where one was expected: Runtime > Change runtime type > GPU (e.g. T4), then run again"


def check_gpu(expected: bool | None = None) -> bool:
    """True when CUDA is available. Otherwise, when a GPU was expected (by default: on Colab), print the
    one line that says how to switch the runtime; the notebook still runs, slowly, on the CPU."""
    if torch.cuda.is_available():
        return True
    if on_colab() if expected is None else expected:
        print(NO_GPU)
    return False


def runs_folder(local: str | Path = "runs", drive: bool = False, name: str = "srlib-runs") -> Path:
    """The folder that holds training runs, created if needed: ``local``, or with ``drive=True`` on Colab,
    ``MyDrive/<name>`` on Google Drive (mounted now if it is not yet), which outlives the VM and is shared
    by the notebooks. Asked for Drive outside Colab, it says so in one line and uses ``local``."""
    if drive and on_colab():
        if not (DRIVE / "MyDrive").is_dir():
            from google.colab import drive as google_drive  # only importable on Colab

            google_drive.mount(str(DRIVE))
        folder = DRIVE / "MyDrive" / name
    else:
        if drive:
            print(f"Google Drive is mounted only on Colab; runs stay in {local}")
        folder = Path(local)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
