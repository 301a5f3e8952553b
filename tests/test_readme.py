"""What the READMEs show works: their Python snippets run, every `srlib.name` they mention exists, every
`srlib` command line they show parses, and the cheap ones (upscaling with the shipped weights) run."""

import importlib
import re
import shlex
import shutil
from pathlib import Path

import pytest

import srlib
from srlib.cli import build_parser, main
from srlib.images import sample_image, save_image
from srlib.weights import pretrained_path

ROOT = Path(__file__).resolve().parents[1]
READMES = [ROOT / "README.md", ROOT / "README.zh-CN.md", ROOT / "weights" / "README.md"]


def blocks(path: Path, language: str) -> list[str]:
    """The fenced code blocks of one language in a Markdown file."""
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(), flags=re.S | re.M)


def srlib_commands(path: Path) -> list[list[str]]:
    """The arguments of every `srlib ...` (or `... -m srlib ...`) line of the bash blocks."""
    commands = []
    for block in blocks(path, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["srlib"]:
                commands.append(words[1:])
            elif "-m" in words and words[words.index("-m") + 1 :][:1] == ["srlib"]:
                commands.append(words[words.index("-m") + 2 :])
    return commands


def resolve(dotted: str) -> object:
    """The object a dotted name such as ``srlib.datasets.fetch`` refers to, importing modules on the way."""
    obj, prefix = srlib, "srlib"
    for part in dotted.split(".")[1:]:
        prefix += f".{part}"
        obj = getattr(obj, part) if hasattr(obj, part) else importlib.import_module(prefix)
    return obj


@pytest.mark.parametrize("path", READMES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_srlib_name_a_readme_mentions_exists(path):
    names = set(re.findall(r"\bsrlib(?:\.[A-Za-z_]\w*)+", path.read_text()))
    assert names
    for name in sorted(names):
        assert resolve(name) is not None, name


@pytest.mark.parametrize("path", READMES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_python_snippets_of_a_readme_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    snippets = blocks(path, "python")
    assert snippets
    for code in snippets:
        exec(compile(code, f"{path.name} snippet", "exec"), {})


@pytest.mark.parametrize("path", READMES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_srlib_command_line_of_a_readme_parses(path):
    commands = srlib_commands(path)
    assert commands
    for argv in commands:
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{path.name}: `srlib {' '.join(argv)}` does not parse")


def test_the_readmes_upscale_lines_run(tmp_path, monkeypatch, capsys):
    upscales = [argv for path in READMES for argv in srlib_commands(path) if argv[0] == "upscale"]
    assert len(upscales) >= 3
    for i, argv in enumerate(upscales):  # each line in a folder of its own: upscale never overwrites
        (tmp_path / str(i)).mkdir()
        monkeypatch.chdir(tmp_path / str(i))
        save_image(sample_image("coffee")[:, :40, :48], Path("photo.png"))
        shutil.copy(pretrained_path("srresnet_x4"), "srresnet_x4.safetensors")  # as if exported
        assert main(argv) == 0, argv
        assert "photo_x4.png" in capsys.readouterr().out
