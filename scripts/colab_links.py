"""Point every link to the repository at one address: the `Repository` URL in pyproject.toml.

    python scripts/colab_links.py --repo OWNER/NAME   # after forking: set the address, rewrite everything
    python scripts/colab_links.py                     # rewrite everything from pyproject.toml
    python scripts/colab_links.py --check             # exit 1, naming the files, when anything disagrees

(`make colab-links REPO=OWNER/NAME` runs the first.) What it writes:
- pyproject.toml `[project.urls] Repository` and CITATION.cff `repository-code`;
- in each notebook, solutions included (`notebooks/solutions/`), the Colab badge (first line of the first
  markdown cell), the `git+https://github.com/...` address of the install cell (the first code cell), and
  Colab metadata asking for a GPU runtime;
- in README.md, every Colab link and `torch.hub.load("OWNER/NAME", ...)`.
Nothing else in the notebooks changes.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
REPO_RE = r"[\w.-]+/[\w.-]+"  # OWNER/NAME
URL_LINE = re.compile(rf'^(Repository = "https://github\.com/)({REPO_RE})(")$', re.M)
COLAB_METADATA = {"accelerator": "GPU", "colab": {"provenance": [], "gpuType": "T4"}}


def repository(root: Path = ROOT) -> str:
    """OWNER/NAME from pyproject.toml's ``[project.urls] Repository``."""
    match = URL_LINE.search((root / "pyproject.toml").read_text())
    if not match:
        sys.exit('pyproject.toml: no line Repository = "https://github.com/OWNER/NAME" in [project.urls]')
    return match.group(2)


def notebooks(root: Path = ROOT) -> list[Path]:
    """The course's notebooks and their solutions."""
    folder = root / "notebooks"
    return sorted(folder.glob("*.ipynb")) + sorted((folder / "solutions").glob("*.ipynb"))


def badge(repo: str, notebook: str) -> str:
    """The Open-in-Colab badge of one notebook (its path under ``notebooks/``), in Markdown."""
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{repo}/blob/main/notebooks/{notebook})"
    )


def rewrite_notebook(text: str, repo: str, name: str) -> str:
    """The notebook (JSON text; ``name``: its path under ``notebooks/``) with its badge, install address and
    Colab metadata derived from ``repo``."""
    nb = nbformat.reads(text, as_version=4)
    markdown = next(c for c in nb.cells if c.cell_type == "markdown")
    code = next(c for c in nb.cells if c.cell_type == "code")
    lines = markdown.source.split("\n")
    if lines[0].startswith("[![Open In Colab]"):
        lines[0] = badge(repo, name)
    else:
        lines.insert(0, badge(repo, name) + "\n")
    markdown.source = "\n".join(lines)
    if "git+https://github.com/" not in code.source:
        sys.exit(f"{name}: the first code cell does not install srlib from git+https://github.com/...")
    code.source = re.sub(
        rf"git\+https://github\.com/{REPO_RE}", f"git+https://github.com/{repo}", code.source
    )
    nb.metadata.update(COLAB_METADATA)
    return nbformat.writes(nb) + "\n"


def rewrite_readme(text: str, repo: str) -> str:
    """A README (English or Chinese) with its Colab links and `torch.hub.load` pointing at ``repo``."""
    colab = "colab.research.google.com/github/"
    text = re.sub(re.escape(colab) + REPO_RE + "/", f"{colab}{repo}/", text)
    return re.sub(rf'torch\.hub\.load\("{REPO_RE}"', f'torch.hub.load("{repo}"', text)


def rewrite_citation(text: str, repo: str) -> str:
    line = f'repository-code: "https://github.com/{repo}"'
    return re.sub(r'^repository-code: ".*"$', line, text, flags=re.M)


def rewritten(repo: str, root: Path = ROOT) -> dict[Path, str]:
    """Every file that carries the address, with the content it should have."""
    files = {
        root / "pyproject.toml": URL_LINE.sub(rf"\g<1>{repo}\g<3>", (root / "pyproject.toml").read_text()),
        root / "README.md": rewrite_readme((root / "README.md").read_text(), repo),
        root / "README.zh-CN.md": rewrite_readme((root / "README.zh-CN.md").read_text(), repo),
        root / "CITATION.cff": rewrite_citation((root / "CITATION.cff").read_text(), repo),
    }
    for path in notebooks(root):
        name = path.relative_to(root / "notebooks").as_posix()  # e.g. solutions/04_..._solutions.ipynb
        files[path] = rewrite_notebook(path.read_text(), repo, name)
    return files


def disagreeing(root: Path = ROOT) -> list[Path]:
    """The files whose address (or Colab metadata) differs from pyproject.toml's."""
    return [path for path, text in rewritten(repository(root), root).items() if path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", help="OWNER/NAME of the GitHub repository (default: pyproject.toml's)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file disagrees")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        stale = disagreeing(args.root)
        for path in stale:
            print(f"{path.relative_to(args.root)}: disagrees with pyproject.toml; run `make colab-links`")
        return 1 if stale else 0
    if args.repo and not re.fullmatch(REPO_RE, args.repo):
        parser.error(f"--repo {args.repo!r}: expected OWNER/NAME, e.g. my-account/srlib")
    repo = args.repo or repository(args.root)
    for path, text in rewritten(repo, args.root).items():
        if path.read_text() != text:
            path.write_text(text)
            print(f"rewrote {path.relative_to(args.root)}")
    print(f"every badge, install cell and link points to https://github.com/{repo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
