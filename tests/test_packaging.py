import ast
import re
import sys
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


# the import name of each distribution srlib imports, where they differ
IMPORT_NAMES = {"pillow": "PIL", "scikit-image": "skimage"}
# imported only where they exist, never installed by srlib: Colab's own modules, Jupyter's display
PROVIDED = {"google", "IPython"}


def srlib_third_party_imports() -> set[str]:
    """The top-level names of the non-standard modules srlib imports, anywhere in its source."""
    found = set()
    for path in (ROOT / "srlib").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found |= {n.split(".")[0] for n in names}
    return found - set(sys.stdlib_module_names) - {"srlib"} - PROVIDED


def test_every_dependency_is_listed_once_and_every_core_one_is_imported():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _names(project["dependencies"])
    extras = project["optional-dependencies"]
    for extra in ("notebooks", "lpips"):  # the user-facing extras (dev repeats lpips for the tests)
        assert not core & _names(extras[extra]), f"listed in the core and in [{extra}]"
    imported = srlib_third_party_imports()
    assert {IMPORT_NAMES.get(d, d) for d in core} == imported - {"lpips"}  # lpips: the [lpips] extra
