"""One repository address (pyproject.toml) behind every Colab badge, install cell and link, solutions
included."""

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("colab_links", ROOT / "scripts" / "colab_links.py")
colab_links = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colab_links)


def test_notebooks_readme_and_citation_agree_with_the_address_in_pyproject():
    assert colab_links.disagreeing() == [], "run `make colab-links`"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The files that carry the address, copied into a folder of the same layout."""
    for name in ("pyproject.toml", "README.md", "README.zh-CN.md", "CITATION.cff"):
        shutil.copy(ROOT / name, tmp_path / name)
    for path in colab_links.notebooks(ROOT):
        dest = tmp_path / path.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest)
    return tmp_path


def test_every_notebook_and_solution_installs_srlib_on_colab_and_asks_for_a_gpu():
    found = {p.relative_to(ROOT / "notebooks").as_posix() for p in colab_links.notebooks(ROOT)}
    assert len([n for n in found if n.startswith("solutions/")]) == 7 and len(found) == 14
    for path in colab_links.notebooks(ROOT):
        nb = json.loads(path.read_text())
        install = "".join(nb["cells"][1]["source"])
        assert nb["cells"][1]["cell_type"] == "code", path.name
        assert '"google.colab" in sys.modules' in install and "%pip install" in install, path.name
        assert nb["metadata"]["accelerator"] == "GPU", path.name


def test_make_colab_links_points_everything_at_a_fork_and_changes_nothing_else(copy):
    notebooks = colab_links.notebooks(copy)
    before = {p.relative_to(copy / "notebooks").as_posix(): json.loads(p.read_text()) for p in notebooks}
    old = colab_links.repository(copy)
    assert colab_links.main(["--repo", "someone/my-fork", "--root", str(copy)]) == 0
    assert colab_links.repository(copy) == "someone/my-fork"
    for name, old_nb in before.items():
        nb = json.loads((copy / "notebooks" / name).read_text())
        badge, install = "".join(nb["cells"][0]["source"]), "".join(nb["cells"][1]["source"])
        assert f"colab.research.google.com/github/someone/my-fork/blob/main/notebooks/{name})" in badge
        assert re.search(r'"srlib(\[\w+\])? @ git\+https://github\.com/someone/my-fork"', install), name
        assert nb["metadata"]["accelerator"] == "GPU" and nb["metadata"]["colab"]["gpuType"] == "T4"
        assert nb["cells"][2:] == old_nb["cells"][2:]  # the lessons are untouched
    assert 'repository-code: "https://github.com/someone/my-fork"' in (copy / "CITATION.cff").read_text()
    readmes = ("README.md", "README.zh-CN.md")
    for name in (*readmes, "CITATION.cff", "pyproject.toml", *(f"notebooks/{n}" for n in before)):
        assert old not in (copy / name).read_text(), name
    assert colab_links.main(["--check", "--root", str(copy)]) == 0


def test_the_check_names_a_notebook_whose_install_cell_points_elsewhere(copy, capsys):
    path = copy / "notebooks" / "03_pixel_shuffle.ipynb"
    nb = json.loads(path.read_text())
    install = nb["cells"][1]["source"]
    nb["cells"][1]["source"] = [s.replace(colab_links.repository(copy), "other/repo") for s in install]
    path.write_text(json.dumps(nb, indent=1))
    assert colab_links.main(["--check", "--root", str(copy)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "notebooks/03_pixel_shuffle.ipynb: disagrees with pyproject.toml; run `make colab-links`"
    ]
