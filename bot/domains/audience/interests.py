"""What each community of the audience wants: products, distinctive terms, a readable name; interest vectors.

From the latest graph snapshot (who is in which community) and the signals the recommender reads (orders with a
product, products named in mentions and DMs; bot.domains.audience.recommend):

- products per community: the members' order and mention weights (recommend's order_weight / mention_weight);
- distinctive terms per community: class-based TF-IDF over all its members' messages as one document (English
  words, Chinese words by jieba through bot.adapters.sentiment): tf(t, c) x log(1 + A / f(t)), A the mean words
  per community, f(t) the term's count over every community (BERTopic's c-TF-IDF);
- a name made of its top terms and products ("candle & lamp lovers (Yuki candle, Aki table lamp)");
- interest vectors (Twitter's SimClusters): a product's or a past post's share of each community among the people
  who ordered / named it (posts: who bought through its UTM link), smoothed towards the communities' sizes.

`pick_product` chooses a campaign slot's product for a target (a community, a segment's members, everyone): a
Thompson draw per product from Beta(n(target, p) + a x prior(p), n(target) - n(target, p) + a x (1 - prior(p))),
prior = half the products' popularity share (recommend's recency-weighted popularity) and half uniform, seeded
per slot. A product the target likes wins most slots; in EXPLORE of the slots one of the products the target has
shown least interest in (a new product first) is named instead, so it gets its chance and its first signals.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bot.domains.audience.recommend import Catalogue, RecommendConfig, Signal, normalise, signals_from, user_key

if TYPE_CHECKING:
    from bot.adapters.orders import Order
    from bot.core.clock import Clock
    from bot.core.ports import GraphRows, SignalRows
    from bot.core.records import SegmentInfo, SegmentRun
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

TOP_TERMS = 8
TOP_PRODUCTS = 5
SMOOTHING = 5.0  # pseudo-counts: a vector leans on the community sizes until this many people back it
PRIOR_STRENGTH = 4.0  # the draw's pseudo-counts for a product's prior share
EXPLORE = 0.08  # share of slots that name one of the products the target has shown least interest in (new ones)
_HANDLE = re.compile(r"[@＠]\w+")
_URL = re.compile(r"https?://\S+|\b\w+\.(?:com|net|org|cn)\S*")
_WORD = re.compile(r"[a-z][a-z'’-]{2,}")
_CJK = re.compile(r"[\u3400-\u9fff]+")
_EN_STOP_TEXT = """the and for you your with this that have has had are was were not but all any can our out get got
    just from they them their what when where which who why how about would could should will shall there here been
    being into over very more most some such than then too also only its it's i'm i've don't didn't does did doing yours
    ours mine his her hers she him let lets still even much many really is it a an of to in on at by be or so if do
    my me we us no yes hi hello please thanks thank
    order orders ordered coupon coupons code discount refund shipping shipped delivery price stock"""
_EN_STOP = frozenset(_EN_STOP_TEXT.split())  # the last line: dealings with the shop, not interests
_ZH_STOP_TEXT = """这个 那个 我们 你们 他们 什么 怎么 还是 就是 已经 没有 一个 可以 真的 因为 所以 但是 请问
    订单 优惠券 优惠码 折扣 退款 发货 快递 价格 库存"""
_ZH_STOP = frozenset(_ZH_STOP_TEXT.split())


class InterestStore(Protocol):
    @property
    def graphs(self) -> GraphRows: ...
    @property
    def signals(self) -> SignalRows: ...


class SegmentMembers(Protocol):
    def latest_run(self) -> SegmentRun | None: ...

    def of_run(self, run_id: int) -> list[SegmentInfo]: ...

    def members(
        self, run_id: int, segment_ids: Collection[int] | None = None
    ) -> Iterator[list[tuple[str, str, int]]]: ...


@dataclass(frozen=True)
class CommunityInterest:
    id: int  # the graph snapshot's community number (0 = the largest)
    size: int  # people in the snapshot
    name: str
    products: tuple[tuple[str, float], ...]  # (product, share of the community's product signals), top first
    terms: tuple[tuple[str, float], ...]  # distinctive terms by c-TF-IDF, top first
    language: str  # "en", "zh" or "mixed": what most of its messages are written in
    messages: int = 0


@dataclass(frozen=True)
class ProductPick:
    index: int  # into the campaign's products
    product: str
    reason: str  # in words, for `socialbot schedule` and the log


@dataclass
class Interests:
    """Per community: products, terms, names; interest vectors of products and posts (community shares)."""

    snapshot_id: int | None
    communities: list[CommunityInterest]
    membership: dict[str, int]  # user key -> community
    counts: np.ndarray  # communities x products: weighted product signals of each community's members
    products: list[str]  # column order of `counts`
    popularity: dict[str, float]  # product -> recency-weighted popularity (recommend's)
    product_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    post_vectors: dict[str, np.ndarray] = field(default_factory=dict)  # "<utm_campaign>/<utm_term>" -> vector
    signals: dict[str, dict[str, float]] = field(default_factory=dict)  # user key -> product -> weight
    aliases: dict[tuple[str, str], str] = field(default_factory=dict)  # (platform, user id) -> user key

    def community(self, ref: int | str | None) -> CommunityInterest | None:
        """A community by its number, or by words matched against names, products and terms (best match)."""
        if ref is None:
            return None
        if isinstance(ref, int) or str(ref).strip().isdigit():
            number = int(ref)
            return next((c for c in self.communities if c.id == number), None)
        words = [w for w in re.split(r"[\s,&()]+", str(ref).casefold()) if w]
        best: tuple[float, CommunityInterest] | None = None
        for c in self.communities:
            terms = " ".join(t for t, _ in c.terms).casefold()
            score = 0.0
            for w in words:
                score += 2.0 * (w in c.name.casefold()) + 1.0 * (w in terms)
                score += sum(share for p, share in c.products if w in p.casefold())
            if score > 0 and (best is None or score > best[0]):
                best = (score, c)
        return best[1] if best else None

    def sizes(self) -> np.ndarray:
        sizes = np.array([c.size for c in self.communities], dtype=np.float64)
        return sizes / sizes.sum() if sizes.sum() > 0 else sizes

    def target_counts(self, people: Iterable[str]) -> dict[str, float]:
        """Product -> the summed signal weights of these people (a segment's members, by user key)."""
        total: dict[str, float] = {}
        for person in people:
            for product, weight in self.signals.get(person, {}).items():
                total[product] = total.get(product, 0.0) + weight
        return total

    def community_counts(self, community: int) -> dict[str, float]:
        row = [i for i, c in enumerate(self.communities) if c.id == community]
        if not row:
            return {}
        return {p: float(v) for p, v in zip(self.products, self.counts[row[0]], strict=True) if v > 0}

    def community_of(self, key: str) -> CommunityInterest | None:
        number = self.membership.get(key)
        return self.community(number) if number is not None else None

    def everyone(self) -> dict[str, float]:
        return {p: float(v) for p, v in zip(self.products, self.counts.sum(axis=0), strict=True) if v > 0}

    def taste(self, key: str) -> tuple[str, Mapping[str, float]] | None:
        """A person's community's name and product weights (Recommender.use_communities), None outside one."""
        found = self.community_of(key)
        return (found.name, self.community_counts(found.id)) if found is not None else None


# ---- pure parts --------------------------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    """English words (lower case, no stop words) and Chinese words (jieba) of a message; handles and links out."""
    plain = _URL.sub(" ", _HANDLE.sub(" ", text))
    out = [w.strip("'’-") for w in _WORD.findall(plain.lower()) if w not in _EN_STOP]
    runs = _CJK.findall(plain)
    if runs:
        from bot.adapters.sentiment import chinese_words

        for run in runs:
            out.extend(w for w in chinese_words(run) if len(w) >= 2 and w not in _ZH_STOP)
    return [w for w in out if w]


def class_tfidf(documents: Sequence[Sequence[str]], top: int = TOP_TERMS) -> list[list[tuple[str, float]]]:
    """c-TF-IDF: one document per class (its members' messages, as tokens); the top terms of each class."""
    from sklearn.feature_extraction.text import CountVectorizer

    if not any(documents):
        return [[] for _ in documents]
    vectorizer = CountVectorizer(analyzer=lambda doc: doc, min_df=1)
    counts = vectorizer.fit_transform(list(documents)).astype(np.float64)
    vocabulary = vectorizer.get_feature_names_out()
    words = np.asarray(counts.sum(axis=1)).ravel()
    frequency = np.asarray(counts.sum(axis=0)).ravel()
    average = words.mean() if len(words) else 0.0
    idf = np.log1p(average / np.maximum(frequency, 1.0))
    tf = counts.multiply(1.0 / np.maximum(words, 1.0)[:, None]).tocsr()
    weighted = tf.multiply(idf[None, :]).tocsr()
    out: list[list[tuple[str, float]]] = []
    for row in range(weighted.shape[0]):
        start, end = weighted.indptr[row], weighted.indptr[row + 1]
        cols, vals = weighted.indices[start:end], weighted.data[start:end]
        order = np.lexsort((cols, -vals))[:top]
        out.append([(str(vocabulary[cols[i]]), round(float(vals[i]), 5)) for i in order])
    return out


def interest_vector(counts: np.ndarray, sizes: np.ndarray, smoothing: float = SMOOTHING) -> np.ndarray:
    """Normalised community counts, smoothed towards the community sizes (sums to 1)."""
    prior = sizes / sizes.sum() if sizes.sum() > 0 else np.full(len(sizes), 1.0 / max(len(sizes), 1))
    return (counts + smoothing * prior) / (counts.sum() + smoothing)


def name_community(terms: Sequence[tuple[str, float]], products: Sequence[tuple[str, float]], taken: set[str]) -> str:
    """'candle & lamp lovers (Yuki candle, Aki table lamp)': two top terms and two top products, unique."""
    product_names = [p for p, _ in products[:2]]
    words = [t for t, _ in terms]
    for first in range(max(1, len(words) - 1)):
        pair = words[first : first + 2]
        head = " & ".join(pair) + " lovers" if pair else "quiet followers"
        name = f"{head} ({', '.join(product_names)})" if product_names else head
        if name not in taken:
            taken.add(name)
            return name
    base = f"{' & '.join(words[:2]) or 'quiet'} people ({', '.join(product_names) or 'no products yet'})"
    name, suffix = base, 2
    while name in taken:
        name, suffix = f"{base} {suffix}", suffix + 1
    taken.add(name)
    return name


def _language(texts: Sequence[str]) -> str:
    if not texts:
        return "en"
    chinese = sum(1 for t in texts if _CJK.search(t))
    share = chinese / len(texts)
    return "zh" if share >= 0.6 else "en" if share <= 0.4 else "mixed"


def build_interests(
    membership: Mapping[str, int],
    community_sizes: Mapping[int, int],
    messages: Iterable[tuple[str, str]],
    signals: Iterable[Signal],
    *,
    catalogue: Catalogue,
    snapshot_id: int | None = None,
    config: RecommendConfig | None = None,
    now: datetime | None = None,
    posts: Iterable[tuple[str, str]] = (),
    aliases: Mapping[tuple[str, str], str] | None = None,
) -> Interests:
    """Interests from community membership (user key -> community), messages ((user key, text)), product signals
    and posts ((post key, buyer's user key)). Communities are those of `community_sizes`, largest first."""
    cfg = config or RecommendConfig()
    weights = {"order": cfg.order_weight, "mention": cfg.mention_weight, "click": cfg.click_weight}
    ids = sorted(community_sizes, key=lambda c: (-community_sizes[c], c))
    row = {c: i for i, c in enumerate(ids)}
    texts: list[list[str]] = [[] for _ in ids]
    documents: list[list[str]] = [[] for _ in ids]
    for key, text in messages:
        c = membership.get(key)
        if c is None or c not in row:
            continue
        texts[row[c]].append(text)
        documents[row[c]].extend(tokens(text))
    products = list(catalogue.names)
    column = {p: i for i, p in enumerate(products)}
    per_user: dict[str, dict[str, float]] = {}
    ordered: dict[str, float] = {}
    named: dict[str, float] = {}
    half_life = max(cfg.popularity_half_life_days, 1e-9)
    for s in signals:
        weight = weights.get(s.kind, 0.0)
        if not weight:
            continue
        if s.product not in column:
            column[s.product] = len(products)
            products.append(s.product)
        mine = per_user.setdefault(s.user, {})
        mine[s.product] = mine.get(s.product, 0.0) + weight
        age = max(0.0, (now - s.at).total_seconds() / 86400) if now is not None and s.at is not None else 0.0
        recent = weight * 0.5 ** (age / half_life)
        named[s.product] = named.get(s.product, 0.0) + recent
        if s.kind == "order":
            ordered[s.product] = ordered.get(s.product, 0.0) + recent
    popularity = ordered or named
    counts = np.zeros((len(ids), len(products)))
    for user, mine in per_user.items():
        c = membership.get(user)
        if c is None or c not in row:
            continue
        for product, weight in mine.items():
            counts[row[c], column[product]] += weight
    sizes = np.array([community_sizes[c] for c in ids], dtype=np.float64)
    terms = class_tfidf(documents)
    taken: set[str] = set()
    communities: list[CommunityInterest] = []
    for i, c in enumerate(ids):
        total = counts[i].sum()
        order = np.lexsort((np.arange(len(products)), -counts[i]))[:TOP_PRODUCTS]
        top = tuple((products[j], round(float(counts[i, j] / total), 4)) for j in order if counts[i, j] > 0)
        communities.append(
            CommunityInterest(
                id=c,
                size=int(community_sizes[c]),
                name=name_community(terms[i], top, taken),
                products=top,
                terms=tuple(terms[i]),
                language=_language(texts[i]),
                messages=len(texts[i]),
            )
        )
    people = np.zeros((len(ids), len(products)))  # people (not weights) per community and product
    for user, mine in per_user.items():
        c = membership.get(user)
        if c is not None and c in row:
            for product in mine:
                people[row[c], column[product]] += 1
    product_vectors = {p: interest_vector(people[:, j], sizes) for p, j in column.items()}
    by_post: dict[str, np.ndarray] = {}
    for post, buyer in posts:
        c = membership.get(buyer)
        if c is None or c not in row:
            continue
        by_post.setdefault(post, np.zeros(len(ids)))[row[c]] += 1
    post_vectors = {k: interest_vector(v, sizes) for k, v in by_post.items()}
    return Interests(
        snapshot_id, communities, dict(membership), counts, products, popularity, product_vectors, post_vectors,
        per_user, dict(aliases or {}),
    )  # fmt: skip


def pick_product(
    wanted: Mapping[str, float],
    candidates: Sequence[str],
    popularity: Mapping[str, float],
    seed: int,
    *,
    target: str = "everyone",
) -> ProductPick:
    """One Thompson draw per candidate (see the module docstring); the highest draw wins, with its reason."""
    rng = np.random.default_rng(seed)
    n = len(candidates)
    pop = np.array([max(0.0, popularity.get(p, 0.0)) for p in candidates])
    prior = 0.5 * (pop / pop.sum() if pop.sum() > 0 else np.full(n, 1.0 / n)) + 0.5 / n
    hits = np.array([max(0.0, wanted.get(p, 0.0)) for p in candidates])
    total = float(sum(max(0.0, v) for v in wanted.values()))
    a = hits + PRIOR_STRENGTH * prior
    b = np.maximum(total - hits, 0.0) + PRIOR_STRENGTH * (1 - prior)
    draws = rng.beta(a, b)
    best = int(np.argmax(draws))
    explored = rng.random() < EXPLORE
    if explored:
        fewest = np.flatnonzero(hits == hits.min())
        best = int(fewest[rng.integers(len(fewest))])
    product = candidates[best]
    share = hits[best] / total if total > 0 else 0.0
    ranked = sorted(range(n), key=lambda i: (-hits[i], i))
    place = ranked.index(best) + 1
    if total <= 0:
        reason = f"no product signals from {target} yet: drawn at random, leaning on what sells"
    elif hits[best] <= 0:
        reason = f"nobody in {target} has named or ordered it yet: tried now and then so a new product gets its chance"
    elif explored:
        reason = (
            f"tried now and then: one of the products with the least interest from {target} "
            f"({share:.0%} of what they order and talk about)"
        )
    else:
        reason = f"favourite no. {place} of {n} for {target}: {share:.0%} of what they order and talk about"
    return ProductPick(best, product, reason)


class InterestPicker:
    """`pick: interest` for CampaignService: the interests of the latest graph snapshot, rebuilt from the store
    when `refresh` has passed (or given once, `interests`; or handed over by the recommender job, `use`); a
    segment target is read from store.segments (its members once per segmentation)."""

    def __init__(
        self,
        store: InterestStore | None,
        settings: Settings,
        clock: Clock,
        *,
        interests: Interests | None = None,
        refresh: timedelta = timedelta(hours=1),
        segments: SegmentMembers | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.refresh = refresh
        self.segments = segments if segments is not None else getattr(store, "segments", None)
        self._interests = interests
        self._built: datetime | None = clock.now() if interests is not None else None
        self._fixed = interests is not None
        self._warned: set[tuple[str, str]] = set()
        self._members: dict[tuple[int, int | None, str], tuple[str, list[str]] | None] = {}
        self._lock = threading.RLock()  # campaign jobs run in the scheduler's threads, the recommender job too

    def use(self, interests: Interests) -> None:
        """Interests built elsewhere from the same store (the recommender job): kept until `refresh` passes."""
        with self._lock:
            if not self._fixed:
                self._interests, self._built = interests, self.clock.now()

    def interests(self) -> Interests | None:
        """The latest interests; without a graph snapshot yet None (asked again at the next slot: one query)."""
        with self._lock:
            now = self.clock.now()
            stale = self._built is None or now - self._built >= self.refresh
            if self.store is not None and not self._fixed and stale:
                found = interests_from_store(self.store, self.settings, now)
                if found is not None or self._interests is None:
                    self._interests = found
                self._built = now if found is not None else None
            return self._interests

    def pick(
        self, campaign: str, target: tuple[str, int | str | None], products: Sequence[str], seed: int
    ) -> ProductPick | None:
        with self._lock:
            return self._pick(campaign, target, products, seed)

    def _pick(
        self, campaign: str, target: tuple[str, int | str | None], products: Sequence[str], seed: int
    ) -> ProductPick | None:
        interests = self.interests()
        if interests is None:
            self._warn(campaign, "no audience graph yet: its products rotate until the first graph analysis")
            return None
        kind, ref = target
        wanted, who = interests.everyone(), "the audience"
        if kind == "community":
            found = interests.community(ref)
            if found is None:
                self._warn(campaign, f"no community matches {ref!r} in the latest graph; picking for everyone")
            else:
                wanted, who = interests.community_counts(found.id), f"the {found.name}"
        elif kind == "segment":
            people = self._segment_people(interests, ref)
            if people is None:
                self._warn(campaign, f"no segment matches {ref!r} in the latest segmentation; picking for everyone")
            else:
                label, keys = people
                wanted, who = interests.target_counts(keys), f"segment {label!r}"
        spelled = {normalise(p): p for p in products}  # the campaign's spelling of a product another one named first

        def as_named(weights: Mapping[str, float]) -> dict[str, float]:
            out: dict[str, float] = {}
            for product, weight in weights.items():
                name = spelled.get(normalise(product), product)
                out[name] = out.get(name, 0.0) + weight
            return out

        return pick_product(as_named(wanted), products, as_named(interests.popularity), seed, target=who)

    def _segment_people(self, interests: Interests, ref: int | str | None) -> tuple[str, list[str]] | None:
        """The label and user keys of the segment `ref` names in the latest segmentation: its id, or its label
        (and its look-alikes, as coupons' `segments:` reads it: SegmentInfo.matches); None when nothing matches."""
        if self.segments is None or ref is None:
            return None
        run = self.segments.latest_run()
        if run is None:
            return None
        text = str(ref).strip().casefold()
        cache = (run.id, interests.snapshot_id, text)
        if cache in self._members:
            return self._members[cache]
        infos = self.segments.of_run(run.id)
        chosen = [i for i in infos if i.matches(text)]
        found: tuple[str, list[str]] | None = None
        if chosen:
            keys: list[str] = []
            for chunk in self.segments.members(run.id, [i.segment_id for i in chosen]):
                for platform, user_id, _ in chunk:
                    keys.append(interests.aliases.get((platform, user_id)) or user_key(user_id, platform))
            found = (" + ".join(i.label for i in chosen), keys)
        if any(key[:2] != cache[:2] for key in self._members):  # kept for one segmentation and snapshot
            self._members.clear()
        self._members[cache] = found
        return found

    def _warn(self, campaign: str, message: str) -> None:
        if (campaign, message) not in self._warned:
            self._warned.add((campaign, message))
            logger.warning("campaign %s: pick: interest: %s", campaign, message)


# ---- from the store ----------------------------------------------------------------------------------------


def interests_from_store(
    store: InterestStore,
    settings: Settings,
    now: datetime,
    *,
    orders: Sequence[Order] | None = None,
    catalogue: Catalogue | None = None,
    config: RecommendConfig | None = None,
) -> Interests | None:
    """Interests for the latest graph snapshot (None when there is none): its members, the mentions and DMs
    within segments.window (our own accounts left out) and the orders (`orders`, else segments.orders_csv)."""
    from bot.domains.audience.recommend import catalogue_from, read_shop_orders

    snapshot = store.graphs.latest_snapshot()
    if snapshot is None:
        return None
    catalogue = catalogue if catalogue is not None else catalogue_from(settings)
    if orders is None:
        orders = read_shop_orders(settings)
    membership: dict[str, int] = {}
    aliases: dict[tuple[str, str], str] = {}
    sizes: dict[int, int] = {}
    for score in store.graphs.snapshot_scores(snapshot.id):
        key = user_key(score.username) if score.username else user_key(score.user_id, score.platform)
        membership[key] = score.community
        aliases[(score.platform, score.user_id)] = key
        sizes[score.community] = sizes.get(score.community, 0) + 1
    own = {user_key(a.handle) for a in settings.accounts.values() if getattr(a, "handle", None)}
    window: timedelta | None = settings.segments.window
    messages: list[tuple[str, str]] = []
    mention_signals: list[tuple[str, str, datetime | None]] = []
    for batch in store.signals.iter_mention_texts(since=now - window if window is not None else None):
        for m in batch:
            key = aliases.get((m.platform, m.author_id)) or (
                user_key(m.username) if m.username else user_key(m.author_id, m.platform)
            )
            if key in own:  # the shop's own posts and replies are not its audience's interests
                continue
            aliases.setdefault((m.platform, m.author_id), key)  # a segment's member found by their handle
            messages.append((key, m.text))
            mention_signals.append((key, m.text, m.at))
    signals = list(signals_from(catalogue, orders, mention_signals))
    posts = [
        (f"{o.utm['campaign']}/{o.utm.get('term', '')}", user_key(o.handle)) for o in orders if o.utm.get("campaign")
    ]
    interests = build_interests(
        membership, sizes, messages, signals, catalogue=catalogue, snapshot_id=snapshot.id, config=config,
        now=now, posts=posts, aliases=aliases,
    )  # fmt: skip
    logger.info(
        "interests: %d communities of graph snapshot %d, %d messages, %d product signals",
        len(interests.communities),
        snapshot.id,
        len(messages),
        len(signals),
    )
    return interests


__all__ = [
    "CommunityInterest",
    "InterestPicker",
    "InterestStore",
    "Interests",
    "ProductPick",
    "build_interests",
    "class_tfidf",
    "interest_vector",
    "interests_from_store",
    "name_community",
    "pick_product",
    "tokens",
]
