"""Coupon campaigns: who gets a code (segments + rules + a holdout), issuance exactly once per person within
budget, delivery only where the platform allows (with a reply they asked for, by DM where they wrote first,
or an export for the shop's email tool), and the report of what it brought.

Delivery state: a reply or DM coupon records the key of the outbox row that carries it (mark_delivering /
enqueue); `mark_delivered_by_outbox()` (run by the coupons job and before every report) copies the outbox
row's send time into `delivered_at` once the row is sent. An export is delivered when its file is written
(atomically; a crash between the file and the database marks re-exports those codes in the next file, so an
export is at least once, never lost). The daemon's job runs on one daemon at a time (the "coupons" lease).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.logs import job_failures
from bot.core.models import platform_name
from bot.core.records import CampaignCounts, CouponRecord, IssueSpec, Member
from bot.core.text import safe_name
from bot.domains.coupons.codes import new_code, read_code_pool
from bot.domains.coupons.export import post_webhook, write_csv_atomically
from bot.settings.languages import in_language_all

if TYPE_CHECKING:
    from bot.adapters.orders import Order
    from bot.adapters.scheduling import Job
    from bot.adapters.templating import TemplateRenderer
    from bot.core.clock import Clock
    from bot.core.ports import CouponStore
    from bot.domains.coupons.people import FeatureSource
    from bot.settings.config import Settings
    from bot.settings.coupons import CouponCampaignConfig

logger = logging.getLogger(__name__)

WEBHOOK_ENV = "SOCIALBOT_COUPON_WEBHOOK_URL"
LEASE = "coupons"
LEASE_MIN, LEASE_MAX = timedelta(seconds=20), timedelta(minutes=10)
Progress = Callable[[int, int], None]  # (people looked at, people in the target segments)


def is_held_out(campaign: str, platform: str, user_id: str, share: float) -> bool:
    """The deterministic holdout draw: the same person is always in or out of a campaign's holdout."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"holdout:{campaign}:{platform}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def coupon_key(campaign: str, platform: str, user_id: str) -> str:
    """The outbox key of a coupon DM."""
    return f"coupon:{campaign}:{platform}:{user_id}"


@dataclass
class IssueReport:
    campaign: str
    run_id: int | None = None
    targeted: int = 0  # members of the target segments
    issued: int = 0  # new codes
    held_out: int = 0  # new holdout rows
    already: int = 0  # already in this campaign (code or holdout)
    opted_out: int = 0
    low_influence: int = 0
    cooldown: int = 0
    over_budget: int = 0
    pool_empty: int = 0
    budget_left: int = 0
    stopped: str | None = None  # why nothing (more) was issued: ended, disabled, no segments, pool empty...
    target: str = "segments"  # uplift: ranked by uplift; segments: the whole segments (also an uplift fallback)
    ranked: int = 0  # `target: uplift`: codes to the top of the ranking, and to the exploration slice
    explored: int = 0
    fallback: str | None = None  # why an uplift campaign gave its codes to its segments instead

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CouponOffer:
    coupon_id: int
    campaign: str
    code: str
    discount: str
    expires_at: datetime
    text: str  # the campaign template rendered for this person


@dataclass
class DeliveryReport:
    campaign: str
    channel: str
    enqueued: int = 0  # DMs put in the outbox
    exported: int = 0
    file: Path | None = None
    waiting: int = 0  # DM codes whose person has not written to us yet
    webhook: str | None = None  # "sent", "failed: ...", or None (no webhook)


@dataclass
class ReportRow:
    campaign: str
    segment_id: int | None
    segment: str | None
    eligible: int  # people selected: treated + held out
    held_out: int
    issued: int
    delivered: int
    redeemed: int
    conversion: float | None  # redeemed / issued
    revenue: float
    holdout_converted: int | None  # held-out people who ordered anyway after the campaign started (orders CSV)
    holdout_conversion: float | None
    uplift: float | None  # conversion - holdout_conversion
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CouponService:
    """Issuance, delivery and reporting of the `coupons:` campaigns; `jobs()` for the daemon."""

    def __init__(
        self,
        settings: Settings,
        store: CouponStore,
        clock: Clock,
        *,
        renderer: TemplateRenderer | None = None,
        owner: str | None = None,
        features: FeatureSource | None = None,
    ) -> None:
        self.features = features  # the person features `target: uplift` ranks by (given by the app)
        self.settings = settings
        self.config = settings.coupons
        self.store = store
        self.clock = clock
        self._renderer = renderer
        self.owner = owner or f"coupons:{os.getpid()}"

    # ---- config helpers
    def campaign(self, name: str) -> CouponCampaignConfig:
        try:
            return self.config.campaigns[name]
        except KeyError as exc:
            known = ", ".join(sorted(self.config.campaigns)) or "none configured"
            raise KeyError(f"no coupon campaign {name!r} (campaigns: {known})") from exc

    def account_of(self, name: str) -> str:
        account = self.campaign(name).account
        return account if account is not None else next(iter(self.settings.accounts))

    def _path(self, path: Path) -> Path:
        return self.settings.in_config_dir(path)

    @property
    def renderer(self) -> TemplateRenderer:
        if self._renderer is None:
            from bot.adapters.templating import TemplateRenderer

            self._renderer = TemplateRenderer(self.settings)
        return self._renderer

    # ---- issuance
    def _targets(self, name: str, cfg: CouponCampaignConfig, run_id: int) -> tuple[list[int] | None, list[str]]:
        """Segment ids of the campaign's targets in a run (None: every segment) and the targets not found."""
        if not cfg.segments:
            return None, []
        segments = self.store.segments.of_run(run_id)
        chosen: list[int] = []
        missing: list[str] = []
        for target in cfg.segments:  # "regulars" targets "regulars, more orders" too (SegmentInfo.matches)
            found = [s.segment_id for s in segments if s.matches(target)]
            chosen.extend(found)
            if not found:
                missing.append(str(target))
        if missing:
            logger.warning("coupons %s: segments not in segmentation %s: %s", name, run_id, ", ".join(missing))
        return sorted(set(chosen)), missing

    def issue(self, name: str, *, progress: Progress | None = None) -> IssueReport:
        """Issue codes of one campaign to whoever is eligible now (see IssueSpec), in batches; safe to run
        from several daemons at once and to re-run after a crash."""
        cfg = self.campaign(name)
        report = IssueReport(name)
        now = self.clock.now()
        if not cfg.enabled:
            report.stopped = "disabled"
            return report
        if cfg.ends is not None:
            ends = cfg.ends if cfg.ends.tzinfo is not None else cfg.ends.replace(tzinfo=self.settings.tz)
            if now >= ends:
                report.stopped = "ended"
                logger.info("coupons %s: the campaign ended at %s; no codes issued", name, ends.isoformat())
                return report
        run = self.store.segments.latest_run()
        if run is None:
            report.stopped = "no segmentation yet"
            logger.info("coupons %s: no audience segmentation yet; nothing to issue", name)
            return report
        report.run_id = run.id
        segment_ids, _missing = self._targets(name, cfg, run.id)
        if segment_ids is not None and not segment_ids:
            report.stopped = "no target segment in the latest segmentation"
            return report
        pool: list[str] | None = None
        if cfg.codes_csv is not None:
            pool, _problems = read_code_pool(self._path(cfg.codes_csv))
        snapshot = self.store.graphs.latest_snapshot() if cfg.min_influence > 0 else None
        prefix = cfg.code_prefix
        spec = IssueSpec(
            campaign=name,
            budget=cfg.budget,
            channel=cfg.channel,
            expires_after_s=cfg.expires_after.total_seconds(),
            min_influence=cfg.min_influence,
            snapshot_id=snapshot.id if snapshot is not None else None,
            cooldown_since=now - cfg.cooldown if cfg.cooldown is not None else None,
            new_code=(lambda: new_code(prefix)) if pool is None else None,
            pool=pool,
        )
        if cfg.min_influence > 0 and snapshot is None:
            logger.warning(
                "coupons %s: min_influence %.3f but no graph snapshot: nobody qualifies", name, cfg.min_influence
            )
        members: list[tuple[str, str, int]] = []
        for chunk in self.store.segments.members(run.id, segment_ids):
            members.extend(chunk)
        report.targeted = len(members)
        draw = None
        if cfg.discounts:
            from bot.domains.coupons.arms import MarginError, depth_draw

            try:
                draw = depth_draw(name, cfg, self.settings, self.store.coupons, run.id, now, members)
            except MarginError as exc:
                report.stopped = str(exc)
                logger.error("coupons %s: %s; no codes issued", name, exc)
                return report
        planned = self._uplift(name, cfg, spec, members, draw, report) if cfg.target == "uplift" else None
        rows: Sequence[object] = planned if planned is not None else members
        position = 0
        size = self.config.batch_size
        for start in range(0, len(rows), size):
            if planned is not None:
                batch = planned[start : start + size]
            else:
                people = [(p, u, s, is_held_out(name, p, u, cfg.holdout)) for p, u, s in members[start : start + size]]
                batch = draw.members(people) if draw is not None else [Member(*person) for person in people]
                if cfg.target == "uplift":  # no ranking yet: the segments, each row saying so
                    from bot.domains.coupons.targeting import fallback_member

                    batch = [fallback_member(m, cfg.holdout) for m in batch]
            out = self.store.coupons.issue(spec, batch, pool_position=position)
            position = out.pool_position
            report.issued += out.issued
            report.held_out += out.held_out
            report.already += out.existing
            report.opted_out += out.opted_out
            report.low_influence += out.low_influence
            report.cooldown += out.cooldown
            report.over_budget += out.over_budget
            report.pool_empty += out.pool_empty
            report.budget_left = out.budget_left
            if progress is not None:
                progress(min(start + size, len(rows)), len(rows))
            if out.budget_left <= 0 and start + size < len(rows):
                # the budget is spent: the rest get no code, and no holdout row either (the held-out share
                # stays that of the people the campaign reached)
                report.over_budget += len(rows) - (start + size)
                break
            if out.pool_empty:
                report.stopped = "the code pool ran out"
                logger.error(
                    "coupons %s: the code pool %s ran out; issuance stopped (%d people waiting): add codes to it",
                    name,
                    cfg.codes_csv,
                    out.pool_empty,
                )
                break
        if not rows:
            report.budget_left = max(cfg.budget - self.store.coupons.budget(name)[0], 0)
        if report.over_budget and not report.stopped:
            report.stopped = "budget spent"
        logger.info(
            "coupons %s: %d issued, %d held out, %d already in, %d opted out, %d below min_influence, "
            "%d in cooldown, %d over budget (%d left)",
            name,
            report.issued,
            report.held_out,
            report.already,
            report.opted_out,
            report.low_influence,
            report.cooldown,
            report.over_budget,
            report.budget_left,
        )
        return report

    def _uplift(
        self,
        name: str,
        cfg: CouponCampaignConfig,
        spec: IssueSpec,
        members: Sequence[tuple[str, str, int]],
        draw: Any,
        report: IssueReport,
    ) -> list[Member] | None:
        """`target: uplift`: the rows to write (bot.domains.coupons.targeting), or None: it cannot rank yet."""
        from bot.domains.coupons.targeting import NotEnoughHistory, NoUpliftData, plan

        people = [Member(p, u, s, is_held_out(name, p, u, cfg.holdout)) for p, u, s in members]
        try:
            result = plan(
                name, cfg, self.settings, self.store.coupons, spec, people, draw=draw, features=self.features,
                now=self.clock.now(),
            )  # fmt: skip
        except (NotEnoughHistory, NoUpliftData) as exc:
            report.fallback = str(exc)
            logger.warning("coupons %s: target: uplift cannot rank people yet, so its segments get the codes: %s",
                           name, exc)  # fmt: skip
            return None
        report.target, report.ranked, report.explored = "uplift", result.ranked, result.explored
        if result.screened is not None:
            report.already, report.opted_out = result.screened.existing, result.screened.opted_out
            report.low_influence, report.cooldown = result.screened.low_influence, result.screened.cooldown
        return result.members

    def issue_all(self, *, progress: Callable[[str, int, int], None] | None = None) -> list[IssueReport]:
        reports = []
        for name, cfg in self.config.campaigns.items():
            if not cfg.enabled:
                continue
            step = (lambda done, total, n=name: progress(n, done, total)) if progress is not None else None
            reports.append(self.issue(name, progress=step))
        return reports

    # ---- rendering
    def render(self, coupon: CouponRecord, *, language: str | None = None, name: str = "") -> str:
        cfg = self.campaign(coupon.campaign)
        account = self.settings.accounts.get(self.account_of(coupon.campaign))
        expires = coupon.expires_at.astimezone(self.settings.tz) if coupon.expires_at else None
        extra = in_language_all(cfg.extra, language)  # per-language values in the customer's language
        context = {
            **extra,
            "extra": extra,
            "code": coupon.code,
            "discount": cfg.discount_for(language, coupon.arm),
            "expires_at": expires,
            "expires": expires.strftime("%Y-%m-%d") if expires else "",
            "campaign": coupon.campaign,
            "channel": cfg.channel,
            "user": coupon.username or "",
            "name": safe_name(name or coupon.username or ""),
            "language": language or "en",
            "shop": account.handle if account else "",
        }
        variants = self.renderer.variants(cfg.template)
        return self.renderer.render_variant(cfg.template, coupon.id % variants, context)

    # ---- delivery: reply
    def coupon_for_reply(
        self, account: str, platform: str, user_id: str, *, language: str | None = None, name: str = ""
    ) -> CouponOffer | None:
        """The code to put in the reply to this person's mention or coupon request (reply-channel campaigns of
        `account`), or None: not opted out, not expired, not already on its way. The caller enqueues the
        reply and then calls mark_delivering(offer.coupon_id, outbox_key)."""
        net = platform_name(platform)
        campaigns = [
            n for n, c in self.config.campaigns.items() if c.channel == "reply" and self.account_of(n) == account
        ]
        if not campaigns:
            return None
        coupon = self.store.coupons.for_reply(campaigns, net, user_id, now=self.clock.now())
        if coupon is None or coupon.code is None or coupon.expires_at is None:
            return None
        if self.store.mentions.is_opted_out(net, user_id, coupon.username):
            return None
        text = self.render(coupon, language=language, name=name)
        discount = self.campaign(coupon.campaign).discount_for(language, coupon.arm)
        return CouponOffer(coupon.id, coupon.campaign, coupon.code, discount, coupon.expires_at, text)

    def mark_delivering(self, coupon_id: int, outbox_key: str) -> bool:
        """Record the outbox row (e.g. reply:<mention id>) that carries the coupon; delivered once it is sent."""
        return self.store.coupons.mark_delivering(coupon_id, outbox_key)

    def mark_delivered_by_outbox(self, keys: Iterable[str] | None = None) -> int:
        return self.store.coupons.mark_delivered_by_outbox(None if keys is None else list(keys))

    # ---- delivery: DM and export
    def deliver(self, name: str) -> DeliveryReport:
        cfg = self.campaign(name)
        report = DeliveryReport(name, cfg.channel)
        if cfg.channel == "dm":
            self._deliver_dms(name, report)
        elif cfg.channel == "export":
            self._export(name, report)
        return report

    def _deliver_dms(self, name: str, report: DeliveryReport) -> None:
        account = self.account_of(name)
        while True:
            coupons = self.store.coupons.for_dm(name, account, limit=500)
            if not coupons:
                break
            items = []
            for coupon in coupons:
                text = self.render(coupon, language=coupon.language)
                items.append(
                    (
                        coupon.id,
                        {
                            "key": coupon_key(name, coupon.platform, coupon.user_id),
                            "account": account,
                            "text": text,
                            "recipient_id": coupon.user_id,
                            "target_platform": coupon.platform,
                            "target_user_id": coupon.user_id,
                        },
                    )
                )
            attached = self.store.coupons.enqueue_dms(items)
            report.enqueued += attached
            if attached == 0:
                break
        report.waiting = len(self.store.coupons.for_export(name))  # issued, no outbox row: they have not written
        if report.enqueued:
            logger.info(
                "coupons %s: %d DMs queued (%d wait for the person to write first)",
                name,
                report.enqueued,
                report.waiting,
            )

    def _export(self, name: str, report: DeliveryReport) -> None:
        coupons = self.store.coupons.for_export(name)
        if not coupons:
            return
        folder = self._path(self.config.export_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{name}-{self.clock.now().astimezone(self.settings.tz).strftime('%Y-%m-%d')}"
        target = folder / f"{stem}.csv"
        n = 2
        while target.exists():
            target = folder / f"{stem}-{n}.csv"
            n += 1
        campaign = self.campaign(name)
        rows = [
            {
                "handle": c.username or "",
                "user_id": c.user_id,
                "code": c.code,
                "discount": campaign.discount_for(c.language, c.arm),
                "expires_at": c.expires_at.isoformat() if c.expires_at else "",
            }
            for c in coupons
        ]
        write_csv_atomically(target, ["handle", "user_id", "code", "discount", "expires_at"], rows)
        report.exported = self.store.coupons.mark_exported([c.id for c in coupons], f"export:{target.name}")
        report.file = target
        logger.info("coupons %s: %d codes exported to %s", name, report.exported, target)
        url = os.environ.get(WEBHOOK_ENV)
        if url:
            report.webhook = post_webhook(url, {"campaign": name, "file": target.name, "coupons": rows})

    def deliver_all(self) -> list[DeliveryReport]:
        return [self.deliver(n) for n, c in self.config.campaigns.items() if c.enabled and c.channel != "reply"]

    # ---- the daemon's job
    def run_once(self) -> list[IssueReport]:
        """Expire, issue, deliver (DM/export), record deliveries; one daemon at a time (a lease)."""
        now = self.clock.now()
        ttl = self.lease_ttl
        if not self.store.leases.acquire(LEASE, self.owner, ttl=ttl, now=now):
            logger.debug("coupons: another daemon is issuing; skipping this turn")
            return []

        def renew(name: str, done: int, total: int) -> None:  # each batch keeps the turn; a dead daemon's ends soon
            self.store.leases.acquire(LEASE, self.owner, ttl=ttl, now=self.clock.now())

        try:
            self.store.coupons.expire(now)
            reports = self.issue_all(progress=renew)
            self.deliver_all()
            self.mark_delivered_by_outbox()
            return reports
        finally:
            self.store.leases.release(LEASE, self.owner)

    @property
    def lease_ttl(self) -> timedelta:
        """How long a turn is held without a batch going through (renewed at every batch): three turns, between
        LEASE_MIN and LEASE_MAX, so a daemon killed mid-turn (say while the uplift model learns) blocks the others
        briefly."""
        return min(LEASE_MAX, max(LEASE_MIN, 3 * self.config.every))

    def jobs(self) -> list[Job]:
        """One interval job every coupons.every (first turn at start) when any campaign is configured."""
        from bot.adapters.scheduling import Job

        if not self.config.campaigns:
            return []
        return [
            Job(
                job_id="coupons:issue",
                func=self._job,
                spec=self.config.every.total_seconds(),
                name="coupon issuance and delivery",
                start_at=self.clock.now(),
            )
        ]

    def _job(self) -> None:
        with job_failures(logger, "coupons: the issuance job"):
            self.run_once()

    # ---- report
    def report(self, orders: Sequence[Order] | None = None) -> list[ReportRow]:
        """Per campaign and segment (and a total per campaign): eligible, held out, issued, delivered, redeemed,
        conversion, revenue; with orders, the holdout's conversion (held-out people with an order after
        they were drawn) and the uplift."""
        self.store.coupons.mark_delivered_by_outbox()
        counts = self.store.coupons.counts()
        labels: dict[int, str] = {}
        run = self.store.segments.latest_run()
        if run is not None:
            labels = {s.segment_id: s.label for s in self.store.segments.of_run(run.id)}
        converted: dict[tuple[str, int | None], int] = {}
        if orders is not None:
            converted = self._holdout_orders(orders)
        rows: list[ReportRow] = []
        totals: dict[str, CampaignCounts] = {}
        for c in counts:
            t = totals.setdefault(c.campaign, CampaignCounts(c.campaign, None))
            t.held_out += c.held_out
            t.issued += c.issued
            t.delivered += c.delivered
            t.redeemed += c.redeemed
            t.revenue += c.revenue
            rows.append(self._row(c, labels.get(c.segment_id) if c.segment_id is not None else None, converted, orders))
        for campaign, t in totals.items():
            total_converted = sum(v for (name, _), v in converted.items() if name == campaign)
            rows.append(self._row(t, "all", {(campaign, None): total_converted}, orders, total=True))
        return rows

    @staticmethod
    def _row(
        c: CampaignCounts,
        label: str | None,
        converted: Mapping[tuple[str, int | None], int],
        orders: Sequence[Order] | None,
        *,
        total: bool = False,
    ) -> ReportRow:
        conversion = c.redeemed / c.issued if c.issued else None
        hold_n = converted.get((c.campaign, c.segment_id), 0) if orders is not None else None
        hold_conv = hold_n / c.held_out if hold_n is not None and c.held_out else None
        uplift = conversion - hold_conv if conversion is not None and hold_conv is not None else None
        return ReportRow(
            campaign=c.campaign,
            segment_id=None if total else c.segment_id,
            segment=label,
            eligible=c.issued + c.held_out,
            held_out=c.held_out,
            issued=c.issued,
            delivered=c.delivered,
            redeemed=c.redeemed,
            conversion=conversion,
            revenue=round(c.revenue, 2),
            holdout_converted=hold_n,
            holdout_conversion=hold_conv,
            uplift=uplift,
        )

    def _holdout_orders(self, orders: Sequence[Order]) -> dict[tuple[str, int | None], int]:
        """Held-out people (by handle) with an order after their holdout row was written, per campaign+segment."""
        by_handle: dict[str, list[datetime]] = {}
        for order in orders:
            by_handle.setdefault(order.handle.lower(), []).append(order.time)
        out: dict[tuple[str, int | None], int] = {}
        for person in self.store.coupons.held_out_people():
            times = by_handle.get((person.username or "").lower(), ())
            if any(t >= person.issued_at for t in times):
                key = (person.campaign, person.segment_id)
                out[key] = out.get(key, 0) + 1
        return out
