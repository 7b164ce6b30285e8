"""Product recommendations: user-based collaborative filtering over user x product signals.

A person's score for a product is the similarity-weighted value of the people most like them (cosine similarity
of their signal rows, the top `neighbours`), divided by the sum of those similarities. Signals: orders (the shop's
orders CSV; `order_weight` each), products named in mentions and DMs (`mention_weight` each; English and Chinese
names, case- and width-insensitive) and link clicks when the caller knows them (`click_weight`). Counts become
values with log1p (implicit feedback: the tenth order of a thing says less than the first). People without
signals, or with fewer than `min_neighbours` similar people, get the most ordered products (recency-weighted).
With `use_communities` (bot.domains.audience.interests), a person whose own signals weigh less than
`thin_history` gets their community's favourites first ("liked in your community (...)"), then the popular ones.

Users are keyed by their lower-case handle (orders know only handles); a mention author without a known handle
is keyed "platform:user_id". Neighbours are found per request batch with one sparse x dense product (no
all-pairs matrix), so 100k people x 100 products answer a request in milliseconds.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from bot.adapters.orders import Order, read_orders_csv

if TYPE_CHECKING:
    from bot.core.ports import RecommendStore
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

ZH_NAME_FIELDS = ("name_zh", "zh", "name_cn", "chinese_name")
_BATCH = 64  # users per neighbour search: _BATCH x n_users float32 similarities at a time
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class RecommendConfig:
    neighbours: int = 100  # k: the most similar people a score is taken from (eval: 50 -> 0.150, 100 -> 0.153)
    min_neighbours: int = 2  # fewer similar people than this: popular products instead
    min_similarity: float = 0.0  # neighbours must be more similar than this (cosine)
    order_weight: float = 3.0
    mention_weight: float = 1.0
    click_weight: float = 2.0
    exclude_bought: bool = True  # never recommend what the person already ordered
    popularity_half_life_days: float = 30.0  # recency weight of an order in the popularity fallback
    fill_with_popular: bool = True  # too few CF products: the rest of the list from the popular ones
    thin_history: float = 3.0  # signal weight (one order = 3) below which a person's community speaks for them


@dataclass(frozen=True)
class Recommendation:
    product: str  # the product's name as the catalogue (or the orders CSV) spells it
    score: float
    reason: str  # "similar customers: 4 of your 12 nearest ..." | "popular"
    info: Mapping[str, Any] = field(default_factory=dict, compare=False)  # catalogue fields: price, url, ...

    def as_dict(self) -> dict[str, Any]:
        """Plain data for templates: the catalogue fields plus name, score and reason."""
        return {**self.info, "name": self.product, "score": round(self.score, 4), "reason": self.reason}


CommunityTaste = Callable[[str], "tuple[str, Mapping[str, float]] | None"]  # user key -> (community name, wants)


@dataclass(frozen=True)
class Signal:
    user: str  # user key: lower-case handle, or "platform:user_id"
    product: str  # canonical product name
    kind: str  # order | mention | click
    at: datetime | None = None


def normalise(text: str) -> str:
    """Width- and case-insensitive form: NFKC (full-width letters and digits to ASCII), casefold, single spaces."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _key(text: str) -> str:
    return _SPACE.sub("", normalise(text))


def user_key(handle_or_id: str, platform: str | None = None) -> str:
    """The key of a handle ('@Ann_Lee', 'ann_lee'), or of 'platform:user_id' when `platform` is given."""
    if platform is not None:
        return f"{platform}:{handle_or_id}"
    return normalise(str(handle_or_id)).lstrip("@")


class Catalogue:
    """Products by canonical name, their aliases (English and Chinese names) and their fields; finds them in text."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.info: dict[str, dict[str, Any]] = {}
        self._alias: dict[str, str] = {}  # _key(alias) -> canonical name
        self._written: dict[str, str] = {}  # alias as written (normalised) -> canonical name, for the patterns
        self._latin: re.Pattern[str] | None = None
        self._other: re.Pattern[str] | None = None

    def add(self, name: str, aliases: Iterable[str] = (), info: Mapping[str, Any] | None = None) -> str:
        """Add a product (or more aliases/fields to a known one); returns its canonical name."""
        name = str(name).strip()
        canonical = self._alias.get(_key(name))
        if canonical is None:
            canonical = name
            self.names.append(name)
            self.info[name] = {}
        for alias in (name, *aliases):
            if alias and str(alias).strip():
                self._alias.setdefault(_key(str(alias)), canonical)
                self._written.setdefault(normalise(str(alias)), canonical)
        if info:
            merged = {k: v for k, v in info.items() if v is not None and k != "name"}
            self.info[canonical] = {**merged, **self.info[canonical]}
        self._latin = self._other = None
        return canonical

    def canonical(self, name: str, *, add: bool = True) -> str | None:
        """The canonical name of a product name (any alias, any case or width); unknown names are added."""
        found = self._alias.get(_key(name))
        if found is None and add and name.strip():
            return self.add(name)
        return found

    def _patterns(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        if self._latin is None and self._other is None:
            latin: list[str] = []
            other: list[str] = []
            for alias in sorted(self._written, key=len, reverse=True):
                if not alias:
                    continue
                pattern = r"\s*".join(re.escape(part) for part in alias.split(" "))
                (latin if alias[0].isascii() and alias[-1].isascii() else other).append(pattern)
            # Latin names are whole words (a plural 's' allowed; CJK right next to them is a boundary: "买Yuki
            # candle吗"); CJK names have no word boundaries
            edge_before, edge_after = r"(?<![a-z0-9_])", r"(?![a-z0-9_])"
            self._latin = re.compile(edge_before + "(" + "|".join(latin) + ")(?:e?s)?" + edge_after) if latin else None
            self._other = re.compile("(" + "|".join(other) + ")") if other else None
        return self._latin, self._other

    def find(self, text: str) -> list[str]:
        """The canonical names of the products a text names (each once)."""
        latin, other = self._patterns()
        normal = normalise(text)
        found: list[str] = []
        for pattern in (latin, other):
            if pattern is None:
                continue
            for match in pattern.finditer(normal):
                name = self._alias.get(_SPACE.sub("", match.group(1)))
                if name is not None and name not in found:
                    found.append(name)
        return found

    def __len__(self) -> int:
        return len(self.names)


def catalogue_from(
    settings: Settings | None = None, extra: Iterable[tuple[str, Sequence[str], Mapping[str, Any]]] = ()
) -> Catalogue:
    """Every campaign's products (Chinese names from a name_zh/zh/name_cn/chinese_name field) plus `extra`
    (name, aliases, fields), e.g. bot.sandbox.phrases.PRODUCTS for the simulated audience."""
    catalogue = Catalogue()
    if settings is not None:
        for campaign in settings.campaigns.values():
            for product in campaign.products:
                data = product.model_dump()
                aliases = [str(data[f]) for f in ZH_NAME_FIELDS if data.get(f)]
                catalogue.add(product.name, aliases, data)
    for name, aliases, info in extra:
        catalogue.add(name, aliases, info)
    return catalogue


def read_shop_orders(settings: Settings) -> list[Order]:
    """The orders of settings.segments.orders_csv (relative to config.yaml's folder); [] when none is set. Problems
    are logged (the first ten), never raised."""
    full = settings.orders_csv_path
    if full is None:
        return []
    orders, problems = read_orders_csv(full)
    for problem in problems[:10]:
        logger.warning("orders CSV %s: %s", full, problem)
    if len(problems) > 10:
        logger.warning("orders CSV %s: %d more problems", full, len(problems) - 10)
    return orders


def _public(info: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if not k.startswith("_")}


def signals_from(
    catalogue: Catalogue,
    orders: Iterable[Order] = (),
    mentions: Iterable[tuple[str, str] | tuple[str, str, datetime | None]] = (),
    clicks: Iterable[tuple[str, str]] = (),
) -> Iterator[Signal]:
    """Signals from orders (those with a product), mentions ((user key, text[, time]); every catalogue product
    the text names) and clicks ((user key, product name))."""
    for order in orders:
        if order.product:
            product = catalogue.canonical(order.product)
            if product is not None:
                yield Signal(user_key(order.handle), product, "order", order.time)
    for mention in mentions:
        user, text = mention[0], mention[1]
        at = mention[2] if len(mention) > 2 else None
        for product in catalogue.find(text):
            yield Signal(user, product, "mention", at)
    for user, name in clicks:
        product = catalogue.canonical(name)
        if product is not None:
            yield Signal(user, product, "click", None)


class Recommender:
    """Fitted user x product signals; `recommend(platform, user, n)` answers one person, `recommend_many` many."""

    def __init__(
        self,
        signals: Iterable[Signal],
        catalogue: Catalogue,
        now: datetime,
        config: RecommendConfig | None = None,
        aliases: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self.config = config or RecommendConfig()
        self.catalogue = catalogue
        self.now = now
        self.aliases = dict(aliases or {})  # (platform, user_id) -> user key (their handle)
        cfg = self.config
        weights = {"order": cfg.order_weight, "mention": cfg.mention_weight, "click": cfg.click_weight}
        users: dict[str, int] = {}
        products: dict[str, int] = {p: i for i, p in enumerate(catalogue.names)}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        bought: list[tuple[int, int]] = []
        popularity: dict[str, float] = {}  # orders only
        interest: dict[str, float] = {}  # every signal: the popularity when there are no orders at all
        half_life = max(cfg.popularity_half_life_days, 1e-9)
        for s in signals:
            weight = weights.get(s.kind)
            if not weight:
                continue
            u = users.setdefault(s.user, len(users))
            p = products.setdefault(s.product, len(products))
            rows.append(u)
            cols.append(p)
            vals.append(weight)
            if s.kind == "order":
                bought.append((u, p))
            age_days = max(0.0, (now - s.at).total_seconds() / 86400) if s.at is not None else 0.0
            recent = weight * 0.5 ** (age_days / half_life)
            interest[s.product] = interest.get(s.product, 0.0) + recent
            if s.kind == "order":
                popularity[s.product] = popularity.get(s.product, 0.0) + recent
        self.users = users
        self.products = sorted(products, key=products.__getitem__)
        shape = (max(len(users), 1), max(len(self.products), 1))
        counts = sp.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)), shape=shape)
        counts.sum_duplicates()
        self.values = counts.copy()
        self.values.data = np.log1p(self.values.data).astype(np.float32)
        self.values = self.values.astype(np.float32)
        norms = np.sqrt(np.asarray(self.values.multiply(self.values).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        self.unit = sp.csr_matrix(sp.diags(1.0 / norms).astype(np.float32) @ self.values)
        self.bought = sp.csr_matrix(
            (np.ones(len(bought), dtype=np.float32), ([b[0] for b in bought], [b[1] for b in bought])), shape=shape
        )
        self.bought.data[:] = 1.0
        self.popularity = popularity or interest
        self.popular_names = sorted(self.popularity, key=lambda p: (-self.popularity[p], p))
        self.weight_of = np.asarray(counts.sum(axis=1)).ravel()
        self._community: CommunityTaste | None = None
        logger.info(
            "recommender: %d users x %d products, %d signals (%d orders)",
            len(users),
            len(self.products),
            len(vals),
            len(bought),
        )

    # ---- building ---------------------------------------------------------------------------------------

    @classmethod
    def from_data(
        cls,
        *,
        orders: Iterable[Order] = (),
        mentions: Iterable[tuple[str, str] | tuple[str, str, datetime | None]] = (),
        clicks: Iterable[tuple[str, str]] = (),
        catalogue: Catalogue | None = None,
        now: datetime,
        config: RecommendConfig | None = None,
        aliases: Mapping[tuple[str, str], str] | None = None,
    ) -> Recommender:
        """From orders (those with a product), mentions as (user key, text[, time]) and clicks as (user key,
        product name). Products named in orders or clicks that the catalogue lacks are added to it."""
        catalogue = catalogue if catalogue is not None else Catalogue()
        return cls(signals_from(catalogue, orders, mentions, clicks), catalogue, now, config, aliases)

    @classmethod
    def from_store(
        cls,
        store: RecommendStore,
        settings: Settings,
        now: datetime,
        *,
        orders: Sequence[Order] | None = None,
        catalogue: Catalogue | None = None,
        config: RecommendConfig | None = None,
        clicks: Iterable[tuple[str, str]] = (),
    ) -> Recommender:
        """Orders from `orders` or settings.segments.orders_csv (when set), mentions and DMs from the store
        (within settings.segments.window; our own accounts left out), products from the campaigns (or
        `catalogue`). Clicks as (handle, product name) when the caller knows them."""
        catalogue = catalogue if catalogue is not None else catalogue_from(settings)
        if orders is None:
            orders = read_shop_orders(settings)
        own = {user_key(a.handle) for a in settings.accounts.values() if getattr(a, "handle", None)}
        window = settings.segments.window
        aliases: dict[tuple[str, str], str] = {}

        def mentions() -> Iterator[tuple[str, str, datetime | None]]:
            for batch in store.signals.iter_mention_texts(since=now - window if window is not None else None):
                for m in batch:
                    key = user_key(m.username) if m.username else user_key(m.author_id, m.platform)
                    if key in own:
                        continue
                    if m.username:
                        aliases[(m.platform, m.author_id)] = key
                    yield key, m.text, m.at

        signals = list(signals_from(catalogue, orders, mentions(), clicks))
        return cls(signals, catalogue, now, config, aliases)

    # ---- answering --------------------------------------------------------------------------------------

    def key_of(self, platform: str | None, user: str) -> str:
        """The user key for a handle or a platform user id."""
        user = str(user)
        if platform is not None and (platform, user) in self.aliases:
            return self.aliases[(platform, user)]
        key = user_key(user)
        if key not in self.users and platform is not None and user_key(user, platform) in self.users:
            return user_key(user, platform)
        return key

    def use_communities(self, taste: CommunityTaste | None) -> None:
        """Fall back to the person's community's products (bot.domains.audience.interests) when their own
        history weighs less than config.thin_history; None: popularity only."""
        self._community = taste

    def recommend(self, platform: str | None, user: str, n: int = 3) -> list[Recommendation]:
        """Up to n products for one person (a handle with or without '@', or a platform user id)."""
        key = self.key_of(platform, user)
        thin = self._thin(key)
        if thin is not None:
            return thin[:n] if len(thin) >= n else thin + self.popular(n - len(thin), self._owned(key, thin))
        return self.recommend_many([key], n)[0]

    def _owned(self, key: str, picked: Sequence[Recommendation]) -> set[str]:
        bought = set(self.bought[self.users[key]].indices.tolist()) if key in self.users else set()
        return {self.products[p] for p in bought} | {r.product for r in picked}

    def _thin(self, key: str) -> list[Recommendation] | None:
        """The person's community's favourites when their own history is thin (None: not thin, or no community)."""
        if self._community is None:
            return None
        u = self.users.get(key)
        if u is not None and self.weight_of[u] >= self.config.thin_history:
            return None
        found = self._community(key)
        if found is None:
            return None
        name, wanted = found
        owned = self._owned(key, [])
        top = max(wanted.values(), default=0.0) or 1.0
        ranked = sorted((p for p, v in wanted.items() if v > 0 and p not in owned), key=lambda p: (-wanted[p], p))
        return [self._make(p, wanted[p] / top, f"liked in your community ({name})") for p in ranked] or None

    def popular(self, n: int, exclude: Iterable[str] = ()) -> list[Recommendation]:
        """The n most ordered products lately (recency-weighted), minus `exclude`."""
        skip = set(exclude)
        top = max(self.popularity.values(), default=1.0) or 1.0
        out: list[Recommendation] = []
        for product in self.popular_names:
            if product in skip:
                continue
            out.append(self._make(product, self.popularity[product] / top, "popular"))
            if len(out) >= n:
                break
        return out

    def _make(self, product: str, score: float, reason: str) -> Recommendation:
        return Recommendation(product, float(score), reason, _public(self.catalogue.info.get(product, {})))

    def recommend_many(self, keys: Sequence[str], n: int = 3) -> list[list[Recommendation]]:
        """Recommendations for many user keys at once (batched neighbour search)."""
        n = max(0, int(n))
        out: list[list[Recommendation]] = [[] for _ in keys]
        if n == 0:
            return out
        known = [(i, self.users[k]) for i, k in enumerate(keys) if k in self.users]
        for i, k in enumerate(keys):
            if k not in self.users:
                out[i] = self.popular(n)
        for start in range(0, len(known), _BATCH):
            chunk = known[start : start + _BATCH]
            rows = np.array([u for _, u in chunk], dtype=np.int64)
            for (i, _), recs in zip(chunk, self._score_batch(rows, n), strict=True):
                out[i] = recs
        return out

    def _score_batch(self, rows: np.ndarray, n: int) -> list[list[Recommendation]]:
        cfg = self.config
        dense = self.unit[rows].toarray().T  # products x b
        sims = np.ascontiguousarray(np.asarray(self.unit @ dense).T)  # b x users: rows for argpartition
        sims[np.arange(len(rows)), rows] = 0.0  # not one's own neighbour
        k = max(0, int(cfg.neighbours))
        floor = max(0.0, cfg.min_similarity)
        results: list[list[Recommendation]] = []
        for j, u in enumerate(rows):
            similarity = sims[j]
            neighbours = np.flatnonzero(similarity > floor)  # usually far fewer than everyone
            if len(neighbours) > k:
                neighbours = neighbours[np.argpartition(similarity[neighbours], len(neighbours) - k)[-k:]]
            weights = similarity[neighbours]
            bought = set(self.bought[u].indices.tolist()) if cfg.exclude_bought else set()
            if len(neighbours) < cfg.min_neighbours:
                results.append(self._fill([], bought, u, n))
                continue
            block = self.values[neighbours]  # k x products
            scores = np.asarray(block.T @ weights).ravel() / float(np.abs(weights).sum())
            support = np.diff(block.tocsc().indptr)  # neighbours with a signal per product
            order = np.argsort(-scores, kind="stable")
            picked: list[Recommendation] = []
            for p in order:
                if scores[p] <= 0 or len(picked) >= n:
                    break
                if p in bought:
                    continue
                reason = f"similar customers: {int(support[p])} of your {len(neighbours)} nearest"
                picked.append(self._make(self.products[p], scores[p], reason))
            results.append(self._fill(picked, bought, u, n))
        return results

    def _fill(self, picked: list[Recommendation], bought: set[int], u: int, n: int) -> list[Recommendation]:
        if len(picked) >= n or (picked and not self.config.fill_with_popular):
            return picked[:n]
        exclude = {r.product for r in picked} | {self.products[p] for p in bought}
        return picked + self.popular(n - len(picked), exclude)


def template_function(recommender: Recommender | None, platform: str | None = None) -> Any:
    """`recommend(user, n=3)` for templates: a list of plain dicts (name, price, url, ..., score, reason).

    `user` is a handle (the reply context's `user`), or a mapping with username / user_id (and platform).
    Never raises: no recommender, or any error, gives an empty list (logged)."""

    def recommend(user: Any = None, n: int = 3) -> list[dict[str, Any]]:
        if recommender is None:
            return []
        try:
            net = platform
            if isinstance(user, Mapping):
                net = user.get("platform") or platform
                user = user.get("username") or user.get("user") or user.get("user_id") or ""
            count = max(0, min(int(n), 20))
            if not user:
                return [r.as_dict() for r in recommender.popular(count)]
            return [r.as_dict() for r in recommender.recommend(net, str(user), count)]
        except Exception:
            logger.exception("recommend(%r, %r) failed in a template; no recommendations given", user, n)
            return []

    return recommend


__all__ = [
    "Catalogue",
    "CommunityTaste",
    "RecommendConfig",
    "Recommendation",
    "Recommender",
    "Signal",
    "catalogue_from",
    "normalise",
    "read_shop_orders",
    "template_function",
    "user_key",
]
