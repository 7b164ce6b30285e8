"""The weighted interaction log: the stored interactions read in chunks straight into integer arrays (no networkx
graph at scale), each weighted by its kind and decayed by its age; node ints index `InteractionLog.keys`, node keys
are "platform:user_id" strings."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from bot.core.memory import paused_gc
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


User = str | int  # a user id as the store reads it: int when it is a canonical decimal integer


@dataclass
class _Chunk:
    platform: str | None  # None: source and target are "platform:user_id" keys
    source: list[User] | np.ndarray  # int64 array: every user id of the chunk was an int
    target: list[User] | np.ndarray
    kind: np.ndarray
    epoch: np.ndarray


class _LogBuilder:
    """Node ints in order of first appearance (own accounts first, then per chunk its sources, then its targets),
    with kind weights and decay; user ids read as integers are numbered with numpy (np.unique), others with a
    dict, in the same order."""

    def __init__(self, config: GraphConfig, now: datetime, own_keys: Collection[str]) -> None:
        self.index: dict[str, int] = {}
        self.keys: list[str] = []
        self.kind_code = {kind: i for i, kind in enumerate(INTERACTION_KINDS)}
        self.kind_weight = np.array([config.kind_weights.get(k, 0.0) for k in INTERACTION_KINDS], dtype=np.float64)
        self.half_life = config.half_life.total_seconds() if config.half_life else None
        self.now = now.timestamp()
        self.own_keys = [] if config.include_own_account else list(dict.fromkeys(own_keys))
        for key in self.own_keys:
            self._id(key)
        self.chunks: list[_Chunk] = []
        self.n_read = 0

    def _id(self, key: str) -> int:
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.keys)
            self.keys.append(key)
        return found

    def add_columns(
        self, platform: str | None, source: list[User], target: list[User], kinds: list[int], epochs: list[float]
    ) -> None:
        """A chunk as store.graphs.interaction_edges gives it: sources and targets (user ids of `platform`, or
        "platform:user_id" keys when None), kind index (-1: unknown), epoch seconds."""
        n = len(source)
        self.n_read += n
        src: list[User] | np.ndarray = source
        dst: list[User] | np.ndarray = target
        if platform is not None and n:
            as_src, as_dst = np.array(source), np.array(target)  # int64 only when every id is an int
            if as_src.dtype == np.int64 and as_dst.dtype == np.int64:
                src, dst = as_src, as_dst
        kind = np.array(kinds, dtype=np.int16).reshape(n)
        self.chunks.append(_Chunk(platform, src, dst, kind, np.array(epochs, dtype=np.float64).reshape(n)))

    def add(self, chunk: EdgeChunk) -> None:
        codes = self.kind_code
        self.add_columns(
            None,
            [node_key(p, u) for p, u in zip(chunk.platform, chunk.source, strict=True)],
            [node_key(p, u) for p, u in zip(chunk.platform, chunk.target, strict=True)],
            [codes.get(k, -1) for k in chunk.kind],
            [float(e) for e in chunk.epoch],
        )

    def _numbered(self) -> tuple[np.ndarray, np.ndarray]:
        """Node ints of every chunk's sources and targets, concatenated."""
        platforms = {c.platform for c in self.chunks}
        if len(platforms) == 1 and all(isinstance(c.source, np.ndarray) for c in self.chunks):
            return self._numbered_ints(str(platforms.pop()))
        src: list[np.ndarray] = []
        dst: list[np.ndarray] = []
        by_platform: dict[str | None, dict[User, int]] = {}
        for c in self.chunks:
            ids = by_platform.setdefault(c.platform, {})
            prefix = "" if c.platform is None else f"{c.platform}:"
            source = c.source.tolist() if isinstance(c.source, np.ndarray) else c.source
            target = c.target.tolist() if isinstance(c.target, np.ndarray) else c.target
            for user in [u for u in dict.fromkeys(chain(source, target)) if u not in ids]:
                ids[user] = self._id(f"{prefix}{user}")
            lookup, n = ids.__getitem__, len(source)
            src.append(np.fromiter(map(lookup, source), np.int64, n))
            dst.append(np.fromiter(map(lookup, target), np.int64, n))
        return _joined(src), _joined(dst)

    def _numbered_ints(self, platform: str) -> tuple[np.ndarray, np.ndarray]:
        """The same numbering for integer user ids of one platform, with numpy: first appearance from np.unique's
        first index over the chunks' sources and targets in reading order."""
        sides = [side for c in self.chunks for side in (c.source, c.target)]
        sequence = np.concatenate(sides).astype(np.int64, copy=False)
        unique, first, inverse = np.unique(sequence, return_index=True, return_inverse=True)
        node = np.empty(unique.size, dtype=np.int64)
        prefix = f"{platform}:"
        known = np.zeros(unique.size, dtype=bool)
        for key in self.own_keys:  # own accounts keep their leading ints
            user = key[len(prefix) :] if key.startswith(prefix) else ""
            if user.isascii() and user.lstrip("-").isdigit() and str(int(user)) == user:
                at = int(np.searchsorted(unique, int(user)))
                if at < unique.size and unique[at] == int(user):
                    node[at], known[at] = self.index[key], True
        fresh = np.argsort(first, kind="stable")
        fresh = fresh[~known[fresh]]
        node[fresh] = np.arange(len(self.keys), len(self.keys) + fresh.size)
        self.keys.extend(prefix + str(user) for user in unique[fresh].tolist())
        ids = node[inverse.reshape(-1)]
        src: list[np.ndarray] = []
        dst: list[np.ndarray] = []
        start = 0
        for side, out in zip(sides, [src, dst] * len(self.chunks), strict=True):
            out.append(ids[start : start + len(side)])
            start += len(side)
        return _joined(src), _joined(dst)

    def build(self) -> InteractionLog:
        src, dst = self._numbered()
        kind = _joined([c.kind for c in self.chunks], np.int16)
        epoch = _joined([c.epoch for c in self.chunks], np.float64)
        keep = (kind >= 0) & (src != dst)
        keep &= self.kind_weight[np.maximum(kind, 0)] > 0
        if self.own_keys:
            own = np.array([self.index[key] for key in self.own_keys], dtype=np.int64)
            keep &= ~np.isin(src, own) & ~np.isin(dst, own)
        src, dst, kind, epoch = src[keep], dst[keep], kind[keep], epoch[keep]
        weight = self.kind_weight[kind] * decay_factor(self.now - epoch, self.half_life)
        counts = np.bincount(kind, minlength=len(INTERACTION_KINDS)) if kind.size else np.zeros(0, np.int64)
        kinds = {INTERACTION_KINDS[i]: int(n) for i, n in enumerate(counts) if n}
        return InteractionLog(self.keys, src, dst, weight, kind, self.n_read, kinds)


def _joined(parts: list[np.ndarray], dtype: type[np.generic] = np.int64) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


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
    with paused_gc():
        for columns in store.graphs.interaction_edges(since=since, kinds=INTERACTION_KINDS):
            builder.add_columns(*columns)
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
