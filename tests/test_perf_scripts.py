"""The performance scripts (perf/) still start: they import what they use from archon as it is laid
out now. (Their measurements are run by hand; a moved function once left perf/search.py broken.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PERF = Path(__file__).resolve().parent.parent / "perf"


@pytest.mark.parametrize("script", sorted(p.name for p in PERF.glob("*.py")))
def test_each_perf_script_starts_and_says_how_to_use_it(script):
    done = subprocess.run([sys.executable, str(PERF / script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout.lower()
