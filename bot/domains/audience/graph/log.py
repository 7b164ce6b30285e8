"""The weighted interaction log: the stored interactions read in chunks straight into integer arrays (no networkx
graph at scale), each weighted by its kind and decayed by its age; node ints index `InteractionLog.keys`, node keys
are "platform:user_id" strings."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from bot.domains.audience import engine
from bot.domains.audience.jobs import Progress
from bot.settings.graph import INTERACTION_KINDS, GraphConfig

if TYPE_CHECKING:
    from bot.core.ports import GraphStore
    from bot.core.records import EdgeChunk


def node_key(platform: str, user_id: str) -> str:
    return f"{platform}:{user_id}"


def split_key(key: str) -> tuple[str, str]:
    platform, _, user_id = key.partition(":")
    return platform, user_id


@dataclass
class InteractionLog:
    """The weighted edge log: src[i] -> dst[i] with weight[i] (kind weight x decay), node ints index `keys`."""

    keys: list[str]
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    kind: np.ndarray  # index into INTERACTION_KINDS
    n_read: int = 0  # interactions read from the store (before own-account and zero-weight rows were dropped)
    kinds: dict[str, int] = field(default_factory=dict)  # interactions kept, by kind

    def __len__(self) -> int:
        return int(self.src.size)

    def edge_log(self) -> engine.EdgeLog:
        return engine.EdgeLog(self.src, self.dst, self.weight)


def decay_factor(age_seconds: np.ndarray, half_life_seconds: float | None) -> np.ndarray:
    """0.5 ** (age / half_life); future timestamps count as now; no half-life: 1."""
    if not half_life_seconds:
        return np.ones_like(age_seconds, dtype=np.float64)
    return np.power(0.5, np.maximum(age_seconds, 0.0) / half_life_seconds)


class _LogBuilder:
    def __init__(self, config: GraphConfig, now: datetime, own_keys: Collection[str]) -> None:
        self.index: dict[str, int] = {}
        self.by_platform: dict[str, dict[str, int]] = {}
        self.keys: list[str] = []
        self.kind_code = {kind: i for i, kind in enumerate(INTERACTION_KINDS)}
        self.kind_weight = np.array([config.kind_weights.get(k, 0.0) for k in INTERACTION_KINDS], dtype=np.float64)
        self.half_life = config.half_life.total_seconds() if config.half_life else None
        self.now = now.timestamp()
        self.own = {self._id(k) for k in own_keys} if not config.include_own_account else set()
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.n_read = 0

    def _id(self, key: str) -> int:
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.keys)
            self.keys.append(key)
        return found

    def _ids(self, platforms: list[str], users: list[str]) -> np.ndarray:
        first = platforms[0] if platforms else ""
        if all(p == first for p in platforms):  # one platform (the usual case): no key strings per row
            by_user = self.by_platform.setdefault(first, {})
            prefix = f"{first}:"

            def ident(user: str) -> int:
                found = by_user.get(user)
                if found is None:
                    found = by_user[user] = self._id(prefix + user)
                return found

            return np.fromiter((ident(u) for u in users), np.int64, len(users))
        return np.fromiter((self._id(f"{p}:{u}") for p, u in zip(platforms, users, strict=True)), np.int64, len(users))

    def add(self, chunk: EdgeChunk) -> None:
        self.n_read += len(chunk)
        src = self._ids(chunk.platform, chunk.source)
        dst = self._ids(chunk.platform, chunk.target)
        codes = self.kind_code
        kind = np.fromiter((codes.get(k, -1) for k in chunk.kind), np.int16, len(chunk))
        epoch = np.asarray(chunk.epoch, dtype=np.float64)
        keep = (kind >= 0) & (src != dst)
        keep &= self.kind_weight[np.maximum(kind, 0)] > 0
        if self.own:
            own = np.fromiter(self.own, np.int64, len(self.own))
            keep &= ~np.isin(src, own) & ~np.isin(dst, own)
        src, dst, kind, epoch = src[keep], dst[keep], kind[keep], epoch[keep]
        weight = self.kind_weight[kind] * decay_factor(self.now - epoch, self.half_life)
        self.parts.append((src, dst, kind, weight))

    def build(self) -> InteractionLog:
        if self.parts:
            src, dst, kind, weight = (np.concatenate(column) for column in zip(*self.parts, strict=True))
        else:
            src = dst = np.zeros(0, np.int64)
            kind = np.zeros(0, np.int16)
            weight = np.zeros(0, np.float64)
        counts = np.bincount(kind, minlength=len(INTERACTION_KINDS)) if kind.size else np.zeros(0, np.int64)
        kinds = {INTERACTION_KINDS[i]: int(n) for i, n in enumerate(counts) if n}
        return InteractionLog(self.keys, src, dst, weight, kind, self.n_read, kinds)


def load_log(
    store: GraphStore,
    config: GraphConfig,
    now: datetime,
    *,
    own_keys: Collection[str] = (),
    progress: Progress | None = None,
) -> InteractionLog:
    """The interaction log within config.window, weighted and decayed as of `now`, own accounts in or out."""
    since = now - config.window if config.window else None
    builder = _LogBuilder(config, now, own_keys)
    total = store.people.interaction_count(since=since) if progress else 0
    for chunk in store.people.iter_interaction_edges(since=since):
        builder.add(chunk)
        if progress:
            progress(f"reading interactions: {builder.n_read:,} of {total:,}")
    return builder.build()


def edge_log_from(
    rows: Iterable[tuple[str, str, str, str, float]],
    config: GraphConfig,
    now: datetime,
    *,
    own_keys: Collection[str] = (),
) -> InteractionLog:
    """An InteractionLog from (platform, source, target, kind, epoch) rows (tests, small graphs)."""
    from bot.core.records import EdgeChunk

    rows = list(rows)
    builder = _LogBuilder(config, now, own_keys)
    if rows:
        platform, source, target, kind, epoch = (list(c) for c in zip(*rows, strict=True))
        builder.add(EdgeChunk(platform, source, target, kind, [float(e) for e in epoch]))
    return builder.build()


def ego_log(store: GraphStore, platform: str, user_id: str, config: GraphConfig, now: datetime) -> InteractionLog:
    since = now - config.window if config.window else None
    chunk = store.people.interactions_of(platform, user_id, since=since)
    rows = zip(chunk.platform, chunk.source, chunk.target, chunk.kind, chunk.epoch, strict=True)
    return edge_log_from(rows, config.model_copy(update={"include_own_account": True}), now)
