"""The notebooks need the benchmark and training images. Before running them (`pytest --nbval notebooks/`),
fetch what is missing; when that is impossible (offline, no $SRLIB_DATA), skip every notebook with the one
reason, printed once at the end, instead of letting each cell fail in turn."""

from __future__ import annotations

import pytest

from srlib.datasets import ensure_data
from srlib.errors import UserError

skipped_because: list[str] = []  # the one reason, when the notebooks are skipped


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cells = [item for item in items if item.path.suffix == ".ipynb"]
    if not cells:
        return
    try:
        ensure_data()  # Set5, Set14, BSD100 and T91 + BSDS200, sha256-checked
    except UserError as e:
        skipped_because.append(f"notebooks not run: {e}")
        for item in cells:
            item.add_marker(pytest.mark.skip(reason=skipped_because[0]))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    for reason in skipped_because:
        terminalreporter.write_line(reason)
