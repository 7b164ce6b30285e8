"""scripts/bench_segments.py runs end to end on a tiny audience and ends with its RESULT line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_segments_reports_a_result_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_segments.py"), "--users", "3000", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("RESULT ")
    fields = dict(part.split("=", 1) for part in lines[-1].split()[1:])
    assert set(fields) == {"users", "total_s", "kmeans_s", "peak_mb"}
    assert int(fields["users"]) == 3000 and float(fields["total_s"]) > 0
    assert "KMeans alone" in result.stdout and "MiniBatchKMeans" in result.stdout
    assert "generated 3,000 users" in result.stdout
    again = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_segments.py"), "--users", "3000", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "using the cached database" in again.stdout and again.stdout.strip().splitlines()[-1].startswith("RESULT")
