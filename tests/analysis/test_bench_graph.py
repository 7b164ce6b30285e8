"""scripts/bench_graph.py runs end to end on a tiny log and ends with its RESULT line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_graph_reports_a_result_line() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_graph.py"), "--sizes", "5000"],
        capture_output=True,
        text=True,
        check=True,
        timeout=110,
    )
    last = result.stdout.strip().splitlines()[-1]
    fields = dict(part.split("=", 1) for part in last.split()[1:])
    assert last.startswith("RESULT ")
    assert set(fields) == {"edges", "project_s", "project_peak_mb", "networkx_s", "speedup"}
    assert fields["edges"] == "5000"
    assert "top-100 overlap" in result.stdout


@pytest.mark.slow
def test_bench_graph_without_networkx_still_reports_a_result_line() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_graph.py"), "--sizes", "5000", "--networkx-max", "0"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = result.stdout.strip().splitlines()
    assert "N=5000: networkx skipped" in result.stdout
    assert lines[-1].startswith("RESULT edges=5000 project_s=")
    fields = dict(part.split("=", 1) for part in lines[-1].split()[1:])
    assert fields["networkx_s"] == "skipped" and fields["speedup"] == "n/a"
    assert float(fields["project_s"]) > 0 and float(fields["project_peak_mb"]) > 0
