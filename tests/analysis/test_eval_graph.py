"""scripts/eval_graph.py on tiny LFR graphs, and the NMI it reports against hand-computed values."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.domains.audience.engine import AnalysisError, nmi

ROOT = Path(__file__).resolve().parents[2]


def test_nmi_of_a_hand_example() -> None:
    truth = [0, 0, 1, 1, 2, 2]
    found = [5, 5, 7, 7, 7, 7]  # communities 1 and 2 merged
    # H(truth) = ln 3; H(found) = -(1/3 ln 1/3 + 2/3 ln 2/3); found is a function of truth, so I = H(found)
    h_truth = math.log(3)
    h_found = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
    expected = h_found / ((h_truth + h_found) / 2)
    assert nmi(np.array(truth), np.array(found)) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.733680, abs=1e-6)
    assert nmi(np.array(found), np.array(truth)) == pytest.approx(expected, abs=1e-12)  # symmetric


def test_nmi_edge_cases() -> None:
    assert nmi(np.array([0, 0, 1, 1]), np.array([9, 9, 4, 4])) == pytest.approx(1.0)  # labels do not matter
    assert nmi(np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])) == pytest.approx(0.0)  # independent
    assert nmi(np.array([3, 3, 3]), np.array([1, 1, 1])) == 1.0  # one group each: the same partition
    assert nmi(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0])) == 0.0  # all in one group says nothing
    assert nmi(np.array([], dtype=int), np.array([], dtype=int)) == 1.0
    with pytest.raises(AnalysisError):
        nmi(np.array([0, 1]), np.array([0, 1, 2]))


def test_nmi_of_a_random_partition_pair_matches_the_definition() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 5, size=400)
    b = np.where(rng.random(400) < 0.7, a, rng.integers(0, 7, size=400))
    joint = np.zeros((5, 7))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    pa, pb = joint.sum(axis=1), joint.sum(axis=0)
    cells = joint > 0
    mutual = float(np.sum(joint[cells] * np.log(joint[cells] / np.outer(pa, pb)[cells])))
    entropy_a = -float(np.sum(pa[pa > 0] * np.log(pa[pa > 0])))
    entropy_b = -float(np.sum(pb[pb > 0] * np.log(pb[pb > 0])))
    assert nmi(a, b) == pytest.approx(mutual / ((entropy_a + entropy_b) / 2), abs=1e-12)


@pytest.mark.slow
def test_eval_graph_reports_lfr_nmi_on_tiny_graphs() -> None:
    command = [
        sys.executable,
        str(ROOT / "scripts" / "eval_graph.py"),
        "--sizes",
        "500,1000",
        "--mixing",
        "0.1,0.3",
        "--skip-recall",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    lines = result.stdout.strip().splitlines()
    assert sum(line.startswith("LFR mu=") for line in lines) == 4  # one progress line per graph
    assert lines[-1].startswith("RESULT ")
    assert sum(line.startswith("RESULT") for line in lines) == 1
    fields = dict(part.split("=", 1) for part in lines[-1].split()[1:])
    assert set(fields) == {"lfr_nmi_mu03", "influencer_recall10"}
    assert fields["influencer_recall10"] == "n/a"
    assert float(fields["lfr_nmi_mu03"]) >= 0.9
    assert "skipped (--skip-recall)" in result.stdout

    again = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    assert again.stdout.strip().splitlines()[-1] == lines[-1]  # seeded: the same graphs, the same communities


@pytest.mark.slow
def test_eval_graph_finds_the_planted_influencers_of_a_small_audience() -> None:
    """Part 2 end to end: sandbox, audience, outbox posts, mentions polls, engagement, analysis."""
    command = [
        sys.executable,
        str(ROOT / "scripts" / "eval_graph.py"),
        "--sizes", "500", "--mixing", "0.3",
        "--audience-seeds", "7", "--audience-users", "150", "--audience-communities", "3",
        "--audience-influencers", "5", "--audience-steps", "1500",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    lines = result.stdout.strip().splitlines()
    fields = dict(part.split("=", 1) for part in lines[-1].split()[1:])
    assert "audience seed 7: recall@10" in result.stdout
    assert float(fields["influencer_recall10"]) >= 0.8  # 5 of 5 when written
