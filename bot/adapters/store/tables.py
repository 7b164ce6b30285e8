"""SQLModel tables. Schema changes go through a new Alembic migration in migrations/versions/."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.adapters.store.types import StorableString, StorableText, UTCDateTime

# 0005: a platform's post, user and conversation ids (X: numbers; Bluesky: at-URIs and DIDs) and usernames
# (Bluesky: domain handles)
ID_LENGTH = 512
NAME_LENGTH = 300


def _dt(*, nullable: bool = True, index: bool = False) -> sa.Column[datetime]:
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("key", name="uq_outbox_key"),
        sa.Index("ix_outbox_claim", "state", "next_attempt_at", "id"),
        sa.Index("ix_outbox_lease", "state", "lease_until"),
        sa.Index("ix_outbox_account_sent", "account", "kind", "state", "sent_at"),
        sa.Index("ix_outbox_account_hash", "account", "text_hash"),
        sa.Index("ix_outbox_remote", "account", "remote_id"),
        sa.Index("ix_outbox_created", "created_at"),
        sa.Index("ix_outbox_sent", "state", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=sa.Column(StorableString(300), nullable=False))
    account: str = Field(sa_column=sa.Column(StorableString(100), nullable=False))
    kind: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))
    text: str = Field(sa_column=sa.Column(StorableText(), nullable=False))
    text_hash: str = Field(sa_column=sa.Column(StorableString(64), nullable=False))
    in_reply_to_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))
    recipient_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))
    state: str = Field(sa_column=sa.Column(StorableString(20), nullable=False, server_default="pending"))
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))
    next_attempt_at: datetime = Field(sa_column=_dt(nullable=False))
    lease_owner: str | None = Field(default=None, sa_column=sa.Column(StorableString(200)))
    lease_until: datetime | None = Field(default=None, sa_column=_dt())
    attempt_started_at: datetime | None = Field(default=None, sa_column=_dt())
    outcome_unknown: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean(), nullable=False, server_default=sa.false())
    )
    remote_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))
    last_error: str | None = Field(default=None, sa_column=sa.Column(StorableText()))
    created_at: datetime = Field(sa_column=_dt(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_dt())
    campaign: str | None = Field(default=None, sa_column=sa.Column(StorableString(200)))
    slot_at: datetime | None = Field(default=None, sa_column=_dt())
    # 0002: the person a reply/DM/coupon reaches; a row whose target opted out is cancelled at claim time
    target_platform: str | None = Field(default=None, sa_column=sa.Column(StorableString(20)))
    target_user_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))


class CampaignSlotRow(SQLModel, table=True):
    __tablename__ = "campaign_slot"
    __table_args__ = (
        sa.UniqueConstraint("campaign", "slot_at", name="uq_campaign_slot"),
        sa.Index("ix_campaign_slot_outbox_key", "outbox_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign: str = Field(sa_column=sa.Column(StorableString(200), nullable=False))
    slot_at: datetime = Field(sa_column=_dt(nullable=False))
    state: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(StorableText()))
    outbox_key: str | None = Field(default=None, sa_column=sa.Column(StorableString(300)))
    text_hash: str | None = Field(default=None, sa_column=sa.Column(StorableString(64)))
    variant: str | None = Field(default=None, sa_column=sa.Column(StorableString(200)))
    created_at: datetime = Field(sa_column=_dt(nullable=False))


class AccountStateRow(SQLModel, table=True):
    __tablename__ = "account_state"

    account: str = Field(sa_column=sa.Column(StorableString(100), primary_key=True))
    platform_user_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))
    paused_reason: str | None = Field(default=None, sa_column=sa.Column(StorableText()))
    paused_at: datetime | None = Field(default=None, sa_column=_dt())


class RateLimitRow(SQLModel, table=True):
    __tablename__ = "rate_limit"

    account: str = Field(sa_column=sa.Column(StorableString(100), primary_key=True))
    endpoint: str = Field(sa_column=sa.Column(StorableString(100), primary_key=True))
    remaining: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))
    reset_at: datetime = Field(sa_column=_dt(nullable=False))


class SocialUserRow(SQLModel, table=True):
    """A person on a platform, independent of our accounts."""

    __tablename__ = "social_user"
    __table_args__ = (sa.UniqueConstraint("platform", "user_id", name="uq_social_user"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))
    user_id: str = Field(sa_column=sa.Column(StorableString(ID_LENGTH), nullable=False))
    username: str | None = Field(default=None, sa_column=sa.Column(StorableString(NAME_LENGTH)))
    name: str | None = Field(default=None, sa_column=sa.Column(StorableText()))
    followers_count: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))  # 0003; when known
    first_seen: datetime = Field(sa_column=_dt(nullable=False))
    last_seen: datetime = Field(sa_column=_dt(nullable=False))


class MentionRow(SQLModel, table=True):
    """A mention of one of our accounts (kind mention) or a DM to it (kind dm), with what we decided."""

    __tablename__ = "mention"
    __table_args__ = (
        sa.UniqueConstraint("account", "kind", "platform_id", name="uq_mention"),
        sa.Index("ix_mention_author", "account", "author_id", "seen_at"),
        sa.Index("ix_mention_conversation", "account", "conversation_id"),
        sa.Index("ix_mention_outcome", "outcome", "seen_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(sa_column=sa.Column(StorableString(100), nullable=False))
    platform: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))
    kind: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))  # mention | dm
    platform_id: str = Field(sa_column=sa.Column(StorableString(ID_LENGTH), nullable=False))
    author_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))
    text: str = Field(sa_column=sa.Column(StorableText(), nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=_dt())
    conversation_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))
    in_reply_to_user_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))
    replied_to_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))
    quoted_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))
    mentions: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON()))
    hashtags: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON()))
    urls: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON()))
    intent: str | None = Field(default=None, sa_column=sa.Column(StorableString(50)))
    sentiment: float | None = Field(default=None, sa_column=sa.Column(sa.Float()))
    language: str | None = Field(default=None, sa_column=sa.Column(StorableString(20)))
    summoned: bool = Field(default=False, sa_column=sa.Column(sa.Boolean(), nullable=False, server_default=sa.false()))
    outcome: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))  # answered | handed_over | ... (0007)
    reason: str | None = Field(default=None, sa_column=sa.Column(StorableText()))
    reply_key: str | None = Field(default=None, sa_column=sa.Column(StorableString(300)))
    seen_at: datetime = Field(sa_column=_dt(nullable=False))


class InteractionRow(SQLModel, table=True):
    """An edge of the audience graph: source did `kind` towards target (mention, reply, quote, dm, like...)."""

    __tablename__ = "interaction"
    __table_args__ = (
        sa.UniqueConstraint("platform", "kind", "post_id", "source_user_id", "target_user_id", name="uq_interaction"),
        sa.Index("ix_interaction_pair", "source_user_id", "target_user_id"),
        sa.Index("ix_interaction_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))
    source_user_id: str = Field(sa_column=sa.Column(StorableString(ID_LENGTH), nullable=False))
    target_user_id: str = Field(sa_column=sa.Column(StorableString(ID_LENGTH), nullable=False))
    kind: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))
    post_id: str = Field(sa_column=sa.Column(StorableString(ID_LENGTH), nullable=False))
    created_at: datetime = Field(sa_column=_dt(nullable=False))


class CursorRow(SQLModel, table=True):
    """Where polling resumes: the newest id fully stored per account and stream (mentions, dms)."""

    __tablename__ = "cursor"

    account: str = Field(sa_column=sa.Column(StorableString(100), primary_key=True))
    stream: str = Field(sa_column=sa.Column(StorableString(20), primary_key=True))
    value: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))
    updated_at: datetime = Field(sa_column=_dt(nullable=False))


class OptOutRow(SQLModel, table=True):
    """A permanent opt-out. `user_hash` (sha256 of platform:user_id) keeps it working after a 'forget'."""

    __tablename__ = "optout"
    __table_args__ = (sa.UniqueConstraint("user_hash", name="uq_optout_user_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))
    user_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))
    username: str | None = Field(default=None, sa_column=sa.Column(StorableString(NAME_LENGTH)))
    user_hash: str = Field(sa_column=sa.Column(StorableString(64), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(StorableText()))
    created_at: datetime = Field(sa_column=_dt(nullable=False))


class InboxRow(SQLModel, table=True):
    """Something a human must look at (complaints, rules with escalate: true)."""

    __tablename__ = "inbox"
    __table_args__ = (
        sa.UniqueConstraint("account", "kind", "mention_id", name="uq_inbox_mention"),
        sa.Index("ix_inbox_status", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(sa_column=sa.Column(StorableString(100), nullable=False))
    platform: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))
    kind: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))  # mention | dm
    mention_id: str = Field(sa_column=sa.Column(StorableString(ID_LENGTH), nullable=False))
    user_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(ID_LENGTH)))
    username: str | None = Field(default=None, sa_column=sa.Column(StorableString(NAME_LENGTH)))
    intent: str | None = Field(default=None, sa_column=sa.Column(StorableString(50)))
    text: str = Field(sa_column=sa.Column(StorableText(), nullable=False))
    created_at: datetime = Field(sa_column=_dt(nullable=False))
    status: str = Field(sa_column=sa.Column(StorableString(20), nullable=False, server_default="open"))
    resolved_at: datetime | None = Field(default=None, sa_column=_dt())
    note: str | None = Field(default=None, sa_column=sa.Column(StorableText()))
    webhook_status: str | None = Field(default=None, sa_column=sa.Column(StorableString(200)))
    reason: str | None = Field(default=None, sa_column=sa.Column(StorableText()))  # 0007


class EngagementPostRow(SQLModel, table=True):
    """One of our own posts whose likes, reposts and quotes are collected (0003)."""

    __tablename__ = "engagement_post"

    account: str = Field(sa_column=sa.Column(StorableString(100), primary_key=True))
    post_id: str = Field(sa_column=sa.Column(StorableString(ID_LENGTH), primary_key=True))
    posted_at: datetime = Field(sa_column=_dt(nullable=False))
    last_collected_at: datetime | None = Field(default=None, sa_column=_dt())
    likes: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))
    retweets: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))
    quotes: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))


class ReadBudgetRow(SQLModel, table=True):
    """Billable reads (users + posts) spent per account and UTC day on engagement collection (0003)."""

    __tablename__ = "read_budget"

    account: str = Field(sa_column=sa.Column(StorableString(100), primary_key=True))
    day: str = Field(sa_column=sa.Column(StorableString(10), primary_key=True))  # YYYY-MM-DD, UTC
    used: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))


class JobLeaseRow(SQLModel, table=True):
    """A job that runs on one daemon at a time: whoever holds an unexpired lease runs it (0003)."""

    __tablename__ = "job_lease"

    name: str = Field(sa_column=sa.Column(StorableString(100), primary_key=True))
    owner: str = Field(sa_column=sa.Column(StorableString(200), nullable=False))
    until: datetime = Field(sa_column=_dt(nullable=False))
    acquired_at: datetime = Field(sa_column=_dt(nullable=False))


class GraphSnapshotRow(SQLModel, table=True):
    """One analysis run of the audience graph (0003)."""

    __tablename__ = "graph_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_column=_dt(nullable=False, index=True))
    n_users: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    n_edges: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    n_interactions: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    n_communities: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    modularity: float = Field(sa_column=sa.Column(sa.Float(), nullable=False))
    reciprocity: float = Field(sa_column=sa.Column(sa.Float(), nullable=False))
    params: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON()))  # type: ignore[type-arg]
    stats: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON()))  # type: ignore[type-arg]


class GraphScoreRow(SQLModel, table=True):
    """A user's measures, influencer score and community in one snapshot (0003)."""

    __tablename__ = "graph_score"
    __table_args__ = (sa.Index("ix_graph_score_user", "platform", "user_id", "snapshot_id"),)

    snapshot_id: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True))
    platform: str = Field(sa_column=sa.Column(StorableString(20), primary_key=True))
    user_id: str = Field(sa_column=sa.Column(StorableString(ID_LENGTH), primary_key=True))
    pagerank: float = Field(sa_column=sa.Column(sa.Float(), nullable=False))
    in_strength: float = Field(sa_column=sa.Column(sa.Float(), nullable=False))
    hub: float = Field(sa_column=sa.Column(sa.Float(), nullable=False))
    authority: float = Field(sa_column=sa.Column(sa.Float(), nullable=False))
    betweenness: float = Field(sa_column=sa.Column(sa.Float(), nullable=False))
    followers: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))
    score: float = Field(sa_column=sa.Column(sa.Float(), nullable=False))
    rank: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    community: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    reasons: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON()))


class GraphCommunityRow(SQLModel, table=True):
    """A community of one snapshot: size, top members, what they talk about (0003)."""

    __tablename__ = "graph_community"

    snapshot_id: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True))
    community: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True))
    size: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    internal_share: float = Field(sa_column=sa.Column(sa.Float(), nullable=False))
    top_members: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON()))  # user ids
    top_terms: list[list] | None = Field(default=None, sa_column=sa.Column(sa.JSON()))  # type: ignore[type-arg]


class SegmentRunRow(SQLModel, table=True):
    """One segmentation of the audience (0004): k, quality, the features used, centroids per segment."""

    __tablename__ = "segment_run"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_column=_dt(nullable=False, index=True))
    k: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    n_users: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    silhouette: float | None = Field(default=None, sa_column=sa.Column(sa.Float()))
    graph_snapshot_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))
    params: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON()))  # type: ignore[type-arg]
    stats: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON()))  # type: ignore[type-arg]


class SegmentRow(SQLModel, table=True):
    """A segment of one run (0004): its stable id, readable label, size and centroid."""

    __tablename__ = "segment"

    run_id: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True))
    segment_id: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True))
    label: str = Field(sa_column=sa.Column(StorableString(100), nullable=False))
    size: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    centroid: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON()))  # type: ignore[type-arg]


class SegmentMemberRow(SQLModel, table=True):
    """Which segment a user is in, per run (0004)."""

    __tablename__ = "segment_member"
    __table_args__ = (sa.Index("ix_segment_member_user", "platform", "user_id", "run_id"),)

    run_id: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True))
    platform: str = Field(sa_column=sa.Column(StorableString(20), primary_key=True))
    user_id: str = Field(sa_column=sa.Column(StorableString(ID_LENGTH), primary_key=True))
    segment_id: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    distance: float | None = Field(default=None, sa_column=sa.Column(sa.Float()))


class CouponBudgetRow(SQLModel, table=True):
    """Codes issued so far per coupon campaign: the row every issuance locks, so the budget holds (0004)."""

    __tablename__ = "coupon_budget"

    campaign: str = Field(sa_column=sa.Column(StorableString(200), primary_key=True))
    issued: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))
    held_out: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))


class CouponRow(SQLModel, table=True):
    """One person in one coupon campaign (0004): a code, or a holdout row (no code) for measuring uplift."""

    __tablename__ = "coupon"
    __table_args__ = (
        sa.UniqueConstraint("campaign", "platform", "user_id", name="uq_coupon_person"),
        sa.UniqueConstraint("code", name="uq_coupon_code"),
        sa.Index("ix_coupon_state", "campaign", "state"),
        sa.Index("ix_coupon_user", "platform", "user_id"),
        sa.Index("ix_coupon_arm", "campaign", "segment_id", "arm"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign: str = Field(sa_column=sa.Column(StorableString(200), nullable=False))
    platform: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))
    user_id: str = Field(sa_column=sa.Column(StorableString(ID_LENGTH), nullable=False))
    segment_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))
    holdout: bool = Field(default=False, sa_column=sa.Column(sa.Boolean(), nullable=False, server_default=sa.false()))
    code: str | None = Field(default=None, sa_column=sa.Column(StorableString(64)))  # None for holdout rows
    # issued | delivered | redeemed | expired | held_out
    state: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))
    channel: str | None = Field(default=None, sa_column=sa.Column(StorableString(20)))
    issued_at: datetime = Field(sa_column=_dt(nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=_dt())
    delivered_at: datetime | None = Field(default=None, sa_column=_dt())
    outbox_key: str | None = Field(default=None, sa_column=sa.Column(StorableString(300)))
    redeemed_at: datetime | None = Field(default=None, sa_column=_dt())
    order_id: str | None = Field(default=None, sa_column=sa.Column(StorableString(100)))
    amount: float | None = Field(default=None, sa_column=sa.Column(sa.Float()))
    # 0010: the discount depth drawn (several `discounts`), and the probability this row's treatment was drawn
    arm: str | None = Field(default=None, sa_column=sa.Column(StorableString(40)))
    propensity: float | None = Field(default=None, sa_column=sa.Column(sa.Float()))
    # 0011: how an uplift campaign chose the person (ranked | explored | segment), None otherwise
    choice: str | None = Field(default=None, sa_column=sa.Column(StorableString(20)))


class RedemptionRow(SQLModel, table=True):
    """One redemption line the shop reported (0004), counted or not (unknown, expired, reused code)."""

    __tablename__ = "redemption"
    __table_args__ = (sa.UniqueConstraint("order_id", name="uq_redemption_order"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=sa.Column(StorableString(64), nullable=False))
    order_id: str = Field(sa_column=sa.Column(StorableString(100), nullable=False))
    amount: float | None = Field(default=None, sa_column=sa.Column(sa.Float()))
    redeemed_at: datetime = Field(sa_column=_dt(nullable=False))
    status: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))  # counted|unknown|expired|reused
    coupon_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))
    source: str | None = Field(default=None, sa_column=sa.Column(StorableString(300)))  # file:line or webhook
    imported_at: datetime = Field(sa_column=_dt(nullable=False))


class CostCallRow(SQLModel, table=True):
    """One paid platform call (0008): what it was for, how many items it was billed for, and its price in USD.
    The ledger equals, call for call, what the platform bills (the sandbox counts the same calls)."""

    __tablename__ = "cost_call"
    __table_args__ = (
        sa.Index("ix_cost_call_day", "account", "day"),
        sa.Index("ix_cost_call_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(sa_column=sa.Column(StorableString(100), nullable=False))
    platform: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))
    day: str = Field(sa_column=sa.Column(StorableString(10), nullable=False))  # YYYY-MM-DD, UTC
    at: datetime = Field(sa_column=_dt(nullable=False))
    endpoint: str = Field(sa_column=sa.Column(StorableString(100), nullable=False))  # "GET /2/tweets"
    purpose: str = Field(sa_column=sa.Column(StorableString(40), nullable=False))  # mentions, metrics, promotion...
    items: int = Field(default=1, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="1"))
    usd: float = Field(default=0.0, sa_column=sa.Column(sa.Float(), nullable=False, server_default="0"))


class PostMetricRow(SQLModel, table=True):
    """One reading of how a delivered post or reply did (0008), at one age after it went out (+1 h, +24 h, +7 d):
    the platform's counts as read (None where the platform has no such count, e.g. Bluesky's impressions)."""

    __tablename__ = "post_metric"
    __table_args__ = (
        sa.UniqueConstraint("account", "post_id", "age", name="uq_post_metric_reading"),
        sa.Index("ix_post_metric_posted", "account", "posted_at"),
        sa.Index("ix_post_metric_campaign", "campaign", "posted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(sa_column=sa.Column(StorableString(100), nullable=False))
    platform: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))
    post_id: str = Field(sa_column=sa.Column(StorableString(ID_LENGTH), nullable=False))  # the platform's id
    outbox_key: str | None = Field(default=None, sa_column=sa.Column(StorableString(300)))
    kind: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))  # post | reply
    campaign: str | None = Field(default=None, sa_column=sa.Column(StorableString(200)))
    variant: str | None = Field(default=None, sa_column=sa.Column(StorableString(200)))
    slot_at: datetime | None = Field(default=None, sa_column=_dt())
    posted_at: datetime = Field(sa_column=_dt(nullable=False))
    age: str = Field(sa_column=sa.Column(StorableString(20), nullable=False))  # "1h", "24h", "7d"
    read_at: datetime = Field(sa_column=_dt(nullable=False))
    likes: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))
    reposts: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))
    replies: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))
    quotes: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))
    bookmarks: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))
    impressions: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))
    link_clicks: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))
    profile_clicks: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))
    followers: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))  # the account's, when read


class PostMetricHourRow(SQLModel, table=True):
    """Engagement in one hour of a post's first week, from X's hourly analytics (GET /2/tweets/analytics)."""

    __tablename__ = "post_metric_hour"
    __table_args__ = (
        sa.UniqueConstraint("account", "post_id", "hour", name="uq_post_metric_hour"),
        sa.Index("ix_post_metric_hour_account", "account", "hour", "engagements"),  # covers the activity read
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(sa_column=sa.Column(StorableString(100), nullable=False))
    post_id: str = Field(sa_column=sa.Column(StorableString(ID_LENGTH), nullable=False))
    hour: datetime = Field(sa_column=_dt(nullable=False))  # the bucket's start, UTC
    engagements: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))
    impressions: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))
    url_clicks: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))
    read_at: datetime = Field(sa_column=_dt(nullable=False))


outbox_t: sa.Table = OutboxRow.__table__  # type: ignore[attr-defined]
slot_t: sa.Table = CampaignSlotRow.__table__  # type: ignore[attr-defined]
account_state_t: sa.Table = AccountStateRow.__table__  # type: ignore[attr-defined]
rate_limit_t: sa.Table = RateLimitRow.__table__  # type: ignore[attr-defined]
social_user_t: sa.Table = SocialUserRow.__table__  # type: ignore[attr-defined]
mention_t: sa.Table = MentionRow.__table__  # type: ignore[attr-defined]
interaction_t: sa.Table = InteractionRow.__table__  # type: ignore[attr-defined]
cursor_t: sa.Table = CursorRow.__table__  # type: ignore[attr-defined]
optout_t: sa.Table = OptOutRow.__table__  # type: ignore[attr-defined]
inbox_t: sa.Table = InboxRow.__table__  # type: ignore[attr-defined]
engagement_post_t: sa.Table = EngagementPostRow.__table__  # type: ignore[attr-defined]
read_budget_t: sa.Table = ReadBudgetRow.__table__  # type: ignore[attr-defined]
job_lease_t: sa.Table = JobLeaseRow.__table__  # type: ignore[attr-defined]
graph_snapshot_t: sa.Table = GraphSnapshotRow.__table__  # type: ignore[attr-defined]
graph_score_t: sa.Table = GraphScoreRow.__table__  # type: ignore[attr-defined]
graph_community_t: sa.Table = GraphCommunityRow.__table__  # type: ignore[attr-defined]
segment_run_t: sa.Table = SegmentRunRow.__table__  # type: ignore[attr-defined]
segment_t: sa.Table = SegmentRow.__table__  # type: ignore[attr-defined]
segment_member_t: sa.Table = SegmentMemberRow.__table__  # type: ignore[attr-defined]
coupon_budget_t: sa.Table = CouponBudgetRow.__table__  # type: ignore[attr-defined]
coupon_t: sa.Table = CouponRow.__table__  # type: ignore[attr-defined]
redemption_t: sa.Table = RedemptionRow.__table__  # type: ignore[attr-defined]
cost_call_t: sa.Table = CostCallRow.__table__  # type: ignore[attr-defined]
post_metric_t: sa.Table = PostMetricRow.__table__  # type: ignore[attr-defined]
post_metric_hour_t: sa.Table = PostMetricHourRow.__table__  # type: ignore[attr-defined]
metadata = SQLModel.metadata
