"""The benchmark script runs (no timing assertions: timings belong in its output)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_benchmark_runs():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--cases", "A,B,1-D",
         "--no-peak"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| case | geometry | method | median |" in proc.stdout
    assert "| target | measured | limit | result |" in proc.stdout
    for case in ("| A |", "| B |", "| 1-D |", "| ImageNet |"):
        assert case in proc.stdout
