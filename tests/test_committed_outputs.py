"""The committed notebook outputs are a real run (the cpu or gpu profile), never the smoke profile that CI
executes: no smoke banner, every code cell executed, and a last line that names the profile, the machine and
the wall time, within the course's 15 minutes a notebook under `cpu`."""

import importlib.util
import json
from pathlib import Path

import pytest

from srlib.course import FINISHED, SMOKE_BANNER

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("run_course", ROOT / "scripts" / "run_course.py")
run_course = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_course)
NOTEBOOKS = run_course.course_notebooks()


def output_text(cell: dict) -> str:
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_committed_outputs_are_a_real_run_ending_with_its_profile_machine_and_time(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    text = "".join(output_text(c) for c in cells)
    assert "SMOKE PROFILE" not in text and SMOKE_BANNER not in text, f"{path.name} holds a smoke run's output"
    unrun = [i for i, c in enumerate(cells) if c["source"] and c.get("execution_count") is None]
    assert not unrun, f"{path.name}: code cells {unrun} were not executed; run scripts/run_course.py"
    last = output_text(cells[-1]).strip().splitlines()
    match = FINISHED.match(last[-1]) if last else None
    assert match and match[1] in ("cpu", "gpu", "colab"), (
        f"{path.name} should end with the finish(profile) line of a real run; see scripts/run_course.py"
    )
    profile, _, minutes, _ = match.groups()
    if profile == "cpu":
        assert int(minutes) < 15, f"{path.name} took {minutes} min under cpu: over the course's 15"
