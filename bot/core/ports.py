"""The ports: every Protocol a domain service needs from the adapters, in one place."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from bot.core.models import (
    DirectMessage,
    EngagementHour,
    Engagers,
    OutgoingMessage,
    Page,
    Post,
    PostMetrics,
    RateLimitBuckets,
    RateLimitStatus,
    User,
)
from bot.core.records import (
    Attempt,
    BatchOutcome,
    CampaignCounts,
    Claim,
    ClaimedItem,
    CommunityRow,
    CouponRecord,
    EdgeChunk,
    FeatureChunk,
    InboxItem,
    InboxRecord,
    InteractionRecord,
    IssueSpec,
    Member,
    MentionRecord,
    MentionText,
    OptOutRecord,
    OutboxItem,
    RedemptionLine,
    RedemptionResult,
    ReplyRecord,
    ScoreRow,
    SegmentInfo,
    SegmentRun,
    Snapshot,
    TrackedPost,
    UnitWrites,
    UserInfo,
    UserRecord,
)


class RateLimitMemory(Protocol):
    """Where an adapter keeps the resets its 429s announced, so a restarted process or another daemon on the
    same account makes no request to that endpoint before them (bot.app.daemon backs it with the store)."""

    def blocked_until(self, endpoint: str) -> datetime | None: ...

    def block(self, endpoint: str, reset_at: datetime) -> None: ...


class CostLedger(Protocol):
    """Where a platform adapter records each paid call it made (bot.adapters.store.costs, table cost_call):
    `purpose` is bot.core.costs.current_purpose(), `items` the objects billed (1 for a write), `usd` its price."""

    def record(self, account: str, platform: str, endpoint: str, purpose: str, items: int, usd: float) -> None: ...


class SpendingGate(Protocol):
    """Asked before a paid call (bot.domains.costs.SpendingCap): False once `purpose` is stopped for `account`
    this month (the cap is near)."""

    def may_spend(self, account: str, purpose: str) -> bool: ...

    def purposes(self, account: str, items: Sequence[OutboxItem]) -> dict[str, str]:
        """Outbox key -> what sending the row is for (bot.core.costs: promotion, reply, complaint, opt_out)."""
        ...


@runtime_checkable
class Platform(Protocol):
    """A social network account. Every method raises only bot.core.errors.PlatformError subclasses."""

    name: str
    max_length: int
    dm_max_length: int
    buckets: RateLimitBuckets  # the names of its rate-limit windows

    def newer(self, a: str, b: str | None) -> bool:
        """Whether post id or cursor `a` comes after `b` (None: nothing seen yet) in this platform's order."""
        ...

    def age_key(self, item_id: str, created_at: datetime | None) -> tuple[object, ...]:
        """A sort key putting incoming items oldest first, by what this platform's ids say about time."""
        ...

    def me(self) -> User: ...

    def length(self, text: str) -> int:
        """Length of `text` as the platform counts it (X: twitter-text v3 weighted length)."""
        ...

    def send(self, message: OutgoingMessage) -> str:
        """Send a post, reply or DM; return the remote id."""
        ...

    def find_sent(self, message: OutgoingMessage, *, since: datetime | None = None) -> str | None:
        """Remote id of an earlier send of `message` whose outcome was unknown, or None if it never landed."""
        ...

    def find_sent_many(
        self, messages: Sequence[OutgoingMessage], *, since: datetime | None = None
    ) -> dict[str, str | None]:
        """find_sent for several messages in as few reads as the platform allows; keyed by message key."""
        ...

    def delete(self, post_id: str) -> None: ...

    def recent_posts(self, *, limit: int = 100, since: datetime | None = None) -> list[Post]:
        """The account's own most recent posts, newest first."""
        ...

    def mentions(
        self, since_id: str | None = None, *, page_size: int = 100, until_id: str | None = None
    ) -> Iterator[Page]:
        """Pages of mentions newer than since_id (and older than until_id), newest first, following every
        next_token lazily: a page is requested when the iterator is advanced, so a caller paced by rate limits
        can stop between pages and resume later with until_id. Page.users holds authors and mentioned users."""
        ...

    def direct_messages(self, since_id: str | None = None) -> list[DirectMessage]:
        """DM events (sent and received) newer than since_id, newest first."""
        ...

    def engagers(self, post_id: str, kind: str, *, limit: int = 100) -> Engagers:
        """Who liked ("like"), reposted ("retweet") or quoted ("quote") `post_id`, newest first, at most `limit`
        of them (following pages as needed), with follower counts when the platform gives them. An unknown or
        deleted post gives an empty Engagers with missing=True."""
        ...

    def engagers_cost(self, kind: str, limit: int) -> int:
        """The most billable reads engagers(..., kind, limit=limit) can spend: at least `limit`, more when
        the platform's smallest page is larger than `limit` or it bills what it includes alongside."""
        ...

    def post_metrics(self, ids: Sequence[str]) -> dict[str, PostMetrics]:
        """How each of the account's posts `ids` did now, in as few calls as the platform allows (X: 100 ids a
        call, Bluesky: 25); a post that is gone is left out. Each post read is billed."""
        ...

    def post_analytics(self, ids: Sequence[str], start: datetime, end: datetime) -> dict[str, list[EngagementHour]]:
        """Hourly engagement of own posts over [start, end) (X: a read per post returned; Bluesky: {}, free)."""
        ...

    def use_rate_limit_memory(self, memory: RateLimitMemory) -> None:
        """Consult `memory` before every request and tell it every 429's reset."""
        ...

    def rate_limits(self) -> list[RateLimitStatus]:
        """What the platform last said about each endpoint's window."""
        ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------------------------ the store
# What the domain services need from bot.adapters.store.Store: one Protocol per repository (the methods some
# service calls), and per service the repositories it reads, as attributes (store.outbox.claim(...)). The records
# they take and give are bot.core.records'.


class OutboxRows(Protocol):
    def claim(
        self,
        owner: str,
        *,
        now: datetime,
        limit: int,
        lease_seconds: float,
        buckets: RateLimitBuckets,
        per_account_per_day: int | None = None,
        min_spacing_seconds: float | None = None,
        account: str | None = None,
        other_than: Collection[str] = (),
    ) -> Claim: ...

    def begin_attempt(self, item: OutboxItem, owner: str, *, now: datetime, buckets: RateLimitBuckets) -> Attempt: ...

    def renew_leases(self, ids: Sequence[int], owner: str, *, now: datetime, lease_seconds: float) -> set[int]: ...

    def mark_sent_many(self, sent: Sequence[tuple[OutboxItem, str | None, datetime]]) -> int: ...

    def mark_retry(
        self, item: OutboxItem, owner: str, *, next_attempt_at: datetime, error: str, outcome_unknown: bool
    ) -> bool: ...

    def mark_dead(self, item: OutboxItem, owner: str, *, reason: str, outcome_unknown: bool = False) -> bool: ...

    def release(
        self,
        items: Sequence[ClaimedItem],
        owner: str,
        *,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
        block: tuple[str, str, datetime] | None = None,
        uncount: bool = False,
    ) -> int: ...

    def text_used(self, account: str, text_hash_: str) -> bool: ...


class SlotRows(Protocol):
    def enqueue_campaign_slot(
        self,
        campaign: str,
        slot_at: datetime,
        *,
        account: str,
        text: str,
        variant: str | None,
        not_before: datetime | None = None,
    ) -> bool: ...

    def enqueue_campaign_posts(
        self,
        campaign: str,
        slot_at: datetime,
        posts: Sequence[tuple[str, str, str | None]],
        *,
        reason: str | None = None,
        not_before: datetime | None = None,
    ) -> bool: ...

    def record(self, campaign: str, slot_at: datetime, state: str, reason: str | None = None) -> bool: ...

    def last_at(self, campaign: str) -> datetime | None: ...

    def recorded(self, campaign: str, since: datetime) -> set[datetime]: ...


class AccountRows(Protocol):
    def pause(self, account: str, reason: str) -> None: ...

    def paused_reason(self, account: str) -> str | None: ...

    def own_user_ids(self) -> dict[str, str]: ...

    def set_platform_user_id(self, account: str, user_id: str) -> None: ...


class RateLimitRows(Protocol):
    def blocked_until(self, account: str, endpoint: str) -> datetime | None: ...

    def block(self, account: str, endpoint: str, until: datetime) -> None: ...


class LeaseRows(Protocol):
    def acquire(self, name: str, owner: str, *, ttl: timedelta, now: datetime | None = None) -> bool: ...

    def release(self, name: str, owner: str) -> bool: ...

    def holder(self, name: str, *, now: datetime | None = None) -> str | None: ...


class MentionUnit(Protocol):
    """One transaction over one account's page of mentions or DMs (MentionRows.unit)."""

    def existing(self, kind: str, ids: Collection[str]) -> set[str]: ...

    def opted_out(self, platform: str, users: Collection[tuple[str, str | None]]) -> set[str]: ...

    def users(self, platform: str, user_ids: Collection[str]) -> dict[str, User]: ...

    def replies_to_users(self, user_ids: Collection[str], since: datetime) -> dict[str, int]: ...

    def replies_in_conversations(self, conversation_ids: Collection[str]) -> dict[str, int]: ...

    def own_posts(self, post_ids: Collection[str]) -> set[str]: ...

    def used_texts(self, texts: Collection[str]) -> set[str]: ...

    def cursor(self, stream: str) -> str | None: ...

    def write(
        self,
        *,
        users: Sequence[UserRecord] = (),
        mentions: Sequence[MentionRecord] = (),
        interactions: Sequence[InteractionRecord] = (),
        replies: Sequence[ReplyRecord] = (),
        inbox: Sequence[InboxRecord] = (),
        optouts: Sequence[OptOutRecord] = (),
    ) -> UnitWrites: ...

    def set_resume(self, stream: str, newest: str, until: str) -> None: ...

    def clear_resume(self, stream: str) -> None: ...

    def advance_cursor(self, stream: str, value: str | None) -> bool: ...


class MentionRows(Protocol):
    def unit(self, account: str) -> AbstractContextManager[MentionUnit]: ...

    def cursor(self, account: str, stream: str) -> str | None: ...

    def resume_point(self, account: str, stream: str) -> tuple[str, str] | None: ...

    def stored_ids(self, account: str, kind: str, ids: Collection[str]) -> set[str]: ...

    def set_aside(
        self,
        account: str,
        platform: str,
        kind: str,
        item_id: str,
        author_id: str | None,
        text: str,
        error: BaseException,
    ) -> bool: ...

    def claim_webhooks(self, ids: Collection[int] | None = None, limit: int = 50) -> list[InboxItem]: ...

    def set_webhook_status(self, item_id: int, status: str) -> None: ...

    def is_opted_out(self, platform: str, user_id: str, username: str | None = None) -> bool: ...


class EngagementRows(Protocol):
    def track_sent_posts(self, account: str, *, since: datetime) -> int: ...

    def due_posts(
        self, account: str, *, now: datetime, lookback: timedelta, every: timedelta, limit: int = 100
    ) -> list[TrackedPost]: ...

    def claim_post(self, post: TrackedPost, now: datetime) -> bool: ...

    def reserve_reads(self, account: str, day: str, wanted: int, budget: int) -> int: ...

    def release_reads(self, account: str, day: str, unused: int) -> None: ...

    def add_reads(self, account: str, day: str, spent: int) -> None: ...

    def reads_used(self, account: str, day: str) -> int: ...

    def record(
        self,
        account: str,
        post_id: str,
        *,
        interactions: Sequence[InteractionRecord] = (),
        users: Sequence[UserRecord] = (),
        counts: Mapping[str, int] | None = None,
        collected_at: datetime | None = None,
    ) -> int: ...


class PeopleRows(Protocol):
    def user_infos(self, platform: str | None = None, user_ids: Collection[str] | None = None) -> list[UserInfo]: ...

    def interaction_count(self, *, since: datetime | None = None) -> int: ...

    def iter_interaction_edges(self, *, since: datetime | None = None, chunk: int = ...) -> Iterator[EdgeChunk]: ...

    def interactions_of(self, platform: str, user_id: str, *, since: datetime | None = None) -> EdgeChunk: ...

    def interaction_id_range(self) -> tuple[int, int]: ...


class GraphRows(Protocol):
    def interaction_edges(
        self, *, since: datetime | None = None, kinds: Sequence[str], chunk: int = ...
    ) -> Iterator[tuple[str | None, list[str | int], list[str | int], list[int], list[float]]]: ...

    def user_keys(self) -> tuple[dict[str, int], dict[str, str]]: ...

    def save_snapshot(
        self,
        *,
        created_at: datetime,
        figures: dict[str, Any],
        params: dict[str, Any],
        stats: dict[str, Any],
        scores: Sequence[dict[str, Any]] | Mapping[str, Sequence[Any]],
        communities: Sequence[dict[str, Any]],
    ) -> int: ...

    def latest_snapshot(self) -> Snapshot | None: ...

    def snapshot_scores(
        self, snapshot_id: int, *, limit: int | None = None, community: int | None = None
    ) -> list[ScoreRow]: ...

    def snapshot_communities(self, snapshot_id: int) -> list[CommunityRow]: ...

    def texts_by_author(
        self, *, since: datetime | None = None, limit: int = 200_000
    ) -> list[tuple[str, str, str, list[str]]]: ...

    def interactions_from(self, first_id: int) -> int: ...


class FeatureRows(Protocol):
    def iter_part(
        self,
        part: str,
        *,
        since: datetime | None = None,
        snapshot_id: int | None = None,
        exclude: Collection[tuple[str, str]] = (),
        user: tuple[str, str] | None = None,
        ids: tuple[int, int] | None = None,
        chunk: int = ...,
    ) -> Iterator[FeatureChunk]: ...


class SegmentRows(Protocol):
    def save_run(
        self,
        *,
        created_at: datetime,
        k: int,
        silhouette: float | None,
        graph_snapshot_id: int | None,
        params: dict[str, Any],
        stats: dict[str, Any],
        segments: Sequence[tuple[int, str, int, dict[str, float]]],
        members: Sequence[tuple[str, str, int, float | None]],
    ) -> int: ...

    def audience_size(
        self,
        *,
        since: datetime | None = None,
        exclude: Collection[tuple[str, str]] = (),
        min_interactions: int = 1,
    ) -> int: ...

    def people_high_water(self) -> int: ...

    def people_from(self, first_id: int) -> int: ...

    def latest_run(self) -> SegmentRun | None: ...

    def run(self, run_id: int) -> SegmentRun | None: ...

    def of_run(self, run_id: int) -> list[SegmentInfo]: ...

    def members(
        self, run_id: int, segment_ids: Collection[int] | None = None, *, chunk: int = ...
    ) -> Iterator[list[tuple[str, str, int]]]: ...


class SignalRows(Protocol):
    def iter_mention_texts(
        self, *, since: datetime | None = None, exclude_authors: frozenset[tuple[str, str]] = ..., chunk: int = ...
    ) -> Iterator[list[MentionText]]: ...


class CouponRows(Protocol):
    def issue(self, spec: IssueSpec, members: Sequence[Member], *, pool_position: int = 0) -> BatchOutcome: ...

    def budget(self, campaign: str) -> tuple[int, int]: ...

    def for_reply(
        self, campaigns: Collection[str], platform: str, user_id: str, *, now: datetime
    ) -> CouponRecord | None: ...

    def mark_delivering(self, coupon_id: int, outbox_key: str) -> bool: ...

    def mark_delivered_by_outbox(self, keys: Collection[str] | None = None) -> int: ...

    def for_dm(self, campaign: str, account: str, *, limit: int = 1000) -> list[CouponRecord]: ...

    def enqueue_dms(self, items: Sequence[tuple[int, dict[str, Any]]]) -> int: ...

    def for_export(self, campaign: str, *, limit: int | None = None) -> list[CouponRecord]: ...

    def mark_exported(self, coupon_ids: Sequence[int], key: str) -> int: ...

    def expire(self, now: datetime | None = None) -> int: ...

    def counts(self) -> list[CampaignCounts]: ...

    def held_out_people(self, campaign: str | None = None) -> list[CouponRecord]: ...


class RedemptionRows(Protocol):
    def record(self, lines: Sequence[RedemptionLine]) -> list[RedemptionResult]: ...


class DeliveryStore(Protocol):
    """bot.domains.publishing.outbox.Outbox's store."""

    @property
    def outbox(self) -> OutboxRows: ...
    @property
    def accounts(self) -> AccountRows: ...


class CampaignStore(Protocol):
    """bot.domains.publishing.campaigns.CampaignService's store."""

    @property
    def slots(self) -> SlotRows: ...
    @property
    def outbox(self) -> OutboxRows: ...


class MentionStore(Protocol):
    """bot.domains.conversations' store: mentions and DMs polled, decided and answered."""

    @property
    def mentions(self) -> MentionRows: ...
    @property
    def accounts(self) -> AccountRows: ...
    @property
    def rate_limits(self) -> RateLimitRows: ...
    @property
    def leases(self) -> LeaseRows: ...


class EngagementStore(Protocol):
    """bot.domains.audience.engagement's store."""

    @property
    def engagement(self) -> EngagementRows: ...
    @property
    def accounts(self) -> AccountRows: ...
    @property
    def rate_limits(self) -> RateLimitRows: ...


class GraphStore(Protocol):
    """The audience graph's store (bot.domains.audience.service and .graph)."""

    @property
    def people(self) -> PeopleRows: ...
    @property
    def graphs(self) -> GraphRows: ...
    @property
    def accounts(self) -> AccountRows: ...
    @property
    def leases(self) -> LeaseRows: ...


class FeatureStore(Protocol):
    """bot.domains.audience.features' store."""

    @property
    def features(self) -> FeatureRows: ...
    @property
    def people(self) -> PeopleRows: ...
    @property
    def graphs(self) -> GraphRows: ...
    @property
    def accounts(self) -> AccountRows: ...


class SegmentStore(FeatureStore, Protocol):
    """bot.domains.audience.segments' store (its features too)."""

    @property
    def segments(self) -> SegmentRows: ...
    @property
    def leases(self) -> LeaseRows: ...


class RecommendStore(Protocol):
    """bot.domains.audience.recommend's store."""

    @property
    def signals(self) -> SignalRows: ...


class CouponStore(Protocol):
    """bot.domains.coupons.issuing's store."""

    @property
    def coupons(self) -> CouponRows: ...
    @property
    def segments(self) -> SegmentRows: ...
    @property
    def graphs(self) -> GraphRows: ...
    @property
    def mentions(self) -> MentionRows: ...
    @property
    def leases(self) -> LeaseRows: ...


class RedemptionStore(Protocol):
    """bot.domains.coupons.redemptions' store."""

    @property
    def redemptions(self) -> RedemptionRows: ...
