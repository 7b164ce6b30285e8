"""What `target: uplift` knows about a person at a moment (a campaign's issuance): the audience's feature row
(interactions by kind, recency, tenure, frequency, messages, sentiment, complaints, followers, influence: the
app passes bot.domains.audience.features' table, as the store has it now) and their orders in the shop's orders
CSV before that moment (count, money spent, days since the last one, mean order value, and the same for the orders
placed without a coupon: whoever buys at full price may not need one).

A row for an earlier moment takes the interaction counts as they are now (the store keeps no history of them) with
the recency and tenure moved back to that moment; its order columns are those of that moment, so an order a
coupon brought never explains itself.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from bot.adapters.orders import Order

logger = logging.getLogger(__name__)

DAY = 86_400.0
NEVER_DAYS = 365.0  # days since the last order of someone who never ordered ("long ago")
ORDER_COLUMNS = ("orders", "spent", "order_recency_days", "order_value", "full_price_orders", "full_price_recency_days")
TIME_COLUMNS = ("recency_days", "tenure_days")


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
        """The person's mean order value before `moment` (the shop's mean when they never ordered)."""
        n, spent, _ = self.before(handle, moment)
        return spent / n if n else self.mean_value


class People:
    """Feature rows of people at moments, from the feature table read at `now` and the order book."""

    def __init__(self, table: PersonTable, book: OrderBook, now: datetime) -> None:
        self.book = book
        self.now = now
        self._table_columns = [name for name in table.columns if name not in ORDER_COLUMNS]
        self.names: tuple[str, ...] = (*self._table_columns, *ORDER_COLUMNS)
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
            out[k, width:] = (count, spent, recency, spent / count if count else np.nan, full, full_recency)
        return out
