import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ]", r.strip().strip('"'), maxsplit=1)[0].lower() for r in requirements}


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    yml = [
        line.split("- ", 1)[1]
        for line in (ROOT / "environment.yml").read_text().splitlines()
        if '- "' in line
    ]
    yml = [r for r in yml if not r.strip('"').startswith("-e")]  # the project itself
    assert _names(yml) == _names(wanted)


def test_torch_requirement_accepts_colab_and_this_machine():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_req = next(d for d in deps if d.startswith("torch>"))
    assert "<" not in torch_req and "==" not in torch_req  # a floor only: Colab's preinstalled torch is newer


def test_registry_is_shipped_inside_the_package():
    assert (ROOT / "srlib" / "registry.tsv").is_file()
    assert "*.tsv" in str(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    )
