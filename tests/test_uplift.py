"""`target: uplift`'s model: a T-learner finds the people a coupon changes (planted: some buy anyway, some only with
a coupon, some never), fills the budget from the top with an exploration slice, and the Qini coefficient measured
on a later random campaign says how well the ranking did."""

from __future__ import annotations

import numpy as np
import pytest

from bot.domains.coupons.uplift import EXPLORE_SHARE, NotEnoughHistory, choose, fit, qini

FEATURES = ("orders", "recency_days", "complaints", "per_week")


def audience(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """People with features and a planted type: 0 never, 1 sure thing (buys anyway), 2 persuadable (only with a
    coupon). Persuadables are recent, lapsed-ish buyers; sure things order often; the rest rarely engage."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, size=n, p=[0.5, 0.25, 0.25])
    orders = np.where(kind == 1, rng.poisson(6, n), np.where(kind == 2, rng.poisson(2, n), rng.poisson(0.5, n)))
    recency = np.where(kind == 2, rng.uniform(30, 90, n), rng.uniform(0, 200, n))
    complaints = rng.poisson(np.where(kind == 0, 1.0, 0.2))
    per_week = rng.gamma(2.0, np.where(kind == 1, 2.0, 0.7))
    return np.column_stack([orders, recency, complaints, per_week]).astype(np.float64), kind


def outcome(kind: np.ndarray, treated: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = np.select([kind == 1, kind == 2], [0.6, np.where(treated, 0.5, 0.05)], 0.02)
    return rng.random(len(kind)) < p


def campaign(n: int, seed: int, holdout: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, kind = audience(n, seed)
    treated = np.random.default_rng(seed + 1).random(n) >= holdout
    return x, kind, treated, outcome(kind, treated, seed + 2)


def test_the_ranking_finds_the_persuadable_and_beats_whole_segment_targeting() -> None:
    x, _, treated, ordered = campaign(6000, seed=11)
    model = fit(FEATURES, x, treated, ordered, seed=0)
    x2, kind2, treated2, ordered2 = campaign(6000, seed=23)
    uplift = model.uplift(x2)
    measured = qini(uplift, treated2, ordered2)
    assert measured.coefficient > 0.1, measured.coefficient
    assert "best possible gain" in measured.sentence()
    random_score = np.random.default_rng(0).random(len(uplift))
    assert abs(qini(random_score, treated2, ordered2).coefficient) < 0.15

    # equal budget: the top by predicted value against a random draw of the same segment (everyone eligible)
    budget = 1000
    value = model.value(x2, margin=40.0, coupon_cost=5.0)
    ranked, explored = choose([f"u{i}" for i in range(len(x2))], value, budget, salt="c2")
    picked = np.array(ranked + explored)
    assert len(picked) == budget and len(explored) == round(budget * EXPLORE_SHARE)
    whole = np.random.default_rng(3).choice(len(x2), budget, replace=False)
    gain = {0: 0.0, 1: 0.0, 2: 0.45}  # planted incremental order probability per type
    incremental_uplift = sum(gain[int(k)] for k in kind2[picked])
    incremental_whole = sum(gain[int(k)] for k in kind2[whole])
    assert incremental_uplift / incremental_whole >= 1.3


def test_choose_is_deterministic_keeps_to_the_budget_and_never_gives_negative_value() -> None:
    keys = [f"p{i}" for i in range(100)]
    value = np.linspace(-1, 1, 100)
    ranked, explored = choose(keys, value, 20, salt="s")
    assert (ranked, explored) == choose(keys, value, 20, salt="s")
    assert len(ranked) + len(explored) == 20 and not set(ranked) & set(explored)
    assert all(value[i] > 0 for i in ranked) and ranked[0] == 99
    few, extra = choose(keys, -np.ones(100), 20, salt="s")
    assert few == [] and len(extra) == 2  # nobody worth a coupon: only the exploration slice goes out
    assert choose(keys, value, 0, salt="s") == ([], [])


def test_too_little_history_says_what_is_missing() -> None:
    x, _, treated, ordered = campaign(100, seed=1, holdout=0.1)
    with pytest.raises(NotEnoughHistory, match="held out"):
        fit(FEATURES, x, treated, ordered)


def test_the_treated_model_reads_the_depth_and_never_lowers_the_chance_for_a_deeper_discount() -> None:
    """Planted: persuadables order with a code only from 10% off; the model learned with each code's depth finds
    their uplift at 15% and not at 5%, and a deeper discount never predicts fewer orders."""
    rng = np.random.default_rng(105)
    x, kind = audience(8000, seed=5)
    treated = rng.random(len(x)) >= 0.2
    depth = np.where(treated, rng.choice([0.05, 0.10, 0.15], size=len(x)), np.nan)
    deep_enough = treated & (np.nan_to_num(depth) >= 0.10)
    p = np.select([kind == 1, kind == 2], [0.6, np.where(deep_enough, 0.5, 0.05)], 0.02)
    ordered = rng.random(len(x)) < p
    model = fit(FEATURES, x, treated, ordered, depth=depth, seed=0)
    assert model.by_depth
    x2, kind2 = audience(3000, seed=7)
    shallow = model.uplift(x2, np.full(len(x2), 0.05))
    deep = model.uplift(x2, np.full(len(x2), 0.15))
    persuadable = kind2 == 2
    assert deep[persuadable].mean() > 0.3 > shallow[persuadable].mean() + 0.2
    assert (deep >= shallow - 1e-12).all()
    assert abs(deep[kind2 == 1].mean()) < 0.1  # sure things: no uplift at any depth


def test_a_column_nobody_has_yet_is_read_as_zero_instead_of_failing() -> None:
    x, _, treated, ordered = campaign(2000, seed=3)
    x = np.column_stack([x, np.full(len(x), np.nan)])  # e.g. the share of earlier codes redeemed, before any
    model = fit((*FEATURES, "redeemed_share"), x, treated, ordered, seed=0)
    assert model.empty == (len(FEATURES),)
    later = x.copy()
    later[:, -1] = 0.5
    assert np.allclose(model.uplift(later), model.uplift(x))
