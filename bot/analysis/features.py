"""Features per user for the audience segments: what they do (interactions by kind, received, recency,
frequency), how they feel (mean sentiment, complaints), how far they reach (influence, followers, community
from the latest graph snapshot) and, with the shop's orders CSV, what they buy (RFM).

The store aggregates in SQL (one GROUP BY); this module turns the chunks into numpy columns."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.store.features import KINDS, NUMERIC

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.errors import Problem
    from bot.orders import Order
    from bot.store import Store
    from bot.store.features import FeatureChunk

logger = logging.getLogger(__name__)

DAY = 86_400.0
Progress = Callable[[str], None]
ORDER_FEATURES = ("orders", "spent", "order_recency_days")
# every feature column, in raw units (ORDER_FEATURES only when an orders CSV is configured)
BASE_FEATURES = (
    *KINDS,
    "received",
    "recency_days",  # days since the last interaction (either way)
    "tenure_days",  # days since the first interaction in the window
    "active_days",  # distinct days on which the user started an interaction
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


def own_pairs(settings: Settings, store: Store) -> set[tuple[str, str]]:
    """(platform, user id) of our own accounts, as far as the daemon has learnt them."""
    from bot.analysis.service import platform_name

    pairs = set()
    for account, user_id in store.own_user_ids().items():
        config = settings.accounts.get(account)
        if config is not None:
            pairs.add((platform_name(config.platform), user_id))
    return pairs


def orders_path(settings: Settings) -> Path | None:
    path = settings.segments.orders_csv
    if path is None:
        return None
    return path if path.is_absolute() else settings.config_dir / path


def load_features(
    settings: Settings,
    store: Store,
    now: datetime,
    *,
    user: tuple[str, str] | None = None,
    progress: Progress | None = None,
    orders: tuple[list[Order], list[Problem]] | None = None,
) -> FeatureTable:
    """The features of every user who interacted within segments.window (or of one `user`), own accounts out,
    with the latest graph snapshot's influence and community and, when segments.orders_csv is set, RFM."""
    config = settings.segments
    since = now - config.window if config.window else None
    snapshot = store.latest_snapshot()
    if progress:
        progress("aggregating interactions and messages per user")
    table = features_from_chunks(
        store.iter_user_features(
            since=since,
            snapshot_id=snapshot.id if snapshot else None,
            exclude=own_pairs(settings, store),
            user=user,
        ),
        now,
        window_days=config.window.total_seconds() / DAY if config.window else None,
    )
    table.snapshot_id = snapshot.id if snapshot else None
    path = orders_path(settings)
    if path is not None or orders is not None:
        if orders is None:
            from bot.orders import read_orders_csv

            assert path is not None
            if progress:
                progress(f"reading orders from {path}")
            orders = read_orders_csv(path)
        add_orders(table, orders[0], now)
        table.order_problems = list(orders[1])
    logger.debug("features of %d users (snapshot %s)", len(table), table.snapshot_id)
    return table


def features_from_chunks(chunks: Iterable[FeatureChunk], now: datetime, *, window_days: float | None) -> FeatureTable:
    """FeatureChunks (bot.store.features) -> FeatureTable; the numeric block of each chunk becomes one float
    array at once (None -> NaN), so no per-user Python object outlives its chunk."""
    platforms: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    names: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    for chunk in chunks:
        platforms.append(np.array(chunk.platform, dtype=object))
        ids.append(np.array(chunk.user_id, dtype=object))
        names.append(np.array(chunk.username, dtype=object))
        blocks.append(np.array(chunk.values, dtype=np.float64).reshape(len(chunk), len(NUMERIC)))
    if blocks:
        block = np.concatenate(blocks)
        platform, user_id, username = np.concatenate(platforms), np.concatenate(ids), np.concatenate(names)
    else:
        block = np.zeros((0, len(NUMERIC)))
        platform = user_id = username = np.zeros(0, dtype=object)
    del blocks
    raw = {name: block[:, i] for i, name in enumerate(NUMERIC)}
    now_s = now.timestamp()
    columns: dict[str, np.ndarray] = {kind: raw[kind].copy() for kind in KINDS}
    columns["received"] = raw["received"].copy()
    last = np.nan_to_num(raw["last_epoch"], nan=now_s)
    first = np.nan_to_num(raw["first_epoch"], nan=now_s)
    columns["recency_days"] = np.clip((now_s - last) / DAY, 0.0, None)
    tenure = np.clip((now_s - first) / DAY, 0.0, None)
    columns["tenure_days"] = tenure
    columns["active_days"] = raw["active_days"].copy()
    started = np.sum(block[:, : len(KINDS)], axis=1)
    span = np.maximum(tenure, 7.0) if window_days is None else np.full(len(tenure), max(window_days, 7.0))
    columns["per_week"] = started / (span / 7.0)
    columns["messages"] = raw["messages"].copy()
    columns["sentiment"] = np.nan_to_num(raw["sentiment"], nan=0.0)
    columns["complaints"] = raw["complaints"].copy()
    columns["followers"] = np.nan_to_num(raw["followers"], nan=0.0)
    columns["influence"] = np.nan_to_num(raw["influence"], nan=0.0)
    community = np.nan_to_num(raw["community"], nan=-1.0).astype(np.int64)
    del block, raw
    for name in columns:
        columns[name] = np.nan_to_num(columns[name], nan=0.0)
    return FeatureTable(platform, user_id, username, columns, community)


def add_orders(table: FeatureTable, orders: list[Order], now: datetime) -> None:
    """RFM columns from orders matched by handle (case-insensitive) to the table's users: days since the
    last order (the window's span when none, so 'never' reads as 'long ago'), order count, money spent."""
    n = len(table)
    count = np.zeros(n)
    spent = np.zeros(n)
    tenure = table.columns.get("tenure_days")
    recency = np.full(n, 365.0)
    by_handle: dict[str, tuple[int, float, float]] = {}
    now_s = now.timestamp()
    for order in orders:
        key = order.handle.lower()
        c, total, last = by_handle.get(key, (0, 0.0, -np.inf))
        by_handle[key] = (c + 1, total + order.amount, max(last, order.time.timestamp()))
    if tenure is not None and n:
        recency[:] = max(365.0, float(tenure.max()))
    matched = 0
    if by_handle:
        for i, name in enumerate(table.username):
            if name is None:
                continue
            hit = by_handle.get(name.lower())
            if hit is None:
                continue
            count[i], spent[i] = hit[0], hit[1]
            recency[i] = max(0.0, (now_s - hit[2]) / DAY)
            matched += 1
    table.columns["orders"] = count
    table.columns["spent"] = spent
    table.columns["order_recency_days"] = recency
    table.orders_matched = matched
