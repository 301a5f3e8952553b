"""scripts/run_course.py: how the committed notebook outputs are made (executed in place, ending with the
line `srlib.course.finish` prints)."""

import importlib.util
import json
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("run_course", ROOT / "scripts" / "run_course.py")
run_course = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_course)

SETUP = (
    "from srlib.course import finish, introduce\nfrom srlib.profiles import get_profile\n"
    "profile = get_profile()\nintroduce(profile, trains=False)"
)


def notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_a_notebook_is_executed_in_place_under_the_profile_and_its_finish_line_printed(tmp_path, capsys):
    path = notebook(tmp_path / "notebooks" / "01_x.ipynb", SETUP, "print(6 * 7)", "finish(profile)")
    assert run_course.main([str(path), "--profile", "smoke"]) == 0
    cells = json.loads(path.read_text())["cells"]
    assert "".join(cells[1]["outputs"][0]["text"]) == "42\n"
    assert "".join(cells[2]["outputs"][0]["text"]).startswith("this notebook ran under profile 'smoke' on ")
    assert "01_x.ipynb: this notebook ran under profile 'smoke'" in capsys.readouterr().out
    assert [p.name for p in path.parent.iterdir()] == ["01_x.ipynb"]  # no temporary file left


def test_a_failing_cell_leaves_the_notebook_unchanged_and_stops(tmp_path, capsys):
    path = notebook(tmp_path / "notebooks" / "01_x.ipynb", SETUP, "1 / 0", "finish(profile)")
    before = path.read_text()
    assert run_course.main([str(path), "--profile", "smoke"]) == 1
    assert path.read_text() == before
    assert "a cell failed, notebook left unchanged" in capsys.readouterr().err


def test_a_notebook_without_the_finish_line_is_refused(tmp_path):
    path = notebook(tmp_path / "notebooks" / "01_x.ipynb", SETUP)
    before = path.read_text()
    try:
        run_course.main([str(path), "--profile", "smoke"])
    except SystemExit as e:
        assert "no `finish(profile)` line" in str(e)
    else:
        raise AssertionError("a notebook without finish() was saved")
    assert path.read_text() == before


def test_the_course_order_is_the_chapters_then_the_solutions():
    names = [p.relative_to(ROOT / "notebooks").as_posix() for p in run_course.course_notebooks()]
    assert names[0].startswith("01_") and names.index("04_srresnet_training.ipynb") < names.index(
        "05_srgan_training.ipynb"
    )
    assert all(n.startswith("solutions/") for n in names[7:]) and len(names) == 14
