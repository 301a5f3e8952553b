"""The package's layers: every srlib module imports only from its own layer or those below, never in a circle.

The imports are read from the source with `ast`, at module level and inside functions alike, so a lazy import
(one made inside a function to save start-up time) counts as much as one at the top.
"""

import ast
import re
from pathlib import Path

import pytest

import srlib

# Bottom layer first. A module may import from its own layer (when that makes no cycle) and those before it.
LAYERS = [
    ["errors", "constants", "flops"],
    ["files", "runtime"],
    ["imresize", "images", "metrics", "niqe"],
    ["datasets", "config", "sampler"],
    ["models", "losses", "lpips", "checkpoint", "backbones", "weights"],
    ["inference", "upscale_files", "interpolate"],
    ["tables", "evaluate", "plot", "mos"],
    ["profiles", "colab", "train", "course"],
    ["cli", "__main__", "__init__"],
]
LAYER = {module: n for n, modules in enumerate(LAYERS) for module in modules}
PACKAGE = Path(srlib.__file__).parent


def srlib_imports(source: str) -> set[str]:
    """The srlib modules a module's source imports, anywhere in it (``from srlib import x`` counts x)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "srlib" and len(parts) > 1 and parts[1] in LAYER:
                found.add(parts[1])
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the srlib modules it imports, for every module of the package."""
    return {p.stem: srlib_imports(p.read_text()) - {p.stem} for p in sorted(package.glob("*.py"))}


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` as a list of modules (first repeated at the end), or [] when none."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = "done"
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return []


def upward(graph: dict[str, set[str]]) -> list[str]:
    """The imports that run up the layers, as "a (layer) -> b (layer)"."""
    return [
        f"{a} ({LAYER[a]}) -> {b} ({LAYER[b]})"
        for a, bs in graph.items()
        for b in sorted(bs)
        if LAYER[b] > LAYER[a]
    ]


def test_every_srlib_module_has_a_layer():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules == set(LAYER), "add new modules to LAYERS (and the README's library table)"


def test_no_module_imports_from_a_layer_above_it():
    assert upward(import_graph()) == []


def test_there_is_no_import_cycle():
    assert cycle(import_graph()) == []


@pytest.mark.parametrize(
    "code, found",
    [
        ("import srlib.inference", {"inference"}),
        ("from srlib import inference, models", {"inference", "models"}),
        ("from srlib.inference import pick_device", {"inference"}),
        ("def f():\n    from srlib.evaluate import cpu_model", {"evaluate"}),
        ("import torch\nfrom . import x", set()),
    ],
)
def test_imports_are_found_at_module_level_and_inside_functions(code, found):
    assert srlib_imports(code) == found


def test_an_upward_import_and_a_cycle_are_reported():
    graph = {"runtime": {"inference", "errors"}, "inference": {"runtime"}, "errors": set()}
    assert upward(graph) == ["runtime (1) -> inference (5)"]
    assert cycle(graph) == ["inference", "runtime", "inference"]


def test_the_readme_library_table_lists_the_modules_in_layer_order():
    readme = (PACKAGE.parent / "README.md").read_text()
    rows = re.findall(r"^\| (\d+) \| `srlib\.(\w+)` \|", readme, flags=re.MULTILINE)
    listed = [(int(n), module) for n, module in rows]
    assert listed == [(n, m) for n, ms in enumerate(LAYERS) for m in ms if m not in ("__main__", "__init__")]
