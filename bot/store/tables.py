"""SQLModel tables. Schema changes go through a new Alembic migration in migrations/versions/."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.store.types import UTCDateTime


class OutboxState:
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # dead letter
    CANCELLED = "cancelled"

    ALL = (PENDING, SENDING, SENT, FAILED, CANCELLED)


class SlotState:
    QUEUED = "queued"
    PUBLISHED = "published"
    FAILED = "failed"
    MISSED = "missed"
    SKIPPED = "skipped"

    ALL = (QUEUED, PUBLISHED, FAILED, MISSED, SKIPPED)


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
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    account: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    text: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    text_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    in_reply_to_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    recipient_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    state: str = Field(sa_column=sa.Column(sa.String(20), nullable=False, server_default="pending"))
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))
    next_attempt_at: datetime = Field(sa_column=_dt(nullable=False))
    lease_owner: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    lease_until: datetime | None = Field(default=None, sa_column=_dt())
    attempt_started_at: datetime | None = Field(default=None, sa_column=_dt())
    outcome_unknown: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean(), nullable=False, server_default=sa.false())
    )
    remote_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))
    created_at: datetime = Field(sa_column=_dt(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_dt())
    campaign: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    slot_at: datetime | None = Field(default=None, sa_column=_dt())


class CampaignSlotRow(SQLModel, table=True):
    __tablename__ = "campaign_slot"
    __table_args__ = (
        sa.UniqueConstraint("campaign", "slot_at", name="uq_campaign_slot"),
        sa.Index("ix_campaign_slot_outbox_key", "outbox_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    slot_at: datetime = Field(sa_column=_dt(nullable=False))
    state: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))
    outbox_key: str | None = Field(default=None, sa_column=sa.Column(sa.String(300)))
    text_hash: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    variant: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    created_at: datetime = Field(sa_column=_dt(nullable=False))


class AccountStateRow(SQLModel, table=True):
    __tablename__ = "account_state"

    account: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    platform_user_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    paused_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))
    paused_at: datetime | None = Field(default=None, sa_column=_dt())


class RateLimitRow(SQLModel, table=True):
    __tablename__ = "rate_limit"

    account: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    endpoint: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    remaining: int | None = Field(default=None, sa_column=sa.Column(sa.Integer()))
    reset_at: datetime = Field(sa_column=_dt(nullable=False))


outbox_t: sa.Table = OutboxRow.__table__  # type: ignore[attr-defined]
slot_t: sa.Table = CampaignSlotRow.__table__  # type: ignore[attr-defined]
account_state_t: sa.Table = AccountStateRow.__table__  # type: ignore[attr-defined]
rate_limit_t: sa.Table = RateLimitRow.__table__  # type: ignore[attr-defined]
metadata = SQLModel.metadata
