"""What `target: uplift` knows about a person at a moment (a campaign's issuance): the audience's feature row
(interactions by kind, recency, tenure, frequency, messages, sentiment, complaints, followers, influence: the
app passes bot.domains.audience.features' table, as the store has it now) and their orders in the shop's orders
CSV before that moment (count, money spent, days since the last one, mean order value, and the same for the orders
placed without a coupon: whoever buys at full price may not need one), and how they answered earlier campaigns
whose window was over by then (codes received and the share redeemed; times held out and the share of those in
which they ordered anyway: someone who orders while held out needs no coupon, someone who never redeems one will
not start).

A row for an earlier moment takes the interaction counts as they are now (the store keeps no history of them) with
the recency and tenure moved back to that moment; its order columns are those of that moment, so an order a
coupon brought never explains itself.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from bot.adapters.orders import Order

logger = logging.getLogger(__name__)

DAY = 86_400.0
NEVER_DAYS = 365.0  # days since the last order of someone who never ordered ("long ago")
BASKET_PRIOR = 3.0  # orders at the shop's mean value a person's own mean is shrunk with
ORDER_COLUMNS = ("orders", "spent", "order_recency_days", "order_value", "full_price_orders", "full_price_recency_days")
TIME_COLUMNS = ("recency_days", "tenure_days")
HISTORY_COLUMNS = ("codes_before", "redeemed_share", "held_out_before", "held_out_ordered_share")


class PersonTable(Protocol):
    """The audience's feature table (bot.domains.audience.features.FeatureTable): one row per person."""

    platform: np.ndarray
    user_id: np.ndarray
    username: np.ndarray
    columns: dict[str, np.ndarray]


FeatureSource = Callable[[datetime], PersonTable]  # the feature table at a moment (given by the app)


class OrderBook:
    """The shop's orders by handle (case-insensitive), in time order."""

    def __init__(self, orders: Sequence[Order], coupon_orders: Collection[str] = ()) -> None:
        """`coupon_orders`: the ids of the orders placed with a coupon (redeemed codes)."""
        by_handle: dict[str, list[tuple[float, float]]] = {}
        full: dict[str, list[float]] = {}
        with_coupon = set(coupon_orders)
        for order in orders:
            handle = order.handle.lower().lstrip("@")
            by_handle.setdefault(handle, []).append((order.time.timestamp(), order.amount))
            if order.order_id not in with_coupon:
                full.setdefault(handle, []).append(order.time.timestamp())
        self._full = {handle: sorted(times) for handle, times in full.items()}
        self._times: dict[str, list[float]] = {}
        self._spent: dict[str, list[float]] = {}  # running totals
        for handle, rows in by_handle.items():
            rows.sort()
            self._times[handle] = [t for t, _ in rows]
            total, running = 0.0, []
            for _, amount in rows:
                total += amount
                running.append(total)
            self._spent[handle] = running
        amounts = [o.amount for o in orders]
        self.mean_value = float(np.mean(amounts)) if amounts else 0.0
        self.count = len(amounts)

    def before(self, handle: str | None, moment: datetime) -> tuple[int, float, float]:
        """(orders, money spent, days since the last one) before `moment`."""
        times = self._times.get((handle or "").lower().lstrip("@"))
        if not times:
            return 0, 0.0, NEVER_DAYS
        at = moment.timestamp()
        n = bisect.bisect_left(times, at)
        if n == 0:
            return 0, 0.0, NEVER_DAYS
        return n, self._spent[(handle or "").lower().lstrip("@")][n - 1], (at - times[n - 1]) / DAY

    def full_price_before(self, handle: str | None, moment: datetime) -> tuple[int, float]:
        """(orders without a coupon, days since the last one) before `moment`."""
        times = self._full.get((handle or "").lower().lstrip("@"))
        n = bisect.bisect_left(times, moment.timestamp()) if times else 0
        if not n:
            return 0, NEVER_DAYS
        assert times is not None
        return n, (moment.timestamp() - times[n - 1]) / DAY

    def ordered(self, handle: str | None, start: datetime, end: datetime) -> bool:
        """Whether the person ordered in [start, end)."""
        times = self._times.get((handle or "").lower().lstrip("@"))
        if not times:
            return False
        i = bisect.bisect_left(times, start.timestamp())
        return i < len(times) and times[i] < end.timestamp()

    def basket(self, handle: str | None, moment: datetime) -> float:
        """The person's usual order value before `moment`: their mean shrunk towards the shop's mean as if they had
        also placed BASKET_PRIOR orders of that (one large order says little; the shop's mean when they never
        ordered)."""
        n, spent, _ = self.before(handle, moment)
        return (spent + BASKET_PRIOR * self.mean_value) / (n + BASKET_PRIOR)


class CampaignHistory:
    """Each person's answers to earlier campaigns: (end of the code's window, had a code, ordered in the window)
    by (platform, user id), in time order."""

    def __init__(self, answers: Iterable[tuple[str, str, datetime, bool, bool]] = ()) -> None:
        """`answers`: (platform, user id, end of the window, had a code, ordered or redeemed within it)."""
        by_person: dict[tuple[str, str], list[tuple[float, bool, bool]]] = {}
        for platform, user_id, end, treated, ordered in answers:
            by_person.setdefault((platform, user_id), []).append((end.timestamp(), treated, ordered))
        self._ends: dict[tuple[str, str], list[float]] = {}
        self._counts: dict[tuple[str, str], np.ndarray] = {}  # running (codes, redeemed, held out, ordered held)
        for key, rows in by_person.items():
            rows.sort()
            self._ends[key] = [end for end, _, _ in rows]
            steps = np.array([(t, t and o, not t, (not t) and o) for _, t, o in rows], dtype=np.float64)
            self._counts[key] = np.cumsum(steps, axis=0)

    def before(self, platform: str, user_id: str, moment: datetime) -> tuple[float, float, float, float]:
        """(codes, share redeemed, times held out, share of those with an order) of the campaigns whose window
        was over by `moment` (a share is NaN when there is nothing to divide by)."""
        ends = self._ends.get((platform, user_id))
        n = bisect.bisect_right(ends, moment.timestamp()) if ends else 0
        if not n:
            return 0.0, np.nan, 0.0, np.nan
        codes, redeemed, held, ordered = self._counts[(platform, user_id)][n - 1]
        return (
            codes,
            redeemed / codes if codes else np.nan,
            held,
            ordered / held if held else np.nan,
        )


class People:
    """Feature rows of people at moments, from the feature table read at `now`, the order book and the answers to
    earlier campaigns."""

    def __init__(
        self, table: PersonTable, book: OrderBook, now: datetime, history: CampaignHistory | None = None
    ) -> None:
        self.book = book
        self.now = now
        self.history = history if history is not None else CampaignHistory()
        self._table_columns = [
            name for name in table.columns if name not in ORDER_COLUMNS and name not in HISTORY_COLUMNS
        ]
        self.names: tuple[str, ...] = (*self._table_columns, *ORDER_COLUMNS, *HISTORY_COLUMNS)
        self._block = (
            np.column_stack([np.asarray(table.columns[c], dtype=np.float64) for c in self._table_columns])
            if self._table_columns
            else np.zeros((len(table.user_id), 0))
        )
        self._row = {(str(p), str(u)): i for i, (p, u) in enumerate(zip(table.platform, table.user_id, strict=True))}
        self._handle = table.username

    def handle(self, platform: str, user_id: str) -> str | None:
        i = self._row.get((platform, user_id))
        return None if i is None or self._handle[i] is None else str(self._handle[i])

    def matrix(
        self, people: Sequence[tuple[str, str, str | None]], moments: Sequence[datetime] | datetime
    ) -> np.ndarray:
        """One row per (platform, user id, handle or None: the table's) at its moment (or one for all); people
        the feature table does not know have NaN interaction columns."""
        n = len(people)
        single = isinstance(moments, datetime)
        rows = np.array([self._row.get((p, u), -1) for p, u, _ in people], dtype=np.int64)
        out = np.full((n, len(self.names)), np.nan)
        known = rows >= 0
        width = len(self._table_columns)
        if width:
            out[known, :width] = self._block[rows[known]]
            age = np.array(
                [0.0 if single else (self.now - m).total_seconds() / DAY for m in (moments if not single else [])]
            )
            if not single:
                for name in TIME_COLUMNS:
                    if name in self._table_columns:
                        j = self._table_columns.index(name)
                        out[:, j] = np.clip(out[:, j] - age, 0.0, None)
        for k, (platform, user_id, handle) in enumerate(people):
            moment = moments if single else moments[k]  # type: ignore[index]
            who = handle if handle is not None else self.handle(platform, user_id)
            count, spent, recency = self.book.before(who, moment)  # type: ignore[arg-type]
            full, full_recency = self.book.full_price_before(who, moment)  # type: ignore[arg-type]
            order_columns = (count, spent, recency, spent / count if count else np.nan, full, full_recency)
            out[k, width:] = (*order_columns, *self.history.before(platform, user_id, moment))
        return out
