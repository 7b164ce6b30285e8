"""Attribution: which post each of the shop's orders came from, by the UTM of the link the customer followed.

A campaign post's links carry utm_source (the platform), utm_campaign (the campaign), utm_content (the variant,
"v1") and utm_term (the slot, "20261111T0200Z" in UTC); see bot/adapters/templating/filters.py. An order is
attributed, from its own UTM columns or landing URL, else from a visit with its order_id (a visits CSV):

* to a **post** when its campaign and slot name an outbox post that was sent (and sent before the order, allowing
  a few minutes of clock difference); with several accounts in the slot, the one on the platform utm_source names
  (then the one whose variant utm_content names, then the first by name);
* to its **campaign** only, when the campaign is one of the shop's but the slot names no sent post (a link from
  before the slot was carried, or a template that set its own utm_term); the variant then comes from utm_content
  when it names one;
* else it is **unattributed**, counted with the reason (no UTM, another source's campaign, a post never sent).

Pure: the posts are looked up through a function (store_posts builds one over the store).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.adapters.orders import Order, Visit
from bot.adapters.store.keys import campaign_account_key
from bot.adapters.templating.filters import parse_slot_term, parse_variant_content
from bot.core.records import OutboxState

logger = logging.getLogger(__name__)

CLOCK_SLACK = timedelta(minutes=5)  # an order this much before its post went out still counts (clocks differ)

NO_UTM = "no UTM campaign"
OTHER_CAMPAIGN = "a campaign socialbot did not post"
NEVER_SENT = "names a post that was never sent"
BEFORE_POST = "ordered before the post went out"
REASON_WORDS = {  # "5 orders (¥379) not attributed: 2 without a UTM campaign, 1 from ..."
    NO_UTM: "without a UTM campaign",
    OTHER_CAMPAIGN: "from campaigns socialbot did not post",
    NEVER_SENT: "naming a post that was never sent",
    BEFORE_POST: "placed before the post they name went out",
}


@dataclass(frozen=True)
class PostRef:
    """One sent campaign post an order can be attributed to."""

    outbox_key: str
    account: str
    platform: str  # the account's network: x (also the sandbox) or bluesky
    campaign: str
    slot_at: datetime
    variant: str | None  # as the report names it (the campaign_slot row's label)
    sent_at: datetime | None
    sent: bool


PostLookup = Callable[[str, datetime], Sequence[PostRef]]  # (campaign, slot UTC) -> the slot's posts


@dataclass(frozen=True)
class Attributed:
    order_id: str
    amount: float
    time: datetime
    campaign: str
    variant: str | None
    outbox_key: str | None  # None: attributed to the campaign only
    account: str | None
    via: str  # "order" (its own UTM columns or landing URL) | "visit"


@dataclass(frozen=True)
class Money:
    orders: int = 0
    revenue: float = 0.0
    posts: int = 0  # how many distinct posts the orders came from

    def add(self, amount: float) -> Money:
        return Money(self.orders + 1, self.revenue + amount, self.posts)


@dataclass(frozen=True)
class Missed:
    """An order left unattributed, and why."""

    order_id: str
    amount: float
    time: datetime
    reason: str
    campaign: str | None  # the campaign its UTM named, if any


@dataclass
class Attribution:
    orders: list[Attributed] = field(default_factory=list)
    missed: list[Missed] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.orders) + len(self.missed)

    @property
    def unattributed(self) -> Counter[str]:
        """reason -> orders."""
        return Counter(m.reason for m in self.missed)

    @property
    def unattributed_revenue(self) -> float:
        return sum(m.amount for m in self.missed)

    @property
    def to_posts(self) -> int:
        return sum(1 for a in self.orders if a.outbox_key is not None)

    def only(self, since: datetime, until: datetime, campaign: str | None = None) -> Attribution:
        """The orders placed in [since, until) (whose UTM names `campaign`, when given)."""

        def keep(time: datetime, name: str | None) -> bool:
            return since <= time < until and (campaign is None or name == campaign)

        return Attribution(
            [a for a in self.orders if keep(a.time, a.campaign)], [m for m in self.missed if keep(m.time, m.campaign)]
        )

    def per_post(self) -> dict[str, Money]:
        """outbox key -> orders and revenue."""
        found: dict[str, Money] = {}
        for a in self.orders:
            if a.outbox_key is not None:
                found[a.outbox_key] = found.get(a.outbox_key, Money()).add(a.amount)
        return found

    def per_variant(self) -> dict[tuple[str, str], Money]:
        """(campaign, variant label) -> orders and revenue (orders whose variant is known)."""
        found: dict[tuple[str, str], Money] = {}
        for a in self.orders:
            if a.variant is not None:
                key = (a.campaign, a.variant)
                found[key] = found.get(key, Money()).add(a.amount)
        return found

    def per_campaign(self) -> dict[str, Money]:
        """campaign -> orders, revenue and the number of posts they came from."""
        money: dict[str, Money] = {}
        posts: dict[str, set[str]] = {}
        for a in self.orders:
            money[a.campaign] = money.get(a.campaign, Money()).add(a.amount)
            if a.outbox_key is not None:
                posts.setdefault(a.campaign, set()).add(a.outbox_key)
        return {name: Money(m.orders, m.revenue, len(posts.get(name, ()))) for name, m in money.items()}

    def unattributed_sentence(self, currency: str) -> str | None:
        """'5 orders (¥379) not attributed: 2 without a UTM campaign, 1 from campaigns socialbot did not post'."""
        count = sum(self.unattributed.values())
        if not count:
            return None
        reasons = ", ".join(f"{n:,} {REASON_WORDS.get(r, r)}" for r, n in self.unattributed.most_common())
        noun = "order" if count == 1 else "orders"
        return f"{count:,} {noun} ({money(self.unattributed_revenue, currency)}) not attributed: {reasons}"


def utm_campaigns(campaign_utm: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """utm_campaign value -> the campaigns whose links carry it: its name, unless its `utm:` names another."""
    found: dict[str, list[str]] = {}
    for name in sorted(campaign_utm):
        found.setdefault(campaign_utm[name].get("campaign") or name, []).append(name)
    return found


def money(amount: float, currency: str) -> str:
    """An amount as the shop reads it, in its currency symbol: '¥3,420', '$12.50'."""
    rounded = round(amount, 2)
    sign = "-" if rounded < 0 else ""
    if rounded == int(rounded):
        return f"{sign}{currency}{abs(rounded):,.0f}"
    return f"{sign}{currency}{abs(rounded):,.2f}"


def _choose(posts: Sequence[PostRef], source: str | None, variant: str | None) -> list[PostRef]:
    """The slot's posts the UTM can mean, best first: on utm_source's platform, then of the named variant."""
    chosen = list(posts)
    if source and len(chosen) > 1:
        on_platform = [p for p in chosen if p.platform == source.lower()]
        chosen = on_platform or chosen
    if variant is not None and len(chosen) > 1:
        chosen.sort(key=lambda p: (_account_variant(p) != variant, p.account))
    else:
        chosen.sort(key=lambda p: p.account)
    return chosen


def _account_variant(post: PostRef) -> str | None:
    """A post's own variant: a multi-account slot's label is 'shop_x:0 shop_bsky:1'."""
    label = post.variant or ""
    for part in label.split():
        account, sep, value = part.rpartition(":")
        if sep and account == post.account:
            return value
    return label or None


def attribute(
    orders: Iterable[Order],
    lookup: PostLookup,
    campaigns: Collection[str] | Mapping[str, Sequence[str]],
    *,
    visits: Iterable[Visit] = (),
) -> Attribution:
    """Attribute every order (see the module docstring); the posts of each (campaign, slot) are looked up once.
    `campaigns`: the shop's campaign names, or utm_campaign value -> the campaigns whose links carry it (a
    campaign's `utm: {campaign: ...}` renames it in its links; several campaigns may share one: utm_term's slot
    and utm_source tell their posts apart)."""
    by_order = {v.order_id: v for v in visits if v.order_id}
    known = dict(campaigns) if isinstance(campaigns, Mapping) else {name: [name] for name in campaigns}
    cache: dict[tuple[str, datetime], Sequence[PostRef]] = {}

    def posts_of(utm_campaign: str, slot: datetime) -> list[PostRef]:
        found: list[PostRef] = []
        for name in known[utm_campaign]:
            if (name, slot) not in cache:
                cache[(name, slot)] = lookup(name, slot)
            found.extend(cache[(name, slot)])
        return found

    result = Attribution()
    for order in orders:
        utm, via = order.utm, "order"
        if not utm.get("campaign") and order.order_id in by_order:
            utm, via = by_order[order.order_id].utm, "visit"
        campaign = utm.get("campaign") or ""
        if campaign not in known:
            reason = OTHER_CAMPAIGN if campaign else NO_UTM
            result.missed.append(Missed(order.order_id, order.amount, order.time, reason, campaign or None))
            continue
        variant = parse_variant_content(utm.get("content"))
        slot = parse_slot_term(utm.get("term"))
        first = known[campaign][0]  # the campaign an order without a post is counted to
        if slot is None:
            result.orders.append(Attributed(order.order_id, order.amount, order.time, first, variant, None, None, via))
            continue
        candidates = _choose(posts_of(campaign, slot), utm.get("source"), variant)
        sent = [p for p in candidates if p.sent]
        if not candidates:  # the slot is not ours (or was pruned): the campaign still earned the order
            result.orders.append(Attributed(order.order_id, order.amount, order.time, first, variant, None, None, via))
            continue
        if not sent:
            result.missed.append(Missed(order.order_id, order.amount, order.time, NEVER_SENT, campaign))
            continue
        post = sent[0]
        if post.sent_at is not None and order.time < post.sent_at - CLOCK_SLACK:
            result.missed.append(Missed(order.order_id, order.amount, order.time, BEFORE_POST, campaign))
            continue
        found = Attributed(
            order.order_id, order.amount, order.time, post.campaign, post.variant, post.outbox_key, post.account, via
        )
        result.orders.append(found)
    logger.debug("attributed %d of %d orders (%d to a post)", len(result.orders), result.total, result.to_posts)
    return result


# ------------------------------------------------------------------------------------------- the store


class _Slots(Protocol):
    def get(self, campaign: str, slot_at: datetime) -> Any: ...


class _Outbox(Protocol):
    def item(self, item_id: int | None = None, *, key: str | None = None) -> Any: ...


class _Store(Protocol):
    @property
    def slots(self) -> _Slots: ...

    @property
    def outbox(self) -> _Outbox: ...


def store_posts(store: _Store, networks: Mapping[str, str]) -> PostLookup:
    """A PostLookup over the store: the campaign_slot row of (campaign, slot) and its outbox posts (the slot's
    outbox_key, or for a multi-account slot the key of each account its variant label names). `networks`: each
    account's platform as the UTM names it (x, bluesky)."""

    def lookup(campaign: str, slot_at: datetime) -> list[PostRef]:
        slot = store.slots.get(campaign, slot_at)
        if slot is None:
            return []
        if slot.outbox_key:
            keys = [slot.outbox_key]
        else:
            accounts = [part.rpartition(":")[0] for part in (slot.variant or "").split() if ":" in part]
            keys = [campaign_account_key(campaign, account, slot_at) for account in accounts]
        found = []
        for key in keys:
            item = store.outbox.item(key=key)
            if item is None:
                continue
            found.append(
                PostRef(
                    outbox_key=item.key,
                    account=item.account,
                    platform=networks.get(item.account, "x"),
                    campaign=campaign,
                    slot_at=slot_at,
                    variant=slot.variant,
                    sent_at=item.sent_at,
                    sent=item.state == OutboxState.SENT,
                )
            )
        return found

    return lookup
