"""The `graph:` section of config.yaml: defaults, durations, and bad keys reported with file and line."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.settings.config import load_config
from bot.settings.graph import GraphConfig
from tests.conftest import REPO_ROOT


def copy_setup(tmp_path: Path, edit: tuple[str, str] | None = None) -> Path:
    for folder in ("templates", "data"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    text = (REPO_ROOT / "config.yaml").read_text(encoding="utf-8")
    if edit is not None:
        assert edit[0] in text
        text = text.replace(edit[0], edit[1])
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_graph_section_loads(tmp_path: Path) -> None:
    graph = load_config(copy_setup(tmp_path), require_credentials=False).graph
    assert graph.every == timedelta(hours=6) and graph.half_life == timedelta(days=30)
    assert graph.engagement.daily_read_budget == 500 and graph.kind_weights["like"] == 0.5
    assert not graph.include_own_account


def test_partial_weights_keep_the_other_defaults() -> None:
    config = GraphConfig(kind_weights={"like": 0}, score_weights={"pagerank": 1})
    assert config.kind_weights["reply"] == 3 and config.kind_weights["like"] == 0
    assert config.score_weights["pagerank"] == 1 and config.score_weights["followers"] == 0


@pytest.mark.parametrize(
    ("edit", "key", "words"),
    [
        (("half_life: 30d", "half_life: soon"), "graph.half_life", "cannot read interval 'soon'"),
        (("{mention: 1,", "{mentoin: 1,"), "graph.kind_weights", "unknown interaction kind(s) mentoin"),
        (("daily_read_budget: 500", "daily_read_budget: -1"), "graph.engagement.daily_read_budget", "0"),
        (("include_own_account: false", "include_own_acount: false"), "graph.include_own_acount", ""),
    ],
)
def test_bad_graph_settings_name_the_line_and_key(tmp_path: Path, edit: tuple[str, str], key: str, words: str) -> None:
    path = copy_setup(tmp_path, edit)
    with pytest.raises(ConfigError) as caught:
        load_config(path, require_credentials=False)
    problems = caught.value.problems
    assert len(problems) == 1, problems
    problem = problems[0]
    line = next(n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if edit[1] in text)
    assert problem.line == line and problem.path == key and words in problem.message, problem


def test_all_score_weights_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one score weight"):
        GraphConfig(score_weights={"pagerank": 0})


COUPONS = """
coupons:
  campaigns:
    thanks:
      account: shopp
      discount: 10% off
      budget: 10
      template: coupons/nope.j2
      codes_csv: data/no-such-pool.csv
"""


def test_coupon_campaigns_name_real_accounts_templates_and_pools(tmp_path: Path) -> None:
    path = copy_setup(tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + COUPONS, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, require_credentials=False)
    found = {(p.path, p.message.split(" (")[0].split(" not found")[0]) for p in caught.value.problems}
    assert ("coupons.campaigns.thanks.account", "unknown account 'shopp'") in found
    assert any(key == "coupons.campaigns.thanks.template" for key, _ in found)
    assert any(key == "coupons.campaigns.thanks.codes_csv" for key, _ in found)
    assert all(p.line is not None for p in caught.value.problems)
