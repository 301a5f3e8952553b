"""A fresh clone with no data and no network: the notebook tests stop with one reason, never a cascade."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_notebooks_without_data_or_network_are_skipped_for_one_stated_reason(tmp_path):
    dead = "http://127.0.0.1:9"  # a proxy nobody answers: every download fails at once, as offline
    env = os.environ | {"SRLIB_DATA": str(tmp_path), "SRLIB_PROFILE": "smoke", "PYTHONPATH": str(ROOT)}
    env |= {"HTTPS_PROXY": dead, "HTTP_PROXY": dead, "https_proxy": dead, "http_proxy": dead, "NO_PROXY": ""}
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "--nbval-lax"]
    cmd += ["notebooks/03_pixel_shuffle.ipynb", "notebooks/06_evaluation.ipynb"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    reasons = {line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("SKIPPED")}
    assert len(reasons) == 1, reasons
    (reason,) = reasons
    assert "`srlib fetch Set5 Set14 BSD100 T91 BSDS200`" in reason and "SRLIB_DATA" in reason
    assert [line for line in out.splitlines() if line.startswith("notebooks not run:")] == [reason]  # once
    assert " passed" not in out and "failed" not in out and "error" not in out.lower()
    assert not list(tmp_path.rglob("*.png"))  # nothing half-downloaded
