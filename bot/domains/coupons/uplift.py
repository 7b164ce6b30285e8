"""Coupons to the people they change (`target: uplift`): who orders because of a coupon, learned from earlier
campaigns' randomised holdouts, and how well a ranking did on the next campaign's holdout.

The model is a T-learner: one gradient-boosted classifier (scikit-learn's HistGradientBoostingClassifier) learns
P(order | features, depth) on the people who got a code (the discount's depth as a share of the order, monotone: a
deeper discount never lowers it), another P(order | features) on the held-out people; a person's uplift is the
difference at the depth they would get. Ranking value = uplift x margin of an order - the coupon's cost when it is
used (the code is redeemed by someone who orders: P(order | coupon) x discount). The budget is then filled from the
top, with a random holdout (as every campaign keeps) and an exploration slice drawn uniformly from the rest, so the
next campaign's model still sees people the ranking would skip.

How a ranking did: on a campaign whose holdout was random, the Qini curve of the ranking (treated orders minus
held-out orders scaled to the treated count, over the top k people) and its coefficient: the area between it and
random targeting's straight line, divided by the area a perfect ranking could have (its share; 0 = no better than
random, negative = worse). AUUC: the mean of the uplift curve (the incremental orders per person targeted) over
the population's fractions.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

MIN_GROUP = 30  # fewer treated or held-out people than this: no model (the campaign falls back to its segments)
EXPLORE_SHARE = 0.10  # of the budget, drawn uniformly among the eligible people the ranking did not pick


class NotEnoughHistory(ValueError):
    """Too few treated or held-out people in earlier campaigns to learn uplift from."""

    def __init__(self, treated: int, held_out: int) -> None:
        self.treated, self.held_out = treated, held_out
        super().__init__(
            f"uplift needs at least {MIN_GROUP} people who got a code and {MIN_GROUP} held out in earlier campaigns; "
            f"found {treated} and {held_out}"
        )


@dataclass(frozen=True)
class UpliftModel:
    """P(order | coupon) and P(order | no coupon) for a feature matrix (columns in `features` order); with
    `by_depth`, the first also reads the discount's depth (a share of the order) as its last column."""

    features: tuple[str, ...]
    treated: object  # fitted classifiers (scikit-learn)
    control: object
    by_depth: bool = False
    empty: tuple[int, ...] = ()  # columns without a single value when it was learned: read as 0

    def probabilities(self, x: np.ndarray, depth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        from threadpoolctl import threadpool_limits

        x = _zeroed(x, self.empty)
        with threadpool_limits(1):  # OpenMP threads on a busy machine cost more than they give at this size
            p1 = self.treated.predict_proba(self._with_depth(x, depth))[:, 1]  # type: ignore[attr-defined]
            p0 = self.control.predict_proba(x)[:, 1]  # type: ignore[attr-defined]
        return p1, p0

    def _with_depth(self, x: np.ndarray, depth: np.ndarray | None) -> np.ndarray:
        if not self.by_depth:
            return x
        column = np.full(len(x), np.nan) if depth is None else np.asarray(depth, dtype=np.float64)
        return np.column_stack([x, column])

    def uplift(self, x: np.ndarray, depth: np.ndarray | None = None) -> np.ndarray:
        p1, p0 = self.probabilities(x, depth)
        return p1 - p0

    def value(
        self,
        x: np.ndarray,
        *,
        margin: float | np.ndarray,
        coupon_cost: float | np.ndarray,
        depth: np.ndarray | None = None,
    ) -> np.ndarray:
        """Expected incremental margin per person minus the coupon's expected cost (paid by everyone who orders
        with the code, also those who would have ordered anyway)."""
        p1, p0 = self.probabilities(x, depth)
        return (p1 - p0) * margin - p1 * coupon_cost


def fit(
    features: Sequence[str],
    x: np.ndarray,
    treated: np.ndarray,
    ordered: np.ndarray,
    *,
    depth: np.ndarray | None = None,
    seed: int = 0,
) -> UpliftModel:
    """A T-learner from earlier campaigns' rows: `x` people x features, `treated` (got a code) and `ordered`
    (ordered within the campaign's window) booleans; `depth`: each treated row's discount as a share of the order
    (NaN where unknown), when the campaigns offered several."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    treated = np.asarray(treated, dtype=bool)
    ordered = np.asarray(ordered, dtype=bool)
    n_t, n_c = int(treated.sum()), int((~treated).sum())
    if n_t < MIN_GROUP or n_c < MIN_GROUP:
        raise NotEnoughHistory(n_t, n_c)
    empty = tuple(int(j) for j in np.flatnonzero(~np.isfinite(x).any(axis=0)))
    x = _zeroed(x, empty)
    by_depth = depth is not None and bool(np.ptp(np.nan_to_num(np.asarray(depth, dtype=np.float64)[treated])) > 0)

    def classifier(rows: np.ndarray, labels: np.ndarray, monotone: list[int] | None = None) -> object:
        if labels.all() or not labels.any():  # one class only: a constant model
            return _Constant(float(labels.mean()))
        model = HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.06,
            max_leaf_nodes=15,
            min_samples_leaf=20,
            l2_regularization=1.0,
            monotonic_cst=monotone,
            random_state=seed,
        )
        return model.fit(rows, labels)

    with threadpool_limits(1):  # as in probabilities()
        if by_depth:
            assert depth is not None
            rows = np.column_stack([x[treated], np.asarray(depth, dtype=np.float64)[treated]])
            first = classifier(rows, ordered[treated], [0] * x.shape[1] + [1])
        else:
            first = classifier(x[treated], ordered[treated])
        model = UpliftModel(tuple(features), first, classifier(x[~treated], ordered[~treated]), by_depth, empty)
    logger.info("uplift model learned from %d people with a code and %d held out", n_t, n_c)
    return model


def _zeroed(x: np.ndarray, columns: tuple[int, ...]) -> np.ndarray:
    if not columns:
        return x
    out = np.array(x, dtype=np.float64)
    out[:, list(columns)] = 0.0
    return out


@dataclass(frozen=True)
class _Constant:
    p: float

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        out = np.empty((len(x), 2))
        out[:, 1] = self.p
        out[:, 0] = 1 - self.p
        return out


def _unit(key: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose(
    keys: Sequence[str], value: np.ndarray, budget: int, *, salt: str, explore: float = EXPLORE_SHARE
) -> tuple[list[int], list[int]]:
    """Indexes of `keys` to give a code within `budget`: (ranked: the top of the ranking, only people whose value
    is positive; explored: the exploration slice, drawn among the rest by a hash of each key and `salt`, so a rerun
    draws the same people). A budget the positive values do not fill is left unspent, not given away."""
    if budget <= 0 or not len(keys):
        return [], []
    value = np.asarray(value, dtype=np.float64)
    explored_n = min(budget, round(budget * explore))
    ranked = [int(i) for i in np.lexsort((np.arange(len(value)), -value)) if value[i] > 0][: budget - explored_n]
    taken = set(ranked)
    rest = sorted((i for i in range(len(keys)) if i not in taken), key=lambda i: _unit(keys[i], salt))
    return ranked, rest[:explored_n]


@dataclass(frozen=True)
class Qini:
    """How a ranking did on a randomised campaign: the curve's points (fraction targeted, incremental orders) and
    the coefficient (share of a perfect ranking's area above random targeting)."""

    fractions: np.ndarray
    gains: np.ndarray
    coefficient: float
    auuc: float

    def sentence(self) -> str:
        if self.coefficient >= 0.05:
            return f"the ranking found the people a coupon changes: {self.coefficient:.0%} of the best possible gain"
        if self.coefficient > -0.05:
            return "the ranking did no better than picking people at random"
        return "the ranking did worse than picking people at random"


def qini(score: np.ndarray, treated: np.ndarray, ordered: np.ndarray) -> Qini:
    """The Qini curve and coefficient of ranking people by `score` (highest first), measured on a campaign where
    `treated` was random."""
    score = np.asarray(score, dtype=np.float64)
    treated = np.asarray(treated, dtype=bool)
    ordered = np.asarray(ordered, dtype=bool)
    order = np.lexsort((np.arange(len(score)), -score))
    t, y = treated[order], ordered[order]
    n_t = np.cumsum(t)
    n_c = np.cumsum(~t)
    y_t = np.cumsum(y & t)
    y_c = np.cumsum(y & ~t)
    with np.errstate(divide="ignore", invalid="ignore"):
        gains = np.where(n_c > 0, y_t - y_c * n_t / np.maximum(n_c, 1), y_t)
    n = len(score)
    fractions = np.arange(1, n + 1) / n if n else np.zeros(0)
    if n == 0:
        return Qini(fractions, gains, 0.0, 0.0)
    total = float(gains[-1])
    random_area = total / 2
    area = float(np.mean(gains))
    # a perfect ranking: every treated buyer first, then the rest, the held-out buyers last
    perfect_order = np.lexsort((np.arange(n), -(ordered & treated).astype(int) + (ordered & ~treated).astype(int)))
    pt, py = treated[perfect_order], ordered[perfect_order]
    pn_t, pn_c = np.cumsum(pt), np.cumsum(~pt)
    perfect = np.where(
        pn_c > 0, np.cumsum(py & pt) - np.cumsum(py & ~pt) * pn_t / np.maximum(pn_c, 1), np.cumsum(py & pt)
    )
    best = float(np.mean(perfect)) - random_area
    coefficient = (area - random_area) / best if best > 0 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        uplift_curve = np.where(n_t > 0, y_t / np.maximum(n_t, 1), 0.0) - np.where(
            n_c > 0, y_c / np.maximum(n_c, 1), 0.0
        )
    return Qini(fractions, gains, float(coefficient), float(np.mean(uplift_curve)))
