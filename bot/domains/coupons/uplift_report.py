"""What `target: uplift` did, per campaign, in plain words: how its codes were chosen (the top of the ranking, the
exploration slice, or its segments while it could not rank yet) and how well the ranking finds the people a coupon
changes: the Qini coefficient and AUUC of the model learned before a campaign whose codes went out at random, on
that campaign's people (those with a code against those held out)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.domains.coupons.arms import learning_set
from bot.domains.coupons.targeting import (
    NotEnoughHistory,
    NoUpliftData,
    UpliftRows,
    depth_shares,
    learn,
    outcomes,
    people_now,
    settled_rows,
)
from bot.domains.coupons.uplift import Qini, qini

if TYPE_CHECKING:
    from bot.core.records import CouponRecord
    from bot.domains.coupons.people import FeatureSource, People
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

RANKED_CHOICES = ("ranked", "explored")


@dataclass
class UpliftRow:
    campaign: str
    ranked: int = 0  # codes to the top of the ranking
    explored: int = 0  # codes to the exploration slice
    segment: int = 0  # codes to the segments while the campaign could not rank yet
    held_out: int = 0
    measured_on: str | None = None  # the campaign the ranking was measured on
    learned_from: list[str] = field(default_factory=list)
    with_code: int = 0  # its people with a code, and held out
    without_code: int = 0
    coefficient: float | None = None  # Qini coefficient: the share of the best possible gain over random
    auuc: float | None = None  # area under the uplift curve: incremental orders per person targeted, on average
    words: str | None = None  # Qini.sentence()
    note: str | None = None  # why there is no measure (yet), or why the campaign could not rank

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        text = f"{self.campaign}: "
        given = self.ranked + self.explored + self.segment
        if not given:
            text += "no code given yet. "
        else:
            text += (
                f"{given:,} codes: {self.ranked:,} to the people ranked highest, {self.explored:,} drawn at random "
                f"to keep learning"
            )
            if self.segment:
                text += f", {self.segment:,} to its segments as a whole while it could not rank yet"
            text += f"; {self.held_out:,} people held out. "
        if self.coefficient is not None and self.measured_on is not None:
            earlier = ", ".join(self.learned_from)
            text += (
                f"On {self.measured_on} ({self.with_code:,} people with a code, {self.without_code:,} held out), "
                f"{self.words} (Qini coefficient {self.coefficient:.2f}; {self.auuc or 0.0:+.3f} incremental "
                f"orders per person targeted on average), with what it had learned from {earlier}. "
            )
        if self.note:
            text += self.note[0].upper() + self.note[1:] + ("" if self.note.endswith(".") else ".")
        return text.strip()


def uplift_rows(
    settings: Settings, coupons: UpliftRows, now: datetime, features: FeatureSource | None
) -> list[UpliftRow]:
    """One row per `target: uplift` campaign."""
    rows: list[UpliftRow] = []
    people: People | None = None
    problem: str | None = None
    for name, cfg in settings.coupons.campaigns.items():
        if cfg.target != "uplift":
            continue
        row = UpliftRow(name)
        mine = coupons.find(campaign=name)
        choices = Counter(r.choice for r in mine if not r.holdout and r.code is not None)
        row.ranked, row.explored, row.segment = choices["ranked"], choices["explored"], choices["segment"]
        row.held_out = sum(1 for r in mine if r.holdout)
        rows.append(row)
        if people is None and problem is None:
            try:
                people = people_now(settings, coupons, features, now)
            except NoUpliftData as exc:
                problem = str(exc)
        if people is None:
            row.note = f"the ranking cannot be measured: {problem}"
            continue
        _measure(row, settings, coupons, learning_set(name, cfg), people, now)
    return rows


def _measure(
    row: UpliftRow, settings: Settings, coupons: UpliftRows, names: Sequence[str], people: People, now: datetime
) -> None:
    """The Qini of the model learned before the latest random campaign of the learning set, on its people."""
    settled = settled_rows(settings, coupons, names, by=now)
    starts = {name: min(r.issued_at for r in rows) for name, rows in settled.items()}
    random_ = [n for n in settled if not any(r.choice in RANKED_CHOICES for r in settled[n])]
    last_reason = "no campaign of its learning set has finished with its codes given at random yet"
    for target in sorted(random_, key=lambda n: starts[n], reverse=True):
        before = starts[target]
        earlier = settled_rows(settings, coupons, [n for n in names if n != target], by=before)
        history = [r for rows in earlier.values() for r in rows if r.issued_at < before]
        if not history:
            last_reason = f"nothing had finished before {target} to learn from"
            continue
        try:
            model = learn(settings, history, people)
        except NotEnoughHistory as exc:
            last_reason = f"before {target}, {exc}"
            continue
        measured = _qini(settings, settled[target], model, people)
        row.measured_on, row.learned_from = target, sorted(earlier, key=lambda n: starts.get(n, before))
        row.with_code = sum(1 for r in settled[target] if not r.holdout)
        row.without_code = len(settled[target]) - row.with_code
        row.coefficient, row.auuc, row.words = measured.coefficient, measured.auuc, measured.sentence()
        return
    row.note = f"the ranking is not measured yet: {last_reason}"


def _qini(settings: Settings, rows: Sequence[CouponRecord], model: Any, people: People) -> Qini:
    x = people.matrix([(r.platform, r.user_id, r.username) for r in rows], [r.issued_at for r in rows])
    treated, ordered = outcomes(settings, rows, people)
    depth = depth_shares(settings, rows, people)
    if np.isfinite(depth).any():  # everyone scored alike: the held out at the depth a code would have had on average
        depth = np.where(np.isfinite(depth), depth, float(np.nanmean(depth)))
    return qini(np.asarray(model.uplift(x, depth)), treated, ordered)
