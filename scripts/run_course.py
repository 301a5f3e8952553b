"""Execute the course notebooks under one profile and save their outputs in place: how the committed outputs
are made (a real `cpu` or `gpu` run, never `smoke`, which CI executes without saving).

    SRLIB_DATA=../shared/data python scripts/run_course.py [--profile cpu] [--fresh] [NOTEBOOK ...]

Each notebook runs top to bottom in its own folder (``notebooks/`` or ``notebooks/solutions/``) with
``SRLIB_PROFILE`` set, in the course's order: 04 trains before 05 starts from its run, and 06 and 07 read
both. ``--fresh`` first deletes this profile's runs under ``runs/``, so that 04 and 05 train instead of
loading an earlier run. The executed notebook is written to a temporary file and renamed over the old one;
a failing cell leaves the notebook as it was and stops the script. For each notebook the script prints the
line its last cell printed (`srlib.course.finish`: profile, machine, wall time).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from srlib.course import FINISHED

ROOT = Path(__file__).resolve().parents[1]


def course_notebooks(root: Path = ROOT) -> list[Path]:
    """The chapters in order, then their solutions in order."""
    chapters = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return chapters + sorted((root / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb"))


def finish_line(nb: nbformat.NotebookNode) -> str | None:
    """The line `srlib.course.finish` printed in an executed notebook, if it did."""
    for cell in reversed(nb.cells):
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if FINISHED.match(line):
                    return line
    return None


def execute(path: Path, profile: str, timeout: int = 1800) -> str:
    """Run the notebook at ``path`` under ``profile``, save it in place and return its finish line."""
    nb = nbformat.read(path, as_version=4)
    os.environ["SRLIB_PROFILE"] = profile
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )  # fmt: skip
    client.execute()
    nb.metadata.pop("widgets", None)  # the widgets' saved state: large, and a reader reruns them anyway
    line = finish_line(nb)
    if line is None:
        raise SystemExit(f"{path.name}: no `finish(profile)` line in its outputs; end the notebook with one")
    tmp = path.with_name(f".{path.name}.tmp")
    nbformat.write(nb, tmp)
    tmp.replace(path)
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter, then every solution")
    parser.add_argument("--profile", default="cpu", help="SRLIB_PROFILE for every notebook (default cpu)")
    parser.add_argument("--fresh", action="store_true", help="delete this profile's runs under runs/ first")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds a cell may take")
    args = parser.parse_args(argv)
    paths = args.notebooks or course_notebooks()
    for path in paths:
        if not path.is_file():
            parser.error(f"{path}: no such notebook")
    if args.fresh:
        for run in sorted((ROOT / "runs").glob(f"*_{args.profile}")):
            shutil.rmtree(run)
            print(f"deleted runs/{run.name}")
    for path in paths:
        began = time.perf_counter()
        try:
            line = execute(path.resolve(), args.profile, args.timeout)
        except CellExecutionError as e:
            print(f"{path.name}: a cell failed, notebook left unchanged:\n{str(e)[-2000:]}", file=sys.stderr)
            return 1
        took = f"{time.perf_counter() - began:.0f} s with the kernel's start"
        print(f"{path.name}: {line} ({took})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
