"""Features per user for the audience segments: what they do (interactions by kind, received, recency,
frequency), how they feel (mean sentiment, complaints), how far they reach (influence, followers, community
from the latest graph snapshot) and, with the shop's orders CSV, what they buy (RFM).

The store aggregates in SQL (one GROUP BY); this module turns the chunks into numpy columns."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from bot.core.records import FEATURE_KINDS as KINDS
from bot.core.records import FEATURE_PARTS as PARTS
from bot.domains.audience.jobs import Progress

if TYPE_CHECKING:
    from bot.adapters.orders import Order, OrderColumns
    from bot.core.errors import Problem
    from bot.core.ports import FeatureStore
    from bot.core.records import FeatureChunk
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

DAY = 86_400.0
FETCH_THREADS = 1  # one reader ahead of the merging; more readers were slower on 2 busy cores (16.7 s vs 22 s at 1M)
INTERACTION_SLICES = 1  # >1: the largest GROUP BYs split by id range (for more cores)
SLICE_MIN = 200_000  # smaller logs are read in one piece
ORDER_FEATURES = ("orders", "spent", "order_recency_days")
# every feature column, in raw units (ORDER_FEATURES only when an orders CSV is configured)
BASE_FEATURES = (
    *KINDS,
    "received",
    "recency_days",  # days since the last interaction (either way)
    "tenure_days",  # days since the first interaction in the window
    "per_week",  # interactions started per week, over the window (or since the first one)
    "messages",
    "sentiment",  # mean, 0 (neutral) when no message was scored
    "complaints",
    "followers",
    "influence",  # combined influencer score of the graph snapshot, 0 when not in it
)


@dataclass
class FeatureTable:
    """One row per user: identity arrays and float64 feature columns; `community` is -1 when unknown."""

    platform: np.ndarray  # object
    user_id: np.ndarray  # object
    username: np.ndarray  # object (None when unknown)
    columns: dict[str, np.ndarray]
    community: np.ndarray  # int64
    snapshot_id: int | None = None
    order_problems: list[Problem] = field(default_factory=list)
    orders_matched: int = 0

    def __len__(self) -> int:
        return len(self.user_id)

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def row(self, index: int) -> dict[str, float]:
        return {name: float(values[index]) for name, values in self.columns.items()}

    def index_of(self, platform: str, user_id: str) -> int | None:
        hits = np.flatnonzero((self.user_id == user_id) & (self.platform == platform))
        return int(hits[0]) if len(hits) else None

    def select(self, mask: np.ndarray) -> FeatureTable:
        if mask.all():
            return self
        return FeatureTable(
            self.platform[mask],
            self.user_id[mask],
            self.username[mask],
            {k: v[mask] for k, v in self.columns.items()},
            self.community[mask],
            self.snapshot_id,
            self.order_problems,
            self.orders_matched,
        )


def own_pairs(settings: Settings, store: FeatureStore) -> set[tuple[str, str]]:
    """(platform, user id) of our own accounts, as far as the daemon has learnt them."""
    from bot.core.models import platform_name

    pairs = set()
    for account, user_id in store.accounts.own_user_ids().items():
        config = settings.accounts.get(account)
        if config is not None:
            pairs.add((platform_name(config.platform), user_id))
    return pairs


def load_features(
    settings: Settings,
    store: FeatureStore,
    now: datetime,
    *,
    user: tuple[str, str] | None = None,
    progress: Progress | None = None,
    orders: tuple[OrderColumns | Sequence[Order], list[Problem]] | None = None,
) -> FeatureTable:
    """The features of every user who interacted within segments.window (or of one `user`), own accounts out,
    with the latest graph snapshot's influence and community and, when segments.orders_csv is set, RFM."""
    config = settings.segments
    since = now - config.window if config.window else None
    snapshot = store.graphs.latest_snapshot()
    exclude = own_pairs(settings, store)
    merger = _Merger()
    jobs: list[tuple[str, tuple[int, int] | None]] = []
    low, high = store.people.interaction_id_range() if user is None and INTERACTION_SLICES > 1 else (0, 0)
    step = -(-(high - low) // INTERACTION_SLICES) if high > low else 0
    for part in PARTS:
        if part == "scores" and snapshot is None:
            continue
        if part in ("started", "received") and step and high - low >= SLICE_MIN:
            jobs.extend((part, (start, min(start + step, high))) for start in range(low, high, step))
        else:
            jobs.append((part, None))

    results: list[list[_Chunk] | None] = [None] * len(jobs)

    def fetch(k: int) -> None:
        part, ids = jobs[k]
        results[k] = [
            _Chunk.of(chunk)
            for chunk in store.features.iter_part(
                part, since=since, snapshot_id=snapshot.id if snapshot else None, exclude=exclude, user=user, ids=ids
            )
        ]

    # the parts (and slices of the interaction log) are read side by side: the drivers leave the GIL while the
    # database sorts; they are merged in order, each let go once merged
    with ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="features") as pool:
        futures = [pool.submit(fetch, k) for k in range(len(jobs))]
        try:
            for k, future in enumerate(futures):
                future.result()
                part = jobs[k][0]
                if progress:
                    progress(f"aggregating per user: {PART_NAMES[part]}")
                merger.add(part, results[k] or [], create=part in ("started", "received", "messages"))
                results[k] = None
        finally:
            for future in futures:
                future.cancel()  # a failed part: the parts not started yet are not read
    table = merger.table(now, window_days=config.window.total_seconds() / DAY if config.window else None)
    table.snapshot_id = snapshot.id if snapshot else None
    path = settings.orders_csv_path
    if path is not None or orders is not None:
        if orders is None:
            from bot.adapters.orders import read_order_columns

            assert path is not None
            if progress:
                progress(f"reading orders from {path}")
            orders = read_order_columns(path)
        add_orders(table, orders[0], now)
        table.order_problems = list(orders[1])
    logger.debug("features of %d users (snapshot %s)", len(table), table.snapshot_id)
    return table


PART_NAMES = {
    "started": "interactions started",
    "received": "interactions received",
    "messages": "messages, sentiment, complaints",
    "users": "handles and followers",
    "scores": "graph influence and communities",
}


@dataclass
class _Chunk:
    """A FeatureChunk made compact in the reading thread: ids as lists, values as one float block."""

    platform: list[str]
    user_id: list[str]
    block: np.ndarray
    names: list[str | None] | None = None

    @classmethod
    def of(cls, chunk: FeatureChunk) -> _Chunk:
        n = len(chunk)
        if chunk.part == "users":
            names = [v[0] for v in chunk.values]
            block = np.array([v[1] for v in chunk.values], dtype=np.float64).reshape(n, 1)
            return cls(chunk.platform, chunk.user_id, block, names)
        return cls(chunk.platform, chunk.user_id, np.array(chunk.values, dtype=np.float64).reshape(n, -1))


class _Merger:
    """Joins the parts on (platform, user id): one dict per platform maps ids to row numbers; each chunk becomes
    an index array and a float block (None -> NaN) at once, scattered into the columns at the end."""

    def __init__(self) -> None:
        self.index: dict[str, dict[str, int]] = {}
        self.platforms: list[str] = []
        self.ids: list[str] = []
        self.parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {p: [] for p in PARTS}
        self.usernames: list[tuple[np.ndarray, list[str | None]]] = []

    def _rows(self, platforms: list[str], ids: list[str], create: bool) -> np.ndarray:
        """Row numbers of these users (-1: unknown and not `create`d); new users get the next rows."""
        if ids and platforms.count(platforms[0]) == len(platforms):  # one platform (the usual case): C-level loops
            index = self.index.setdefault(platforms[0], {})
            got = list(map(index.get, ids))
            if create and got.count(None) == len(got) and len(set(ids)) == len(ids):
                start = len(self.ids)
                index.update(zip(ids, range(start, start + len(ids)), strict=True))
                self.ids.extend(ids)
                self.platforms.extend(platforms)
                return np.arange(start, start + len(ids), dtype=np.int64)
            if None not in got:
                return np.array(got, dtype=np.int64)
            if not create:
                return np.array([-1 if g is None else g for g in got], dtype=np.int64)
        out = np.empty(len(ids), dtype=np.int64)
        platform, index = None, None
        for j, (p, u) in enumerate(zip(platforms, ids, strict=True)):
            if p != platform:
                platform, index = p, self.index.setdefault(p, {})
            assert index is not None
            row = index.get(u)
            if row is None:
                if not create:
                    out[j] = -1
                    continue
                row = index[u] = len(self.ids)
                self.ids.append(u)
                self.platforms.append(p)
            out[j] = row
        return out

    def add(self, part: str, chunks: Iterable[_Chunk], *, create: bool) -> None:
        for chunk in chunks:
            rows = self._rows(chunk.platform, chunk.user_id, create)
            keep = rows >= 0
            if chunk.names is not None:
                self.usernames.append((rows[keep], [n for n, k in zip(chunk.names, keep.tolist(), strict=True) if k]))
            self.parts[part].append((rows[keep], chunk.block[keep]))

    def column(self, part: str, name: str, fill: float, how: str = "set") -> np.ndarray:
        """One column of a part; rows met in several chunks (slices of the log) are summed, or their max/min."""
        out = np.full(len(self.ids), fill, dtype=np.float64)
        j = (PARTS[part] if part != "users" else ("followers",)).index(name)
        for rows, block in self.parts[part]:
            if how == "sum":
                out[rows] += block[:, j]
            elif how == "max":
                out[rows] = np.fmax(out[rows], block[:, j])
            elif how == "min":
                out[rows] = np.fmin(out[rows], block[:, j])
            else:
                out[rows] = block[:, j]
        return out

    def table(self, now: datetime, *, window_days: float | None) -> FeatureTable:
        n = len(self.ids)
        now_s = now.timestamp()
        columns: dict[str, np.ndarray] = {kind: self.column("started", kind, 0.0, "sum") for kind in KINDS}
        columns["received"] = self.column("received", "received", 0.0, "sum")
        last = np.fmax(
            self.column("started", "last_epoch", np.nan, "max"), self.column("received", "last_epoch", np.nan, "max")
        )
        first = np.fmin(
            self.column("started", "first_epoch", np.nan, "min"), self.column("received", "first_epoch", np.nan, "min")
        )
        columns["recency_days"] = np.clip((now_s - np.nan_to_num(last, nan=now_s)) / DAY, 0.0, None)
        tenure = np.clip((now_s - np.nan_to_num(first, nan=now_s)) / DAY, 0.0, None)
        columns["tenure_days"] = tenure
        started = np.zeros(n)
        for kind in KINDS:
            started += columns[kind]
        span = np.maximum(tenure, 7.0) if window_days is None else np.full(n, max(window_days, 7.0))
        columns["per_week"] = started / (span / 7.0)
        columns["messages"] = self.column("messages", "messages", 0.0)
        columns["sentiment"] = np.nan_to_num(self.column("messages", "sentiment", np.nan), nan=0.0)
        columns["complaints"] = self.column("messages", "complaints", 0.0)
        columns["followers"] = np.nan_to_num(self.column("users", "followers", np.nan), nan=0.0)
        columns["influence"] = np.nan_to_num(self.column("scores", "influence", np.nan), nan=0.0)
        community = np.nan_to_num(self.column("scores", "community", np.nan), nan=-1.0).astype(np.int64)
        username = np.full(n, None, dtype=object)
        for rows, names in self.usernames:
            username[rows] = np.array(names, dtype=object)
        self.parts = {p: [] for p in PARTS}
        return FeatureTable(
            np.array(self.platforms, dtype=object), np.array(self.ids, dtype=object), username, columns, community
        )


def add_orders(table: FeatureTable, orders: OrderColumns | Sequence[Order], now: datetime) -> None:
    """RFM columns from orders matched by handle (case-insensitive) to the table's users: days since the
    last order (the window's span when none, so 'never' reads as 'long ago'), order count, money spent."""
    from bot.adapters.orders import OrderColumns

    columns = orders if isinstance(orders, OrderColumns) else OrderColumns.of(orders)
    n = len(table)
    count = np.zeros(n)
    spent = np.zeros(n)
    tenure = table.columns.get("tenure_days")
    recency = np.full(n, 365.0)
    if tenure is not None and n:
        recency[:] = max(365.0, float(tenure.max()))
    matched = 0
    if len(columns):
        index: dict[str, int] = {}
        codes = np.fromiter(
            (index.setdefault(h, len(index)) for h in map(str.lower, columns.handle)), np.int64, len(columns)
        )
        per_handle_count = np.bincount(codes, minlength=len(index)).astype(np.float64)
        per_handle_spent = np.bincount(codes, weights=np.asarray(columns.amount, np.float64), minlength=len(index))
        per_handle_last = np.full(len(index), -np.inf)
        np.maximum.at(per_handle_last, codes, np.asarray(columns.epoch, np.float64))
        get = index.get
        hit = np.fromiter(
            (-1 if name is None else get(name.lower(), -1) for name in table.username.tolist()), np.int64, n
        )
        rows = np.flatnonzero(hit >= 0)
        found = hit[rows]
        count[rows] = per_handle_count[found]
        spent[rows] = per_handle_spent[found]
        recency[rows] = np.maximum(0.0, (now.timestamp() - per_handle_last[found]) / DAY)
        matched = len(rows)
    table.columns["orders"] = count
    table.columns["spent"] = spent
    table.columns["order_recency_days"] = recency
    table.orders_matched = matched
