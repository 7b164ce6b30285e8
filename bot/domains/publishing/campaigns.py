"""Promotions -> outbox: one campaign slot becomes (at most) one outbox row per account of the campaign.

A campaign names one `account` (outbox key campaign:<name>:<slot UTC>) or several `accounts`, on one platform
or several (one row each, key campaign:<name>:<account>:<slot UTC>); each account's text comes from its
platform's template (promo.bluesky.j2 beside promo.j2, when present) and is measured by that platform's rule.
The database decides what happened to a slot (queued / failed / missed / skipped); APScheduler only
says "this slot is due". Firing the same slot twice (restart, second daemon, catch-up racing the job)
is harmless because the store's slot and outbox keys are unique, and the slot row and its outbox rows are
written in one transaction.

Learning from outcomes (bot.domains.outcomes): a `best_times` schedule takes each period's slots from the best-time
model (outcomes/schedule.py, fixed before the period starts); `variants: learn` picks each slot's variant with the
Thompson-sampling bandit (outcomes/bandit.py, seeded by campaign and slot) over the engagement of the campaign's
earlier posts per variant, instead of the rotation. The duplicate-text rule holds for both. `pick: interest` names
the product a `ProductPicker` (the app gives bot.domains.audience.interests.InterestPicker) draws for the campaign's
target, seeded by campaign and slot, instead of products[sequence % n].
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from bot.adapters.scheduling import Job, SlotSpec, Window, slot_sequence, slots_between
from bot.core.clock import Clock, ensure_utc
from bot.core.errors import StoreError, TemplateError
from bot.core.ports import CampaignStore
from bot.core.text import text_hash
from bot.domains.outcomes.attributed import AttributedOrders
from bot.domains.outcomes.bandit import (
    ATTRIBUTED_ENOUGH,
    rank_variants,
    rank_variants_by_revenue,
    revenue_stats,
    slot_seed,
    variant_stats,
)
from bot.domains.outcomes.rates import posts_from_columns
from bot.domains.outcomes.reading import OutcomeReader
from bot.domains.outcomes.schedule import BestTimesPlanner
from bot.settings.campaigns import BestTimesSchedule

if TYPE_CHECKING:
    from bot.adapters.templating import Rendered
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

DEFAULT_LOOKBACK = timedelta(days=7)

QUEUED = "queued"
FAILED = "failed"
MISSED = "missed"
SKIPPED = "skipped"


class CampaignRenderer(Protocol):
    def variants(self, template: str) -> int: ...

    def campaign_template(self, campaign_name: str, account: str | None = None) -> str: ...

    def render_campaign(
        self,
        campaign_name: str,
        *,
        slot_at: datetime,
        sequence: int,
        variant: int | None = None,
        account: str | None = None,
        product: int | None = None,
    ) -> Rendered: ...


class ProductChoice(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def reason(self) -> str: ...


class ProductPicker(Protocol):
    """`pick: interest`: the product a slot names (bot.domains.audience.interests.InterestPicker, given by the app);
    None: no opinion (the rotation's product)."""

    def pick(
        self, campaign: str, target: tuple[str, int | str | None], products: Sequence[str], seed: int
    ) -> ProductChoice | None: ...


@dataclass(frozen=True)
class PostResult:
    """One account's part of a slot: queued with its text, or failed / skipped with the reason."""

    account: str
    state: str
    reason: str | None = None
    variant: int | None = None
    text: str | None = None
    rendered: Rendered | None = None
    product_reason: str | None = None  # why `pick: interest` chose the product it names


@dataclass(frozen=True)
class FireResult:
    """What `fire` did with one slot. `state` is a slot state, or "disabled"/"outside"/"duplicate".
    `variant` and `text` are those of a single-account campaign; `posts` has one entry per account."""

    campaign: str
    slot_at: datetime
    state: str
    reason: str | None = None
    variant: int | None = None
    text: str | None = None
    posts: tuple[PostResult, ...] = ()


@dataclass(frozen=True)
class CatchUpReport:
    queued: int = 0
    missed: int = 0
    skipped: int = 0
    failed: int = 0
    already: int = 0


def campaign_spec(settings: Settings, name: str, planner: BestTimesPlanner | None = None) -> SlotSpec:
    """The schedule, timezone and window of one campaign, as the scheduler computes them. A best_times schedule
    takes its slots from `planner` (without one: spread evenly inside `within`)."""
    campaign = settings.campaigns[name]
    start, end = settings.campaign_window(name)
    tz = settings.campaign_timezone(name)
    return SlotSpec(campaign.schedule, tz, Window.of(start, end, tz), planner)


def best_times_planner(settings: Settings, name: str, outcomes: OutcomeReader | None) -> BestTimesPlanner:
    """The planner of a best_times campaign over `outcomes` (store.outcomes; None: no database)."""
    longest = max((age for _, age in settings.metrics.durations()), default=timedelta(days=7))
    return BestTimesPlanner(outcomes, settings.campaigns[name].targets, longest_age=longest)


class _CampaignJob:
    """The scheduler's job body for one campaign: fire the slot, never let an error kill the daemon."""

    def __init__(self, service: CampaignService, name: str) -> None:
        self.service = service
        self.name = name

    def __call__(self, slot_at: datetime) -> None:
        try:
            self.service.fire(self.name, slot_at)
        except StoreError as exc:
            logger.warning(
                "campaign %s: slot %s waits for the database (%s); it is queued once the database answers",
                self.name,
                _iso(slot_at),
                exc,
            )
            if self.service.on_store_error is not None:
                self.service.on_store_error()
        except Exception:
            logger.exception("campaign %s: slot %s could not be processed", self.name, _iso(slot_at))


class CampaignService:
    def __init__(
        self,
        settings: Settings,
        store: CampaignStore,
        renderer: CampaignRenderer,
        clock: Clock,
        *,
        on_enqueue: Callable[[], object] | None = None,
        on_store_error: Callable[[], object] | None = None,
        lookback: timedelta = DEFAULT_LOOKBACK,
        outcomes: OutcomeReader | None = None,
        orders: AttributedOrders | None = None,
        products: ProductPicker | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.renderer = renderer
        self.clock = clock
        self.on_enqueue = on_enqueue
        self.on_store_error = on_store_error
        self.lookback = lookback
        # the readings best_times and `variants: learn` learn from: store.outcomes unless given
        self.outcomes: OutcomeReader | None = outcomes if outcomes is not None else getattr(store, "outcomes", None)
        # the orders `learn_on: revenue | auto` learns from: segments.orders_csv attributed to the posts, unless given
        self.orders = orders if orders is not None else _attributed_orders(settings, store, clock)
        self.products = products  # `pick: interest` campaigns ask it; without one they rotate their products
        self._planners: dict[str, BestTimesPlanner] = {}
        self._caught_up_at: datetime | None = None

    # ---- schedule ---------------------------------------------------------------------------------

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.settings.delivery.grace_minutes)

    def spec(self, name: str) -> SlotSpec:
        planner = None
        if isinstance(self.settings.campaigns[name].schedule, BestTimesSchedule):
            if name not in self._planners:  # one per campaign: its models are kept per period
                self._planners[name] = best_times_planner(self.settings, name, self.outcomes)
            planner = self._planners[name]
        return campaign_spec(self.settings, name, planner)

    def jobs(self) -> list[Job]:
        """One scheduler job per enabled campaign, id "campaign:<name>", starting where catch_up stopped."""
        return [
            Job(
                job_id=f"campaign:{name}",
                func=_CampaignJob(self, name),
                spec=self.spec(name),
                name=f"campaign {name}",
                start_at=self._caught_up_at,
            )
            for name in self.settings.enabled_campaigns()
        ]

    # ---- one slot ---------------------------------------------------------------------------------

    def fire(self, campaign_name: str, slot_at: datetime, *, now: datetime | None = None) -> FireResult:
        """Turn one due slot into an outbox row, or record why not (failed / missed / skipped)."""
        slot = ensure_utc(slot_at).replace(microsecond=0)
        campaign = self.settings.campaigns.get(campaign_name)
        if campaign is None or not campaign.enabled:
            logger.info("campaign %s: slot %s ignored (campaign disabled or removed)", campaign_name, _iso(slot))
            return FireResult(campaign_name, slot, "disabled")
        spec = self.spec(campaign_name)
        if not spec.window.contains(slot):
            logger.info("campaign %s: slot %s is outside the campaign window", campaign_name, _iso(slot))
            return FireResult(campaign_name, slot, "outside")
        if not spec.scheduled(slot):
            logger.info("campaign %s: %s is not one of the period's best times; ignored", campaign_name, _iso(slot))
            return FireResult(campaign_name, slot, "outside", "not one of the period's best times")
        current = ensure_utc(now) if now is not None else self.clock.now()
        late = current - slot
        if late > self.grace:
            reason = f"daemon was down at {_iso(slot)}; grace {_minutes(self.grace)} min"
            self._record(campaign_name, slot, MISSED, reason, logging.WARNING)
            return FireResult(campaign_name, slot, MISSED, reason)

        sequence = slot_sequence(spec, slot)
        if not campaign.multi_account:
            post = self._choose(campaign_name, campaign.targets[0], slot, sequence)
            if post.rendered is not None and post.state == QUEUED:
                return self._enqueue(campaign_name, post.account, slot, post.rendered, late, post.product_reason)
            reason = post.reason or post.state
            self._record(
                campaign_name, slot, post.state, reason, logging.ERROR if post.state == FAILED else logging.WARNING
            )
            return FireResult(campaign_name, slot, post.state, reason, post.variant, post.text, (post,))
        return self._fire_multi(campaign_name, campaign.targets, slot, sequence, late)

    def variant_order(self, campaign_name: str, account: str, slot: datetime, sequence: int, count: int) -> list[int]:
        """The variants in the order this slot tries them: the rotation's (sequence, sequence + 1, ...), or with
        `variants: learn` the bandit's (its pick first, then by its draws) over the campaign's posts by `account`
        before the slot, per variant: their engagement per impression, or the revenue their UTM links brought
        per impression (`learn_on`: revenue, or auto once ATTRIBUTED_ENOUGH orders name the campaign's posts)."""
        campaign = self.settings.campaigns[campaign_name]
        if campaign.variants != "learn" or count < 2:
            return [(sequence + offset) % count for offset in range(count)]
        seed = slot_seed(campaign_name, slot, account if campaign.multi_account else None)
        if self.outcomes is None:
            return rank_variants({i: (0.0, 0.0) for i in range(count)}, seed)
        money = self._money(campaign_name, slot) if campaign.learn_on != "engagement" else {}
        on_revenue = campaign.learn_on == "revenue" or sum(m[0] for m in money.values()) >= ATTRIBUTED_ENOUGH
        columns = self.outcomes.readings(account=account, campaign=campaign_name, until=slot, detail=on_revenue)
        posts = posts_from_columns(columns)
        if on_revenue:
            stats = revenue_stats(
                posts.variant.tolist(), posts.outbox_key.tolist(), posts.denominator.tolist(), money, count
            )
            order = rank_variants_by_revenue(stats, seed)
            logger.debug(
                "campaign %s: slot %s: revenue per impression by variant %s",
                campaign_name,
                _iso(slot),
                {i: (round(s.rate, 4), s.posts) for i, s in stats.items()},
            )
        else:
            engaged = variant_stats(
                posts.variant.tolist(), posts.engagements.tolist(), posts.denominator.tolist(), count
            )
            order = rank_variants(engaged, seed)
        logger.debug(
            "campaign %s: slot %s for %s: bandit order %s on %s",
            campaign_name,
            _iso(slot),
            account,
            order,
            "revenue" if on_revenue else "engagement",
        )
        return order

    def _money(self, campaign_name: str, slot: datetime) -> dict[str, tuple[float, float]]:
        """outbox key -> (orders, revenue) the campaign's posts brought before `slot` ({} without orders)."""
        if self.orders is None:
            return {}
        found = self.orders.per_post(campaign_name, slot)
        return {key: (float(m.orders), m.revenue) for key, m in found.items()}

    def product_choice(self, campaign_name: str, slot: datetime) -> ProductChoice | None:
        """`pick: interest`: the product the slot names and why (the picker's draw is seeded by campaign and slot,
        so every account of a slot, and a second daemon, name the same one); None: the rotation's product."""
        campaign = self.settings.campaigns[campaign_name]
        if campaign.pick != "interest" or self.products is None or len(campaign.products) < 2:
            return None
        names = [p.name for p in campaign.products]
        try:
            return self.products.pick(campaign_name, campaign.interest_target, names, slot_seed(campaign_name, slot))
        except Exception:
            logger.exception(
                "campaign %s: slot %s: picking by interest failed; the rotation's product", campaign_name, _iso(slot)
            )
            return None

    def _choose(self, campaign_name: str, account: str, slot: datetime, sequence: int) -> PostResult:
        """The text `account` posts for this slot: the rotation's (or the bandit's) variant, or the next one the
        account has not posted yet, from its platform's template; or why there is none (failed / skipped)."""
        choice = self.product_choice(campaign_name, slot)
        product = choice.index if choice is not None else None
        why = choice.reason if choice is not None else None
        try:
            template = self.renderer.campaign_template(campaign_name, account)
            count = self.renderer.variants(template)
            for variant in self.variant_order(campaign_name, account, slot, sequence, count):
                rendered = self.renderer.render_campaign(
                    campaign_name, slot_at=slot, sequence=sequence, variant=variant, account=account, product=product
                )
                if not rendered.valid:
                    reason = (
                        f"variant {variant}: {rendered.reason or 'invalid text'} ({rendered.length}/{rendered.limit})"
                    )
                    return PostResult(account, FAILED, reason, variant, rendered.text, rendered, why)
                if self.store.outbox.text_used(account, text_hash(rendered.text)):
                    logger.debug("campaign %s: variant %d already posted by %s", campaign_name, variant, account)
                    continue
                return PostResult(account, QUEUED, None, variant, rendered.text, rendered, why)
        except TemplateError as exc:
            return PostResult(account, FAILED, f"template error: {exc}")
        reason = f"every variant already posted by {account} ({count} in {template}); add a variant or vary the text"
        return PostResult(account, SKIPPED, reason)

    def _enqueue(
        self, name: str, account: str, slot: datetime, rendered: Rendered, late: timedelta, why: str | None = None
    ) -> FireResult:
        created = self.store.slots.enqueue_campaign_slot(
            name, slot, account=account, text=rendered.text, variant=str(rendered.variant)
        )
        state = QUEUED if created else "duplicate"
        post = PostResult(account, state, None, rendered.variant, rendered.text, rendered, why)
        if not created:
            logger.info("campaign %s: slot %s already handled; nothing to do", name, _iso(slot))
            return FireResult(name, slot, "duplicate", None, rendered.variant, rendered.text, (post,))
        self._log_queued(name, slot, account, rendered, late, why)
        if self.on_enqueue is not None:
            self.on_enqueue()
        return FireResult(name, slot, QUEUED, None, rendered.variant, rendered.text, (post,))

    def _fire_multi(
        self, name: str, accounts: Sequence[str], slot: datetime, sequence: int, late: timedelta
    ) -> FireResult:
        """A slot of a multi-account campaign: one outbox row per account that has a valid, unposted text, with
        the slot row, in one transaction; the accounts without one are named in the slot's reason."""
        posts = tuple(self._choose(name, account, slot, sequence) for account in accounts)
        queued = [p for p in posts if p.state == QUEUED and p.rendered is not None]
        problems = [f"{p.account}: {p.state}: {p.reason}" for p in posts if p.state != QUEUED]
        reason = "; ".join(problems) or None
        worst = logging.ERROR if any(p.state == FAILED for p in posts) else logging.WARNING
        if not queued:
            state = FAILED if worst == logging.ERROR else SKIPPED
            self._record(name, slot, state, reason or state, worst)
            return FireResult(name, slot, state, reason, posts=posts)
        created = self.store.slots.enqueue_campaign_posts(
            name, slot, [(p.account, p.rendered.text, str(p.variant)) for p in queued if p.rendered], reason=reason
        )
        if not created:
            logger.info("campaign %s: slot %s already handled; nothing to do", name, _iso(slot))
            return FireResult(name, slot, "duplicate", None, posts=posts)
        for post in queued:
            assert post.rendered is not None
            self._log_queued(name, slot, post.account, post.rendered, late, post.product_reason)
        if reason:
            logger.log(worst, "campaign %s: slot %s: no post for %s", name, _iso(slot), reason)
        if self.on_enqueue is not None:
            self.on_enqueue()
        return FireResult(name, slot, QUEUED, reason, posts=posts)

    @staticmethod
    def _log_queued(
        name: str, slot: datetime, account: str, rendered: Rendered, late: timedelta, why: str | None = None
    ) -> None:
        logger.info(
            "campaign %s: slot %s queued for %s (%s, variant %d/%d, %d/%d%s%s)%s",
            name,
            _iso(slot),
            account,
            rendered.template,
            rendered.variant + 1,
            rendered.variants,
            rendered.length,
            rendered.limit,
            " graphemes" if rendered.platform == "bluesky" else " chars",
            f", {int(late.total_seconds())}s late" if late > timedelta(seconds=60) else "",
            f"; product {rendered.product}: {why}" if why else "",
        )

    def _record(self, name: str, slot: datetime, state: str, reason: str, level: int) -> None:
        created = self.store.slots.record(name, slot, state, reason)
        if created:
            logger.log(level, "campaign %s: slot %s %s: %s", name, _iso(slot), state, reason)
        else:
            logger.debug("campaign %s: slot %s already recorded; not marking %s", name, _iso(slot), state)

    # ---- after a start or a reload ----------------------------------------------------------------

    def catch_up(self, now: datetime | None = None) -> CatchUpReport:
        """Handle slots that fell due while the daemon was not running (or could not reach the database): late
        within grace, else missed. Also fills holes within grace: a slot whose job failed for want of the
        database while later slots went through."""
        current = ensure_utc(now) if now is not None else self.clock.now()
        totals = {QUEUED: 0, MISSED: 0, SKIPPED: 0, FAILED: 0, "already": 0}
        for name in self.settings.enabled_campaigns():
            spec = self.spec(name)
            last = self.store.slots.last_at(name)
            lower = current - self.lookback
            if last is None:
                lower = max(lower, current - self.grace)
            else:
                lower = max(lower, ensure_utc(last) + timedelta(seconds=1))
            if spec.window.start is not None:
                lower = max(lower, spec.window.start)
            due = list(slots_between(spec.trigger(), None, spec.window, lower, current))
            holes_from = current - self.grace
            if spec.window.start is not None:
                holes_from = max(holes_from, spec.window.start)
            if last is not None and holes_from < lower:
                recorded = self.store.slots.recorded(name, holes_from)
                before = slots_between(spec.trigger(), None, spec.window, holes_from, lower)
                due = [slot for slot in before if slot.replace(microsecond=0) not in recorded] + due
            counts = {QUEUED: 0, MISSED: 0, SKIPPED: 0, FAILED: 0, "already": 0}
            for slot in due:
                result = self.fire(name, slot, now=current)
                key = result.state if result.state in counts else "already"
                counts[key] += 1
            if any(counts.values()):
                logger.info(
                    "campaign %s catch-up: %d sent late, %d missed, %d skipped, %d failed, %d already handled",
                    name,
                    counts[QUEUED],
                    counts[MISSED],
                    counts[SKIPPED],
                    counts[FAILED],
                    counts["already"],
                )
            for key, value in counts.items():
                totals[key] += value
        self._caught_up_at = current
        report = CatchUpReport(totals[QUEUED], totals[MISSED], totals[SKIPPED], totals[FAILED], totals["already"])
        logger.info(
            "catch-up at %s: %d slot(s) sent late, %d missed (grace %s min)",
            _iso(current),
            report.queued,
            report.missed,
            _minutes(self.grace),
        )
        return report


def _iso(moment: datetime) -> str:
    return ensure_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:g}"


def _attributed_orders(settings: Settings, store: CampaignStore, clock: Clock) -> AttributedOrders | None:
    """The orders a `learn` campaign may learn revenue from: only when one learns and the shop gives orders."""
    if not any(c.variants == "learn" and c.learn_on != "engagement" for c in settings.campaigns.values()):
        return None
    return AttributedOrders.for_settings(settings, store, clock)
