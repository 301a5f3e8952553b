"""The two READMEs (English and Chinese) cannot drift: from each other, from the notebooks, from the results
JSON and from the shipped weights. Their snippets and commands are run by tests/test_readme.py."""

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle
from PIL import Image

from srlib.cli import main
from srlib.course import FINISHED
from srlib.plot import zoom_figure
from srlib.weights import PRETRAINED, pretrained_sha256

ROOT = Path(__file__).resolve().parents[1]
ENGLISH, CHINESE = ROOT / "README.md", ROOT / "README.zh-CN.md"
spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "scripts" / "readme_tables.py")
readme_tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_tables)


def top(path: Path) -> str:
    """A README up to its first section heading: what a reader sees first."""
    return path.read_text().split("\n## ")[0]


def figures(path: Path) -> list[str]:
    """The paths of the images a Markdown file shows."""
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", path.read_text())


def course_map(path: Path) -> list[str]:
    """The notebooks named by the rows of a README's course map (rows starting with | `NN_name`)."""
    return re.findall(r"^\| `(\d\d_\w+)`", path.read_text(), flags=re.M)


def test_the_readmes_link_to_each_other_at_the_top():
    assert "](README.zh-CN.md)" in top(ENGLISH)
    assert "](README.md)" in top(CHINESE)


@pytest.mark.parametrize("path", [ENGLISH, CHINESE], ids=lambda p: p.name)
def test_a_readme_opens_with_the_comparison_figure_and_it_exists(path):
    shown = figures(path)
    assert shown and shown[0] == "results/comparison.png", shown
    assert "results/comparison.png" in top(path)
    for name in (n for n in shown if "://" not in n):  # the Colab badge is on the web
        assert (ROOT / name).is_file(), f"{path.name} shows {name}, which is not there"


def test_the_readme_figure_is_small_and_made_with_the_shipped_weights():
    path = ROOT / "results" / "comparison.png"
    assert path.stat().st_size < 300_000
    made_with = Image.open(path).info.get("Description", "")
    for name in PRETRAINED:
        assert f"{name} sha256 {pretrained_sha256(name)}" in made_with, (
            f"results/comparison.png was not made with today's {name}: run `srlib reproduce --figure-only`"
        )


@pytest.mark.parametrize("path", [ENGLISH, CHINESE], ids=lambda p: p.name)
def test_every_notebook_has_one_row_in_a_readmes_course_map(path):
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert course_map(path) == notebooks, f"{path.name}: the course map's rows should name {notebooks}"


@pytest.mark.parametrize("path", [ENGLISH, CHINESE], ids=lambda p: p.name)
def test_each_course_map_row_gives_the_wall_time_its_committed_run_printed(path):
    """The time in a notebook's row is the one the last line of its committed outputs prints."""
    rows = dict(re.findall(r"^\| `(\d\d_\w+)`(.*)$", path.read_text(), flags=re.M))
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
        last = "".join("".join(o.get("text", "")) for o in cells[-1].get("outputs", [])).strip()
        found = FINISHED.match(last)
        assert found, f"{notebook.name}: its last cell should print finish(profile)'s line"
        profile, _, minutes, seconds = found.groups()
        unit = ("min", "s") if path == ENGLISH else ("分", "秒")
        said = f"`{profile}` {int(minutes)} {unit[0]} {seconds} {unit[1]}"
        assert said in rows[notebook.stem], f"{path.name}'s row of {notebook.stem} should say {said}"


def test_the_readme_tables_equal_the_ones_made_from_the_results_json(capsys):
    assert readme_tables.main(["--check"]) == 0, capsys.readouterr().out
    for path in (ENGLISH, CHINESE):
        assert "<!-- begin reproduction table" in path.read_text(), path.name


def test_the_table_check_names_the_readmes_when_a_result_changes(tmp_path, capsys):
    for name in ("README.md", "README.zh-CN.md", "results/reproduction.json"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    results = json.loads((tmp_path / "results/reproduction.json").read_text())
    results["srresnet"]["Set14"]["psnr"] += 0.1
    (tmp_path / "results/reproduction.json").write_text(json.dumps(results))
    assert readme_tables.main(["--check", "--root", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{name}: a table differs from results/reproduction.json; run this script"
        for name in ("README.md", "README.zh-CN.md")
    ]
    assert readme_tables.main(["--root", str(tmp_path)]) == 0  # rewrites them
    assert (
        "| srresnet | ours (cpu) | 31.53 / 0.8848 / 0.678 s | 28.12 /"
        in (tmp_path / "README.md").read_text()
    )
    assert readme_tables.main(["--check", "--root", str(tmp_path)]) == 0


def test_the_chinese_readme_cites_the_paper_as_citation_cff_does():
    cff, readme = (ROOT / "CITATION.cff").read_text(), CHINESE.read_text()
    for key in ("doi", "year"):
        value = re.search(rf"^  {key}: \"?([^\"\n]+)\"?$", cff, flags=re.M).group(1)
        assert f"{key:<9} = {{{value}}}" in readme, key
    start, end = (re.search(rf"^  {k}: (\d+)$", cff, flags=re.M).group(1) for k in ("start", "end"))
    assert f"pages     = {{{start}--{end}}}" in readme


def test_zoom_figure_shows_the_overview_then_each_panel_cropped_at_its_scale(tmp_path):
    panels = {
        "LR": torch.rand(1, 3, 8, 10),
        "bicubic": torch.rand(1, 3, 32, 40),
        "HR": torch.rand(1, 3, 32, 40),
    }
    fig = zoom_figure(
        panels,
        (8, 12, 16, 20),
        {"bicubic": "20.00 dB / 0.500"},
        title="whole",
        path=tmp_path / "f.png",
        note="made by a test",
    )
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["whole", "LR", "bicubic\n20.00 dB / 0.500", "HR"]
    assert [p.get_bbox().bounds for p in axes[0].patches if isinstance(p, Rectangle)] == [(12, 8, 20, 16)]
    shapes = [next(a for a in ax.get_children() if isinstance(a, AxesImage)).get_array().shape for ax in axes]
    assert shapes == [(32, 40, 3), (4, 5, 3), (16, 20, 3), (16, 20, 3)]  # the LR box is a quarter the size
    assert Image.open(tmp_path / "f.png").info["Description"] == "made by a test"


@pytest.mark.data
@pytest.mark.slow  # the two shipped networks on one Set14 image: seconds on a CPU
def test_reproduce_figure_only_writes_the_figure_and_nothing_else(data_root, tmp_path, capsys):
    assert main(["reproduce", "--figure-only", "--out", str(tmp_path), "--device", "cpu"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["comparison.png"]
    assert f"wrote {tmp_path / 'comparison.png'}" in capsys.readouterr().out
    info = Image.open(tmp_path / "comparison.png").info["Description"]
    assert all(f"{name} sha256 {pretrained_sha256(name)}" in info for name in PRETRAINED)
