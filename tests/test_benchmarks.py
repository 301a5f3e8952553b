"""The benchmark scripts that tests can afford: run at a tiny size, they print and write what they promise."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.data
@pytest.mark.slow
def test_cpu_profile_benchmark_trains_within_its_budget_and_writes_the_gain_per_set(data_root, tmp_path):
    out = tmp_path / "cpu.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "cpu_profile.py"), "--budget", "1", "--threads", "1"]
    command += ["--datasets", "Set5", "--max-images", "4", "--json", str(out)]
    env = {**os.environ, "SRLIB_DATA": str(data_root), "PYTHONPATH": str(ROOT)}
    printed = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    results = json.loads(out.read_text())
    assert results["budget_seconds"] == 1 and 1 <= results["steps"] < 3000  # stopped by the budget
    assert results["seconds"] >= results["train_seconds"] >= 1
    set5 = results["sets"]["Set5"]
    assert set5["gain_db"] == pytest.approx(set5["psnr"] - set5["bicubic_psnr"], abs=2e-3)
    assert 20 < set5["bicubic_psnr"] < 40 and list(results["sets"]) == ["Set5"]
    assert f"{set5['psnr']:.2f} dB" in printed and results["cpu"] in printed
