"""Write the READMEs' tables of results from `results/reproduction.json`, so that they cannot drift from it.

    python scripts/readme_tables.py           # rewrite the tables in README.md and README.zh-CN.md
    python scripts/readme_tables.py --check   # change nothing; exit 1, naming the file, when a table differs

A table lives between two marker comments, which this script keeps and fills:

    <!-- begin reproduction table: written by scripts/readme_tables.py from results/reproduction.json -->
    | method | source | Set5 | ...
    <!-- end reproduction table -->

The tables are the ones `srlib reproduce` writes into `results/reproduction.md` (`srlib.tables`):
``reproduction`` (PSNR / SSIM / seconds beside the paper's and the seed report's rows), ``niqe`` and
``lpips`` (LPIPS-alex / LPIPS-vgg).
After `srlib reproduce` has refreshed the JSON, run this script; `tests/test_readme_sync.py` runs `--check`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from srlib.tables import lpips_table, niqe_table, reproduction_table

ROOT = Path(__file__).resolve().parents[1]
READMES = ("README.md", "README.zh-CN.md")
RESULTS = Path("results") / "reproduction.json"
BLOCK = re.compile(r"(<!-- begin (\w+) table\b[^>]*-->\n)(.*?)(<!-- end \2 table -->)", re.S)


def device_label(machine: Mapping[str, str | int]) -> str:
    """The device as `srlib reproduce` names it in its table: "cpu", or "cuda (NVIDIA H200)"."""
    device = str(machine["device"]).split(":")[0]
    return f"{device} ({machine['gpu']})" if "gpu" in machine else device


def tables(results_path: Path) -> dict[str, str]:
    """Each table's name -> its Markdown, made from the results JSON."""
    results = json.loads(results_path.read_text())
    where = device_label(results.pop("machine"))
    makers: dict[str, Callable[[], str]] = {
        "reproduction": lambda: reproduction_table(results, where),
        "niqe": lambda: niqe_table(results),
        "lpips": lambda: lpips_table(results),
    }
    return {name: make() for name, make in makers.items()}


def rewrite(text: str, made: Mapping[str, str], where: str = "README") -> str:
    """``text`` with every marked table replaced by the one made from the results."""

    def fill(match: re.Match) -> str:
        name = match.group(2)
        if name not in made:
            sys.exit(f"{where}: unknown table {name!r} between markers (known: {', '.join(made)})")
        return match.group(1) + made[name] + "\n" + match.group(4)

    return BLOCK.sub(fill, text)


def stale(root: Path = ROOT) -> dict[Path, str]:
    """The READMEs whose marked tables differ from the results, with the text they should have."""
    made = tables(root / RESULTS)
    out = {}
    for name in READMES:
        path = root / name
        if path.exists() and (text := rewrite(path.read_text(), made, name)) != path.read_text():
            out[path] = text
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a table differs")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    differing = stale(args.root)
    for path, text in differing.items():
        if args.check:
            print(f"{path.relative_to(args.root)}: a table differs from {RESULTS}; run this script")
        else:
            path.write_text(text)
            print(f"rewrote the tables of {path.relative_to(args.root)}")
    return 1 if args.check and differing else 0


if __name__ == "__main__":
    sys.exit(main())
