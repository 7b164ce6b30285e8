"""Community interests: c-TF-IDF terms and names, interest vectors, `pick: interest`, the recommend fallback."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import numpy as np

from bot.domains.audience.interests import build_interests, class_tfidf, interest_vector, pick_product
from bot.domains.audience.recommend import Catalogue, Recommender, Signal, user_key
from bot.sandbox import phrases

NOW = datetime(2030, 1, 7, tzinfo=UTC)


def small_audience(seed: int = 3) -> tuple[dict[str, int], dict[int, int], list[tuple[str, str]], list[Signal]]:
    """Three communities of 30 people: 0 writes about candles (English), 1 about lamps, 2 in Chinese about tea."""
    rng = random.Random(seed)
    likes = {0: ["Yuki candle", "Hinoki bath set"], 1: ["Aki table lamp", "Tsuki pendant light"], 2: ["Mori tea set"]}
    words = {0: "cosy scent", 1: "bright reading", 2: "喝茶 茶具 很好"}
    membership: dict[str, int] = {}
    messages: list[tuple[str, str]] = []
    signals: list[Signal] = []
    for c in range(3):
        for i in range(30):
            key = f"user{c}_{i}"
            membership[key] = c
            product = rng.choice(likes[c])
            messages.append((key, f"@shop love the {product}, {words[c]}"))
            signals.append(Signal(key, product, "order", NOW))
            if rng.random() < 0.2:
                signals.append(Signal(key, rng.choice(phrases.PRODUCTS)[0], "order", NOW))
    return membership, {0: 30, 1: 30, 2: 30}, messages, signals


def catalogue() -> Catalogue:
    cat = Catalogue()
    for en, zh, price in phrases.PRODUCTS:
        cat.add(en, [zh], {"price": price})
    return cat


def test_class_tfidf_ranks_terms_of_one_class_above_shared_ones() -> None:
    terms = class_tfidf([["candle", "shop", "candle"], ["lamp", "shop"], ["茶具", "shop"]])
    assert terms[0][0][0] == "candle"
    assert terms[1][0][0] == "lamp"
    assert terms[2][0][0] == "茶具"


def test_communities_get_products_terms_and_readable_names() -> None:
    membership, sizes, messages, signals = small_audience()
    interests = build_interests(membership, sizes, messages, signals, catalogue=catalogue(), now=NOW)
    by_id = {c.id: c for c in interests.communities}
    assert {p for p, _ in by_id[0].products[:2]} == {"Yuki candle", "Hinoki bath set"}
    assert by_id[1].products[0][0] in {"Aki table lamp", "Tsuki pendant light"}
    assert by_id[2].products[0][0] == "Mori tea set"
    assert "scent" in [t for t, _ in by_id[0].terms] or "cosy" in [t for t, _ in by_id[0].terms]
    assert by_id[2].language == "zh" and any(t in ("喝茶", "茶具") for t, _ in by_id[2].terms)
    names = [c.name for c in interests.communities]
    assert len(set(names)) == 3 and all("community" not in n and "lovers (" in n for n in names)
    assert interests.community("tea") is by_id[2]
    assert interests.community(1) is by_id[1]


def test_product_vectors_lean_on_the_communities_that_buy_them() -> None:
    membership, sizes, messages, signals = small_audience()
    interests = build_interests(membership, sizes, messages, signals, catalogue=catalogue(), now=NOW)
    tea = interests.product_vectors["Mori tea set"]
    assert abs(tea.sum() - 1) < 1e-9 and int(np.argmax(tea)) == 2 and tea[2] > 0.6
    nobody = interest_vector(np.zeros(3), np.array([30.0, 30.0, 30.0]))
    assert np.allclose(nobody, 1 / 3)


def test_pick_interest_picks_the_favourite_and_still_tries_a_new_product() -> None:
    membership, sizes, messages, signals = small_audience()
    interests = build_interests(membership, sizes, messages, signals, catalogue=catalogue(), now=NOW)
    candidates = ["Mori tea set", "Yuki candle", "Aki table lamp", "Brand new vase"]
    wanted = interests.community_counts(2)
    picks = Counter(pick_product(wanted, candidates, interests.popularity, seed).product for seed in range(400))
    assert picks.most_common(1)[0][0] == "Mori tea set"
    thin = {"Mori tea set": 3.0}  # a target with little history: a new product gets its chance
    thin_picks = Counter(pick_product(thin, candidates, interests.popularity, s).product for s in range(400))
    assert thin_picks["Brand new vase"] > 0 and thin_picks.most_common(1)[0][0] == "Mori tea set"
    again = pick_product(wanted, candidates, interests.popularity, 17)
    assert again == pick_product(wanted, candidates, interests.popularity, 17)  # deterministic per slot seed
    assert "favourite" in again.reason or "chance" in again.reason


def test_recommend_falls_back_to_the_community_when_history_is_thin() -> None:
    membership, sizes, messages, signals = small_audience()
    cat = catalogue()
    interests = build_interests(membership, sizes, messages, signals, catalogue=cat, now=NOW)
    membership_new = {**membership, user_key("newcomer"): 2}
    interests.membership.update(membership_new)
    recommender = Recommender(signals, cat, NOW)
    before = [r.product for r in recommender.recommend(None, "newcomer", 2)]
    recommender.use_communities(interests.taste)
    after = recommender.recommend(None, "@Newcomer", 2)
    assert after[0].product == "Mori tea set" and "community" in after[0].reason
    assert before[0] != "Mori tea set" or before == [r.product for r in recommender.popular(2)]
    regular = recommender.recommend(None, "user0_1", 2)  # enough history: collaborative filtering as before
    assert all("community" not in r.reason for r in regular)
