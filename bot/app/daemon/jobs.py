"""The job wiring: from one config, the services (renderer, campaigns, mentions, graph, segments, coupons,
recommendations) and the scheduler jobs they run; rebuilt at start and at every reload."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.adapters.scheduling import Job
    from bot.adapters.store import Store
    from bot.adapters.templating import TemplateRenderer
    from bot.core.clock import Clock
    from bot.core.ports import Platform, SpendingGate
    from bot.domains.audience.engagement import EngagementService
    from bot.domains.audience.interests import InterestPicker
    from bot.domains.audience.segments import SegmentResult
    from bot.domains.audience.service import AnalysisService
    from bot.domains.conversations.mentions import MentionService
    from bot.domains.coupons.issuing import CouponService
    from bot.domains.publishing.campaigns import CampaignService
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wiring:
    """What every service of a daemon is built from."""

    store: Store
    platforms: Mapping[str, Platform]
    clock: Clock
    owner: str
    on_enqueue: Callable[[], None]  # a new outbox row: wake the delivery workers
    on_store_error: Callable[[], None]  # a slot could not be recorded: catch up once the database answers
    poll_times: dict[str, datetime]  # account -> when its last mentions poll finished (bot.app.metrics)
    spending: SpendingGate | None = None  # the monthly cap (bot.domains.costs), asked before paid calls


@dataclass
class Services:
    """The services of one config and the jobs the scheduler runs for them."""

    renderer: TemplateRenderer
    campaigns: CampaignService
    mentions: MentionService | None = None
    engagement: EngagementService | None = None
    analysis: AnalysisService | None = None
    coupons: CouponService | None = None
    picker: InterestPicker | None = None  # `pick: interest` campaigns' products (None: no such campaign)
    jobs: list[Job] = field(default_factory=list)


def build_services(settings: Settings, sources: dict[str, str], wiring: Wiring) -> Services:
    """The services for `settings`, rendering from the checked templates `sources`; campaigns caught up."""
    from bot.adapters.templating import TemplateRenderer
    from bot.domains.publishing.campaigns import CampaignService

    renderer = TemplateRenderer(settings, sources=sources)
    coupons = _coupon_service(settings, renderer, wiring)
    picker = interest_picker(settings, wiring.store, wiring.clock)
    campaigns = CampaignService(
        settings,
        wiring.store,
        renderer,
        wiring.clock,
        on_enqueue=wiring.on_enqueue,
        on_store_error=wiring.on_store_error,
        products=picker,
    )
    campaigns.catch_up(wiring.clock.now())
    services = Services(renderer, campaigns, coupons=coupons, picker=picker, jobs=list(campaigns.jobs()))
    if settings.replies.enabled:
        services.mentions = _mention_service(settings, renderer, coupons, wiring)
        services.jobs.extend(
            replace(job, func=_PollTimer(job.job_id, job.func, wiring)) for job in services.mentions.jobs()
        )
    if settings.graph.enabled:
        services.jobs.extend(_graph_jobs(settings, services, wiring))
    services.jobs.extend(_audience_jobs(settings, renderer, services, wiring))
    services.jobs.extend(_metrics_jobs(settings, wiring))
    return services


def interest_picker(settings: Settings, store: Store, clock: Clock) -> InterestPicker | None:
    """The picker of `pick: interest` campaigns (bot.domains.audience.interests), None when no campaign has one."""
    if not any(c.pick == "interest" for c in settings.campaigns.values()):
        return None
    from bot.domains.audience.interests import InterestPicker

    return InterestPicker(store, settings, clock)


def _metrics_jobs(settings: Settings, wiring: Wiring) -> list[Job]:
    """Post metrics per account (metrics:<account>, every metrics.every): bot.domains.outcomes.collect."""
    from bot.domains.outcomes.collect import MetricsCollector

    return MetricsCollector(settings, wiring.store, wiring.platforms, wiring.clock, spending=wiring.spending).jobs()


def coupon_features(settings: Settings, store: Any) -> Any:
    """The person features `target: uplift` ranks by: the audience's feature table at a moment (None: no campaign
    targets uplift)."""
    if not any(c.target == "uplift" for c in settings.coupons.campaigns.values()):
        return None
    from bot.domains.audience.features import load_features

    return lambda now: load_features(settings, store, now)


def _coupon_service(settings: Settings, renderer: TemplateRenderer, wiring: Wiring) -> CouponService | None:
    from bot.domains.coupons.issuing import CouponService

    if not settings.coupons.campaigns:
        return None
    return CouponService(
        settings,
        wiring.store,
        wiring.clock,
        renderer=renderer,
        owner=wiring.owner,
        features=coupon_features(settings, wiring.store),
    )


def _mention_service(
    settings: Settings, renderer: TemplateRenderer, coupons: CouponService | None, wiring: Wiring
) -> MentionService:
    from bot.domains.conversations.intent import Classifier
    from bot.domains.conversations.mentions import MentionService

    return MentionService(
        settings,
        wiring.store,
        wiring.platforms,
        Classifier(settings.replies),
        renderer,
        wiring.clock,
        on_enqueue=wiring.on_enqueue,
        coupons=coupons,
        owner=wiring.owner,
        spending=wiring.spending,
    )


def _graph_jobs(settings: Settings, services: Services, wiring: Wiring) -> list[Job]:
    """Engagement collection per account; the graph analysis (services.analysis) runs in the audience job."""
    from bot.domains.audience.engagement import EngagementService
    from bot.domains.audience.service import AnalysisService

    services.engagement = EngagementService(
        settings, wiring.store, wiring.platforms, wiring.clock, spending=wiring.spending
    )
    services.analysis = AnalysisService(
        settings, wiring.store, wiring.clock, owner=wiring.owner, platforms=wiring.platforms
    )
    return services.engagement.jobs()


def _audience_jobs(settings: Settings, renderer: TemplateRenderer, services: Services, wiring: Wiring) -> list[Job]:
    """Coupon issuance and delivery; the audience analyses (graph, then segments, each when due and on one daemon
    at a time), a coupon turn right after each new segmentation (the first day's codes need not wait for
    coupons.every); the recommender behind templates' recommend(user, n), rebuilt as often as the segments."""
    from bot.adapters.scheduling import Job
    from bot.domains.audience.refresh import AudienceAnalyses

    jobs: list[Job] = []
    coupons = services.coupons
    if coupons is not None:
        jobs.extend(coupons.jobs())
    segments = None
    if settings.segments.enabled:
        from bot.domains.audience.segments import SegmentService

        segments = SegmentService(settings, wiring.store, wiring.clock, owner=wiring.owner)
    on_segments = _CouponTurn(coupons) if coupons is not None else None
    jobs.extend(AudienceAnalyses(services.analysis, segments, wiring.clock, on_segments=on_segments).jobs())
    jobs.append(
        Job(
            job_id="recommend:refresh",
            func=_RecommenderJob(settings, wiring.store, wiring.clock, renderer, services.picker),
            spec=settings.segments.every.total_seconds(),
            name="recommendations",
            start_at=wiring.clock.now(),
        )
    )
    return jobs


class _RecommenderJob:
    """Rebuild the recommender and the communities' interests from the store (people with a thin history get
    their community's favourites; the `pick: interest` picker gets the same interests) and hand the recommender
    to the templates; never raises."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        renderer: TemplateRenderer,
        picker: InterestPicker | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.renderer = renderer
        self.picker = picker

    def __call__(self) -> None:
        from bot.core.logs import job_failures

        with job_failures(logger, "recommendations: rebuilding the recommender (templates keep the last one)"):
            from bot.domains.audience.interests import interests_from_store
            from bot.domains.audience.recommend import Recommender, read_shop_orders, template_function

            now = self.clock.now()
            orders = read_shop_orders(self.settings)
            recommender = Recommender.from_store(self.store, self.settings, now, orders=orders)
            interests = interests_from_store(self.store, self.settings, now, orders=orders)
            if interests is not None:
                recommender.use_communities(interests.taste)
                if self.picker is not None:
                    self.picker.use(interests)
            self.renderer.use_recommender(template_function(recommender))


class _CouponTurn:
    """After a new segmentation: a coupon turn at once (issue to its target segments, deliver), on one daemon at a
    time (the coupons lease; a turn already running elsewhere makes this one skip)."""

    def __init__(self, coupons: CouponService) -> None:
        self.coupons = coupons

    def __call__(self, result: SegmentResult) -> None:
        logger.info("coupons: segmentation %d is new (%d people); issuing now", result.run_id, result.n_users)
        self.coupons.run_once()


class _PollTimer:
    """A mentions job that also records when each poll finished (Wiring.poll_times, read by bot.app.metrics)."""

    def __init__(self, job_id: str, func: Callable[[], object], wiring: Wiring) -> None:
        self.account = job_id.partition(":")[2]
        self.func = func
        self.poll_times = wiring.poll_times
        self.clock = wiring.clock

    def __call__(self) -> None:
        self.func()
        self.poll_times[self.account] = self.clock.now()
