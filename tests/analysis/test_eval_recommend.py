"""scripts/eval_recommend.py on a small simulated audience: progress lines, then the RESULT line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_eval_recommend_prints_precision_for_cf_and_popularity() -> None:
    command = [sys.executable, str(ROOT / "scripts" / "eval_recommend.py"), "--users", "600", "--communities", "4"]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("data: 600 people") for line in lines)
    assert any(line.startswith("collaborative filtering: precision@5=") for line in lines)
    match = re.fullmatch(r"RESULT precision_at_5=([0-9.]+) popularity_precision_at_5=([0-9.]+)", lines[-1])
    assert match, lines[-1]
    cf, popular = float(match.group(1)), float(match.group(2))
    assert 0 < popular <= 0.2 and 0 < cf <= 0.2  # one held-out order per person: at most 1 hit in 5
    assert cf > popular  # communities prefer different products: similar people know better than the crowd
    again = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    assert again.stdout.strip().splitlines()[-1] == lines[-1]  # seeded
